/*
 * convert_resp.c - Gemini GenerateContentResponse -> OpenAI
 * chat.completion.
 *
 * One choice per candidate, ordered by the candidate's index (a
 * candidate without one takes its position). Each candidate's parts
 * become the message by the one walk the stream uses too (parts.h):
 * text joined with nothing in between, thought text as
 * reasoning_content when SHOW_THINKING_PROCESS, code and results
 * rendered into the text, function calls as tool calls whose ids carry
 * their thoughtSignature, inlineData images as markdown data URLs in the
 * text and, the same URLs, an "images" array beside content; search
 * links are appended for "-search" models when SHOW_SEARCH_LINK.
 * content is null when nothing textual came back.
 * A prompt blocked before any candidate gives one choice with content
 * null and finish_reason content_filter.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convert.h"
#include "gemini.h"
#include "parts.h"

#define TEXT_MAX	(64 * 1024 * 1024)

struct ctx {
	const struct gb_config *cfg;
	struct gb_err	*err;
	int		 search;
};

static int
nomem(struct ctx *c)
{
	return gb_err_set(c->err, GB_EXIT_TEMP, 500, "out of memory");
}

/* One token of logprobsResult -> {token, logprob, bytes}. */
static json_t *
token_logprob(const json_t *t)
{
	const char *tok = json_string_value(json_object_get(t, "token"));
	json_t *o, *bytes;
	size_t i;

	if (tok == NULL)
		tok = "";
	bytes = json_array();
	for (i = 0; tok[i] != '\0'; i++)
		json_array_append_new(bytes, json_integer(
		    (unsigned char)tok[i]));
	o = json_pack("{s:s,s:f,s:o}", "token", tok, "logprob",
	    json_number_value(json_object_get(t, "logProbability")), "bytes",
	    bytes);
	return o;
}

static json_t *
logprobs(const json_t *lr)
{
	const json_t *chosen = json_object_get(lr, "chosenCandidates"), *t;
	const json_t *top = json_object_get(lr, "topCandidates"), *tt;
	json_t *content, *e, *tl;
	size_t i, j;

	if (!json_is_array(chosen))
		return json_null();
	content = json_array();
	json_array_foreach(chosen, i, t) {
		e = token_logprob(t);
		tl = json_array();
		json_array_foreach(json_object_get(json_array_get(top, i),
		    "candidates"), j, tt)
			json_array_append_new(tl, token_logprob(tt));
		json_object_set_new(e, "top_logprobs", tl);
		json_array_append_new(content, e);
	}
	return json_pack("{s:o,s:n}", "content", content, "refusal");
}

static json_t *
choice(struct ctx *c, const json_t *cand, size_t pos)
{
	struct gb_parts p;
	struct gb_parts_opts po;
	const json_t *idx;
	json_t *ch = NULL, *msg;
	const char *fr;

	gb_parts_init(&p, TEXT_MAX);
	po.show_thinking = c->cfg->show_thinking;
	po.next_index = NULL;
	po.links = c->search ? cand : NULL;
	if (gb_parts_walk(&p, cand, &po) == -1) {
		if (errno == E2BIG)
			gb_err_set(c->err, GB_EXIT_USAGE, 502,
			    "candidates[%zu]: text longer than %d bytes", pos,
			    TEXT_MAX);
		else if (errno == EINVAL)
			gb_err_set(c->err, GB_EXIT_USAGE, 502,
			    "candidates[%zu]: %s", pos, GB_PARTS_BAD_IMAGE);
		else
			nomem(c);
		goto out;
	}
	msg = json_pack("{s:s}", "role", "assistant");
	if (p.textual)
		json_object_set_new(msg, "content", json_stringn(
		    p.content.data != NULL ? p.content.data : "",
		    p.content.len));
	else
		json_object_set_new(msg, "content", json_null());
	if (p.images != NULL)
		json_object_set(msg, "images", p.images);
	if (p.reasoning.len > 0)
		json_object_set_new(msg, "reasoning_content",
		    json_stringn(p.reasoning.data, p.reasoning.len));
	if (p.calls != NULL)
		json_object_set(msg, "tool_calls", p.calls);
	fr = gb_parts_finish(json_string_value(json_object_get(cand,
	    "finishReason")), p.calls != NULL);
	idx = json_object_get(cand, "index");
	ch = json_pack("{s:I,s:o,s:o,s:s}", "index", json_is_integer(idx) ?
	    json_integer_value(idx) : (json_int_t)pos, "message", msg,
	    "logprobs", logprobs(json_object_get(cand, "logprobsResult")),
	    "finish_reason", fr);
	if (ch == NULL)
		nomem(c);
out:
	gb_parts_free(&p);
	return ch;
}

static int
cmp_index(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a,
	    "index"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b,
	    "index"));

	return x < y ? -1 : x > y;
}

/* "chatcmpl-" and 24 random hex digits. */
static json_t *
completion_id(void)
{
	char id[9 + 24 + 1];

	if (gb_random_id(id, sizeof(id), "chatcmpl-", 24) == -1)
		return NULL;
	return json_string(id);
}

json_t *
gb_convert_chat_response(const json_t *resp, const char *model,
    const struct gb_config *cfg, struct gb_err *err)
{
	struct ctx c;
	const json_t *cands, *cand, *e;
	json_t *choices, **v = NULL, *out, *usage;
	const char *block;
	size_t i, n, ml = strlen(model);

	c.cfg = cfg;
	c.err = err;
	c.search = cfg->show_search_link && ml >= 7 &&
	    strcmp(model + ml - 7, "-search") == 0;
	if (!json_is_object(resp)) {
		gb_err_set(err, GB_EXIT_USAGE, 400,
		    "response: expected a JSON object");
		return NULL;
	}
	if (json_is_object(e = json_object_get(resp, "error"))) {
		gb_err_set(err, GB_EXIT_USAGE, 400, "response is an upstream "
		    "error: %s", json_string_value(json_object_get(e,
		    "message")) != NULL ? json_string_value(json_object_get(e,
		    "message")) : "(no message)");
		return NULL;
	}
	cands = json_object_get(resp, "candidates");
	if (cands != NULL && !json_is_array(cands)) {
		gb_err_set(err, GB_EXIT_USAGE, 400,
		    "candidates: expected an array");
		return NULL;
	}
	if ((choices = json_array()) == NULL) {
		nomem(&c);
		return NULL;
	}
	n = json_array_size(cands);
	if (n == 0) {
		/* nothing came back: a blocked prompt, or an empty answer */
		block = json_string_value(json_object_get(json_object_get(resp,
		    "promptFeedback"), "blockReason"));
		json_array_append_new(choices, json_pack("{s:i,s:{s:s,s:n},"
		    "s:n,s:s}", "index", 0, "message", "role", "assistant",
		    "content", "logprobs", "finish_reason", block != NULL ?
		    "content_filter" : "stop"));
	} else if ((v = calloc(n, sizeof(*v))) == NULL) {
		json_decref(choices);
		nomem(&c);
		return NULL;
	}
	json_array_foreach(cands, i, cand) {
		if (!json_is_object(cand)) {
			gb_err_set(err, GB_EXIT_USAGE, 400,
			    "candidates[%zu]: expected an object", i);
			goto fail;
		}
		if ((v[i] = choice(&c, cand, i)) == NULL)
			goto fail;
	}
	if (n > 0) {
		qsort(v, n, sizeof(*v), cmp_index);
		for (i = 0; i < n; i++) {
			json_array_append_new(choices, v[i]);
			v[i] = NULL;
		}
	}
	free(v);
	v = NULL;
	usage = gb_gemini_usage(json_object_get(resp, "usageMetadata"));
	if (usage == NULL)
		usage = json_pack("{s:i,s:i,s:i}", "prompt_tokens", 0,
		    "completion_tokens", 0, "total_tokens", 0);
	out = json_pack("{s:o,s:s,s:I,s:s,s:o,s:o}", "id", completion_id(),
	    "object", "chat.completion", "created", (json_int_t)time(NULL),
	    "model", model, "choices", choices, "usage", usage);
	if (out == NULL)
		nomem(&c);
	return out;
fail:
	for (i = 0; v != NULL && i < n; i++)
		json_decref(v[i]);
	free(v);
	json_decref(choices);
	return NULL;
}
