/*
 * convert-run - gb_convert_run() (lib/convert.h) as a host calls it: on
 * a whole input in memory, on several threads at once. Built by
 * tests/gb-convert-run.bats against libgb.a, which compares what it
 * prints with what gb-convert prints for the same case.
 *
 * usage: convert-run [-n runs] [-t threads] mode [-I fd] [-e enc]
 *            [-i id] [-m model] [-s status] < input
 *
 * Reads all of stdin and the configuration (./.env), then each of the
 * threads makes the given number of runs of the one job on those bytes.
 * Every run must give the same exit status, message, -I line and
 * output length (the ids and times of chat-response,
 * responses-response and anthropic-response are random, but of fixed length) and, for the
 * other modes, the same output bytes. Then prints the first run as
 * gb-convert would: the output on stdout, the -I line
 * on fd, "gb-convert: message" on stderr, its exit status. Exit 2 when
 * the runs disagree or on misuse.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "convert.h"
#include "gb.h"
#include "io.h"

struct result {
	int		 status;
	struct gb_err	 err;
	struct gb_buf	 out;
	struct gb_buf	 meta;
};

struct worker {
	pthread_t	 t;
	int		 runs;
	int		 bad;
	struct result	 first;
};

static struct gb_convert_job job;
static struct gb_config cfg;
static struct gb_buf input;
static int want_meta;

static void
one(struct result *r)
{
	json_t *meta = NULL;

	gb_buf_init(&r->out, 1UL << 30);
	gb_buf_init(&r->meta, 1UL << 20);
	r->status = gb_convert_run(&job, &cfg, input.data, input.len,
	    &r->out, want_meta ? &meta : NULL, &r->err);
	if (meta != NULL && gb_convert_dump(meta, &r->meta) == -1)
		r->status = -1;
	json_decref(meta);
}

static int
same(const struct result *a, const struct result *b)
{
	return a->status == b->status &&
	    strcmp(a->err.msg, b->err.msg) == 0 &&
	    a->meta.len == b->meta.len &&
	    (a->meta.len == 0 || memcmp(a->meta.data, b->meta.data,
	    a->meta.len) == 0) &&
	    a->out.len == b->out.len &&
	    (job.mode == GB_CONVERT_CHAT_RESPONSE ||
	    job.mode == GB_CONVERT_RESPONSES_RESPONSE ||
	    job.mode == GB_CONVERT_ANTHROPIC_RESPONSE || a->out.len == 0 ||
	    memcmp(a->out.data, b->out.data, a->out.len) == 0);
}

static void
result_free(struct result *r)
{
	gb_buf_free(&r->out);
	gb_buf_free(&r->meta);
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct result r;
	int i;

	one(&w->first);
	for (i = 1; i < w->runs; i++) {
		one(&r);
		if (!same(&r, &w->first))
			w->bad = 1;
		result_free(&r);
	}
	return NULL;
}

/* A whole number in [min, max] from the command line, or -1. */
static int
num(const char *s, int min, int max)
{
	const char *es;
	long long n;

	return gb_strtonum(s, min, max, &n, &es) == -1 ? -1 : (int)n;
}

static int
usage(void)
{
	fprintf(stderr, "usage: convert-run [-n runs] [-t threads] mode "
	    "[-I fd] [-e enc] [-i id] [-m model] [-s status]\n");
	return 2;
}

int
main(int argc, char *argv[])
{
	struct worker *w;
	struct gb_err err;
	int ch, i, runs = 1, threads = 1, infofd = -1, bad = 0, rc;

	while ((ch = getopt(argc, argv, "+n:t:")) != -1) {
		if (ch == 'n')
			runs = num(optarg, 1, 10000);
		else if (ch == 't')
			threads = num(optarg, 1, 64);
		else
			return usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || runs < 1 || threads < 1 ||
	    gb_convert_mode_parse(argv[0], &job.mode) == -1)
		return usage();
	optind = 1;
	while ((ch = getopt(argc, argv, "I:e:i:m:s:")) != -1) {
		switch (ch) {
		case 'I':
			if ((infofd = num(optarg, 3, 1024)) == -1)
				return usage();
			want_meta = 1;
			break;
		case 'e':
			job.base64 = strcmp(optarg, "base64") == 0;
			break;
		case 'i':
			job.id = optarg;
			break;
		case 'm':
			job.model = optarg;
			break;
		case 's':
			job.status = num(optarg, 0, 999);
			break;
		default:
			return usage();
		}
	}
	if (gb_config_load(&cfg, 0, &err) == -1) {
		fprintf(stderr, "gb-convert: %s\n", err.msg);
		return 100;
	}
	/* what a host does: the job's whole input first */
	gb_buf_init(&input, 1UL << 30);
	if (gb_io_readall(0, &input) == -1) {
		perror("convert-run: stdin");
		return 2;
	}
	if ((w = calloc((size_t)threads, sizeof(*w))) == NULL)
		return 2;
	for (i = 0; i < threads; i++) {
		w[i].runs = runs;
		if (pthread_create(&w[i].t, NULL, work, &w[i]) != 0)
			return 2;
	}
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		bad |= w[i].bad || !same(&w[i].first, &w[0].first);
	}
	rc = w[0].first.status;
	if (bad) {
		fprintf(stderr, "convert-run: the runs disagree\n");
		rc = 2;
	} else if (rc != GB_EXIT_OK)
		fprintf(stderr, "gb-convert: %s\n", w[0].first.err.msg);
	else if ((infofd >= 0 && (gb_io_writeall(infofd, w[0].first.meta.data,
	    w[0].first.meta.len) == -1 || close(infofd) == -1)) ||
	    gb_io_writeall(1, w[0].first.out.data, w[0].first.out.len) == -1) {
		perror("convert-run: write");
		rc = 2;
	}
	for (i = 0; i < threads; i++)
		result_free(&w[i].first);
	free(w);
	gb_buf_free(&input);
	gb_config_free(&cfg);
	return rc;
}
