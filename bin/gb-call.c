/*
 * gb-call - one request to the Gemini API, retried across the keys in
 * gb-keys state. The body (POST) comes from stdin, the answer goes to
 * stdout; with -S FD the final status is written to FD, as one line of
 * JSON, before the first byte of the answer. The retry loop and libcurl
 * live in lib/upstream.c; this file is options, output and exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "gb.h"
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

static void
usage(void)
{
	fprintf(stderr, "usage: gb-call [-s] [-S fd] method path\n");
	exit(GB_EXIT_USAGE);
}

/* The status line: {"status":N,"key":"…","attempts":K[,"retry_after":S]} */
static int
out_head(void *arg, const struct gb_upstream_head *h)
{
	struct out *o = arg;
	json_t *j;
	char *line = NULL;
	int rc = -1;

	if (o->status_fd < 0)
		return 0;
	j = json_pack("{s:i,s:s?,s:i}", "status", h->status, "key",
	    h->key[0] != '\0' ? h->key : NULL, "attempts", h->attempts);
	if (j != NULL && h->status == 429 && h->retry_after >= 0)
		json_object_set_new(j, "retry_after",
		    json_integer(h->retry_after));
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

/* Has the reader of stdout gone away (pipe: POLLERR; socket: POLLHUP)? */
static int
out_alive(void *arg)
{
	struct out *o = arg;
	struct pollfd p;

	p.fd = STDOUT_FILENO;
	p.events = 0;
	p.revents = 0;
	if (poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
		o->werrno = EPIPE;
		return 0;
	}
	return 1;
}

static void
out_log(void *arg, enum gb_upstream_loglevel l, const char *msg)
{
	struct out *o = arg;

	if ((int)l <= (int)o->level)
		fprintf(stderr, "gb-call: %s\n", msg);
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

int
main(int argc, char *argv[])
{
	struct gb_config cfg;
	struct gb_upstream_sink sink;
	struct gb_upstream_head head;
	struct gb_upstream_req req;
	struct gb_upstream *u = NULL;
	struct gb_keys *ks = NULL;
	struct gb_buf body;
	struct gb_err err;
	struct out o;
	const char *errstr;
	long long n;
	int ch, rc;

	/* a vanished reader shows up as EPIPE from write(2) instead */
	signal(SIGPIPE, SIG_IGN);
	memset(&o, 0, sizeof(o));
	memset(&req, 0, sizeof(req));
	o.status_fd = -1;
	while ((ch = getopt(argc, argv, "sS:")) != -1) {
		switch (ch) {
		case 's':
			req.stream = 1;
			break;
		case 'S':
			if (gb_strtonum(optarg, 0, INT_MAX, &n,
			    &errstr) == -1) {
				fprintf(stderr, "gb-call: -S %s: %s\n", optarg,
				    errstr);
				exit(GB_EXIT_USAGE);
			}
			o.status_fd = (int)n;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();
	if (strcmp(argv[0], "GET") != 0 && strcmp(argv[0], "POST") != 0) {
		fprintf(stderr, "gb-call: %s: method must be GET or POST\n",
		    argv[0]);
		exit(GB_EXIT_USAGE);
	}
	if (!valid_path(argv[1])) {
		fprintf(stderr, "gb-call: invalid path\n");
		exit(GB_EXIT_USAGE);
	}
	if (has_key_param(argv[1])) {
		fprintf(stderr, "gb-call: the path must not carry a key "
		    "parameter\n");
		exit(GB_EXIT_USAGE);
	}
	if (o.status_fd >= 0) {
		if (o.status_fd <= STDOUT_FILENO) {
			fprintf(stderr, "gb-call: -S %d: not a status fd\n",
			    o.status_fd);
			exit(GB_EXIT_USAGE);
		}
		if (fcntl(o.status_fd, F_SETFD, FD_CLOEXEC) == -1) {
			fprintf(stderr, "gb-call: -S %d: %s\n", o.status_fd,
			    strerror(errno));
			exit(GB_EXIT_USAGE);
		}
	}
	req.method = argv[0];
	req.path = argv[1];

	gb_err_clear(&err);
	if (gb_config_load(&cfg, GB_CONFIG_NEED_KEYS, &err) == -1) {
		fprintf(stderr, "gb-call: %s\n", err.msg);
		exit(err.code);
	}
	o.level = cfg.log_level;

	gb_buf_init(&body, (size_t)cfg.max_body);
	if (strcmp(req.method, "POST") == 0) {
		if (gb_io_readall(STDIN_FILENO, &body) == -1) {
			if (errno == E2BIG) {
				fprintf(stderr, "gb-call: request body larger "
				    "than MAX_BODY (%lld bytes)\n",
				    cfg.max_body);
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

	if ((ks = gb_keys_open(&cfg, &err)) == NULL ||
	    (u = gb_upstream_new(&cfg, &err)) == NULL) {
		fprintf(stderr, "gb-call: %s\n", err.msg);
		rc = err.code;
		goto out;
	}
	sink.head = out_head;
	sink.body = out_body;
	sink.alive = out_alive;
	sink.log = out_log;
	sink.arg = &o;
	rc = gb_upstream_call(u, ks, &req, &sink, &head, &err);
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
	if (close(STDOUT_FILENO) == -1 && errno != EBADF && rc == GB_EXIT_OK) {
		fprintf(stderr, "gb-call: write error: %s\n", strerror(errno));
		rc = GB_EXIT_TEMP;
	}
	gb_upstream_free(u);
	if (ks != NULL)
		gb_keys_close(ks);
	gb_buf_free(&body);
	gb_config_free(&cfg);
	return rc;
}
