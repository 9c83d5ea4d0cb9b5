/*
 * fuzz_http.c - the HTTP/1.1 request reader (lib/http.c) on arbitrary
 * bytes. Byte 0 picks the body cap (its low 4 bits: 2^n bytes, n >= 4);
 * the rest is what a client sends on one connection. The bytes are put
 * in a memory file that stands in for the socket, so every read is
 * immediate and a timeout never fires; answers go to /dev/null.
 *
 * Checked, for every request read off the connection: a head that is
 * accepted has a method, a target and at most GB_HTTP_HDR_MAX fields,
 * a refusal carries one of the documented statuses, the body never
 * exceeds its cap, and the connection is reused only when the reader
 * says it can be.
 */
#include <sys/mman.h>

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int null_fd = -1;
	struct gb_http_conn c;
	struct gb_http_req r;
	int fd, st, rc, i;

	if (size < 1)
		return 0;
	if (null_fd == -1 && (null_fd = open("/dev/null", O_WRONLY)) == -1)
		abort();
	if ((fd = memfd_create("fuzz_http", MFD_CLOEXEC)) == -1)
		abort();
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	if (lseek(fd, 0, SEEK_SET) == -1)
		abort();
	gb_http_conn_init(&c, fd, null_fd);
	c.idle_ms = 1000;
	c.head_ms = 1000;
	c.max_body = 1LL << (4 + (data[0] & 0x0f));
	for (i = 0; i < 64; i++) {
		rc = gb_http_read_head(&c, &r, &st);
		if (rc == 0) {
			gb_http_req_free(&r);
			break;
		}
		if (rc == -1) {
			if (!known_refusal(st))
				abort();
			if (st != 0)
				gb_http_respond(&c, &r, st, "application/json",
				    NULL, "{}", 2);
			gb_http_req_free(&r);
			break;
		}
		if (r.method == NULL || r.target == NULL ||
		    r.nhdr > GB_HTTP_HDR_MAX || *r.method == '\0' ||
		    *r.target == '\0')
			abort();
		(void)gb_http_header(&r, "Host");
		if (gb_http_read_body(&c, &r, &st) == -1) {
			if (!known_refusal(st))
				abort();
			if (st != 0)
				gb_http_respond(&c, &r, st,
				    "application/json", NULL, "{}", 2);
			gb_http_req_free(&r);
			break;
		}
		if ((long long)r.body.len > c.max_body)
			abort();
		if (!r.chunked && r.clen >= 0 &&
		    (long long)r.body.len != r.clen)
			abort();
		if ((i & 1) == 0) {
			gb_http_respond(&c, &r, 200, "text/plain", "X-A: b\r\n",
			    r.body.data, r.body.len);
		} else {
			gb_http_stream_begin(&c, &r, 200, "text/plain", NULL);
			gb_http_stream_write(&c, &r, "x", 1);
			gb_http_stream_end(&c, &r);
		}
		rc = gb_http_reusable(&c, &r);
		gb_http_req_free(&r);
		if (!rc)
			break;
	}
	gb_http_conn_free(&c);
	close(fd);
	return 0;
}
