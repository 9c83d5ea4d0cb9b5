/*
 * stream_anthropic.c - Gemini stream events -> Anthropic Messages API
 * stream events (stream.h, "Anthropic mode").
 *
 * State: the message id, the next content block index, and the one
 * block that is open - a thinking or a text block, which grows by
 * deltas until something else comes. A function call closes it and is
 * a tool_use block of its own, whole; its thought signature goes as
 * the open thinking block's signature_delta, or, without one, as a
 * redacted_thinking block just before it, so that a client that replays
 * the blocks (as Anthropic's clients do) hands it back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "parts.h"
#include "stream_int.h"

enum block { NONE, THINKING, TEXT };

struct gb_stream_anth {
	char		 id[GB_ANTHROPIC_IDSIZE];
	int		 begun;		/* message_start is out */
	json_int_t	 index;		/* of the next block */
	enum block	 open;
	int		 calls;
	char		 finish[32];	/* candidate 0's finishReason */
};

int
gb_stream_anth_new(struct gb_stream *st, struct gb_err *err)
{
	struct gb_stream_anth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	if (gb_anthropic_id(a->id, "msg_") == -1) {
		free(a);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "getrandom: %s",
		    strerror(errno));
	}
	st->anth = a;
	return 0;
}

void
gb_stream_anth_free(struct gb_stream *st)
{
	free(st->anth);
	st->anth = NULL;
}

/* "event: TYPE" and "data: {type, ...fields}". Takes fields. */
static int
emit(struct gb_stream *st, const char *type, json_t *fields,
    struct gb_err *err)
{
	json_t *ev;

	ev = json_pack("{s:s}", "type", type);
	if (ev == NULL || fields == NULL || json_object_update(ev, fields) ==
	    -1) {
		json_decref(ev);
		json_decref(fields);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	}
	json_decref(fields);
	return gb_stream_emit(st, type, ev, err);
}

static int
begin(struct gb_stream *st, struct gb_err *err)
{
	struct gb_stream_anth *a = st->anth;
	json_t *u;

	if (a->begun)
		return 0;
	a->begun = 1;
	u = gb_anthropic_usage(st->usage);
	json_object_set_new(u, "output_tokens", json_integer(0));
	return emit(st, "message_start", json_pack("{s:{s:s,s:s,s:s,s:s,s:[],"
	    "s:n,s:n,s:o}}", "message", "id", a->id, "type", "message",
	    "role", "assistant", "model", st->model != NULL ? st->model :
	    "gemini", "content", "stop_reason", "stop_sequence", "usage", u),
	    err);
}

static int
block_stop(struct gb_stream *st, struct gb_err *err)
{
	struct gb_stream_anth *a = st->anth;

	a->open = NONE;
	return emit(st, "content_block_stop", json_pack("{s:I}", "index",
	    a->index++), err);
}

/* Close the open block; a thinking block gets its signature first. */
static int
close_block(struct gb_stream *st, const char *sig, struct gb_err *err)
{
	struct gb_stream_anth *a = st->anth;

	if (a->open == NONE)
		return 0;
	if (a->open == THINKING && sig != NULL && emit(st,
	    "content_block_delta", json_pack("{s:I,s:{s:s,s:s}}", "index",
	    a->index, "delta", "type", "signature_delta", "signature", sig),
	    err) == -1)
		return -1;
	return block_stop(st, err);
}

/* More text for a block of the kind (opened first when need be). */
static int
delta(struct gb_stream *st, enum block kind, const struct gb_buf *b,
    struct gb_err *err)
{
	struct gb_stream_anth *a = st->anth;
	const char *k = kind == THINKING ? "thinking" : "text";

	if (b->len == 0)
		return 0;
	if (a->open != kind) {
		if (close_block(st, NULL, err) == -1)
			return -1;
		a->open = kind;
		if (emit(st, "content_block_start", kind == THINKING ?
		    json_pack("{s:I,s:{s:s,s:s,s:s}}", "index", a->index,
		    "content_block", "type", k, k, "", "signature", "") :
		    json_pack("{s:I,s:{s:s,s:s}}", "index", a->index,
		    "content_block", "type", k, k, ""), err) == -1)
			return -1;
	}
	return emit(st, "content_block_delta", json_pack("{s:I,s:{s:s,s:s%}}",
	    "index", a->index, "delta", "type", kind == THINKING ?
	    "thinking_delta" : "text_delta", k, b->data, b->len), err);
}

/* A whole function call: its signature, then a tool_use block. */
static int
call_block(struct gb_stream *st, const json_t *call, struct gb_err *err)
{
	struct gb_stream_anth *a = st->anth;
	const char *sig = gb_anthropic_call_sig(call), *args;
	json_t *tu;
	int thinking = a->open == THINKING;

	if (close_block(st, sig, err) == -1)
		return -1;
	if (sig != NULL && !thinking && (emit(st, "content_block_start",
	    json_pack("{s:I,s:{s:s,s:s}}", "index", a->index,
	    "content_block", "type", "redacted_thinking", "data", sig), err) ==
	    -1 || block_stop(st, err) == -1))
		return -1;
	if ((tu = gb_anthropic_tool_use(call)) == NULL)
		return gb_stream_oom(err);
	args = json_string_value(json_object_get(json_object_get(call,
	    "function"), "arguments"));
	a->calls = 1;
	if (emit(st, "content_block_start", json_pack("{s:I,s:{s:s,s:O,s:O,"
	    "s:{}}}", "index", a->index, "content_block", "type", "tool_use",
	    "id", json_object_get(tu, "id"), "name", json_object_get(tu,
	    "name"), "input"), err) == -1 || emit(st, "content_block_delta",
	    json_pack("{s:I,s:{s:s,s:s}}", "index", a->index, "delta", "type",
	    "input_json_delta", "partial_json", args != NULL ? args : "{}"),
	    err) == -1) {
		json_decref(tu);
		return -1;
	}
	json_decref(tu);
	return block_stop(st, err);
}

int
gb_stream_anth_parts(struct gb_stream *st, const struct gb_parts *p,
    const char *finish, struct gb_err *err)
{
	const json_t *call;
	size_t i;

	if (begin(st, err) == -1 || delta(st, THINKING, &p->reasoning,
	    err) == -1 || delta(st, TEXT, &p->content, err) == -1)
		return -1;
	json_array_foreach(p->calls, i, call)
		if (call_block(st, call, err) == -1)
			return -1;
	if (finish == NULL)
		return 0;
	snprintf(st->anth->finish, sizeof(st->anth->finish), "%s", finish);
	return close_block(st, NULL, err);
}

int
gb_stream_anth_end(struct gb_stream *st, struct gb_err *err)
{
	struct gb_stream_anth *a = st->anth;

	if (begin(st, err) == -1 || close_block(st, NULL, err) == -1)
		return -1;
	st->over = 1;
	if (emit(st, "message_delta", json_pack("{s:{s:s,s:n},s:o}", "delta",
	    "stop_reason", gb_anthropic_stop_reason(a->finish[0] != '\0' ?
	    a->finish : NULL, a->calls, st->blocked && !st->ch[0].seen),
	    "stop_sequence", "usage", gb_anthropic_usage(st->usage)), err) ==
	    -1)
		return -1;
	return emit(st, "message_stop", json_object(), err);
}

int
gb_stream_anth_fail(struct gb_stream *st, int status, const char *msg,
    struct gb_err *err)
{
	struct gb_err e2;

	if (st->over || st->dead)
		return gb_err_set(err, GB_EXIT_TEMP, status, "%s", msg);
	st->over = 1;
	if (emit(st, "error", json_pack("{s:{s:s,s:s}}", "error", "type",
	    gb_anthropic_error_type(status == 0 ? 500 : status), "message",
	    msg), &e2) == -1) {
		*err = e2;
		return -1;
	}
	return gb_err_set(err, GB_EXIT_TEMP, status, "%s", msg);
}

int
gb_stream_anth_ping(struct gb_stream *st, struct gb_err *err)
{
	return emit(st, "ping", json_object(), err);
}
