/*
 * resources.c - the native routes of resources that belong to a key:
 * files and their resumable uploads, cached contents, batches,
 * long-running operations and interactions (gb-serve(8), KEY AFFINITY).
 *
 * Google keeps a resource for the project of the key that created it;
 * any other key is told 403 or 404. So gb-serve records, in the store
 * of affinity.h, the key (by its state id, from gb-call's HEAD) that
 * created each resource, and every later request naming it -- in its
 * path, or in its body as a fileData.fileUri, a cachedContent, a
 * previous_interaction_id -- is a pinned call (gb-call -K): that key or
 * nothing. Names the store does not know go by the usual rotation, and
 * a 2xx answer about one teaches the store its owner.
 *
 *   upload start   call POST upload/files (X-Goog-Upload-* passed on);
 *                  the answer's X-Goog-Upload-URL is recorded as
 *                  uploads/ID and rewritten to point at gb-serve
 *   upload chunk   call -K POST upload/files?upload_id=ID; the final
 *                  answer's file is recorded
 *   named          call -K METHOD NAME: get, patch, delete, cancel
 *   create         call [-K] POST cachedContents|interactions, the
 *                  answer's name recorded
 *   list           call -K GET COLLECTION once per key owning one,
 *                  the arrays merged
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "affinity.h"
#include "affstore.h"
#include "serve.h"
#include "upstream.h"

#define ANSWER_MAX	(256 * 1024 * 1024)
#define LIST_KEYS	64		/* keys asked by one list */
#define WALK_DEPTH	64		/* body nesting looked into */
#define DAY		(24L * 3600)

enum res_op {
	R_PASS,		/* passed on; a 2xx teaches the owner of name */
	R_CREATE,	/* the answer names a new resource */
	R_DELETE,	/* a 2xx forgets name */
	R_LIST,		/* merged over the owning keys */
	R_UP_START,
	R_UP_CHUNK
};

struct res {
	enum res_op	 op;
	char		 name[GB_AFFINITY_NAME];	/* named by the request */
	char		 coll[32];	/* list: the collection */
	const char	*field;		/* list: the answer's array */
	char		 path[GB_PROTO_ARG];	/* upstream */
	char		 hdrs[GB_PROTO_HDRS];	/* upload headers sent */
	int		 gem;		/* under /gemini */
	char		 (*owners)[GB_AFFINITY_KEYID];
	int		 nowners, next;
	json_t		*merged;
};

/*
 * The store of the configuration in use: the files under
 * STATE_DIRECTORY, or Redis (KEY_STATE); opened again when a reload
 * changes either. What it has to say (Redis gone or back) is logged.
 */
static struct gb_affstore *aff;
static char *aff_dir, *aff_ks;

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static struct gb_affstore *
store(struct rq *rq)
{
	struct gb_affstore *s;
	struct gb_err err;

	if (aff != NULL && same(aff_dir, rq->cfg->state_dir) &&
	    same(aff_ks, rq->cfg->key_state))
		return aff;
	gb_err_clear(&err);
	if ((s = gb_affstore_open(rq->cfg, &err)) == NULL) {
		fprintf(stderr, "%sgb-serve: key affinity: %s\n",
		    gb_log_prio(GB_LOG_ERROR), err.msg);
		return aff;
	}
	gb_affstore_close(aff);
	free(aff_dir);
	free(aff_ks);
	aff = s;
	aff_dir = rq->cfg->state_dir != NULL ? strdup(rq->cfg->state_dir) :
	    NULL;
	aff_ks = rq->cfg->key_state != NULL ? strdup(rq->cfg->key_state) :
	    NULL;
	return aff;
}

static void
store_notice(void)
{
	char m[GB_ERR_MSGSIZE];

	if (aff != NULL && gb_affstore_notice(aff, m, sizeof(m)) != NULL)
		fprintf(stderr, "%sgb-serve: key affinity: %s\n",
		    gb_log_prio(GB_LOG_WARN), m);
}

static int
aff_get(struct rq *rq, const char *name, char *id)
{
	struct gb_affstore *s = store(rq);
	int rc;

	if (s == NULL)
		return gb_affinity_get(rq->cfg->state_dir, name, id,
		    time(NULL));
	rc = gb_affstore_get(s, name, id, time(NULL));
	store_notice();
	return rc;
}

static void
aff_del(struct rq *rq, const char *name)
{
	struct gb_affstore *s = store(rq);

	if (s == NULL)
		gb_affinity_del(rq->cfg->state_dir, name);
	else
		gb_affstore_del(s, name);
	store_notice();
}

/* How long a resource lives when its answer does not say. */
static long
lifetime(const char *name)
{
	if (strncmp(name, "files/", 6) == 0)
		return 2 * DAY;			/* Google: 48 hours */
	if (strncmp(name, "uploads/", 8) == 0)
		return 7 * DAY;			/* a resumable session */
	if (strncmp(name, "cachedContents/", 15) == 0)
		return 3600;			/* the default TTL */
	if (strncmp(name, "batches/", 8) == 0)
		return 30 * DAY;
	if (strncmp(name, "interactions/", 13) == 0)
		return 55 * DAY;		/* the longest retention */
	return 7 * DAY;				/* operations */
}

/* Record name as key id's, until the answer's expiry or its lifetime. */
static void
remember(struct rq *rq, const char *name, const char *id, const json_t *o)
{
	struct gb_err err;
	time_t exp = -1, now = time(NULL);
	const char *t;

	if (*id == '\0' || !gb_affinity_name_ok(name))
		return;
	if ((t = json_string_value(json_object_get(o, "expireTime"))) ==
	    NULL)
		t = json_string_value(json_object_get(o, "expirationTime"));
	if (t != NULL)
		exp = gb_affinity_time(t);
	if (exp <= now)
		exp = now + lifetime(name);
	gb_err_clear(&err);
	if ((store(rq) != NULL ? gb_affstore_put(store(rq), name, id, exp,
	    &err) : gb_affinity_put(rq->cfg->state_dir, name, id, exp,
	    &err)) == -1)
		fprintf(stderr, "%sgb-serve: key affinity: %s: %s\n",
		    gb_log_prio(GB_LOG_ERROR), name,
		    err.msg);
	store_notice();
}

/* ---- what a request names ---- */

/* "files/ID" out of a file URI (or a bare name); 0, or -1. */
static int
file_name(const char *uri, char *out, size_t sz)
{
	const char *p = strstr(uri, "files/");
	size_t n;

	if (p == NULL || (p != uri && p[-1] != '/'))
		return -1;
	n = 6 + strspn(p + 6, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
	if (n == 6 || n >= sz)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

struct pins {
	struct rq	*rq;
	char		 pin[GB_AFFINITY_KEYID];
	char		 first[GB_AFFINITY_NAME];
	char		 other[GB_AFFINITY_NAME];	/* of another key */
};

/* One name the body refers to: whose is it? */
static void
pin_name(struct pins *p, const char *name)
{
	char id[GB_AFFINITY_KEYID];

	if (aff_get(p->rq, name, id) != 1)
		return;
	if (p->pin[0] == '\0') {
		scopy(p->pin, sizeof(p->pin), id);
		scopy(p->first, sizeof(p->first), name);
	} else if (strcmp(p->pin, id) != 0 && p->other[0] == '\0')
		scopy(p->other, sizeof(p->other), name);
}

static void
walk(struct pins *p, const json_t *v, int depth)
{
	char name[GB_AFFINITY_NAME];
	const char *k, *s;
	json_t *x;
	size_t i;

	if (depth > WALK_DEPTH)
		return;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			walk(p, x, depth + 1);
		return;
	}
	json_object_foreach((json_t *)(uintptr_t)v, k, x) {
		if ((s = json_string_value(x)) == NULL) {
			walk(p, x, depth + 1);
			continue;
		}
		name[0] = '\0';
		if (strcmp(k, "fileUri") == 0 || strcmp(k, "file_uri") == 0 ||
		    strcmp(k, "fileName") == 0 || strcmp(k, "file_name") == 0) {
			if (file_name(s, name, sizeof(name)) == -1)
				continue;
		} else if (strcmp(k, "cachedContent") == 0 ||
		    strcmp(k, "cached_content") == 0)
			scopy(name, sizeof(name), s);
		else if (strcmp(k, "previous_interaction_id") == 0)
			snprintf(name, sizeof(name), "interactions/%s", s);
		if (name[0] != '\0')
			pin_name(p, name);
	}
}

int
res_body_pin(struct rq *rq, const char *body, size_t len, char *pin)
{
	static const char *const keys[] = {
		"fileUri", "file_uri", "fileName", "file_name",
		"cachedContent", "cached_content", "previous_interaction_id"
	};
	struct pins p;
	char m[GB_ERR_MSGSIZE];
	json_t *doc;
	size_t i;

	memset(&p, 0, sizeof(p));
	p.rq = rq;
	scopy(p.pin, sizeof(p.pin), pin);
	if (body == NULL || len == 0)
		return 0;
	/* most bodies name nothing: no parse for them */
	for (i = 0; i < GB_NELEM(keys); i++)
		if (memmem(body, len, keys[i], strlen(keys[i])) != NULL)
			break;
	if (i == GB_NELEM(keys))
		return 0;
	if ((doc = json_loadb(body, len, 0, NULL)) == NULL)
		return 0;		/* upstream says what is wrong */
	if (pin[0] != '\0') {
		/* the path's resource comes first */
		scopy(p.first, sizeof(p.first), rq->res != NULL ?
		    rq->res->name : "the resource");
	}
	walk(&p, doc, 0);
	json_decref(doc);
	if (p.other[0] != '\0') {
		snprintf(m, sizeof(m), "%s and %s were created with different "
		    "API keys and cannot be used in one request", p.first,
		    p.other);
		scopy(rq->fail, sizeof(rq->fail), "resources of two keys");
		rq_error(rq, 400, m, NULL);
		return -1;
	}
	memcpy(pin, p.pin, GB_AFFINITY_KEYID);
	return 0;
}

void
res_created(struct rq *rq, const struct job *j, const json_t *doc)
{
	const char *name = json_string_value(json_object_get(doc, "name"));
	const char *op;

	if (name != NULL && (strcmp(rq->action, "batchGenerateContent") == 0 ||
	    strcmp(rq->action, "predictLongRunning") == 0))
		remember(rq, name, j->head.key_id, doc);
	/*
	 * models/M/operations/ID is also polled as operations/ID: the same
	 * key for both names
	 */
	if (name != NULL && strcmp(rq->action, "predictLongRunning") == 0 &&
	    strncmp(name, "models/", 7) == 0 &&
	    (op = strstr(name, "/operations/")) != NULL)
		remember(rq, op + 1, j->head.key_id, doc);
}

void
res_free(struct rq *rq)
{
	if (rq->res == NULL)
		return;
	json_decref(rq->res->merged);
	free(rq->res->owners);
	free(rq->res);
	rq->res = NULL;
}

/* ---- the upstream request ---- */

/* The client's query without its key= (the client's token). */
static void
query_copy(const char *q, char *out, size_t sz)
{
	size_t n, o = 0;

	out[0] = '\0';
	while (q != NULL && *q != '\0') {
		n = strcspn(q, "&");
		if (!(n >= 4 && strncmp(q, "key=", 4) == 0) &&
		    !(n == 3 && strncmp(q, "key", 3) == 0) && n > 0 &&
		    o + n + 2 < sz) {
			out[o] = o == 0 ? '?' : '&';
			o++;
			memcpy(out + o, q, n);
			o += n;
			out[o] = '\0';
		}
		q += n;
		if (*q == '&')
			q++;
	}
}

/* The upload protocol's request headers, as gb-call -H takes them. */
static void
upload_headers(struct rq *rq, char *out, size_t sz)
{
	const struct gb_http_req *req = rq->req;
	char line[GB_PROTO_HDRS];
	size_t i, o = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < req->nhdr; i++) {
		if (strncasecmp(req->hdr[i].name, "X-Goog-Upload-", 14) != 0 &&
		    strcasecmp(req->hdr[i].name, "Content-Type") != 0)
			continue;
		n = snprintf(line, sizeof(line), "%s: %s", req->hdr[i].name,
		    req->hdr[i].value);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    !gb_upstream_header_ok(line) || o + (size_t)n + 2 > sz)
			continue;
		memcpy(out + o, line, (size_t)n);
		o += (size_t)n;
		out[o++] = '\n';
		out[o] = '\0';
	}
}

static void	res_ev(struct job *, enum job_event);
static void	list_next(struct rq *);

static void
res_call(struct rq *rq, const char *method, const char *pin,
    const char *data, size_t len)
{
	rq->job[0] = rq_call(rq, method, rq->res->path, data, len, pin,
	    rq->res->hdrs, res_ev);
}

/* ---- the answers ---- */

/* The value of header name in "Name: value\n" lines, into out. */
static int
hdr_value(const char *lines, const char *name, char *out, size_t sz)
{
	size_t nl = strlen(name), n;
	const char *p, *v;

	for (p = lines; *p != '\0'; p += n + (p[n] == '\n')) {
		n = strcspn(p, "\n");
		if (n > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			for (v = p + nl + 1; *v == ' '; v++)
				;
			if ((size_t)(p + n - v) >= sz)
				return -1;
			memcpy(out, v, (size_t)(p + n - v));
			out[p + n - v] = '\0';
			return 0;
		}
	}
	return -1;
}

/*
 * The upload protocol's answer headers for the client: the upload URL
 * rewritten to this server (the upload id alone survives: never a key,
 * never Google's host), the control URL dropped, the rest as they came.
 */
static void
client_headers(struct rq *rq, const char *lines, const char *upid,
    char *out, size_t sz)
{
	const char *host = gb_http_header(rq->req, "Host");
	const char *proto = gb_http_header(rq->req, "X-Forwarded-Proto");
	size_t n, o = 0;
	const char *p;
	int w;

	out[0] = '\0';
	if (host == NULL || *host == '\0' || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(host))
		host = "localhost";
	for (p = lines; *p != '\0'; p += n + (p[n] == '\n')) {
		n = strcspn(p, "\n");
		if (strncasecmp(p, "x-goog-upload-url:", 18) == 0 ||
		    strncasecmp(p, "x-goog-upload-control-url:", 26) == 0)
			continue;
		if (o + n + 3 >= sz)
			break;
		memcpy(out + o, p, n);
		o += n;
		memcpy(out + o, "\r\n", 3);
		o += 2;
	}
	if (upid != NULL) {
		w = snprintf(out + o, sz - o, "X-Goog-Upload-URL: %s://%s%s"
		    "/upload/v1beta/files?upload_id=%s&"
		    "upload_protocol=resumable\r\n", proto != NULL &&
		    strcasecmp(proto, "https") == 0 ? "https" : "http", host,
		    rq->res->gem ? "/gemini" : "", upid);
		if (w > 0 && (size_t)w < sz - o)
			o += (size_t)w;
		else
			out[o] = '\0';
	}
}

/* upload_id=... of a URL or query, if it can be stored. */
static int
upload_id(const char *s, char *out, size_t sz)
{
	const char *p = strstr(s, "upload_id=");
	size_t n;

	if (p == NULL || (p != s && p[-1] != '?' && p[-1] != '&'))
		return -1;
	p += 10;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
	if (n == 0 || n >= sz || (p[n] != '\0' && p[n] != '&'))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* A 2xx came whole: record what it says, answer it. */
static void
answered(struct rq *rq, struct job *j)
{
	struct res *r = rq->res;
	char extra[2048], upid[GB_AFFINITY_NAME], url[GB_PROTO_HDRS];
	char name[GB_AFFINITY_NAME + 16], st[32];
	const char *id = j->head.key_id, *s, *ctype = "application/json";
	json_t *doc;

	doc = j->out.len > 0 ? json_loadb(j->out.data, j->out.len, 0, NULL) :
	    NULL;
	extra[0] = '\0';
	upid[0] = '\0';
	switch (r->op) {
	case R_UP_START:
		if (hdr_value(j->head.hdrs, "x-goog-upload-url", url,
		    sizeof(url)) == 0 && upload_id(url, upid,
		    sizeof(upid)) == 0) {
			snprintf(name, sizeof(name), "uploads/%s", upid);
			remember(rq, name, id, NULL);
		}
		client_headers(rq, j->head.hdrs, upid[0] != '\0' ? upid :
		    NULL, extra, sizeof(extra));
		break;
	case R_UP_CHUNK:
		client_headers(rq, j->head.hdrs, NULL, extra, sizeof(extra));
		s = json_string_value(json_object_get(json_object_get(doc,
		    "file"), "name"));
		if (s != NULL)
			remember(rq, s, id, json_object_get(doc, "file"));
		if (hdr_value(j->head.hdrs, "x-goog-upload-status", st,
		    sizeof(st)) == 0 && strcmp(st, "final") == 0)
			aff_del(rq, r->name);
		break;
	case R_CREATE:
		if ((s = json_string_value(json_object_get(doc, "name"))) !=
		    NULL)
			remember(rq, s, id, doc);
		else if ((s = json_string_value(json_object_get(doc,
		    "id"))) != NULL) {
			snprintf(name, sizeof(name), "interactions/%s", s);
			remember(rq, name, id, doc);
		}
		if (doc == NULL && j->out.len > 0)
			ctype = "text/event-stream";	/* stream: true */
		break;
	case R_DELETE:
		aff_del(rq, r->name);
		break;
	default:
		/* a name the store did not know: now it does */
		if (rq->pin[0] == '\0' && r->name[0] != '\0' &&
		    json_is_object(doc) && strcmp(rq->req->method, "GET") ==
		    0)
			remember(rq, r->name, id, doc);
		break;
	}
	json_decref(doc);
	rq_debug(rq, "response", j->out.data, j->out.len);
	rq_reply(rq, j->head.status, ctype, extra, j->out.data != NULL ?
	    j->out.data : "", j->out.len);
}

static void
res_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;
	struct res *r = rq->res;
	json_t *doc, *arr, *x;
	size_t i;

	if (e == JOB_HEAD) {
		if (rq_call_head(rq, j))
			job_read(j, ANSWER_MAX);
		return;
	}
	if (e != JOB_END)
		return;
	if (r->op != R_LIST) {
		if (!j->has_head || j->head.status < 200 ||
		    j->head.status >= 300)
			rq_call_error(rq, j);
		else if (j->out.len >= j->out.cap)
			rq_error(rq, 502, "upstream answer too large", NULL);
		else
			answered(rq, j);
		return;
	}
	/* one key's list: its items join the others' */
	if (j->has_head && j->head.status >= 200 && j->head.status < 300 &&
	    (doc = json_loadb(j->out.data != NULL ? j->out.data : "",
	    j->out.len, 0, NULL)) != NULL) {
		arr = json_object_get(doc, r->field);
		json_array_foreach(arr, i, x)
			json_array_append(r->merged, x);
		json_decref(doc);
	} else
		snprintf(rq->fail, sizeof(rq->fail), "list with key %s: %d",
		    r->owners[r->next - 1], j->has_head ? j->head.status : 0);
	rq->job[0] = NULL;
	job_release(j);
	list_next(rq);
}

static void
list_next(struct rq *rq)
{
	struct res *r = rq->res;
	json_t *o;

	if (r->next < r->nowners) {
		res_call(rq, "GET", r->owners[r->next++], NULL, 0);
		return;
	}
	o = json_object();
	if (json_array_size(r->merged) > 0)
		json_object_set(o, r->field, r->merged);
	rq_reply_json(rq, 200, NULL, o);
}

/* ---- the handlers ---- */

static struct res *
res_new(struct rq *rq)
{
	struct res *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rq_error(rq, 500, "out of memory", NULL);
		return NULL;
	}
	r->gem = strncmp(rq->path, "/gemini/", 8) == 0;
	rq->res = r;
	return r;
}

/* The store's key for name into rq->pin; -1 after a 500. */
static int
pin_of(struct rq *rq, const char *name)
{
	if (aff_get(rq, name, rq->pin) == -1) {
		rq_error(rq, 500, "key affinity store unreadable", NULL);
		return -1;
	}
	return 0;
}

/*
 * Files, cachedContents, batches, operations, interactions: every
 * method of the collection and of its members.
 */
void
do_resource(struct rq *rq)
{
	const char *method = rq->req->method, *body = rq->req->body.data;
	const char *rest, *list;
	size_t blen = rq->req->body.len, n;
	char q[GB_PROTO_ARG - 256];
	struct res *r;
	char *c;

	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
	    strcmp(method, "PATCH") != 0 && strcmp(method, "DELETE") != 0) {
		rq_error(rq, 405, "Method Not Allowed", NULL);
		return;
	}
	if ((r = res_new(rq)) == NULL)
		return;
	rest = rq->path + (r->gem ? 14 : 7) + 1;	/* below the prefix */
	query_copy(rq->query, q, sizeof(q));
	if (snprintf(r->path, sizeof(r->path), "%s%s", rest, q) >=
	    (int)sizeof(r->path)) {
		rq_error(rq, 400, "path too long", NULL);
		return;
	}
	n = strcspn(rest, "/");
	scopy(r->coll, sizeof(r->coll), rest);
	if (n < sizeof(r->coll))
		r->coll[n] = '\0';
	if (rest[n] == '\0') {
		/* the collection */
		list = strcmp(r->coll, "files") == 0 ? "files" :
		    strcmp(r->coll, "cachedContents") == 0 ? "cachedContents" :
		    strcmp(r->coll, "batches") == 0 ? "operations" : NULL;
		if (strcmp(method, "GET") == 0 && list != NULL) {
			r->op = R_LIST;
			r->field = list;
		} else if (strcmp(method, "POST") == 0)
			r->op = R_CREATE;
	} else {
		/* a member: its name without a verb (":cancel", "/cancel") */
		scopy(r->name, sizeof(r->name), rest);
		if ((c = strrchr(r->name, '/')) != NULL &&
		    strcmp(c, "/cancel") == 0)
			*c = '\0';
		if ((c = strrchr(r->name, '/')) != NULL &&
		    (c = strchr(c, ':')) != NULL)
			*c = '\0';
		if (strcmp(method, "DELETE") == 0)
			r->op = R_DELETE;
		if (pin_of(rq, r->name) == -1)
			return;
	}
	if (strcmp(method, "POST") != 0 && strcmp(method, "PATCH") != 0)
		body = NULL, blen = 0;
	else if (res_body_pin(rq, body, blen, rq->pin) == -1)
		return;
	rq_debug(rq, "request", body, blen);
	if (r->op == R_LIST) {
		r->merged = json_array();
		if ((r->owners = calloc(LIST_KEYS, sizeof(*r->owners))) ==
		    NULL || r->merged == NULL) {
			rq_error(rq, 500, "out of memory", NULL);
			return;
		}
		snprintf(q, sizeof(q), "%s/", r->coll);
		if ((r->nowners = store(rq) != NULL ?
		    gb_affstore_owners(store(rq), q, time(NULL), r->owners,
		    LIST_KEYS) : gb_affinity_owners(rq->cfg->state_dir, q,
		    time(NULL), r->owners, LIST_KEYS)) == -1) {
			rq_error(rq, 500, "key affinity store unreadable",
			    NULL);
			return;
		}
		list_next(rq);
		return;
	}
	res_call(rq, method, rq->pin, body != NULL ? body : "", blen);
}

/*
 * POST /upload/v1beta/files: the start of a resumable upload (no
 * upload_id), or a chunk of one (upload_id=, the URL gb-serve gave).
 */
void
do_upload(struct rq *rq)
{
	char q[GB_PROTO_ARG - 64], upid[GB_AFFINITY_NAME - 16];
	struct res *r;

	if ((r = res_new(rq)) == NULL)
		return;
	query_copy(rq->query, q, sizeof(q));
	snprintf(r->path, sizeof(r->path), "upload/files%s", q);
	upload_headers(rq, r->hdrs, sizeof(r->hdrs));
	if (rq->query != NULL && upload_id(rq->query, upid,
	    sizeof(upid)) == 0) {
		r->op = R_UP_CHUNK;
		snprintf(r->name, sizeof(r->name), "uploads/%s", upid);
		if (pin_of(rq, r->name) == -1)
			return;
	} else {
		r->op = R_UP_START;
		if (res_body_pin(rq, rq->req->body.data, rq->req->body.len,
		    rq->pin) == -1)
			return;
	}
	res_call(rq, "POST", rq->pin, rq->req->body.data != NULL ?
	    rq->req->body.data : "", rq->req->body.len);
}
