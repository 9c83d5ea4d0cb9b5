/*
 * routes.c - what gb-serve answers: the route table, authentication,
 * and the handlers that chain the tools' jobs (serve.h).
 *
 * A route is one row: method, the path prefixes it lives under, its
 * pattern, the credential it takes, the dialect of its errors, and its
 * handler. Routing works on the raw request path; only the {id} and
 * {model} segments are percent-decoded, so "//", "%2e%2e" or an encoded
 * slash can never turn one route into another (the admin route in
 * particular).
 *
 * The handlers are the pipelines of gb-serve(8):
 *
 *   chat        convert chat-request -> call [-s] -> convert chat-response
 *                                                  | sse -m M [-u]
 *   responses   the same with responses-request, responses-response and
 *               sse -o responses
 *   messages    the same with anthropic-request, anthropic-response and
 *               sse -o anthropic; count_tokens with anthropic-count-request
 *               and anthropic-count-response
 *   embeddings  convert embed-request -> call per batch
 *               -> convert embed-response
 *   models      call GET models -> convert models [-i ID]
 *   native      call [-s] POST models/M:ACTION [-> sse -g]
 *   keys        the key table from gb-call's host
 *
 * gb-call's status (HEAD) is known before anything is sent to the
 * client, so the client gets the real upstream status; an error body is
 * turned into the route's dialect here, with the library's one mapping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "anthropic.h"
#include "gemini.h"
#include "serve.h"
#include "stream.h"

#define ERR_MAX		(1024 * 1024)		/* an upstream error body */
#define ANSWER_MAX	(256 * 1024 * 1024)	/* a whole answer */
#define META_MAX	65536
#define RELAY_MAX	(1024 * 1024)		/* one relayed read */
#define KEYS_MAX	(16 * 1024 * 1024)

/* Where a route lives: the prefixes its pattern follows. */
#define P_V1	0x01	/* /v1 */
#define P_HF	0x02	/* /hf/v1 */
#define P_BARE	0x04	/* no prefix (OpenAI routes) */
#define P_BETA	0x08	/* /v1beta */
#define P_GEM	0x10	/* /gemini/v1beta */
#define P_ROOT	0x20	/* the whole path */
#define P_OPENAI	(P_V1 | P_HF | P_BARE)
#define P_NATIVE	(P_BETA | P_GEM)

enum auth {
	A_NONE,		/* anyone */
	A_BEARER,	/* Authorization: Bearer, a client token */
	A_ADMIN,	/* Authorization (Bearer or bare), AUTH_TOKEN only */
	A_GOOG,		/* x-goog-api-key, ?key= or Bearer, a client token */
	A_ANTHROPIC	/* x-api-key or Bearer, a client token */
};

struct route {
	const char	*method;
	unsigned	 where;		/* P_* */
	const char	*pattern;	/* literal, {id}, {model}:{action} */
	enum auth	 auth;
	enum dialect	 dialect;
	void		(*run)(struct rq *);
	const char	*conv;		/* do_chat: the conversions, NAME-request,
					   NAME-response and gb-sse -o NAME */
};

static void	do_health(struct rq *);
static void	do_models(struct rq *);
static void	do_chat(struct rq *);
static void	do_embed(struct rq *);
static void	do_keys(struct rq *);
static void	do_gmodels(struct rq *);
static void	do_gaction(struct rq *);
static void	do_stored(struct rq *);

static const struct route routes[] = {
	{ "GET", P_ROOT, "/", A_NONE, D_OPENAI, do_health, NULL },
	{ "GET", P_ROOT, "/health", A_NONE, D_OPENAI, do_health, NULL },
	{ "GET", P_OPENAI, "/models", A_BEARER, D_OPENAI, do_models, NULL },
	{ "GET", P_OPENAI, "/models/{id}", A_BEARER, D_OPENAI, do_models,
	    NULL },
	{ "POST", P_OPENAI, "/chat/completions", A_BEARER, D_OPENAI,
	    do_chat, "chat" },
	{ "POST", P_OPENAI, "/responses", A_BEARER, D_OPENAI, do_chat,
	    "responses" },
	{ "GET", P_OPENAI, "/responses/{id}", A_BEARER, D_OPENAI,
	    do_stored, NULL },
	{ "POST", P_V1 | P_BARE, "/messages", A_ANTHROPIC, D_ANTHROPIC,
	    do_chat, "anthropic" },
	{ "POST", P_V1 | P_BARE, "/messages/count_tokens", A_ANTHROPIC,
	    D_ANTHROPIC, do_chat, "anthropic-count" },
	{ "DELETE", P_OPENAI, "/responses/{id}", A_BEARER, D_OPENAI,
	    do_stored, NULL },
	{ "POST", P_OPENAI, "/embeddings", A_BEARER, D_OPENAI, do_embed,
	    NULL },
	/* images (images.c) */
	{ "POST", P_OPENAI, "/images/generations", A_BEARER, D_OPENAI,
	    do_images, NULL },
	{ "POST", P_OPENAI, "/images/edits", A_BEARER, D_OPENAI,
	    do_image_edits, NULL },
	{ "GET", P_V1 | P_HF, "/keys/list", A_ADMIN, D_OPENAI, do_keys,
	    NULL },
	{ "GET", P_NATIVE, "/models", A_GOOG, D_GEMINI, do_gmodels, NULL },
	/* before models/{model}: MODEL/operations/ID */
	{ "GET", P_NATIVE, "/models/{op}", A_GOOG, D_GEMINI, do_resource,
	    NULL },
	{ "GET", P_NATIVE, "/models/{model}", A_GOOG, D_GEMINI, do_gmodels,
	    NULL },
	{ "POST", P_NATIVE, "/models/{model}:{action}", A_GOOG, D_GEMINI,
	    do_gaction, NULL },
	/* resources that belong to a key (resources.c) */
	{ "POST", P_ROOT, "/upload/v1beta/files", A_GOOG, D_GEMINI,
	    do_upload, NULL },
	{ "POST", P_ROOT, "/gemini/upload/v1beta/files", A_GOOG, D_GEMINI,
	    do_upload, NULL },
	{ "*", P_NATIVE, "/files*", A_GOOG, D_GEMINI, do_resource, NULL },
	{ "*", P_NATIVE, "/cachedContents*", A_GOOG, D_GEMINI, do_resource,
	    NULL },
	{ "*", P_NATIVE, "/batches*", A_GOOG, D_GEMINI, do_resource, NULL },
	{ "*", P_NATIVE, "/operations*", A_GOOG, D_GEMINI, do_resource,
	    NULL },
	{ "*", P_NATIVE, "/interactions*", A_GOOG, D_GEMINI, do_resource,
	    NULL },
	/* speech (speech.c) */
	{ "POST", P_OPENAI, "/audio/speech", A_BEARER, D_OPENAI, do_speech,
	    NULL },
	/* Prometheus (metrics.c) */
	{ "GET", P_ROOT, "/metrics", A_ADMIN, D_OPENAI, do_metrics, NULL },
};

static const char *const native_actions[] = {
	"generateContent", "streamGenerateContent", "countTokens",
	"embedContent", "batchEmbedContents", "batchGenerateContent",
	"predict", "predictLongRunning"
};

/* ---- small helpers ---- */

void
scopy(char *dst, size_t sz, const char *src)
{
	size_t n = strlen(src);

	if (n >= sz)
		n = sz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode n bytes of s into out (size sz). Returns -1 for a bad
 * escape, an encoded NUL or an answer too long.
 */
static int
pct_decode(const char *s, size_t n, char *out, size_t sz)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		if (o + 1 >= sz)
			return -1;
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n || (h = hexval((unsigned char)s[i + 1])) < 0 ||
		    (l = hexval((unsigned char)s[i + 2])) < 0 ||
		    (h == 0 && l == 0))
			return -1;
		out[o++] = (char)(h * 16 + l);
		i += 2;
	}
	out[o] = '\0';
	return 0;
}

/*
 * Compare a presented secret with a known one in time that depends only
 * on the presented length, so response timing tells nothing about how
 * much of it was right.
 */
static int
ct_equal(const char *given, const char *known)
{
	size_t gl = strlen(given), kl = strlen(known), i;
	unsigned char d;

	d = (unsigned char)(gl != kl);
	for (i = 0; i < gl; i++)
		d |= (unsigned char)given[i] ^
		    (unsigned char)(kl > 0 ? known[i % kl] : 0);
	return d == 0;
}

int
token_ok(const struct gb_config *cfg, const char *tok, int admin)
{
	int ok = 0;
	size_t i;

	if (tok == NULL || *tok == '\0')
		return 0;
	if (cfg->auth_token != NULL && *cfg->auth_token != '\0')
		ok |= ct_equal(tok, cfg->auth_token);
	if (admin)
		return ok;
	for (i = 0; i < cfg->allowed_tokens.n; i++)
		ok |= ct_equal(tok, cfg->allowed_tokens.v[i]);
	return ok;
}

static int
name_ok(const char *m)
{
	if (*m == '\0' || *m == '.')
		return 0;
	return strspn(m, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(m);
}

static const char *
jstr(const json_t *j, const char *k)
{
	const char *v = json_string_value(json_object_get(j, k));

	return v != NULL ? v : "";
}

/* ---- routing ---- */

/*
 * Does rest (the path below a prefix) follow the pattern? Fills rq->id
 * and rq->action. Returns 1, 0 (no), or -1 (the path is one of the
 * route's but a segment is malformed: 404 whatever the method).
 */
static int
follows(const char *pattern, const char *rest, struct rq *rq)
{
	const char *var, *colon;
	size_t n, i;

	n = strlen(pattern);
	if (pattern[n - 1] == '*')	/* the path and what is below it */
		return strncmp(pattern, rest, n - 1) == 0 &&
		    (rest[n - 1] == '\0' || rest[n - 1] == '/');
	if ((var = strchr(pattern, '{')) == NULL)
		return strcmp(pattern, rest) == 0;
	n = (size_t)(var - pattern);
	if (strncmp(pattern, rest, n) != 0)
		return 0;
	rest += n;
	if (strcmp(var, "{op}") == 0) {
		/* MODEL/operations/ID: a long-running operation */
		colon = strchr(rest, '/');
		return colon != NULL && strncmp(colon, "/operations/", 12) ==
		    0 && colon[12] != '\0' && strchr(colon + 12, '/') == NULL;
	}
	if (strcmp(var, "{id}") == 0) {
		if (*rest == '\0' || strchr(rest, '/') != NULL)
			return 0;
		if (pct_decode(rest, strlen(rest), rq->id, sizeof(rq->id)) ==
		    -1)
			return -1;
		if (strncmp(rq->id, "models/", 7) == 0)
			memmove(rq->id, rq->id + 7, strlen(rq->id + 7) + 1);
		return 1;
	}
	/* {model} or {model}:{action} */
	colon = strchr(rest, ':');
	if ((colon != NULL) != (strstr(var, ":{action}") != NULL))
		return 0;
	n = colon != NULL ? (size_t)(colon - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(rq->id))
		return -1;
	memcpy(rq->id, rest, n);
	rq->id[n] = '\0';
	if (!name_ok(rq->id))
		return -1;
	if (colon == NULL)
		return 1;
	for (i = 0; i < GB_NELEM(native_actions); i++)
		if (strcmp(colon + 1, native_actions[i]) == 0) {
			scopy(rq->action, sizeof(rq->action), colon + 1);
			return 1;
		}
	return -1;
}

/* The prefix path starts with, and what follows it. */
static unsigned
prefix(const char *path, const char **rest)
{
	static const struct {
		const char	*p;
		unsigned	 where;
	} pre[] = {
		{ "/v1beta", P_BETA }, { "/gemini/v1beta", P_GEM },
		{ "/v1", P_V1 }, { "/hf/v1", P_HF },
	};
	size_t i, n;

	for (i = 0; i < GB_NELEM(pre); i++) {
		n = strlen(pre[i].p);
		if (strncmp(path, pre[i].p, n) == 0 &&
		    (path[n] == '/' || path[n] == '\0')) {
			*rest = path + n;
			return pre[i].where;
		}
	}
	*rest = path;
	return P_BARE;
}

/*
 * Find the route: rq->rt, or NULL with *status 404 or 405 (and the
 * dialect of the answer in rq->dialect).
 */
static const struct route *
match(struct rq *rq, const char *method, int *status)
{
	const struct route *r;
	const char *rest;
	unsigned where;
	size_t i;
	int f, seen = 0;

	where = prefix(rq->path, &rest);
	rq->dialect = (where & P_NATIVE) != 0 ? D_GEMINI : D_OPENAI;
	*status = 404;
	for (i = 0; i < GB_NELEM(routes); i++) {
		r = &routes[i];
		if ((r->where & P_ROOT) != 0)
			f = strcmp(r->pattern, rq->path) == 0;
		else if ((r->where & where) != 0)
			f = follows(r->pattern, rest, rq);
		else
			continue;
		if (f == -1) {
			*status = 404;
			return NULL;
		}
		if (f == 0)
			continue;
		if (strcmp(method, r->method) == 0 ||
		    strcmp(r->method, "*") == 0 ||
		    (strcmp(method, "HEAD") == 0 &&
		    strcmp(r->method, "GET") == 0)) {
			rq->dialect = r->dialect;
			return r;
		}
		seen = 1;
		rq->dialect = r->dialect;
	}
	if (seen)
		*status = 405;
	return NULL;
}

/* ---- authentication ---- */

/* The token of "Bearer <token>" (scheme in any case), or NULL. */
static const char *
bearer(const char *h)
{
	if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 ||
	    (h[6] != ' ' && h[6] != '\t'))
		return NULL;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	return h;
}

/* Find key=... in a query string and decode it into out. */
static int
query_key(const char *q, char *out, size_t sz)
{
	const char *p = q, *e;
	size_t n;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, "&");
		if (n > 4 && strncmp(p, "key=", 4) == 0)
			return pct_decode(p + 4, n - 4, out, sz);
		e = p + n;
		p = *e == '&' ? e + 1 : NULL;
	}
	return -1;
}

static size_t
header_count(const struct gb_http_req *req, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < req->nhdr; i++)
		if (strcasecmp(req->hdr[i].name, name) == 0)
			n++;
	return n;
}

/*
 * 0 when allowed; else the 401 has been given. A request carrying a
 * credential header twice is refused: which copy counts would otherwise
 * depend on who reads it (a proxy in front may pick the other one).
 */
static int
authorize(struct rq *rq)
{
	const struct gb_http_req *req = rq->req;
	const char *h = gb_http_header(req, "Authorization"), *tok;
	char qkey[512];
	enum auth auth;

	if (rq->rt->auth == A_NONE)
		return 0;
	if (header_count(req, "Authorization") > 1 ||
	    header_count(req, "x-goog-api-key") > 1 ||
	    header_count(req, "x-api-key") > 1) {
		rq_error(rq, 401, "Multiple credential headers",
		    "invalid_api_key");
		return -1;
	}
	auth = rq->rt->auth;
	/* Anthropic's clients (listing models) send their key their way */
	if (auth == A_BEARER && gb_http_header(req, "anthropic-version") !=
	    NULL && (h == NULL || *h == '\0'))
		auth = A_ANTHROPIC;
	switch (auth) {
	case A_ADMIN:
		if (h == NULL || *h == '\0')
			rq_error(rq, 401, "Missing auth_token header", NULL);
		else if (!token_ok(rq->cfg, (tok = bearer(h)) != NULL ? tok :
		    h, 1))
			rq_error(rq, 401, "Invalid auth_token",
			    "invalid_api_key");
		else
			return 0;
		return -1;
	case A_BEARER:
		if (h == NULL || *h == '\0')
			rq_error(rq, 401, "Missing Authorization header",
			    NULL);
		else if ((tok = bearer(h)) == NULL)
			rq_error(rq, 401, "Invalid Authorization header "
			    "format", "invalid_api_key");
		else if (!token_ok(rq->cfg, tok, 0))
			rq_error(rq, 401, "Invalid token", "invalid_api_key");
		else
			return 0;
		return -1;
	case A_ANTHROPIC:
		if ((tok = gb_http_header(req, "x-api-key")) == NULL)
			tok = bearer(h);
		if (tok == NULL || *tok == '\0')
			rq_error(rq, 401, "Missing x-api-key header", NULL);
		else if (!token_ok(rq->cfg, tok, 0))
			rq_error(rq, 401, "Invalid x-api-key", NULL);
		else
			return 0;
		return -1;
	default:
		break;
	}
	/* x-goog-api-key, ?key= or a bearer token */
	if ((tok = gb_http_header(req, "x-goog-api-key")) == NULL) {
		if (rq->query != NULL &&
		    query_key(rq->query, qkey, sizeof(qkey)) == 0)
			tok = qkey;
		else
			tok = bearer(h);
	}
	if (tok == NULL || *tok == '\0')
		rq_error(rq, 401, "Missing x-goog-api-key header", NULL);
	else if (!token_ok(rq->cfg, tok, 0))
		rq_error(rq, 401, "Invalid x-goog-api-key", NULL);
	else
		return 0;
	return -1;
}

static void
preflight(struct rq *rq)
{
	const char *origin = gb_http_header(rq->req, "Origin");
	const char *rh = gb_http_header(rq->req,
	    "Access-Control-Request-Headers");
	char hdrs[2048];

	snprintf(hdrs, sizeof(hdrs),
	    "Access-Control-Allow-Origin: %s\r\n"
	    "%s"
	    "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n"
	    "Access-Control-Allow-Headers: %s\r\n"
	    "Access-Control-Max-Age: 600\r\n"
	    "Vary: Origin\r\n",
	    origin != NULL && strlen(origin) < 512 ? origin : "*",
	    origin != NULL ? "Access-Control-Allow-Credentials: true\r\n" : "",
	    rh != NULL && strlen(rh) < 1024 ? rh : "*");
	rq_reply(rq, 200, "text/plain; charset=utf-8", hdrs, "OK", 2);
}

int
route_request(struct rq *rq)
{
	size_t i;
	int status;

	/* METRICS_LISTEN: /metrics without a credential, and nothing else */
	if (rq->metrics_only) {
		rq->dialect = D_OPENAI;
		if (strcmp(rq->path, "/metrics") != 0)
			status = 404;
		else if (strcmp(rq->req->method, "GET") != 0 &&
		    strcmp(rq->req->method, "HEAD") != 0)
			status = 405;
		else {
			for (i = 0; i < GB_NELEM(routes); i++)
				if (routes[i].run == do_metrics)
					rq->rt = &routes[i];
			return 0;
		}
		rq_error(rq, status, status == 404 ? "Not Found" :
		    "Method Not Allowed", NULL);
		return -1;
	}
	if (strcmp(rq->req->method, "OPTIONS") == 0) {
		preflight(rq);
		return -1;
	}
	if ((rq->rt = match(rq, rq->req->method, &status)) == NULL) {
		rq_error(rq, status, status == 404 ? "Not Found" :
		    "Method Not Allowed", NULL);
		return -1;
	}
	return authorize(rq);
}

size_t
route_slots(void)
{
	return GB_NELEM(routes);
}

size_t
route_slot(const struct route *r)
{
	return r != NULL ? (size_t)(r - routes) : GB_NELEM(routes);
}

const char *
route_label(size_t i, char *out, size_t sz, const char **method)
{
	const struct route *r;

	if (i >= GB_NELEM(routes)) {
		*method = "none";
		snprintf(out, sz, "none");
		return out;
	}
	r = &routes[i];
	*method = r->method;
	snprintf(out, sz, "%s%s", (r->where & P_ROOT) != 0 ? "" :
	    (r->where & P_NATIVE) != 0 ? "/v1beta" : "/v1", r->pattern);
	return out;
}

void
route_run(struct rq *rq)
{
	rq->rt->run(rq);
}

void
route_refuse(struct rq *rq, int status)
{
	const char *msg;
	int st;

	switch (status) {
	case 408: msg = "request timeout"; break;
	case 413: msg = "request body too large"; break;
	case 417: msg = "unsupported expectation"; break;
	case 431: msg = "request header fields too large"; break;
	case 501: msg = "unsupported transfer coding"; break;
	case 503: msg = "server busy, try again"; break;
	case 505: msg = "HTTP version not supported"; break;
	default: msg = "malformed request"; break;
	}
	/*
	 * Anthropic's clients read only their own shape (its 413 too): a
	 * body refused before its route was matched asks the table which
	 * dialect it speaks.
	 */
	if (rq->rt == NULL && status == 413 && rq->req->method != NULL &&
	    rq->path[0] == '/')
		rq->rt = match(rq, rq->req->method, &st);
	if (rq->rt == NULL || rq->dialect != D_ANTHROPIC)
		rq->dialect = D_OPENAI;
	rq_error(rq, status, msg, NULL);
}

void
route_free(struct rq *rq)
{
	size_t i;

	for (i = 0; i < GB_NELEM(rq->job); i++)
		if (rq->job[i] != NULL) {
			job_release(rq->job[i]);
			rq->job[i] = NULL;
		}
	json_decref(rq->meta);
	rq->meta = NULL;
	gb_buf_free(&rq->acc);
	res_free(rq);
}

/* ---- shared steps of the handlers ---- */

/* A job could not start: out of descriptors is 503, the rest 500. */
static void
start_failed(struct rq *rq, const char *what)
{
	char m[160];
	int e = errno;

	if (e == EMFILE || e == ENFILE) {
		srv_shortage(rq->srv, what, e);
		scopy(rq->fail, sizeof(rq->fail), "out of descriptors");
		rq_reply_json(rq, 503, "Retry-After: 1\r\n",
		    rq_error_json(rq, 503, "server busy, try again", NULL));
		return;
	}
	snprintf(m, sizeof(m), "cannot start %s: %s", what, strerror(e));
	scopy(rq->fail, sizeof(rq->fail), m);
	rq_error(rq, 500, m, NULL);
}

void
job_msg(struct gb_msg_job *mj, enum gb_tool tool, const char *mode,
    const char *model, const char *arg)
{
	memset(mj, 0, sizeof(*mj));
	mj->tool = tool;
	scopy(mj->mode, sizeof(mj->mode), mode != NULL ? mode : "");
	scopy(mj->model, sizeof(mj->model), model != NULL ? model : "");
	scopy(mj->arg, sizeof(mj->arg), arg != NULL ? arg : "");
}

/*
 * Start gb-call; its stdout is kept until its status is known. A
 * pinned request (rq->pin) goes with that key alone (gb-call -K).
 */
static struct job	*call_with(struct rq *, const char *, const char *, int,
			    const char *, size_t, const char *, const char *,
			    void (*)(struct job *, enum job_event));

static struct job *
call(struct rq *rq, const char *method, const char *path, int stream,
    const char *data, size_t len, void (*cb)(struct job *, enum job_event))
{
	return call_with(rq, method, path, stream, data, len, rq->pin, NULL,
	    cb);
}

static struct job *
call_with(struct rq *rq, const char *method, const char *path, int stream,
    const char *data, size_t len, const char *pin, const char *hdrs,
    void (*cb)(struct job *, enum job_event))
{
	struct gb_msg_job mj;
	struct job *j;

	job_msg(&mj, GB_TOOL_CALL, method, NULL, path);
	scopy(mj.pin, sizeof(mj.pin), pin != NULL ? pin : "");
	scopy(mj.hdrs, sizeof(mj.hdrs), hdrs != NULL ? hdrs : "");
	if (stream)
		mj.flags |= GB_JOB_STREAM;
	if ((j = job_start(rq, &mj, data, len, -1, OUT_KEEP, 0, cb)) == NULL)
		start_failed(rq, "gb-call");
	return j;
}

static int
is_2xx(int st)
{
	return st >= 200 && st < 300;
}

/*
 * gb-call's status came: remember the key for the log. Returns 1 when
 * the answer is a 2xx to go on with; otherwise the error body is being
 * read (the job's END then calls call_error).
 */
static int
call_head(struct rq *rq, struct job *j)
{
	if (j->head.key[0] != '\0')
		scopy(rq->key, sizeof(rq->key), j->head.key);
	if (is_2xx(j->head.status))
		return 1;
	job_read(j, ERR_MAX);
	return 0;
}

/*
 * gb-call ended without a 2xx: answer its error in the route's dialect
 * with the real status (its body is the upstream's, or a synthesised
 * Gemini error), or 502 when it gave no status at all.
 */
static void
call_error(struct rq *rq, struct job *j)
{
	char extra[64], m[GB_ERR_MSGSIZE + 64];
	json_t *e;
	int st;

	extra[0] = '\0';
	if (!j->has_head) {
		snprintf(m, sizeof(m), "upstream call failed (gb-call exit "
		    "%d%s%s)", j->exit, j->msg[0] != '\0' ? ": " : "",
		    j->msg);
		scopy(rq->fail, sizeof(rq->fail), m);
		rq_error(rq, j->exit == GB_EXIT_USAGE ? 500 : 502, m, NULL);
		return;
	}
	st = j->head.status;
	rq_debug(rq, "upstream error", j->out.data, j->out.len);
	if (st == 429 && j->head.retry_after >= 0)
		snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n",
		    j->head.retry_after > 0 ? (long long)j->head.retry_after :
		    1LL);
	if (rq->dialect == D_GEMINI) {
		e = j->out.len > 0 ? json_loadb(j->out.data, j->out.len, 0,
		    NULL) : NULL;
		if (e == NULL)
			e = gb_gemini_error(st, "upstream request failed");
	} else if (rq->dialect == D_ANTHROPIC)
		e = gb_gemini_error_to_anthropic(st, j->out.data != NULL ?
		    j->out.data : "", j->out.len, &st);
	else
		e = gb_gemini_error_to_openai(st, j->out.data != NULL ?
		    j->out.data : "", j->out.len, &st);
	rq_reply_json(rq, st, extra, e);
}

struct job *
rq_call(struct rq *rq, const char *method, const char *path,
    const char *data, size_t len, const char *pin, const char *hdrs,
    void (*cb)(struct job *, enum job_event))
{
	return call_with(rq, method, path, 0, data, len, pin, hdrs, cb);
}

int
rq_call_head(struct rq *rq, struct job *j)
{
	return call_head(rq, j);
}

void
rq_call_error(struct rq *rq, struct job *j)
{
	call_error(rq, j);
}

/* For handlers in files of their own (speech.c). */
static struct job	*convert_request(struct rq *, const char *,
			    void (*)(struct job *, enum job_event));
static int		 request_converted(struct rq *, struct job *);

struct job *
rq_convert_request(struct rq *rq, const char *mode,
    void (*cb)(struct job *, enum job_event))
{
	return convert_request(rq, mode, cb);
}

int
rq_request_converted(struct rq *rq, struct job *j)
{
	return request_converted(rq, j);
}

void
rq_start_failed(struct rq *rq, const char *what)
{
	start_failed(rq, what);
}

/* gb_stream's output, when gb-serve itself must end a stream. */
static int
to_client(void *arg, const char *p, size_t n)
{
	rq_stream_data(arg, p, n);
	return 0;
}

/* Relay a stream job's output to the client as it comes. */
static void
relay(struct rq *rq, struct job *j, enum job_event e)
{
	struct gb_stream_opts o;
	struct gb_stream *st;
	struct gb_err err;

	switch (e) {
	case JOB_DATA:
		if (!rq->begun) {
			rq_stream_begin(rq);
			rq->begun = 1;
		}
		rq_stream_data(rq, j->out.data, j->out.len);
		gb_buf_reset(&j->out);
		if (rq_backlogged(rq))
			job_pause(j, 1);
		break;
	case JOB_END:
		if (!rq->begun) {
			rq_stream_begin(rq);
			rq->begun = 1;
		}
		if (j->exit != GB_EXIT_OK)
			scopy(rq->fail, sizeof(rq->fail), j->msg[0] != '\0' ?
			    j->msg : "stream failed");
		if (j->lost || j->exit >= 128) {
			/*
			 * The converter died: it could not say so itself.
			 * The client sees the error event gb-sse would have
			 * written (and [DONE] on OpenAI routes), never a
			 * clean end.
			 */
			memset(&o, 0, sizeof(o));
			o.dialect = rq->sse;
			if ((st = gb_stream_new(&o, to_client, rq, &err)) !=
			    NULL) {
				gb_stream_fail(st, 502, j->msg, NULL, &err);
				gb_stream_free(st);
			}
		}
		rq_stream_end(rq);
		break;
	default:
		break;
	}
}

/* The client caught up: go on reading the stream. */
void
route_drained(struct rq *rq)
{
	size_t i;

	for (i = 0; i < GB_NELEM(rq->job); i++)
		if (rq->job[i] != NULL && rq->job[i]->paused)
			job_pause(rq->job[i], 0);
}

/* ---- the handlers ---- */

static void
do_health(struct rq *rq)
{
	static const char ok[] = "{\"status\":\"healthy\"}";

	rq_reply(rq, 200, "application/json", NULL, ok, sizeof(ok) - 1);
}

/* A converter ended: its output is the answer, or its error is. */
static void
converted(struct rq *rq, struct job *j, int notfound)
{
	if (j->exit == GB_EXIT_OK && j->out.len < j->out.cap) {
		rq_debug(rq, "response", j->out.data, j->out.len);
		rq_reply(rq, 200, "application/json", NULL, j->out.data,
		    j->out.len);
		return;
	}
	scopy(rq->fail, sizeof(rq->fail), j->msg[0] != '\0' ? j->msg :
	    "conversion failed");
	if (notfound && j->exit == GB_EXIT_NO)
		rq_error(rq, 404, j->msg[0] != '\0' ? j->msg :
		    "model not found", "model_not_found");
	else
		rq_error(rq, 502, j->msg[0] != '\0' ? j->msg :
		    "could not convert the upstream answer", NULL);
}

/* Start a converter on the answer in gb-call's kept stdout. */
static struct job *
convert_answer(struct rq *rq, struct job *callj, const char *mode,
    const char *model, const char *arg,
    void (*cb)(struct job *, enum job_event))
{
	struct gb_msg_job mj;
	struct job *j;

	job_msg(&mj, GB_TOOL_CONVERT, mode, model, arg);
	if ((j = job_start(rq, &mj, NULL, 0, job_take(callj), OUT_READ,
	    ANSWER_MAX, cb)) == NULL)
		start_failed(rq, "gb-convert");
	return j;
}

/* Stream gb-call's kept 2xx answer through gb-sse to the client. */
static struct job *
stream_answer(struct rq *rq, struct job *callj, const char *model,
    unsigned flags, void (*cb)(struct job *, enum job_event))
{
	struct gb_msg_job mj;
	struct job *j;

	job_msg(&mj, GB_TOOL_SSE, gb_stream_dialect_name(rq->sse), model,
	    NULL);
	mj.flags = flags;
	mj.num = rq->srv->sse_k;
	if ((j = job_start(rq, &mj, NULL, 0, job_take(callj), OUT_RELAY,
	    RELAY_MAX, cb)) == NULL)
		start_failed(rq, "gb-sse");
	return j;
}

/*
 * gb-call ended. Without a 2xx it is the answer (call_error; returns
 * 1); after a 2xx whose body went on to another job, a failure is noted
 * for the log (returns 0).
 */
static int
call_end(struct rq *rq, struct job *j)
{
	if (!j->has_head || !is_2xx(j->head.status)) {
		call_error(rq, j);
		return 1;
	}
	if (j->exit != GB_EXIT_OK && rq->fail[0] == '\0')
		scopy(rq->fail, sizeof(rq->fail), j->msg);
	return 0;
}

/* Models, OpenAI side: call GET models | convert models [-i ID]. */
static void
models_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;

	if (j == rq->job[0]) {
		if (e == JOB_HEAD && call_head(rq, j))
			rq->job[1] = convert_answer(rq, j, rq->dialect ==
			    D_ANTHROPIC ? "anthropic-models" : "models", NULL,
			    rq->id[0] != '\0' ? rq->id : NULL, models_ev);
		else if (e == JOB_END)
			call_end(rq, j);
	} else if (e == JOB_END)
		converted(rq, j, 1);
}

static void
do_models(struct rq *rq)
{
	/* Anthropic's clients list models with their version header */
	if (gb_http_header(rq->req, "anthropic-version") != NULL)
		rq->dialect = D_ANTHROPIC;
	if (rq->id[0] != '\0')
		scopy(rq->model, sizeof(rq->model), rq->id);
	rq->job[0] = call(rq, "GET", "models?pageSize=1000", 0, NULL, 0,
	    models_ev);
}

/* Native models: call GET models[/M], passed through. */
static void
gmodels_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;

	if (e == JOB_HEAD) {
		if (call_head(rq, j))
			job_read(j, ANSWER_MAX);
	} else if (e == JOB_END && !call_end(rq, j)) {
		if (j->out.len >= j->out.cap)
			rq_error(rq, 502, "upstream answer too large", NULL);
		else
			rq_reply(rq, j->head.status, "application/json", NULL,
			    j->out.data, j->out.len);
	}
}

static void
do_gmodels(struct rq *rq)
{
	char path[320];

	if (rq->id[0] != '\0') {
		snprintf(path, sizeof(path), "models/%s", rq->id);
		scopy(rq->model, sizeof(rq->model), rq->id);
	} else
		snprintf(path, sizeof(path), "models?pageSize=1000");
	rq->job[0] = call(rq, "GET", path, 0, NULL, 0, gmodels_ev);
}

/*
 * Run a request converter on the client body; its meta object and
 * output come to cb.
 */
static struct job *
convert_request(struct rq *rq, const char *mode,
    void (*cb)(struct job *, enum job_event))
{
	struct gb_msg_job mj;
	struct job *j;

	rq_debug(rq, "request", rq->req->body.data, rq->req->body.len);
	job_msg(&mj, GB_TOOL_CONVERT, mode, NULL, NULL);
	if ((j = job_start(rq, &mj, rq->req->body.data != NULL ?
	    rq->req->body.data : "", rq->req->body.len, -1, OUT_READ,
	    (size_t)rq->cfg->max_body * 2 + META_MAX, cb)) == NULL)
		start_failed(rq, "gb-convert");
	return j;
}

/*
 * A request converter ended: 0 with rq->meta set, or -1 after the
 * answer (its usage errors are the client's: 400).
 */
static int
request_converted(struct rq *rq, struct job *j)
{
	if (j->exit == GB_EXIT_OK && json_is_object(j->meta) &&
	    j->out.len < j->out.cap) {
		rq->meta = json_incref(j->meta);
		scopy(rq->model, sizeof(rq->model), jstr(rq->meta, "model"));
		scopy(rq->upath, sizeof(rq->upath), jstr(rq->meta, "path"));
		return 0;
	}
	scopy(rq->fail, sizeof(rq->fail), j->msg[0] != '\0' ? j->msg :
	    "request conversion failed");
	if (j->exit == GB_EXIT_USAGE || j->exit == GB_EXIT_NO)
		rq_error(rq, 400, j->msg[0] != '\0' ? j->msg :
		    "invalid request", NULL);
	else
		rq_error(rq, 500, j->msg[0] != '\0' ? j->msg :
		    "request conversion failed", NULL);
	return -1;
}

/* The route's conversion for "request" or "response". */
static const char *
conv_mode(struct rq *rq, const char *what)
{
	snprintf(rq->mode, sizeof(rq->mode), "%s-%s", rq->rt->conv, what);
	return rq->mode;
}

/* Chat: job 0 converts the request, 1 calls, 2 converts the answer. */
static void
chat_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;

	if (j == rq->job[0]) {
		if (e != JOB_END || request_converted(rq, j) == -1)
			return;
		rq->stream = json_is_true(json_object_get(rq->meta,
		    "stream"));
		rq->usage = json_is_true(json_object_get(rq->meta,
		    "include_usage"));
		rq->job[1] = call(rq, "POST", rq->upath, rq->stream,
		    j->out.data, j->out.len, chat_ev);
	} else if (j == rq->job[1]) {
		if (e == JOB_HEAD && call_head(rq, j))
			rq->job[2] = rq->stream ? stream_answer(rq, j,
			    rq->model, rq->usage ? GB_JOB_USAGE : 0, chat_ev) :
			    convert_answer(rq, j, conv_mode(rq, "response"),
			    rq->model, NULL, chat_ev);
		else if (e == JOB_END)
			call_end(rq, j);
	} else if (rq->stream)
		relay(rq, j, e);
	else if (e == JOB_END)
		converted(rq, j, 0);
}

/*
 * Chat and the routes that work like it (Responses): the route's
 * conversions, NAME-request and NAME-response, and gb-sse -o NAME.
 */
static void
do_chat(struct rq *rq)
{
	/* a route without a stream output (count) never asks for one */
	if (gb_stream_dialect_parse(rq->rt->conv, &rq->sse) == -1)
		rq->sse = GB_STREAM_CHAT;
	rq->job[0] = convert_request(rq, conv_mode(rq, "request"), chat_ev);
}

/*
 * Embeddings: job 0 converts the request into one batch per line; each
 * batch is a gb-call (job 1, one after the other) whose answers gather
 * in rq->acc, in order; job 2 converts them all into the answer.
 */
static void	embed_next(struct rq *);

static void
embed_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;

	if (j == rq->job[0]) {
		if (e != JOB_END || request_converted(rq, j) == -1)
			return;
		gb_buf_init(&rq->acc, ANSWER_MAX);
		rq->pos = 0;
		embed_next(rq);
	} else if (j == rq->job[1]) {
		if (e == JOB_HEAD) {
			if (call_head(rq, j))
				job_read(j, ANSWER_MAX);
			return;
		}
		if (e != JOB_END || call_end(rq, j))
			return;
		if (j->out.len >= j->out.cap || gb_buf_append(&rq->acc,
		    j->out.data != NULL ? j->out.data : "", j->out.len) ==
		    -1) {
			rq_error(rq, 502, "embedding answer too large", NULL);
			return;
		}
		rq->job[1] = NULL;
		job_release(j);
		embed_next(rq);
	} else if (e == JOB_END)
		converted(rq, j, 0);
}

static void
embed_next(struct rq *rq)
{
	struct gb_buf *lines = &rq->job[0]->out;	/* one batch a line */
	struct gb_msg_job mj;
	char *line, *nl;
	const char *enc;

	while (rq->pos < lines->len) {
		line = lines->data + rq->pos;
		if ((nl = memchr(line, '\n', lines->len - rq->pos)) != NULL)
			*nl = '\0';
		rq->pos += strlen(line) + (nl != NULL ? 1 : 0);
		if (*line == '\0')
			continue;
		rq->job[1] = call(rq, "POST", rq->upath, 0, line,
		    strlen(line), embed_ev);
		return;
	}
	enc = jstr(rq->meta, "encoding_format");
	job_msg(&mj, GB_TOOL_CONVERT, "embed-response", rq->model, NULL);
	if (strcmp(enc, "base64") == 0)
		mj.flags |= GB_JOB_BASE64;
	if ((rq->job[2] = job_start(rq, &mj, rq->acc.data != NULL ?
	    rq->acc.data : "", rq->acc.len, -1, OUT_READ, ANSWER_MAX,
	    embed_ev)) == NULL)
		start_failed(rq, "gb-convert");
}

static void
do_embed(struct rq *rq)
{
	rq->job[0] = convert_request(rq, "embed-request", embed_ev);
}

/* Native generate/stream/count/embed: the client body to gb-call. */
static void
gaction_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;
	json_t *doc;

	if (j == rq->job[0]) {
		if (e == JOB_HEAD && call_head(rq, j)) {
			if (rq->stream)
				rq->job[1] = stream_answer(rq, j, rq->id, 0,
				    gaction_ev);
			else
				job_read(j, ANSWER_MAX);
			return;
		}
		if (e != JOB_END || call_end(rq, j) || rq->stream)
			return;
		rq_debug(rq, "response", j->out.data, j->out.len);
		if (j->out.len >= j->out.cap) {
			rq_error(rq, 502, "upstream answer too large", NULL);
			return;
		}
		/* a 200 that is not JSON is no answer */
		if ((doc = json_loadb(j->out.data != NULL ? j->out.data : "",
		    j->out.len, 0, NULL)) == NULL) {
			scopy(rq->fail, sizeof(rq->fail), "upstream answer "
			    "is not JSON");
			rq_error(rq, 502, "upstream answer is not JSON", NULL);
			return;
		}
		res_created(rq, j, doc);
		json_decref(doc);
		rq_reply(rq, j->head.status, "application/json", NULL,
		    j->out.data, j->out.len);
	} else
		relay(rq, j, e);
}

static void
do_gaction(struct rq *rq)
{
	char path[512];

	rq_debug(rq, "request", rq->req->body.data, rq->req->body.len);
	scopy(rq->model, sizeof(rq->model), rq->id);
	rq->stream = strcmp(rq->action, "streamGenerateContent") == 0;
	rq->sse = GB_STREAM_GEMINI;
	snprintf(path, sizeof(path), "models/%s:%s%s", rq->id, rq->action,
	    rq->stream ? "?alt=sse" : "");
	/* a file, cache or batch input it names: that key's (resources.c) */
	if (res_body_pin(rq, rq->req->body.data, rq->req->body.len,
	    rq->pin) == -1)
		return;
	rq->job[0] = call(rq, "POST", path, rq->stream,
	    rq->req->body.data != NULL ? rq->req->body.data : "",
	    rq->req->body.len, gaction_ev);
}

/*
 * GET and DELETE of a stored response: this server stores none
 * (gb-serve(8), STATE), so every id is unknown.
 */
static void
do_stored(struct rq *rq)
{
	char m[GB_ERR_MSGSIZE];

	snprintf(m, sizeof(m), "No response found with id '%s': this "
	    "server keeps no responses (it is stateless)", rq->id);
	rq_error(rq, 404, m, NULL);
}

/*
 * /v1/keys/list: which keys are valid and invalid, with the full keys
 * (the one place they are shown, as the original did). The state comes
 * from gb-call's host as gb-keys list --json prints it; entries are
 * matched to API_KEYS by index.
 */
static void
keys_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;
	json_t *doc, *arr, *k, *valid, *invalid, *cooling, *recent, *mc, *res,
	    *h;
	const char *state;
	size_t i, idx;
	int bad;

	if (e != JOB_END)
		return;
	doc = j->exit == GB_EXIT_OK && j->out.len < j->out.cap ?
	    json_loadb(j->out.data, j->out.len, 0, NULL) : NULL;
	arr = json_is_array(doc) ? doc : json_object_get(doc, "keys");
	if (!json_is_array(arr)) {
		json_decref(doc);
		scopy(rq->fail, sizeof(rq->fail), j->msg);
		rq_reply_json(rq, 500, NULL, gb_openai_error(500,
		    "Internal server error while fetching keys list", NULL));
		return;
	}
	valid = json_array();
	invalid = json_array();
	cooling = json_array();
	recent = json_array();
	json_array_foreach(arr, i, k) {
		idx = json_is_integer(json_object_get(k, "index")) ?
		    (size_t)json_integer_value(json_object_get(k, "index")) :
		    i;
		if (idx >= rq->cfg->api_keys.n)
			continue;
		state = json_string_value(json_object_get(k, "state"));
		bad = state != NULL && strcmp(state, "invalid") == 0;
		json_array_append_new(bad ? invalid : valid,
		    json_string(rq->cfg->api_keys.v[idx]));
		/* a key resting, whole or for some models */
		mc = json_object_get(k, "models_cooling");
		if (!bad && (json_array_size(mc) > 0 ||
		    json_is_integer(json_object_get(k, "cooling_until"))))
			json_array_append_new(cooling, json_pack(
			    "{s:s, s:O, s:O}", "key", rq->cfg->api_keys.v[idx],
			    "until", json_object_get(k, "cooling_until") ?
			    json_object_get(k, "cooling_until") : json_null(),
			    "models", json_is_array(mc) ? mc :
			    json_array()));		/* its attempts of the last minute, hour and day */
		h = json_object_get(k, "recent");
		if (json_is_object(h))
			json_array_append_new(recent, json_pack("{s:s, s:O*, "
			    "s:O*, s:O*}", "key", rq->cfg->api_keys.v[idx],
			    "1m", json_object_get(h, "1m"), "1h",
			    json_object_get(h, "1h"), "24h",
			    json_object_get(h, "24h")));
	}
	res = json_pack("{s:s, s:{s:o, s:o, s:o, s:o}, s:I}", "status",
	    "success", "data", "valid_keys", valid, "invalid_keys", invalid,
	    "cooling_keys", cooling, "recent", recent, "total",
	    (json_int_t)json_array_size(arr));
	json_decref(doc);
	rq_reply_json(rq, 200, NULL, res);
}

static void
do_keys(struct rq *rq)
{
	struct gb_msg_job mj;

	job_msg(&mj, GB_TOOL_KEYS, NULL, NULL, NULL);
	if ((rq->job[0] = job_start(rq, &mj, NULL, 0, -1, OUT_READ, KEYS_MAX,
	    keys_ev)) == NULL)
		start_failed(rq, "gb-call");
}
