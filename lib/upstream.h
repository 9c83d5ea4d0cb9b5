/*
 * upstream.h - talking to Google: one HTTP attempt with one key (libcurl),
 * the classification of what came back, and the retry loop that walks the
 * keys from gb-keys state. See gb-call(1) for the policy in prose.
 *
 * The loop never writes anywhere itself: the final answer goes to a sink.
 * sink->head is called exactly once, before the first body byte, with the
 * status the caller should report; after it only the bytes of that one
 * answer reach sink->body, so bytes of two attempts never mix.
 */
#ifndef GB_UPSTREAM_H
#define GB_UPSTREAM_H

#include <stddef.h>

#include "config.h"
#include "gb.h"
#include "mask.h"

struct gb_keys;
struct gb_upstream;

/* Caps on what one attempt may buffer. */
#define GB_UPSTREAM_ERRBODY_MAX	(1024 * 1024)	/* a non-2xx body */
#define GB_UPSTREAM_BUFFER_MAX	(64 * 1024 * 1024) /* a 2xx body, not -s */
#define GB_UPSTREAM_CONNECT_MAX	10		/* connect timeout, seconds */

/* What one attempt's outcome means for the retry loop. */
enum gb_upstream_class {
	GB_UP_OK,	/* 2xx */
	GB_UP_KEY,	/* the key's fault: 400 API_KEY_INVALID, 401, 403 */
	GB_UP_COOL,	/* 429: the key rests, another key may answer */
	GB_UP_RETRY,	/* 5xx, timeout, connection trouble: try another key */
	GB_UP_FINAL,	/* any other 4xx: the answer, not retried */
	GB_UP_FATAL	/* local trouble (bad URL, TLS verification, the
			   caller went away): stop at once */
};

struct gb_upstream_req {
	const char	*method;	/* "GET" or "POST" */
	const char	*path;		/* below BASE_URL, may carry ?query */
	const char	*body;		/* POST body, or NULL */
	size_t		 bodylen;
	int		 stream;	/* pass 2xx bodies on as they arrive */
};

/* The status line handed to sink->head. */
struct gb_upstream_head {
	int		 status;	/* HTTP status for the caller */
	int		 attempts;	/* attempts made (0: no key usable) */
	long		 retry_after;	/* seconds (429 only), else -1 */
	char		 key[GB_MASK_SIZE]; /* masked key of the last attempt,
					   "" if none */
};

enum gb_upstream_loglevel {
	GB_UP_LOG_ERROR,
	GB_UP_LOG_WARN,
	GB_UP_LOG_INFO,
	GB_UP_LOG_DEBUG
};

struct gb_upstream_sink {
	/* once, before any body byte; -1 aborts (the caller went away) */
	int	(*head)(void *, const struct gb_upstream_head *);
	/* body bytes in order; -1 aborts (the caller went away) */
	int	(*body)(void *, const void *, size_t);
	/* polled while waiting; 0: the caller is gone (may be NULL) */
	int	(*alive)(void *);
	/* a diagnostic (never contains a key); may be NULL */
	void	(*log)(void *, enum gb_upstream_loglevel, const char *);
	void	*arg;
};

struct gb_upstream	*gb_upstream_new(const struct gb_config *,
			    struct gb_err *);
void			 gb_upstream_free(struct gb_upstream *);

/* idle upstream connections a shared cache keeps */
#define GB_UPSTREAM_KEEP	256

/*
 * Before any thread starts: let every handle made from now on share one
 * connection cache (a gb-call host, lib/host.h). 0, or -1 with err set.
 */
int			 gb_upstream_share(struct gb_err *);

/*
 * Classify a complete upstream answer: status and body. For 429, *delay
 * gets RetryInfo.retryDelay in whole seconds (rounded up), or -1. reason
 * (size reasonsz) gets ErrorInfo.reason when present.
 */
enum gb_upstream_class gb_upstream_classify(int, const char *, size_t,
	    long *, char *, size_t);

/*
 * The whole call: keys from ks, at most cfg->max_retries attempts on
 * distinct keys within cfg->timeout seconds, outcomes recorded in ks, the
 * final answer (upstream's, or a synthesised Gemini-style error) to the
 * sink. Returns the exit status (GB_EXIT_OK, _NO, _TEMP) and fills *head
 * with what was reported; err->msg explains a non-zero status.
 */
int	gb_upstream_call(struct gb_upstream *, struct gb_keys *,
	    const struct gb_upstream_req *, const struct gb_upstream_sink *,
	    struct gb_upstream_head *, struct gb_err *);

#endif
