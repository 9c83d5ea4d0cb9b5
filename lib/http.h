/*
 * http.h - the server side of HTTP/1.1 (RFC 9112) as gb-serve speaks it:
 * a request parser that reads from a socket with timeouts and hard
 * limits, and a response writer for whole answers (exact Content-Length)
 * and streams (chunked, one chunk per write).
 *
 * A request is read in two steps so the caller can refuse it (auth,
 * routing) before a large body is transferred: gb_http_read_head(), then
 * gb_http_read_body(). A request whose body was not read leaves the
 * connection unusable; gb_http_respond() then closes it.
 *
 * This is the blocking form, one thread per connection, of httpmsg.h's
 * parser and writer, which it is built on.
 */
#ifndef GB_HTTP_H
#define GB_HTTP_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "httpmsg.h"

struct gb_http_conn {
	int		 rfd;		/* read side (socket, or stdin) */
	int		 wfd;		/* write side (socket, or stdout) */
	int		 idle_ms;	/* wait for a request / between reads */
	int		 head_ms;	/* first byte to end of headers */
	long long	 max_body;	/* bytes; more is 413 */
	int		 broken;	/* connection cannot be reused */
	struct gb_buf	 in;		/* bytes read but not yet consumed */
	unsigned long	 nreq;		/* requests seen */
	/* when set and true, a signal ends the wait for the next request */
	const volatile sig_atomic_t *stop;
	/*
	 * When >= 0, a descriptor that turns readable (or hung up) when
	 * the server stops: it ends the wait for the next request the same
	 * way, for a connection served by a thread, which no signal
	 * interrupts. Polled, never read.
	 */
	int		 stopfd;
};

void	gb_http_conn_init(struct gb_http_conn *, int, int);
void	gb_http_conn_free(struct gb_http_conn *);

/*
 * Read the next request's head. Returns 1 with *req filled in; 0 when
 * the client closed or stayed idle before sending anything (just close);
 * -1 on a bad request with *status set to the answer to give (400, 408,
 * 417, 431, 500, 501, 505: see gb_http_parse_head()) or 0 when the
 * connection broke (nothing to answer). Content-Length is checked
 * against max_body only by gb_http_read_body(), after the caller has
 * routed and authorized the request.
 */
int	gb_http_read_head(struct gb_http_conn *, struct gb_http_req *,
	    int *);

/*
 * Read the body announced by the head (sending "100 Continue" first when
 * the client expects it) into req->body. Returns 0, or -1 with *status
 * 400 (bad chunking), 413 (larger than max_body), 431 (trailers too
 * large), 408, 500 or 0 (broken).
 */
int	gb_http_read_body(struct gb_http_conn *, struct gb_http_req *, int *);

/*
 * A whole answer. hdrs holds extra header lines, each ending in CRLF (or
 * NULL). Content-Length and Connection are added here. Returns 0, or -1
 * when the client is gone. The body is sent even to a HEAD request, as
 * it always was here (clients of this path, curl -X HEAD among them,
 * read it); gb_http_format_head() tells its caller not to.
 */
int	gb_http_respond(struct gb_http_conn *, struct gb_http_req *, int,
	    const char *, const char *, const void *, size_t);

/*
 * A streamed answer: the head, then one chunk per call (written with a
 * single write so an event reaches the client at once), then the end.
 * HTTP/1.0 clients get a close-delimited body instead.
 */
int	gb_http_stream_begin(struct gb_http_conn *, struct gb_http_req *, int,
	    const char *, const char *);
int	gb_http_stream_write(struct gb_http_conn *, struct gb_http_req *,
	    const void *, size_t);
int	gb_http_stream_end(struct gb_http_conn *, struct gb_http_req *);

/* Whether stop or stopfd asks the connection to stop. */
int	gb_http_stopped(const struct gb_http_conn *);

/* Whether the connection may serve another request after this one. */
int	gb_http_reusable(const struct gb_http_conn *,
	    const struct gb_http_req *);

#endif
