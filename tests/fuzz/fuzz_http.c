/*
 * fuzz_http.c - the HTTP/1.1 request reader on arbitrary bytes. Byte 0
 * picks the body cap (its low 4 bits: 2^n bytes, n >= 4); the rest is
 * what a client sends on one connection.
 *
 * First, lib/httpmsg.c as an event loop drives it: the bytes arrive all
 * at once, then one at a time (or, past 2 KiB, in pieces of 1 to 16
 * bytes), then in pieces of random sizes up to 4 KiB (the sizes drawn
 * from a hash of the input). Each run writes a trace: every head
 * accepted and its fields, the bytes it took, every body, the answer
 * formatted for it, every refusal, the state at the end of the input.
 * The traces must be identical: how the bytes were split into reads
 * must never change what the parser makes of them. Checked on the way:
 * a parser asking for more bytes used all of a body's input and holds
 * less than GB_HTTP_HEAD_MAX bytes of a head, a refusal carries one of
 * the documented statuses, a body never exceeds its cap and a
 * Content-Length body is exactly that long.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpmsg.h"

#define TRACE_CAP	(4 << 20)
#define BYTEWISE_MAX	2048	/* byte by byte up to this input size */
#define FIXED_DATE	784111777

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
known_refusal(int st)
{
	switch (st) {
	case 0: case 400: case 408: case 413: case 417: case 431:
	case 500: case 501: case 505:
		return 1;
	}
	return 0;
}

/* xorshift64: the piece sizes of a random split */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* How many bytes arrive next: mode 0 all, 1 one or small, 2 random. */
static size_t
piece(int mode, size_t total, uint64_t *rs)
{
	if (mode == 0)
		return total;
	if (mode == 1)
		return total <= BYTEWISE_MAX ? 1 : 1 + next_rand(rs) % 16;
	return 1 + next_rand(rs) % 4096;
}

/* One head, accepted, ending at offset end of the input: the trace. */
static void
trace_head(struct gb_buf *t, const struct gb_http_req *r, size_t end)
{
	size_t i;

	if (r->method == NULL || r->target == NULL || *r->method == '\0' ||
	    *r->target == '\0' || r->nhdr > GB_HTTP_HDR_MAX ||
	    (r->chunked && r->clen != -1) || r->head == NULL)
		abort();
	gb_buf_printf(t, "head to %zu: %s %s 1.%d clen %lld chunked %d "
	    "keep %d expect %d read %d\n", end, r->method, r->target,
	    r->minor, r->clen, r->chunked, r->keepalive, r->expect,
	    r->body_read);
	for (i = 0; i < r->nhdr; i++)
		gb_buf_printf(t, "  %s: %s\n", r->hdr[i].name,
		    r->hdr[i].value);
	(void)gb_http_header(r, "Host");
}

/*
 * Serve the connection in in[0..len) as an event loop, the bytes
 * arriving as mode says; the trace goes to t.
 */
static void
serve(const uint8_t *in, size_t len, long long cap, int mode, uint64_t seed,
    struct gb_buf *t)
{
	struct gb_http_req r;
	struct gb_http_body b;
	struct gb_http_frame fr;
	struct gb_buf buf, out;
	size_t have = 0, n, used, pos = 0;
	uint64_t rs = seed;
	int rc, st, inbody = 0, nreq = 0;

	gb_buf_init(&buf, len + 1);
	gb_buf_init(&out, 1 << 20);
	memset(&r, 0, sizeof(r));
	gb_buf_reset(t);
	while (have < len) {
		n = piece(mode, len - have, &rs);
		if (n > len - have)
			n = len - have;
		if (gb_buf_append(&buf, in + have, n) == -1)
			abort();
		have += n;
		for (;;) {
			if (!inbody) {
				rc = gb_http_parse_head(buf.data, buf.len, cap,
				    &r, &used, &st);
				if (used > buf.len)
					abort();
				if (rc == 0) {
					if (buf.len - used >= GB_HTTP_HEAD_MAX)
						abort();
					gb_buf_consume(&buf, used);
					pos += used;
					gb_http_req_free(&r);
					break;
				}
				if (rc == -1) {
					if (!known_refusal(st) || st == 0 ||
					    st == 408)
						abort();
					gb_buf_printf(t, "refused %d 1.%d\n",
					    st, r.minor);
					goto out;
				}
				pos += used;
				trace_head(t, &r, pos);
				gb_buf_consume(&buf, used);
				gb_http_body_init(&b, &r);
				inbody = 1;
			}
			rc = gb_http_body_feed(&b, buf.data, buf.len, &used,
			    &r.body, &st);
			if (used > buf.len || r.body.len > (size_t)cap)
				abort();
			if (rc == 0) {
				if (used != buf.len)
					abort();
				gb_buf_consume(&buf, used);
				pos += used;
				break;
			}
			gb_buf_consume(&buf, used);
			pos += used;
			if (rc == -1) {
				if (!known_refusal(st) || st == 0 ||
				    st == 408)
					abort();
				gb_buf_printf(t, "body refused %d\n", st);
				goto out;
			}
			if (!r.chunked && r.clen >= 0 &&
			    (long long)r.body.len != r.clen)
				abort();
			r.body_read = 1;
			inbody = 0;
			gb_buf_printf(t, "body to %zu, %zu bytes: ", pos,
			    r.body.len);
			gb_buf_append(t, r.body.data, r.body.len);
			/* every other answer streamed */
			gb_buf_reset(&out);
			if (gb_http_format_head(&out, &r, 200, "text/plain",
			    "X-A: b\r\n", (nreq & 1) ? -1 :
			    (long long)r.body.len, FIXED_DATE, &fr) == -1 ||
			    gb_http_format_data(&out, &fr, r.body.data,
			    r.body.len) == -1 ||
			    gb_http_format_end(&out, &fr) == -1)
				abort();
			if (fr.nobody && strcmp(r.method, "HEAD") != 0)
				abort();
			gb_buf_puts(t, "\nanswer: ");
			gb_buf_append(t, out.data, out.len);
			gb_http_req_free(&r);
			nreq++;
			if (fr.close) {
				gb_buf_puts(t, "\nclose\n");
				goto out;
			}
		}
	}
	gb_buf_printf(t, "end of input, %s, %zu left\n", inbody ? "in a body" :
	    "between requests", buf.len);
out:
	gb_http_req_free(&r);
	gb_buf_free(&buf);
	gb_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gb_buf t0, t1;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	long long cap;
	size_t i;
	int mode;

	if (size < 1)
		return 0;
	cap = 1LL << (4 + (data[0] & 0x0f));
	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3ULL;
	if (seed == 0)
		seed = 1;
	gb_buf_init(&t0, TRACE_CAP);
	gb_buf_init(&t1, TRACE_CAP);

	serve(data + 1, size - 1, cap, 0, seed, &t0);
	for (mode = 1; mode <= 2; mode++) {
		serve(data + 1, size - 1, cap, mode, seed, &t1);
		if (t0.len != t1.len || memcmp(t0.data, t1.data, t0.len) != 0)
			abort();	/* the split changed the outcome */
	}
	gb_buf_free(&t0);
	gb_buf_free(&t1);
	return 0;
}
