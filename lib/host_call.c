/*
 * host_call.c - gb-call's jobs in its host (host.h): every upstream
 * request of the server on one libcurl multi handle driven by the
 * host's loop (upstream.h), sharing one connection cache and one open
 * key state.
 *
 * A job reads its request body to the end, starts the call, sends the
 * final status (HEAD) before the first byte of the answer, and writes
 * the answer to its stdout without blocking: what does not fit waits in
 * the job's buffer, and past OUT_HIGH bytes the transfer is paused until
 * the reader catches up. The reader going away (EPOLLERR on stdout)
 * cancels the call at once, as gb-call run alone stops on EPIPE.
 *
 * The host also answers the key table (GB_TOOL_KEYS): the state as
 * gb-keys list --json prints it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "host.h"
#include "keyhist.h"
#include "keys.h"
#include "upstream.h"

#define OUT_HIGH	(1024 * 1024)	/* pause the transfer above this */
#define OUT_CAP		(GB_UPSTREAM_BUFFER_MAX + 65536)

struct callhost {
	struct gb_upstream	*u;
	struct gb_keys		*ks;
	const struct gb_config	*cfg;
};

struct cjob {
	struct gb_hostjob	*j;
	struct gb_upcall	*call;
	struct gb_buf		 body;		/* the request body */
	struct gb_buf		 out;		/* answer not yet written */
	sd_event_source		*outsrc;
	int			 paused;
	int			 ended;		/* the call is done */
	int			 code;
	int			 werr;
	char			 msg[GB_ERR_MSGSIZE];
	char			 method[GB_PROTO_MODE];
	char			 path[GB_PROTO_ARG];
	char			 pin[GB_PROTO_KEYID];
	char			 hdrs[GB_PROTO_HDRS];
	char			 rid[GB_PROTO_RID];	/* request id */
	int			 stream;
};

static void
finish(struct cjob *c)
{
	struct gb_hostjob *j = c->j;
	char m[GB_ERR_MSGSIZE + 32];
	int code = c->code;

	/* the message outlives the job's memory */
	if (c->werr != 0) {
		snprintf(m, sizeof(m), "write error: %s", strerror(c->werr));
		code = GB_EXIT_TEMP;
	} else
		snprintf(m, sizeof(m), "%s", c->msg);
	sd_event_source_disable_unref(c->outsrc);
	gb_buf_free(&c->body);
	gb_buf_free(&c->out);
	free(c);
	gb_hostjob_done(j, code, m);
}

/* Watch stdout for room while something waits, for errors always. */
static void
pump(struct cjob *c)
{
	if (c->ended && (c->out.len == 0 || c->werr != 0)) {
		finish(c);
		return;
	}
	if (c->outsrc != NULL)
		sd_event_source_set_io_events(c->outsrc,
		    c->out.len > 0 ? EPOLLOUT : 0);
	if (c->call != NULL && c->paused && c->out.len < OUT_HIGH / 2) {
		c->paused = 0;
		gb_upcall_resume(c->call);
	}
}

static int
on_out(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct cjob *c = arg;
	ssize_t w;

	(void)s;
	if (c->out.len > 0) {
		w = gb_host_write(fd, c->out.data, c->out.len);
		if (w > 0)
			gb_buf_consume(&c->out, (size_t)w);
		else if (w == -1 && errno != EAGAIN)
			c->werr = errno;
	} else if ((ev & (EPOLLERR | EPOLLHUP)) != 0)
		c->werr = EPIPE;
	if (c->werr != 0 && c->call != NULL) {
		/* the reader is gone: stop the call (its done ends the job) */
		gb_upcall_cancel(c->call);
		return 0;
	}
	pump(c);
	return 0;
}

static void
sink_head(void *arg, const struct gb_upstream_head *h)
{
	struct cjob *c = arg;
	struct gb_msg_head mh;

	memset(&mh, 0, sizeof(mh));
	mh.status = h->status;
	mh.attempts = h->attempts;
	mh.retry_after = h->retry_after;
	snprintf(mh.key, sizeof(mh.key), "%s", h->key);
	snprintf(mh.key_id, sizeof(mh.key_id), "%s", h->key_id);
	snprintf(mh.hdrs, sizeof(mh.hdrs), "%s", h->hdrs);
	gb_hostjob_head(c->j, &mh);
}

static int
sink_body(void *arg, const void *p, size_t n)
{
	struct cjob *c = arg;

	if (c->werr != 0)
		return -1;
	if (gb_host_put(gb_hostjob_out(c->j), &c->out, p, n) == -1) {
		c->werr = errno;
		return -1;
	}
	if (c->out.len > OUT_HIGH && !c->paused && c->call != NULL) {
		c->paused = 1;
		gb_upcall_pause(c->call);
	}
	if (c->out.len > 0 && c->outsrc != NULL)
		sd_event_source_set_io_events(c->outsrc, EPOLLOUT);
	return 0;
}

static void
sink_done(void *arg, int code, const struct gb_err *err)
{
	struct cjob *c = arg;

	c->call = NULL;
	c->ended = 1;
	c->code = code;
	if (code != GB_EXIT_OK && err != NULL)
		snprintf(c->msg, sizeof(c->msg), "%s", err->msg);
	pump(c);
}

static void
sink_log(void *arg, enum gb_upstream_loglevel l, const char *msg)
{
	struct cjob *c = arg;
	struct gb_host *h = gb_hostjob_host(c->j);

	char line[GB_ERR_MSGSIZE + GB_PROTO_RID + 8];

	if ((int)l > (int)gb_host_config(h)->log_level)
		return;
	/* the request's id, as gb-serve's line for it has it */
	if (c->rid[0] != '\0') {
		snprintf(line, sizeof(line), "%s id=%s", msg, c->rid);
		gb_host_say(h, line);
	} else
		gb_host_say(h, msg);
}

/* The body is in: call. */
static void
slurped(void *arg, int rc)
{
	struct cjob *c = arg;
	struct gb_host *h = gb_hostjob_host(c->j);
	struct callhost *ch = gb_host_data(h);
	struct gb_upcall_sink sink;
	struct gb_upstream_req req;
	struct gb_err err;

	if (rc == -1) {
		c->ended = 1;
		if (errno == E2BIG) {
			c->code = GB_EXIT_USAGE;
			snprintf(c->msg, sizeof(c->msg), "request body larger "
			    "than MAX_BODY (%lld bytes)",
			    gb_host_config(h)->max_body);
		} else {
			c->code = GB_EXIT_TEMP;
			snprintf(c->msg, sizeof(c->msg), "read error: %s",
			    strerror(errno));
		}
		pump(c);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method = c->method;
	req.path = c->path;
	req.stream = c->stream;
	req.pin = c->pin[0] != '\0' ? c->pin : NULL;
	req.hdrs = c->hdrs[0] != '\0' ? c->hdrs : NULL;
	if (strcmp(c->method, "POST") == 0 ||
	    strcmp(c->method, "PATCH") == 0) {
		req.body = c->body.data != NULL ? c->body.data : "";
		req.bodylen = c->body.len;
	}
	memset(&sink, 0, sizeof(sink));
	sink.head = sink_head;
	sink.body = sink_body;
	sink.done = sink_done;
	sink.log = sink_log;
	sink.arg = c;
	gb_err_clear(&err);
	if ((c->call = gb_upcall_start(ch->u, ch->ks, &req, &sink, &err)) ==
	    NULL) {
		c->ended = 1;
		c->code = err.code != 0 ? err.code : GB_EXIT_TEMP;
		snprintf(c->msg, sizeof(c->msg), "%s", err.msg);
		pump(c);
	}
}

/*
 * The key table, as gb-keys list --json: written like an answer (what
 * does not fit the pipe waits for room), then the job ends.
 */
static void
keys_job(struct cjob *c, struct callhost *ch)
{
	struct gb_keyhist *hist;
	struct gb_err err;
	json_t *doc = NULL;
	char *txt = NULL;
	time_t now = time(NULL);

	c->ended = 1;
	gb_err_clear(&err);
	if (gb_keys_load(ch->ks, &err) == -1) {
		c->code = err.code != 0 ? err.code : GB_EXIT_TEMP;
		snprintf(c->msg, sizeof(c->msg), "%s", err.msg);
		pump(c);
		return;
	}
	if ((doc = gb_keys_list_json(ch->ks, now)) != NULL) {
		/* each key's recent history (none without its file) */
		hist = gb_keyhist_open(ch->cfg->state_dir,
		    ch->cfg->api_keys.n, &err);
		if (gb_keyhist_annotate(hist, doc, now) == 0)
			txt = json_dumps(doc, JSON_COMPACT);
		gb_keyhist_close(hist);
		json_decref(doc);
	}
	if (txt == NULL) {
		c->code = GB_EXIT_TEMP;
		snprintf(c->msg, sizeof(c->msg), "out of memory");
	} else {
		if (gb_host_put(gb_hostjob_out(c->j), &c->out, txt,
		    strlen(txt)) == -1)
			c->werr = errno;
		free(txt);
	}
	pump(c);
}

static int
method_ok(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0 ||
	    strcmp(m, "PATCH") == 0 || strcmp(m, "DELETE") == 0;
}

/* Header lines as gb-call -H takes them, one by one. */
static int
hdrs_ok(const char *p)
{
	char line[GB_PROTO_HDRS];
	size_t n;

	for (; *p != '\0'; p += n + (p[n] == '\n')) {
		n = strcspn(p, "\n");
		memcpy(line, p, n);
		line[n] = '\0';
		if (!gb_upstream_header_ok(line))
			return 0;
	}
	return 1;
}

static void
call_start(struct gb_hostjob *j, const struct gb_msg_job *job)
{
	struct gb_host *h = gb_hostjob_host(j);
	struct callhost *ch = gb_host_data(h);
	struct cjob *c;

	if ((job->tool != GB_TOOL_CALL && job->tool != GB_TOOL_KEYS) ||
	    gb_hostjob_out(j) < 0 || (job->tool == GB_TOOL_CALL &&
	    (!method_ok(job->mode) || !hdrs_ok(job->hdrs)))) {
		gb_hostjob_done(j, GB_EXIT_USAGE, "not a gb-call job");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		gb_hostjob_done(j, GB_EXIT_TEMP, "out of memory");
		return;
	}
	if (strnlen(job->rid, sizeof(job->rid)) < sizeof(job->rid) &&
	    strspn(job->rid, "0123456789abcdef") == strlen(job->rid)) {
		memcpy(c->rid, job->rid, sizeof(c->rid));
	}
	c->j = j;
	snprintf(c->method, sizeof(c->method), "%s", job->mode);
	snprintf(c->path, sizeof(c->path), "%s", job->arg);
	snprintf(c->pin, sizeof(c->pin), "%s", job->pin);
	snprintf(c->hdrs, sizeof(c->hdrs), "%s", job->hdrs);
	c->stream = (job->flags & GB_JOB_STREAM) != 0;
	gb_buf_init(&c->body, (size_t)gb_host_config(h)->max_body);
	gb_buf_init(&c->out, OUT_CAP);
	if (sd_event_add_io(gb_host_event(h), &c->outsrc, gb_hostjob_out(j), 0,
	    on_out, c) < 0) {
		c->ended = 1;
		c->code = GB_EXIT_TEMP;
		snprintf(c->msg, sizeof(c->msg), "cannot start");
		finish(c);
		return;
	}
	if (job->tool == GB_TOOL_KEYS) {
		keys_job(c, ch);
		return;
	}
	if (gb_hostjob_slurp(j, &c->body, slurped, c) == -1) {
		c->ended = 1;
		c->code = GB_EXIT_TEMP;
		snprintf(c->msg, sizeof(c->msg), "cannot start");
		finish(c);
	}
}

static int
call_init(struct gb_host *h, struct gb_err *err)
{
	struct callhost *ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	ch->cfg = gb_host_config(h);
	if ((ch->ks = gb_keys_open(gb_host_config(h), err)) == NULL ||
	    (ch->u = gb_upstream_new(gb_host_config(h), gb_host_event(h),
	    err)) == NULL) {
		if (ch->ks != NULL)
			gb_keys_close(ch->ks);
		free(ch);
		return -1;
	}
	gb_host_set_data(h, ch);
	return 0;
}

static void
call_fini(struct gb_host *h)
{
	struct callhost *ch = gb_host_data(h);

	if (ch == NULL)
		return;
	gb_upstream_free(ch->u);
	gb_keys_close(ch->ks);
	free(ch);
}

const struct gb_host_tool gb_host_call = {
	"gb-call", GB_CONFIG_NEED_KEYS, call_init, call_start, call_fini
};
