/*
 * httpcheck - unit checks of lib/httpmsg.c, the HTTP/1.1 parser and
 * writer over buffers. Built and run by tests/http-parse.bats against
 * the libgb.a beside GB_BIN.
 *
 * usage: httpcheck head|body|pipeline|format
 *
 * Every parse is done three ways, and the three must agree: all the
 * bytes at once, one byte at a time, and split in two at every point.
 * Prints "N checks ok" and exits 0, or names each failed check on
 * stderr and exits 1; 2 on misuse.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpmsg.h"

#define MAXB	65536		/* the body cap unless a case says */
#define ANY	((size_t)-1)	/* a used count not checked */
#define ALL	((size_t)-2)	/* all the bytes given were used */
#define RFCDATE	784111777	/* Sun, 06 Nov 1994 08:49:37 GMT */

static int checks, failed;

static void
fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "httpcheck: %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed++;
}

static void
check(int ok, const char *name, const char *what)
{
	checks++;
	if (!ok)
		fail(name, "%s", what);
}

/* ---- heads ---- */

/* What a parse gave: the return, the status, the bytes used, fields. */
struct hres {
	int		 rc, status, minor, keepalive, chunked, expect;
	int		 body_read;
	long long	 clen;
	size_t		 used, nhdr;
	char		 method[32], target[64];
};

static void
hres_take(struct hres *h, int rc, int st, size_t used,
    const struct gb_http_req *r)
{
	memset(h, 0, sizeof(*h));
	h->rc = rc;
	h->status = st;
	h->used = used;
	h->minor = r->minor;
	h->keepalive = r->keepalive;
	h->chunked = r->chunked;
	h->expect = r->expect;
	h->body_read = r->body_read;
	h->clen = r->clen;
	h->nhdr = r->nhdr;
	if (r->method != NULL)
		snprintf(h->method, sizeof(h->method), "%s", r->method);
	if (r->target != NULL)
		snprintf(h->target, sizeof(h->target), "%s", r->target);
}

/*
 * Parse in[0..len) as a loop would: the first step bytes, then step
 * more each time the parser asks for more, dropping the empty lines it
 * says it skipped. step 0 is all at once; a split at cut is step cut
 * then the rest (cut given as -cut).
 */
static void
head_run(const char *in, size_t len, long long max, long step,
    struct hres *h)
{
	struct gb_http_req r;
	size_t have, off = 0, used;
	int rc, st;

	if (step == 0)
		have = len;
	else if (step < 0)
		have = (size_t)-step;
	else
		have = (size_t)step;
	for (;;) {
		if (have > len)
			have = len;
		rc = gb_http_parse_head(in + off, have - off, max, &r, &used,
		    &st);
		if (rc != 0 || have == len) {
			hres_take(h, rc, st, off + used, &r);
			gb_http_req_free(&r);
			return;
		}
		gb_http_req_free(&r);
		off += used;
		have += step < 0 ? len : (size_t)step;
	}
}

static int
hres_eq(const struct hres *a, const struct hres *b)
{
	return a->rc == b->rc && a->status == b->status &&
	    a->used == b->used && a->minor == b->minor &&
	    a->keepalive == b->keepalive && a->chunked == b->chunked &&
	    a->expect == b->expect && a->clen == b->clen &&
	    a->nhdr == b->nhdr && a->body_read == b->body_read &&
	    strcmp(a->method, b->method) == 0 &&
	    strcmp(a->target, b->target) == 0;
}

/* Parse all at once, byte by byte and split everywhere; all agree. */
static void
head_parse(const char *name, const char *in, size_t len, long long max,
    struct hres *h)
{
	struct hres o;
	size_t cut;
	int bad = 0;

	head_run(in, len, max, 0, h);
	head_run(in, len, max, 1, &o);
	checks++;
	if (!hres_eq(h, &o)) {
		fail(name, "byte by byte: rc %d status %d used %zu, at once: "
		    "rc %d status %d used %zu", o.rc, o.status, o.used,
		    h->rc, h->status, h->used);
		return;
	}
	/* every split point, on heads small enough for it to be quick */
	for (cut = 1; cut < len && len < 4096 && !bad; cut++) {
		head_run(in, len, max, -(long)cut, &o);
		if (!hres_eq(h, &o)) {
			fail(name, "split at %zu differs", cut);
			bad = 1;
		}
	}
	checks++;
}

struct hcase {
	const char	*name;
	const char	*in;
	int		 rc;		/* 1, 0, -1 */
	int		 status;	/* when -1 */
	size_t		 used;		/* or ANY, or ALL */
	int		 minor;		/* -1: not checked */
	int		 keepalive;	/* -1: not checked */
	long long	 clen;		/* -2: not checked */
	int		 chunked, expect;
};

#define H11	"Host: x\r\n"
#define POSTH	"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"

static const struct hcase hcases[] = {
	{ "get", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
	    1, 0, ALL, 1, 1, -1, 0, 0 },
	{ "bare LF", "GET /health HTTP/1.1\nHost: x\nConnection: close\n\n",
	    1, 0, ALL, 1, 0, -1, 0, 0 },
	{ "LF CR LF ends the head", "GET / HTTP/1.1\nHost: x\n\r\n",
	    1, 0, ALL, 1, 1, -1, 0, 0 },
	{ "empty lines before", "\r\n\n\r\nGET / HTTP/1.1\r\n" H11 "\r\n",
	    1, 0, ALL, 1, 1, -1, 0, 0 },
	{ "only empty lines", "\r\n\n\r\r\n", 0, 0, ALL, -1, -1, -2, 0, 0 },
	{ "incomplete", "GET / HTTP/1.1\r\nHost: x\r\n", 0, 0, 0, -1, -1,
	    -2, 0, 0 },
	{ "incomplete after empty lines", "\r\nGET / HTT", 0, 0, 2, -1, -1,
	    -2, 0, 0 },
	{ "pipelined: only the first head",
	    "GET /a HTTP/1.1\r\n" H11 "\r\nGET /b HTTP/1.1\r\n" H11 "\r\n",
	    1, 0, 28, 1, 1, -1, 0, 0 },
	{ "no version", "GET /health\r\nHost: x\r\n\r\n", -1, 400, ANY, 1,
	    0, -2, 0, 0 },
	{ "HTTP/2.0 is 505", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", -1,
	    505, ANY, 1, 0, -2, 0, 0 },
	{ "HTTP/0.9 is 505", "GET / HTTP/0.9\r\n\r\n", -1, 505, ANY, 1, 0,
	    -2, 0, 0 },
	{ "HTTP/1.10", "GET / HTTP/1.10\r\n" H11 "\r\n", -1, 400, ANY, 1, 0,
	    -2, 0, 0 },
	{ "lowercase version", "GET / http/1.1\r\n" H11 "\r\n", -1, 400, ANY,
	    1, 0, -2, 0, 0 },
	{ "HTTP/1.5 is 1.x without Host", "GET / HTTP/1.5\r\n\r\n", 1, 0, ALL,
	    5, 0, -1, 0, 0 },
	{ "two spaces", "GET  / HTTP/1.1\r\n" H11 "\r\n", -1, 400, ANY, 1, 0,
	    -2, 0, 0 },
	{ "method not a token", "G(T / HTTP/1.1\r\n" H11 "\r\n", -1, 400,
	    ANY, 1, 0, -2, 0, 0 },
	{ "method over 20 bytes", "ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n" H11
	    "\r\n", -1, 400, ANY, 1, 0, -2, 0, 0 },
	{ "control byte in target", "GET /a\x01 HTTP/1.1\r\n" H11 "\r\n", -1,
	    400, ANY, 1, 0, -2, 0, 0 },
	{ "bare CR", "GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", -1, 400,
	    ANY, 1, 0, -2, 0, 0 },
	{ "obs-fold with spaces", "GET / HTTP/1.1\r\n" H11
	    "X-A: 1\r\n  folded\r\n\r\n", -1, 400, ANY, 1, 0, -2, 0, 0 },
	{ "obs-fold with a tab", "GET / HTTP/1.1\r\n" H11
	    "X-A: 1\r\n\tContent-Length: 40\r\n\r\n", -1, 400, ANY, 1, 0,
	    -2, 0, 0 },
	{ "space before the colon", POSTH "Transfer-Encoding : chunked\r\n"
	    "\r\n", -1, 400, ANY, 1, 0, -2, 0, 0 },
	{ "no colon", "GET / HTTP/1.1\r\n" H11 "X-A\r\n\r\n", -1, 400, ANY,
	    1, 0, -2, 0, 0 },
	{ "empty name", "GET / HTTP/1.1\r\n" H11 ": x\r\n\r\n", -1, 400, ANY,
	    1, 0, -2, 0, 0 },
	{ "missing Host on 1.1", "GET /health HTTP/1.1\r\n\r\n", -1, 400,
	    ANY, 1, 0, -2, 0, 0 },
	{ "two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -1,
	    400, ANY, 1, 0, -2, 0, 0 },
	{ "1.0 needs no Host, closes", "GET /health HTTP/1.0\r\n\r\n", 1, 0,
	    ALL, 0, 0, -1, 0, 0 },
	{ "1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n"
	    "\r\n", 1, 0, ALL, 0, 1, -1, 0, 0 },
	{ "1.1 close in a list", "GET / HTTP/1.1\r\n" H11
	    "Connection: foo, Close\r\n\r\n", 1, 0, ALL, 1, 0, -1, 0, 0 },
	{ "Content-Length", POSTH "Content-Length: 2\r\n\r\n{}", 1, 0, 66,
	    1, 1, 2, 0, 0 },
	{ "the same Content-Length twice", POSTH "Content-Length: 2\r\n"
	    "content-length: 02\r\n\r\n", 1, 0, ALL, 1, 1, 2, 0, 0 },
	{ "two Content-Lengths", POSTH "Content-Length: 2\r\n"
	    "Content-Length: 45\r\n\r\n", -1, 400, ANY, 1, 0, -2, 0, 0 },
	{ "Content-Length list", POSTH "Content-Length: 2, 2\r\n\r\n", -1,
	    400, ANY, 1, 0, -2, 0, 0 },
	{ "Content-Length +2", POSTH "Content-Length: +2\r\n\r\n", -1, 400,
	    ANY, 1, 0, -2, 0, 0 },
	{ "Content-Length -1", POSTH "Content-Length: -1\r\n\r\n", -1, 400,
	    ANY, 1, 0, -2, 0, 0 },
	{ "Content-Length 0x2", POSTH "Content-Length: 0x2\r\n\r\n", -1, 400,
	    ANY, 1, 0, -2, 0, 0 },
	{ "Content-Length empty", POSTH "Content-Length:\r\n\r\n", -1, 400,
	    ANY, 1, 0, -2, 0, 0 },
	{ "Content-Length of 19 digits", POSTH
	    "Content-Length: 1000000000000000000\r\n\r\n", -1, 400, ANY, 1,
	    0, -2, 0, 0 },
	{ "Content-Length over max_body", POSTH "Content-Length: 65537\r\n"
	    "\r\n", -1, 413, ANY, 1, 1, 65537, 0, 0 },
	{ "Content-Length of max_body", POSTH "Content-Length: 65536\r\n"
	    "\r\n", 1, 0, ALL, 1, 1, 65536, 0, 0 },
	{ "Content-Length with Transfer-Encoding", POSTH
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -1,
	    400, ANY, 1, 0, -2, 0, 0 },
	{ "Transfer-Encoding with Content-Length", POSTH
	    "Transfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n", -1,
	    400, ANY, 1, 0, -2, 0, 0 },
	{ "chunked", POSTH "Transfer-Encoding: Chunked\r\n\r\n", 1, 0, ALL, 1,
	    1, -1, 1, 0 },
	{ "chunked over max_body is the body's business", POSTH
	    "Transfer-Encoding: chunked\r\n\r\n", 1, 0, ALL, 1, 1, -1, 1, 0 },
	{ "gzip is 501", POSTH "Transfer-Encoding: gzip\r\n\r\n", -1, 501,
	    ANY, 1, 0, -2, 0, 0 },
	{ "gzip, chunked is 400", POSTH "Transfer-Encoding: gzip, chunked\r\n"
	    "\r\n", -1, 400, ANY, 1, 0, -2, 0, 0 },
	{ "two Transfer-Encodings", POSTH "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: identity\r\n\r\n", -1, 400, ANY, 1, 0, -2, 0,
	    0 },
	{ "Transfer-Encoding on 1.0", "POST / HTTP/1.0\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", -1, 400, ANY, 0, 0, -2, 0,
	    0 },
	{ "Expect: 100-continue", POSTH "Expect: 100-Continue\r\n"
	    "Content-Length: 3\r\n\r\n", 1, 0, ALL, 1, 1, 3, 0, 1 },
	{ "Expect on 1.0 is ignored", "POST / HTTP/1.0\r\n"
	    "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n", 1, 0, ALL, 0,
	    0, 3, 0, 0 },
	{ "another Expect is 417", POSTH "Expect: 200-ok\r\n\r\n", -1, 417,
	    ANY, 1, 1, -2, 0, 0 },
};

/* The head with n header fields besides Host, each "X-i: y". */
static char *
many_fields(int n, size_t *len)
{
	struct gb_buf b;
	int i;

	gb_buf_init(&b, 1 << 20);
	gb_buf_puts(&b, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < n; i++)
		gb_buf_printf(&b, "X-%d: y\r\n", i);
	gb_buf_puts(&b, "\r\n");
	*len = b.len;
	return b.data;
}

/* A head of exactly len bytes (len >= 64), padded in one field. */
static char *
sized_head(size_t len, int complete)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
	char *s;

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, pre, sizeof(pre) - 1);
	memset(s + sizeof(pre) - 1, 'a', len - (sizeof(pre) - 1));
	if (complete)
		memcpy(s + len - 4, "\r\n\r\n", 4);
	s[len] = '\0';
	return s;
}

static void
expect_status(const char *name, const struct hres *h, int rc, int st)
{
	char what[128];

	snprintf(what, sizeof(what), "rc %d status %d, not rc %d status %d",
	    h->rc, h->status, rc, st);
	check(h->rc == rc && (rc != -1 || h->status == st), name, what);
}

static void
run_head(void)
{
	const struct hcase *c;
	struct hres h;
	const char *cs;
	char *s, what[128];
	size_t i, len, used;

	for (i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++) {
		c = &hcases[i];
		len = strlen(c->in);
		head_parse(c->name, c->in, len, MAXB, &h);
		expect_status(c->name, &h, c->rc, c->status);
		used = c->used == ALL ? len : c->used;
		if (c->used != ANY) {
			snprintf(what, sizeof(what), "used %zu, not %zu",
			    h.used, used);
			check(h.used == used, c->name, what);
		}
		if (c->rc == -1 && h.rc == -1)
			continue;
		if (c->minor != -1)
			check(h.minor == c->minor, c->name, "minor");
		if (c->keepalive != -1)
			check(h.keepalive == c->keepalive, c->name,
			    "keepalive");
		if (c->clen != -2)
			check(h.clen == c->clen, c->name, "clen");
		if (c->rc == 1) {
			check(h.chunked == c->chunked, c->name, "chunked");
			check(h.expect == c->expect, c->name, "expect");
			check(h.body_read == (!c->chunked && h.clen <= 0),
			    c->name, "body_read");
		}
	}

	/* a NUL anywhere in the head */
	head_parse("NUL in the head", "GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n",
	    31, MAXB, &h);
	expect_status("NUL in the head", &h, -1, 400);

	/* a refused head still tells the version to answer in */
	cs = "POST / HTTP/1.0\r\nContent-Length: x\r\n\r\n";
	head_parse("refused 1.0", cs, strlen(cs), MAXB, &h);
	expect_status("refused 1.0", &h, -1, 400);
	check(h.minor == 0 && h.keepalive == 0, "refused 1.0", "minor 0");
	check(strcmp(h.method, "POST") == 0, "refused 1.0", "method kept");

	/* fields: trimmed values, names kept as sent */
	{
		static const char in[] = "GET /t?q=1 HTTP/1.1\r\nHost: x\r\n"
		    "x-A: \t v 1 \t\r\nX-Empty:\r\n\r\n";
		struct gb_http_req r;
		int st;

		check(gb_http_parse_head(in, sizeof(in) - 1, MAXB, &r, &used,
		    &st) == 1, "fields", "parsed");
		check(r.nhdr == 3, "fields", "three fields");
		check(strcmp(gb_http_header(&r, "X-a"), "v 1") == 0, "fields",
		    "value trimmed");
		check(strcmp(r.hdr[1].name, "x-A") == 0, "fields",
		    "name as sent");
		check(strcmp(gb_http_header(&r, "x-empty"), "") == 0,
		    "fields", "empty value");
		check(gb_http_header(&r, "X-None") == NULL, "fields", "absent");
		check(strcmp(r.target, "/t?q=1") == 0, "fields", "target");
		check(r.body.cap == MAXB, "fields", "body cap is max_body");
		gb_http_req_free(&r);
	}

	/* header count: Host and 99 more is the most */
	s = many_fields(GB_HTTP_HDR_MAX - 1, &len);
	head_parse("100 fields", s, len, MAXB, &h);
	expect_status("100 fields", &h, 1, 0);
	check(h.nhdr == GB_HTTP_HDR_MAX, "100 fields", "nhdr");
	free(s);
	s = many_fields(GB_HTTP_HDR_MAX, &len);
	head_parse("101 fields", s, len, MAXB, &h);
	expect_status("101 fields", &h, -1, 431);
	free(s);

	/* head size: GB_HTTP_HEAD_MAX bytes is the most */
	s = sized_head(GB_HTTP_HEAD_MAX, 1);
	head_parse("head of 16 KiB", s, GB_HTTP_HEAD_MAX, MAXB, &h);
	expect_status("head of 16 KiB", &h, 1, 0);
	free(s);
	s = sized_head(GB_HTTP_HEAD_MAX + 1, 1);
	head_parse("head of 16 KiB + 1", s, GB_HTTP_HEAD_MAX + 1, MAXB, &h);
	expect_status("head of 16 KiB + 1", &h, -1, 431);
	free(s);
	/* refused once 16 KiB are here, without waiting for the end */
	s = sized_head(GB_HTTP_HEAD_MAX, 0);
	head_parse("16 KiB, no end", s, GB_HTTP_HEAD_MAX, MAXB, &h);
	expect_status("16 KiB, no end", &h, -1, 431);
	head_parse("16 KiB - 1, no end", s, GB_HTTP_HEAD_MAX - 1, MAXB, &h);
	expect_status("16 KiB - 1, no end", &h, 0, 0);
	free(s);
	/* empty lines before the head do not count */
	s = sized_head(GB_HTTP_HEAD_MAX + 100, 1);
	memset(s, '\n', 100);
	memcpy(s + 100, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ", 32);
	head_parse("16 KiB after empty lines", s, GB_HTTP_HEAD_MAX + 100,
	    MAXB, &h);
	expect_status("16 KiB after empty lines", &h, 1, 0);
	check(h.used == GB_HTTP_HEAD_MAX + 100, "16 KiB after empty lines",
	    "used");
	free(s);
	/* a request line over 16 KiB */
	s = sized_head(GB_HTTP_HEAD_MAX + 10, 1);
	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', GB_HTTP_HEAD_MAX);
	head_parse("request line over 16 KiB", s, GB_HTTP_HEAD_MAX + 10, MAXB,
	    &h);
	expect_status("request line over 16 KiB", &h, -1, 431);
	free(s);
	/* the max_body given is the one applied */
	head_parse("max_body 0", POSTH "Content-Length: 1\r\n\r\n",
	    strlen(POSTH) + 21, 0, &h);
	expect_status("max_body 0", &h, -1, 413);
}

/* ---- bodies ---- */

/* What a body read gave. */
struct bres {
	int	 rc, status;
	size_t	 used;			/* from the start of the body */
	char	 body[1 << 17];
	size_t	 blen;
};

/*
 * Read the body of the request head+body with a cap of max: all at
 * once (cut 0), byte by byte (cut -1), or in two at cut.
 */
static int
body_run(const char *in, size_t len, long long max, long cut,
    struct bres *o)
{
	struct gb_http_req r;
	struct gb_http_body b;
	size_t hused, off, have, used;
	int rc, st;

	if (gb_http_parse_head(in, len, max, &r, &hused, &st) != 1) {
		gb_http_req_free(&r);
		return -1;
	}
	gb_http_body_init(&b, &r);
	off = hused;
	if (cut == 0)
		have = len;
	else if (cut == -1)
		have = off + 1;
	else
		have = off + (size_t)cut;
	for (;;) {
		if (have > len)
			have = len;
		rc = gb_http_body_feed(&b, in + off, have - off, &used,
		    &r.body, &st);
		if (used > have - off)
			abort();
		off += used;
		if (rc != 0 || have == len)
			break;
		if (off != have)
			abort();	/* "need more" used it all */
		have = cut == -1 ? have + 1 : len;
	}
	o->rc = rc;
	o->status = rc == -1 ? st : 0;
	o->used = off - hused;
	o->blen = r.body.len;
	if (r.body.len > sizeof(o->body))
		abort();
	if (r.body.len > 0)
		memcpy(o->body, r.body.data, r.body.len);
	/* once done, it stays done; once refused, refused */
	if (rc != 0) {
		st = 0;
		if (gb_http_body_feed(&b, "x", 1, &used, &r.body, &st) != rc ||
		    used != 0 || st != o->status)
			abort();
	}
	gb_http_req_free(&r);
	return 0;
}

static int
bres_eq(const struct bres *a, const struct bres *b)
{
	return a->rc == b->rc && a->status == b->status &&
	    a->used == b->used && a->blen == b->blen &&
	    memcmp(a->body, b->body, a->blen) == 0;
}

static struct bres B0, B1;

/* Read at once, byte by byte, and cut at every point; all agree. */
static int
body_parse(const char *name, const char *in, size_t len, long long max)
{
	size_t cut;

	checks++;
	if (body_run(in, len, max, 0, &B0) == -1) {
		fail(name, "head refused");
		return -1;
	}
	body_run(in, len, max, -1, &B1);
	if (!bres_eq(&B0, &B1)) {
		fail(name, "byte by byte: rc %d status %d used %zu body %zu; "
		    "at once: rc %d status %d used %zu body %zu", B1.rc,
		    B1.status, B1.used, B1.blen, B0.rc, B0.status, B0.used,
		    B0.blen);
		return -1;
	}
	for (cut = 1; cut < len && len < 8192; cut++) {
		body_run(in, len, max, (long)cut, &B1);
		if (!bres_eq(&B0, &B1)) {
			fail(name, "cut at %zu differs", cut);
			return -1;
		}
	}
	checks++;
	return 0;
}

struct bcase {
	const char	*name;
	const char	*body;		/* after the head */
	int		 chunked;	/* else Content-Length: clen */
	long long	 clen;
	int		 rc, status;
	const char	*want;		/* the body read, when rc is 1 */
	size_t		 used;		/* or ALL, or ANY */
};

#define NEXT	"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"

static const struct bcase bcases[] = {
	{ "length", "hello", 0, 5, 1, 0, "hello", ALL },
	{ "length, then a request", "hello" NEXT, 0, 5, 1, 0, "hello", 5 },
	{ "length, short", "hel", 0, 5, 0, 0, NULL, ALL },
	{ "no body", NEXT, 0, 0, 1, 0, "", 0 },
	{ "chunked", "5\r\n{\"mod\r\n11;ext=1\r\nel\":\"m1\",\"x\":[1]}\r\n"
	    "0\r\nTrailer: ignored\r\n\r\n", 1, -1, 1, 0,
	    "{\"model\":\"m1\",\"x\":[1]}", ALL },
	{ "chunked, bare LF", "5\nhello\n0\n\n", 1, -1, 1, 0, "hello", ALL },
	{ "chunked, then a request", "2\r\n{}\r\n0\r\n\r\n" NEXT, 1, -1, 1,
	    0, "{}", 12 },
	{ "chunked, upper-case hex, zeros", "000A\r\n0123456789\r\n0\r\n\r\n",
	    1, -1, 1, 0, "0123456789", ALL },
	{ "chunked, whitespace and extensions",
	    "2 \t;a=b;c=\"d\"\r\n{}\r\n1;\x01\r\nx\r\n0 ; last\r\n\r\n", 1,
	    -1, 1, 0, "{}x", ALL },
	{ "chunked, CR in an extension", "2;a\rb\r\n{}\r\n0\r\n\r\n", 1, -1,
	    1, 0, "{}", ALL },
	{ "chunked, trailers", "1\r\nx\r\n0\r\nA: 1\r\nB: 2\r\n\r\n", 1, -1,
	    1, 0, "x", ALL },
	{ "chunked, incomplete", "5\r\nhel", 1, -1, 0, 0, NULL, ALL },
	{ "chunked, no trailer end", "1\r\nx\r\n0\r\nA: 1\r\n", 1, -1, 0, 0,
	    NULL, ALL },
	{ "chunk of max_body, incomplete", "10000\r\n{}", 1, -1, 0, 0, NULL,
	    ALL },
	/* refused: the bytes used do not matter */
	{ "chunk size -1", "-1\r\n{}\r\n0\r\n\r\n", 1, -1, -1, 400, NULL,
	    ANY },
	{ "chunk size 0x2", "0x2\r\n{}\r\n0\r\n\r\n", 1, -1, -1, 400, NULL,
	    ANY },
	{ "chunk size 2z", "2z\r\n{}\r\n0\r\n\r\n", 1, -1, -1, 400, NULL,
	    ANY },
	{ "chunk size empty", "\r\n{}\r\n0\r\n\r\n", 1, -1, -1, 400, NULL,
	    ANY },
	{ "chunk size after a space", " 2\r\n{}\r\n0\r\n\r\n", 1, -1, -1, 400,
	    NULL, ANY },
	{ "chunk size +2", "+2\r\n{}\r\n0\r\n\r\n", 1, -1, -1, 400, NULL,
	    ANY },
	{ "chunk size, space, junk", "2 x\r\n{}\r\n0\r\n\r\n", 1, -1, -1,
	    400, NULL, ANY },
	{ "chunk size with a CR in it", "2\r3\r\n{}\r\n0\r\n\r\n", 1, -1, -1,
	    400, NULL, ANY },
	{ "chunk longer than its size", "2\r\n{}X\r\n0\r\n\r\n", 1, -1, -1,
	    400, NULL, ANY },
	{ "chunk without its CRLF", "2\r\n{}0\r\n\r\n", 1, -1, -1, 400, NULL,
	    ANY },
	{ "chunk with CR CR LF", "2\r\n{}\r\r\n0\r\n\r\n", 1, -1, -1, 400,
	    NULL, ANY },
	{ "chunk size overflowing", "ffffffffffffffffffffffff\r\n{}\r\n0\r\n"
	    "\r\n", 1, -1, -1, 413, NULL, ANY },
	{ "chunk size 2^64 + 2", "10000000000000002\r\n{}\r\n0\r\n\r\n", 1,
	    -1, -1, 413, NULL, ANY },
	{ "chunk over max_body", "10001\r\n{}\r\n0\r\n\r\n", 1, -1, -1, 413,
	    NULL, ANY },
};

static void
body_case(const char *name, const char *body, size_t blen, int chunked,
    long long clen, long long max, int rc, int status, const char *want,
    size_t wlen, size_t used)
{
	struct gb_buf in;
	char what[160];

	gb_buf_init(&in, 1 << 20);
	gb_buf_puts(&in, POSTH);
	if (chunked)
		gb_buf_puts(&in, "Transfer-Encoding: chunked\r\n\r\n");
	else
		gb_buf_printf(&in, "Content-Length: %lld\r\n\r\n", clen);
	gb_buf_append(&in, body, blen);
	if (body_parse(name, in.data, in.len, max) == 0) {
		snprintf(what, sizeof(what), "rc %d status %d, not rc %d "
		    "status %d", B0.rc, B0.status, rc, status);
		check(B0.rc == rc && B0.status == status, name, what);
		if (rc == 1) {
			check(B0.blen == wlen &&
			    memcmp(B0.body, want, wlen) == 0, name, "body");
			snprintf(what, sizeof(what), "used %zu, not %zu",
			    B0.used, used);
			check(used == ANY || B0.used == used, name, what);
		}
		if (rc == 0)
			check(B0.used == blen, name, "need more uses all");
	}
	gb_buf_free(&in);
}

static void
run_body(void)
{
	const struct bcase *c;
	struct gb_http_req r;
	struct gb_http_body b;
	struct gb_buf big, out;
	size_t i, n, used;
	int st, k;

	for (i = 0; i < sizeof(bcases) / sizeof(bcases[0]); i++) {
		c = &bcases[i];
		n = strlen(c->body);
		body_case(c->name, c->body, n, c->chunked, c->clen, MAXB,
		    c->rc, c->status, c->want,
		    c->want != NULL ? strlen(c->want) : 0,
		    c->used == ALL ? n : c->used);
	}
	/* a NUL is never part of a chunk-size line or a trailer */
	body_case("NUL in an extension", "2;a\0b\r\n{}\r\n0\r\n\r\n", 16, 1,
	    -1, MAXB, -1, 400, NULL, 0, 0);
	body_case("NUL starting a trailer", "0\r\n\0A: 1\r\n\r\n", 13, 1, -1,
	    MAXB, -1, 400, NULL, 0, 0);

	/* chunks adding up past max_body */
	gb_buf_init(&big, 1 << 20);
	gb_buf_puts(&big, "8000\r\n");
	for (k = 0; k < 0x8000; k++)
		gb_buf_putc(&big, 'x');
	gb_buf_puts(&big, "\r\n8001\r\n");
	for (k = 0; k < 0x8001; k++)
		gb_buf_putc(&big, 'x');
	gb_buf_puts(&big, "\r\n0\r\n\r\n");
	body_case("chunks over max_body", big.data, big.len, 1, -1, MAXB, -1,
	    413, NULL, 0, 0);
	big.len -= 15 + 0x8001;
	gb_buf_puts(&big, "\r\n8000\r\n");
	for (k = 0; k < 0x8000; k++)
		gb_buf_putc(&big, 'y');
	gb_buf_puts(&big, "\r\n0\r\n\r\n");
	gb_buf_init(&out, 1 << 17);
	for (k = 0; k < 0x8000; k++)
		gb_buf_putc(&out, 'x');
	for (k = 0; k < 0x8000; k++)
		gb_buf_putc(&out, 'y');
	body_case("chunks of max_body", big.data, big.len, 1, -1, MAXB, 1, 0,
	    out.data, out.len, big.len);
	gb_buf_free(&out);

	/* line caps: 1023 bytes before CR LF, 1023 before a bare LF */
	gb_buf_reset(&big);
	for (k = 0; k < 1022; k++)
		gb_buf_putc(&big, '0');
	gb_buf_puts(&big, "1\r\nx\r\n0\r\n\r\n");
	body_case("chunk-size line of 1023", big.data, big.len, 1, -1, MAXB,
	    1, 0, "x", 1, big.len);
	gb_buf_reset(&big);
	for (k = 0; k < 1023; k++)
		gb_buf_putc(&big, '0');
	gb_buf_puts(&big, "1\r\nx\r\n0\r\n\r\n");
	body_case("chunk-size line of 1024", big.data, big.len, 1, -1, MAXB,
	    -1, 400, NULL, 0, 0);
	gb_buf_reset(&big);
	gb_buf_puts(&big, "1\r\nx\r\n0\r\nA: ");
	for (k = 0; k < 1020; k++)
		gb_buf_putc(&big, 'a');
	gb_buf_puts(&big, "\n\r\n");
	body_case("trailer line of 1023", big.data, big.len, 1, -1, MAXB, 1,
	    0, "x", 1, big.len);
	gb_buf_reset(&big);
	gb_buf_puts(&big, "1\r\nx\r\n0\r\nA: ");
	for (k = 0; k < 1021; k++)
		gb_buf_putc(&big, 'a');
	gb_buf_puts(&big, "\n\r\n");
	body_case("trailer line of 1024", big.data, big.len, 1, -1, MAXB,
	    -1, 400, NULL, 0, 0);
	/* a line that never ends is refused at its 1025th byte */
	gb_buf_reset(&big);
	gb_buf_puts(&big, "1;");
	for (k = 0; k < 1023; k++)
		gb_buf_putc(&big, 'e');
	body_case("endless chunk-size line", big.data, big.len, 1, -1, MAXB,
	    -1, 400, NULL, 0, 0);
	big.len--;
	body_case("chunk-size line of 1024, no LF yet", big.data, big.len, 1,
	    -1, MAXB, 0, 0, NULL, 0, 0);
	/* trailers: 16 KiB of them is the most */
	gb_buf_reset(&big);
	gb_buf_puts(&big, "1\r\nx\r\n0\r\n");
	for (k = 0; k < 17; k++) {
		gb_buf_printf(&big, "T-%02d: ", k);
		for (n = 0; n < (k < 16 ? 1000 : 384) - 6; n++)
			gb_buf_putc(&big, 't');
		gb_buf_puts(&big, "\r\n");
	}
	gb_buf_puts(&big, "\r\n");
	body_case("16 KiB of trailers", big.data, big.len, 1, -1, MAXB, 1, 0,
	    "x", 1, big.len);
	big.len -= 2;
	gb_buf_puts(&big, "X\r\n\r\n");
	body_case("16 KiB + 1 of trailers", big.data, big.len, 1, -1, MAXB,
	    -1, 431, NULL, 0, 0);
	gb_buf_free(&big);

	/* the reader takes its cap from out, not from the head */
	check(gb_http_parse_head(POSTH "Content-Length: 10\r\n\r\n",
	    strlen(POSTH) + 22, MAXB, &r, &used, &st) == 1, "out's cap",
	    "head");
	gb_http_body_init(&b, &r);
	gb_buf_init(&out, 5);
	check(gb_http_body_feed(&b, "0123456789", 10, &used, &out, &st) ==
	    -1 && st == 413 && used == 0, "out's cap", "413 before reading");
	gb_buf_free(&out);
	gb_http_req_free(&r);
	/* a request without a body has one of nothing */
	check(gb_http_parse_head("GET / HTTP/1.1\r\nHost: x\r\n\r\nabc", 31,
	    MAXB, &r, &used, &st) == 1, "no body", "head");
	gb_http_body_init(&b, &r);
	check(gb_http_body_feed(&b, "abc", 3, &used, &r.body, &st) == 1 &&
	    used == 0 && r.body.len == 0, "no body", "done at once");
	gb_http_req_free(&r);
}

/* ---- a connection: pipelined requests ---- */

/*
 * Serve every request in in[0..len) as an event loop would, reading
 * step bytes at a time (0: all at once; -cut: cut, then the rest), and
 * write to log what was asked and answered: the trace two splits must
 * agree on.
 */
static void
serve(const char *in, size_t len, long step, long long max,
    struct gb_buf *log)
{
	struct gb_http_req r;
	struct gb_http_body b;
	struct gb_http_frame fr;
	struct gb_buf buf, out;
	size_t have = 0, used;
	int rc, st, inbody = 0;

	gb_buf_init(&buf, 1 << 20);
	gb_buf_init(&out, 1 << 20);
	memset(&r, 0, sizeof(r));
	gb_buf_reset(log);
	for (;;) {
		/* the bytes that arrived */
		used = step == 0 ? len : step < 0 ? (have == 0 ?
		    (size_t)-step : len) : (size_t)step;
		if (used > len - have)
			used = len - have;
		gb_buf_append(&buf, in + have, used);
		have += used;
		for (;;) {
			if (!inbody) {
				rc = gb_http_parse_head(buf.data, buf.len, max,
				    &r, &used, &st);
				gb_buf_consume(&buf, used);
				if (rc == 0) {
					gb_http_req_free(&r);
					break;
				}
				if (rc == -1) {
					gb_buf_printf(log, "refused %d\n", st);
					gb_http_req_free(&r);
					goto out;
				}
				gb_buf_printf(log, "%s %s\n", r.method,
				    r.target);
				gb_http_body_init(&b, &r);
				inbody = 1;
			}
			rc = gb_http_body_feed(&b, buf.data, buf.len, &used,
			    &r.body, &st);
			gb_buf_consume(&buf, used);
			if (rc == 0)
				break;
			if (rc == -1) {
				gb_buf_printf(log, "body refused %d\n", st);
				gb_http_req_free(&r);
				goto out;
			}
			r.body_read = 1;
			inbody = 0;
			gb_buf_reset(&out);
			gb_http_format_head(&out, &r, 200, "text/plain", NULL,
			    (long long)r.body.len, RFCDATE, &fr);
			gb_http_format_data(&out, &fr, r.body.data,
			    r.body.len);
			gb_buf_append(log, out.data, out.len);
			gb_buf_puts(log, "\n");
			gb_http_req_free(&r);
			if (fr.close) {
				gb_buf_puts(log, "close\n");
				goto out;
			}
		}
		if (have == len) {
			gb_buf_printf(log, "eof, %zu left\n", buf.len);
			if (inbody)
				gb_http_req_free(&r);
			break;
		}
	}
out:
	gb_buf_free(&buf);
	gb_buf_free(&out);
}

static void
pipeline(const char *name, const char *in, const char *want)
{
	struct gb_buf a, o;
	size_t len = strlen(in), cut;

	gb_buf_init(&a, 1 << 20);
	gb_buf_init(&o, 1 << 20);
	serve(in, len, 0, MAXB, &a);
	checks++;
	if (strcmp(a.data, want) != 0)
		fail(name, "got\n%s\nwanted\n%s", a.data, want);
	serve(in, len, 1, MAXB, &o);
	check(strcmp(a.data, o.data) == 0, name, "byte by byte differs");
	for (cut = 1; cut < len; cut++) {
		serve(in, len, -(long)cut, MAXB, &o);
		if (strcmp(a.data, o.data) != 0) {
			fail(name, "cut at %zu differs:\n%s", cut, o.data);
			break;
		}
	}
	checks++;
	gb_buf_free(&a);
	gb_buf_free(&o);
}

#define OK(n, body) "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 " \
	"GMT\r\nContent-Type: text/plain\r\nContent-Length: " #n "\r\n\r\n" \
	body "\n"
#define OKC(n, body) "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 " \
	"GMT\r\nContent-Type: text/plain\r\nContent-Length: " #n "\r\n" \
	"Connection: close\r\n\r\n" body "\n"

static void
run_pipeline(void)
{
	pipeline("four requests",
	    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	    "\r\n"
	    "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3;x\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
	    "HEAD /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	    "GET /never HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /a\n" OK(0, "")
	    "POST /b\n" OK(5, "hello")
	    "POST /c\n" OK(5, "abcde")
	    "HEAD /d\n" OKC(0, "") "close\n");
	pipeline("a refused request ends the connection",
	    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /b HTTP/1.1\r\n\r\n"
	    "GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /a\n" OK(0, "") "refused 400\n");
	pipeline("a bad chunk ends the connection",
	    "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\n{}X\r\n0\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	    "POST /a\nbody refused 400\n");
	pipeline("HTTP/1.0 keep-alive, then close",
	    "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	    "GET /b HTTP/1.0\r\n\r\n",
	    "GET /a\nHTTP/1.0 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT"
	    "\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
	    "Connection: keep-alive\r\n\r\n\n"
	    "GET /b\nHTTP/1.0 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT"
	    "\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n\nclose\n");
	pipeline("empty lines between requests, a half request at the end",
	    "\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\n"
	    "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nhal",
	    "GET /a\n" OK(0, "") "POST /b\neof, 0 left\n");
}

/* ---- answers ---- */

static void
same(const char *name, const struct gb_buf *b, const char *want)
{
	checks++;
	if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
		fail(name, "got\n%s\nwanted\n%s", b->data != NULL ? b->data :
		    "", want);
}

/* A parsed request, its body read. */
static void
req(struct gb_http_req *r, const char *head)
{
	size_t used;
	int st;

	if (gb_http_parse_head(head, strlen(head), MAXB, r, &used, &st) != 1)
		abort();
	r->body_read = 1;
}

static void
run_format(void)
{
	static const char health[] = "{\"status\":\"healthy\"}";
	static const char cors[] = "Access-Control-Allow-Origin: *\r\n"
	    "Access-Control-Expose-Headers: *\r\n";
	struct gb_http_req r;
	struct gb_http_frame fr;
	struct gb_buf b, small;

	gb_buf_init(&b, 1 << 16);

	/* tests/gb-serve-http.bats' /health answer, byte for byte */
	req(&r, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	gb_http_format_head(&b, &r, 200, "application/json", cors,
	    sizeof(health) - 1, RFCDATE, &fr);
	gb_http_format_data(&b, &fr, health, sizeof(health) - 1);
	gb_http_format_end(&b, &fr);
	same("health", &b, "HTTP/1.1 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "Access-Control-Allow-Origin: *\r\n"
	    "Access-Control-Expose-Headers: *\r\n"
	    "Content-Type: application/json\r\nContent-Length: 20\r\n"
	    "Connection: close\r\n\r\n{\"status\":\"healthy\"}");
	check(fr.mode == GB_HTTP_FRAME_LENGTH && !fr.nobody && fr.close,
	    "health", "frame");
	gb_http_req_free(&r);

	/* keep-alive on 1.1: no Connection header */
	gb_buf_reset(&b);
	req(&r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	gb_http_format_head(&b, &r, 404, NULL, NULL, 0, RFCDATE, &fr);
	same("1.1 keep-alive", &b, "HTTP/1.1 404 Not Found\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n"
	    "\r\n");
	check(!fr.close, "1.1 keep-alive", "kept");
	/* the same request with its body unread: the answer closes */
	gb_buf_reset(&b);
	r.body_read = 0;
	gb_http_format_head(&b, &r, 401, NULL, NULL, 0, RFCDATE, &fr);
	same("unread body", &b, "HTTP/1.1 401 Unauthorized\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n");
	check(fr.close, "unread body", "closes");
	r.body_read = 1;

	/* a stream to 1.1 is chunked, one chunk per call */
	gb_buf_reset(&b);
	gb_http_format_head(&b, &r, 200, "text/event-stream", NULL, -1,
	    RFCDATE, &fr);
	gb_http_format_data(&b, &fr, "{\"model\":\"s1\",\"stream\": true}", 29);
	gb_http_format_data(&b, &fr, "", 0);
	gb_http_format_end(&b, &fr);
	same("stream 1.1", &b, "HTTP/1.1 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "1d\r\n{\"model\":\"s1\",\"stream\": true}\r\n0\r\n\r\n");
	check(fr.mode == GB_HTTP_FRAME_CHUNKED && !fr.close, "stream 1.1",
	    "frame");
	gb_http_req_free(&r);

	/* a stream to 1.0 is delimited by the close */
	gb_buf_reset(&b);
	req(&r, "POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	gb_http_format_head(&b, &r, 200, "text/event-stream", NULL, -1,
	    RFCDATE, &fr);
	gb_http_format_data(&b, &fr, "data: 1\n\n", 9);
	gb_http_format_end(&b, &fr);
	same("stream 1.0", &b, "HTTP/1.0 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "Content-Type: text/event-stream\r\nConnection: close\r\n\r\n"
	    "data: 1\n\n");
	check(fr.mode == GB_HTTP_FRAME_CLOSE && fr.close, "stream 1.0",
	    "frame");
	/* a whole answer to the same 1.0 client keeps the connection */
	gb_buf_reset(&b);
	gb_http_format_head(&b, &r, 200, NULL, NULL, 2, RFCDATE, &fr);
	same("1.0 keep-alive", &b, "HTTP/1.0 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n"
	    "Connection: keep-alive\r\n\r\n");
	check(!fr.close, "1.0 keep-alive", "kept");
	gb_http_req_free(&r);

	/* HEAD: the GET answer's head, Content-Length included, no body */
	gb_buf_reset(&b);
	req(&r, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
	gb_http_format_head(&b, &r, 200, "application/json", NULL, 20,
	    RFCDATE, &fr);
	gb_http_format_data(&b, &fr, health, sizeof(health) - 1);
	gb_http_format_end(&b, &fr);
	same("HEAD", &b, "HTTP/1.1 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "Content-Type: application/json\r\nContent-Length: 20\r\n\r\n");
	check(fr.nobody && !fr.close, "HEAD", "no body, kept");
	gb_buf_reset(&b);
	gb_http_format_head(&b, &r, 200, "text/event-stream", NULL, -1,
	    RFCDATE, &fr);
	gb_http_format_data(&b, &fr, "x", 1);
	gb_http_format_end(&b, &fr);
	same("HEAD of a stream", &b, "HTTP/1.1 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	check(fr.nobody, "HEAD of a stream", "no body, not even 0 CRLF");
	gb_http_req_free(&r);
	gb_buf_reset(&b);
	req(&r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	gb_http_format_head(&b, &r, 204, NULL, NULL, 0, RFCDATE, &fr);
	check(fr.nobody, "204", "no body");

	/* a refused request's answer closes, in the client's version */
	{
		size_t used;
		int st;

		gb_http_req_free(&r);
		gb_buf_reset(&b);
		gb_http_parse_head("POST / HTTP/1.0\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n", 47, MAXB, &r, &used, &st);
		gb_http_format_head(&b, &r, st, NULL, NULL, 0, RFCDATE, &fr);
		same("refused", &b, "HTTP/1.0 400 Bad Request\r\n"
		    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n");
		gb_http_req_free(&r);
		/* 431 before the request line was even read */
		gb_buf_reset(&b);
		memset(&r, 0, sizeof(r));
		r.minor = 1;
		gb_http_format_head(&b, &r, 431, NULL, NULL, 0, RFCDATE, &fr);
		check(fr.close, "431", "closes");
	}

	/* the helpers */
	gb_buf_reset(&b);
	gb_http_format_continue(&b);
	same("100 Continue", &b, "HTTP/1.1 100 Continue\r\n\r\n");
	gb_buf_reset(&b);
	gb_http_format_chunk(&b, "0123456789abcdef0", 17);
	gb_http_format_chunk(&b, "", 0);
	gb_http_format_last_chunk(&b);
	same("chunks", &b, "11\r\n0123456789abcdef0\r\n0\r\n\r\n");

	/* a full buffer: -1, and the buffer as it was */
	req(&r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	gb_buf_init(&small, 40);
	gb_buf_puts(&small, "before");
	check(gb_http_format_head(&small, &r, 200, "text/plain", NULL, 0,
	    RFCDATE, &fr) == -1, "cap", "refused");
	same("cap", &small, "before");
	check(gb_http_format_chunk(&small, "0123456789012345678901234567890",
	    31) == -1, "cap", "chunk refused");
	same("cap chunk", &small, "before");
	gb_buf_free(&small);
	gb_http_req_free(&r);
	gb_buf_free(&b);
}

int
main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: httpcheck head|body|pipeline|format\n");
		return 2;
	}
	if (strcmp(argv[1], "head") == 0)
		run_head();
	else if (strcmp(argv[1], "body") == 0)
		run_body();
	else if (strcmp(argv[1], "pipeline") == 0)
		run_pipeline();
	else if (strcmp(argv[1], "format") == 0)
		run_format();
	else {
		fprintf(stderr, "usage: httpcheck head|body|pipeline|format\n");
		return 2;
	}
	if (failed > 0) {
		fprintf(stderr, "httpcheck: %d of %d checks failed\n", failed,
		    checks);
		return 1;
	}
	printf("%d checks ok\n", checks);
	return 0;
}
