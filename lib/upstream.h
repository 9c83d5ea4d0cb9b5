/*
 * upstream.h - talking to Google: one HTTP attempt with one key (libcurl),
 * the classification of what came back, and the retry policy that walks
 * the keys from gb-keys state. See gb-call(1) for the policy in prose.
 *
 * The core is event-driven. A gb_upstream is one client bound to an
 * sd-event loop: one libcurl multi handle, whose sockets and timer are
 * sources of that loop, and so one connection cache for every call made
 * on it. A call (gb_upcall) is a state machine driven by that loop: it
 * takes a key, runs an attempt, records the key's outcome, waits out a
 * backoff on a timer and tries the next key, all without blocking, so
 * one loop runs any number of calls at once.
 *
 * A call never writes anywhere itself: the final answer goes to its
 * sink. sink->head is called once, before the first body byte, with the
 * status to report; after it only the bytes of that one answer reach
 * sink->body, so bytes of two attempts never mix; sink->done ends the
 * call.
 *
 * Not thread-safe: a gb_upstream, its loop and its calls belong to one
 * thread. Several threads may each own a gb_upstream of their own.
 */
#ifndef GB_UPSTREAM_H
#define GB_UPSTREAM_H

#include <stddef.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "gb.h"
#include "mask.h"

struct gb_keys;
struct gb_upstream;
struct gb_upcall;

/* Caps on what one attempt may buffer. */
#define GB_UPSTREAM_ERRBODY_MAX	(1024 * 1024)	/* a non-2xx body */
#define GB_UPSTREAM_BUFFER_MAX	(64 * 1024 * 1024) /* a 2xx body, not -s */
#define GB_UPSTREAM_HOLD_MAX	(1024 * 1024)	/* a generate stream held
						   before its first content */
#define GB_UPSTREAM_CONNECT_MAX	10		/* connect timeout, seconds */
#define GB_UPSTREAM_HDRS_MAX	1024		/* req->hdrs, head.hdrs */

/* idle upstream connections a gb_upstream keeps */
#define GB_UPSTREAM_KEEP	256

/* What one attempt's outcome means for the retry policy. */
enum gb_upstream_class {
	GB_UP_OK,	/* 2xx */
	GB_UP_KEY,	/* the key's fault: 400 API_KEY_INVALID, 401, 403 */
	GB_UP_COOL,	/* 429: the key rests, another key may answer */
	GB_UP_RETRY,	/* 5xx, a 2xx whose body is not JSON (not streamed)
			   or is an empty generate answer, timeout,
			   connection or proxy trouble: try another key */
	GB_UP_FINAL,	/* any other 4xx: the answer, not retried */
	GB_UP_FATAL	/* local trouble (bad URL, TLS verification, the
			   caller went away): stop at once */
};

/*
 * One request. method and path are copied; body is not: it must stay
 * as it is until the call's done (libcurl sends it from there).
 */
struct gb_upstream_req {
	const char	*method;	/* GET, POST, PATCH or DELETE */
	const char	*path;		/* below BASE_URL, may carry ?query;
					   "upload/..." is below the upload
					   root (gb-call(1)) */
	const char	*body;		/* POST or PATCH body, or NULL */
	size_t		 bodylen;
	int		 stream;	/* pass 2xx bodies on as they arrive */
	/*
	 * Key affinity (gb-call(1) -K): the state id (gb_keys_id) of the
	 * one key to use, or NULL. A pinned call never moves to another
	 * key; a key that is not configured or is invalid is answered 403
	 * without an attempt, and upstream's 403 and 404 are its answer,
	 * not held against the key.
	 */
	const char	*pin;
	const char	*hdrs;		/* extra header lines, "Name: value\n",
					   already checked, or NULL */
};

/* The status line handed to sink->head. */
struct gb_upstream_head {
	int		 status;	/* HTTP status for the caller */
	int		 attempts;	/* attempts made (0: no key usable) */
	long		 retry_after;	/* seconds (429 only), else -1 */
	char		 key[GB_MASK_SIZE]; /* masked key of the last attempt,
					   "" if none */
	char		 key_id[24];	/* its state id (gb_keys_id), or "" */
	char		 hdrs[GB_UPSTREAM_HDRS_MAX]; /* the answer's X-Goog-Upload-*
					   header lines, "Name: value\n" */
};

enum gb_upstream_loglevel {
	GB_UP_LOG_ERROR,
	GB_UP_LOG_WARN,
	GB_UP_LOG_INFO,
	GB_UP_LOG_DEBUG
};

/*
 * Where a call's answer goes. Every callback runs from the loop (never
 * from inside gb_upcall_start, _pause, _resume or _cancel), and may call
 * gb_upcall_pause, _resume and _cancel on any call, and gb_upcall_start;
 * none may call gb_upstream_free.
 */
struct gb_upcall_sink {
	/*
	 * Exactly once, before the first body byte, with the status to
	 * report; not at all when the call is cancelled before it.
	 */
	void	(*head)(void *, const struct gb_upstream_head *);
	/*
	 * Body bytes of the final answer, in order. 0: taken (a sink
	 * buffers what it cannot write yet, and may ask for a pause);
	 * -1: abort, the reader went away (done follows, GB_EXIT_TEMP).
	 */
	int	(*body)(void *, const void *, size_t);
	/*
	 * Exactly once, last: the exit status (GB_EXIT_OK, _NO, _TEMP)
	 * and an error whose msg explains a non-zero status. The call is
	 * freed as soon as done returns.
	 */
	void	(*done)(void *, int, const struct gb_err *);
	/* a diagnostic (never contains a key); may be NULL */
	void	(*log)(void *, enum gb_upstream_loglevel, const char *);
	void	*arg;
};

/*
 * One upstream client on loop ev (a reference is taken): its calls run
 * when the loop does. NULL with err set on failure.
 */
struct gb_upstream	*gb_upstream_new(const struct gb_config *, sd_event *,
			    struct gb_err *);

/*
 * Free the client and its connections. Calls still running are
 * cancelled without a word to their sinks (done is not called). Not
 * from inside a sink callback.
 */
void			 gb_upstream_free(struct gb_upstream *);

/*
 * Start a call: keys from ks (which must outlive it), at most
 * cfg->max_retries attempts on distinct keys within cfg->timeout
 * seconds, outcomes recorded in ks, the final answer (upstream's, or a
 * synthesised Gemini-style error) to the sink, which is copied. Nothing
 * happens before control returns to the loop. NULL with err set only on
 * local trouble (out of memory); every other outcome ends in done.
 */
struct gb_upcall	*gb_upcall_start(struct gb_upstream *,
			    struct gb_keys *, const struct gb_upstream_req *,
			    const struct gb_upcall_sink *, struct gb_err *);

/*
 * Backpressure: stop delivering body bytes to the sink until resumed
 * (libcurl stops reading the connection). A paused stream is not
 * counted as silent by the stall check.
 */
void			 gb_upcall_pause(struct gb_upcall *);
void			 gb_upcall_resume(struct gb_upcall *);

/*
 * The caller went away: the transfer is aborted at once (or as soon as
 * control leaves libcurl, when called from a sink callback), nothing is
 * recorded against the key, no more head or body, and done follows
 * from the loop with GB_EXIT_TEMP. The call stays valid until then.
 */
void			 gb_upcall_cancel(struct gb_upcall *);

/*
 * Classify a complete upstream answer: status and body. For 429, *delay
 * gets RetryInfo.retryDelay in whole seconds (rounded up), or -1. reason
 * (size reasonsz) gets ErrorInfo.reason when present.
 */
enum gb_upstream_class gb_upstream_classify(int, const char *, size_t,
	    long *, char *, size_t);

/*
 * May a caller add this header line ("Name: value", no line end) to a
 * request (gb_upstream_req.hdrs)? Only Content-Type and X-Goog-Upload-*
 * names, printable values: nothing that could carry or replace a key.
 */
int	gb_upstream_header_ok(const char *);

#endif
