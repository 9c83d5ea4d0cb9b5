/*
 * answer.c - empty Gemini answers (answer.h).
 *
 * The rules are the ones gb-call(1) documents. A stream is judged event
 * by event as it arrives; until the first event with content the caller
 * holds what came (gb-call does not commit a stream to its client
 * before), so the scanner itself keeps only the event it is reading.
 */
#include <string.h>

#include "answer.h"

int
gb_answer_judged(const char *path)
{
	const char *end, *p, *colon = NULL;
	size_t n;

	end = path + strcspn(path, "?#");
	for (p = path; p < end; p++)
		if (*p == '/')
			colon = NULL;
		else if (*p == ':')
			colon = p;
	if (colon == NULL)
		return 0;
	n = (size_t)(end - colon - 1);
	return (n == 15 && strncmp(colon + 1, "generateContent", n) == 0) ||
	    (n == 21 && strncmp(colon + 1, "streamGenerateContent", n) == 0);
}

/* A part that is content: anything but empty text and its markers. */
static int
part_content(json_t *part)
{
	const char *k, *t;
	json_t *v;

	if (!json_is_object(part))
		return 1;
	json_object_foreach(part, k, v) {
		if (strcmp(k, "text") == 0) {
			if ((t = json_string_value(v)) == NULL || *t != '\0')
				return 1;
		} else if (strcmp(k, "thought") != 0 &&
		    strcmp(k, "thoughtSignature") != 0)
			return 1;
	}
	return 0;
}

int
gb_answer_content(const json_t *r)
{
	json_t *c, *p;
	const char *s;
	size_t i, j;

	if (!json_is_object(r) || json_object_get(r, "error") != NULL)
		return 1;
	s = json_string_value(json_object_get(json_object_get(r,
	    "promptFeedback"), "blockReason"));
	if (s != NULL && *s != '\0')
		return 1;
	json_array_foreach(json_object_get(r, "candidates"), i, c) {
		s = json_string_value(json_object_get(c, "finishReason"));
		if (s != NULL && strcmp(s, "STOP") != 0 &&
		    strcmp(s, "FINISH_REASON_UNSPECIFIED") != 0)
			return 1;
		json_array_foreach(json_object_get(json_object_get(c,
		    "content"), "parts"), j, p)
			if (part_content(p))
				return 1;
	}
	return 0;
}

int
gb_answer_doc_content(const json_t *j)
{
	const json_t *e;
	size_t i;

	if (j == NULL)
		return 1;
	if (!json_is_array(j))
		return gb_answer_content(j);
	json_array_foreach(j, i, e)
		if (gb_answer_content(e))
			return 1;
	return 0;
}

int
gb_answer_body_content(const char *p, size_t len)
{
	json_t *j;
	int yes;

	if (p == NULL || (j = json_loadb(p, len, 0, NULL)) == NULL)
		return 1;
	yes = gb_answer_doc_content(j);
	json_decref(j);
	return yes;
}

static int
data_content(const char *p, size_t len)
{
	json_t *j;
	int yes;

	/* not JSON: not ours to judge */
	if ((j = json_loadb(p, len, 0, NULL)) == NULL)
		return 1;
	yes = gb_answer_content(j);
	json_decref(j);
	return yes;
}

static int
on_event(void *arg, const struct gb_sse_event *ev, struct gb_err *err)
{
	struct gb_answer_scan *s = arg;

	(void)err;
	if (!data_content(ev->data, ev->len))
		return 0;
	s->found = 1;
	return -1;
}

void
gb_answer_scan_init(struct gb_answer_scan *s, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
}

void
gb_answer_scan_free(struct gb_answer_scan *s)
{
	if (s->format == 'S')
		gb_sse_free(&s->sse);
	gb_buf_free(&s->obj);
	s->format = 0;
}

/*
 * Unframed JSON: a top-level array of responses (streamGenerateContent
 * without alt=sse), or one object. Each element object is collected
 * while the brackets and strings around it are tracked, and judged
 * when it closes.
 */
static int
feed_json(struct gb_answer_scan *s, const char *p, size_t len)
{
	size_t i, top;
	char ch;

	for (i = 0; i < len; i++) {
		ch = p[i];
		top = s->array ? 1 : 0;
		if (s->depth > (int)top ||
		    (s->depth == (int)top && ch == '{')) {
			if (gb_buf_append(&s->obj, &ch, 1) == -1)
				return s->found = 1;
		}
		if (s->instr) {
			if (s->esc)
				s->esc = 0;
			else if (ch == '\\')
				s->esc = 1;
			else if (ch == '"')
				s->instr = 0;
			continue;
		}
		switch (ch) {
		case '"':
			s->instr = 1;
			break;
		case '[':
			if (s->depth == 0)
				s->array = 1;
			s->depth++;
			break;
		case '{':
			s->depth++;
			break;
		case ']':
		case '}':
			if (--s->depth == (int)top && ch == '}') {
				if (data_content(s->obj.data, s->obj.len))
					return s->found = 1;
				gb_buf_reset(&s->obj);
			}
			if (s->depth < 0)
				return s->found = 1;
			break;
		}
	}
	return 0;
}

int
gb_answer_scan_feed(struct gb_answer_scan *s, const char *p, size_t len)
{
	struct gb_err err;
	size_t i;

	if (s->found)
		return 1;
	if (s->format == 0) {
		/* white space (and a BOM) say nothing yet */
		for (i = 0; i < len && strchr(" \t\r\n\xef\xbb\xbf", p[i]) !=
		    NULL && p[i] != '\0'; i++)
			;
		if (i == len)
			return 0;
		if (p[i] == '[' || p[i] == '{') {
			s->format = 'J';
			gb_buf_init(&s->obj, s->cap);
		} else {
			s->format = 'S';
			gb_sse_init(&s->sse, s->cap);
		}
	}
	if (s->format == 'J')
		return feed_json(s, p, len);
	gb_err_clear(&err);
	/* -1: content found (on_event stopped it), or an event too big */
	if (gb_sse_feed(&s->sse, p, len, on_event, s, &err) == -1)
		s->found = 1;
	return s->found;
}
