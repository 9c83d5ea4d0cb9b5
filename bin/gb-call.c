/*
 * gb-call - one request to the Gemini API, retried across the keys in
 * gb-keys state. The body (POST) comes from stdin, the answer goes to
 * stdout; with -S FD the final status is written to FD, as one line of
 * JSON, before the first byte of the answer. The retry policy and
 * libcurl live in lib/upstream.c, an event-driven core; this file is
 * options, output, exit status, and the sd-event loop that runs the one
 * call.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "gb.h"
#include "host.h"
#include "io.h"
#include "keys.h"
#include "upstream.h"

/* Where the final answer goes. */
struct out {
	int			status_fd;	/* -S FD, or -1 */
	int			werrno;		/* a failed write to stdout */
	int			serrno;		/* a failed write to -S FD */
	enum gb_loglevel	level;
};

static int
usage(void)
{
	fprintf(stderr, "usage: gb-call [-s] [-H header] [-K id] [-S fd] "
	    "method path\n");
	return GB_EXIT_USAGE;
}

static int
out_head(void *arg, const struct gb_upstream_head *h)
{
	struct out *o = arg;
	json_t *j;
	char *line = NULL;
	int rc = -1;

	if (o->status_fd < 0)
		return 0;
	j = json_pack("{s:i,s:s?,s:s?,s:i}", "status", h->status, "key",
	    h->key[0] != '\0' ? h->key : NULL, "key_id",
	    h->key_id[0] != '\0' ? h->key_id : NULL, "attempts",
	    h->attempts);
	if (j != NULL && h->status == 429 && h->retry_after >= 0)
		json_object_set_new(j, "retry_after",
		    json_integer(h->retry_after));
	if (j != NULL && h->hdrs[0] != '\0')
		json_object_set_new(j, "headers", json_string(h->hdrs));
	if (j != NULL && (line = json_dumps(j, JSON_COMPACT)) != NULL) {
		size_t len = strlen(line);

		line[len] = '\n';
		rc = gb_io_writeall(o->status_fd, line, len + 1);
		if (rc == -1)
			o->serrno = errno;
		line[len] = '\0';
	} else
		o->serrno = ENOMEM;
	free(line);
	json_decref(j);
	close(o->status_fd);
	o->status_fd = -1;
	return rc;
}

/* Body bytes straight to fd 1: no stdio, so nothing waits in a buffer. */
static int
out_body(void *arg, const void *p, size_t n)
{
	struct out *o = arg;

	if (gb_io_writeall(STDOUT_FILENO, p, n) == -1) {
		o->werrno = errno;
		return -1;
	}
	return 0;
}

static void
out_log(void *arg, enum gb_upstream_loglevel l, const char *msg)
{
	struct out *o = arg;

	if ((int)l <= (int)o->level)
		fprintf(stderr, "gb-call: %s\n", msg);
}

/* The standalone gb-call: one call on a loop of its own. */
struct run {
	struct out		*o;
	sd_event		*ev;
	struct gb_upcall	*c;	/* until done */
	int			 rc;
	struct gb_err		*err;
};

static void
run_head(void *arg, const struct gb_upstream_head *h)
{
	struct run *r = arg;

	if (out_head(r->o, h) == -1)
		gb_upcall_cancel(r->c);
}

static int
run_body(void *arg, const void *p, size_t n)
{
	struct run *r = arg;

	return out_body(r->o, p, n);
}

static void
run_done(void *arg, int rc, const struct gb_err *e)
{
	struct run *r = arg;

	r->rc = rc;
	*r->err = *e;
	r->c = NULL;
	sd_event_exit(r->ev, 0);
}

static void
run_log(void *arg, enum gb_upstream_loglevel l, const char *msg)
{
	struct run *r = arg;

	out_log(r->o, l, msg);
}

/*
 * The reader of stdout went away. Watched with no events asked for:
 * epoll reports EPOLLERR (a pipe) and EPOLLHUP (a socket) regardless.
 */
static int
run_gone(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)revents;
	r->o->werrno = EPIPE;
	sd_event_source_set_enabled(src, SD_EVENT_OFF);
	if (r->c != NULL)
		gb_upcall_cancel(r->c);
	return 0;
}

/* Run the call to its end; the exit status, err set when non-zero. */
static int
call_loop(const struct gb_config *cfg, struct gb_keys *ks,
    const struct gb_upstream_req *req, struct out *o, struct gb_err *err)
{
	struct gb_upcall_sink sink;
	struct gb_upstream *u = NULL;
	sd_event_source *watch = NULL;
	struct run r;
	int e;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.err = err;
	r.rc = GB_EXIT_TEMP;
	if ((e = sd_event_new(&r.ev)) < 0) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "event loop: %s",
		    strerror(-e));
		return GB_EXIT_TEMP;
	}
	if ((u = gb_upstream_new(cfg, r.ev, err)) == NULL) {
		r.rc = err->code;
		goto out;
	}
	/* a regular file or /dev/null cannot be watched, nor go away */
	if ((e = sd_event_add_io(r.ev, &watch, STDOUT_FILENO, 0,
	    run_gone, &r)) < 0 && e != -EPERM && e != -EBADF) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "event loop: %s",
		    strerror(-e));
		goto out;
	}
	sink.head = run_head;
	sink.body = run_body;
	sink.done = run_done;
	sink.log = run_log;
	sink.arg = &r;
	if ((r.c = gb_upcall_start(u, ks, req, &sink, err)) == NULL) {
		r.rc = err->code;
		goto out;
	}
	if ((e = sd_event_loop(r.ev)) < 0) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "event loop: %s",
		    strerror(-e));
		r.rc = GB_EXIT_TEMP;
	}

out:
	sd_event_source_disable_unref(watch);
	gb_upstream_free(u);
	sd_event_unref(r.ev);
	return r.rc;
}

/* A path below BASE_URL: printable ASCII, no spaces. */
static int
valid_path(const char *p)
{
	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/*
 * Does the query carry a key= parameter? Keys travel only in the header;
 * a key in the path (a client's token passed on by mistake) would end up
 * in Google's logs.
 */
static int
has_key_param(const char *p)
{
	if ((p = strchr(p, '?')) == NULL)
		return 0;
	while (p != NULL) {
		p++;
		if (strncmp(p, "key=", 4) == 0 || strcmp(p, "key") == 0 ||
		    strncmp(p, "key&", 4) == 0)
			return 1;
		p = strchr(p, '&');
	}
	return 0;
}

/* The standalone gb-call. */
static int
call(int argc, char *argv[])
{
	struct gb_config cfg0, *cfgp = &cfg0;
	struct gb_upstream_req req;
	struct gb_keys *ks = NULL;
	struct gb_buf body;
	struct gb_err err;
	struct out o;
	const char *errstr;
	char hdrs[GB_UPSTREAM_HDRS_MAX];
	size_t hl = 0;
	long long n;
	int ch, rc;

	/* a vanished reader shows up as EPIPE from write(2) instead */
	signal(SIGPIPE, SIG_IGN);
	memset(&o, 0, sizeof(o));
	memset(&req, 0, sizeof(req));
	o.status_fd = -1;
	hdrs[0] = '\0';
	while ((ch = getopt(argc, argv, "sH:K:S:")) != -1) {
		switch (ch) {
		case 's':
			req.stream = 1;
			break;
		case 'H':
			if (!gb_upstream_header_ok(optarg) ||
			    hl + strlen(optarg) + 2 > sizeof(hdrs)) {
				fprintf(stderr, "gb-call: -H: not an upload "
				    "header, or too long\n");
				return GB_EXIT_USAGE;
			}
			hl += (size_t)snprintf(hdrs + hl, sizeof(hdrs) - hl,
			    "%s\n", optarg);
			req.hdrs = hdrs;
			break;
		case 'K':
			if (strlen(optarg) != 16 || strspn(optarg,
			    "0123456789abcdef") != 16) {
				fprintf(stderr, "gb-call: -K %s: not a key "
				    "id (16 hex digits)\n", optarg);
				return GB_EXIT_USAGE;
			}
			req.pin = optarg;
			break;
		case 'S':
			if (gb_strtonum(optarg, 0, INT_MAX, &n,
			    &errstr) == -1) {
				fprintf(stderr, "gb-call: -S %s: %s\n", optarg,
				    errstr);
				return GB_EXIT_USAGE;
			}
			o.status_fd = (int)n;
			break;
		default:
			return usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		return usage();
	if (strcmp(argv[0], "GET") != 0 && strcmp(argv[0], "POST") != 0 &&
	    strcmp(argv[0], "PATCH") != 0 && strcmp(argv[0], "DELETE") != 0) {
		fprintf(stderr, "gb-call: %s: method must be GET, POST, "
		    "PATCH or DELETE\n", argv[0]);
		return GB_EXIT_USAGE;
	}
	if (!valid_path(argv[1])) {
		fprintf(stderr, "gb-call: invalid path\n");
		return GB_EXIT_USAGE;
	}
	if (has_key_param(argv[1])) {
		fprintf(stderr, "gb-call: the path must not carry a key "
		    "parameter\n");
		return GB_EXIT_USAGE;
	}
	if (o.status_fd >= 0) {
		if (o.status_fd <= STDOUT_FILENO) {
			fprintf(stderr, "gb-call: -S %d: not a status fd\n",
			    o.status_fd);
			return GB_EXIT_USAGE;
		}
		if (fcntl(o.status_fd, F_SETFD, FD_CLOEXEC) == -1) {
			fprintf(stderr, "gb-call: -S %d: %s\n", o.status_fd,
			    strerror(errno));
			return GB_EXIT_USAGE;
		}
	}
	req.method = argv[0];
	req.path = argv[1];

	gb_err_clear(&err);
	if (gb_config_load(cfgp, GB_CONFIG_NEED_KEYS, &err) == -1) {
		fprintf(stderr, "gb-call: %s\n", err.msg);
		return err.code;
	}
	o.level = cfgp->log_level;

	gb_buf_init(&body, (size_t)cfgp->max_body);
	if (strcmp(req.method, "POST") == 0 ||
	    strcmp(req.method, "PATCH") == 0) {
		if (gb_io_readall(STDIN_FILENO, &body) == -1) {
			if (errno == E2BIG) {
				fprintf(stderr, "gb-call: request body larger "
				    "than MAX_BODY (%lld bytes)\n",
				    cfgp->max_body);
				rc = GB_EXIT_USAGE;
			} else {
				fprintf(stderr, "gb-call: read error: %s\n",
				    strerror(errno));
				rc = GB_EXIT_TEMP;
			}
			goto out;
		}
		req.body = body.data;
		req.bodylen = body.len;
	}

	if ((ks = gb_keys_open(cfgp, &err)) == NULL) {
		fprintf(stderr, "gb-call: %s\n", err.msg);
		rc = err.code;
		goto out;
	}
	rc = call_loop(cfgp, ks, &req, &o, &err);
	if (gb_keys_notice(ks) != NULL)
		fprintf(stderr, "gb-call: %s\n", gb_keys_notice(ks));
	if (o.serrno != 0) {
		fprintf(stderr, "gb-call: status fd: write error: %s\n",
		    strerror(o.serrno));
		rc = GB_EXIT_TEMP;
	} else if (o.werrno != 0) {
		fprintf(stderr, "gb-call: write error: %s\n",
		    strerror(o.werrno));
		rc = GB_EXIT_TEMP;
	} else if (rc != GB_EXIT_OK &&
	    (rc != GB_EXIT_NO || o.level >= GB_LOG_WARN))
		fprintf(stderr, "gb-call: %s\n", err.msg);

out:
	if (o.status_fd >= 0)
		close(o.status_fd);
	if (close(STDOUT_FILENO) == -1 && errno != EBADF &&
	    rc == GB_EXIT_OK) {
		fprintf(stderr, "gb-call: write error: %s\n", strerror(errno));
		rc = GB_EXIT_TEMP;
	}
	gb_buf_free(&body);
	if (ks != NULL)
		gb_keys_close(ks);
	gb_config_free(cfgp);
	return rc;
}

/* How the host speaks: on stderr, as the tool run alone does. */
static void
say(const char *msg)
{
	/* a host's diagnostics, on the journal when stderr is it */
	fprintf(stderr, "%sgb-call: %s\n", gb_log_prio(GB_LOG_WARN), msg);
	fflush(stderr);
}

/* "gb-call -W": the tool's host behind gb-serve (lib/host_call.c). */
int
main(int argc, char *argv[])
{
	int rc;

	if ((rc = gb_host_main(argc, argv, &gb_host_call, say)) != -1)
		return rc;
	return call(argc, argv);
}
