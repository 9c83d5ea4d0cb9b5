/*
 * gemini.c - finish reasons, usage, renderings, tool-call ids and error
 * shapes shared by every Gemini -> OpenAI conversion.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gemini.h"

const char *
gb_gemini_finish_reason(const char *r)
{
	static const char *filter[] = {
		"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT",
		"SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
		"IMAGE_RECITATION", "IMAGE_OTHER", "NO_IMAGE", "LANGUAGE",
		"OTHER"
	};
	size_t i;

	if (r == NULL)
		return "stop";
	if (strcmp(r, "MAX_TOKENS") == 0)
		return "length";
	for (i = 0; i < sizeof(filter) / sizeof(filter[0]); i++)
		if (strcmp(r, filter[i]) == 0)
			return "content_filter";
	/* STOP, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, ... */
	return "stop";
}

static json_int_t
count(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? json_integer_value(v) :
	    json_is_real(v) ? (json_int_t)json_real_value(v) : 0;
}

json_t *
gb_gemini_usage(const json_t *u)
{
	json_int_t prompt, cand, thoughts, tool, total, cached, completion;
	json_t *o;

	if (!json_is_object(u))
		return NULL;
	prompt = count(u, "promptTokenCount");
	cand = count(u, "candidatesTokenCount");
	thoughts = count(u, "thoughtsTokenCount");
	tool = count(u, "toolUsePromptTokenCount");
	cached = count(u, "cachedContentTokenCount");
	total = count(u, "totalTokenCount");
	/* thoughts already inside candidatesTokenCount? */
	if (thoughts > 0 && prompt + tool + cand == total)
		completion = cand;
	else
		completion = cand + thoughts;
	if (json_object_get(u, "totalTokenCount") == NULL)
		total = prompt + tool + completion;
	o = json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)(prompt +
	    tool), "completion_tokens", completion, "total_tokens", total);
	if (o == NULL)
		return NULL;
	if (thoughts > 0)
		json_object_set_new(o, "completion_tokens_details",
		    json_pack("{s:I}", "reasoning_tokens", thoughts));
	if (cached > 0)
		json_object_set_new(o, "prompt_tokens_details",
		    json_pack("{s:I}", "cached_tokens", cached));
	return o;
}

/* Append s with leading and trailing white space removed. */
static int
append_trimmed(struct gb_buf *b, const char *s)
{
	const char *e;

	if (s == NULL)
		return 0;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	return gb_buf_append(b, s, (size_t)(e - s));
}

static const char *
str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

int
gb_gemini_render_code(const json_t *code, struct gb_buf *b)
{
	const char *lang = str(code, "language");

	if (gb_buf_puts(b, "\n\n---\n\n\xe3\x80\x90\xe4\xbb\xa3\xe7\xa0\x81"
	    "\xe6\x89\xa7\xe8\xa1\x8c\xe3\x80\x91\n```") == -1)
		return -1;
	for (; *lang != '\0'; lang++)
		if (gb_buf_putc(b, tolower((unsigned char)*lang)) == -1)
			return -1;
	if (gb_buf_putc(b, '\n') == -1 ||
	    append_trimmed(b, str(code, "code")) == -1 ||
	    gb_buf_puts(b, "\n```\n") == -1)
		return -1;
	return 0;
}

int
gb_gemini_render_result(const json_t *res, struct gb_buf *b)
{
	/* "\n【执行结果】\n> outcome: " ... "\n\n【输出结果】\n```plaintext\n" */
	if (gb_buf_puts(b, "\n\xe3\x80\x90\xe6\x89\xa7\xe8\xa1\x8c\xe7\xbb\x93"
	    "\xe6\x9e\x9c\xe3\x80\x91\n> outcome: ") == -1 ||
	    gb_buf_puts(b, str(res, "outcome")) == -1 ||
	    gb_buf_puts(b, "\n\n\xe3\x80\x90\xe8\xbe\x93\xe5\x87\xba\xe7\xbb\x93"
	    "\xe6\x9e\x9c\xe3\x80\x91\n```plaintext\n") == -1 ||
	    append_trimmed(b, str(res, "output")) == -1 ||
	    gb_buf_puts(b, "\n```\n\n---\n\n") == -1)
		return -1;
	return 0;
}

/*
 * Returns 1 if the source list was appended, 0 if the candidate has no
 * grounding chunks, -1 if the buffer is full.
 */
int
gb_gemini_render_search(const json_t *cand, struct gb_buf *b)
{
	const json_t *chunks, *c, *web;
	size_t i;

	chunks = json_object_get(json_object_get(cand, "groundingMetadata"),
	    "groundingChunks");
	if (!json_is_array(chunks))
		return 0;
	/* "\n\n---\n\n**【引用来源】**\n\n" */
	if (gb_buf_puts(b, "\n\n---\n\n**\xe3\x80\x90\xe5\xbc\x95\xe7\x94\xa8"
	    "\xe6\x9d\xa5\xe6\xba\x90\xe3\x80\x91**\n\n") == -1)
		return -1;
	json_array_foreach(chunks, i, c) {
		if (!json_is_object(web = json_object_get(c, "web")))
			continue;
		if (gb_buf_printf(b, "\n- [%s](%s)", str(web, "title"),
		    str(web, "uri")) == -1)
			return -1;
	}
	return 1;
}

int
gb_random(void *p, size_t n)
{
	unsigned char *s = p;
	ssize_t r;

	while (n > 0) {
		r = getrandom(s, n, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

int
gb_random_id(char *buf, size_t size, const char *prefix, size_t ndigits)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[32];
	size_t i, n;

	if (ndigits / 2 > sizeof(r))
		ndigits = 2 * sizeof(r);
	if (gb_random(r, ndigits / 2) == -1)
		return -1;
	n = (size_t)snprintf(buf, size, "%s", prefix);
	for (i = 0; i < ndigits / 2 && n + 2 < size; i++, n += 2) {
		buf[n] = hex[r[i] >> 4];
		buf[n + 1] = hex[r[i] & 0xf];
		buf[n + 2] = '\0';
	}
	return 0;
}

char *
gb_gemini_call_id(const char *sig)
{
	char *id;
	size_t n;

	n = 5 + 16 + 1 + (sig != NULL ? 1 + strlen(sig) : 0);
	if ((id = malloc(n)) == NULL)
		return NULL;
	if (gb_random_id(id, n, "call_", 16) == -1) {
		free(id);
		return NULL;
	}
	if (sig != NULL)
		snprintf(id + 21, n - 21, "%c%s", GB_CALL_ID_SIGSEP, sig);
	return id;
}

const char *
gb_gemini_call_sig(const char *id)
{
	const char *p;

	if (id == NULL || (p = strchr(id, GB_CALL_ID_SIGSEP)) == NULL ||
	    p[1] == '\0')
		return NULL;
	return p + 1;
}

const char *
gb_openai_error_type(int status)
{
	switch (status) {
	case 401:
		return "authentication_error";
	case 403:
		return "permission_error";
	case 404:
		return "not_found_error";
	case 429:
		return "rate_limit_error";
	default:
		return status >= 500 || status == 0 ? "server_error" :
		    "invalid_request_error";
	}
}

json_t *
gb_openai_error(int status, const char *msg, const char *code)
{
	return json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message",
	    msg != NULL ? msg : "", "type", gb_openai_error_type(status),
	    "param", "code", code);
}

static const char *
canonical_status(int status)
{
	switch (status) {
	case 400:
		return "INVALID_ARGUMENT";
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 409:
		return "ABORTED";
	case 413:
		return "INVALID_ARGUMENT";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 499:
		return "CANCELLED";
	case 501:
		return "UNIMPLEMENTED";
	case 503:
		return "UNAVAILABLE";
	case 504:
		return "DEADLINE_EXCEEDED";
	default:
		return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
	}
}

json_t *
gb_gemini_error(int status, const char *msg)
{
	return json_pack("{s:{s:i,s:s,s:s}}", "error", "code", status,
	    "message", msg != NULL ? msg : "", "status",
	    canonical_status(status));
}

/* Does the Gemini error carry ErrorInfo.reason == reason? */
static int
has_reason(const json_t *gerr, const char *reason)
{
	const json_t *d, *det = json_object_get(gerr, "details");
	size_t i;

	json_array_foreach(det, i, d) {
		const char *r = json_string_value(json_object_get(d,
		    "reason"));

		if (r != NULL && strcmp(r, reason) == 0)
			return 1;
	}
	return 0;
}

json_t *
gb_gemini_error_to_openai(int status, const char *body, size_t len,
    int *out_status)
{
	json_t *root, *gerr, *res;
	const char *msg = NULL, *gstatus = NULL;
	char generic[128];

	root = json_loadb(body, len, 0, NULL);
	/* Google's compatibility layer sometimes wraps errors in an array */
	if (json_is_array(root))
		gerr = json_object_get(json_array_get(root, 0), "error");
	else
		gerr = json_object_get(root, "error");
	if (json_is_object(gerr)) {
		msg = json_string_value(json_object_get(gerr, "message"));
		gstatus = json_string_value(json_object_get(gerr, "status"));
	}
	*out_status = status;
	if (status == 400 && has_reason(gerr, "API_KEY_INVALID"))
		*out_status = 401;
	if (msg == NULL) {
		snprintf(generic, sizeof(generic),
		    "upstream answered HTTP %d", status);
		msg = generic;
	}
	res = gb_openai_error(*out_status, msg, *out_status == 401 ?
	    "invalid_api_key" : gstatus);
	json_decref(root);
	return res;
}

int
gb_gemini_answer(const json_t *resp, const json_t **cand, struct gb_err *err)
{
	const json_t *cands, *c, *e;
	const char *m;
	json_int_t bi = 0, ci;
	size_t i;

	*cand = NULL;
	if (!json_is_object(resp))
		return gb_err_set(err, GB_EXIT_USAGE, 400,
		    "response: expected a JSON object");
	if (json_is_object(e = json_object_get(resp, "error"))) {
		m = json_string_value(json_object_get(e, "message"));
		return gb_err_set(err, GB_EXIT_USAGE, 400, "response is an "
		    "upstream error: %s", m != NULL ? m : "(no message)");
	}
	cands = json_object_get(resp, "candidates");
	if (cands != NULL && !json_is_array(cands))
		return gb_err_set(err, GB_EXIT_USAGE, 400,
		    "candidates: expected an array");
	json_array_foreach(cands, i, c) {
		if (!json_is_object(c))
			return gb_err_set(err, GB_EXIT_USAGE, 400,
			    "candidates[%zu]: expected an object", i);
		ci = json_is_integer(json_object_get(c, "index")) ?
		    json_integer_value(json_object_get(c, "index")) :
		    (json_int_t)i;
		if (*cand == NULL || ci < bi) {
			*cand = c;
			bi = ci;
		}
	}
	return 0;
}
