/*
 * http.c - HTTP/1.1 server side: request parsing with limits and
 * timeouts, response writing.
 *
 * Parsing follows RFC 9112 strictly where ambiguity could let two
 * parties disagree on where a request ends (request smuggling): a
 * request with both Content-Length and Transfer-Encoding, two different
 * Content-Lengths, a transfer coding other than chunked, obsolete line
 * folding or whitespace before a colon is refused with 400. Bare LF is
 * accepted as a line end (section 2.2 allows it), as are empty lines
 * before the request line. Every buffer is capped: the head at
 * GB_HTTP_HEAD_MAX (431), the body at max_body (413).
 *
 * Timeouts: idle_ms bounds the wait for the first byte of a request and
 * every later read (a body trickling in); head_ms bounds the time from
 * the first byte to the end of the head, so a client sending one header
 * byte a second (slowloris) is dropped.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "io.h"

#define IN_CAP		(GB_HTTP_HEAD_MAX + 65536)
#define READ_SIZE	16384
#define LINE_MAX_CHUNK	1024	/* chunk-size line or trailer line */

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

void
gb_http_req_free(struct gb_http_req *r)
{
	free(r->head);
	gb_buf_free(&r->body);
	memset(r, 0, sizeof(*r));
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

static int
is_tchar(int ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Whether a comma-separated header value lists token (any case). */
static int
has_token(const char *v, const char *token)
{
	size_t tl = strlen(token), n;
	const char *p = v;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ", \t");
		if (n == tl && strncasecmp(p, token, tl) == 0)
			return 1;
		p += n;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/*
 * Find the end of the head in the buffer: the offset just past the empty
 * line, or 0 if it is not there yet.
 */
static size_t
head_end(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] != '\n')
			continue;
		if (i + 1 < len && s[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Split the next line off *p (LF or CRLF ended); NULL at the end. */
static char *
next_line(char **p)
{
	char *s = *p, *nl;
	size_t n;

	if (*s == '\0')
		return NULL;
	if ((nl = strchr(s, '\n')) != NULL) {
		*nl = '\0';
		*p = nl + 1;
	} else
		*p = s + strlen(s);
	n = strlen(s);
	if (n > 0 && s[n - 1] == '\r')
		s[n - 1] = '\0';
	return s;
}

static int
parse_request_line(struct gb_http_req *r, char *line)
{
	char *sp1, *sp2, *v;
	size_t i;

	if ((sp1 = strchr(line, ' ')) == NULL)
		return 400;
	*sp1 = '\0';
	if ((sp2 = strchr(sp1 + 1, ' ')) == NULL)
		return 400;
	*sp2 = '\0';
	r->method = line;
	r->target = sp1 + 1;
	v = sp2 + 1;
	if (*r->method == '\0' || strlen(r->method) > 20)
		return 400;
	for (i = 0; r->method[i] != '\0'; i++)
		if (!is_tchar((unsigned char)r->method[i]))
			return 400;
	if (*r->target == '\0')
		return 400;
	for (i = 0; r->target[i] != '\0'; i++)
		if ((unsigned char)r->target[i] <= ' ' ||
		    r->target[i] == 0x7f)
			return 400;
	if (strncmp(v, "HTTP/", 5) != 0 || !(v[5] >= '0' && v[5] <= '9') ||
	    v[6] != '.' || !(v[7] >= '0' && v[7] <= '9') || v[8] != '\0')
		return 400;
	if (v[5] != '1')
		return 505;
	r->minor = v[7] - '0';
	return 0;
}

/* Parse the head in r->head; returns 0 or the status to answer. */
static int
parse_head(struct gb_http_req *r)
{
	const char *te = NULL, *conn, *ex, *host = NULL, *cv;
	char *p = r->head, *line, *colon, *v, *e;
	long long cl;
	size_t i, nte = 0, nhost = 0;
	int st;

	for (i = 0; r->head[i] != '\0'; i++)
		if (r->head[i] == '\r' && r->head[i + 1] != '\n')
			return 400;
	if ((line = next_line(&p)) == NULL)
		return 400;
	if ((st = parse_request_line(r, line)) != 0)
		return st;
	while ((line = next_line(&p)) != NULL && *line != '\0') {
		if (*line == ' ' || *line == '\t')
			return 400;	/* obsolete line folding */
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			return 400;
		*colon = '\0';
		for (v = line; *v != '\0'; v++)
			if (!is_tchar((unsigned char)*v))
				return 400;
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (r->nhdr == GB_HTTP_HDR_MAX)
			return 431;
		r->hdr[r->nhdr].name = line;
		r->hdr[r->nhdr].value = v;
		r->nhdr++;
	}

	r->clen = -1;
	for (i = 0; i < r->nhdr; i++) {
		if (strcasecmp(r->hdr[i].name, "Content-Length") == 0) {
			cv = r->hdr[i].value;
			if (*cv == '\0' || strlen(cv) > 18 ||
			    strspn(cv, "0123456789") != strlen(cv))
				return 400;
			cl = strtoll(cv, NULL, 10);
			if (r->clen != -1 && r->clen != cl)
				return 400;
			r->clen = cl;
		} else if (strcasecmp(r->hdr[i].name,
		    "Transfer-Encoding") == 0) {
			te = r->hdr[i].value;
			nte++;
		} else if (strcasecmp(r->hdr[i].name, "Host") == 0) {
			host = r->hdr[i].value;
			nhost++;
		}
	}
	if (nte > 0) {
		if (nte > 1 || r->clen != -1 || r->minor == 0)
			return 400;
		if (strcasecmp(te, "chunked") != 0)
			return has_token(te, "chunked") ? 400 : 501;
		r->chunked = 1;
	}
	if (r->minor == 1 && (nhost != 1 || host == NULL))
		return 400;
	conn = gb_http_header(r, "Connection");
	if (r->minor == 1)
		r->keepalive = conn == NULL || !has_token(conn, "close");
	else
		r->keepalive = conn != NULL && has_token(conn, "keep-alive");
	if ((ex = gb_http_header(r, "Expect")) != NULL) {
		if (strcasecmp(ex, "100-continue") != 0)
			return 417;
		r->expect = r->minor == 1;
	}
	return 0;
}

int
gb_http_read_head(struct gb_http_conn *c, struct gb_http_req *r, int *status)
{
	long long deadline, first = -1;
	size_t end, skip;
	ssize_t n;
	int st;

	memset(r, 0, sizeof(*r));
	r->clen = -1;
	r->minor = 1;
	*status = 0;
	deadline = now_ms() + c->idle_ms;
	for (;;) {
		/* empty lines before a request are ignored (RFC 9112 2.2) */
		for (skip = 0; skip < c->in.len && (c->in.data[skip] == '\r' ||
		    c->in.data[skip] == '\n'); skip++)
			;
		if (skip > 0)
			gb_buf_consume(&c->in, skip);
		if (c->in.len > 0 && first == -1) {
			first = now_ms();
			deadline = first + c->head_ms;
		}
		if ((end = head_end(c->in.data, c->in.len)) > 0)
			break;
		if (c->in.len >= GB_HTTP_HEAD_MAX) {
			*status = 431;
			c->broken = 1;
			return -1;
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
	if (end > GB_HTTP_HEAD_MAX) {
		*status = 431;
		c->broken = 1;
		return -1;
	}
	c->nreq++;
	if ((r->head = malloc(end + 1)) == NULL) {
		*status = 500;
		c->broken = 1;
		return -1;
	}
	memcpy(r->head, c->in.data, end);
	r->head[end] = '\0';
	gb_buf_consume(&c->in, end);
	if (memchr(r->head, '\0', end) != NULL)
		st = 400;
	else
		st = parse_head(r);
	gb_buf_init(&r->body, (size_t)c->max_body);
	if (st != 0) {
		*status = st;
		c->broken = 1;
		return -1;
	}
	if (!r->chunked && r->clen <= 0)
		r->body_read = 1;
	return 1;
}

/* Take one line (without its LF or CRLF) off the input into line. */
static int
get_line(struct gb_http_conn *c, char *line, size_t max, int *status)
{
	char *nl;
	size_t n;
	ssize_t r;

	for (;;) {
		if (c->in.len > 0 &&
		    (nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
			n = (size_t)(nl - c->in.data);
			if (n > 0 && nl[-1] == '\r')
				n--;
			if (n >= max) {
				*status = 400;
				return -1;
			}
			memcpy(line, c->in.data, n);
			line[n] = '\0';
			gb_buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
			return 0;
		}
		if (c->in.len >= max + 1) {
			*status = 400;
			return -1;
		}
		r = fill(c, now_ms() + c->idle_ms);
		if (r == -2)
			*status = 408;
		if (r <= 0)
			return -1;
	}
}

/* Move n body bytes from the connection into the request body. */
static int
take(struct gb_http_conn *c, struct gb_http_req *r, size_t n, int *status)
{
	size_t k;
	ssize_t got;
	struct pollfd pfd;
	int pn;

	if (gb_buf_reserve(&r->body, n) == -1) {
		*status = errno == E2BIG ? 413 : 500;
		return -1;
	}
	k = c->in.len < n ? c->in.len : n;
	if (k > 0) {
		gb_buf_append(&r->body, c->in.data, k);
		gb_buf_consume(&c->in, k);
		n -= k;
	}
	while (n > 0) {
		pfd.fd = c->rfd;
		pfd.events = POLLIN;
		pn = poll(&pfd, 1, c->idle_ms);
		if (pn == -1 && errno == EINTR)
			continue;
		if (pn == 0) {
			*status = 408;
			return -1;
		}
		if (pn == -1)
			return -1;
		got = gb_io_read(c->rfd, r->body.data + r->body.len, n);
		if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (got <= 0)
			return -1;
		r->body.len += (size_t)got;
		r->body.data[r->body.len] = '\0';
		n -= (size_t)got;
	}
	return 0;
}

static int
read_chunked(struct gb_http_conn *c, struct gb_http_req *r, int *status)
{
	char line[LINE_MAX_CHUNK];
	unsigned long long size;
	size_t trailers = 0;
	const char *p;
	int d;

	for (;;) {
		if (get_line(c, line, sizeof(line), status) == -1)
			return -1;
		size = 0;
		for (p = line; *p != '\0'; p++) {
			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (*p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (*p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				break;
			size = size * 16 + (unsigned)d;
			if (size > (unsigned long long)c->max_body) {
				*status = 413;
				return -1;
			}
		}
		if (p == line)
			goto bad;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0' && *p != ';')
			goto bad;
		if (size == 0)
			break;
		if (r->body.len + size > (unsigned long long)c->max_body) {
			*status = 413;
			return -1;
		}
		if (take(c, r, (size_t)size, status) == -1)
			return -1;
		if (get_line(c, line, sizeof(line), status) == -1)
			return -1;
		if (*line != '\0')
			goto bad;
	}
	/* trailer fields, ignored, up to the empty line */
	for (;;) {
		if (get_line(c, line, sizeof(line), status) == -1)
			return -1;
		if (*line == '\0')
			return 0;
		if ((trailers += strlen(line)) > GB_HTTP_HEAD_MAX) {
			*status = 431;
			return -1;
		}
	}
bad:
	*status = 400;
	return -1;
}

int
gb_http_read_body(struct gb_http_conn *c, struct gb_http_req *r, int *status)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	int rc;

	*status = 0;
	if (r->body_read)
		return 0;
	if (!r->chunked && r->clen > c->max_body) {
		*status = 413;
		c->broken = 1;
		return -1;
	}
	if (r->expect && c->in.len == 0 &&
	    gb_io_writeall(c->wfd, cont, sizeof(cont) - 1) == -1) {
		c->broken = 1;
		return -1;
	}
	if (r->chunked)
		rc = read_chunked(c, r, status);
	else
		rc = take(c, r, (size_t)r->clen, status);
	if (rc == -1) {
		c->broken = 1;
		return -1;
	}
	r->body_read = 1;
	return 0;
}

const char *
gb_http_header(const struct gb_http_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhdr; i++)
		if (strcasecmp(r->hdr[i].name, name) == 0)
			return r->hdr[i].value;
	return NULL;
}

const char *
gb_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : status < 500 ? "Error" :
	    "Server Error";
	}
}

int
gb_http_reusable(const struct gb_http_conn *c, const struct gb_http_req *r)
{
	return !c->broken && r->keepalive && r->body_read &&
	    r->streaming != 2;
}

/* Status line, the caller's headers, framing headers, empty line. */
static int
put_head(struct gb_http_conn *c, struct gb_http_req *r, struct gb_buf *b,
    int status, const char *ctype, const char *hdrs, long long len)
{
	int minor = r->minor == 0 ? 0 : 1;
	char date[64];
	struct tm tm;
	time_t now;

	r->status = status;
	if (!r->body_read)
		c->broken = 1;	/* the unread body is in the way */
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (gb_buf_printf(b, "HTTP/1.%d %d %s\r\nDate: %s\r\n", minor,
	    status, gb_http_reason(status), date) == -1)
		return -1;
	if (hdrs != NULL && gb_buf_puts(b, hdrs) == -1)
		return -1;
	if (ctype != NULL && gb_buf_printf(b, "Content-Type: %s\r\n",
	    ctype) == -1)
		return -1;
	if (len >= 0 && gb_buf_printf(b, "Content-Length: %lld\r\n",
	    len) == -1)
		return -1;
	if (len == -1 && minor == 1 &&
	    gb_buf_puts(b, "Transfer-Encoding: chunked\r\n") == -1)
		return -1;
	if (len == -1 && minor == 0)
		r->streaming = 2;
	if (!gb_http_reusable(c, r)) {
		if (gb_buf_puts(b, "Connection: close\r\n") == -1)
			return -1;
	} else if (minor == 0 &&
	    gb_buf_puts(b, "Connection: keep-alive\r\n") == -1)
		return -1;
	return gb_buf_puts(b, "\r\n");
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
	r->streaming = 1;
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
	if (r->streaming == 2) {
		rc = gb_io_writeall(c->wfd, p, len);
	} else {
		gb_buf_init(&b, len + 32);
		if (gb_buf_printf(&b, "%zx\r\n", len) == 0 &&
		    gb_buf_append(&b, p, len) == 0 &&
		    gb_buf_puts(&b, "\r\n") == 0)
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
	if (r->streaming == 2)
		return 0;
	if (gb_io_writeall(c->wfd, "0\r\n\r\n", 5) == -1) {
		c->broken = 1;
		return -1;
	}
	return 0;
}
