/*
 * sse.h - an incremental parser for Server-Sent Events
 * (text/event-stream, WHATWG HTML "Server-sent events").
 *
 * Bytes are fed in pieces of any size, split anywhere (inside a line,
 * a UTF-8 sequence, a CRLF pair or the leading BOM); every complete
 * event is handed to a callback as soon as its terminating blank line
 * has been seen. Lines may end in CRLF, LF or CR. Comments (lines
 * starting with ':') are skipped, multiple data lines are joined with
 * LF, one space after the colon is dropped, a field line without a
 * colon is a field with an empty value, unknown fields are ignored,
 * and an event whose data buffer stays empty is not dispatched. A
 * partial event left at end of input is discarded, as the standard
 * says; gb_sse_end() tells whether that happened.
 *
 * Memory is bounded: the data of one event may not exceed the cap
 * given to gb_sse_init(), the event type and id values are limited to
 * GB_SSE_FIELDMAX bytes. Going past either is an error (E2BIG) and
 * the parser refuses further input.
 */
#ifndef GB_SSE_H
#define GB_SSE_H

#include <stddef.h>

#include "buf.h"
#include "gb.h"

#define GB_SSE_FIELDMAX	4096		/* event type and id values */
#define GB_SSE_NAMEMAX	8		/* longer field names are unknown */

/* One dispatched event; the pointers are valid during the callback. */
struct gb_sse_event {
	const char	*type;		/* "message" unless an event field */
	const char	*data;		/* NUL-terminated; may hold NULs */
	size_t		 len;
	const char	*id;		/* last event id, "" if none */
};

/*
 * Called once per event; returns 0 to go on, or -1 to stop the parser
 * (gb_sse_feed() then returns -1; the callback sets the error).
 */
typedef int	(*gb_sse_cb)(void *, const struct gb_sse_event *,
		    struct gb_err *);

struct gb_sse {
	struct gb_buf	data;		/* data lines, each + LF */
	struct gb_buf	type;		/* event field */
	struct gb_buf	id;		/* last event id */
	struct gb_buf	idtmp;		/* id field being read */
	struct gb_buf	*target;	/* where value bytes go, or NULL */
	char		 name[GB_SSE_NAMEMAX];
	size_t		 namelen;	/* > GB_SSE_NAMEMAX - 1: unknown */
	int		 state;		/* see sse.c */
	int		 field;		/* field of the current line */
	int		 crseen;	/* last byte was a CR ending a line */
	int		 bom;		/* BOM bytes matched, -1 when done */
	int		 failed;
	size_t		 cap;
	unsigned long long events;	/* dispatched so far */
};

void	gb_sse_init(struct gb_sse *, size_t);
int	gb_sse_feed(struct gb_sse *, const void *, size_t, gb_sse_cb, void *,
	    struct gb_err *);
int	gb_sse_end(struct gb_sse *);
void	gb_sse_free(struct gb_sse *);

#endif
