/*
 * httpmsg.h - HTTP/1.1 (RFC 9112) messages as bytes, server side: a
 * request head parser, a request body reader and a response writer that
 * work on buffers the caller owns. They never read or write a
 * descriptor, never look at a clock and never block, so an event loop
 * can feed them whatever bytes arrived on a connection and learn what to
 * do next: wait for more, answer, or go on with the next request.
 *
 * One connection, as the loop sees it (in: the bytes received and not
 * yet used; out: the bytes to send):
 *
 *	gb_http_parse_head(in, max_body, &req)
 *		0: read more (drop the *used empty-line bytes)
 *		-1: answer *status (gb_http_format_head), then close
 *		1: drop *used bytes; route, authorize; an answer given now,
 *		   before the body is read, is the connection's last
 *	if req.expect and no byte of the body is in yet:
 *		gb_http_format_continue(out)
 *	gb_http_body_init(&b, &req)
 *	gb_http_body_feed(&b, in, &used, &req.body)	(drop *used bytes)
 *		0: read more; -1: answer *status, then close
 *		1: set req.body_read; the rest of in is the next request
 *	gb_http_format_head(out, &req, ..., &frame), then the body through
 *	gb_http_format_data() and gb_http_format_end(), as frame says
 *	frame.close ? close once out is sent : parse the next head
 *
 * To make an answer the last one (the server is stopping, the request
 * failed half-way), clear req.keepalive before formatting it.
 *
 * lib/http.h's blocking reader and writer are built on these.
 */
#ifndef GB_HTTPMSG_H
#define GB_HTTPMSG_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define GB_HTTP_HEAD_MAX	(16 * 1024)	/* request line + headers */
#define GB_HTTP_HDR_MAX		100		/* header fields */

struct gb_http_hdr {
	const char	*name;		/* as sent; compare in any case */
	const char	*value;		/* surrounding whitespace removed */
};

struct gb_http_req {
	char		*head;		/* copy of the head, pointed into */
	const char	*method;
	const char	*target;	/* request-target as sent */
	int		 minor;		/* HTTP/1.minor */
	struct gb_http_hdr hdr[GB_HTTP_HDR_MAX];
	size_t		 nhdr;
	int		 keepalive;	/* the client keeps the connection */
	int		 chunked;	/* Transfer-Encoding: chunked */
	long long	 clen;		/* Content-Length, -1 if none */
	int		 expect;	/* Expect: 100-continue */
	int		 body_read;	/* the body was read in full */
	struct gb_buf	 body;		/* its cap is max_body */
	/* response side, filled in by lib/http.c's writer */
	int		 status;
	long long	 sent;		/* body bytes sent */
	int		 streaming;	/* a GB_HTTP_FRAME_* once answered */
};

/*
 * Parse a request head at the start of buf[0..len). Empty lines before
 * it are skipped. *req is overwritten (free the previous one first) and
 * needs gb_http_req_free() after every call, whatever it returned.
 *
 * Returns 1 when the head is complete: *req is filled in from a copy of
 * the head (buf may be dropped) and *used is the bytes it took, empty
 * lines included; the body, if any, follows them. Returns 0 when more
 * bytes are needed: *used is then the count of empty-line bytes the
 * caller may drop. Returns -1 when the request must be refused with
 * *status: 400 malformed, 413 a Content-Length over max_body, 417 an
 * Expect other than 100-continue, 431 a head over GB_HTTP_HEAD_MAX bytes
 * or GB_HTTP_HDR_MAX fields, 500 out of memory, 501 a transfer coding
 * other than chunked, 505 an HTTP version other than 1.x; *req then
 * holds what was parsed before the error (minor, for the answer's status
 * line), and the connection must be closed after the answer.
 */
int	gb_http_parse_head(const char *, size_t, long long,
	    struct gb_http_req *, size_t *, int *);

void	gb_http_req_free(struct gb_http_req *);

/* The value of the first header field called name, or NULL. */
const char	*gb_http_header(const struct gb_http_req *, const char *);

/* The reason phrase for a status code. */
const char	*gb_http_reason(int);

/*
 * A request body being read, framed as its head said: none, a
 * Content-Length, or chunked. The fields are the reader's own.
 */
struct gb_http_body {
	int			 state;
	int			 status;	/* the refusal, once refused */
	unsigned long long	 left;		/* bytes of body or chunk */
	unsigned long long	 size;		/* chunk-size so far */
	size_t			 line;		/* bytes of the line so far */
	size_t			 trailers;	/* trailer bytes so far */
	int			 cr;		/* the last byte was a CR */
	int			 part;		/* in the chunk-size line */
	int			 digits;	/* of the chunk-size, so far */
};

void	gb_http_body_init(struct gb_http_body *, const struct gb_http_req *);

/*
 * Feed in[0..len) to the body reader. The body's bytes are appended to
 * out, whose cap is the most the body may hold (max_body). *used is set
 * to the bytes taken from in; the caller drops them and feeds the rest
 * with whatever arrives next. Returns 1 when the body is complete
 * (*used stops at its end: what follows is the next request), 0 when
 * more bytes are needed (all of in was used), -1 with *status 400 (bad
 * chunked framing), 413 (over out's cap), 431 (trailers over
 * GB_HTTP_HEAD_MAX) or 500 (out of memory); the reader then stays
 * refused.
 */
int	gb_http_body_feed(struct gb_http_body *, const char *, size_t,
	    size_t *, struct gb_buf *, int *);

/* How an answer's body is delimited, and what the caller does after. */
#define GB_HTTP_FRAME_LENGTH	0	/* Content-Length bytes */
#define GB_HTTP_FRAME_CHUNKED	1	/* chunked, to HTTP/1.1 */
#define GB_HTTP_FRAME_CLOSE	2	/* until the close, to HTTP/1.0 */

struct gb_http_frame {
	int	 mode;		/* a GB_HTTP_FRAME_* */
	int	 nobody;	/* send no body at all (HEAD, 204, 304) */
	int	 close;		/* close the connection after the answer */
};

/*
 * Append an answer's head to out: the status line (HTTP/1.0 to a 1.0
 * client, else 1.1), Date (from now), hdrs (extra header lines, each
 * ending in CRLF, or NULL), Content-Type (if ctype is not NULL),
 * Content-Length (if clen >= 0) or, for a streamed answer (clen -1),
 * Transfer-Encoding: chunked to an HTTP/1.1 client and a body delimited
 * by the close to a 1.0 one, then Connection: close when the connection
 * will not be reused (the client asked so, the request's body is not
 * read in full (req->body_read), or the body ends with the close), or
 * Connection: keep-alive to a 1.0 client that keeps it.
 *
 * The answer to a HEAD request has the same head as the GET answer
 * (clen is that answer's length) and no body: fr->nobody says so, as it
 * does for 204 and 304. *fr tells the caller how to send the rest.
 * Returns 0, or -1 (out's cap reached; out is left as it was).
 */
int	gb_http_format_head(struct gb_buf *, const struct gb_http_req *, int,
	    const char *, const char *, long long, time_t,
	    struct gb_http_frame *);

/* One chunk: its size in hex, CRLF, the data, CRLF; nothing if empty. */
int	gb_http_format_chunk(struct gb_buf *, const void *, size_t);

/* The last chunk and the end of the (empty) trailer section. */
int	gb_http_format_last_chunk(struct gb_buf *);

/* The interim answer to Expect: 100-continue. */
int	gb_http_format_continue(struct gb_buf *);

/*
 * Body bytes framed as fr says: a chunk, the bytes as they are, or
 * nothing when the answer has no body.
 */
int	gb_http_format_data(struct gb_buf *, const struct gb_http_frame *,
	    const void *, size_t);

/* The end of the body: the last chunk of a chunked one, else nothing. */
int	gb_http_format_end(struct gb_buf *, const struct gb_http_frame *);

#endif
