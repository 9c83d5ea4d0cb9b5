/*
 * gb-convert - OpenAI <-> Gemini JSON conversions as shell filters.
 * The conversions are in lib/convert*.c; this file reads stdin (capped
 * at MAX_BODY), writes the answer to stdout only once it is complete,
 * and maps failures to the exit codes of gb.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "convert.h"
#include "gb.h"
#include "gemini.h"
#include "io.h"

#define PROG	"gb-convert"
#define DUMPFLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(15))

static const char usage_text[] =
    "usage: gb-convert chat-request [-I fd]\n"
    "       gb-convert chat-response -m model\n"
    "       gb-convert embed-request [-I fd] [-m model]\n"
    "       gb-convert embed-response [-e float | base64] -m model\n"
    "       gb-convert models [-i id]\n"
    "       gb-convert error [-I fd] -s status\n";

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

static void __attribute__((noreturn))
usage(void)
{
	fputs(usage_text, stderr);
	exit(GB_EXIT_USAGE);
}

static void __attribute__((noreturn))
die(int code, const char *msg)
{
	fprintf(stderr, "%s: %s\n", PROG, msg);
	exit(code);
}

static void __attribute__((noreturn))
die_err(const struct gb_err *e)
{
	die(e->code != 0 ? e->code : GB_EXIT_TEMP, e->msg);
}

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

static size_t
read_cb(void *p, size_t n, void *arg)
{
	struct reader *r = arg;
	ssize_t got;

	if (r->off == r->len) {
		got = gb_io_read(0, r->buf, sizeof(r->buf));
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

/* One JSON document from stdin, or exit 100/111. */
static json_t *
read_json(size_t cap)
{
	struct reader *r;
	json_error_t je;
	json_t *j;
	char msg[GB_ERR_MSGSIZE];

	int ioerr, toobig;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		die(GB_EXIT_TEMP, "out of memory");
	r->cap = cap;
	j = json_load_callback(read_cb, r, JSON_DECODE_ANY, &je);
	ioerr = r->ioerr;
	toobig = r->toobig;
	free(r);
	if (ioerr != 0) {
		snprintf(msg, sizeof(msg), "stdin: %s", strerror(ioerr));
		die(GB_EXIT_TEMP, msg);
	}
	if (toobig) {
		json_decref(j);
		snprintf(msg, sizeof(msg), "stdin: more than %zu bytes "
		    "(MAX_BODY)", cap);
		die(GB_EXIT_USAGE, msg);
	}
	if (j == NULL) {
		snprintf(msg, sizeof(msg), "stdin: invalid JSON at line %d "
		    "column %d: %s", je.line, je.column, je.text);
		die(GB_EXIT_USAGE, msg);
	}
	return j;
}

static void
read_raw(struct gb_buf *b)
{
	char msg[GB_ERR_MSGSIZE];

	if (gb_io_readall(0, b) == -1) {
		if (errno == E2BIG) {
			snprintf(msg, sizeof(msg), "stdin: more than %zu bytes "
			    "(MAX_BODY)", b->cap);
			die(GB_EXIT_USAGE, msg);
		}
		snprintf(msg, sizeof(msg), "stdin: %s", strerror(errno));
		die(GB_EXIT_TEMP, msg);
	}
}

/* Concatenated JSON values from stdin -> an array of them. */
static json_t *
read_json_seq(size_t cap)
{
	struct gb_buf b;
	json_error_t je;
	json_t *all, *j;
	size_t off = 0;
	char msg[GB_ERR_MSGSIZE];

	gb_buf_init(&b, cap);
	read_raw(&b);
	all = json_array();
	for (;;) {
		while (off < b.len && strchr(" \t\r\n", b.data[off]) != NULL)
			off++;
		if (off == b.len)
			break;
		j = json_loadb(b.data + off, b.len - off,
		    JSON_DISABLE_EOF_CHECK, &je);
		if (j == NULL) {
			snprintf(msg, sizeof(msg), "stdin: invalid JSON in "
			    "document %zu: %s", json_array_size(all) + 1,
			    je.text);
			die(GB_EXIT_USAGE, msg);
		}
		json_array_append_new(all, j);
		off += (size_t)je.position;
	}
	gb_buf_free(&b);
	if (json_array_size(all) == 0)
		die(GB_EXIT_USAGE, "stdin: no JSON document");
	return all;
}

/* Output through a 64 KiB buffer straight to fd 1. */
struct writer {
	int	 fd;
	size_t	 len;
	int	 err;
	char	 buf[65536];
};

static int
flush_w(struct writer *w)
{
	if (w->len > 0 && w->err == 0 &&
	    gb_io_writeall(w->fd, w->buf, w->len) == -1)
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
put_json(struct writer *w, const json_t *j)
{
	if (json_dump_callback(j, write_cb, w, DUMPFLAGS | JSON_ENCODE_ANY) ==
	    -1 && w->err == 0)
		die(GB_EXIT_TEMP, "cannot encode the output");
	write_cb("\n", 1, w);
}

static void
check_w(struct writer *w, const char *what)
{
	char msg[GB_ERR_MSGSIZE];

	if (flush_w(w) == -1) {
		snprintf(msg, sizeof(msg), "%s: %s", what, strerror(w->err));
		die(GB_EXIT_TEMP, msg);
	}
}

/* The -I side channel: one compact JSON line, then the fd is closed. */
static void
put_meta(int fd, json_t *meta)
{
	struct writer *w;

	if (fd < 0)
		return;
	if ((w = malloc(sizeof(*w))) == NULL)
		die(GB_EXIT_TEMP, "out of memory");
	w->fd = fd;
	w->len = 0;
	w->err = 0;
	put_json(w, meta);
	check_w(w, "info fd");
	free(w);
	if (close(fd) == -1)
		die(GB_EXIT_TEMP, "info fd: cannot close");
}

static long long
number(int opt, const char *s, long long min, long long max)
{
	const char *es;
	long long n;
	char msg[GB_ERR_MSGSIZE];

	if (gb_strtonum(s, min, max, &n, &es) == -1) {
		snprintf(msg, sizeof(msg), "-%c %s: %s", opt, s, es);
		die(GB_EXIT_USAGE, msg);
	}
	return n;
}

int
main(int argc, char *argv[])
{
	static struct writer out = { 1, 0, 0, { 0 } };
	const struct mode *md = NULL;
	struct gb_config cfg;
	struct gb_err err;
	struct gb_buf raw;
	json_t *in, *res = NULL, *meta = NULL, *line;
	const char *model = NULL, *id = NULL, *p;
	char seen[8] = "";
	int ch, infofd = -1, b64 = 0, status = 0, ostatus;
	size_t i, cap;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		if (fflush(stdout) == EOF || ferror(stdout))
			die(GB_EXIT_TEMP, "stdout: write error");
		return GB_EXIT_OK;
	}
	if (argc < 2)
		usage();
	for (i = 0; i < GB_NELEM(modes); i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			md = &modes[i];
	if (md == NULL)
		usage();
	argc--;
	argv++;
	while ((ch = getopt(argc, argv, "+I:e:i:m:s:")) != -1) {
		if (ch == '?' || strchr(md->opts, ch) == NULL)
			usage();
		if (strlen(seen) < sizeof(seen) - 1 && !strchr(seen, ch))
			seen[strlen(seen)] = (char)ch;
		switch (ch) {
		case 'I':
			infofd = (int)number(ch, optarg, 2, INT_MAX);
			if (fcntl(infofd, F_GETFD) == -1)
				die(GB_EXIT_USAGE, "-I: not an open file "
				    "descriptor");
			break;
		case 'e':
			if (strcmp(optarg, "base64") == 0)
				b64 = 1;
			else if (strcmp(optarg, "float") != 0)
				usage();
			break;
		case 'i':
			id = optarg;
			break;
		case 'm':
			model = optarg;
			break;
		case 's':
			status = (int)number(ch, optarg, 100, 599);
			break;
		}
	}
	if (optind != argc)
		usage();
	for (p = md->need; *p != '\0'; p++)
		if (strchr(seen, *p) == NULL)
			usage();

	gb_err_clear(&err);
	if (gb_config_load(&cfg, 0, &err) == -1)
		die(GB_EXIT_USAGE, err.msg);
	cap = (size_t)cfg.max_body;
	/* libcurl initialises itself on the first download */

	if (strcmp(md->name, "chat-request") == 0) {
		in = read_json(cap);
		res = gb_convert_chat_request(in, &cfg, infofd >= 0 ? &meta :
		    NULL, &err);
		/* the request may be large: let it go before writing */
		json_decref(in);
	} else if (strcmp(md->name, "chat-response") == 0) {
		in = read_json(cap);
		res = gb_convert_chat_response(in, model, &cfg, &err);
		json_decref(in);
	} else if (strcmp(md->name, "embed-request") == 0) {
		in = read_json(cap);
		res = gb_convert_embed_request(in, model, infofd >= 0 ? &meta :
		    NULL, &err);
		json_decref(in);
	} else if (strcmp(md->name, "embed-response") == 0) {
		in = read_json_seq(cap);
		res = gb_convert_embed_response(in, model, b64, &err);
		json_decref(in);
	} else if (strcmp(md->name, "models") == 0) {
		in = read_json_seq(cap);
		res = gb_convert_models(in, &cfg, id, &err);
		json_decref(in);
	} else {
		gb_buf_init(&raw, cap);
		read_raw(&raw);
		res = gb_gemini_error_to_openai(status, raw.data != NULL ?
		    raw.data : "", raw.len, &ostatus);
		gb_buf_free(&raw);
		meta = json_pack("{s:i}", "status", ostatus);
	}
	if (res == NULL) {
		if (err.msg[0] == '\0')
			die(GB_EXIT_TEMP, "out of memory");
		die_err(&err);
	}
	put_meta(infofd, meta);
	json_decref(meta);
	if (strcmp(md->name, "embed-request") == 0)
		json_array_foreach(res, i, line)
			put_json(&out, line);
	else
		put_json(&out, res);
	json_decref(res);
	gb_config_free(&cfg);
	curl_global_cleanup();
	check_w(&out, "stdout");
	if (close(1) == -1)
		die(GB_EXIT_TEMP, "stdout: cannot close");
	return GB_EXIT_OK;
}
