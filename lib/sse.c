/*
 * sse.c - incremental text/event-stream parser (WHATWG HTML, "Server-
 * sent events", section "Interpreting an event stream").
 *
 * The parser is a small state machine driven one input piece at a time,
 * so no line is ever held twice: the value of a data field is copied
 * straight into the event's data buffer while its line is being read.
 *
 *   S_NAME     reading a field name (the start of every line)
 *   S_SPACE    just after the colon: one space here is dropped
 *   S_VALUE    copying the value into *target (or skipping it)
 *   S_COMMENT  skipping a line that began with ':'
 *
 * A CR ends a line at once; an LF right after it (maybe at the start of
 * the next piece) is swallowed, so CRLF, LF and CR all work. A UTF-8
 * byte order mark at the very start of the stream is dropped, even
 * when it arrives split over several pieces.
 */
#include <errno.h>
#include <string.h>

#include "sse.h"

enum {
	S_NAME,
	S_SPACE,
	S_VALUE,
	S_COMMENT
};

enum {
	F_OTHER,
	F_DATA,
	F_EVENT,
	F_ID,
	F_RETRY
};

static const unsigned char BOM[3] = { 0xef, 0xbb, 0xbf };

void
gb_sse_init(struct gb_sse *p, size_t cap)
{
	memset(p, 0, sizeof(*p));
	gb_buf_init(&p->data, cap);
	gb_buf_init(&p->type, GB_SSE_FIELDMAX);
	gb_buf_init(&p->id, GB_SSE_FIELDMAX);
	gb_buf_init(&p->idtmp, GB_SSE_FIELDMAX);
	p->cap = cap;
	p->state = S_NAME;
}

void
gb_sse_free(struct gb_sse *p)
{
	gb_buf_free(&p->data);
	gb_buf_free(&p->type);
	gb_buf_free(&p->id);
	gb_buf_free(&p->idtmp);
}

static int
overflow(struct gb_sse *p, struct gb_buf *b, struct gb_err *err)
{
	p->failed = 1;
	if (errno != E2BIG)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "out of memory: %s", strerror(errno));
	errno = E2BIG;
	if (b == &p->data)
		return gb_err_set(err, GB_EXIT_TEMP, 502,
		    "event larger than %zu bytes", p->cap);
	return gb_err_set(err, GB_EXIT_TEMP, 502,
	    "event field value longer than %d bytes", GB_SSE_FIELDMAX);
}

static int
which_field(const struct gb_sse *p)
{
	static const struct {
		const char	*name;
		int		 field;
	} f[] = {
		{ "data", F_DATA }, { "event", F_EVENT }, { "id", F_ID },
		{ "retry", F_RETRY }
	};
	size_t i;

	if (p->namelen >= GB_SSE_NAMEMAX)
		return F_OTHER;
	for (i = 0; i < GB_NELEM(f); i++)
		if (strlen(f[i].name) == p->namelen &&
		    memcmp(f[i].name, p->name, p->namelen) == 0)
			return f[i].field;
	return F_OTHER;
}

/* The colon was seen: decide where the value goes. */
static void
start_value(struct gb_sse *p)
{
	p->field = which_field(p);
	switch (p->field) {
	case F_DATA:
		p->target = &p->data;
		break;
	case F_EVENT:
		gb_buf_reset(&p->type);
		p->target = &p->type;
		break;
	case F_ID:
		gb_buf_reset(&p->idtmp);
		p->target = &p->idtmp;
		break;
	default:
		/* retry is for reconnecting clients; we never reconnect */
		p->target = NULL;
		break;
	}
}

/*
 * Deliver the event being built, if it has data, and start a new one.
 * The standard drops the LF appended after the last data line.
 */
static int
dispatch(struct gb_sse *p, gb_sse_cb cb, void *arg, struct gb_err *err)
{
	struct gb_sse_event ev;
	int rc = 0;

	if (p->data.len > 0) {
		p->data.len--;
		p->data.data[p->data.len] = '\0';
		ev.type = p->type.len > 0 ? p->type.data : "message";
		ev.data = p->data.data;
		ev.len = p->data.len;
		ev.id = p->id.len > 0 ? p->id.data : "";
		p->events++;
		if (cb != NULL && cb(arg, &ev, err) == -1) {
			p->failed = 1;
			rc = -1;
		}
	}
	gb_buf_reset(&p->data);
	gb_buf_reset(&p->type);
	return rc;
}

/* A line ended (CR or LF seen). */
static int
end_line(struct gb_sse *p, gb_sse_cb cb, void *arg, struct gb_err *err)
{
	int state = p->state;

	p->state = S_NAME;
	if (state == S_COMMENT)
		return 0;
	if (state == S_NAME) {
		if (p->namelen == 0)
			return dispatch(p, cb, arg, err);
		/* "data" alone: the field with an empty value */
		start_value(p);
	}
	p->namelen = 0;
	switch (p->field) {
	case F_DATA:
		if (gb_buf_putc(&p->data, '\n') == -1)
			return overflow(p, &p->data, err);
		break;
	case F_ID:
		/* an id holding NUL is ignored; otherwise it replaces */
		if (memchr(p->idtmp.data != NULL ? p->idtmp.data : "", '\0',
		    p->idtmp.len) == NULL) {
			gb_buf_reset(&p->id);
			if (gb_buf_append(&p->id, p->idtmp.data != NULL ?
			    p->idtmp.data : "", p->idtmp.len) == -1)
				return overflow(p, &p->id, err);
		}
		break;
	default:
		break;
	}
	p->field = F_OTHER;
	p->target = NULL;
	return 0;
}

/* Feed n bytes, past any byte order mark. */
static int
feed(struct gb_sse *p, const unsigned char *s, size_t n, gb_sse_cb cb,
    void *arg, struct gb_err *err)
{
	const unsigned char *e = s + n, *q;
	unsigned char c;

	while (s < e) {
		c = *s;
		if (p->crseen) {
			p->crseen = 0;
			if (c == '\n') {
				s++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			s++;
			p->crseen = c == '\r';
			if (end_line(p, cb, arg, err) == -1)
				return -1;
			continue;
		}
		switch (p->state) {
		case S_NAME:
			s++;
			if (c == ':') {
				if (p->namelen == 0) {
					p->state = S_COMMENT;
				} else {
					start_value(p);
					p->state = S_SPACE;
				}
			} else {
				/* a name too long to keep is unknown */
				if (p->namelen < GB_SSE_NAMEMAX)
					p->name[p->namelen++] = (char)c;
			}
			break;
		case S_SPACE:
			p->state = S_VALUE;
			if (c == ' ')
				s++;
			break;
		case S_VALUE:
		case S_COMMENT:
			/* the rest of the line, up to CR or LF */
			for (q = s; q < e && *q != '\r' && *q != '\n'; q++)
				;
			if (p->state == S_VALUE && p->target != NULL &&
			    gb_buf_append(p->target, s, (size_t)(q - s)) == -1)
				return overflow(p, p->target, err);
			s = q;
			break;
		}
	}
	return 0;
}

/*
 * Feed n bytes of the stream; cb is called for every event completed.
 * Returns 0, or -1 with err set (event too large) or after the callback
 * failed; a parser that failed refuses all further input.
 */
int
gb_sse_feed(struct gb_sse *p, const void *buf, size_t n, gb_sse_cb cb,
    void *arg, struct gb_err *err)
{
	const unsigned char *s = buf;

	if (p->failed)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "event stream parser already failed");
	/* the byte order mark, possibly split over several pieces */
	while (p->bom >= 0 && n > 0) {
		if (*s == BOM[p->bom]) {
			s++;
			n--;
			if (++p->bom == (int)sizeof(BOM))
				p->bom = -1;
			continue;
		}
		/* not a BOM after all: the bytes held back are data */
		if (p->bom > 0 && feed(p, BOM, (size_t)p->bom, cb, arg,
		    err) == -1)
			return -1;
		p->bom = -1;
	}
	return feed(p, s, n, cb, arg, err);
}

/*
 * End of input. Returns 1 if an unfinished event (data, or a field
 * line, without its blank line) was discarded, 0 if the stream ended
 * cleanly between events.
 */
int
gb_sse_end(struct gb_sse *p)
{
	int partial;

	/* a stream that is only part of a BOM: those bytes were a line */
	partial = p->bom > 0 || p->data.len > 0 || p->state == S_SPACE ||
	    p->state == S_VALUE || (p->state == S_NAME && p->namelen > 0);
	gb_buf_reset(&p->data);
	gb_buf_reset(&p->type);
	p->state = S_NAME;
	p->namelen = 0;
	p->crseen = 0;
	p->bom = -1;
	return partial;
}
