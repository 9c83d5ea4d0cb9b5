/*
 * upcall - drive lib/upstream.c's event-driven core directly: several
 * calls at once on one gb_upstream and one sd-event loop, as a host of
 * many requests will, and check the sink contract on every one (head
 * at most once and before any body byte, done exactly once and last,
 * no body while paused). Built by tests/gb-call-core.bats.
 *
 * usage: upcall [-s] [-n calls] [-r rounds] [-p ms] [-c bytes] [-k ms]
 *        [-w] [-f bytes] method path [bodyfile]
 *
 *   -s        stream (pass 2xx bodies on as they arrive)
 *   -n calls  calls started at once in each round (default 1)
 *   -r rounds rounds, each started from the done of the round before
 *             (default 1)
 *   -p ms     backpressure: pause each call after every body piece and
 *             resume it ms later from a timer
 *   -c bytes  cancel a call from its body callback once it got this many
 *   -k ms     cancel every call from a timer ms after the start
 *   -w        cancel a call from the loop right after its first failed
 *             attempt is logged: while it waits out the backoff
 *   -f bytes  once any call got this many body bytes, free the upstream
 *             with its calls running (their done must not come) and stop
 *
 * Configuration and keys come from the environment as for gb-call. The
 * body of call R.I goes to ./out.R.I; stdout gets one line per event:
 *
 *   head R.I STATUS ATTEMPTS
 *   done R.I RC MESSAGE
 *   pieces R.I N        (with -p: body pieces delivered)
 *
 * Exit 0, 1 when the contract was broken (said on stderr), 2 on misuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "buf.h"
#include "config.h"
#include "gb.h"
#include "io.h"
#include "keys.h"
#include "upstream.h"

#define MAXCALLS	64

struct call {
	int			 round, i;
	struct gb_upcall	*c;
	FILE			*out;
	size_t			 got;
	int			 heads, dones, pieces;
	int			 paused, warned;
	sd_event_source		*resume;
};

static sd_event			*ev;
static struct gb_upstream	*up;
static struct gb_keys		*ks;
static struct gb_upstream_req	 req;
static struct call		 calls[MAXCALLS];
static int			 ncalls = 1, rounds = 1, round_no, left;
static long			 pause_ms = -1, cancel_at = -1, kill_ms = -1;
static long			 free_at = -1;
static int			 broken, freed, cancel_warned;

static void	start_round(void);

static void
bad(const struct call *k, const char *what)
{
	fprintf(stderr, "upcall: %d.%d: %s\n", k->round, k->i, what);
	broken = 1;
}

static void
on_head(void *arg, const struct gb_upstream_head *h)
{
	struct call *k = arg;

	if (k->heads++ > 0)
		bad(k, "head twice");
	if (k->got > 0)
		bad(k, "head after body");
	if (k->dones > 0)
		bad(k, "head after done");
	printf("head %d.%d %d %d\n", k->round, k->i, h->status, h->attempts);
}

static int
on_resume(sd_event_source *s, uint64_t usec, void *arg)
{
	struct call *k = arg;

	(void)usec;
	sd_event_source_disable_unref(s);
	k->resume = NULL;
	k->paused = 0;
	gb_upcall_resume(k->c);
	return 0;
}

static int
free_now(sd_event_source *s, void *arg)
{
	(void)s;
	(void)arg;
	gb_upstream_free(up);
	up = NULL;
	freed = 1;
	sd_event_exit(ev, 0);
	return 0;
}

static int
on_body(void *arg, const void *p, size_t n)
{
	struct call *k = arg;

	if (k->heads == 0)
		bad(k, "body before head");
	if (k->dones > 0)
		bad(k, "body after done");
	if (k->paused)
		bad(k, "body while paused");
	fwrite(p, 1, n, k->out);
	k->got += n;
	k->pieces++;
	if (cancel_at >= 0 && k->got >= (size_t)cancel_at) {
		gb_upcall_cancel(k->c);
		cancel_at = -1;
	}
	if (free_at >= 0 && k->got >= (size_t)free_at) {
		/* not from inside a sink callback: from the loop */
		sd_event_add_defer(ev, NULL, free_now, NULL);
		free_at = -1;
	}
	if (pause_ms >= 0 && k->resume == NULL) {
		gb_upcall_pause(k->c);
		k->paused = 1;
		sd_event_add_time_relative(ev, &k->resume, CLOCK_MONOTONIC,
		    (uint64_t)pause_ms * 1000, 1000, on_resume, k);
	}
	return 0;
}

static void
on_done(void *arg, int rc, const struct gb_err *e)
{
	struct call *k = arg;

	if (k->dones++ > 0)
		bad(k, "done twice");
	if (freed)
		bad(k, "done after the upstream was freed");
	if (rc != GB_EXIT_OK && e->msg[0] == '\0')
		bad(k, "no message for a failure");
	printf("done %d.%d %d %s\n", k->round, k->i, rc, e->msg);
	if (pause_ms >= 0)
		printf("pieces %d.%d %d\n", k->round, k->i, k->pieces);
	fclose(k->out);
	k->out = NULL;
	k->c = NULL;
	if (k->resume != NULL) {
		sd_event_source_disable_unref(k->resume);
		k->resume = NULL;
	}
	if (--left == 0) {
		if (++round_no < rounds)
			start_round();	/* from inside done */
		else
			sd_event_exit(ev, 0);
	}
}

static int
cancel_one(sd_event_source *s, void *arg)
{
	struct call *k = arg;

	(void)s;	/* one-shot, owned by the loop */
	if (k->c != NULL)
		gb_upcall_cancel(k->c);
	return 0;
}

static void
on_log(void *arg, enum gb_upstream_loglevel l, const char *msg)
{
	struct call *k = arg;

	if (l > GB_UP_LOG_WARN)
		return;
	fprintf(stderr, "upcall: %s\n", msg);
	/* from the loop's next turn: the backoff has begun by then */
	if (cancel_warned && !k->warned++)
		sd_event_add_defer(ev, NULL, cancel_one, k);
}

static int
kill_all(sd_event_source *s, uint64_t usec, void *arg)
{
	int i;

	(void)s;
	(void)usec;
	(void)arg;
	for (i = 0; i < ncalls; i++)
		if (calls[i].c != NULL)
			gb_upcall_cancel(calls[i].c);
	return 0;
}

static void
start_round(void)
{
	struct gb_upcall_sink sink;
	struct gb_err err;
	char name[64];
	int i;

	sink.head = on_head;
	sink.body = on_body;
	sink.done = on_done;
	sink.log = on_log;
	left = ncalls;
	for (i = 0; i < ncalls; i++) {
		struct call *k = &calls[i];

		memset(k, 0, sizeof(*k));
		k->round = round_no;
		k->i = i;
		snprintf(name, sizeof(name), "out.%d.%d", round_no, i);
		if ((k->out = fopen(name, "w")) == NULL) {
			perror(name);
			exit(2);
		}
		sink.arg = k;
		if ((k->c = gb_upcall_start(up, ks, &req, &sink, &err)) ==
		    NULL) {
			fprintf(stderr, "upcall: %s\n", err.msg);
			exit(2);
		}
	}
	if (kill_ms >= 0)
		sd_event_add_time_relative(ev, NULL, CLOCK_MONOTONIC,
		    (uint64_t)kill_ms * 1000, 1000, kill_all, NULL);
}

static long
num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > INT_MAX) {
		fprintf(stderr, "upcall: %s: bad number\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char *argv[])
{
	struct gb_config cfg;
	struct gb_err err;
	struct gb_buf body;
	int ch, fd;

	while ((ch = getopt(argc, argv, "sn:r:p:c:k:wf:")) != -1) {
		switch (ch) {
		case 's':
			req.stream = 1;
			break;
		case 'n':
			ncalls = (int)num(optarg);
			break;
		case 'r':
			rounds = (int)num(optarg);
			break;
		case 'p':
			pause_ms = num(optarg);
			break;
		case 'c':
			cancel_at = num(optarg);
			break;
		case 'k':
			kill_ms = num(optarg);
			break;
		case 'w':
			cancel_warned = 1;
			break;
		case 'f':
			free_at = num(optarg);
			break;
		default:
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3 || ncalls < 1 || ncalls > MAXCALLS) {
		fprintf(stderr, "usage: upcall [-s] [-n calls] [-r rounds] "
		    "[-p ms] [-c bytes] [-k ms] [-w] [-f bytes] method path "
		    "[bodyfile]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	req.method = argv[0];
	req.path = argv[1];
	gb_buf_init(&body, 1 << 20);
	if (argc == 3) {
		if ((fd = open(argv[2], O_RDONLY)) == -1 ||
		    gb_io_readall(fd, &body) == -1) {
			perror(argv[2]);
			return 2;
		}
		close(fd);
		req.body = body.data;
		req.bodylen = body.len;
	}
	if (gb_config_load(&cfg, GB_CONFIG_NEED_KEYS, &err) == -1 ||
	    (ks = gb_keys_open(&cfg, &err)) == NULL ||
	    sd_event_new(&ev) < 0 ||
	    (up = gb_upstream_new(&cfg, ev, &err)) == NULL) {
		fprintf(stderr, "upcall: %s\n", err.msg);
		return 2;
	}
	start_round();
	sd_event_loop(ev);
	gb_upstream_free(up);
	for (ch = 0; ch < ncalls; ch++) {
		if (calls[ch].out != NULL)
			fclose(calls[ch].out);
		if (calls[ch].resume != NULL)
			sd_event_source_disable_unref(calls[ch].resume);
	}
	sd_event_unref(ev);
	gb_keys_close(ks);
	gb_config_free(&cfg);
	gb_buf_free(&body);
	return broken;
}
