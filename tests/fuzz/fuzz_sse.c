/*
 * fuzz_sse.c - the event-stream parser and the stream converter on
 * arbitrary bytes. Byte 0 holds the converter's switches, byte 1 seeds
 * how the input is cut into pieces, the rest is the upstream stream.
 *
 * Checked: the parser yields the same events whether the input comes
 * whole or in pieces of 1 to 8 bytes; every converted event is one
 * "data: <JSON>" (or a [DONE] / comment) ending in a blank line; a
 * stream that was not converted to the end ends with an error event.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "sse.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	struct gb_buf	 events;	/* the parser's events, serialised */
	struct gb_stream *st;		/* or NULL: parse only */
	int		 native;
	int		 responses;
	int		 anthropic;
	json_int_t	 seq;		/* the next sequence_number */
	int		 last_error;	/* the last output was an error */
};

/*
 * A named event (Responses, Anthropic): "event: TYPE\ndata: JSON\n\n",
 * the JSON's type the same; a Responses event's sequence_number the next
 * one.
 */
static int
check_named(struct run *r, const char *p, size_t n)
{
	const char *nl, *type;
	json_t *j;

	if (memcmp(p, "event: ", 7) != 0 ||
	    (nl = memchr(p, '\n', n)) == NULL ||
	    (size_t)(nl - p) + 7 > n || memcmp(nl + 1, "data: ", 6) != 0)
		abort();
	j = json_loadb(nl + 7, n - (size_t)(nl + 7 - p) - 2, JSON_ALLOW_NUL,
	    NULL);
	type = json_string_value(json_object_get(j, "type"));
	if (type == NULL || strlen(type) != (size_t)(nl - p) - 7 ||
	    memcmp(type, p + 7, strlen(type)) != 0 || (r->responses &&
	    json_integer_value(json_object_get(j, "sequence_number")) !=
	    r->seq++))
		abort();
	r->last_error = strcmp(type, "response.failed") == 0 ||
	    strcmp(type, "error") == 0;
	json_decref(j);
	return 0;
}

static int
check_out(void *arg, const char *p, size_t n)
{
	struct run *r = arg;
	const char *eol = r->native ? "\r\n\r\n" : "\n\n";
	size_t el = strlen(eol);
	json_t *j;

	if (n < 6 + el || memcmp(p + n - el, eol, el) != 0)
		abort();
	if (memcmp(p, ": keep-alive", 12) == 0)
		return 0;
	if (r->responses || r->anthropic)
		return check_named(r, p, n);
	if (memcmp(p, "data: ", 6) != 0)
		abort();
	if (n == 6 + 6 + el && memcmp(p + 6, "[DONE]", 6) == 0)
		return 0;
	if ((j = json_loadb(p + 6, n - 6 - el, JSON_ALLOW_NUL, NULL)) == NULL)
		abort();
	r->last_error = json_object_get(j, "error") != NULL;
	json_decref(j);
	return 0;
}

static int
on_event(void *arg, const struct gb_sse_event *ev, struct gb_err *err)
{
	struct run *r = arg;

	if (gb_buf_printf(&r->events, "%s|%s|%zu|", ev->type, ev->id,
	    ev->len) == -1 || gb_buf_append(&r->events, ev->data, ev->len) == -1)
		abort();
	if (r->st != NULL)
		return gb_stream_event(r->st, ev->data, ev->len, err);
	return 0;
}

/* Parse (and maybe convert) data in pieces; returns gb_sse_end()'s answer. */
static int
feed(struct run *r, const uint8_t *data, size_t len, unsigned seed, int cut)
{
	struct gb_sse p;
	struct gb_err err;
	size_t off = 0, n;
	int partial = -1;

	gb_sse_init(&p, 1 << 16);
	while (off < len) {
		n = len - off;
		if (cut) {
			seed = seed * 1103515245 + 12345;
			n = 1 + (seed >> 16) % 8;
			if (n > len - off)
				n = len - off;
		}
		if (gb_sse_feed(&p, data + off, n, on_event, r, &err) == -1)
			goto out;
		off += n;
	}
	partial = gb_sse_end(&p);
out:
	gb_sse_free(&p);
	return partial;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct gb_stream_opts o;
	struct run whole, cut;
	struct gb_err err;
	int pw, pc, rc;

	if (len < 2)
		return 0;
	memset(&o, 0, sizeof(o));
	o.dialect = data[0] & 1 ? GB_STREAM_GEMINI : data[0] & 32 ?
	    GB_STREAM_RESPONSES : data[0] & 64 ? GB_STREAM_ANTHROPIC :
	    GB_STREAM_CHAT;
	o.include_usage = data[0] & 2;
	o.show_thinking = data[0] & 4;
	o.search_links = data[0] & 8;
	o.model = data[0] & 16 ? "m-search" : NULL;

	/* whole, parsed only */
	memset(&whole, 0, sizeof(whole));
	gb_buf_init(&whole.events, (size_t)-1 / 2);
	pw = feed(&whole, data + 2, len - 2, data[1], 0);

	/* in pieces, parsed and converted */
	memset(&cut, 0, sizeof(cut));
	gb_buf_init(&cut.events, (size_t)-1 / 2);
	cut.native = o.dialect == GB_STREAM_GEMINI;
	cut.responses = o.dialect == GB_STREAM_RESPONSES;
	cut.anthropic = o.dialect == GB_STREAM_ANTHROPIC;
	if ((cut.st = gb_stream_new(&o, check_out, &cut, &err)) == NULL)
		abort();
	pc = feed(&cut, data + 2, len - 2, data[1], 1);
	if (pc != -1) {
		/* the converter took every event: the two parses agree */
		if (pc != pw || cut.events.len != whole.events.len ||
		    (cut.events.len > 0 && memcmp(cut.events.data,
		    whole.events.data, cut.events.len) != 0))
			abort();
		rc = gb_stream_end(cut.st, &err);
		if (rc == -1 && !gb_stream_over(cut.st))
			abort();
		if (rc == -1 && !cut.last_error)
			abort();
	} else if (!gb_stream_over(cut.st)) {
		/* only the size cap stops a parse; then gb-sse reports it */
		char msg[sizeof(err.msg)];

		memcpy(msg, err.msg, sizeof(msg));
		gb_stream_fail(cut.st, 502, msg, NULL, &err);
	}
	if (pc == -1 && !cut.last_error && gb_stream_over(cut.st))
		abort();
	gb_stream_free(cut.st);
	gb_buf_free(&whole.events);
	gb_buf_free(&cut.events);
	return 0;
}
