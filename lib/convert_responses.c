/*
 * convert_responses.c - the OpenAI Responses API in front of Gemini:
 * a Responses request -> Gemini GenerateContentRequest, and a Gemini
 * GenerateContentResponse -> a response object; plus the shapes the
 * stream shares (responses.h).
 *
 * A request is first read into the chat.completions request it means
 * (input items -> messages, flat function tools -> chat tools,
 * text.format -> response_format, reasoning -> reasoning_effort and
 * include_thoughts, max_output_tokens -> max_tokens), which the chat
 * conversion then turns into Gemini's, so both routes map everything
 * (images, tool results, schemas, thinking, safety, search) the same
 * way. Its messages name the Responses field: "messages[3]" becomes the
 * input item it came from.
 *
 * The server keeps no state: previous_response_id, conversation and
 * item_reference are refused with a message that says so; store is
 * accepted and the response says "store": false. reasoning items that
 * clients replay are dropped (a function call's thought signature rides
 * in its call_id, as on the chat route); hosted tools Gemini has no
 * equivalent for (local_shell, namespace, custom, file_search, mcp,
 * computer_use_preview, image_generation) are left out of the request,
 * and so is web search beside function tools, which Gemini refuses.
 *
 * An image the model drew (inlineData) is in the message's output_text
 * as a markdown data URL, "![image](data:MIME;base64,...)", byte for
 * byte, where it came (parts.h), as on the chat route.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convert.h"
#include "gemini.h"
#include "parts.h"
#include "responses.h"

#define BAD(r, ...)	gb_err_set((r)->err, GB_EXIT_USAGE, 400, __VA_ARGS__)
#define TEXT_MAX	(64 * 1024 * 1024)
#define FROM_INSTRUCTIONS	SIZE_MAX

struct rreq {
	struct gb_err	*err;
	json_t		*msgs;		/* the chat messages */
	size_t		*from;		/* input index of each message */
	size_t		 nfrom;
	json_t		*tools;		/* the chat tools */
	size_t		*tfrom;		/* tools index of each chat tool */
	size_t		 ntfrom;
};

static int
nomem(struct rreq *r)
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

/* Remember where the next entry came from. */
static int
note_from(size_t **arr, size_t *n, size_t i)
{
	size_t *na;

	if ((na = reallocarray(*arr, *n + 1, sizeof(**arr))) == NULL)
		return -1;
	na[(*n)++] = i;
	*arr = na;
	return 0;
}

/* Append a chat message (taken) that came from input[i]. */
static int
add_msg(struct rreq *r, size_t i, json_t *m)
{
	if (m == NULL || json_array_append_new(r->msgs, m) == -1 ||
	    note_from(&r->from, &r->nfrom, i) == -1)
		return nomem(r);
	return 0;
}

/* A data URL for input_file's file_data, which may be bare base64. */
static json_t *
file_data(struct rreq *r, size_t i, size_t j, const json_t *p)
{
	const char *d = jstr(p, "file_data"), *fn = jstr(p, "filename");
	size_t n;
	char *u;
	json_t *s;

	if (d == NULL) {
		if (given(json_object_get(p, "file_id")) ||
		    given(json_object_get(p, "file_url")))
			BAD(r, "input[%zu].content[%zu]: only file_data is "
			    "supported (uploaded files and file URLs are not)",
			    i, j);
		else
			BAD(r, "input[%zu].content[%zu].file_data: missing",
			    i, j);
		return NULL;
	}
	if (strncmp(d, "data:", 5) == 0)
		return json_string(d);
	n = fn != NULL ? strlen(fn) : 0;
	if (n < 4 || strcmp(fn + n - 4, ".pdf") != 0) {
		BAD(r, "input[%zu].content[%zu].file_data: expected a data "
		    "URL (or base64 of a .pdf filename)", i, j);
		return NULL;
	}
	if (asprintf(&u, "data:application/pdf;base64,%s", d) == -1) {
		nomem(r);
		return NULL;
	}
	s = json_string(u);
	free(u);
	return s;
}

/*
 * One content part of input[i] -> a chat content part (new reference).
 * Text parts of every kind become text; images keep their URL (data or
 * http(s), fetched by the chat conversion); files their data URL.
 */
static json_t *
content_part(struct rreq *r, size_t i, size_t j, const json_t *p)
{
	const char *type = jstr(p, "type"), *u;
	json_t *v, *iu;

	if (json_is_string(p))
		return json_pack("{s:s,s:O}", "type", "text", "text", p);
	if (type == NULL) {
		BAD(r, "input[%zu].content[%zu].type: missing", i, j);
		return NULL;
	}
	if (strcmp(type, "input_text") == 0 ||
	    strcmp(type, "output_text") == 0 || strcmp(type, "text") == 0 ||
	    strcmp(type, "summary_text") == 0) {
		if (!json_is_string(v = json_object_get(p, "text"))) {
			BAD(r, "input[%zu].content[%zu].text: expected a "
			    "string", i, j);
			return NULL;
		}
		return json_pack("{s:s,s:O}", "type", "text", "text", v);
	}
	if (strcmp(type, "refusal") == 0) {
		if (!json_is_string(v = json_object_get(p, "refusal"))) {
			BAD(r, "input[%zu].content[%zu].refusal: expected a "
			    "string", i, j);
			return NULL;
		}
		return json_pack("{s:s,s:O}", "type", "text", "text", v);
	}
	if (strcmp(type, "input_image") == 0) {
		v = json_object_get(p, "image_url");
		if (json_is_object(v))		/* the chat form, tolerated */
			v = json_object_get(v, "url");
		if ((u = json_string_value(v)) == NULL) {
			BAD(r, "input[%zu].content[%zu].image_url: %s", i, j,
			    given(json_object_get(p, "file_id")) ?
			    "uploaded files are not supported, send the image "
			    "as a data URL" : "expected a URL string");
			return NULL;
		}
		iu = json_pack("{s:s}", "url", u);
		if (iu != NULL && json_is_string(json_object_get(p, "detail")))
			json_object_set(iu, "detail",
			    json_object_get(p, "detail"));
		return json_pack("{s:s,s:o}", "type", "image_url",
		    "image_url", iu);
	}
	if (strcmp(type, "input_file") == 0) {
		if ((v = file_data(r, i, j, p)) == NULL)
			return NULL;
		return json_pack("{s:s,s:{s:o}}", "type", "file", "file",
		    "file_data", v);
	}
	BAD(r, "input[%zu].content[%zu].type: unknown part type \"%s\"", i,
	    j, type);
	return NULL;
}

/* A content (string or array of parts) -> chat content (new ref). */
static json_t *
content(struct rreq *r, size_t i, const json_t *c, int textonly)
{
	const json_t *p;
	json_t *a, *np;
	size_t j;

	if (json_is_string(c))
		return json_incref((json_t *)(uintptr_t)c);
	if (!json_is_array(c)) {
		BAD(r, "input[%zu].%s: expected a string or an array", i,
		    textonly ? "output" : "content");
		return NULL;
	}
	if ((a = json_array()) == NULL) {
		nomem(r);
		return NULL;
	}
	json_array_foreach(c, j, p) {
		if ((np = content_part(r, i, j, p)) == NULL) {
			json_decref(a);
			return NULL;
		}
		if (textonly && strcmp(jstr(np, "type"), "text") != 0) {
			json_decref(np);
			json_decref(a);
			BAD(r, "input[%zu].output[%zu]: only text parts are "
			    "supported in a function call's output", i, j);
			return NULL;
		}
		json_array_append_new(a, np);
	}
	return a;
}

static int
item_message(struct rreq *r, size_t i, const json_t *it)
{
	const char *role = jstr(it, "role");
	json_t *c;

	if (role == NULL)
		return BAD(r, "input[%zu].role: missing", i);
	if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 &&
	    strcmp(role, "system") != 0 && strcmp(role, "developer") != 0)
		return BAD(r, "input[%zu].role: unknown role \"%s\"", i, role);
	if ((c = content(r, i, json_object_get(it, "content"), 0)) == NULL)
		return -1;
	return add_msg(r, i, json_pack("{s:s,s:o}", "role", role, "content",
	    c));
}

/*
 * A function_call: a tool call of the assistant message before it when
 * there is one (its text and its calls are one model turn), else of a
 * new one.
 */
static int
item_call(struct rreq *r, size_t i, const json_t *it)
{
	const char *id = jstr(it, "call_id"), *name = jstr(it, "name");
	const json_t *a = json_object_get(it, "arguments");
	json_t *last, *tcs, *tc;
	size_t n = json_array_size(r->msgs);

	if (id == NULL || *id == '\0')
		return BAD(r, "input[%zu].call_id: missing", i);
	if (name == NULL || *name == '\0')
		return BAD(r, "input[%zu].name: missing", i);
	if (given(a) && !json_is_string(a))
		return BAD(r, "input[%zu].arguments: expected a string", i);
	tc = json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
	    "function", "name", name, "arguments", given(a) ?
	    json_string_value(a) : "{}");
	if (tc == NULL)
		return nomem(r);
	last = n > 0 ? json_array_get(r->msgs, n - 1) : NULL;
	if (last != NULL && strcmp(jstr(last, "role"), "assistant") == 0) {
		if ((tcs = json_object_get(last, "tool_calls")) == NULL) {
			tcs = json_array();
			json_object_set_new(last, "tool_calls", tcs);
		}
		if (json_array_append_new(tcs, tc) == -1)
			return nomem(r);
		return 0;
	}
	return add_msg(r, i, json_pack("{s:s,s:n,s:[o]}", "role",
	    "assistant", "content", "tool_calls", tc));
}

static int
item_output(struct rreq *r, size_t i, const json_t *it)
{
	const char *id = jstr(it, "call_id");
	const json_t *o = json_object_get(it, "output");
	json_t *c;

	if (id == NULL || *id == '\0')
		return BAD(r, "input[%zu].call_id: missing", i);
	if (o == NULL)
		return BAD(r, "input[%zu].output: missing", i);
	if ((c = content(r, i, o, 1)) == NULL)
		return -1;
	return add_msg(r, i, json_pack("{s:s,s:s,s:o}", "role", "tool",
	    "tool_call_id", id, "content", c));
}

/* input: a string (one user message) or a list of items. */
static int
input(struct rreq *r, const json_t *in)
{
	const json_t *it;
	const char *type;
	size_t i;

	if (json_is_string(in))
		return add_msg(r, 0, json_pack("{s:s,s:O}", "role", "user",
		    "content", in));
	if (!json_is_array(in))
		return BAD(r, "input: %s", in == NULL ? "missing" :
		    "expected a string or an array of items");
	json_array_foreach(in, i, it) {
		if (!json_is_object(it))
			return BAD(r, "input[%zu]: expected an object", i);
		type = jstr(it, "type");
		if (type == NULL && json_object_get(it, "role") != NULL)
			type = "message";	/* the short form */
		if (type == NULL)
			return BAD(r, "input[%zu].type: missing", i);
		if (strcmp(type, "message") == 0) {
			if (item_message(r, i, it) == -1)
				return -1;
		} else if (strcmp(type, "function_call") == 0) {
			if (item_call(r, i, it) == -1)
				return -1;
		} else if (strcmp(type, "function_call_output") == 0) {
			if (item_output(r, i, it) == -1)
				return -1;
		} else if (strcmp(type, "reasoning") == 0 ||
		    strcmp(type, "web_search_call") == 0) {
			/* what the model did before: nothing to send */
		} else if (strcmp(type, "item_reference") == 0)
			return BAD(r, "input[%zu]: item_reference is not "
			    "supported: this server keeps no stored items, "
			    "send the items themselves", i);
		else
			return BAD(r, "input[%zu].type: unsupported item type "
			    "\"%s\"", i, type);
	}
	if (json_array_size(r->msgs) == 0)
		return BAD(r, "input: no message");
	return 0;
}

/* Responses tools -> chat tools; hosted ones Gemini lacks are left out. */
static int
tools(struct rreq *r, const json_t *ts)
{
	const json_t *t;
	const char *type, *name;
	json_t *f, *ct;
	size_t i, nfunc = 0, search = SIZE_MAX;

	if (!given(ts))
		return 0;
	if (!json_is_array(ts))
		return BAD(r, "tools: expected an array");
	json_array_foreach(ts, i, t) {
		if ((type = jstr(t, "type")) == NULL)
			return BAD(r, "tools[%zu].type: missing", i);
		ct = NULL;
		if (strcmp(type, "function") == 0) {
			name = jstr(t, "name");
			if (name == NULL || *name == '\0')
				return BAD(r, "tools[%zu].name: missing", i);
			f = json_pack("{s:s}", "name", name);
			if (json_is_string(json_object_get(t, "description")))
				json_object_set(f, "description",
				    json_object_get(t, "description"));
			if (given(json_object_get(t, "parameters")))
				json_object_set(f, "parameters",
				    json_object_get(t, "parameters"));
			ct = json_pack("{s:s,s:o}", "type", "function",
			    "function", f);
			nfunc++;
		} else if (strncmp(type, "web_search", 10) == 0) {
			if (search != SIZE_MAX)
				continue;
			search = json_array_size(r->tools);
			ct = json_pack("{s:s}", "type", "google_search");
		} else if (strcmp(type, "code_interpreter") == 0)
			ct = json_pack("{s:s}", "type", "code_execution");
		else
			continue;
		if (ct == NULL || json_array_append_new(r->tools, ct) == -1 ||
		    note_from(&r->tfrom, &r->ntfrom, i) == -1)
			return nomem(r);
	}
	/*
	 * Gemini answers 400 to Google Search beside function declarations
	 * (agents such as Codex offer both): the functions win.
	 */
	if (nfunc > 0 && search != SIZE_MAX) {
		json_array_remove(r->tools, search);
		memmove(r->tfrom + search, r->tfrom + search + 1,
		    (r->ntfrom - search - 1) * sizeof(*r->tfrom));
		r->ntfrom--;
	}
	return 0;
}

/* tool_choice -> the chat form (new reference, NULL: none). */
static int
tool_choice(struct rreq *r, const json_t *tc, json_t *chat)
{
	const char *type, *name;
	const json_t *t;
	json_t *names, *v;
	size_t i;

	if (!given(tc))
		return 0;
	if (json_is_string(tc)) {
		json_object_set(chat, "tool_choice", (json_t *)(uintptr_t)tc);
		return 0;
	}
	if ((type = jstr(tc, "type")) == NULL)
		return BAD(r, "tool_choice: expected none, auto, required or "
		    "an object with a type");
	if (strcmp(type, "function") == 0) {
		if ((name = jstr(tc, "name")) == NULL)
			return BAD(r, "tool_choice.name: missing");
		v = json_pack("{s:s,s:{s:s}}", "type", "function", "function",
		    "name", name);
	} else if (strcmp(type, "allowed_tools") == 0) {
		names = json_array();
		json_array_foreach(json_object_get(tc, "tools"), i, t) {
			if (strcmp(jstr(t, "type") != NULL ? jstr(t, "type") :
			    "", "function") != 0)
				continue;
			if ((name = jstr(t, "name")) == NULL) {
				json_decref(names);
				return BAD(r, "tool_choice.tools[%zu].name: "
				    "missing", i);
			}
			json_array_append_new(names, json_pack("{s:s,s:{s:s}}",
			    "type", "function", "function", "name", name));
		}
		v = json_pack("{s:s,s:{s:s?,s:o}}", "type", "allowed_tools",
		    "allowed_tools", "mode", jstr(tc, "mode"), "tools", names);
	} else
		v = json_string("auto");	/* a hosted tool: let it */
	if (v == NULL)
		return nomem(r);
	json_object_set_new(chat, "tool_choice", v);
	return 0;
}

/* text.format -> response_format. */
static int
text_format(struct rreq *r, const json_t *text, json_t *chat)
{
	const json_t *f = json_object_get(text, "format");
	const char *type = jstr(f, "type");
	json_t *js;

	if (given(text) && !json_is_object(text))
		return BAD(r, "text: expected an object");
	if (!given(f))
		return 0;
	if (type == NULL)
		return BAD(r, "text.format.type: missing");
	if (strcmp(type, "json_schema") == 0) {
		if (!json_is_object(json_object_get(f, "schema")))
			return BAD(r, "text.format.schema: expected an object");
		js = json_pack("{s:O}", "schema", json_object_get(f,
		    "schema"));
		if (js != NULL && json_is_string(json_object_get(f, "name")))
			json_object_set(js, "name", json_object_get(f, "name"));
		json_object_set_new(chat, "response_format", json_pack(
		    "{s:s,s:o}", "type", "json_schema", "json_schema", js));
	} else if (strcmp(type, "json_object") == 0 ||
	    strcmp(type, "text") == 0)
		json_object_set_new(chat, "response_format", json_pack("{s:s}",
		    "type", type));
	else
		return BAD(r, "text.format.type: unknown type \"%s\"", type);
	return 0;
}

/* reasoning.effort -> reasoning_effort; a summary shows the thoughts. */
static int
reasoning(struct rreq *r, const json_t *re, json_t *chat)
{
	const json_t *e, *s;

	if (!given(re))
		return 0;
	if (!json_is_object(re))
		return BAD(r, "reasoning: expected an object");
	e = json_object_get(re, "effort");
	if (given(e))
		json_object_set(chat, "reasoning_effort", (json_t *)(uintptr_t)e);
	s = json_object_get(re, "summary");
	if (!given(s))
		s = json_object_get(re, "generate_summary");
	if (given(s) && !json_is_string(s))
		return BAD(r, "reasoning.summary: expected a string");
	if (given(s) && strcmp(json_string_value(s), "none") != 0)
		json_object_set_new(chat, "extra_body", json_pack(
		    "{s:{s:{s:b}}}", "google", "thinking_config",
		    "include_thoughts", 1));
	return 0;
}

/* Fields that refer to state this server does not keep. */
static int
stateless(struct rreq *r, const json_t *req)
{
	static const char *const fields[] = {
		"previous_response_id", "conversation", "prompt"
	};
	size_t i;

	for (i = 0; i < GB_NELEM(fields); i++)
		if (given(json_object_get(req, fields[i])))
			return BAD(r, "%s: not supported: this server keeps no "
			    "responses, conversations or prompts (it is "
			    "stateless); send the whole conversation in "
			    "input", fields[i]);
	if (json_is_true(json_object_get(req, "background")))
		return BAD(r, "background: not supported: this server keeps "
		    "no responses to poll");
	return 0;
}

/*
 * The chat conversion's message names its own fields: say which of the
 * request's it was.
 */
static void
rename_fields(struct rreq *r)
{
	static const char *const simple[] = {
		"response_format", "text.format",
		"reasoning_effort", "reasoning.effort",
		"max_tokens", "max_output_tokens",
		"extra_body.google.thinking_config", "reasoning.summary",
	};
	char m[GB_ERR_MSGSIZE], *rest;
	const char *field = "";
	unsigned long long k;
	size_t i, n;

	if (strncmp(r->err->msg, "messages[", 9) == 0 ||
	    strncmp(r->err->msg, "tools[", 6) == 0) {
		int ism = r->err->msg[0] == 'm';

		errno = 0;
		k = strtoull(r->err->msg + (ism ? 9 : 6), &rest, 10);
		if (errno != 0 || *rest != ']' ||
		    k >= (ism ? r->nfrom : r->ntfrom))
			return;
		rest++;
		if (strncmp(rest, ".tool_call_id", 13) == 0) {
			field = ".call_id";	/* the item's name for it */
			rest += 13;
		}
		if (ism && r->from[k] == FROM_INSTRUCTIONS)
			snprintf(m, sizeof(m), "instructions%s", rest);
		else
			snprintf(m, sizeof(m), "%s[%zu]%s%s", ism ? "input" :
			    "tools", ism ? r->from[k] : r->tfrom[k], field,
			    rest);
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

json_t *
gb_convert_responses_request(const json_t *req, const struct gb_config *cfg,
    json_t **meta, struct gb_err *err)
{
	static const char *const same[] = {
		"model", "stream", "temperature", "top_p"
	};
	struct rreq r;
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
	if (stateless(&r, req) == -1)
		return NULL;
	chat = json_object();
	r.msgs = json_array();
	r.tools = json_array();
	if (chat == NULL || r.msgs == NULL || r.tools == NULL) {
		nomem(&r);
		goto done;
	}
	v = json_object_get(req, "instructions");
	if (given(v) && !json_is_string(v)) {
		BAD(&r, "instructions: expected a string");
		goto done;
	}
	if (json_is_string(v) && json_string_length(v) > 0 &&
	    add_msg(&r, FROM_INSTRUCTIONS, json_pack("{s:s,s:O}", "role",
	    "system", "content", v)) == -1)
		goto done;
	if (input(&r, json_object_get(req, "input")) == -1 ||
	    tools(&r, json_object_get(req, "tools")) == -1 ||
	    tool_choice(&r, json_object_get(req, "tool_choice"), chat) ==
	    -1 || text_format(&r, json_object_get(req, "text"), chat) == -1 ||
	    reasoning(&r, json_object_get(req, "reasoning"), chat) == -1)
		goto done;
	for (i = 0; i < GB_NELEM(same); i++)
		if ((v = json_object_get(req, same[i])) != NULL)
			json_object_set(chat, same[i], (json_t *)(uintptr_t)v);
	if ((v = json_object_get(req, "max_output_tokens")) != NULL)
		json_object_set(chat, "max_tokens", (json_t *)(uintptr_t)v);
	json_object_set(chat, "messages", r.msgs);
	if (json_array_size(r.tools) > 0)
		json_object_set(chat, "tools", r.tools);
	if ((out = gb_convert_chat_request(chat, cfg, meta, err)) == NULL)
		rename_fields(&r);
done:
	json_decref(chat);
	json_decref(r.msgs);
	json_decref(r.tools);
	free(r.from);
	free(r.tfrom);
	return out;
}

/* ---- the answer ---- */

int
gb_responses_id(char *buf, const char *prefix)
{
	char p[16];

	snprintf(p, sizeof(p), "%s_", prefix);
	return gb_random_id(buf, GB_RESP_IDSIZE, p, 32);
}

json_t *
gb_responses_usage(const json_t *um)
{
	json_t *empty = NULL, *u, *o;
	json_int_t reason, cached;

	if (!json_is_object(um))
		um = empty = json_object();
	u = gb_gemini_usage(um);
	json_decref(empty);
	if (u == NULL)
		return NULL;
	reason = json_integer_value(json_object_get(json_object_get(u,
	    "completion_tokens_details"), "reasoning_tokens"));
	cached = json_integer_value(json_object_get(json_object_get(u,
	    "prompt_tokens_details"), "cached_tokens"));
	o = json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}",
	    "input_tokens", json_integer_value(json_object_get(u,
	    "prompt_tokens")), "input_tokens_details", "cached_tokens",
	    cached, "output_tokens", json_integer_value(json_object_get(u,
	    "completion_tokens")), "output_tokens_details",
	    "reasoning_tokens", reason, "total_tokens",
	    json_integer_value(json_object_get(u, "total_tokens")));
	json_decref(u);
	return o;
}

const char *
gb_responses_status(const char *finish, int blocked, const char **reason)
{
	const char *f;

	*reason = NULL;
	if (blocked) {
		*reason = "content_filter";
		return "incomplete";
	}
	if (finish == NULL)
		return "completed";
	f = gb_gemini_finish_reason(finish);
	if (strcmp(f, "length") == 0)
		*reason = "max_output_tokens";
	else if (strcmp(f, "content_filter") == 0)
		*reason = "content_filter";
	return *reason != NULL ? "incomplete" : "completed";
}

json_t *
gb_responses_object(const char *id, json_int_t created, const char *model,
    const char *status, const char *reason, json_t *output, json_t *usage,
    json_t *error)
{
	json_t *o;

	o = json_pack("{s:s,s:s,s:I,s:s,s:b,s:o,s:o,s:n,s:n,s:s,s:o,s:b,"
	    "s:n,s:{s:n,s:n},s:b,s:n,s:{s:{s:s}},s:s,s:[],s:n,s:s,s:o,s:n,"
	    "s:{}}",
	    "id", id, "object", "response", "created_at", created,
	    "status", status, "background", 0,
	    "error", error != NULL ? error : json_null(),
	    "incomplete_details", reason != NULL ? json_pack("{s:s}",
	    "reason", reason) : json_null(),
	    "instructions", "max_output_tokens", "model", model,
	    "output", output, "parallel_tool_calls", 1,
	    "previous_response_id", "reasoning", "effort", "summary",
	    "store", 0, "temperature", "text", "format", "type", "text",
	    "tool_choice", "auto", "tools", "top_p", "truncation", "disabled",
	    "usage", usage != NULL ? usage : json_null(), "user",
	    "metadata");
	return o;
}

json_t *
gb_responses_message(const char *id, const char *text, size_t n,
    json_t *annotations, const char *status)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s%,s:o,s:[]}]}",
	    "id", id, "type", "message", "status", status, "role",
	    "assistant", "content", "type", "output_text", "text",
	    text != NULL ? text : "", text != NULL ? n : 0, "annotations",
	    annotations != NULL ? annotations : json_array(), "logprobs");
}

json_t *
gb_responses_reasoning(const char *id, const char *text, size_t n)
{
	return json_pack("{s:s,s:s,s:[{s:s,s:s%}]}", "id", id, "type",
	    "reasoning", "summary", "type", "summary_text", "text",
	    text != NULL ? text : "", text != NULL ? n : 0);
}

json_t *
gb_responses_call(const char *id, const json_t *call, const char *status)
{
	const json_t *f = json_object_get(call, "function");

	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "type",
	    "function_call", "status", status, "call_id", jstr(call, "id") !=
	    NULL ? jstr(call, "id") : "", "name", jstr(f, "name") != NULL ?
	    jstr(f, "name") : "", "arguments", jstr(f, "arguments") != NULL ?
	    jstr(f, "arguments") : "{}");
}

/* Characters (code points) of UTF-8 text in its first off bytes. */
static json_int_t
chars_before(const char *text, size_t n, json_int_t off)
{
	json_int_t c = 0;
	size_t i;

	if (off < 0)
		return 0;
	for (i = 0; i < n && (json_int_t)i < off; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			c++;
	return c;
}

json_t *
gb_responses_annotations(const json_t *cand, const char *text, size_t n)
{
	const json_t *gm = json_object_get(cand, "groundingMetadata");
	const json_t *chunks = json_object_get(gm, "groundingChunks");
	const json_t *sup, *s, *ci, *web;
	json_t *a, *an;
	json_int_t st, en;
	size_t i, k;

	if ((a = json_array()) == NULL || !json_is_array(chunks))
		return a;
	sup = json_object_get(gm, "groundingSupports");
	json_array_foreach(chunks, i, web) {
		web = json_object_get(web, "web");
		if (jstr(web, "uri") == NULL)
			continue;
		st = en = chars_before(text, n, (json_int_t)n);
		/* the first piece of text this source supports */
		json_array_foreach(sup, k, s) {
			ci = json_object_get(s, "groundingChunkIndices");
			size_t m;
			const json_t *x;
			int hit = 0;

			json_array_foreach(ci, m, x)
				hit |= json_integer_value(x) == (json_int_t)i;
			if (!hit)
				continue;
			s = json_object_get(s, "segment");
			st = chars_before(text, n, json_integer_value(
			    json_object_get(s, "startIndex")));
			en = chars_before(text, n, json_integer_value(
			    json_object_get(s, "endIndex")));
			break;
		}
		an = json_pack("{s:s,s:I,s:I,s:s,s:s}", "type", "url_citation",
		    "start_index", st, "end_index", en, "url", jstr(web, "uri"),
		    "title", jstr(web, "title") != NULL ? jstr(web, "title") :
		    jstr(web, "uri"));
		json_array_append_new(a, an);
	}
	return a;
}

json_t *
gb_convert_responses_response(const json_t *resp, const char *model,
    const struct gb_config *cfg, struct gb_err *err)
{
	struct gb_parts p;
	struct gb_parts_opts po;
	const json_t *cand, *call;
	json_t *output = NULL, *out = NULL, *usage;
	const char *status, *reason, *block;
	char id[GB_RESP_IDSIZE];
	size_t i;

	(void)cfg;
	gb_parts_init(&p, TEXT_MAX);
	if (gb_gemini_answer(resp, &cand, err) == -1)
		goto done;
	po.show_thinking = 1;	/* thoughts come only when asked for */
	po.next_index = NULL;
	po.links = NULL;
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
	if ((output = json_array()) == NULL)
		goto nomem;
	if (p.reasoning.len > 0) {
		if (gb_responses_id(id, "rs") == -1)
			goto noid;
		json_array_append_new(output, gb_responses_reasoning(id,
		    p.reasoning.data, p.reasoning.len));
	}
	if (p.textual) {
		if (gb_responses_id(id, "msg") == -1)
			goto noid;
		json_array_append_new(output, gb_responses_message(id,
		    p.content.data, p.content.len, gb_responses_annotations(
		    cand, p.content.data, p.content.len), "completed"));
	}
	json_array_foreach(p.calls, i, call) {
		if (gb_responses_id(id, "fc") == -1)
			goto noid;
		json_array_append_new(output, gb_responses_call(id, call,
		    "completed"));
	}
	block = jstr(json_object_get(resp, "promptFeedback"), "blockReason");
	status = gb_responses_status(jstr(cand, "finishReason"), cand == NULL &&
	    block != NULL, &reason);
	usage = gb_responses_usage(json_object_get(resp, "usageMetadata"));
	if (gb_responses_id(id, "resp") == -1) {
		json_decref(usage);
		goto noid;
	}
	out = gb_responses_object(id, (json_int_t)time(NULL), model, status,
	    reason, output, usage, NULL);
	output = NULL;
	if (out == NULL)
		goto nomem;
	goto done;
noid:
	gb_err_set(err, GB_EXIT_TEMP, 500, "getrandom: %s", strerror(errno));
	goto done;
nomem:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
done:
	json_decref(output);
	gb_parts_free(&p);
	return out;
}
