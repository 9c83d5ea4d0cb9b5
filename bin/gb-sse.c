/*
 * gb-sse - Gemini streamGenerateContent?alt=sse on stdin -> OpenAI
 * chat.completion.chunk SSE (or re-framed Gemini SSE with -g) on
 * stdout, one write per event, as soon as each event is complete. The
 * work is lib/ssefilter.c, fed here one read(2) at a time.
 *
 * "gb-sse -W" is the tool's host behind gb-serve (lib/host.h): the same
 * filter, driven by the host's loop (lib/host_sse.c).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "gb.h"
#include "host.h"
#include "io.h"
#include "ssefilter.h"


#define READSIZE	65536
#define KEEPALIVE_MAX	86400

static int
usage(void)
{
	fprintf(stderr, "usage: gb-sse [-gu] [-k seconds] [-m model] "
	    "[-o chat | gemini | responses | anthropic]\n");
	return GB_EXIT_USAGE;
}

static int
out_stdout(void *arg, const char *p, size_t n)
{
	(void)arg;
	return gb_io_writeall(1, p, n);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Read (through buf, READSIZE bytes) and feed the filter until EOF; 0,
 * or -1 with err set.
 */
static int
run(struct gb_ssefilter *f, char *buf, long keepalive, struct gb_err *err)
{
	struct pollfd pfd[2];
	char m[GB_ERR_MSGSIZE];
	ssize_t r;
	int n;

	for (;;) {
		/*
		 * Wait for input, and watch the reader of stdout: one that
		 * has gone away (pipe: POLLERR, socket: POLLHUP) ends the
		 * stream now, not at the next write, which may be far off
		 * while the upstream is silent (and gb-call upstream of us
		 * then sees its own reader, us, go).
		 */
		pfd[0].fd = 0;
		pfd[0].events = POLLIN;
		pfd[1].fd = 1;
		pfd[1].events = 0;
		n = poll(pfd, 2, keepalive > 0 ? (int)(keepalive * 1000) : -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return gb_ssefilter_fail(f, 502, "poll failed", err);
		if (n > 0 && (pfd[1].revents & (POLLERR | POLLHUP)) != 0)
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "write error: %s", strerror(EPIPE));
		if (n == 0) {
			if (gb_ssefilter_keepalive(f, err) == -1)
				return -1;
			continue;
		}
		r = gb_io_read(0, buf, READSIZE);
		if (r == -1) {
			snprintf(m, sizeof(m), "read error: %s",
			    strerror(errno));
			return gb_ssefilter_fail(f, 502, m, err);
		}
		if (r == 0)
			return gb_ssefilter_end(f, err);
		if (gb_ssefilter_feed(f, buf, (size_t)r, err) == -1)
			return -1;
	}
}

static int
sse_main(int argc, char *argv[])
{
	struct gb_stream_opts o;
	struct gb_config cfg;
	struct gb_ssefilter *f;
	struct gb_err err;
	const char *errstr;
	char *buf;
	long long k = 0;
	int ch, rc;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt(argc, argv, "gk:m:o:u")) != -1) {
		switch (ch) {
		case 'g':
			o.dialect = GB_STREAM_GEMINI;
			break;
		case 'o':
			if (gb_stream_dialect_parse(optarg, &o.dialect) == -1) {
				fprintf(stderr, "gb-sse: -o %s: unknown output "
				    "(chat, gemini, responses or anthropic)\n", optarg);
				return GB_EXIT_USAGE;
			}
			break;
		case 'k':
			if (gb_strtonum(optarg, 1, KEEPALIVE_MAX, &k,
			    &errstr) == -1) {
				fprintf(stderr, "gb-sse: keep-alive interval "
				    "%s: %s\n", errstr, optarg);
				return GB_EXIT_USAGE;
			}
			break;
		case 'm':
			if (*optarg == '\0') {
				fprintf(stderr, "gb-sse: empty model name\n");
				return GB_EXIT_USAGE;
			}
			o.model = optarg;
			break;
		case 'u':
			o.include_usage = 1;
			break;
		default:
			return usage();
		}
	}
	argc -= optind;
	if (argc != 0)
		return usage();

	/*
	 * a client gone away is a write error, not a signal (process-wide,
	 * and harmless in a host)
	 */
	signal(SIGPIPE, SIG_IGN);
	gb_err_clear(&err);
	if (gb_config_load(&cfg, 0, &err) == -1) {
		fprintf(stderr, "gb-sse: %s\n", err.msg);
		return err.code != 0 ? err.code : GB_EXIT_USAGE;
	}
	o.show_thinking = cfg.show_thinking;
	o.search_links = cfg.show_search_link && o.model != NULL &&
	    ends_with(o.model, "-search");
	gb_config_free(&cfg);

	if ((buf = malloc(READSIZE)) == NULL) {
		fprintf(stderr, "gb-sse: out of memory\n");
		return GB_EXIT_TEMP;
	}
	if ((f = gb_ssefilter_new(&o, out_stdout, NULL, &err)) == NULL) {
		fprintf(stderr, "gb-sse: %s\n", err.msg);
		free(buf);
		return GB_EXIT_TEMP;
	}
	rc = run(f, buf, (long)k, &err);
	gb_ssefilter_free(f);
	free(buf);
	if (rc == -1) {
		fprintf(stderr, "gb-sse: %s\n", err.msg);
		return GB_EXIT_TEMP;
	}
	if (close(1) == -1) {
		fprintf(stderr, "gb-sse: write error: %s\n", strerror(errno));
		return GB_EXIT_TEMP;
	}
	return GB_EXIT_OK;
}

/* How the host speaks: on stderr, as the tool run alone does. */
static void
say(const char *msg)
{
	/* a host's diagnostics, on the journal when stderr is it */
	fprintf(stderr, "%sgb-sse: %s\n", gb_log_prio(GB_LOG_WARN), msg);
	fflush(stderr);
}

/* "gb-sse -W": the tool's host behind gb-serve (lib/host_sse.c). */
int
main(int argc, char *argv[])
{
	int rc;

	if ((rc = gb_host_main(argc, argv, &gb_host_sse, say)) != -1)
		return rc;
	return sse_main(argc, argv);
}
