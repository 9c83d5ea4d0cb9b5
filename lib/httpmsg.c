/*
 * httpmsg.c - HTTP/1.1 server side over buffers: the request head, the
 * request body (Content-Length or chunked) and the answer's framing.
 *
 * Parsing follows RFC 9112 strictly where ambiguity could let two
 * parties disagree on where a request ends (request smuggling): a
 * request with both Content-Length and Transfer-Encoding, two different
 * Content-Lengths, a transfer coding other than chunked (or chunked not
 * alone), obsolete line folding, whitespace before a colon, a bare CR or
 * a NUL byte is refused. Bare LF is accepted as a line end (section 2.2
 * allows it), as are empty lines before the request line. Every buffer
 * is capped: the head at GB_HTTP_HEAD_MAX bytes and GB_HTTP_HDR_MAX
 * fields (431), the body at the cap of the caller's buffer (413), a
 * chunk-size or trailer line at LINE_MAX bytes (400), the trailers at
 * GB_HTTP_HEAD_MAX (431).
 *
 * The head is parsed once it is complete; until then only its end is
 * looked for, in at most the first GB_HTTP_HEAD_MAX bytes, so the
 * verdict on a head never depends on how its bytes were split into
 * reads. The body is a state machine that takes one byte of framing at
 * a time and copies data in runs; it refuses bad framing at the first
 * byte that makes it bad rather than at the end of its line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpmsg.h"

#define LINE_MAX	1024	/* chunk-size line or trailer line, no LF */

/* gb_http_body.state */
enum {
	B_DONE,		/* the body is read (or there is none) */
	B_LENGTH,	/* Content-Length bytes to go */
	B_SIZE,		/* a chunk-size line */
	B_DATA,		/* chunk data */
	B_DATA_END,	/* the CRLF after chunk data */
	B_TRAILER,	/* trailer lines, up to an empty one */
	B_REFUSED
};

/* gb_http_body.part: where in "1a ; ext" a chunk-size line is */
enum {
	P_DIGITS,	/* hex digits (at least one) */
	P_SPACE,	/* whitespace after them (BWS) */
	P_EXT		/* from ';' on: extensions, ignored */
};

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
 * Find the end of the head: the offset just past the first empty line
 * (LF LF or LF CR LF), or 0 if it is not in s[0..len) yet.
 */
static size_t
head_end(const char *s, size_t len)
{
	const char *p = s, *nl;
	size_t i;

	while ((nl = memchr(p, '\n', len - (size_t)(p - s))) != NULL) {
		i = (size_t)(nl - s);
		if (i + 1 < len && s[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n')
			return i + 3;
		p = nl + 1;
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

/*
 * "method SP request-target SP HTTP/d.d", each part checked: the method
 * a token of at most 20 bytes, the target visible ASCII (its form is the
 * router's business), the version 1.x (else 505).
 */
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

/*
 * Parse the head in r->head (NUL-terminated, without NUL inside): the
 * request line, the fields, then what they mean for framing (body
 * length, chunked), Host, keep-alive and Expect. Returns 0 or the status
 * to answer; the fields parsed before an error stay in *r.
 */
static int
parse_fields(struct gb_http_req *r)
{
	const char *te = NULL, *conn, *ex, *host = NULL, *cv;
	char *p = r->head, *line, *colon, *v, *e;
	long long cl;
	size_t i, nte = 0, nhost = 0;
	int st;

	/* a CR is only ever part of a line end */
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
		/* the name is a token: no whitespace before the colon */
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

	/*
	 * Content-Length: digits only (no sign, no list), at most 18 of
	 * them so it fits a long long; repeated only with the same value.
	 */
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
	/*
	 * Transfer-Encoding: one field, never with Content-Length, never
	 * from HTTP/1.0 (RFC 9112 6.1), and only "chunked" alone: a list
	 * that has chunked in it is malformed for us (400), one without it
	 * a coding we do not know (501).
	 */
	if (nte > 0) {
		if (nte > 1 || r->clen != -1 || r->minor == 0)
			return 400;
		if (strcasecmp(te, "chunked") != 0)
			return has_token(te, "chunked") ? 400 : 501;
		r->chunked = 1;
	}
	if (r->minor == 1 && (nhost != 1 || host == NULL))
		return 400;
	/* 1.1 keeps the connection unless told; 1.0 only when asked */
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
gb_http_parse_head(const char *buf, size_t len, long long max_body,
    struct gb_http_req *r, size_t *used, int *status)
{
	size_t skip, end;
	int st;

	memset(r, 0, sizeof(*r));
	r->clen = -1;
	r->minor = 1;
	if (max_body < 0)
		max_body = 0;
	gb_buf_init(&r->body, (size_t)max_body);
	*used = 0;
	*status = 0;

	/* empty lines before a request are ignored (RFC 9112 2.2) */
	for (skip = 0; skip < len && (buf[skip] == '\r' ||
	    buf[skip] == '\n'); skip++)
		;
	buf += skip;
	len -= skip;
	/*
	 * A head longer than GB_HTTP_HEAD_MAX is refused as soon as that
	 * many bytes are here: its end is only looked for within them.
	 */
	end = head_end(buf, len < GB_HTTP_HEAD_MAX ? len : GB_HTTP_HEAD_MAX);
	if (end == 0) {
		if (len >= GB_HTTP_HEAD_MAX) {
			*status = 431;
			return -1;
		}
		*used = skip;
		return 0;
	}
	*used = skip + end;
	if ((r->head = malloc(end + 1)) == NULL) {
		*status = 500;
		return -1;
	}
	memcpy(r->head, buf, end);
	r->head[end] = '\0';
	if (memchr(r->head, '\0', end) != NULL)
		st = 400;
	else if ((st = parse_fields(r)) == 0 && !r->chunked &&
	    r->clen > max_body)
		st = 413;
	if (st != 0) {
		*status = st;
		return -1;
	}
	if (!r->chunked && r->clen <= 0)
		r->body_read = 1;
	return 1;
}

void
gb_http_req_free(struct gb_http_req *r)
{
	free(r->head);
	gb_buf_free(&r->body);
	memset(r, 0, sizeof(*r));
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

/* ---- the body ---- */

void
gb_http_body_init(struct gb_http_body *b, const struct gb_http_req *r)
{
	memset(b, 0, sizeof(*b));
	if (r->chunked) {
		b->state = B_SIZE;
		b->part = P_DIGITS;
	} else if (r->clen > 0) {
		b->state = B_LENGTH;
		b->left = (unsigned long long)r->clen;
	} else
		b->state = B_DONE;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * One byte of a line's content (the line without its LF, and without
 * the CR just before the LF). Returns 0 or the status to refuse with.
 * A NUL is never content: a line read as a C string would end there,
 * and a peer that reads on would see a different line.
 */
static int
line_char(struct gb_http_body *b, int ch, size_t cap)
{
	int d;

	if (ch == '\0')
		return 400;
	switch (b->state) {
	case B_SIZE:
		/* chunk-size [ BWS ] [ ";" chunk-ext ], RFC 9112 7.1 */
		if (b->part == P_DIGITS && (d = hexval(ch)) != -1) {
			/* size * 16 + d > cap, without overflowing */
			if (b->size > cap / 16 ||
			    (unsigned)d > cap - b->size * 16)
				return 413;	/* bigger than any body */
			b->size = b->size * 16 + (unsigned)d;
			b->digits = 1;
			return 0;
		}
		if (b->part == P_EXT)
			return 0;
		if (!b->digits)
			return 400;	/* no digit before it */
		if (ch == ' ' || ch == '\t')
			b->part = P_SPACE;
		else if (ch == ';')
			b->part = P_EXT;
		else
			return 400;
		return 0;
	case B_DATA_END:
		return 400;	/* chunk data longer than its size */
	default:
		return 0;	/* trailer fields are read and ignored */
	}
}

/*
 * The LF ending a line of n content bytes: what the line meant, and the
 * next state. Returns 0 or the status to refuse with.
 */
static int
line_end(struct gb_http_body *b, size_t n, const struct gb_buf *out)
{
	switch (b->state) {
	case B_SIZE:
		if (!b->digits)
			return 400;	/* no chunk-size */
		if (b->size == 0) {
			b->state = B_TRAILER;
			return 0;
		}
		if (b->size > out->cap - out->len)
			return 413;
		b->left = b->size;
		b->state = B_DATA;
		return 0;
	case B_DATA_END:
		b->state = B_SIZE;
		b->part = P_DIGITS;
		b->size = 0;
		b->digits = 0;
		return 0;
	default:
		if (n == 0) {
			b->state = B_DONE;
			return 0;
		}
		if ((b->trailers += n) > GB_HTTP_HEAD_MAX)
			return 431;
		return 0;
	}
}

/*
 * One byte of a framing line: counted against LINE_MAX, then content or
 * line end. A CR is held back until the next byte shows whether it ends
 * the line (CR LF) or is content (it then is refused, save in an
 * extension or a trailer).
 */
static int
line_byte(struct gb_http_body *b, int ch, const struct gb_buf *out)
{
	size_t n;
	int st;

	if (ch == '\n') {
		n = b->line - (b->cr ? 1 : 0);
		b->line = 0;
		b->cr = 0;
		if (n >= LINE_MAX)
			return 400;
		return line_end(b, n, out);
	}
	if (++b->line > LINE_MAX)
		return 400;
	if (b->cr) {
		b->cr = 0;
		if ((st = line_char(b, '\r', out->cap)) != 0)
			return st;
	}
	if (ch == '\r') {
		b->cr = 1;
		return 0;
	}
	return line_char(b, ch, out->cap);
}

int
gb_http_body_feed(struct gb_http_body *b, const char *in, size_t len,
    size_t *used, struct gb_buf *out, int *status)
{
	size_t i = 0, n;
	int st = 0;

	*used = 0;
	*status = 0;
	for (;;) {
		switch (b->state) {
		case B_DONE:
			*used = i;
			return 1;
		case B_REFUSED:
			*used = i;
			*status = b->status;
			return -1;
		case B_LENGTH:
		case B_DATA:
			if (b->left > out->cap - out->len) {
				st = 413;
				break;
			}
			if (i == len)
				goto more;
			n = len - i;
			if (n > b->left)
				n = (size_t)b->left;
			if (gb_buf_append(out, in + i, n) == -1) {
				st = errno == E2BIG ? 413 : 500;
				break;
			}
			i += n;
			if ((b->left -= n) == 0)
				b->state = b->state == B_LENGTH ? B_DONE :
				    B_DATA_END;
			break;
		default:
			if (i == len)
				goto more;
			st = line_byte(b, (unsigned char)in[i++], out);
			break;
		}
		if (st != 0) {
			b->state = B_REFUSED;
			b->status = st;
		}
	}
more:
	*used = i;
	return 0;
}

/* ---- the answer ---- */

/* An IMF-fixdate (RFC 9110 5.6.7), whatever the locale. */
static void
http_date(char *s, size_t sz, time_t now)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
		snprintf(s, sz, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	snprintf(s, sz, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int
gb_http_format_head(struct gb_buf *out, const struct gb_http_req *r,
    int status, const char *ctype, const char *hdrs, long long clen,
    time_t now, struct gb_http_frame *fr)
{
	int minor = r->minor == 0 ? 0 : 1;
	size_t len0 = out->len;
	char date[64];

	if (clen >= 0)
		fr->mode = GB_HTTP_FRAME_LENGTH;
	else
		fr->mode = minor == 1 ? GB_HTTP_FRAME_CHUNKED :
		    GB_HTTP_FRAME_CLOSE;
	fr->nobody = (r->method != NULL && strcmp(r->method, "HEAD") == 0) ||
	    status == 204 || status == 304;
	fr->close = !r->keepalive || !r->body_read ||
	    fr->mode == GB_HTTP_FRAME_CLOSE;

	http_date(date, sizeof(date), now);
	if (gb_buf_printf(out, "HTTP/1.%d %d %s\r\nDate: %s\r\n", minor,
	    status, gb_http_reason(status), date) == -1)
		goto fail;
	if (hdrs != NULL && gb_buf_puts(out, hdrs) == -1)
		goto fail;
	if (ctype != NULL && gb_buf_printf(out, "Content-Type: %s\r\n",
	    ctype) == -1)
		goto fail;
	if (clen >= 0 && gb_buf_printf(out, "Content-Length: %lld\r\n",
	    clen) == -1)
		goto fail;
	if (fr->mode == GB_HTTP_FRAME_CHUNKED &&
	    gb_buf_puts(out, "Transfer-Encoding: chunked\r\n") == -1)
		goto fail;
	if (fr->close) {
		if (gb_buf_puts(out, "Connection: close\r\n") == -1)
			goto fail;
	} else if (minor == 0 &&
	    gb_buf_puts(out, "Connection: keep-alive\r\n") == -1)
		goto fail;
	if (gb_buf_puts(out, "\r\n") == -1)
		goto fail;
	return 0;
fail:
	out->len = len0;
	if (out->data != NULL)
		out->data[len0] = '\0';
	return -1;
}

int
gb_http_format_chunk(struct gb_buf *out, const void *p, size_t len)
{
	size_t len0 = out->len;

	if (len == 0)
		return 0;	/* an empty chunk would end the body */
	if (gb_buf_printf(out, "%zx\r\n", len) == 0 &&
	    gb_buf_append(out, p, len) == 0 &&
	    gb_buf_puts(out, "\r\n") == 0)
		return 0;
	out->len = len0;
	if (out->data != NULL)
		out->data[len0] = '\0';
	return -1;
}

int
gb_http_format_last_chunk(struct gb_buf *out)
{
	return gb_buf_puts(out, "0\r\n\r\n");
}

int
gb_http_format_continue(struct gb_buf *out)
{
	return gb_buf_puts(out, "HTTP/1.1 100 Continue\r\n\r\n");
}

int
gb_http_format_data(struct gb_buf *out, const struct gb_http_frame *fr,
    const void *p, size_t len)
{
	if (fr->nobody || len == 0)
		return 0;
	if (fr->mode == GB_HTTP_FRAME_CHUNKED)
		return gb_http_format_chunk(out, p, len);
	return gb_buf_append(out, p, len);
}

int
gb_http_format_end(struct gb_buf *out, const struct gb_http_frame *fr)
{
	if (fr->nobody || fr->mode != GB_HTTP_FRAME_CHUNKED)
		return 0;
	return gb_http_format_last_chunk(out);
}
