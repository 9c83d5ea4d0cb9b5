/*
 * host_sse.c - gb-sse's jobs in its host (host.h): one upstream stream
 * per job, converted event by event on the host's loop.
 *
 * The job reads its stdin when it is readable, feeds the bytes to the
 * filter gb-sse drives alone (ssefilter.h) and writes each converted
 * event to its stdout without blocking. Output that does not fit the
 * pipe waits in the job's buffer and the job stops reading until it
 * drains, so a slow client slows its own upstream and nothing else. Its
 * stdin is watched edge-triggered (sd-event polls every ready descriptor
 * again before each dispatch: level-triggered, thousands of busy
 * streams would cost each other). A keep-alive comment goes out after -k
 * seconds without upstream bytes. The reader going away (EPOLLERR on
 * stdout) ends the job at once, as EPIPE ends gb-sse run alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "host.h"
#include "ssefilter.h"

#define READSIZE	65536
#define OUTCAP		(GB_STREAM_EVENTMAX + 65536)

struct ssejob {
	struct gb_hostjob	*j;
	struct gb_ssefilter	*f;
	struct gb_buf		 out;		/* converted, not yet written */
	sd_event_source		*insrc, *outsrc, *ka;
	uint64_t		 ka_usec;	/* keep-alive interval, or 0 */
	int			 werr;		/* errno of a failed write */
	int			 eof;		/* stdin ended */
	int			 rc;		/* -1 once the stream failed */
	struct gb_err		 err;
	char			 model[GB_PROTO_MODEL];
};

static void	 pump(struct ssejob *);

/* Output of the converter: queue the event, write what fits. */
static int
out_event(void *arg, const char *p, size_t n)
{
	struct ssejob *s = arg;

	if (s->werr != 0) {
		errno = s->werr;
		return -1;
	}
	if (gb_host_put(gb_hostjob_out(s->j), &s->out, p, n) == -1) {
		s->werr = errno;
		return -1;
	}
	return 0;
}

static void
finish(struct ssejob *s)
{
	struct gb_hostjob *j = s->j;
	int code = GB_EXIT_OK;
	const char *msg = NULL;
	char m[GB_ERR_MSGSIZE + 32];

	/* the message outlives the job's memory */
	if (s->werr != 0) {
		snprintf(m, sizeof(m), "write error: %s", strerror(s->werr));
		msg = m;
		code = GB_EXIT_TEMP;
	} else if (s->rc == -1) {
		snprintf(m, sizeof(m), "%s", s->err.msg);
		msg = m;
		code = GB_EXIT_TEMP;
	}
	sd_event_source_disable_unref(s->insrc);
	sd_event_source_disable_unref(s->outsrc);
	sd_event_source_disable_unref(s->ka);
	gb_ssefilter_free(s->f);
	gb_buf_free(&s->out);
	gb_hostjob_done(j, code, msg);
	free(s);
}

/* The stream has written its last event: end once it is all out. */
static int
drained(struct ssejob *s)
{
	return s->out.len == 0 && (s->eof || s->rc == -1 ||
	    gb_ssefilter_over(s->f));
}

static void
arm_keepalive(struct ssejob *s)
{
	uint64_t now;

	if (s->ka == NULL)
		return;
	sd_event_now(gb_host_event(gb_hostjob_host(s->j)), CLOCK_MONOTONIC,
	    &now);
	sd_event_source_set_time(s->ka, now + s->ka_usec);
	sd_event_source_set_enabled(s->ka, SD_EVENT_ONESHOT);
}

/*
 * Read one piece of the upstream stream and convert it; 0 when the pipe
 * is empty for now (EAGAIN, or a short read before the writer's close).
 */
static int
read_some(struct ssejob *s, uint32_t ev)
{
	char buf[READSIZE];
	char m[GB_ERR_MSGSIZE];
	ssize_t r;

	do
		r = read(gb_hostjob_in(s->j), buf, sizeof(buf));
	while (r == -1 && errno == EINTR);
	if (r == -1 && errno == EAGAIN)
		return 0;
	arm_keepalive(s);
	if (r == -1) {
		snprintf(m, sizeof(m), "read error: %s", strerror(errno));
		s->rc = gb_ssefilter_fail(s->f, 502, m, &s->err);
	} else if (r == 0) {
		s->eof = 1;
		s->rc = gb_ssefilter_end(s->f, &s->err);
	} else {
		s->rc = gb_ssefilter_feed(s->f, buf, (size_t)r, &s->err);
		/*
		 * A short read emptied the pipe: its next write, or the
		 * writer's close, is an edge; a close already seen is not.
		 */
		if ((size_t)r < sizeof(buf) &&
		    (ev & (EPOLLHUP | EPOLLERR)) == 0)
			return 0;
	}
	return 1;
}

/*
 * Decide what to watch: stdin only while nothing waits to be written
 * (backpressure), stdout for writability while something waits, and
 * for errors always (the reader going away).
 */
static void
pump(struct ssejob *s)
{
	int more = !s->eof && s->rc == 0 && !gb_ssefilter_over(s->f);

	if (s->werr != 0 || drained(s)) {
		finish(s);
		return;
	}
	sd_event_source_set_enabled(s->insrc,
	    more && s->out.len == 0 ? SD_EVENT_ON : SD_EVENT_OFF);
	sd_event_source_set_io_events(s->outsrc,
	    s->out.len > 0 ? EPOLLOUT : 0);
}

static int
on_in(sd_event_source *src, int fd, uint32_t ev, void *arg)
{
	struct ssejob *s = arg;

	(void)src;
	(void)fd;
	/* edge-triggered: read until the pipe is empty or output waits */
	while (!s->eof && s->rc == 0 && s->werr == 0 && s->out.len == 0 &&
	    !gb_ssefilter_over(s->f) && read_some(s, ev))
		;
	pump(s);
	return 0;
}

static int
on_out(sd_event_source *src, int fd, uint32_t ev, void *arg)
{
	struct ssejob *s = arg;
	ssize_t w;

	(void)src;
	if ((ev & EPOLLERR) != 0 && s->out.len == 0) {
		s->werr = EPIPE;
	} else if (s->out.len > 0) {
		w = gb_host_write(fd, s->out.data, s->out.len);
		if (w > 0)
			gb_buf_consume(&s->out, (size_t)w);
		else if (w == -1 && errno != EAGAIN)
			s->werr = errno;
	}
	pump(s);
	return 0;
}

static int
on_keepalive(sd_event_source *src, uint64_t usec, void *arg)
{
	struct ssejob *s = arg;

	(void)src;
	(void)usec;
	if (gb_ssefilter_keepalive(s->f, &s->err) == -1 && s->werr == 0)
		s->rc = -1;
	arm_keepalive(s);
	pump(s);
	return 0;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void
sse_start(struct gb_hostjob *j, const struct gb_msg_job *job)
{
	struct gb_host *h = gb_hostjob_host(j);
	const struct gb_config *cfg = gb_host_config(h);
	sd_event *ev = gb_host_event(h);
	struct gb_stream_opts o;
	struct ssejob *s;

	if (job->tool != GB_TOOL_SSE || gb_hostjob_in(j) < 0 ||
	    gb_hostjob_out(j) < 0) {
		gb_hostjob_done(j, GB_EXIT_USAGE, "not a gb-sse job");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		gb_hostjob_done(j, GB_EXIT_TEMP, "out of memory");
		return;
	}
	s->j = j;
	snprintf(s->model, sizeof(s->model), "%s", job->model);
	memset(&o, 0, sizeof(o));
	o.model = s->model[0] != '\0' ? s->model : NULL;
	if (job->mode[0] != '\0' && gb_stream_dialect_parse(job->mode,
	    &o.dialect) == -1) {
		free(s);
		gb_hostjob_done(j, GB_EXIT_USAGE, "unknown output dialect");
		return;
	}
	o.include_usage = (job->flags & GB_JOB_USAGE) != 0;
	o.show_thinking = cfg->show_thinking;
	o.search_links = cfg->show_search_link && o.model != NULL &&
	    ends_with(o.model, "-search");
	gb_buf_init(&s->out, OUTCAP);
	gb_err_clear(&s->err);
	if ((s->f = gb_ssefilter_new(&o, out_event, s, &s->err)) == NULL ||
	    sd_event_add_io(ev, &s->insrc, gb_hostjob_in(j), EPOLLIN | EPOLLET,
	    on_in,
	    s) < 0 ||
	    sd_event_add_io(ev, &s->outsrc, gb_hostjob_out(j), 0, on_out,
	    s) < 0 ||
	    (job->num > 0 && sd_event_add_time(ev, &s->ka, CLOCK_MONOTONIC,
	    0, 0, on_keepalive, s) < 0)) {
		s->rc = -1;
		snprintf(s->err.msg, sizeof(s->err.msg), "cannot start");
		finish(s);
		return;
	}
	s->ka_usec = job->num > 0 ? (uint64_t)job->num * 1000000 : 0;
	arm_keepalive(s);
	gb_hostjob_set_data(j, s);
	pump(s);
}

const struct gb_host_tool gb_host_sse = {
	"gb-sse", 0, NULL, sse_start, NULL
};
