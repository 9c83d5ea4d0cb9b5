/*
 * gb-convert - OpenAI <-> Gemini JSON conversions as shell filters.
 * The work is gb_convert_run_fd() (lib/convert_run.c): it reads stdin
 * (capped at MAX_BODY), converts and hands back the whole output, which
 * this file writes to stdout only once the conversion has succeeded,
 * after the -I line; failures map to the exit codes of gb.h.
 *
 * "gb-convert -W" is the tool's host behind gb-serve (lib/host.h): the
 * same gb_convert_run(), on the host's worker threads
 * (lib/host_convert.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "convert.h"
#include "gb.h"
#include "host.h"
#include "io.h"

#define PROG	"gb-convert"

/*
 * The output is held whole before it is written; a conversion's output
 * is at most a few times its input (MAX_BODY) plus the images it
 * downloads, far below this.
 */
#define OUTMAX	(1UL << 30)

static const char usage_text[] =
    "usage: gb-convert chat-request [-I fd]\n"
    "       gb-convert chat-response -m model\n"
    "       gb-convert responses-request [-I fd]\n"
    "       gb-convert responses-response -m model\n"
    "       gb-convert anthropic-request [-I fd]\n"
    "       gb-convert anthropic-response -m model\n"
    "       gb-convert anthropic-count-request [-I fd]\n"
    "       gb-convert anthropic-count-response\n"
    "       gb-convert anthropic-models [-i id]\n"
    "       gb-convert embed-request [-I fd] [-m model]\n"
    "       gb-convert embed-response [-e float | base64] -m model\n"
    "       gb-convert models [-i id]\n"
    "       gb-convert error [-I fd] -s status\n"
    "       gb-convert speech-request [-I fd]\n"
    "       gb-convert speech-response [-f mp3 | wav | pcm] [-m model]\n"
    "       gb-convert image-request [-I fd]\n"
    "       gb-convert image-response\n"
    "       gb-convert image-edit-request [-I fd]\n"
    "       gb-convert -W\n";

/* The options each mode takes and the ones it needs. */
static const struct mode {
	const char	*opts;
	const char	*need;
} modes[] = {
	[GB_CONVERT_CHAT_REQUEST] = { "I", "" },
	[GB_CONVERT_CHAT_RESPONSE] = { "m", "m" },
	[GB_CONVERT_EMBED_REQUEST] = { "Im", "" },
	[GB_CONVERT_EMBED_RESPONSE] = { "em", "m" },
	[GB_CONVERT_MODELS] = { "i", "" },
	[GB_CONVERT_ERROR] = { "Is", "s" },
	[GB_CONVERT_RESPONSES_REQUEST] = { "I", "" },
	[GB_CONVERT_RESPONSES_RESPONSE] = { "m", "m" },
	[GB_CONVERT_ANTHROPIC_REQUEST] = { "I", "" },
	[GB_CONVERT_ANTHROPIC_RESPONSE] = { "m", "m" },
	[GB_CONVERT_ANTHROPIC_COUNT_REQUEST] = { "I", "" },
	[GB_CONVERT_ANTHROPIC_COUNT_RESPONSE] = { "", "" },
	[GB_CONVERT_ANTHROPIC_MODELS] = { "i", "" },
	[GB_CONVERT_SPEECH_REQUEST] = { "I", "" },
	[GB_CONVERT_SPEECH_RESPONSE] = { "fm", "" },
	[GB_CONVERT_IMAGE_REQUEST] = { "I", "" },
	[GB_CONVERT_IMAGE_RESPONSE] = { "", "" },
	[GB_CONVERT_IMAGE_EDIT_REQUEST] = { "I", "" },
};

/* "gb-convert: <message>" on stderr; returns code. */
static int __attribute__((format(printf, 2, 3)))
fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int
usage(void)
{
	fputs(usage_text, stderr);
	return GB_EXIT_USAGE;
}

/* A number option in [min, max]: 0, or -1 after saying why not. */
static int
number(int opt, const char *s, long long min, long long max, long long *n)
{
	const char *es;

	if (gb_strtonum(s, min, max, n, &es) == -1) {
		fail(GB_EXIT_USAGE, "-%c %s: %s", opt, s, es);
		return -1;
	}
	return 0;
}

/*
 * The -I side channel: one compact JSON line, then the tool's descriptor
 * fd is closed.
 */
static int
put_meta(int fd, const json_t *meta)
{
	struct gb_buf b;
	int rc = 0;

	gb_buf_init(&b, OUTMAX);
	if (meta == NULL || gb_convert_dump(meta, &b) == -1)
		rc = fail(GB_EXIT_TEMP, "cannot encode the -I line");
	else if (gb_io_writeall(fd, b.data, b.len) == -1)
		rc = fail(GB_EXIT_TEMP, "info fd: %s", strerror(errno));
	else if (close(fd) == -1)
		rc = fail(GB_EXIT_TEMP, "info fd: cannot close");
	gb_buf_free(&b);
	return rc;
}

/*
 * Options, then the run on stdin; the -I line, then stdout, are written
 * only when it succeeded.
 */
static int
convert_main(int argc, char *argv[])
{
	struct gb_convert_job job;
	struct gb_config cfg;
	struct gb_err err;
	struct gb_buf out;
	json_t *meta = NULL;
	const char *p;
	char seen[8] = "";
	long long n;
	int ch, infofd = -1, rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		if (fflush(stdout) == EOF || ferror(stdout))
			return fail(GB_EXIT_TEMP, "stdout: write error");
		return GB_EXIT_OK;
	}
	memset(&job, 0, sizeof(job));
	if (argc < 2 || gb_convert_mode_parse(argv[1], &job.mode) == -1)
		return usage();
	argc--;
	argv++;
	while ((ch = getopt(argc, argv, "+I:e:f:i:m:s:")) != -1) {
		if (ch == '?' || strchr(modes[job.mode].opts, ch) == NULL)
			return usage();
		if (strlen(seen) < sizeof(seen) - 1 && !strchr(seen, ch))
			seen[strlen(seen)] = (char)ch;
		switch (ch) {
		case 'I':
			if (number(ch, optarg, 2, INT_MAX, &n) == -1)
				return GB_EXIT_USAGE;
			infofd = (int)n;
			if (fcntl(infofd, F_GETFD) == -1)
				return fail(GB_EXIT_USAGE, "-I: not an open "
				    "file descriptor");
			break;
		case 'e':
			if (strcmp(optarg, "base64") == 0)
				job.base64 = 1;
			else if (strcmp(optarg, "float") != 0)
				return usage();
			break;
		case 'f':
			if (strcmp(optarg, "mp3") != 0 &&
			    strcmp(optarg, "wav") != 0 &&
			    strcmp(optarg, "pcm") != 0)
				return usage();
			job.format = optarg;
			break;
		case 'i':
			job.id = optarg;
			break;
		case 'm':
			job.model = optarg;
			break;
		case 's':
			if (number(ch, optarg, 100, 599, &n) == -1)
				return GB_EXIT_USAGE;
			job.status = (int)n;
			break;
		}
	}
	if (optind != argc)
		return usage();
	for (p = modes[job.mode].need; *p != '\0'; p++)
		if (strchr(seen, *p) == NULL)
			return usage();

	gb_err_clear(&err);
	if (gb_config_load(&cfg, 0, &err) == -1)
		return fail(GB_EXIT_USAGE, "%s", err.msg);
	/* libcurl is loaded on the first download (lib/curlapi.h) */
	gb_buf_init(&out, OUTMAX);
	rc = gb_convert_run_fd(&job, &cfg, 0, &out, infofd >= 0 ?
	    &meta : NULL, &err);
	gb_config_free(&cfg);
	if (rc != GB_EXIT_OK)
		fail(rc, "%s", err.msg);
	else if (infofd >= 0)
		rc = put_meta(infofd, meta);
	if (rc == GB_EXIT_OK) {
		if (gb_io_writeall(1, out.data, out.len) == -1)
			rc = fail(GB_EXIT_TEMP, "stdout: %s", strerror(errno));
		else if (close(1) == -1)
			rc = fail(GB_EXIT_TEMP, "stdout: cannot close");
	}
	json_decref(meta);
	gb_buf_free(&out);
	return rc;
}

/* How the host speaks: on stderr, as the tool run alone does. */
static void
say(const char *msg)
{
	/* a host's diagnostics, on the journal when stderr is it */
	fprintf(stderr, "%sgb-convert: %s\n", gb_log_prio(GB_LOG_WARN), msg);
	fflush(stderr);
}

int
main(int argc, char *argv[])
{
	int rc;

	if ((rc = gb_host_main(argc, argv, &gb_host_convert, say)) != -1)
		return rc;
	return convert_main(argc, argv);
}
