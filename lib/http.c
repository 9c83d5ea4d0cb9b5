/*
 * http.c - HTTP/1.1 server side over a descriptor pair, blocking, with
 * timeouts: httpmsg.c's parser fed from read(2), its answers written
 * with write(2). What is accepted and refused, and how, is httpmsg.c's.
 *
 * Timeouts: idle_ms bounds the wait for the first byte of a request and
 * every later read (a body trickling in); head_ms bounds the time from
 * the first byte to the end of the head, so a client sending one header
 * byte a second (slowloris) is dropped.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "io.h"

#define IN_CAP		(GB_HTTP_HEAD_MAX + 65536)
#define READ_SIZE	16384

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
gb_http_conn_init(struct gb_http_conn *c, int rfd, int wfd)
{
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	c->stopfd = -1;
	c->idle_ms = 60000;
	c->head_ms = 30000;
	c->max_body = 32 * 1024 * 1024;
	gb_buf_init(&c->in, IN_CAP);
}

void
gb_http_conn_free(struct gb_http_conn *c)
{
	gb_buf_free(&c->in);
}

int
gb_http_stopped(const struct gb_http_conn *c)
{
	struct pollfd pfd;

	if (c->stop != NULL && *c->stop)
		return 1;
	if (c->stopfd < 0)
		return 0;
	pfd.fd = c->stopfd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) == 1;
}

/*
 * Read more input into c->in, waiting at most until deadline (absolute,
 * ms). Returns bytes read, 0 at EOF, -1 on error, -2 on timeout, -3
 * when interruptible and a signal or stopfd asked the connection to
 * stop.
 */
static ssize_t
fill_i(struct gb_http_conn *c, long long deadline, int interruptible)
{
	struct pollfd pfd[2];
	long long left;
	ssize_t r;
	int n;

	if (gb_buf_reserve(&c->in, READ_SIZE) == -1)
		return -1;
	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -2;
		pfd[0].fd = c->rfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = c->stopfd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		n = poll(pfd, interruptible && c->stopfd >= 0 ? 2 : 1,
		    left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (n == -1) {
			if (errno != EINTR)
				return -1;
			if (interruptible && c->stop != NULL && *c->stop)
				return -3;
			continue;
		}
		if (n == 0)
			return -2;
		if (pfd[1].revents != 0)
			return -3;
		r = gb_io_read(c->rfd, c->in.data + c->in.len, READ_SIZE);
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (r > 0) {
			c->in.len += (size_t)r;
			c->in.data[c->in.len] = '\0';
		}
		return r;
	}
}

static ssize_t
fill(struct gb_http_conn *c, long long deadline)
{
	return fill_i(c, deadline, 0);
}

int
gb_http_read_head(struct gb_http_conn *c, struct gb_http_req *r, int *status)
{
	long long deadline, first = -1;
	size_t used;
	ssize_t n;
	int rc;

	deadline = now_ms() + c->idle_ms;
	for (;;) {
		/* max_body is gb_http_read_body()'s business (http.h) */
		rc = gb_http_parse_head(c->in.data != NULL ? c->in.data : "",
		    c->in.len, LLONG_MAX, r, &used, status);
		gb_buf_consume(&c->in, used);
		if (rc != 0)
			break;
		if (c->in.len > 0 && first == -1) {
			first = now_ms();
			deadline = first + c->head_ms;
		}
		if (c->in.len == 0 && gb_http_stopped(c)) {
			c->broken = 1;
			return 0;
		}
		n = fill_i(c, deadline, c->in.len == 0);
		if (n == -3 || n == 0 || n == -1 ||
		    (n == -2 && c->in.len == 0)) {
			c->broken = 1;
			if (c->in.len == 0)
				return 0;
			return -1;
		}
		if (n == -2) {
			*status = 408;
			c->broken = 1;
			return -1;
		}
	}
	if (r->head != NULL)
		c->nreq++;
	gb_buf_init(&r->body, (size_t)c->max_body);
	if (rc == -1) {
		c->broken = 1;
		return -1;
	}
	return 1;
}

int
gb_http_read_body(struct gb_http_conn *c, struct gb_http_req *r, int *status)
{
	struct gb_http_body b;
	struct gb_buf cont;
	size_t used;
	ssize_t n;
	int rc;

	*status = 0;
	if (r->body_read)
		return 0;
	if (!r->chunked && r->clen > c->max_body) {
		*status = 413;
		c->broken = 1;
		return -1;
	}
	/* only when the client is waiting for it, not already sending */
	if (r->expect && c->in.len == 0) {
		gb_buf_init(&cont, 64);
		rc = gb_http_format_continue(&cont) == -1 ? -1 :
		    gb_io_writeall(c->wfd, cont.data, cont.len);
		gb_buf_free(&cont);
		if (rc == -1) {
			c->broken = 1;
			return -1;
		}
	}
	gb_http_body_init(&b, r);
	for (;;) {
		rc = gb_http_body_feed(&b, c->in.data, c->in.len, &used,
		    &r->body, status);
		gb_buf_consume(&c->in, used);
		if (rc == 1)
			break;
		if (rc == -1) {
			c->broken = 1;
			return -1;
		}
		if ((n = fill(c, now_ms() + c->idle_ms)) <= 0) {
			if (n == -2)
				*status = 408;
			c->broken = 1;
			return -1;
		}
	}
	r->body_read = 1;
	return 0;
}

int
gb_http_reusable(const struct gb_http_conn *c, const struct gb_http_req *r)
{
	return !c->broken && r->keepalive && r->body_read &&
	    r->streaming != GB_HTTP_FRAME_CLOSE;
}

/*
 * The head of an answer into b, through gb_http_format_head(), with the
 * connection's state folded in: an unread body or a broken connection
 * means this answer is the last.
 */
static int
put_head(struct gb_http_conn *c, struct gb_http_req *r, struct gb_buf *b,
    int status, const char *ctype, const char *hdrs, long long len)
{
	struct gb_http_req q;
	struct gb_http_frame fr;

	r->status = status;
	if (!r->body_read)
		c->broken = 1;	/* the unread body is in the way */
	q = *r;
	if (c->broken || r->streaming == GB_HTTP_FRAME_CLOSE)
		q.keepalive = 0;
	if (gb_http_format_head(b, &q, status, ctype, hdrs, len, time(NULL),
	    &fr) == -1)
		return -1;
	if (len == -1)
		r->streaming = fr.mode;
	return 0;
}

int
gb_http_respond(struct gb_http_conn *c, struct gb_http_req *r, int status,
    const char *ctype, const char *hdrs, const void *body, size_t len)
{
	struct gb_buf b;
	int rc = -1;

	gb_buf_init(&b, GB_HTTP_HEAD_MAX + 65536);
	if (put_head(c, r, &b, status, ctype, hdrs, (long long)len) == -1)
		goto out;
	if (len <= 65536) {
		if (len > 0 && gb_buf_append(&b, body, len) == -1)
			goto out;
		if (gb_io_writeall(c->wfd, b.data, b.len) == -1)
			goto out;
	} else if (gb_io_writeall(c->wfd, b.data, b.len) == -1 ||
	    gb_io_writeall(c->wfd, body, len) == -1)
		goto out;
	r->sent += (long long)len;
	rc = 0;
out:
	if (rc == -1)
		c->broken = 1;
	gb_buf_free(&b);
	return rc;
}

int
gb_http_stream_begin(struct gb_http_conn *c, struct gb_http_req *r,
    int status, const char *ctype, const char *hdrs)
{
	struct gb_buf b;
	int rc = -1;

	gb_buf_init(&b, GB_HTTP_HEAD_MAX);
	r->streaming = GB_HTTP_FRAME_CHUNKED;
	if (put_head(c, r, &b, status, ctype, hdrs, -1) == 0 &&
	    gb_io_writeall(c->wfd, b.data, b.len) == 0)
		rc = 0;
	if (rc == -1)
		c->broken = 1;
	gb_buf_free(&b);
	return rc;
}

int
gb_http_stream_write(struct gb_http_conn *c, struct gb_http_req *r,
    const void *p, size_t len)
{
	struct gb_buf b;
	int rc = -1;

	if (len == 0)
		return 0;
	if (r->streaming == GB_HTTP_FRAME_CLOSE) {
		rc = gb_io_writeall(c->wfd, p, len);
	} else {
		gb_buf_init(&b, len + 32);
		if (gb_http_format_chunk(&b, p, len) == 0)
			rc = gb_io_writeall(c->wfd, b.data, b.len);
		gb_buf_free(&b);
	}
	if (rc == -1)
		c->broken = 1;
	else
		r->sent += (long long)len;
	return rc;
}

int
gb_http_stream_end(struct gb_http_conn *c, struct gb_http_req *r)
{
	static const char last[] = "0\r\n\r\n";

	if (r->streaming == GB_HTTP_FRAME_CLOSE)
		return 0;
	if (gb_io_writeall(c->wfd, last, sizeof(last) - 1) == -1) {
		c->broken = 1;
		return -1;
	}
	return 0;
}
