/*
 * stream.c - Gemini stream events -> OpenAI chat.completion.chunk
 * events (or re-framed Gemini events), one upstream event at a time.
 *
 * State per request: the id, created time and model shared by every
 * chunk, the last usageMetadata, and per choice (candidate index):
 * whether its role chunk went out, whether it finished, the next
 * tool-call index, whether a call was seen (STOP -> tool_calls), and
 * the last candidate that carried grounding chunks (rendered once, at
 * the finish, so the source list comes last and only once).
 *
 * A stream is complete when every choice that appeared has had a
 * finishReason, or the prompt was blocked (promptFeedback.blockReason);
 * an upstream that ends before that was cut, which is an error, never
 * a silent "stop".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "gemini.h"
#include "parts.h"
#include "stream.h"
#include "stream_int.h"

static const char *const dialect_names[] = {
	[GB_STREAM_CHAT] = "chat",
	[GB_STREAM_GEMINI] = "gemini",
	[GB_STREAM_RESPONSES] = "responses",
	[GB_STREAM_ANTHROPIC] = "anthropic",
};

int
gb_stream_dialect_parse(const char *name, enum gb_stream_dialect *d)
{
	size_t i;

	for (i = 0; i < GB_NELEM(dialect_names); i++)
		if (strcmp(name, dialect_names[i]) == 0) {
			*d = (enum gb_stream_dialect)i;
			return 0;
		}
	return -1;
}

const char *
gb_stream_dialect_name(enum gb_stream_dialect d)
{
	return (size_t)d < GB_NELEM(dialect_names) ? dialect_names[d] : NULL;
}

#define NATIVE(st)	((st)->o.dialect == GB_STREAM_GEMINI)
#define RESPONSES(st)	((st)->o.dialect == GB_STREAM_RESPONSES)
#define ANTH(st)	((st)->o.dialect == GB_STREAM_ANTHROPIC)
/* one answer of candidate 0, in named events */
#define ONE(st)		(RESPONSES(st) || ANTH(st))

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

struct gb_stream *
gb_stream_new(const struct gb_stream_opts *o, gb_stream_out out, void *arg,
    struct gb_err *err)
{
	struct gb_stream *st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		return NULL;
	}
	st->o = *o;
	st->o.model = NULL;
	st->out = out;
	st->arg = arg;
	gb_buf_init(&st->ev, GB_STREAM_EVENTMAX);
	if (o->model != NULL && (st->model = strdup(o->model)) == NULL) {
		free(st);
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		return NULL;
	}
	if (gb_random_id(st->id, sizeof(st->id), "chatcmpl-", 24) == -1) {
		free(st->model);
		free(st);
		gb_err_set(err, GB_EXIT_TEMP, 500, "getrandom: %s",
		    strerror(errno));
		return NULL;
	}
	st->created = (json_int_t)time(NULL);
	if ((RESPONSES(st) && gb_stream_resp_new(st, err) == -1) ||
	    (ANTH(st) && gb_stream_anth_new(st, err) == -1)) {
		gb_stream_free(st);
		return NULL;
	}
	return st;
}

void
gb_stream_free(struct gb_stream *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < GB_NELEM(st->ch); i++)
		json_decref(st->ch[i].ground);
	json_decref(st->usage);
	gb_stream_resp_free(st);
	gb_stream_anth_free(st);
	free(st->model);
	gb_buf_free(&st->ev);
	free(st);
}

int
gb_stream_over(const struct gb_stream *st)
{
	return st->over || st->dead;
}

int
gb_stream_flush(struct gb_stream *st, struct gb_err *err)
{
	int rc;

	rc = st->out(st->arg, st->ev.data, st->ev.len);
	gb_buf_reset(&st->ev);
	if (rc == -1) {
		st->dead = 1;
		return gb_err_set(err, GB_EXIT_TEMP, 0, "write error: %s",
		    strerror(errno));
	}
	return 0;
}

int
gb_stream_emit(struct gb_stream *st, const char *name, json_t *j,
    struct gb_err *err)
{
	const char *eol = NATIVE(st) ? "\r\n\r\n" : "\n\n";
	size_t n;

	if (j == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	gb_buf_reset(&st->ev);
	n = json_dumpb(j, NULL, 0, JSON_COMPACT);
	if (n == 0 || (name != NULL && gb_buf_printf(&st->ev, "event: %s\n",
	    name) == -1) || gb_buf_puts(&st->ev, "data: ") == -1 ||
	    gb_buf_reserve(&st->ev, n) == -1) {
		json_decref(j);
		gb_buf_reset(&st->ev);
		return gb_err_set(err, GB_EXIT_TEMP, 502,
		    "converted event larger than %lu bytes",
		    (unsigned long)GB_STREAM_EVENTMAX);
	}
	json_dumpb(j, st->ev.data + st->ev.len, n, JSON_COMPACT);
	st->ev.len += n;
	json_decref(j);
	if (gb_buf_puts(&st->ev, eol) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 502,
		    "converted event larger than %lu bytes",
		    (unsigned long)GB_STREAM_EVENTMAX);
	return gb_stream_flush(st, err);
}

static int
emit_json(struct gb_stream *st, json_t *j, struct gb_err *err)
{
	return gb_stream_emit(st, NULL, j, err);
}

static int
emit_raw(struct gb_stream *st, const char *s, struct gb_err *err)
{
	gb_buf_reset(&st->ev);
	if (gb_buf_puts(&st->ev, s) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	return gb_stream_flush(st, err);
}

/* The envelope every OpenAI chunk shares. Takes choices. */
static json_t *
envelope(struct gb_stream *st, json_t *choices)
{
	json_t *c;

	c = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", st->id, "object",
	    "chat.completion.chunk", "created", st->created, "model",
	    st->model != NULL ? st->model : "gemini", "choices", choices);
	if (c != NULL && st->o.include_usage)
		json_object_set_new(c, "usage", json_null());
	return c;
}

/* One chunk with one choice. Takes delta. */
static int
emit_choice(struct gb_stream *st, int idx, json_t *delta, const char *finish,
    struct gb_err *err)
{
	json_t *choice;

	choice = json_pack("{s:i,s:o,s:n,s:s?}", "index", idx, "delta",
	    delta, "logprobs", "finish_reason", finish);
	if (choice == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	return emit_json(st, envelope(st, json_pack("[o]", choice)), err);
}

static int
send_role(struct gb_stream *st, int idx, struct gb_err *err)
{
	if (st->ch[idx].seen)
		return 0;
	st->ch[idx].seen = 1;
	if (NATIVE(st))
		return 0;
	return emit_choice(st, idx, json_pack("{s:s,s:s}", "role",
	    "assistant", "content", ""), NULL, err);
}

/*
 * The upstream broke: the error event (and [DONE] for OpenAI). j is the
 * event to send (taken); msg what the driver reports.
 */
static int
fail_with(struct gb_stream *st, json_t *j, int status, const char *msg,
    struct gb_err *err)
{
	struct gb_err e2;

	if (st->over || st->dead) {
		json_decref(j);
		return gb_err_set(err, GB_EXIT_TEMP, status, "%s", msg);
	}
	st->over = 1;
	if (emit_json(st, j, &e2) == -1 ||
	    (!NATIVE(st) && emit_raw(st, "data: [DONE]\n\n", &e2) == -1)) {
		*err = e2;
		return -1;
	}
	return gb_err_set(err, GB_EXIT_TEMP, status, "%s", msg);
}

int
gb_stream_fail(struct gb_stream *st, int status, const char *msg,
    const char *code, struct gb_err *err)
{
	json_t *j;

	if (RESPONSES(st))
		return gb_stream_resp_fail(st, status, msg, err);
	if (ANTH(st))
		return gb_stream_anth_fail(st, status, msg, err);
	if (NATIVE(st))
		j = gb_gemini_error(status, msg);
	else
		j = gb_openai_error(status, msg, code);
	return fail_with(st, j, status, msg, err);
}

/* An upstream event that is an error object (or [error]). */
static int
upstream_error(struct gb_stream *st, json_t *root, const json_t *gerr,
    struct gb_err *err)
{
	json_t *j;
	const char *m = jstr(gerr, "message");
	json_int_t code = json_integer_value(json_object_get(gerr, "code"));
	int status = code >= 400 && code <= 599 ? (int)code : 500;
	int ostatus;
	char *dump, msg[GB_ERR_MSGSIZE];

	snprintf(msg, sizeof(msg), "upstream error in stream: %s",
	    m != NULL ? m : "(no message)");
	if (RESPONSES(st))
		return gb_stream_resp_fail(st, status, msg, err);
	if (ANTH(st))
		return gb_stream_anth_fail(st, status, msg, err);
	if (NATIVE(st)) {
		/* Gemini's own error object, as it came */
		j = json_pack("{s:O}", "error", gerr);
	} else {
		dump = json_dumps(root, JSON_COMPACT);
		j = gb_gemini_error_to_openai(status, dump != NULL ? dump : "",
		    dump != NULL ? strlen(dump) : 0, &ostatus);
		free(dump);
	}
	return fail_with(st, j, status, msg, err);
}

static int
has_grounding(const json_t *cand)
{
	return json_is_array(json_object_get(json_object_get(cand,
	    "groundingMetadata"), "groundingChunks"));
}

/* Map a candidate's finish reason; NULL when it has none. */
static const char *
finish_of(const struct choice *c, const json_t *cand)
{
	const char *r = jstr(cand, "finishReason");

	if (r == NULL || *r == '\0')
		return NULL;
	return gb_parts_finish(r, c->saw_call);
}

int
gb_stream_oom(struct gb_err *err)
{
	return gb_err_set(err, GB_EXIT_TEMP, 500, "%s", errno == E2BIG ?
	    "converted event too large" : "out of memory");
}

/* The walk of a candidate's parts failed (errno as parts.h says). */
static int
walk_failed(struct gb_err *err)
{
	if (errno == EINVAL)
		return gb_err_set(err, GB_EXIT_TEMP, 502, "%s",
		    GB_PARTS_BAD_IMAGE);
	return gb_stream_oom(err);
}

/* What the walk's cut (send_delta) needs of an OpenAI-mode candidate. */
struct cut {
	struct gb_stream *st;
	int		 idx;
	struct gb_err	*err;
	int		 failed;	/* err is set: keep it */
};

/*
 * Send what the walk has gathered of a choice as one delta, if
 * anything, and empty it: at the end of the candidate's parts, and
 * around each image, which so goes out whole in a delta of its own
 * (content with its markdown, images with its entry).
 */
static int
send_delta(void *arg, struct gb_parts *p)
{
	struct cut *a = arg;
	json_t *delta;

	if (p->calls != NULL)
		a->st->ch[a->idx].saw_call = 1;
	if (p->content.len == 0 && p->reasoning.len == 0 && p->calls == NULL &&
	    p->images == NULL)
		return 0;
	if ((delta = json_object()) == NULL) {
		errno = ENOMEM;
		gb_stream_oom(a->err);
		a->failed = 1;
		return -1;
	}
	if (p->reasoning.len > 0)
		json_object_set_new(delta, "reasoning_content",
		    json_stringn(p->reasoning.data, p->reasoning.len));
	if (p->content.len > 0)
		json_object_set_new(delta, "content",
		    json_stringn(p->content.data, p->content.len));
	if (p->images != NULL)
		json_object_set(delta, "images", p->images);
	if (p->calls != NULL)
		json_object_set(delta, "tool_calls", p->calls);
	gb_parts_clear(p);
	if (emit_choice(a->st, a->idx, delta, NULL, a->err) == -1) {
		a->failed = 1;
		return -1;
	}
	return 0;
}

/*
 * One candidate of an OpenAI-mode chunk: its parts by the walk the whole
 * answer uses too (parts.h), the source list when the choice finishes.
 */
static int
openai_candidate(struct gb_stream *st, int idx, json_t *cand,
    struct gb_err *err)
{
	struct choice *c = &st->ch[idx];
	struct gb_parts p;
	struct gb_parts_opts po;
	struct cut cut;
	int rc = -1, finishing;

	gb_parts_init(&p, GB_STREAM_EVENTMAX);
	if (send_role(st, idx, err) == -1)
		goto out;
	if (has_grounding(cand)) {
		json_decref(c->ground);
		c->ground = json_incref(cand);
	}
	/* whether it finishes is known now; the reason waits for the calls */
	finishing = !c->finished && finish_of(c, cand) != NULL;
	po.show_thinking = st->o.show_thinking;
	po.next_index = &c->next_tool;
	po.links = finishing && st->o.search_links ? c->ground : NULL;
	cut.st = st;
	cut.idx = idx;
	cut.err = err;
	cut.failed = 0;
	if (gb_parts_walk_cut(&p, cand, &po, send_delta, &cut) == -1 ||
	    send_delta(&cut, &p) == -1) {
		if (!cut.failed)
			walk_failed(err);
		goto out;
	}
	if (finishing) {
		c->finished = 1;
		if (emit_choice(st, idx, json_object(), finish_of(c, cand),
		    err) == -1)
			goto out;
	}
	rc = 0;
out:
	gb_parts_free(&p);
	return rc;
}

/*
 * One candidate of a native-mode chunk, changed in place: code and
 * result parts become text parts with the renderings, and the source
 * list is added as a last text part of the finishing chunk.
 */
static int
native_candidate(struct gb_stream *st, int idx, json_t *cand,
    struct gb_err *err)
{
	struct choice *c = &st->ch[idx];
	struct gb_buf text;
	json_t *content, *parts, *part, *v;
	const char *key;
	size_t i;
	int rc = -1, finishing;

	gb_buf_init(&text, GB_STREAM_EVENTMAX);
	c->seen = 1;
	parts = json_object_get(json_object_get(cand, "content"), "parts");
	json_array_foreach(parts, i, part) {
		gb_buf_reset(&text);
		if ((v = gb_parts_code(part, &key)) != NULL) {
			if (gb_gemini_render_code(v, &text) == -1)
				goto nomem;
		} else if ((v = gb_parts_result(part, &key)) != NULL) {
			if (gb_gemini_render_result(v, &text) == -1)
				goto nomem;
		} else
			continue;
		json_object_del(part, key);
		if (json_object_set_new(part, "text",
		    json_stringn(text.data, text.len)) == -1)
			goto nomem;
	}
	if (has_grounding(cand)) {
		json_decref(c->ground);
		c->ground = json_incref(cand);
	}
	finishing = !c->finished && finish_of(c, cand) != NULL;
	if (finishing && st->o.search_links && c->ground != NULL) {
		gb_buf_reset(&text);
		if (gb_gemini_render_search(c->ground, &text) == -1)
			goto nomem;
		if (!json_is_object(content = json_object_get(cand,
		    "content"))) {
			content = json_object();
			if (json_object_set_new(cand, "content", content) == -1)
				goto nomem;
		}
		if (!json_is_array(parts = json_object_get(content,
		    "parts"))) {
			parts = json_array();
			if (json_object_set_new(content, "parts", parts) == -1)
				goto nomem;
		}
		if (json_object_get(content, "role") == NULL)
			json_object_set_new(content, "role",
			    json_string("model"));
		if (json_array_append_new(parts, json_pack("{s:s%}", "text",
		    text.data, text.len)) == -1)
			goto nomem;
	}
	if (finishing)
		c->finished = 1;
	rc = 0;
	goto out;
nomem:
	gb_stream_oom(err);
out:
	gb_buf_free(&text);
	return rc;
}

/*
 * Candidate 0 in a dialect whose answer is one candidate's (Responses,
 * Anthropic): its parts by the walk, thoughts always (they come only
 * when asked for), handed to the dialect with the finish reason when
 * it finishes. Search links are rendered into Anthropic's text at the
 * finish; the Responses dialect makes annotations of them instead.
 */
static int
one_candidate(struct gb_stream *st, json_t *cand, struct gb_err *err)
{
	struct choice *c = &st->ch[0];
	struct gb_parts p;
	struct gb_parts_opts po;
	const char *fr = jstr(cand, "finishReason");
	int finishing, rc;

	c->seen = 1;
	if (has_grounding(cand)) {
		json_decref(c->ground);
		c->ground = json_incref(cand);
	}
	finishing = fr != NULL && *fr != '\0' && !c->finished;
	po.show_thinking = 1;
	po.next_index = NULL;
	po.links = ANTH(st) && finishing && st->o.search_links ? c->ground :
	    NULL;
	gb_parts_init(&p, GB_STREAM_EVENTMAX);
	if (gb_parts_walk(&p, cand, &po) == -1)
		rc = walk_failed(err);
	else {
		if (finishing)
			c->finished = 1;
		rc = (RESPONSES(st) ? gb_stream_resp_parts :
		    gb_stream_anth_parts)(st, &p, finishing ? fr : NULL, err);
	}
	gb_parts_free(&p);
	return rc;
}

int
gb_stream_chunk(struct gb_stream *st, json_t *chunk, struct gb_err *err)
{
	json_t *cands, *cand, *u, *e;
	const char *mv, *block;
	json_int_t idx;
	size_t i;

	if (st->over || st->dead)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "stream is over");
	/* an error object, or Google's array-wrapped one */
	e = json_object_get(json_is_array(chunk) ?
	    json_array_get(chunk, 0) : chunk, "error");
	if (e != NULL)
		return upstream_error(st, chunk, e, err);
	if (!json_is_object(chunk))
		return gb_stream_fail(st, 502,
		    "upstream stream event is not a JSON object", NULL, err);
	if (st->model == NULL && (mv = jstr(chunk, "modelVersion")) != NULL &&
	    *mv != '\0' && (st->model = strdup(mv)) == NULL)
		return gb_stream_oom(err);
	if (json_is_object(u = json_object_get(chunk, "usageMetadata"))) {
		json_decref(st->usage);
		st->usage = json_incref(u);
	}
	cands = json_object_get(chunk, "candidates");
	json_array_foreach(cands, i, cand) {
		if (!json_is_object(cand))
			continue;
		u = json_object_get(cand, "index");
		idx = json_is_integer(u) ? json_integer_value(u) :
		    (json_int_t)i;
		if (idx < 0 || idx >= GB_STREAM_MAXCHOICES) {
			char m[96];

			snprintf(m, sizeof(m), "upstream candidate index %lld "
			    "out of range", (long long)idx);
			return gb_stream_fail(st, 502, m, NULL, err);
		}
		if (ONE(st)) {
			/* the answer is one candidate's */
			if (idx == 0 && one_candidate(st, cand, err) == -1)
				return -1;
		} else if ((NATIVE(st) ? native_candidate :
		    openai_candidate)(st, (int)idx, cand, err) == -1)
			return -1;
	}
	block = jstr(json_object_get(chunk, "promptFeedback"), "blockReason");
	if (json_array_size(cands) == 0 && block != NULL && !st->blocked) {
		/* the prompt itself was refused: one choice, content_filter */
		st->blocked = 1;
		if (!NATIVE(st) && !ONE(st) && !st->ch[0].finished) {
			if (send_role(st, 0, err) == -1)
				return -1;
			st->ch[0].finished = 1;
			if (emit_choice(st, 0, json_object(), "content_filter",
			    err) == -1)
				return -1;
		}
	}
	if (NATIVE(st))
		return emit_json(st, json_incref(chunk), err);
	return 0;
}

int
gb_stream_event(struct gb_stream *st, const char *data, size_t n,
    struct gb_err *err)
{
	json_error_t je;
	json_t *j;
	char m[GB_ERR_MSGSIZE];
	int rc;

	if (st->over || st->dead)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "stream is over");
	if ((j = json_loadb(data, n, JSON_ALLOW_NUL, &je)) == NULL) {
		snprintf(m, sizeof(m), "upstream stream event is not JSON: %s",
		    je.text);
		return gb_stream_fail(st, 502, m, NULL, err);
	}
	rc = gb_stream_chunk(st, j, err);
	json_decref(j);
	return rc;
}

int
gb_stream_complete(const struct gb_stream *st)
{
	size_t i;
	int seen = 0, open = 0;

	for (i = 0; i < GB_NELEM(st->ch); i++) {
		seen += st->ch[i].seen;
		open += st->ch[i].seen && !st->ch[i].finished;
	}
	return st->blocked || (seen > 0 && open == 0);
}

int
gb_stream_end(struct gb_stream *st, struct gb_err *err)
{
	json_t *u, *empty;

	if (st->over || st->dead)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "stream is over");
	if (!gb_stream_complete(st))
		return gb_stream_fail(st, 502,
		    "upstream stream ended before a finish reason", NULL, err);
	if (RESPONSES(st))
		return gb_stream_resp_end(st, err);
	if (ANTH(st))
		return gb_stream_anth_end(st, err);
	st->over = 1;
	if (NATIVE(st))
		return 0;
	if (st->o.include_usage) {
		if (st->usage != NULL)
			u = gb_gemini_usage(st->usage);
		else {
			empty = json_object();
			u = gb_gemini_usage(empty);
			json_decref(empty);
		}
		if (u == NULL)
			return gb_stream_oom(err);
		if (emit_json(st, json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}",
		    "id", st->id, "object", "chat.completion.chunk",
		    "created", st->created, "model", st->model != NULL ?
		    st->model : "gemini", "choices", "usage", u), err) == -1)
			return -1;
	}
	return emit_raw(st, "data: [DONE]\n\n", err);
}

int
gb_stream_keepalive(struct gb_stream *st, struct gb_err *err)
{
	if (st->over || st->dead)
		return 0;
	if (ANTH(st))
		return gb_stream_anth_ping(st, err);
	return emit_raw(st, NATIVE(st) ? ": keep-alive\r\n\r\n" :
	    ": keep-alive\n\n", err);
}
