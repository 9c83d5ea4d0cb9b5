/*
 * convert_req.c - OpenAI chat.completions request -> Gemini
 * GenerateContentRequest.
 *
 * Messages are read in order. system/developer texts go to
 * systemInstruction; user and assistant messages become user and model
 * contents, consecutive ones of the same role merged; a run of tool
 * messages becomes one user content of functionResponse parts in the
 * order of the calls they answer, never merged with the user text that
 * follows. Names of called functions are looked up from the assistant
 * tool_calls seen so far (a later call with the same id wins).
 *
 * Every problem is reported as "<where>: <what>" with where a JSON path
 * such as messages[2].content[1].image_url.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert.h"
#include "gemini.h"

#define TOOL_RESULT_MAX	(64 * 1024 * 1024)	/* without a MAX_BODY */

struct pending {			/* one tool result waiting in a run */
	size_t	 pos;			/* position of the call it answers */
	size_t	 seq;			/* arrival, for a stable sort */
	json_t	*part;			/* the functionResponse part */
};

struct req {
	const struct gb_config *cfg;
	struct gb_err	*err;
	const char	*model;		/* as requested */
	char		*upstream;	/* without models/ and -search */
	int		 search;	/* -search on a MODEL_SEARCH model */
	int		 gemini3;
	int		 image_model;	/* an IMAGE_MODELS model (or alias) */
	json_t		*modalities;	/* responseModalities, or NULL */
	json_t		*contents;
	json_t		*sys;		/* systemInstruction parts */
	int		 last_fr;	/* last content holds tool results */
	json_t		*calls;		/* id -> [name, position] */
	size_t		 ncalls;
	struct pending	*run;		/* the current run of tool results */
	size_t		 nrun;
	size_t		 runsize;
};

/* A JSON path for messages; long ones are cut, never overflow. */
static void __attribute__((format(printf, 3, 4)))
wpath(char *w, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w, n, fmt, ap);
	va_end(ap);
}

#define BAD(r, ...)	gb_err_set((r)->err, GB_EXIT_USAGE, 400, __VA_ARGS__)

static int
nomem(struct req *r)
{
	return gb_err_set(r->err, GB_EXIT_TEMP, 500, "out of memory");
}

static json_t *
text_part(const char *s, size_t n)
{
	return json_pack("{s:s%}", "text", s, n);
}

/* Append a text part unless the text is empty. */
static int
add_text(struct req *r, json_t *parts, const json_t *s)
{
	if (json_string_length(s) == 0)
		return 0;
	if (json_array_append_new(parts, text_part(json_string_value(s),
	    json_string_length(s))) == -1)
		return nomem(r);
	return 0;
}

static json_t *
inline_part(const char *mime, json_t *data)
{
	return json_pack("{s:{s:s,s:o}}", "inlineData", "mimeType", mime,
	    "data", data);
}

/*
 * data:<type>[;param]...;base64,<data> -> inlineData. image/jpg is the
 * common misspelling of image/jpeg.
 */
static json_t *
data_url(struct req *r, const char *where, const json_t *u)
{
	const char *s = json_string_value(u), *comma, *semi;
	size_t n = json_string_length(u), tlen;
	char mime[128];
	json_t *d;

	if (n < 5 || strncmp(s, "data:", 5) != 0 ||
	    (comma = memchr(s, ',', n)) == NULL) {
		BAD(r, "%s: malformed data URL", where);
		return NULL;
	}
	if (comma - s < 12 || strncmp(comma - 7, ";base64", 7) != 0) {
		BAD(r, "%s: data URL is not base64", where);
		return NULL;
	}
	s += 5;
	semi = memchr(s, ';', (size_t)(comma - s));
	tlen = (size_t)(semi - s);
	if (tlen == 0 || tlen >= sizeof(mime) || memchr(s, '/', tlen) == NULL) {
		BAD(r, "%s: data URL has no media type", where);
		return NULL;
	}
	for (n = 0; n < tlen; n++)
		mime[n] = (char)(s[n] >= 'A' && s[n] <= 'Z' ? s[n] + 32 : s[n]);
	mime[tlen] = '\0';
	if (strcmp(mime, "image/jpg") == 0)
		strcpy(mime, "image/jpeg");
	s = comma + 1;
	n = json_string_length(u) - (size_t)(s - json_string_value(u));
	if (!gb_b64_valid(s, n)) {
		BAD(r, "%s: data URL has bad base64 data", where);
		return NULL;
	}
	/* base64 is ASCII: no need to check UTF-8 again */
	if ((d = json_stringn_nocheck(s, n)) == NULL) {
		nomem(r);
		return NULL;
	}
	return inline_part(mime, d);
}

/* A media type guessed from the URL's file name extension. */
static const char *
ext_type(const char *url)
{
	static const char *const t[] = {
		".png", "image/png", ".jpg", "image/jpeg", ".jpeg",
		"image/jpeg", ".gif", "image/gif", ".webp", "image/webp",
		".heic", "image/heic", ".heif", "image/heif", NULL
	};
	size_t n = strcspn(url, "?#"), i, k;

	for (i = 0; t[i] != NULL; i += 2) {
		k = strlen(t[i]);
		if (n > k && strncasecmp(url + n - k, t[i], k) == 0)
			return t[i + 1];
	}
	return NULL;
}

static json_t *
fetch_url(struct req *r, const char *where, const char *url)
{
	struct gb_buf b;
	char *ct = NULL, *enc;
	const char *mime;
	size_t n;
	json_t *part = NULL;

	gb_buf_init(&b, GB_FETCH_MAX);
	if (gb_fetch(url, GB_FETCH_TIMEOUT, &r->cfg->fetch_allow, &b, &ct,
	    r->err) == -1) {
		/* prefix the place in the request */
		char msg[GB_ERR_MSGSIZE];

		memcpy(msg, r->err->msg, sizeof(msg));
		gb_err_set(r->err, r->err->code, r->err->status, "%s: %s",
		    where, msg);
		goto out;
	}
	mime = ct;
	if (mime == NULL || strcmp(mime, "application/octet-stream") == 0)
		mime = ext_type(url);
	if (mime == NULL) {
		BAD(r, "%s: %s: no media type in the answer or the name",
		    where, url);
		goto out;
	}
	if ((enc = gb_b64_encode(b.data, b.len, &n)) == NULL) {
		nomem(r);
		goto out;
	}
	gb_buf_free(&b);
	part = inline_part(mime, json_stringn_nocheck(enc, n));
	free(enc);
	if (part == NULL)
		nomem(r);
out:
	gb_buf_free(&b);
	free(ct);
	return part;
}

static json_t *
image_part(struct req *r, const char *where, const json_t *iu)
{
	const json_t *u = iu;
	const char *s;
	char w[256];

	if (json_is_object(iu)) {
		u = json_object_get(iu, "url");
		wpath(w, sizeof(w), "%s.url", where);
		where = w;
	}
	if (!json_is_string(u)) {
		BAD(r, "%s: expected a URL string", where);
		return NULL;
	}
	s = json_string_value(u);
	if (strncmp(s, "data:", 5) == 0)
		return data_url(r, where, u);
	if (strncasecmp(s, "http://", 7) == 0 ||
	    strncasecmp(s, "https://", 8) == 0)
		return fetch_url(r, where, s);
	BAD(r, "%s: not a data, http or https URL", where);
	return NULL;
}

static json_t *
audio_part(struct req *r, const char *where, const json_t *a)
{
	const json_t *d = json_object_get(a, "data");
	const char *f = json_string_value(json_object_get(a, "format"));
	char mime[64];

	if (!json_is_string(d) || f == NULL || *f == '\0') {
		BAD(r, "%s: needs string data and format", where);
		return NULL;
	}
	if (!gb_b64_valid(json_string_value(d), json_string_length(d))) {
		BAD(r, "%s.data: bad base64 data", where);
		return NULL;
	}
	snprintf(mime, sizeof(mime), "%s%s", strchr(f, '/') != NULL ? "" :
	    "audio/", f);
	return inline_part(mime, json_incref((json_t *)(uintptr_t)d));
}

static json_t *
file_part(struct req *r, const char *where, const json_t *f)
{
	const json_t *d = json_object_get(f, "file_data");
	char w[256];

	if (json_object_get(f, "file_id") != NULL && d == NULL) {
		BAD(r, "%s.file_id: uploaded files are not supported, "
		    "send file_data", where);
		return NULL;
	}
	wpath(w, sizeof(w), "%s.file_data", where);
	if (!json_is_string(d)) {
		BAD(r, "%s: expected a data URL string", w);
		return NULL;
	}
	return data_url(r, w, d);
}

/*
 * One element of a content array. allow says which kinds the role may
 * carry: 't' text only, 'a' text and refusal, 'u' everything.
 */
static int
add_part(struct req *r, json_t *parts, const char *where, const json_t *p,
    int allow)
{
	const char *type;
	json_t *v, *np = NULL;
	char w[256];

	if (json_is_string(p))
		return add_text(r, parts, p);
	if (!json_is_object(p) ||
	    (type = json_string_value(json_object_get(p, "type"))) == NULL)
		return BAD(r, "%s: expected a string or an object with a type",
		    where);
	wpath(w, sizeof(w), "%s.%s", where, type);
	v = json_object_get(p, type);
	if (strcmp(type, "text") == 0) {
		if (!json_is_string(v))
			return BAD(r, "%s: expected a string", w);
		return add_text(r, parts, v);
	}
	if (strcmp(type, "refusal") == 0 && allow == 'a') {
		if (!json_is_string(v))
			return BAD(r, "%s: expected a string", w);
		return add_text(r, parts, v);
	}
	if (allow != 'u')
		return BAD(r, "%s: part type \"%s\" not allowed here", where,
		    type);
	if (strcmp(type, "image_url") == 0)
		np = image_part(r, w, v);
	else if (strcmp(type, "input_audio") == 0 && json_is_object(v))
		np = audio_part(r, w, v);
	else if (strcmp(type, "file") == 0 && json_is_object(v))
		np = file_part(r, w, v);
	else if (strcmp(type, "input_audio") == 0 || strcmp(type, "file") == 0)
		return BAD(r, "%s: expected an object", w);
	else
		return BAD(r, "%s: unknown part type \"%s\"", where, type);
	if (np == NULL)
		return -1;
	if (json_array_append_new(parts, np) == -1)
		return nomem(r);
	return 0;
}

/* A message's content (string, array or null) -> parts appended. */
static int
add_content_parts(struct req *r, json_t *parts, size_t i, const json_t *c,
    int allow)
{
	const json_t *p;
	char w[256];
	size_t j;

	if (c == NULL || json_is_null(c))
		return 0;
	if (json_is_string(c))
		return add_text(r, parts, c);
	if (!json_is_array(c))
		return BAD(r, "messages[%zu].content: expected a string or an "
		    "array", i);
	json_array_foreach(c, j, p) {
		wpath(w, sizeof(w), "messages[%zu].content[%zu]", i, j);
		if (add_part(r, parts, w, p, allow) == -1)
			return -1;
	}
	return 0;
}

/*
 * Add a content; merge with the last one when the role is the same and
 * neither holds tool results. Steals parts.
 */
static int
add_turn(struct req *r, const char *role, json_t *parts, int fr)
{
	json_t *last;
	size_t n = json_array_size(r->contents);

	if (json_array_size(parts) == 0) {
		json_decref(parts);
		return 0;
	}
	last = n > 0 ? json_array_get(r->contents, n - 1) : NULL;
	if (last != NULL && !fr && !r->last_fr && strcmp(json_string_value(
	    json_object_get(last, "role")), role) == 0) {
		json_array_extend(json_object_get(last, "parts"), parts);
		json_decref(parts);
		return 0;
	}
	if (json_array_append_new(r->contents, json_pack("{s:s,s:o}",
	    "role", role, "parts", parts)) == -1)
		return nomem(r);
	r->last_fr = fr;
	return 0;
}

static int
cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* End a run of tool messages: one user content in call order. */
static int
flush_run(struct req *r)
{
	json_t *parts;
	size_t i;

	if (r->nrun == 0)
		return 0;
	qsort(r->run, r->nrun, sizeof(r->run[0]), cmp_pending);
	if ((parts = json_array()) == NULL)
		return nomem(r);
	for (i = 0; i < r->nrun; i++) {
		json_array_append_new(parts, r->run[i].part);
		r->run[i].part = NULL;
	}
	r->nrun = 0;
	return add_turn(r, "user", parts, 1);
}

/*
 * A tool message's content -> the response object: a JSON object as it
 * is; any other JSON value or plain text wrapped as {"result": ...}.
 * An array of text parts is joined first.
 */
static json_t *
tool_response(struct req *r, size_t i, const json_t *c)
{
	struct gb_buf b;
	const json_t *p;
	json_t *v;
	size_t j;

	/* the joined text is never longer than the request it came in */
	gb_buf_init(&b, r->cfg->max_body > 0 ? (size_t)r->cfg->max_body :
	    TOOL_RESULT_MAX);
	if (json_is_string(c)) {
		if (gb_buf_append(&b, json_string_value(c),
		    json_string_length(c)) == -1)
			goto mem;
	} else if (json_is_array(c)) {
		json_array_foreach(c, j, p) {
			const json_t *t = json_is_string(p) ? p :
			    json_object_get(p, "text");

			if (!json_is_string(t)) {
				gb_buf_free(&b);
				BAD(r, "messages[%zu].content[%zu]: expected "
				    "a text part", i, j);
				return NULL;
			}
			if (gb_buf_append(&b, json_string_value(t),
			    json_string_length(t)) == -1)
				goto mem;
		}
	} else if (c != NULL && !json_is_null(c)) {
		BAD(r, "messages[%zu].content: expected a string or an array",
		    i);
		return NULL;
	}
	v = json_loadb(b.data != NULL ? b.data : "", b.len, JSON_DECODE_ANY,
	    NULL);
	if (json_is_object(v)) {
		gb_buf_free(&b);
		return v;
	}
	if (v == NULL)
		v = json_stringn(b.data != NULL ? b.data : "", b.len);
	gb_buf_free(&b);
	return json_pack("{s:o}", "result", v);
mem:
	gb_buf_free(&b);
	nomem(r);
	return NULL;
}

static int
add_tool(struct req *r, size_t i, const json_t *m)
{
	const char *id = json_string_value(json_object_get(m, "tool_call_id"));
	const json_t *call;
	json_t *resp;
	struct pending *np;

	if (id == NULL)
		return BAD(r, "messages[%zu].tool_call_id: missing", i);
	if ((call = json_object_get(r->calls, id)) == NULL)
		return BAD(r, "messages[%zu].tool_call_id: no earlier tool call "
		    "has the id \"%s\"", i, id);
	if ((resp = tool_response(r, i, json_object_get(m, "content"))) ==
	    NULL)
		return -1;
	if (r->nrun == r->runsize) {
		size_t ns = r->runsize ? r->runsize * 2 : 8;

		if ((np = reallocarray(r->run, ns, sizeof(*np))) == NULL) {
			json_decref(resp);
			return nomem(r);
		}
		r->run = np;
		r->runsize = ns;
	}
	np = &r->run[r->nrun];
	np->pos = (size_t)json_integer_value(json_array_get(call, 1));
	np->seq = r->nrun;
	np->part = json_pack("{s:{s:O,s:o}}", "functionResponse", "name",
	    json_array_get(call, 0), "response", resp);
	if (np->part == NULL)
		return nomem(r);
	r->nrun++;
	return 0;
}

/* The signature of an assistant tool call, or NULL. */
static const char *
call_signature(const json_t *tc)
{
	const char *s;

	s = json_string_value(json_object_get(json_object_get(
	    json_object_get(tc, "extra_content"), "google"),
	    "thought_signature"));
	if (s != NULL && *s != '\0')
		return s;
	/* only ids minted by gb_gemini_call_id: call_<16 hex>~<sig> */
	s = json_string_value(json_object_get(tc, "id"));
	if (s == NULL || strncmp(s, "call_", 5) != 0 ||
	    strspn(s + 5, "0123456789abcdef") != 16 ||
	    s[21] != GB_CALL_ID_SIGSEP)
		return NULL;
	return gb_gemini_call_sig(s);
}

static int
add_assistant(struct req *r, size_t i, const json_t *m)
{
	const json_t *tcs = json_object_get(m, "tool_calls"), *tc, *f, *a;
	const char *name, *id, *sig, *as;
	json_t *parts, *args, *part;
	json_error_t je;
	int first = 1;
	size_t j;

	if ((parts = json_array()) == NULL)
		return nomem(r);
	if (add_content_parts(r, parts, i, json_object_get(m, "content"),
	    'a') == -1)
		goto fail;
	if (tcs != NULL && !json_is_null(tcs) && !json_is_array(tcs)) {
		BAD(r, "messages[%zu].tool_calls: expected an array", i);
		goto fail;
	}
	json_array_foreach(tcs, j, tc) {
		f = json_object_get(tc, "function");
		name = json_string_value(json_object_get(f, "name"));
		id = json_string_value(json_object_get(tc, "id"));
		if (name == NULL || *name == '\0') {
			BAD(r, "messages[%zu].tool_calls[%zu].function.name: "
			    "missing", i, j);
			goto fail;
		}
		a = json_object_get(f, "arguments");
		as = json_string_value(a);
		if (a == NULL || json_is_null(a) || (as != NULL &&
		    as[strspn(as, " \t\r\n")] == '\0'))
			args = json_object();
		else if (json_is_object(a))
			args = json_deep_copy(a);
		else if (as != NULL) {
			args = json_loadb(as, json_string_length(a),
			    JSON_DECODE_ANY, &je);
			if (!json_is_object(args)) {
				json_decref(args);
				BAD(r, "messages[%zu].tool_calls[%zu]: "
				    "arguments of %s are not a JSON object",
				    i, j, name);
				goto fail;
			}
		} else {
			BAD(r, "messages[%zu].tool_calls[%zu].function."
			    "arguments: expected a string", i, j);
			goto fail;
		}
		part = json_pack("{s:{s:s,s:o}}", "functionCall", "name", name,
		    "args", args);
		if (part == NULL)
			goto mem;
		sig = call_signature(tc);
		if (sig == NULL && first && r->gemini3)
			sig = GB_SKIP_SIGNATURE;
		if (sig != NULL)
			json_object_set_new(part, "thoughtSignature",
			    json_string(sig));
		first = 0;
		json_array_append_new(parts, part);
		if (id != NULL && json_object_set_new(r->calls, id,
		    json_pack("[s,I]", name, (json_int_t)r->ncalls++)) == -1)
			goto mem;
	}
	return add_turn(r, "model", parts, 0);
mem:
	nomem(r);
fail:
	json_decref(parts);
	return -1;
}

static int
add_message(struct req *r, size_t i, const json_t *m)
{
	const char *role = json_string_value(json_object_get(m, "role"));
	json_t *parts;

	if (!json_is_object(m))
		return BAD(r, "messages[%zu]: expected an object", i);
	if (role == NULL)
		return BAD(r, "messages[%zu].role: missing", i);
	if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
		return add_content_parts(r, r->sys, i,
		    json_object_get(m, "content"), 't');
	if (strcmp(role, "tool") == 0)
		return add_tool(r, i, m);
	if (flush_run(r) == -1)
		return -1;
	if (strcmp(role, "assistant") == 0)
		return add_assistant(r, i, m);
	if (strcmp(role, "user") != 0)
		return BAD(r, "messages[%zu].role: unknown role \"%s\"", i,
		    role);
	if ((parts = json_array()) == NULL)
		return nomem(r);
	if (add_content_parts(r, parts, i, json_object_get(m, "content"),
	    'u') == -1) {
		json_decref(parts);
		return -1;
	}
	return add_turn(r, "user", parts, 0);
}

/* Set key to a copy of the number v (integers stay integers). */
static int
set_number(struct req *r, json_t *o, const char *okey, const json_t *req,
    const char *key)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return BAD(r, "%s: expected a number", key);
	json_object_set(o, okey, v);
	return 0;
}

/* An integer (2.0 counts) in [min, max], or 1 if absent/null. */
static int
get_int(struct req *r, const json_t *req, const char *key, long long min,
    long long max, long long *out)
{
	json_t *v = json_object_get(req, key);
	double d;

	if (v == NULL || json_is_null(v))
		return 1;
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (json_is_real(v) && (d = json_real_value(v)) >= -9e15 &&
	    d <= 9e15 && d == (double)(long long)d)
		*out = (long long)d;
	else
		return BAD(r, "%s: expected an integer", key);
	if (*out < min || *out > max)
		return BAD(r, "%s: %lld is not in [%lld, %lld]", key, *out,
		    min, max);
	return 0;
}

static int
set_int(struct req *r, json_t *o, const char *okey, const json_t *req,
    const char *key, long long min, long long max)
{
	long long n;
	int rc;

	if ((rc = get_int(r, req, key, min, max, &n)) != 0)
		return rc == 1 ? 0 : -1;
	json_object_set_new(o, okey, json_integer(n));
	return 0;
}

static const char *const response_drop[] = { "$schema", "strict", NULL };
static const char *const param_drop[] = {
	"$schema", "strict", "additionalProperties", "$comment", NULL
};

static int
response_format(struct req *r, json_t *gc, const json_t *rf)
{
	const char *type = json_string_value(json_object_get(rf, "type"));
	const json_t *js, *schema;

	if (rf == NULL || json_is_null(rf))
		return 0;
	if (type == NULL)
		return BAD(r, "response_format.type: missing");
	if (strcmp(type, "text") == 0)
		return 0;
	if (strcmp(type, "json_object") == 0) {
		json_object_set_new(gc, "responseMimeType",
		    json_string("application/json"));
		return 0;
	}
	if (strcmp(type, "json_schema") != 0)
		return BAD(r, "response_format.type: unknown type \"%s\"",
		    type);
	js = json_object_get(rf, "json_schema");
	schema = json_object_get(js, "schema");
	if (!json_is_object(js) || (schema != NULL && !json_is_object(schema)))
		return BAD(r, "response_format.json_schema: expected an object "
		    "with a schema object");
	if (schema == NULL) {
		json_object_set_new(gc, "responseMimeType",
		    json_string("application/json"));
		return 0;
	}
	if (json_is_array(json_object_get(schema, "enum")) &&
	    json_object_get(schema, "properties") == NULL) {
		/* a bare enum answers with the value itself */
		json_object_set_new(gc, "responseMimeType",
		    json_string("text/x.enum"));
		json_object_set_new(gc, "responseSchema", json_pack("{s:s,s:O}",
		    "type", "STRING", "enum", json_object_get(schema,
		    "enum")));
		return 0;
	}
	json_object_set_new(gc, "responseMimeType",
	    json_string("application/json"));
	json_object_set_new(gc, "responseJsonSchema",
	    gb_schema_clean(schema, response_drop));
	return 0;
}

/* snake_case thinking_config -> camelCase thinkingConfig (new ref). */
static json_t *
thinking_config(struct req *r, const json_t *tc)
{
	static const char *const map[] = {
		"thinking_budget", "thinkingBudget", "thinking_level",
		"thinkingLevel", "include_thoughts", "includeThoughts", NULL
	};
	const char *k;
	json_t *o, *v;
	size_t i;

	if (!json_is_object(tc)) {
		BAD(r, "extra_body.google.thinking_config: expected an object");
		return NULL;
	}
	o = json_object();
	json_object_foreach((json_t *)(uintptr_t)tc, k, v) {
		for (i = 0; map[i] != NULL; i += 2)
			if (strcmp(k, map[i]) == 0 ||
			    strcmp(k, map[i + 1]) == 0)
				break;
		json_object_set(o, map[i] != NULL ? map[i + 1] : k, v);
	}
	return o;
}

/*
 * Models that take a thinkingConfig: 2.5, 3, the old "thinking"
 * experiments and the unversioned aliases (gemini-flash-latest, ...),
 * which point at thinking models. Others answer 400 to one, and so do
 * the image models before Gemini 3 (gemini-2.5-flash-image does not
 * think).
 */
static int
thinking_capable(const char *m)
{
	if (strstr(m, "-image") != NULL && strncmp(m, "gemini-3", 8) != 0)
		return 0;
	return strstr(m, "gemini-2.5") != NULL ||
	    strncmp(m, "gemini-3", 8) == 0 || strstr(m, "thinking") != NULL ||
	    strncmp(m, "gemini-flash", 12) == 0 ||
	    strncmp(m, "gemini-pro", 10) == 0;
}

static int
reasoning(struct req *r, json_t *gc, const json_t *req, const json_t *g)
{
	static const char *const effort[] = {
		"none", "minimal", "low", "medium", "high", "xhigh", "max",
		NULL
	};
	static const int budget[] = { 0, 1024, 1024, 8192, 24576, 24576,
	    24576 };
	static const char *const level[] = { "LOW", "LOW", "LOW", "MEDIUM",
	    "HIGH", "HIGH", "HIGH" };
	const json_t *re = json_object_get(req, "reasoning_effort");
	const json_t *tcin = json_object_get(g, "thinking_config");
	json_t *tc = NULL;
	const char *e;
	size_t i;

	if (tcin != NULL && !json_is_null(tcin) &&
	    (tc = thinking_config(r, tcin)) == NULL)
		return -1;
	if (re != NULL && !json_is_null(re)) {
		if ((e = json_string_value(re)) == NULL)
			goto bad;
		for (i = 0; effort[i] != NULL; i++)
			if (strcmp(e, effort[i]) == 0)
				break;
		if (effort[i] == NULL) {
			BAD(r, "reasoning_effort: unknown value \"%s\"", e);
			goto fail;
		}
		if (tc != NULL && (json_object_get(tc, "thinkingBudget") ||
		    json_object_get(tc, "thinkingLevel"))) {
			BAD(r, "reasoning_effort: cannot be used together with "
			    "extra_body.google.thinking_config");
			goto fail;
		}
		if (tc == NULL)
			tc = json_object();
		if (r->gemini3)
			json_object_set_new(tc, "thinkingLevel",
			    json_string(level[i]));
		else if (budget[i] == 0 && strstr(r->upstream, "2.5-pro"))
			/* 2.5 Pro cannot stop thinking: its least budget */
			json_object_set_new(tc, "thinkingBudget",
			    json_integer(128));
		else
			json_object_set_new(tc, "thinkingBudget",
			    json_integer(budget[i]));
	}
	if (r->cfg->show_thinking && (tc != NULL ||
	    thinking_capable(r->upstream))) {
		if (tc == NULL)
			tc = json_object();
		if (json_object_get(tc, "includeThoughts") == NULL)
			json_object_set_new(tc, "includeThoughts", json_true());
	}
	if (tc != NULL)
		json_object_set_new(gc, "thinkingConfig", tc);
	return 0;
bad:
	BAD(r, "reasoning_effort: expected a string");
fail:
	json_decref(tc);
	return -1;
}

/*
 * What the answer may hold, worked out before the tools. Asked of an
 * IMAGE_MODELS model, or with "modalities" naming "image": modalities
 * naming "text" or "image" get exactly those (TEXT before IMAGE), and
 * without either (absent, empty, only "audio", which this route does
 * not produce: speech is /v1/audio/speech's) TEXT and IMAGE. Any other
 * request sends none, Gemini's default (text). Unknown names are an
 * error.
 */
static int
modalities(struct req *r, const json_t *req)
{
	const json_t *m = json_object_get(req, "modalities"), *v;
	const char *s;
	int text = 0, image = 0;
	size_t i;

	if (m != NULL && !json_is_null(m) && !json_is_array(m))
		return BAD(r, "modalities: expected an array of strings");
	json_array_foreach(m, i, v) {
		if ((s = json_string_value(v)) == NULL)
			return BAD(r, "modalities[%zu]: expected a string", i);
		if (strcasecmp(s, "text") == 0)
			text = 1;
		else if (strcasecmp(s, "image") == 0)
			image = 1;
		else if (strcasecmp(s, "audio") != 0)
			return BAD(r, "modalities[%zu]: unknown value \"%s\" "
			    "(text, image or audio)", i, s);
	}
	if (!image && !r->image_model)
		return 0;	/* Gemini's default, as before images came */
	if (!text && !image)
		text = image = 1;
	if ((r->modalities = json_array()) == NULL ||
	    (text && json_array_append_new(r->modalities,
	    json_string("TEXT")) == -1) ||
	    (image && json_array_append_new(r->modalities,
	    json_string("IMAGE")) == -1))
		return nomem(r);
	return 0;
}

/* Does the answer asked for hold images? */
static int
image_out(const struct req *r)
{
	const json_t *v;
	size_t i;

	json_array_foreach(r->modalities, i, v)
		if (strcmp(json_string_value(v), "IMAGE") == 0)
			return 1;
	return 0;
}

/*
 * image_config (or extra_body.google.image_config) -> imageConfig:
 * aspect_ratio ("16:9", ...) -> aspectRatio, image_size ("1K", "2K",
 * "4K") -> imageSize, the camelCase names taken too; the values are
 * Gemini's to judge. Sent whenever given: a model that cannot draw
 * says so itself.
 */
static int
image_config(struct req *r, json_t *gc, const json_t *req, const json_t *g)
{
	static const char *const map[] = {
		"aspect_ratio", "aspectRatio", "aspectRatio", "aspectRatio",
		"image_size", "imageSize", "imageSize", "imageSize", NULL
	};
	const char *where = "image_config", *k;
	const json_t *ic = json_object_get(req, "image_config"), *v;
	json_t *o;
	size_t i;

	if (ic == NULL || json_is_null(ic)) {
		ic = json_object_get(g, "image_config");
		where = "extra_body.google.image_config";
	}
	if (ic == NULL || json_is_null(ic))
		return 0;
	if (!json_is_object(ic))
		return BAD(r, "%s: expected an object", where);
	if ((o = json_object()) == NULL)
		return nomem(r);
	json_object_set_new(gc, "imageConfig", o);
	json_object_foreach((json_t *)(uintptr_t)ic, k, v) {
		for (i = 0; map[i] != NULL; i += 2)
			if (strcmp(k, map[i]) == 0)
				break;
		if (map[i] == NULL)
			return BAD(r, "%s.%s: unknown (aspect_ratio or "
			    "image_size)", where, k);
		if (json_is_null(v))
			continue;
		if (!json_is_string(v))
			return BAD(r, "%s.%s: expected a string", where, k);
		if (json_object_set(o, map[i + 1], (json_t *)(uintptr_t)v) ==
		    -1)
			return nomem(r);
	}
	if (json_object_size(o) == 0)
		json_object_del(gc, "imageConfig");
	return 0;
}

static int
generation_config(struct req *r, json_t *out, const json_t *req,
    const json_t *g)
{
	const json_t *stop = json_object_get(req, "stop"), *v;
	json_t *gc, *ss;
	long long n;
	size_t i;
	int rc;

	if ((gc = json_object()) == NULL)
		return nomem(r);
	json_object_set_new(out, "generationConfig", gc);
	if (json_is_string(stop)) {
		json_object_set_new(gc, "stopSequences", json_pack("[O]",
		    stop));
	} else if (json_is_array(stop)) {
		json_array_foreach(stop, i, v)
			if (!json_is_string(v))
				return BAD(r, "stop[%zu]: expected a string",
				    i);
		if (json_array_size(stop) > 0) {
			ss = json_deep_copy(stop);
			json_object_set_new(gc, "stopSequences", ss);
		}
	} else if (stop != NULL && !json_is_null(stop))
		return BAD(r, "stop: expected a string or an array of strings");
	if (set_number(r, gc, "temperature", req, "temperature") == -1 ||
	    set_number(r, gc, "topP", req, "top_p") == -1 ||
	    set_int(r, gc, "topK", req, "top_k", 1, INT32_MAX) == -1 ||
	    set_int(r, gc, "candidateCount", req, "n", 1, 8) == -1)
		return -1;
	/* max_completion_tokens wins over the older max_tokens */
	if ((rc = get_int(r, req, "max_completion_tokens", 1, INT32_MAX,
	    &n)) == 1)
		rc = get_int(r, req, "max_tokens", 1, INT32_MAX, &n);
	if (rc == -1)
		return -1;
	if (rc == 0)
		json_object_set_new(gc, "maxOutputTokens", json_integer(n));
	/*
	 * Penalties of 0 and logprobs false are the defaults; many SDKs
	 * send them always, and models without penalty or logprob support
	 * reject even the default, so they are not passed on.
	 */
	if (set_number(r, gc, "presencePenalty", req, "presence_penalty") ==
	    -1 || set_number(r, gc, "frequencyPenalty", req,
	    "frequency_penalty") == -1 ||
	    set_int(r, gc, "seed", req, "seed", INT32_MIN, INT32_MAX) == -1)
		return -1;
	if (json_number_value(json_object_get(gc, "presencePenalty")) == 0)
		json_object_del(gc, "presencePenalty");
	if (json_number_value(json_object_get(gc, "frequencyPenalty")) == 0)
		json_object_del(gc, "frequencyPenalty");
	v = json_object_get(req, "logprobs");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return BAD(r, "logprobs: expected true or false");
		if (json_is_true(v))
			json_object_set_new(gc, "responseLogprobs",
			    json_true());
	}
	if (set_int(r, gc, "logprobs", req, "top_logprobs", 0, 20) == -1 ||
	    response_format(r, gc, json_object_get(req, "response_format")) ==
	    -1 || reasoning(r, gc, req, g) == -1 ||
	    image_config(r, gc, req, g) == -1)
		return -1;
	if (r->modalities != NULL && json_object_set(gc, "responseModalities",
	    r->modalities) == -1)
		return nomem(r);
	if (json_object_size(gc) == 0)
		json_object_del(out, "generationConfig");
	return 0;
}

static int
has_tool(const json_t *tl, const char *name)
{
	const json_t *t;
	size_t i;

	json_array_foreach(tl, i, t)
		if (json_object_get(t, name) != NULL)
			return 1;
	return 0;
}

/* OpenAI tools -> Gemini tools; *nfunc gets the declaration count. */
static int
tools(struct req *r, json_t *out, const json_t *req, size_t *nfunc)
{
	static const char *const builtin[] = {
		"googleSearch", "googleSearch", "google_search", "googleSearch",
		"codeExecution", "codeExecution", "code_execution",
		"codeExecution", "urlContext", "urlContext", "url_context",
		"urlContext", NULL
	};
	const json_t *ts = json_object_get(req, "tools"), *t, *f, *p, *props;
	json_t *tl, *decls, *d, *b;
	const char *type, *name;
	size_t i, k;

	*nfunc = 0;
	tl = json_array();
	decls = json_array();
	json_object_set_new(out, "tools", tl);
	if (ts != NULL && !json_is_null(ts) && !json_is_array(ts)) {
		json_decref(decls);
		return BAD(r, "tools: expected an array");
	}
	json_array_append_new(tl, json_pack("{s:o}", "functionDeclarations",
	    decls));
	json_array_foreach(ts, i, t) {
		type = json_string_value(json_object_get(t, "type"));
		if (type != NULL && strcmp(type, "function") == 0) {
			f = json_object_get(t, "function");
			name = json_string_value(json_object_get(f, "name"));
			if (name == NULL || *name == '\0')
				return BAD(r, "tools[%zu].function.name: "
				    "missing", i);
			d = json_pack("{s:s}", "name", name);
			if (json_is_string(json_object_get(f, "description")))
				json_object_set(d, "description",
				    json_object_get(f, "description"));
			p = json_object_get(f, "parameters");
			props = json_object_get(p, "properties");
			if (p != NULL && !json_is_null(p) && !json_is_object(p)) {
				json_decref(d);
				return BAD(r, "tools[%zu].function.parameters: "
				    "expected an object", i);
			}
			/* no properties at all: declare no parameters */
			if (json_is_object(p) && !(json_object_size(p) == 0 ||
			    (json_object_size(props) == 0 &&
			    json_object_get(p, "$ref") == NULL &&
			    json_object_get(p, "anyOf") == NULL &&
			    json_object_get(p, "oneOf") == NULL)))
				json_object_set_new(d, "parametersJsonSchema",
				    gb_schema_clean(p, param_drop));
			json_array_append_new(decls, d);
			(*nfunc)++;
			continue;
		}
		for (k = 0; builtin[k] != NULL; k += 2)
			if ((type != NULL && strcmp(type, builtin[k]) == 0) ||
			    json_object_get(t, builtin[k]) != NULL)
				break;
		if (builtin[k] == NULL)
			return BAD(r, "tools[%zu]: unsupported tool type \"%s\"",
			    i, type != NULL ? type : "");
		b = json_object_get(t, builtin[k]);
		if (!has_tool(tl, builtin[k + 1]))
			json_array_append_new(tl, json_pack("{s:o}",
			    builtin[k + 1], json_is_object(b) ?
			    json_deep_copy(b) : json_object()));
	}
	if (*nfunc == 0)
		json_array_remove(tl, 0);
	return 0;
}

/* tool_choice -> toolConfig.functionCallingConfig */
static int
tool_choice(struct req *r, json_t *out, const json_t *req, size_t nfunc)
{
	const json_t *tc = json_object_get(req, "tool_choice"), *at, *t;
	const char *s, *mode = NULL, *name;
	json_t *names = NULL, *fcc;
	size_t i;

	if (tc == NULL || json_is_null(tc))
		return 0;
	if ((s = json_string_value(tc)) != NULL) {
		if (strcmp(s, "none") == 0)
			mode = "NONE";
		else if (strcmp(s, "auto") == 0)
			mode = "AUTO";
		else if (strcmp(s, "required") == 0)
			mode = "ANY";
		else
			return BAD(r, "tool_choice: unknown value \"%s\"", s);
	} else if ((s = json_string_value(json_object_get(tc, "type"))) !=
	    NULL && strcmp(s, "function") == 0) {
		name = json_string_value(json_object_get(json_object_get(tc,
		    "function"), "name"));
		if (name == NULL)
			return BAD(r, "tool_choice.function.name: missing");
		mode = "ANY";
		names = json_pack("[s]", name);
	} else if (s != NULL && strcmp(s, "allowed_tools") == 0) {
		at = json_object_get(tc, "allowed_tools");
		s = json_string_value(json_object_get(at, "mode"));
		if (s != NULL && strcmp(s, "auto") == 0)
			mode = "VALIDATED";
		else if (s != NULL && strcmp(s, "required") == 0)
			mode = "ANY";
		else
			return BAD(r, "tool_choice.allowed_tools.mode: expected "
			    "auto or required");
		names = json_array();
		json_array_foreach(json_object_get(at, "tools"), i, t) {
			name = json_string_value(json_object_get(
			    json_object_get(t, "function"), "name"));
			if (name == NULL) {
				json_decref(names);
				return BAD(r, "tool_choice.allowed_tools.tools"
				    "[%zu].function.name: missing", i);
			}
			json_array_append_new(names, json_string(name));
		}
	} else
		return BAD(r, "tool_choice: expected none, auto, required or "
		    "an object naming a function");
	if (nfunc == 0) {
		/* nothing to choose from: Gemini would reject the config */
		json_decref(names);
		return 0;
	}
	fcc = json_pack("{s:s}", "mode", mode);
	if (names != NULL)
		json_object_set_new(fcc, "allowedFunctionNames", names);
	json_object_set_new(out, "toolConfig", json_pack("{s:o}",
	    "functionCallingConfig", fcc));
	return 0;
}

static json_t *
safety_settings(const char *upstream)
{
	static const char *const cat[] = {
		"HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
		"HARM_CATEGORY_SEXUALLY_EXPLICIT",
		"HARM_CATEGORY_DANGEROUS_CONTENT",
		"HARM_CATEGORY_CIVIC_INTEGRITY"
	};
	const char *th = strcmp(upstream, "gemini-2.0-flash-exp") == 0 ?
	    "OFF" : "BLOCK_NONE";
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < GB_NELEM(cat); i++)
		json_array_append_new(a, json_pack("{s:s,s:s}", "category",
		    cat[i], "threshold", th));
	return a;
}

/* Work out the upstream model and whether search is asked for. */
static int
model(struct req *r, const json_t *req)
{
	const char *m = json_string_value(json_object_get(req, "model"));
	size_t n;

	if (m == NULL)
		return BAD(r, "model: missing");
	r->model = m;
	if ((r->upstream = gb_convert_model_name("model", m, r->err)) == NULL)
		return -1;
	n = strlen(r->upstream);
	if (n > 7 && strcmp(r->upstream + n - 7, "-search") == 0) {
		r->upstream[n - 7] = '\0';
		if (gb_strlist_has(&r->cfg->model_search, r->upstream))
			r->search = 1;
		else
			r->upstream[n - 7] = '-';
	}
	/* IMAGE_MODELS, or the original's "-image" alias of one */
	n = strlen(r->upstream);
	if (gb_strlist_has(&r->cfg->image_models, r->upstream))
		r->image_model = 1;
	else if (n > 6 && strcmp(r->upstream + n - 6, "-image") == 0) {
		r->upstream[n - 6] = '\0';
		if (gb_strlist_has(&r->cfg->image_models, r->upstream))
			r->image_model = 1;
		else
			r->upstream[n - 6] = '-';
	}
	r->gemini3 = strncmp(r->upstream, "gemini-3", 8) == 0;
	return 0;
}

static json_t *
make_meta(struct req *r, const json_t *req)
{
	const json_t *st = json_object_get(req, "stream");
	const json_t *iu = json_object_get(json_object_get(req,
	    "stream_options"), "include_usage");
	int stream = json_is_true(st);
	char path[512];

	snprintf(path, sizeof(path), "models/%s:%s", r->upstream, stream ?
	    "streamGenerateContent?alt=sse" : "generateContent");
	return json_pack("{s:s,s:s,s:s,s:b,s:b,s:b}", "model", r->model,
	    "upstream_model", r->upstream, "path", path, "stream", stream,
	    "include_usage", stream && json_is_true(iu), "search", r->search);
}

static int
check_types(struct req *r, const json_t *req)
{
	const json_t *v;

	v = json_object_get(req, "stream");
	if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
		return BAD(r, "stream: expected true or false");
	v = json_object_get(req, "stream_options");
	if (v != NULL && !json_is_null(v) && !json_is_object(v))
		return BAD(r, "stream_options: expected an object");
	/* the deprecated forms would otherwise vanish without a word */
	if (json_array_size(json_object_get(req, "functions")) > 0 ||
	    json_is_object(json_object_get(req, "function_call")))
		return BAD(r, "functions: the deprecated function calling "
		    "form is not supported, use tools");
	v = json_object_get(req, "messages");
	if (!json_is_array(v))
		return BAD(r, "messages: expected an array");
	if (json_array_size(v) == 0)
		return BAD(r, "messages: empty");
	return 0;
}

json_t *
gb_convert_chat_request(const json_t *req, const struct gb_config *cfg,
    json_t **meta, struct gb_err *err)
{
	struct req r;
	const json_t *m, *g, *v;
	json_t *out = NULL, *tl;
	size_t i, nfunc;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.err = err;
	if (meta != NULL)
		*meta = NULL;
	if (!json_is_object(req)) {
		BAD(&r, "request: expected a JSON object");
		return NULL;
	}
	if (model(&r, req) == -1 || check_types(&r, req) == -1 ||
	    modalities(&r, req) == -1)
		goto fail;
	g = json_object_get(json_object_get(req, "extra_body"), "google");
	if (g == NULL)
		g = json_object_get(req, "google");
	r.contents = json_array();
	r.sys = json_array();
	r.calls = json_object();
	out = json_object();
	if (r.contents == NULL || r.sys == NULL || r.calls == NULL ||
	    out == NULL) {
		nomem(&r);
		goto fail;
	}
	json_array_foreach(json_object_get(req, "messages"), i, m)
		if (add_message(&r, i, m) == -1)
			goto fail;
	if (flush_run(&r) == -1)
		goto fail;
	if (json_array_size(r.contents) == 0) {
		if (json_array_size(r.sys) == 0) {
			BAD(&r, "messages: no message with content");
			goto fail;
		}
		/* only system text: it becomes the user turn */
		add_turn(&r, "user", r.sys, 0);
		r.sys = json_array();
	}
	json_object_set(out, "contents", r.contents);
	if (json_array_size(r.sys) > 0)
		json_object_set_new(out, "systemInstruction", json_pack(
		    "{s:O}", "parts", r.sys));
	if (tools(&r, out, req, &nfunc) == -1)
		goto fail;
	tl = json_object_get(out, "tools");
	/* image models take no code execution */
	if (cfg->code_execution && nfunc == 0 && !r.search &&
	    strstr(r.upstream, "-thinking") == NULL && !image_out(&r) &&
	    !has_tool(tl, "codeExecution"))
		json_array_append_new(tl, json_pack("{s:{}}", "codeExecution"));
	if (r.search && !has_tool(tl, "googleSearch"))
		json_array_append_new(tl, json_pack("{s:{}}", "googleSearch"));
	if (json_array_size(tl) == 0)
		json_object_del(out, "tools");
	if (tool_choice(&r, out, req, nfunc) == -1)
		goto fail;
	v = json_object_get(g, "safety_settings");
	if (v == NULL)
		v = json_object_get(g, "safetySettings");
	if (v != NULL && !json_is_array(v)) {
		BAD(&r, "extra_body.google.safety_settings: expected an array");
		goto fail;
	}
	json_object_set_new(out, "safetySettings", v != NULL ?
	    json_deep_copy(v) : safety_settings(r.upstream));
	if (generation_config(&r, out, req, g) == -1)
		goto fail;
	v = json_object_get(g, "cached_content");
	if (json_is_string(v))
		json_object_set(out, "cachedContent", (json_t *)(uintptr_t)v);
	if (meta != NULL && (*meta = make_meta(&r, req)) == NULL) {
		nomem(&r);
		goto fail;
	}
	goto done;
fail:
	json_decref(out);
	out = NULL;
done:
	for (i = 0; i < r.nrun; i++)
		json_decref(r.run[i].part);
	free(r.run);
	json_decref(r.contents);
	json_decref(r.sys);
	json_decref(r.calls);
	json_decref(r.modalities);
	free(r.upstream);
	return out;
}
