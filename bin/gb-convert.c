/*
 * gb-convert - OpenAI <-> Gemini JSON conversions as shell filters.
 * The conversions are in lib/convert*.c; this file reads stdin (capped
 * at MAX_BODY), writes the answer to stdout only once it is complete,
 * and maps failures to the exit codes of gb.h.
 *
 * It also runs as a job in a thread of a long-lived host (job.h), several
 * at once and many times over in one process: its descriptors and
 * streams go through gb_fd()/gb_stdout()/gb_stderr(), and everything a
 * run holds lives in one struct run on the heap. A failure anywhere
 * prints its message, stores the exit status in the run and longjmps
 * back to main, which frees what the run holds and returns the status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "convert.h"
#include "gb.h"
#include "gemini.h"
#include "host.h"
#include "io.h"
#include "job.h"

/* a job of a host has streams and options of its own (job.h) */
#include "jobtool.h"

#define PROG	"gb-convert"
#define DUMPFLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(15))

static const char usage_text[] =
    "usage: gb-convert chat-request [-I fd]\n"
    "       gb-convert chat-response -m model\n"
    "       gb-convert embed-request [-I fd] [-m model]\n"
    "       gb-convert embed-response [-e float | base64] -m model\n"
    "       gb-convert models [-i id]\n"
    "       gb-convert error [-I fd] -s status\n"
    "       gb-convert -W\n";

/* Modes: the options each takes and the ones it needs. */
static const struct mode {
	const char	*name;
	const char	*opts;
	const char	*need;
} modes[] = {
	{ "chat-request", "I", "" },
	{ "chat-response", "m", "m" },
	{ "embed-request", "Im", "" },
	{ "embed-response", "em", "m" },
	{ "models", "i", "" },
	{ "error", "Is", "s" },
};

/*
 * stdin through jansson's callback loader, counted against a cap. The
 * loader asks for small pieces; they are served from a 64 KiB buffer so
 * a large body costs few read(2) calls and is never held twice.
 */
struct reader {
	size_t	 cap;
	size_t	 total;
	int	 toobig;
	int	 ioerr;
	size_t	 off;
	size_t	 len;
	char	 buf[65536];
};

/* Output through a 64 KiB buffer straight to a descriptor. */
struct writer {
	int	 fd;		/* the tool's number: gb_fd(fd) */
	size_t	 len;
	int	 err;
	char	 buf[65536];
};

/*
 * One run: every resource it may hold, so that a failure anywhere
 * (die) can unwind to main, which frees what is set.
 */
struct run {
	jmp_buf		 jb;
	int		 code;	/* the exit status after a longjmp */
	struct gb_config cfg;
	int		 cfg_loaded;
	struct reader	*rd;
	struct gb_buf	 raw;	/* stdin as it is */
	json_t		*in;
	json_t		*res;
	json_t		*meta;
	struct writer	*info;	/* the -I writer */
	struct writer	 out;	/* stdout */
};

static void __attribute__((noreturn))
die(struct run *R, int code, const char *msg)
{
	fprintf(stderr, "%s: %s\n", PROG, msg);
	R->code = code;
	longjmp(R->jb, 1);
}

static void __attribute__((noreturn))
usage(struct run *R)
{
	fputs(usage_text, stderr);
	R->code = GB_EXIT_USAGE;
	longjmp(R->jb, 1);
}

static void __attribute__((noreturn))
die_err(struct run *R, const struct gb_err *e)
{
	die(R, e->code != 0 ? e->code : GB_EXIT_TEMP, e->msg);
}

static size_t
read_cb(void *p, size_t n, void *arg)
{
	struct reader *r = arg;
	ssize_t got;

	if (r->off == r->len) {
		got = gb_io_read(gb_fd(0), r->buf, sizeof(r->buf));
		if (got == -1) {
			r->ioerr = errno;
			return (size_t)-1;
		}
		r->total += (size_t)got;
		if (r->total > r->cap) {
			r->toobig = 1;
			return (size_t)-1;
		}
		r->off = 0;
		r->len = (size_t)got;
	}
	if (n > r->len - r->off)
		n = r->len - r->off;
	memcpy(p, r->buf + r->off, n);
	r->off += n;
	return n;
}

/* One JSON document from stdin into R->in, or die 100/111. */
static void
read_json(struct run *R, size_t cap)
{
	struct reader *r;
	json_error_t je;
	char msg[GB_ERR_MSGSIZE];

	if ((r = R->rd = calloc(1, sizeof(*r))) == NULL)
		die(R, GB_EXIT_TEMP, "out of memory");
	r->cap = cap;
	R->in = json_load_callback(read_cb, r, JSON_DECODE_ANY, &je);
	if (r->ioerr != 0) {
		snprintf(msg, sizeof(msg), "stdin: %s", strerror(r->ioerr));
		die(R, GB_EXIT_TEMP, msg);
	}
	if (r->toobig) {
		snprintf(msg, sizeof(msg), "stdin: more than %zu bytes "
		    "(MAX_BODY)", cap);
		die(R, GB_EXIT_USAGE, msg);
	}
	free(r);
	R->rd = NULL;
	if (R->in == NULL) {
		snprintf(msg, sizeof(msg), "stdin: invalid JSON at line %d "
		    "column %d: %s", je.line, je.column, je.text);
		die(R, GB_EXIT_USAGE, msg);
	}
}

/* All of stdin into R->raw, or die 100/111. */
static void
read_raw(struct run *R, size_t cap)
{
	struct gb_buf *b = &R->raw;
	char msg[GB_ERR_MSGSIZE];

	gb_buf_init(b, cap);
	if (gb_io_readall(gb_fd(0), b) == -1) {
		if (errno == E2BIG) {
			snprintf(msg, sizeof(msg), "stdin: more than %zu bytes "
			    "(MAX_BODY)", b->cap);
			die(R, GB_EXIT_USAGE, msg);
		}
		snprintf(msg, sizeof(msg), "stdin: %s", strerror(errno));
		die(R, GB_EXIT_TEMP, msg);
	}
}

/* Concatenated JSON values from stdin -> R->in, an array of them. */
static void
read_json_seq(struct run *R, size_t cap)
{
	struct gb_buf *b = &R->raw;
	json_error_t je;
	json_t *j;
	size_t off = 0;
	char msg[GB_ERR_MSGSIZE];

	read_raw(R, cap);
	if ((R->in = json_array()) == NULL)
		die(R, GB_EXIT_TEMP, "out of memory");
	for (;;) {
		while (off < b->len &&
		    strchr(" \t\r\n", b->data[off]) != NULL)
			off++;
		if (off == b->len)
			break;
		j = json_loadb(b->data + off, b->len - off,
		    JSON_DISABLE_EOF_CHECK, &je);
		if (j == NULL) {
			snprintf(msg, sizeof(msg), "stdin: invalid JSON in "
			    "document %zu: %s", json_array_size(R->in) + 1,
			    je.text);
			die(R, GB_EXIT_USAGE, msg);
		}
		json_array_append_new(R->in, j);
		off += (size_t)je.position;
	}
	gb_buf_free(b);
	if (json_array_size(R->in) == 0)
		die(R, GB_EXIT_USAGE, "stdin: no JSON document");
}

static int
flush_w(struct writer *w)
{
	if (w->len > 0 && w->err == 0 &&
	    gb_io_writeall(gb_fd(w->fd), w->buf, w->len) == -1)
		w->err = errno;
	w->len = 0;
	return w->err != 0 ? -1 : 0;
}

static int
write_cb(const char *p, size_t n, void *arg)
{
	struct writer *w = arg;
	size_t k;

	while (n > 0) {
		if (w->len == sizeof(w->buf) && flush_w(w) == -1)
			return -1;
		k = sizeof(w->buf) - w->len;
		if (k > n)
			k = n;
		memcpy(w->buf + w->len, p, k);
		w->len += k;
		p += k;
		n -= k;
	}
	return 0;
}

static void
put_json(struct run *R, struct writer *w, const json_t *j)
{
	if (json_dump_callback(j, write_cb, w, DUMPFLAGS | JSON_ENCODE_ANY) ==
	    -1 && w->err == 0)
		die(R, GB_EXIT_TEMP, "cannot encode the output");
	write_cb("\n", 1, w);
}

static void
check_w(struct run *R, struct writer *w, const char *what)
{
	char msg[GB_ERR_MSGSIZE];

	if (flush_w(w) == -1) {
		snprintf(msg, sizeof(msg), "%s: %s", what, strerror(w->err));
		die(R, GB_EXIT_TEMP, msg);
	}
}

/*
 * The -I side channel: one compact JSON line, then the tool's descriptor
 * fd is closed (gb_close: a host must know the job closed it).
 */
static void
put_meta(struct run *R, int fd)
{
	struct writer *w;

	if (fd < 0)
		return;
	if ((w = R->info = malloc(sizeof(*w))) == NULL)
		die(R, GB_EXIT_TEMP, "out of memory");
	w->fd = fd;
	w->len = 0;
	w->err = 0;
	put_json(R, w, R->meta);
	check_w(R, w, "info fd");
	free(w);
	R->info = NULL;
	if (gb_close(fd) == -1)
		die(R, GB_EXIT_TEMP, "info fd: cannot close");
}

static long long
number(struct run *R, int opt, const char *s, long long min, long long max)
{
	const char *es;
	long long n;
	char msg[GB_ERR_MSGSIZE];

	if (gb_strtonum(s, min, max, &n, &es) == -1) {
		snprintf(msg, sizeof(msg), "-%c %s: %s", opt, s, es);
		die(R, GB_EXIT_USAGE, msg);
	}
	return n;
}

/* The run proper: its exit status, unless it dies (longjmp). */
static int
convert(struct run *R, int argc, char *argv[])
{
	const struct mode *md = NULL;
	struct gb_err err;
	json_t *line;
	const char *model = NULL, *id = NULL, *p;
	char seen[8] = "";
	int ch, infofd = -1, b64 = 0, status = 0, ostatus;
	size_t i, cap;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		if (fflush(stdout) == EOF || ferror(stdout))
			die(R, GB_EXIT_TEMP, "stdout: write error");
		return GB_EXIT_OK;
	}
	if (argc < 2)
		usage(R);
	for (i = 0; i < GB_NELEM(modes); i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			md = &modes[i];
	if (md == NULL)
		usage(R);
	argc--;
	argv++;
	while ((ch = getopt(argc, argv, "+I:e:i:m:s:")) != -1) {
		if (ch == '?' || strchr(md->opts, ch) == NULL)
			usage(R);
		if (strlen(seen) < sizeof(seen) - 1 && !strchr(seen, ch))
			seen[strlen(seen)] = (char)ch;
		switch (ch) {
		case 'I':
			infofd = (int)number(R, ch, optarg, 2, INT_MAX);
			if (fcntl(gb_fd(infofd), F_GETFD) == -1)
				die(R, GB_EXIT_USAGE, "-I: not an open file "
				    "descriptor");
			break;
		case 'e':
			if (strcmp(optarg, "base64") == 0)
				b64 = 1;
			else if (strcmp(optarg, "float") != 0)
				usage(R);
			break;
		case 'i':
			id = optarg;
			break;
		case 'm':
			model = optarg;
			break;
		case 's':
			status = (int)number(R, ch, optarg, 100, 599);
			break;
		}
	}
	if (optind != argc)
		usage(R);
	for (p = md->need; *p != '\0'; p++)
		if (strchr(seen, *p) == NULL)
			usage(R);

	gb_err_clear(&err);
	if (gb_config_load(&R->cfg, 0, &err) == -1)
		die(R, GB_EXIT_USAGE, err.msg);
	R->cfg_loaded = 1;
	cap = (size_t)R->cfg.max_body;
	/* libcurl is loaded on the first download (lib/curlapi.h) */

	if (strcmp(md->name, "chat-request") == 0) {
		read_json(R, cap);
		R->res = gb_convert_chat_request(R->in, &R->cfg, infofd >= 0 ?
		    &R->meta : NULL, &err);
	} else if (strcmp(md->name, "chat-response") == 0) {
		read_json(R, cap);
		R->res = gb_convert_chat_response(R->in, model, &R->cfg, &err);
	} else if (strcmp(md->name, "embed-request") == 0) {
		read_json(R, cap);
		R->res = gb_convert_embed_request(R->in, model, infofd >= 0 ?
		    &R->meta : NULL, &err);
	} else if (strcmp(md->name, "embed-response") == 0) {
		read_json_seq(R, cap);
		R->res = gb_convert_embed_response(R->in, model, b64, &err);
	} else if (strcmp(md->name, "models") == 0) {
		read_json_seq(R, cap);
		R->res = gb_convert_models(R->in, &R->cfg, id, &err);
	} else {
		read_raw(R, cap);
		R->res = gb_gemini_error_to_openai(status, R->raw.data != NULL ?
		    R->raw.data : "", R->raw.len, &ostatus);
		gb_buf_free(&R->raw);
		R->meta = json_pack("{s:i}", "status", ostatus);
	}
	/* the request may be large: let it go before writing */
	json_decref(R->in);
	R->in = NULL;
	if (R->res == NULL) {
		if (err.msg[0] == '\0')
			die(R, GB_EXIT_TEMP, "out of memory");
		die_err(R, &err);
	}
	put_meta(R, infofd);
	json_decref(R->meta);
	R->meta = NULL;
	if (strcmp(md->name, "embed-request") == 0)
		json_array_foreach(R->res, i, line)
			put_json(R, &R->out, line);
	else
		put_json(R, &R->out, R->res);
	json_decref(R->res);
	R->res = NULL;
	gb_config_free(&R->cfg);
	R->cfg_loaded = 0;
	check_w(R, &R->out, "stdout");
	if (gb_close(1) == -1)
		die(R, GB_EXIT_TEMP, "stdout: cannot close");
	return GB_EXIT_OK;
}

static int
convert_main(int argc, char *argv[])
{
	struct run *R;
	int code;

	if ((R = calloc(1, sizeof(*R))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return GB_EXIT_TEMP;
	}
	R->out.fd = 1;
	if (setjmp(R->jb) == 0)
		R->code = convert(R, argc, argv);
	/* after a longjmp only R (never changed since setjmp) is read */
	code = R->code;
	if (R->cfg_loaded)
		gb_config_free(&R->cfg);
	free(R->rd);
	gb_buf_free(&R->raw);
	json_decref(R->in);
	json_decref(R->res);
	json_decref(R->meta);
	free(R->info);
	free(R);
	return code;
}

/*
 * "gb-convert -W": the tool's host (lib/host.h), started by gb-serve with
 * its queue on descriptor 3; each job runs convert_main() as the
 * standalone tool.
 */
int
main(int argc, char *argv[])
{
	const struct gb_host_ops ops = { convert_main, NULL, NULL };
	int rc;

	if ((rc = gb_host_main(argc, argv, "gb-convert", &ops)) != -1)
		return rc;
	return convert_main(argc, argv);
}
