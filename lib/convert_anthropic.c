/*
 * convert_anthropic.c - the Anthropic Messages API in front of Gemini:
 * a Messages request -> Gemini GenerateContentRequest (also wrapped for
 * countTokens), a Gemini GenerateContentResponse -> a message, and the
 * shapes the stream and gb-serve share (anthropic.h).
 *
 * A request is read into the chat.completions request it means, which
 * the chat conversion turns into Gemini's, as the Responses API's is:
 * system (string or text blocks) and system messages -> system
 * messages; user blocks -> user parts, each tool_result -> a tool
 * message (is_error -> {"error": text}; its images follow in a user
 * message); assistant blocks -> text and tool calls, a thinking
 * block's signature (or a redacted_thinking block's data) going with
 * the next tool_use as its thought signature. Messages name the
 * request's own fields: "messages[2].content[3]" is the block it was.
 *
 * The answer is the candidate with the lowest index: a thinking block
 * (thought text, with the first call's signature), or a
 * redacted_thinking block holding that signature when no thought text
 * came; a text block; a tool_use block per call. An image the model
 * drew (inlineData) has no block of its own in a Messages answer: it is
 * in the text as a markdown data URL, "![image](data:MIME;base64,...)",
 * byte for byte, where it came (parts.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "convert.h"
#include "gemini.h"
#include "parts.h"

#define BAD(r, ...)	gb_err_set((r)->err, GB_EXIT_USAGE, 400, __VA_ARGS__)
#define TEXT_MAX	(64 * 1024 * 1024)
#define FROM_SYSTEM	SIZE_MAX

struct areq {
	struct gb_err	*err;
	json_t		*msgs;		/* the chat messages */
	json_t		*from;		/* per message: [msg index, [block
					   index of each part]] */
	json_t		*after;		/* images of the tool results */
	const char	*sig;		/* a thinking block's signature */
	json_t		*tools;
};

static int
nomem(struct areq *r)
{
	return gb_err_set(r->err, GB_EXIT_TEMP, 500, "out of memory");
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int
given(const json_t *v)
{
	return v != NULL && !json_is_null(v);
}

/* Append a chat message (taken) from messages[i], parts from blocks. */
static int
add_msg(struct areq *r, size_t i, json_t *m, json_t *blocks)
{
	if (m == NULL || json_array_append_new(r->msgs, m) == -1 ||
	    json_array_append_new(r->from, json_pack("[I,o]", (json_int_t)(
	    i == FROM_SYSTEM ? -1 : (json_int_t)i), blocks != NULL ? blocks :
	    json_array())) == -1)
		return nomem(r);
	return 0;
}

/* "data:<media_type>;base64,<data>" of a base64 source (new ref). */
static json_t *
data_url(struct areq *r, size_t i, size_t j, const json_t *src)
{
	const char *mt = jstr(src, "media_type"), *d = jstr(src, "data");
	json_t *s;
	char *u;

	if (mt == NULL || d == NULL) {
		BAD(r, "messages[%zu].content[%zu].source: a base64 source "
		    "needs media_type and data", i, j);
		return NULL;
	}
	if (asprintf(&u, "data:%s;base64,%s", mt, d) == -1) {
		nomem(r);
		return NULL;
	}
	s = json_string(u);
	free(u);
	return s;
}

/*
 * An image or document block -> a chat part (new reference): base64
 * sources as data URLs, url sources fetched by the chat conversion,
 * a text document as text.
 */
static json_t *
media_part(struct areq *r, size_t i, size_t j, const json_t *b, int doc)
{
	const json_t *src = json_object_get(b, "source"), *c, *x;
	const char *st = jstr(src, "type");
	json_t *u, *txt;
	size_t k;

	if (st == NULL) {
		BAD(r, "messages[%zu].content[%zu].source.type: missing", i, j);
		return NULL;
	}
	if (strcmp(st, "base64") == 0) {
		if ((u = data_url(r, i, j, src)) == NULL)
			return NULL;
		if (doc)
			return json_pack("{s:s,s:{s:o}}", "type", "file", "file",
			    "file_data", u);
		return json_pack("{s:s,s:{s:o}}", "type", "image_url",
		    "image_url", "url", u);
	}
	if (strcmp(st, "url") == 0 && jstr(src, "url") != NULL)
		return json_pack("{s:s,s:{s:s}}", "type", "image_url",
		    "image_url", "url", jstr(src, "url"));
	if (doc && strcmp(st, "text") == 0 && jstr(src, "data") != NULL)
		return json_pack("{s:s,s:s}", "type", "text", "text",
		    jstr(src, "data"));
	if (doc && strcmp(st, "content") == 0) {
		if ((txt = json_string("")) == NULL) {
			nomem(r);
			return NULL;
		}
		c = json_object_get(src, "content");
		if (json_is_string(c))
			json_string_set(txt, json_string_value(c));
		json_array_foreach(c, k, x) {
			const char *t = jstr(x, "text");
			char *cat;

			if (t == NULL)
				continue;
			if (asprintf(&cat, "%s%s", json_string_value(txt), t) ==
			    -1) {
				json_decref(txt);
				nomem(r);
				return NULL;
			}
			json_string_set(txt, cat);
			free(cat);
		}
		return json_pack("{s:s,s:o}", "type", "text", "text", txt);
	}
	BAD(r, "messages[%zu].content[%zu].source.type: \"%s\" is not "
	    "supported (send base64%s)", i, j, st, doc ? ", text" : " or url");
	return NULL;
}

/* A tool_result's content -> the tool message's text (new ref). */
static json_t *
result_text(struct areq *r, size_t i, size_t j, const json_t *b)
{
	const json_t *c = json_object_get(b, "content"), *x;
	json_t *out, *img, *eo;
	char *acc = strdup(""), *cat;
	const char *type;
	size_t k;

	if (acc == NULL) {
		nomem(r);
		return NULL;
	}
	if (json_is_string(c)) {
		free(acc);
		if ((acc = strdup(json_string_value(c))) == NULL) {
			nomem(r);
			return NULL;
		}
	} else if (given(c) && !json_is_array(c)) {
		free(acc);
		BAD(r, "messages[%zu].content[%zu].content: expected a string "
		    "or an array of blocks", i, j);
		return NULL;
	}
	json_array_foreach(c, k, x) {
		type = jstr(x, "type") != NULL ? jstr(x, "type") : "";
		if (strcmp(type, "text") == 0 && jstr(x, "text") != NULL) {
			if (asprintf(&cat, "%s%s", acc, jstr(x, "text")) ==
			    -1) {
				free(acc);
				nomem(r);
				return NULL;
			}
			free(acc);
			acc = cat;
		} else if (strcmp(type, "image") == 0) {
			/* Gemini takes no images in a function response */
			if ((img = media_part(r, i, j, x, 0)) == NULL) {
				free(acc);
				return NULL;
			}
			json_array_append_new(r->after, img);
		} else {
			free(acc);
			BAD(r, "messages[%zu].content[%zu].content[%zu]: "
			    "block type \"%s\" not supported in a tool result",
			    i, j, k, type);
			return NULL;
		}
	}
	if (json_is_true(json_object_get(b, "is_error"))) {
		eo = json_pack("{s:s}", "error", acc);
		cat = eo != NULL ? json_dumps(eo, JSON_COMPACT) : NULL;
		json_decref(eo);
		free(acc);
		if ((acc = cat) == NULL) {
			nomem(r);
			return NULL;
		}
	}
	out = json_string(acc);
	free(acc);
	if (out == NULL)
		nomem(r);
	return out;
}

/* The images of the tool results just sent, as the user turn after. */
static int
flush_after(struct areq *r, size_t i)
{
	json_t *parts = r->after;

	if (json_array_size(parts) == 0)
		return 0;
	if ((r->after = json_array()) == NULL) {
		r->after = parts;
		return nomem(r);
	}
	return add_msg(r, i, json_pack("{s:s,s:o}", "role", "user", "content",
	    parts), NULL);
}

/*
 * One block of a user or system message -> a chat part (new reference),
 * or NULL with *skip set for a block that makes no part.
 */
static json_t *
user_part(struct areq *r, size_t i, size_t j, const json_t *b)
{
	const char *type = jstr(b, "type");

	if (json_is_string(b))
		return json_pack("{s:s,s:O}", "type", "text", "text", b);
	if (type == NULL) {
		BAD(r, "messages[%zu].content[%zu].type: missing", i, j);
		return NULL;
	}
	if (strcmp(type, "text") == 0) {
		if (jstr(b, "text") == NULL) {
			BAD(r, "messages[%zu].content[%zu].text: expected a "
			    "string", i, j);
			return NULL;
		}
		return json_pack("{s:s,s:s}", "type", "text", "text",
		    jstr(b, "text"));
	}
	if (strcmp(type, "image") == 0)
		return media_part(r, i, j, b, 0);
	if (strcmp(type, "document") == 0)
		return media_part(r, i, j, b, 1);
	BAD(r, "messages[%zu].content[%zu].type: block type \"%s\" not "
	    "supported here", i, j, type);
	return NULL;
}

/* A user (or system) message: parts, tool results in their place. */
static int
message_user(struct areq *r, size_t i, const char *role, const json_t *c)
{
	const json_t *b;
	json_t *parts = NULL, *blocks = NULL, *p, *t;
	const char *type, *id;
	size_t j;

	if (json_is_string(c))
		return add_msg(r, i, json_pack("{s:s,s:O}", "role", role,
		    "content", c), NULL);
	if (!json_is_array(c))
		return BAD(r, "messages[%zu].content: expected a string or an "
		    "array of blocks", i);
	json_array_foreach(c, j, b) {
		type = jstr(b, "type");
		if (type != NULL && strcmp(type, "tool_result") == 0 &&
		    strcmp(role, "user") == 0) {
			if (parts != NULL && add_msg(r, i, json_pack(
			    "{s:s,s:o}", "role", role, "content", parts),
			    blocks) == -1)
				return -1;
			parts = blocks = NULL;
			if ((id = jstr(b, "tool_use_id")) == NULL)
				return BAD(r, "messages[%zu].content[%zu]."
				    "tool_use_id: missing", i, j);
			if ((t = result_text(r, i, j, b)) == NULL ||
			    add_msg(r, i, json_pack("{s:s,s:s,s:o}", "role",
			    "tool", "tool_call_id", id, "content", t),
			    json_pack("[I]", (json_int_t)j)) == -1)
				return -1;
			continue;
		}
		if (flush_after(r, i) == -1)
			return -1;
		if ((p = user_part(r, i, j, b)) == NULL)
			goto fail;
		if (parts == NULL && ((parts = json_array()) == NULL ||
		    (blocks = json_array()) == NULL)) {
			json_decref(p);
			goto mem;
		}
		json_array_append_new(parts, p);
		json_array_append_new(blocks, json_integer((json_int_t)j));
	}
	if (parts != NULL && add_msg(r, i, json_pack("{s:s,s:o}", "role",
	    role, "content", parts), blocks) == -1)
		return -1;
	return flush_after(r, i);
mem:
	nomem(r);
fail:
	json_decref(parts);
	json_decref(blocks);
	return -1;
}

/* An assistant message: text parts, then its tool calls. */
static int
message_assistant(struct areq *r, size_t i, const json_t *c)
{
	const json_t *b, *in;
	json_t *parts, *blocks, *calls, *tc, *m;
	const char *type, *name, *id;
	char *args;
	size_t j;

	r->sig = NULL;
	if (json_is_string(c))
		return add_msg(r, i, json_pack("{s:s,s:O}", "role", "assistant",
		    "content", c), NULL);
	if (!json_is_array(c))
		return BAD(r, "messages[%zu].content: expected a string or an "
		    "array of blocks", i);
	parts = json_array();
	blocks = json_array();
	calls = json_array();
	json_array_foreach(c, j, b) {
		type = jstr(b, "type") != NULL ? jstr(b, "type") : "";
		if (strcmp(type, "text") == 0 && jstr(b, "text") != NULL) {
			json_array_append_new(parts, json_pack("{s:s,s:s}",
			    "type", "text", "text", jstr(b, "text")));
			json_array_append_new(blocks, json_integer(
			    (json_int_t)j));
		} else if (strcmp(type, "thinking") == 0) {
			if (jstr(b, "signature") != NULL &&
			    *jstr(b, "signature") != '\0')
				r->sig = jstr(b, "signature");
		} else if (strcmp(type, "redacted_thinking") == 0) {
			if (jstr(b, "data") != NULL && *jstr(b, "data") != '\0')
				r->sig = jstr(b, "data");
		} else if (strcmp(type, "tool_use") == 0) {
			name = jstr(b, "name");
			id = jstr(b, "id");
			in = json_object_get(b, "input");
			if (name == NULL || id == NULL) {
				BAD(r, "messages[%zu].content[%zu]: a tool_use "
				    "needs an id and a name", i, j);
				goto fail;
			}
			args = given(in) ? json_dumps(in, JSON_COMPACT |
			    JSON_ENCODE_ANY) : NULL;
			tc = json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type",
			    "function", "function", "name", name, "arguments",
			    args != NULL ? args : "{}");
			free(args);
			if (tc != NULL && r->sig != NULL &&
			    json_array_size(calls) == 0)
				json_object_set_new(tc, "extra_content",
				    json_pack("{s:{s:s}}", "google",
				    "thought_signature", r->sig));
			json_array_append_new(calls, tc);
		}
		/* server tool blocks and their results: nothing to send */
	}
	m = json_pack("{s:s,s:o}", "role", "assistant", "content",
	    json_array_size(parts) > 0 ? parts : json_null());
	if (json_array_size(parts) == 0)
		json_decref(parts);
	if (m != NULL && json_array_size(calls) > 0)
		json_object_set(m, "tool_calls", calls);
	json_decref(calls);
	return add_msg(r, i, m, blocks);
fail:
	json_decref(parts);
	json_decref(blocks);
	json_decref(calls);
	return -1;
}

static int
messages(struct areq *r, const json_t *ms)
{
	const json_t *m;
	const char *role;
	size_t i;

	if (!json_is_array(ms))
		return BAD(r, "messages: %s", ms == NULL ? "missing" :
		    "expected an array");
	json_array_foreach(ms, i, m) {
		if (!json_is_object(m))
			return BAD(r, "messages[%zu]: expected an object", i);
		if ((role = jstr(m, "role")) == NULL)
			return BAD(r, "messages[%zu].role: missing", i);
		if (strcmp(role, "assistant") == 0) {
			if (message_assistant(r, i, json_object_get(m,
			    "content")) == -1)
				return -1;
		} else if (strcmp(role, "user") == 0 ||
		    strcmp(role, "system") == 0) {
			if (message_user(r, i, role, json_object_get(m,
			    "content")) == -1)
				return -1;
		} else
			return BAD(r, "messages[%zu].role: unknown role \"%s\"",
			    i, role);
	}
	return 0;
}

/*
 * Keywords Claude Code's schemas carry that Gemini's function schemas
 * do not take (the chat conversion drops $schema, additionalProperties
 * and the like after these).
 */
static const char *const schema_drop[] = {
	"propertyNames", "exclusiveMinimum", "exclusiveMaximum", NULL
};

/* Messages tools -> chat tools; web search unless functions come too. */
static int
tools(struct areq *r, const json_t *ts)
{
	const json_t *t;
	const char *type, *name;
	json_t *f;
	size_t i, nfunc = 0;
	int search = 0;

	if (!given(ts))
		return 0;
	if (!json_is_array(ts))
		return BAD(r, "tools: expected an array");
	json_array_foreach(ts, i, t) {
		type = jstr(t, "type");
		name = jstr(t, "name");
		if (type != NULL && strncmp(type, "web_search", 10) == 0) {
			search = 1;
			continue;
		}
		if (type != NULL && strcmp(type, "custom") != 0)
			continue;	/* Anthropic's own client tools */
		if (name == NULL || *name == '\0')
			return BAD(r, "tools[%zu].name: missing", i);
		f = json_pack("{s:s}", "name", name);
		if (jstr(t, "description") != NULL)
			json_object_set(f, "description",
			    json_object_get(t, "description"));
		if (json_is_object(json_object_get(t, "input_schema")))
			json_object_set_new(f, "parameters", gb_schema_clean(
			    json_object_get(t, "input_schema"), schema_drop));
		if (json_array_append_new(r->tools, json_pack("{s:s,s:o}",
		    "type", "function", "function", f)) == -1)
			return nomem(r);
		nfunc++;
	}
	/* Gemini refuses Google Search beside function declarations */
	if (search && nfunc == 0 && json_array_append_new(r->tools,
	    json_pack("{s:s}", "type", "google_search")) == -1)
		return nomem(r);
	return 0;
}

static int
tool_choice(struct areq *r, const json_t *tc, json_t *chat)
{
	const char *type = jstr(tc, "type");
	json_t *v;

	if (!given(tc))
		return 0;
	if (type == NULL)
		return BAD(r, "tool_choice.type: missing");
	if (strcmp(type, "auto") == 0 || strcmp(type, "none") == 0)
		v = json_string(type);
	else if (strcmp(type, "any") == 0)
		v = json_string("required");
	else if (strcmp(type, "tool") == 0) {
		if (jstr(tc, "name") == NULL)
			return BAD(r, "tool_choice.name: missing");
		v = json_pack("{s:s,s:{s:s}}", "type", "function", "function",
		    "name", jstr(tc, "name"));
	} else
		return BAD(r, "tool_choice.type: unknown type \"%s\"", type);
	json_object_set_new(chat, "tool_choice", v);
	return 0;
}

/* thinking and output_config.effort -> the chat request's thinking. */
static int
thinking(struct areq *r, const json_t *req, json_t *chat)
{
	const json_t *th = json_object_get(req, "thinking");
	const json_t *eff = json_object_get(json_object_get(req,
	    "output_config"), "effort");
	const char *type = jstr(th, "type");
	json_t *tc = NULL;

	if (given(th) && type == NULL)
		return BAD(r, "thinking.type: missing");
	if (given(eff)) {
		if (!json_is_string(eff))
			return BAD(r, "output_config.effort: expected a "
			    "string");
		json_object_set(chat, "reasoning_effort",
		    (json_t *)(uintptr_t)eff);
	}
	if (type == NULL)
		return 0;
	if (strcmp(type, "enabled") == 0) {
		tc = json_pack("{s:b}", "include_thoughts", 1);
		if (json_is_integer(json_object_get(th, "budget_tokens")))
			json_object_set(tc, "thinking_budget",
			    json_object_get(th, "budget_tokens"));
	} else if (strcmp(type, "adaptive") == 0)
		tc = json_pack("{s:b}", "include_thoughts", 1);
	else if (strcmp(type, "disabled") == 0) {
		if (!given(eff))
			json_object_set_new(chat, "reasoning_effort",
			    json_string("none"));
		return 0;
	} else
		return BAD(r, "thinking.type: unknown type \"%s\"", type);
	json_object_set_new(chat, "extra_body", json_pack("{s:{s:o}}",
	    "google", "thinking_config", tc));
	return 0;
}

/* The chat conversion's message names the request's field. */
static void
rename_fields(struct areq *r)
{
	static const char *const simple[] = {
		"reasoning_effort", "output_config.effort",
		"extra_body.google.thinking_config", "thinking",
		"stop", "stop_sequences",
		"tool_choice.function.name", "tool_choice.name",
	};
	char m[GB_ERR_MSGSIZE], *rest, *rest2;
	const json_t *f, *blocks;
	unsigned long long k, p;
	size_t i, n;

	if (strncmp(r->err->msg, "messages[", 9) == 0) {
		errno = 0;
		k = strtoull(r->err->msg + 9, &rest, 10);
		if (errno != 0 || *rest != ']' || k >= json_array_size(r->from))
			return;
		rest++;
		f = json_array_get(r->from, k);
		if (json_integer_value(json_array_get(f, 0)) < 0) {
			snprintf(m, sizeof(m), "system%s", rest);
			snprintf(r->err->msg, sizeof(r->err->msg), "%s", m);
			return;
		}
		blocks = json_array_get(f, 1);
		if (strncmp(rest, ".content[", 9) == 0) {
			p = strtoull(rest + 9, &rest2, 10);
			if (*rest2 == ']' && p < json_array_size(blocks)) {
				snprintf(m, sizeof(m), "messages[%lld].content"
				    "[%lld]%s", json_integer_value(
				    json_array_get(f, 0)), json_integer_value(
				    json_array_get(blocks, p)), rest2 + 1);
				snprintf(r->err->msg, sizeof(r->err->msg), "%s",
				    m);
				return;
			}
		}
		if (strncmp(rest, ".tool_call_id", 13) == 0 &&
		    json_array_size(blocks) == 1) {
			/* a tool message is one tool_result block */
			snprintf(m, sizeof(m), "messages[%lld].content[%lld]."
			    "tool_use_id%s", json_integer_value(json_array_get(
			    f, 0)), json_integer_value(json_array_get(blocks,
			    0)), rest + 13);
			snprintf(r->err->msg, sizeof(r->err->msg), "%s", m);
			return;
		}
		snprintf(m, sizeof(m), "messages[%lld]%s", json_integer_value(
		    json_array_get(f, 0)), rest);
		snprintf(r->err->msg, sizeof(r->err->msg), "%s", m);
		return;
	}
	for (i = 0; i < GB_NELEM(simple); i += 2) {
		n = strlen(simple[i]);
		if (strncmp(r->err->msg, simple[i], n) == 0) {
			snprintf(m, sizeof(m), "%s%s", simple[i + 1],
			    r->err->msg + n);
			snprintf(r->err->msg, sizeof(r->err->msg), "%s", m);
			return;
		}
	}
}

/* system: a string or text blocks, as the first system message. */
static int
system_prompt(struct areq *r, const json_t *s)
{
	const json_t *b;
	json_t *parts;
	size_t j;

	if (!given(s))
		return 0;
	if (json_is_string(s))
		return json_string_length(s) == 0 ? 0 : add_msg(r, FROM_SYSTEM,
		    json_pack("{s:s,s:O}", "role", "system", "content", s),
		    NULL);
	if (!json_is_array(s))
		return BAD(r, "system: expected a string or an array of text "
		    "blocks");
	if ((parts = json_array()) == NULL)
		return nomem(r);
	json_array_foreach(s, j, b) {
		if (jstr(b, "text") == NULL) {
			json_decref(parts);
			return BAD(r, "system[%zu]: expected a text block", j);
		}
		json_array_append_new(parts, json_pack("{s:s,s:s}", "type",
		    "text", "text", jstr(b, "text")));
	}
	return add_msg(r, FROM_SYSTEM, json_pack("{s:s,s:o}", "role",
	    "system", "content", parts), NULL);
}

json_t *
gb_convert_anthropic_request(const json_t *req, const struct gb_config *cfg,
    json_t **meta, struct gb_err *err)
{
	static const char *const same[] = {
		"model", "stream", "temperature", "top_p", "top_k",
		"max_tokens"
	};
	struct areq r;
	json_t *chat = NULL, *out = NULL;
	const json_t *v;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.err = err;
	if (meta != NULL)
		*meta = NULL;
	if (!json_is_object(req)) {
		BAD(&r, "request: expected a JSON object");
		return NULL;
	}
	chat = json_object();
	r.msgs = json_array();
	r.from = json_array();
	r.after = json_array();
	r.tools = json_array();
	if (chat == NULL || r.msgs == NULL || r.from == NULL ||
	    r.after == NULL || r.tools == NULL) {
		nomem(&r);
		goto done;
	}
	if (system_prompt(&r, json_object_get(req, "system")) == -1 ||
	    messages(&r, json_object_get(req, "messages")) == -1 ||
	    tools(&r, json_object_get(req, "tools")) == -1 ||
	    tool_choice(&r, json_object_get(req, "tool_choice"), chat) ==
	    -1 || thinking(&r, req, chat) == -1)
		goto done;
	for (i = 0; i < GB_NELEM(same); i++)
		if ((v = json_object_get(req, same[i])) != NULL)
			json_object_set(chat, same[i], (json_t *)(uintptr_t)v);
	if ((v = json_object_get(req, "stop_sequences")) != NULL)
		json_object_set(chat, "stop", (json_t *)(uintptr_t)v);
	json_object_set(chat, "messages", r.msgs);
	if (json_array_size(r.tools) > 0)
		json_object_set(chat, "tools", r.tools);
	if ((out = gb_convert_chat_request(chat, cfg, meta, err)) == NULL)
		rename_fields(&r);
done:
	json_decref(chat);
	json_decref(r.msgs);
	json_decref(r.from);
	json_decref(r.after);
	json_decref(r.tools);
	return out;
}

json_t *
gb_convert_anthropic_count_request(const json_t *req,
    const struct gb_config *cfg, json_t **meta, struct gb_err *err)
{
	json_t *g, *out, *m = NULL;
	const char *um;
	char path[512], name[512];

	if ((g = gb_convert_anthropic_request(req, cfg, &m, err)) == NULL)
		return NULL;
	um = jstr(m, "upstream_model");
	snprintf(path, sizeof(path), "models/%s:countTokens", um);
	snprintf(name, sizeof(name), "models/%s", um);
	json_object_set_new(g, "model", json_string(name));
	/* countTokens takes no safety settings or generation config */
	json_object_del(g, "safetySettings");
	json_object_del(g, "generationConfig");
	out = json_pack("{s:o}", "generateContentRequest", g);
	json_object_set_new(m, "path", json_string(path));
	json_object_set_new(m, "stream", json_false());
	if (out == NULL) {
		json_decref(m);
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		return NULL;
	}
	if (meta != NULL)
		*meta = m;
	else
		json_decref(m);
	return out;
}

json_t *
gb_convert_anthropic_count_response(const json_t *resp, struct gb_err *err)
{
	const json_t *t = json_object_get(resp, "totalTokens");

	if (!json_is_object(resp)) {
		gb_err_set(err, GB_EXIT_USAGE, 400,
		    "response: expected a JSON object");
		return NULL;
	}
	return json_pack("{s:I}", "input_tokens", json_is_integer(t) ?
	    json_integer_value(t) : 0);
}

/* One model of the OpenAI list -> Anthropic's model object. */
static json_t *
model_object(const json_t *m)
{
	const char *id = jstr(m, "id");

	return json_pack("{s:s,s:s,s:s,s:s}", "type", "model", "id",
	    id != NULL ? id : "", "display_name", id != NULL ? id : "",
	    "created_at", "1970-01-01T00:00:00Z");
}

json_t *
gb_convert_anthropic_models(const json_t *pages, const struct gb_config *cfg,
    const char *id, struct gb_err *err)
{
	json_t *o, *data, *out;
	const json_t *m;
	size_t i, n;

	if ((o = gb_convert_models(pages, cfg, id, err)) == NULL)
		return NULL;
	if (id != NULL) {
		out = model_object(o);
		json_decref(o);
		return out;
	}
	data = json_array();
	json_array_foreach(json_object_get(o, "data"), i, m)
		json_array_append_new(data, model_object(m));
	json_decref(o);
	n = json_array_size(data);
	out = json_pack("{s:o,s:b,s:O?,s:O?}", "data", data, "has_more", 0,
	    "first_id", n > 0 ? json_object_get(json_array_get(data, 0),
	    "id") : NULL, "last_id", n > 0 ? json_object_get(json_array_get(
	    data, n - 1), "id") : NULL);
	if (out == NULL)
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	return out;
}

/* ---- the answer ---- */

int
gb_anthropic_id(char *buf, const char *prefix)
{
	return gb_random_id(buf, GB_ANTHROPIC_IDSIZE, prefix, 24);
}

const char *
gb_anthropic_error_type(int status)
{
	switch (status) {
	case 400:
		return "invalid_request_error";
	case 401:
		return "authentication_error";
	case 403:
		return "permission_error";
	case 404:
		return "not_found_error";
	case 413:
		return "request_too_large";
	case 429:
		return "rate_limit_error";
	case 503:
	case 529:
		return "overloaded_error";
	default:
		return status >= 400 && status < 500 ?
		    "invalid_request_error" : "api_error";
	}
}

json_t *
gb_anthropic_error(int status, const char *msg)
{
	return json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error",
	    "type", gb_anthropic_error_type(status), "message", msg);
}

json_t *
gb_gemini_error_to_anthropic(int status, const char *body, size_t len,
    int *out_status)
{
	json_t *o, *a;
	const char *m;

	o = gb_gemini_error_to_openai(status, body, len, out_status);
	m = jstr(json_object_get(o, "error"), "message");
	a = gb_anthropic_error(*out_status, m != NULL ? m :
	    "upstream request failed");
	json_decref(o);
	return a;
}

const char *
gb_anthropic_stop_reason(const char *finish, int calls, int blocked)
{
	const char *f;

	if (blocked)
		return "refusal";
	f = gb_gemini_finish_reason(finish);
	if (strcmp(f, "length") == 0)
		return "max_tokens";
	if (strcmp(f, "content_filter") == 0)
		return "refusal";
	return calls ? "tool_use" : "end_turn";
}

json_t *
gb_anthropic_usage(const json_t *um)
{
	json_t *empty = NULL, *u, *o;
	json_int_t in, cached;

	if (!json_is_object(um))
		um = empty = json_object();
	u = gb_gemini_usage(um);
	json_decref(empty);
	if (u == NULL)
		return NULL;
	in = json_integer_value(json_object_get(u, "prompt_tokens"));
	cached = json_integer_value(json_object_get(json_object_get(u,
	    "prompt_tokens_details"), "cached_tokens"));
	o = json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", in - cached,
	    "cache_creation_input_tokens", (json_int_t)0,
	    "cache_read_input_tokens", cached, "output_tokens",
	    json_integer_value(json_object_get(u, "completion_tokens")));
	json_decref(u);
	return o;
}

/* A tool call of the part walk -> a tool_use block (new reference). */
json_t *
gb_anthropic_tool_use(const json_t *call)
{
	const json_t *f = json_object_get(call, "function");
	const char *a = jstr(f, "arguments");
	char id[GB_ANTHROPIC_IDSIZE];
	json_t *in;

	if (gb_anthropic_id(id, "toolu_") == -1)
		return NULL;
	in = json_loads(a != NULL ? a : "{}", 0, NULL);
	if (!json_is_object(in)) {
		json_decref(in);
		in = json_object();
	}
	return json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", id,
	    "name", jstr(f, "name") != NULL ? jstr(f, "name") : "", "input",
	    in);
}

/* The thought signature a call carries, or NULL. */
const char *
gb_anthropic_call_sig(const json_t *call)
{
	return jstr(json_object_get(json_object_get(call, "extra_content"),
	    "google"), "thought_signature");
}

json_t *
gb_convert_anthropic_response(const json_t *resp, const char *model,
    const struct gb_config *cfg, struct gb_err *err)
{
	struct gb_parts p;
	struct gb_parts_opts po;
	const json_t *cand, *call;
	json_t *content = NULL, *out = NULL, *b;
	const char *sig = NULL, *block;
	char id[GB_ANTHROPIC_IDSIZE];
	size_t i, ml = strlen(model);

	gb_parts_init(&p, TEXT_MAX);
	if (gb_gemini_answer(resp, &cand, err) == -1)
		goto done;
	po.show_thinking = 1;	/* thoughts come only when asked for */
	po.next_index = NULL;
	po.links = cfg->show_search_link && ml >= 7 &&
	    strcmp(model + ml - 7, "-search") == 0 ? cand : NULL;
	if (cand != NULL && gb_parts_walk(&p, cand, &po) == -1) {
		if (errno == E2BIG)
			gb_err_set(err, GB_EXIT_USAGE, 502, "candidate text "
			    "longer than %d bytes", TEXT_MAX);
		else if (errno == EINVAL)
			gb_err_set(err, GB_EXIT_USAGE, 502, "candidate: %s",
			    GB_PARTS_BAD_IMAGE);
		else
			gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		goto done;
	}
	if ((content = json_array()) == NULL)
		goto nomem;
	json_array_foreach(p.calls, i, call)
		if (sig == NULL)
			sig = gb_anthropic_call_sig(call);
	if (p.reasoning.len > 0)
		json_array_append_new(content, json_pack("{s:s,s:s%,s:s}",
		    "type", "thinking", "thinking", p.reasoning.data,
		    p.reasoning.len, "signature", sig != NULL ? sig : ""));
	else if (sig != NULL)
		json_array_append_new(content, json_pack("{s:s,s:s}", "type",
		    "redacted_thinking", "data", sig));
	if (p.content.len > 0)
		json_array_append_new(content, json_pack("{s:s,s:s%}", "type",
		    "text", "text", p.content.data, p.content.len));
	json_array_foreach(p.calls, i, call) {
		if ((b = gb_anthropic_tool_use(call)) == NULL)
			goto noid;
		json_array_append_new(content, b);
	}
	block = jstr(json_object_get(resp, "promptFeedback"), "blockReason");
	if (gb_anthropic_id(id, "msg_") == -1)
		goto noid;
	out = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:o}", "id", id,
	    "type", "message", "role", "assistant", "model", model,
	    "content", content, "stop_reason", gb_anthropic_stop_reason(
	    jstr(cand, "finishReason"), p.calls != NULL, cand == NULL &&
	    block != NULL), "stop_sequence", "usage", gb_anthropic_usage(
	    json_object_get(resp, "usageMetadata")));
	content = NULL;
	if (out == NULL)
		goto nomem;
	goto done;
noid:
	gb_err_set(err, GB_EXIT_TEMP, 500, "getrandom: %s", strerror(errno));
	goto done;
nomem:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
done:
	json_decref(content);
	gb_parts_free(&p);
	return out;
}
