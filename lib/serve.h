/*
 * serve.h - what gb-serve does with one HTTP request: CORS, routing,
 * authentication, and the tool pipeline that produces the answer.
 * The HTTP framing is http.h's; launching the tools is pipeline.h's.
 */
#ifndef GB_SERVE_H
#define GB_SERVE_H

#include "config.h"
#include "http.h"
#include "mask.h"

struct gb_serve {
	const struct gb_config	*cfg;
	struct gb_http_conn	*conn;
	int			 sse_keepalive;	/* gb-sse -k, seconds */
	/* LOG_LEVEL=debug: called with a label and a body (masked by it) */
	void			(*debug)(void *, const char *, const char *,
				    size_t);
	void			*arg;

	/* filled in per request, for the log line */
	char			 path[256];	/* without the query */
	char			 model[128];
	char			 key[GB_MASK_SIZE];
	char			 sse_k[16];	/* sse_keepalive as text */
	int			 client_gone;
};

/*
 * Answer one request whose head has been read. Returns 0 when the
 * connection may carry another request, -1 when it must be closed.
 */
int	gb_serve_request(struct gb_serve *, struct gb_http_req *);

/*
 * Answer a request the HTTP layer refused (status 400, 408, 413, 431,
 * 501, 505, 503) with an OpenAI-shaped error and close.
 */
void	gb_serve_refuse(struct gb_serve *, struct gb_http_req *, int);

/* Constant-time check of a presented token against the allowed ones. */
int	gb_serve_token_ok(const struct gb_config *, const char *, int);

#endif
