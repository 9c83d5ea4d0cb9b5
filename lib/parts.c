/*
 * parts.c - a Gemini candidate's parts -> OpenAI content, reasoning and
 * tool calls, for both the whole answer and the stream (parts.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gemini.h"
#include "parts.h"

void
gb_parts_init(struct gb_parts *p, size_t cap)
{
	gb_buf_init(&p->content, cap);
	gb_buf_init(&p->reasoning, cap);
	p->calls = NULL;
	p->images = NULL;
	p->textual = 0;
}

void
gb_parts_clear(struct gb_parts *p)
{
	gb_buf_reset(&p->content);
	gb_buf_reset(&p->reasoning);
	json_decref(p->calls);
	p->calls = NULL;
	json_decref(p->images);
	p->images = NULL;
}

void
gb_parts_free(struct gb_parts *p)
{
	gb_buf_free(&p->content);
	gb_buf_free(&p->reasoning);
	json_decref(p->calls);
	p->calls = NULL;
	json_decref(p->images);
	p->images = NULL;
}

/* The first of two names whose member is an object. */
static json_t *
either(const json_t *part, const char *a, const char *b, const char **key)
{
	json_t *v;

	if (json_is_object(v = json_object_get(part, a))) {
		if (key != NULL)
			*key = a;
		return v;
	}
	if (json_is_object(v = json_object_get(part, b))) {
		if (key != NULL)
			*key = b;
		return v;
	}
	return NULL;
}

/* The legacy names are those the original gemini-balance also knew. */
json_t *
gb_parts_code(const json_t *part, const char **key)
{
	return either(part, "executableCode", "codeExecution", key);
}

json_t *
gb_parts_result(const json_t *part, const char **key)
{
	return either(part, "codeExecutionResult", "executableCodeResult",
	    key);
}

const char *
gb_parts_finish(const char *reason, int called)
{
	const char *f = gb_gemini_finish_reason(reason);

	return called && strcmp(f, "stop") == 0 ? "tool_calls" : f;
}

/*
 * functionCall -> one tool_calls entry: {["index",] "id", "type",
 * "function": {"name", "arguments"} [, "extra_content"]}. An empty
 * thoughtSignature counts as none. NULL with errno ENOMEM on failure.
 */
static json_t *
tool_call(const json_t *part, const json_t *fc, json_int_t *next_index)
{
	const char *sig = json_string_value(json_object_get(part,
	    "thoughtSignature"));
	const char *name = json_string_value(json_object_get(fc, "name"));
	const json_t *args = json_object_get(fc, "args");
	json_t *t;
	char *id, *a;

	if (sig != NULL && *sig == '\0')
		sig = NULL;
	if (args == NULL || json_is_null(args))
		a = strdup("{}");
	else
		a = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
	id = gb_gemini_call_id(sig);
	t = json_object();
	if (a == NULL || id == NULL || t == NULL ||
	    (next_index != NULL && json_object_set_new(t, "index",
	    json_integer(*next_index)) == -1) ||
	    json_object_set_new(t, "id", json_string(id)) == -1 ||
	    json_object_set_new(t, "type", json_string("function")) == -1 ||
	    json_object_set_new(t, "function", json_pack("{s:s,s:s}", "name",
	    name != NULL ? name : "", "arguments", a)) == -1 ||
	    (sig != NULL && json_object_set_new(t, "extra_content",
	    json_pack("{s:{s:s}}", "google", "thought_signature", sig)) ==
	    -1)) {
		json_decref(t);
		t = NULL;
		errno = ENOMEM;
	} else if (next_index != NULL)
		(*next_index)++;
	free(id);
	free(a);
	return t;
}

static int
append_jstring(struct gb_buf *b, const json_t *s)
{
	return gb_buf_append(b, json_string_value(s), json_string_length(s));
}

/*
 * A MIME type as a data URL may carry it: type "/" subtype, each a
 * run of RFC 6838 name characters. Nothing that could end the URL or
 * the markdown around it (";", ",", ")", space) gets through.
 */
static int
mime_ok(const char *m)
{
	static const char extra[] = "!#$&^_.+-";
	size_t i;
	int slash = 0, run = 0;

	for (i = 0; m[i] != '\0'; i++) {
		if (m[i] == '/' && run > 0 && !slash) {
			slash = 1;
			run = 0;
		} else if ((m[i] >= 'a' && m[i] <= 'z') ||
		    (m[i] >= 'A' && m[i] <= 'Z') ||
		    (m[i] >= '0' && m[i] <= '9') || strchr(extra, m[i]) != NULL)
			run++;
		else
			return 0;
	}
	return slash && run > 0 && i <= 255;
}

/* Standard base64 (RFC 4648 section 4), as Google sends bytes in JSON. */
static int
base64_ok(const char *d, size_t n)
{
	size_t i, pad = 0;

	for (i = 0; i < n; i++) {
		if (d[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !((d[i] >= 'a' && d[i] <= 'z') ||
		    (d[i] >= 'A' && d[i] <= 'Z') ||
		    (d[i] >= '0' && d[i] <= '9') || d[i] == '+' ||
		    d[i] == '/'))
			return 0;
	}
	return pad <= 2 && n % 4 == 0;
}

static int
is_image(const char *mime)
{
	return mime != NULL && strncasecmp(mime, "image/", 6) == 0;
}

/*
 * An inlineData image: its markdown to b, and (when images is not NULL)
 * an images entry to *images. -1 with errno EINVAL, E2BIG or ENOMEM.
 */
static int
add_image(struct gb_buf *b, json_t **images, const char *mime,
    const json_t *data)
{
	const char *d = json_string_value(data);
	size_t n = json_string_length(data), mark = b->len;
	json_t *e;
	char *url;

	if (d == NULL || !mime_ok(mime) || !base64_ok(d, n)) {
		errno = EINVAL;
		return -1;
	}
	if (gb_buf_printf(b, "\n\n![image](data:%s;base64,", mime) == -1 ||
	    gb_buf_append(b, d, n) == -1 || gb_buf_puts(b, ")\n\n") == -1) {
		b->len = mark;
		if (b->data != NULL)
			b->data[mark] = '\0';
		return -1;
	}
	if (images == NULL)
		return 0;
	/* the URL is the markdown's, between "](" and ")" */
	url = b->data + mark + 11;
	if ((*images == NULL && (*images = json_array()) == NULL) ||
	    (e = json_pack("{s:s,s:{s:s%}}", "type", "image_url", "image_url",
	    "url", url, b->len - mark - 11 - 3)) == NULL ||
	    json_array_append_new(*images, e) == -1) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
gb_parts_walk(struct gb_parts *p, const json_t *cand,
    const struct gb_parts_opts *o)
{
	return gb_parts_walk_cut(p, cand, o, NULL, NULL);
}

int
gb_parts_walk_cut(struct gb_parts *p, const json_t *cand,
    const struct gb_parts_opts *o, gb_parts_cut cut, void *arg)
{
	const json_t *parts, *part;
	json_t *v, *t;
	const char *mime;
	size_t i;
	int rc, thought;

	parts = json_object_get(json_object_get(cand, "content"), "parts");
	json_array_foreach(parts, i, part) {
		thought = json_is_true(json_object_get(part, "thought"));
		if (json_is_object(v = json_object_get(part, "inlineData")) &&
		    is_image(mime = json_string_value(json_object_get(v,
		    "mimeType")))) {
			if (thought && !o->show_thinking)
				continue;
			if (cut != NULL && cut(arg, p) == -1)
				return -1;
			if (add_image(thought ? &p->reasoning : &p->content,
			    thought ? NULL : &p->images, mime,
			    json_object_get(v, "data")) == -1)
				return -1;
			if (!thought)
				p->textual = 1;
			if (cut != NULL && cut(arg, p) == -1)
				return -1;
		} else if (json_is_string(v = json_object_get(part, "text"))) {
			if (thought) {
				if (o->show_thinking &&
				    append_jstring(&p->reasoning, v) == -1)
					return -1;
				continue;
			}
			if (append_jstring(&p->content, v) == -1)
				return -1;
			p->textual = 1;
		} else if (json_is_object(v = json_object_get(part,
		    "functionCall"))) {
			if (p->calls == NULL && (p->calls = json_array()) ==
			    NULL) {
				errno = ENOMEM;
				return -1;
			}
			if ((t = tool_call(part, v, o->next_index)) == NULL)
				return -1;
			if (json_array_append_new(p->calls, t) == -1) {
				errno = ENOMEM;
				return -1;
			}
		} else if ((v = gb_parts_code(part, NULL)) != NULL) {
			if (gb_gemini_render_code(v, &p->content) == -1)
				return -1;
			p->textual = 1;
		} else if ((v = gb_parts_result(part, NULL)) != NULL) {
			if (gb_gemini_render_result(v, &p->content) == -1)
				return -1;
			p->textual = 1;
		}
		/*
		 * inlineData other than an image, fileData, a bare
		 * thoughtSignature: not shown
		 */
	}
	if (o->links != NULL) {
		if ((rc = gb_gemini_render_search(o->links, &p->content)) ==
		    -1)
			return -1;
		p->textual |= rc;
	}
	return 0;
}
