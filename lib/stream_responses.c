/*
 * stream_responses.c - Gemini stream events -> OpenAI Responses API
 * stream events (stream.h, "Responses mode").
 *
 * State: the response id, the sequence number, the output items done
 * so far (response.completed carries them all), and the one item that
 * is open - a reasoning or a message item, whose text grows by deltas
 * until something else comes (another kind of part, a function call,
 * the finish). Function calls come whole from Gemini, so each is added,
 * given its arguments and done in one go. Every event is written as
 * soon as it is known.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "parts.h"
#include "responses.h"
#include "stream_int.h"

enum item { NONE, REASONING, MESSAGE };

struct gb_stream_resp {
	char		 id[GB_RESP_IDSIZE];
	json_int_t	 seq;
	int		 begun;		/* response.created is out */
	json_t		*output;	/* items done */
	enum item	 open;
	char		 item[GB_RESP_IDSIZE];
	char		 finish[32];	/* candidate 0's finishReason */
	struct gb_buf	 text;		/* the open item's text */
};

int
gb_stream_resp_new(struct gb_stream *st, struct gb_err *err)
{
	struct gb_stream_resp *r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->output = json_array()) == NULL) {
		free(r);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	}
	gb_buf_init(&r->text, GB_STREAM_EVENTMAX);
	if (gb_responses_id(r->id, "resp") == -1) {
		json_decref(r->output);
		free(r);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "getrandom: %s",
		    strerror(errno));
	}
	st->resp = r;
	return 0;
}

void
gb_stream_resp_free(struct gb_stream *st)
{
	if (st->resp == NULL)
		return;
	json_decref(st->resp->output);
	gb_buf_free(&st->resp->text);
	free(st->resp);
	st->resp = NULL;
}

/*
 * "event: TYPE" and "data: {type, sequence_number, ...fields}" as one
 * event. Takes fields.
 */
static int
emit(struct gb_stream *st, const char *type, json_t *fields,
    struct gb_err *err)
{
	struct gb_stream_resp *r = st->resp;
	json_t *ev;

	ev = json_pack("{s:s,s:I}", "type", type, "sequence_number", r->seq);
	if (ev == NULL || fields == NULL || json_object_update(ev, fields) ==
	    -1) {
		json_decref(ev);
		json_decref(fields);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	}
	json_decref(fields);
	r->seq++;
	return gb_stream_emit(st, type, ev, err);
}

/* The response as it stands (output: a copy of the items so far). */
static json_t *
response(struct gb_stream *st, const char *status, const char *reason,
    json_t *usage, json_t *error)
{
	return gb_responses_object(st->resp->id, st->created,
	    st->model != NULL ? st->model : "gemini", status, reason,
	    json_deep_copy(st->resp->output), usage, error);
}

static int
begin(struct gb_stream *st, struct gb_err *err)
{
	if (st->resp->begun)
		return 0;
	st->resp->begun = 1;
	if (emit(st, "response.created", json_pack("{s:o}", "response",
	    response(st, "in_progress", NULL, NULL, NULL)), err) == -1)
		return -1;
	return emit(st, "response.in_progress", json_pack("{s:o}",
	    "response", response(st, "in_progress", NULL, NULL, NULL)), err);
}

static json_int_t
next_index(const struct gb_stream *st)
{
	return (json_int_t)json_array_size(st->resp->output);
}

/* Open an item of the kind; its output index is next_index(). */
static int
open_item(struct gb_stream *st, enum item kind, struct gb_err *err)
{
	struct gb_stream_resp *r = st->resp;
	json_int_t oi = next_index(st);
	json_t *item;

	if (gb_responses_id(r->item, kind == REASONING ? "rs" : "msg") == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "getrandom: %s",
		    strerror(errno));
	r->open = kind;
	gb_buf_reset(&r->text);
	if (kind == REASONING) {
		item = json_pack("{s:s,s:s,s:[]}", "id", r->item, "type",
		    "reasoning", "summary");
		if (emit(st, "response.output_item.added", json_pack(
		    "{s:I,s:o}", "output_index", oi, "item", item), err) == -1)
			return -1;
		return emit(st, "response.reasoning_summary_part.added",
		    json_pack("{s:s,s:I,s:i,s:{s:s,s:s}}", "item_id", r->item,
		    "output_index", oi, "summary_index", 0, "part", "type",
		    "summary_text", "text", ""), err);
	}
	item = json_pack("{s:s,s:s,s:s,s:s,s:[]}", "id", r->item, "type",
	    "message", "status", "in_progress", "role", "assistant",
	    "content");
	if (emit(st, "response.output_item.added", json_pack("{s:I,s:o}",
	    "output_index", oi, "item", item), err) == -1)
		return -1;
	return emit(st, "response.content_part.added", json_pack(
	    "{s:s,s:I,s:i,s:{s:s,s:s,s:[],s:[]}}", "item_id", r->item,
	    "output_index", oi, "content_index", 0, "part", "type",
	    "output_text", "text", "", "annotations", "logprobs"), err);
}

static int	close_item(struct gb_stream *, struct gb_err *);

/* More text for an item of the kind (opened first when need be). */
static int
delta(struct gb_stream *st, enum item kind, const struct gb_buf *b,
    struct gb_err *err)
{
	struct gb_stream_resp *r = st->resp;

	if (b->len == 0)
		return 0;
	if (r->open != kind && (close_item(st, err) == -1 ||
	    open_item(st, kind, err) == -1))
		return -1;
	if (gb_buf_append(&r->text, b->data, b->len) == -1)
		return gb_stream_oom(err);
	if (kind == REASONING)
		return emit(st, "response.reasoning_summary_text.delta",
		    json_pack("{s:s,s:I,s:i,s:s%}", "item_id", r->item,
		    "output_index", next_index(st), "summary_index", 0,
		    "delta", b->data, b->len), err);
	return emit(st, "response.output_text.delta", json_pack(
	    "{s:s,s:I,s:i,s:s%,s:[]}", "item_id", r->item, "output_index",
	    next_index(st), "content_index", 0, "delta", b->data, b->len,
	    "logprobs"), err);
}

/* The open item is done: its done events, then it joins the output. */
static int
close_item(struct gb_stream *st, struct gb_err *err)
{
	struct gb_stream_resp *r = st->resp;
	const char *t = r->text.data != NULL ? r->text.data : "";
	size_t n = r->text.len;
	json_int_t oi = next_index(st);
	json_t *item, *ann;
	enum item kind = r->open;

	if (kind == NONE)
		return 0;
	r->open = NONE;
	if (kind == REASONING) {
		if (emit(st, "response.reasoning_summary_text.done",
		    json_pack("{s:s,s:I,s:i,s:s%}", "item_id", r->item,
		    "output_index", oi, "summary_index", 0, "text", t, n),
		    err) == -1 || emit(st,
		    "response.reasoning_summary_part.done", json_pack(
		    "{s:s,s:I,s:i,s:{s:s,s:s%}}", "item_id", r->item,
		    "output_index", oi, "summary_index", 0, "part", "type",
		    "summary_text", "text", t, n), err) == -1)
			return -1;
		item = gb_responses_reasoning(r->item, t, n);
	} else {
		ann = gb_responses_annotations(st->ch[0].ground, t, n);
		if (emit(st, "response.output_text.done", json_pack(
		    "{s:s,s:I,s:i,s:s%,s:[]}", "item_id", r->item,
		    "output_index", oi, "content_index", 0, "text", t, n,
		    "logprobs"), err) == -1 || emit(st,
		    "response.content_part.done", json_pack(
		    "{s:s,s:I,s:i,s:{s:s,s:s%,s:O,s:[]}}", "item_id", r->item,
		    "output_index", oi, "content_index", 0, "part", "type",
		    "output_text", "text", t, n, "annotations", ann,
		    "logprobs"), err) == -1) {
			json_decref(ann);
			return -1;
		}
		item = gb_responses_message(r->item, t, n, ann, "completed");
	}
	if (item == NULL || emit(st, "response.output_item.done", json_pack(
	    "{s:I,s:O}", "output_index", oi, "item", item), err) == -1) {
		json_decref(item);
		return item == NULL ? gb_stream_oom(err) : -1;
	}
	if (json_array_append_new(r->output, item) == -1)
		return gb_stream_oom(err);
	return 0;
}

/* A whole function call: added, its arguments, done. */
static int
call_item(struct gb_stream *st, const json_t *call, struct gb_err *err)
{
	struct gb_stream_resp *r = st->resp;
	json_int_t oi;
	json_t *item, *added;
	const char *args, *name;
	char id[GB_RESP_IDSIZE];

	if (close_item(st, err) == -1)
		return -1;
	oi = next_index(st);
	if (gb_responses_id(id, "fc") == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "getrandom: %s",
		    strerror(errno));
	if ((item = gb_responses_call(id, call, "completed")) == NULL)
		return gb_stream_oom(err);
	args = json_string_value(json_object_get(item, "arguments"));
	name = json_string_value(json_object_get(item, "name"));
	added = json_deep_copy(item);
	json_object_set_new(added, "status", json_string("in_progress"));
	json_object_set_new(added, "arguments", json_string(""));
	if (emit(st, "response.output_item.added", json_pack("{s:I,s:o}",
	    "output_index", oi, "item", added), err) == -1 ||
	    emit(st, "response.function_call_arguments.delta", json_pack(
	    "{s:s,s:I,s:s}", "item_id", id, "output_index", oi, "delta",
	    args), err) == -1 ||
	    emit(st, "response.function_call_arguments.done", json_pack(
	    "{s:s,s:I,s:s,s:s}", "item_id", id, "output_index", oi, "name",
	    name, "arguments", args), err) == -1 ||
	    emit(st, "response.output_item.done", json_pack("{s:I,s:O}",
	    "output_index", oi, "item", item), err) == -1) {
		json_decref(item);
		return -1;
	}
	if (json_array_append_new(r->output, item) == -1)
		return gb_stream_oom(err);
	return 0;
}

int
gb_stream_resp_parts(struct gb_stream *st, const struct gb_parts *p,
    const char *finish, struct gb_err *err)
{
	const json_t *call;
	size_t i;

	if (begin(st, err) == -1 || delta(st, REASONING, &p->reasoning,
	    err) == -1 || delta(st, MESSAGE, &p->content, err) == -1)
		return -1;
	json_array_foreach(p->calls, i, call)
		if (call_item(st, call, err) == -1)
			return -1;
	if (finish == NULL)
		return 0;
	/* the status is the finish's; its event waits for the end */
	snprintf(st->resp->finish, sizeof(st->resp->finish), "%s", finish);
	return close_item(st, err);
}

int
gb_stream_resp_end(struct gb_stream *st, struct gb_err *err)
{
	struct gb_stream_resp *r = st->resp;
	const char *status, *reason;
	json_t *usage;

	if (begin(st, err) == -1 || close_item(st, err) == -1)
		return -1;
	status = gb_responses_status(r->finish[0] != '\0' ? r->finish : NULL,
	    st->blocked && !st->ch[0].seen, &reason);
	if ((usage = gb_responses_usage(st->usage)) == NULL)
		return gb_stream_oom(err);
	st->over = 1;
	return emit(st, strcmp(status, "completed") == 0 ?
	    "response.completed" : "response.incomplete", json_pack("{s:o}",
	    "response", response(st, status, reason, usage, NULL)), err);
}

int
gb_stream_resp_fail(struct gb_stream *st, int status, const char *msg,
    struct gb_err *err)
{
	struct gb_err e2;
	json_t *e;

	if (st->over || st->dead)
		return gb_err_set(err, GB_EXIT_TEMP, status, "%s", msg);
	/* a client's stream reader wants the response created first */
	if (begin(st, &e2) == -1) {
		*err = e2;
		return -1;
	}
	st->over = 1;
	e = json_pack("{s:s,s:s}", "code", status == 429 ?
	    "rate_limit_exceeded" : status >= 500 || status == 0 ?
	    "server_error" : "invalid_request", "message", msg);
	if (emit(st, "response.failed", json_pack("{s:o}", "response",
	    response(st, "failed", NULL, gb_responses_usage(st->usage), e)),
	    &e2) == -1) {
		*err = e2;
		return -1;
	}
	return gb_err_set(err, GB_EXIT_TEMP, status, "%s", msg);
}
