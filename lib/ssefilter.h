/*
 * ssefilter.h - gb-sse's core as an object: the upstream's bytes in,
 * in pieces of any size as they arrive, converted events out through a
 * callback (stream.h), so that gb-sse's main and an event-loop host
 * drive the same code, one readable chunk at a time.
 *
 * It is the SSE parser (sse.h) feeding the stream converter (stream.h),
 * with the rules for how the upstream's stream may end: at EOF the
 * stream must have finished (gb_stream_end), and must not stop in the
 * middle of an event; a failure of the parser (an event too large) is
 * the upstream's, told to the client as "upstream ..." unless the
 * converter has already said what went wrong.
 */
#ifndef GB_SSEFILTER_H
#define GB_SSEFILTER_H

#include <stddef.h>

#include "gb.h"
#include "stream.h"

#define GB_SSEFILTER_EVENTMAX	(16UL << 20)	/* one upstream event */

struct gb_ssefilter;

/* A filter writing through out(arg, ...); NULL with err set. */
struct gb_ssefilter	*gb_ssefilter_new(const struct gb_stream_opts *,
			    gb_stream_out, void *, struct gb_err *);
void			 gb_ssefilter_free(struct gb_ssefilter *);

/*
 * n more bytes of the upstream body. 0 to go on; -1 with err set when
 * the stream is over: the upstream broke (the error event has been
 * written), or writing failed.
 */
int	gb_ssefilter_feed(struct gb_ssefilter *, const void *, size_t,
	    struct gb_err *);

/*
 * Upstream EOF: 0 when the stream ended well (usage chunk and [DONE]
 * written as asked); -1 with err set when it was cut, in the middle of
 * an event ("upstream stream cut in the middle of an event") or before
 * a finish reason, after the error event.
 */
int	gb_ssefilter_end(struct gb_ssefilter *, struct gb_err *);

/*
 * The driver gives up (a read error: 502, "read error: ..."): the error
 * event unless the stream is over; always -1 with err set to msg.
 */
int	gb_ssefilter_fail(struct gb_ssefilter *, int, const char *,
	    struct gb_err *);

/* A keep-alive comment, unless the stream is over; 0 or -1. */
int	gb_ssefilter_keepalive(struct gb_ssefilter *, struct gb_err *);

/* Has the filter written its last event (or failed to write)? */
int	gb_ssefilter_over(const struct gb_ssefilter *);

#endif
