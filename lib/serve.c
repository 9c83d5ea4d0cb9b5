/*
 * serve.c - one request: CORS, routing, authentication, and the tool
 * pipeline that answers it (DESIGN.md "Routes").
 *
 * Routing works on the raw request path; only the {id} and {model}
 * segments are percent-decoded, so "//", "%2e%2e" or an encoded slash
 * can never turn one route into another (an admin route in particular).
 *
 * Pipelines (each box a separate process, started through pipeline.h):
 *
 *   chat        gb-convert chat-request -I 3 -> gb-call [-s] -S 4 POST path
 *               -> gb-convert chat-response -m M | gb-sse -m M [-u] -k N
 *   embeddings  gb-convert embed-request -I 3 -> gb-call per batch line
 *               -> gb-convert embed-response -m M -e ENC
 *   models      gb-call GET models?pageSize=1000 -> gb-convert models [-i ID]
 *   native      gb-call [-s] POST models/M:ACTION [-> gb-sse -g]
 *
 * gb-call's status line (fd 4) is read before anything is sent to the
 * client, so the client gets the real upstream status; an error body is
 * turned into the route's dialect. While waiting on a pipeline the
 * client socket is watched for a hang-up; one ends the pipeline at once
 * (its process group is killed) and every child is reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gemini.h"
#include "io.h"
#include "pipeline.h"
#include "serve.h"

#define META_MAX	65536		/* a meta or status line */
#define ERR_MAX		8192		/* a tool's stderr, kept for errors */
#define UPSTREAM_ERR_MAX (1024 * 1024)	/* an upstream error body */
#define ANSWER_MAX	(256 * 1024 * 1024)	/* a whole converted answer */
#define STREAM_READ	65536

enum dialect { D_OPENAI, D_GEMINI };

enum route {
	R_NONE, R_HEALTH, R_MODELS, R_MODEL, R_CHAT, R_EMBED, R_KEYS,
	R_GMODELS, R_GMODEL, R_GACTION
};

struct match {
	enum route	 route;
	enum dialect	 dialect;
	int		 status;	/* 0, 404 or 405 */
	char		 id[256];	/* model id / model name (decoded) */
	char		 action[32];	/* native action */
};

/* What gb-call said on its status descriptor. */
struct call {
	pid_t	 pid;
	int	 out;		/* its stdout, read end */
	int	 status;	/* HTTP status for the client */
	long	 retry_after;	/* seconds, or -1 */
	int	 exit;		/* exit code once waited for, or -1 */
	char	 msg[256];	/* when gb-call gave no status */
};

static const char *const native_actions[] = {
	"generateContent", "streamGenerateContent", "countTokens",
	"embedContent", "batchEmbedContents"
};

/* ---- small helpers ---- */

/* Copy a string, truncated to fit (strlcpy without the return value). */
static void
scopy(char *dst, size_t sz, const char *src)
{
	size_t n = strlen(src);

	if (n >= sz)
		n = sz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
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
gb_serve_token_ok(const struct gb_config *cfg, const char *tok, int admin)
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

/* Headers every answer carries: CORS, as the original's middleware. */
static void
cors_headers(const struct gb_http_req *req, char *out, size_t sz)
{
	const char *origin = gb_http_header(req, "Origin");

	if (origin != NULL && *origin != '\0' && strlen(origin) < 512)
		snprintf(out, sz, "Access-Control-Allow-Origin: %s\r\n"
		    "Access-Control-Allow-Credentials: true\r\n"
		    "Access-Control-Expose-Headers: *\r\n"
		    "Vary: Origin\r\n", origin);
	else
		snprintf(out, sz, "Access-Control-Allow-Origin: *\r\n"
		    "Access-Control-Expose-Headers: *\r\n");
}

static int
respond(struct gb_serve *s, struct gb_http_req *req, int status,
    const char *ctype, const char *extra, const void *body, size_t len)
{
	char hdrs[2048], cors[1024];

	cors_headers(req, cors, sizeof(cors));
	snprintf(hdrs, sizeof(hdrs), "%s%s", cors, extra != NULL ? extra : "");
	return gb_http_respond(s->conn, req, status, ctype, hdrs, body, len);
}

static int
respond_json(struct gb_serve *s, struct gb_http_req *req, int status,
    const char *extra, json_t *j)
{
	char *txt;
	int rc;

	txt = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (txt == NULL)
		return respond(s, req, 500, "application/json", extra,
		    "{}", 2);
	rc = respond(s, req, status, "application/json", extra, txt,
	    strlen(txt));
	free(txt);
	return rc;
}

static int
respond_error(struct gb_serve *s, struct gb_http_req *req, enum dialect d,
    int status, const char *msg, const char *code)
{
	if (d == D_GEMINI)
		return respond_json(s, req, status, NULL,
		    gb_gemini_error(status, msg));
	return respond_json(s, req, status, NULL,
	    gb_openai_error(status, msg, code));
}

void
gb_serve_refuse(struct gb_serve *s, struct gb_http_req *req, int status)
{
	const char *msg;

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
	s->conn->broken = 1;
	respond_json(s, req, status, NULL, gb_openai_error(status, msg, NULL));
}

/* ---- routing ---- */

/* Whether the raw path is prefix + rest exactly; sets *rest. */
static int
strip(const char *path, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0)
		return 0;
	*rest = path + n;
	return 1;
}

static int
name_ok(const char *m)
{
	if (*m == '\0' || *m == '.')
		return 0;
	return strspn(m, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(m);
}

static void
match_openai(const char *rest, const char *method, int admin_ok,
    struct match *m)
{
	const char *id;
	const char *want = NULL;

	m->dialect = D_OPENAI;
	if (strcmp(rest, "/models") == 0) {
		m->route = R_MODELS;
		want = "GET";
	} else if (strip(rest, "/models/", &id) && *id != '\0' &&
	    strchr(id, '/') == NULL) {
		if (pct_decode(id, strlen(id), m->id, sizeof(m->id)) == -1) {
			m->status = 404;
			return;
		}
		if (strncmp(m->id, "models/", 7) == 0)
			memmove(m->id, m->id + 7, strlen(m->id + 7) + 1);
		m->route = R_MODEL;
		want = "GET";
	} else if (strcmp(rest, "/chat/completions") == 0) {
		m->route = R_CHAT;
		want = "POST";
	} else if (strcmp(rest, "/embeddings") == 0) {
		m->route = R_EMBED;
		want = "POST";
	} else if (admin_ok && strcmp(rest, "/keys/list") == 0) {
		m->route = R_KEYS;
		want = "GET";
	}
	if (want == NULL)
		m->status = 404;
	else if (strcmp(method, want) != 0)
		m->status = 405;
}

static void
match_gemini(const char *rest, const char *method, struct match *m)
{
	const char *name, *colon;
	const char *want = NULL;
	size_t i, n;

	m->dialect = D_GEMINI;
	if (strcmp(rest, "/models") == 0) {
		m->route = R_GMODELS;
		want = "GET";
	} else if (strip(rest, "/models/", &name)) {
		colon = strchr(name, ':');
		n = colon != NULL ? (size_t)(colon - name) : strlen(name);
		if (n == 0 || n >= sizeof(m->id)) {
			m->status = 404;
			return;
		}
		memcpy(m->id, name, n);
		m->id[n] = '\0';
		if (!name_ok(m->id)) {
			m->status = 404;
			return;
		}
		if (colon == NULL) {
			m->route = R_GMODEL;
			want = "GET";
		} else {
			for (i = 0; i < GB_NELEM(native_actions); i++)
				if (strcmp(colon + 1, native_actions[i]) == 0)
					break;
			if (i == GB_NELEM(native_actions)) {
				m->status = 404;
				return;
			}
			scopy(m->action, sizeof(m->action), native_actions[i]);
			m->route = R_GACTION;
			want = "POST";
		}
	}
	if (want == NULL)
		m->status = 404;
	else if (strcmp(method, want) != 0)
		m->status = 405;
}

static void
route(const char *path, const char *method, struct match *m)
{
	const char *rest;

	memset(m, 0, sizeof(*m));
	m->dialect = D_OPENAI;
	if (strcmp(path, "/") == 0 || strcmp(path, "/health") == 0) {
		m->route = R_HEALTH;
		if (strcmp(method, "GET") != 0)
			m->status = 405;
		return;
	}
	if (strip(path, "/v1beta", &rest) && (*rest == '/' || *rest == '\0'))
		match_gemini(rest, method, m);
	else if (strip(path, "/gemini/v1beta", &rest) &&
	    (*rest == '/' || *rest == '\0'))
		match_gemini(rest, method, m);
	else if (strip(path, "/v1", &rest) && (*rest == '/' || *rest == '\0'))
		match_openai(rest, method, 1, m);
	else if (strip(path, "/hf/v1", &rest) &&
	    (*rest == '/' || *rest == '\0'))
		match_openai(rest, method, 1, m);
	else
		match_openai(path, method, 0, m);
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

/* How many header fields are called name. */
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
 * 0 when allowed, else the answer has been sent (returns 1, or -1).
 * A request carrying a credential header twice is refused: which copy
 * counts would otherwise depend on who reads it (a proxy in front may
 * pick the other one).
 */
static int
authorize(struct gb_serve *s, struct gb_http_req *req, const struct match *m,
    const char *query)
{
	const char *h = gb_http_header(req, "Authorization"), *tok;
	char qkey[512];
	int rc;

	if (m->route == R_HEALTH)
		return 0;
	if (header_count(req, "Authorization") > 1 ||
	    header_count(req, "x-goog-api-key") > 1) {
		rc = respond_error(s, req, m->dialect, 401,
		    "Multiple credential headers", "invalid_api_key");
		return rc == -1 ? -1 : 1;
	}
	if (m->route == R_KEYS) {
		if (h == NULL || *h == '\0')
			rc = respond_error(s, req, D_OPENAI, 401,
			    "Missing auth_token header", NULL);
		else if (!gb_serve_token_ok(s->cfg, (tok = bearer(h)) != NULL ?
		    tok : h, 1))
			rc = respond_error(s, req, D_OPENAI, 401,
			    "Invalid auth_token", "invalid_api_key");
		else
			return 0;
		return rc == -1 ? -1 : 1;
	}
	if (m->dialect == D_OPENAI) {
		if (h == NULL || *h == '\0')
			rc = respond_error(s, req, D_OPENAI, 401,
			    "Missing Authorization header", NULL);
		else if ((tok = bearer(h)) == NULL)
			rc = respond_error(s, req, D_OPENAI, 401,
			    "Invalid Authorization header format",
			    "invalid_api_key");
		else if (!gb_serve_token_ok(s->cfg, tok, 0))
			rc = respond_error(s, req, D_OPENAI, 401,
			    "Invalid token", "invalid_api_key");
		else
			return 0;
		return rc == -1 ? -1 : 1;
	}
	/* Gemini dialect: x-goog-api-key, ?key= or a bearer token */
	if ((tok = gb_http_header(req, "x-goog-api-key")) == NULL) {
		if (query != NULL && query_key(query, qkey, sizeof(qkey)) == 0)
			tok = qkey;
		else
			tok = bearer(h);
	}
	if (tok == NULL || *tok == '\0')
		rc = respond_error(s, req, D_GEMINI, 401,
		    "Missing x-goog-api-key header", NULL);
	else if (!gb_serve_token_ok(s->cfg, tok, 0))
		rc = respond_error(s, req, D_GEMINI, 401,
		    "Invalid x-goog-api-key", NULL);
	else
		return 0;
	return rc == -1 ? -1 : 1;
}

/* ---- waiting on the pipeline while watching the client ---- */

/*
 * Wait until fd is ready for ev, or the client hangs up (-2). Only
 * POLLRDHUP is asked of the client socket, so a pipelined next request
 * does not wake us.
 */
static int
wait_fd(struct gb_serve *s, int fd, short ev)
{
	struct pollfd p[2];
	int n;

	for (;;) {
		p[0].fd = fd;
		p[0].events = ev;
		p[0].revents = 0;
		p[1].fd = s->conn->rfd;
		p[1].events = POLLRDHUP;
		p[1].revents = 0;
		n = poll(p, 2, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			s->client_gone = 1;
			return -2;
		}
		if (p[0].revents)
			return 0;
	}
}

/*
 * Write data to wfd (may be -1) while reading rfd to EOF into out.
 * Returns 0, -1 (out over its cap: errno E2BIG, or I/O error), -2 when
 * the client went away.
 */
static int
exchange(struct gb_serve *s, int wfd, const char *data, size_t len, int rfd,
    struct gb_buf *out)
{
	struct pollfd p[3];
	size_t off = 0, want;
	ssize_t r;
	int n, np, rc = 0;

	if (wfd >= 0) {
		fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
		if (len == 0) {
			close(wfd);
			wfd = -1;
		}
	}
	while (rfd >= 0 || wfd >= 0) {
		np = 0;
		p[np].fd = s->conn->rfd;
		p[np].events = POLLRDHUP;
		p[np++].revents = 0;
		if (rfd >= 0) {
			p[np].fd = rfd;
			p[np].events = POLLIN;
			p[np++].revents = 0;
		}
		if (wfd >= 0) {
			p[np].fd = wfd;
			p[np].events = POLLOUT;
			p[np++].revents = 0;
		}
		n = poll(p, (nfds_t)np, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			s->client_gone = 1;
			rc = -2;
			break;
		}
		if (wfd >= 0 && p[np - 1].revents) {
			r = write(wfd, data + off, len - off);
			if (r > 0)
				off += (size_t)r;
			if ((r == -1 && errno != EAGAIN && errno != EINTR) ||
			    off == len) {
				close(wfd);	/* EPIPE: the reader left */
				wfd = -1;
			}
		}
		if (rfd >= 0 && p[1].revents) {
			want = out->cap - out->len < 65536 ?
			    out->cap - out->len : 65536;
			if (want == 0) {
				errno = E2BIG;
				rc = -1;
				break;
			}
			if (gb_buf_reserve(out, want) == -1) {
				rc = -1;
				break;
			}
			r = read(rfd, out->data + out->len, want);
			if (r > 0) {
				out->len += (size_t)r;
				out->data[out->len] = '\0';
			} else if (r == 0 || (errno != EAGAIN &&
			    errno != EINTR))
				rfd = -1;	/* closed by the caller */
		}
	}
	if (wfd >= 0)
		close(wfd);
	return rc;
}

/* Read fd to EOF (capped) while watching the client. */
static int
slurp(struct gb_serve *s, int fd, struct gb_buf *out)
{
	return exchange(s, -1, NULL, 0, fd, out);
}

/* Drain a tool's stderr pipe (non-blocking) into a short message. */
static void
read_err(int fd, char *msg, size_t sz)
{
	char buf[ERR_MAX], *p, *nl;
	ssize_t r;
	size_t n = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (n < sizeof(buf) - 1 &&
	    (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	/* the first line, without the "gb-tool: " prefix */
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	p = buf;
	if (strncmp(p, "gb-", 3) == 0 && (nl = strstr(p, ": ")) != NULL)
		p = nl + 2;
	scopy(msg, sz, p);
	if (n > 0)
		fprintf(stderr, "%s\n", buf);
}

static void
debug(struct gb_serve *s, const char *label, const char *p, size_t n)
{
	if (s->debug != NULL && s->cfg->log_level >= GB_LOG_DEBUG)
		s->debug(s->arg, label, p, n);
}

/* ---- gb-call ---- */

/*
 * Start gb-call and read its status line. Its stdin comes from in_fd, or
 * from data (fed while waiting), or /dev/null. Returns 0 with c filled,
 * -2 when the client left, -1 when gb-call could not say (c->status and
 * c->msg set).
 */
static int
call_start(struct gb_serve *s, struct gb_pipeline *pl, const char *method,
    const char *path, int stream, int in_fd, const char *data, size_t len,
    struct call *c)
{
	const char *argv[8];
	struct gb_err err;
	struct gb_buf line;
	json_t *j, *v;
	int sp[2] = { -1, -1 }, op[2] = { -1, -1 }, ip[2] = { -1, -1 };
	int fds[5], rc, n = 0;

	memset(c, 0, sizeof(*c));
	c->out = -1;
	c->exit = -1;
	c->retry_after = -1;
	c->status = 502;
	argv[n++] = "gb-call";
	if (stream)
		argv[n++] = "-s";
	argv[n++] = "-S";
	argv[n++] = "4";
	argv[n++] = method;
	argv[n++] = path;
	argv[n] = NULL;
	if (gb_pipe(sp) == -1 || gb_pipe(op) == -1 ||
	    (data != NULL && gb_pipe(ip) == -1)) {
		snprintf(c->msg, sizeof(c->msg), "pipe: %s", strerror(errno));
		c->status = 500;
		goto fail;
	}
	fds[0] = data != NULL ? ip[0] : in_fd;
	fds[1] = op[1];
	fds[2] = 2;
	fds[3] = -1;
	fds[4] = sp[1];
	c->pid = gb_pipeline_spawn(pl, argv, fds, 5, &err);
	close_fd(&sp[1]);
	close_fd(&op[1]);
	close_fd(&ip[0]);
	if (c->pid == -1) {
		scopy(c->msg, sizeof(c->msg), err.msg);
		c->status = 500;
		goto fail;
	}
	gb_buf_init(&line, META_MAX);
	rc = exchange(s, ip[1], data, len, sp[0], &line);
	ip[1] = -1;	/* closed by exchange */
	close_fd(&sp[0]);
	if (rc == -2) {
		gb_buf_free(&line);
		close_fd(&op[0]);
		return -2;
	}
	j = line.len > 0 ? json_loads(line.data, 0, NULL) : NULL;
	gb_buf_free(&line);
	if (j == NULL || !json_is_integer(v = json_object_get(j, "status"))) {
		json_decref(j);
		/* no status line: gb-call failed before asking upstream */
		c->exit = gb_pipeline_wait(pl, c->pid);
		snprintf(c->msg, sizeof(c->msg),
		    "upstream call failed (gb-call exit %d)", c->exit);
		c->status = c->exit == GB_EXIT_USAGE ? 500 : 502;
		goto fail;
	}
	c->status = (int)json_integer_value(v);
	if (c->status < 100 || c->status > 599)
		c->status = 502;
	if (json_is_string(v = json_object_get(j, "key")))
		scopy(s->key, sizeof(s->key), json_string_value(v));
	if (json_is_number(v = json_object_get(j, "retry_after")))
		c->retry_after = (long)json_number_value(v);
	json_decref(j);
	c->out = op[0];
	return 0;
fail:
	close_fd(&sp[0]);
	close_fd(&sp[1]);
	close_fd(&op[0]);
	close_fd(&op[1]);
	close_fd(&ip[0]);
	close_fd(&ip[1]);
	return -1;
}

static int
is_2xx(int st)
{
	return st >= 200 && st < 300;
}

/* Retry-After for a 429, in a header line, or "". */
static void
retry_hdr(const struct call *c, char *out, size_t sz)
{
	*out = '\0';
	if (c->status == 429 && c->retry_after >= 0)
		snprintf(out, sz, "Retry-After: %ld\r\n",
		    c->retry_after > 0 ? c->retry_after : 1);
}

/*
 * gb-call answered non-2xx: read its (Gemini-shaped) body and answer in
 * the route's dialect with the real status.
 */
static int
call_error(struct gb_serve *s, struct gb_http_req *req,
    struct gb_pipeline *pl, struct call *c, enum dialect d)
{
	struct gb_buf body;
	char extra[64];
	json_t *j;
	int st, rc;

	gb_buf_init(&body, UPSTREAM_ERR_MAX);
	if (c->out >= 0 && slurp(s, c->out, &body) == -2) {
		gb_buf_free(&body);
		close_fd(&c->out);
		return -2;
	}
	close_fd(&c->out);
	gb_pipeline_finish(pl);
	debug(s, "upstream error", body.data, body.len);
	retry_hdr(c, extra, sizeof(extra));
	if (d == D_GEMINI) {
		j = body.len > 0 ? json_loadb(body.data, body.len, 0, NULL) :
		    NULL;
		if (j == NULL)
			j = gb_gemini_error(c->status, c->msg[0] != '\0' ?
			    c->msg : "upstream request failed");
		rc = respond_json(s, req, c->status, extra, j);
	} else {
		st = c->status;
		if (body.len == 0 && c->msg[0] != '\0')
			j = gb_openai_error(c->status, c->msg, NULL);
		else
			j = gb_gemini_error_to_openai(c->status,
			    body.data != NULL ? body.data : "", body.len, &st);
		rc = respond_json(s, req, st, extra, j);
	}
	gb_buf_free(&body);
	return rc;
}

/*
 * Relay a stream from fd to the client, one chunk per read (the tools
 * write one event per write, so an event goes out as it comes).
 */
static int
relay_stream(struct gb_serve *s, struct gb_http_req *req, int fd)
{
	char buf[STREAM_READ];
	char hdrs[1024 + 128], cors[1024];
	ssize_t r;
	int rc;

	cors_headers(req, cors, sizeof(cors));
	snprintf(hdrs, sizeof(hdrs), "%sCache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n", cors);
	if (gb_http_stream_begin(s->conn, req, 200, "text/event-stream",
	    hdrs) == -1)
		return -2;
	for (;;) {
		if ((rc = wait_fd(s, fd, POLLIN)) != 0)
			return rc;
		r = gb_io_read(fd, buf, sizeof(buf));
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		if (gb_http_stream_write(s->conn, req, buf, (size_t)r) == -1) {
			s->client_gone = 1;
			return -2;
		}
	}
	if (gb_http_stream_end(s->conn, req) == -1) {
		s->client_gone = 1;
		return -2;
	}
	return 0;
}

/*
 * Start a converter reading in_fd and return its stdout (read end);
 * *errfd gets its stderr.
 */
static pid_t
filter_start(struct gb_pipeline *pl, const char *const *argv, int in_fd,
    int *out_fd, int *errfd, struct gb_err *err)
{
	int op[2], ep[2], fds[3];
	pid_t pid;

	if (gb_pipe(op) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "pipe: %s",
		    strerror(errno));
	if (gb_pipe(ep) == -1) {
		close(op[0]);
		close(op[1]);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "pipe: %s",
		    strerror(errno));
	}
	fds[0] = in_fd;
	fds[1] = op[1];
	fds[2] = errfd != NULL ? ep[1] : 2;
	pid = gb_pipeline_spawn(pl, argv, fds, 3, err);
	close(op[1]);
	close(ep[1]);
	if (pid == -1 || errfd == NULL) {
		close(ep[0]);
		ep[0] = -1;
	}
	if (pid == -1) {
		close(op[0]);
		return -1;
	}
	*out_fd = op[0];
	if (errfd != NULL)
		*errfd = ep[0];
	return pid;
}

/*
 * After gb-call said 2xx: convert its body with argv (a whole answer,
 * Content-Length) or relay the converter's stream.
 */
static int
convert_answer(struct gb_serve *s, struct gb_http_req *req,
    struct gb_pipeline *pl, struct call *c, const char *const *argv,
    int stream, enum dialect d)
{
	struct gb_err err;
	struct gb_buf out;
	char msg[512];
	int ofd = -1, efd = -1, rc, ex;
	pid_t pid;

	pid = filter_start(pl, argv, c->out, &ofd, stream ? NULL : &efd,
	    &err);
	close_fd(&c->out);
	if (pid == -1) {
		gb_pipeline_kill(pl);
		return respond_error(s, req, d, 500, err.msg, NULL);
	}
	if (stream) {
		rc = relay_stream(s, req, ofd);
		close(ofd);
		if (rc != 0) {
			gb_pipeline_kill(pl);
			return rc == -2 ? -2 : -1;
		}
		gb_pipeline_finish(pl);
		return 0;
	}
	gb_buf_init(&out, ANSWER_MAX);
	rc = slurp(s, ofd, &out);
	close(ofd);
	if (rc == -2) {
		close(efd);
		gb_buf_free(&out);
		return -2;
	}
	ex = gb_pipeline_wait(pl, pid);
	gb_pipeline_finish(pl);
	read_err(efd, msg, sizeof(msg));
	close(efd);
	if (rc == -1 || ex != 0) {
		gb_buf_free(&out);
		if (ex == 1 && strcmp(argv[1], "models") == 0)
			return respond_error(s, req, d, 404, msg[0] != '\0' ?
			    msg : "model not found", "model_not_found");
		return respond_error(s, req, d, 502, msg[0] != '\0' ? msg :
		    "could not convert the upstream answer", NULL);
	}
	debug(s, "response", out.data, out.len);
	rc = respond(s, req, 200, "application/json", NULL, out.data,
	    out.len);
	gb_buf_free(&out);
	return rc;
}

/* ---- the routes ---- */

static int
do_health(struct gb_serve *s, struct gb_http_req *req)
{
	static const char ok[] = "{\"status\":\"healthy\"}";

	return respond(s, req, 200, "application/json", NULL, ok,
	    sizeof(ok) - 1);
}

static int
do_preflight(struct gb_serve *s, struct gb_http_req *req)
{
	const char *origin = gb_http_header(req, "Origin");
	const char *rh = gb_http_header(req, "Access-Control-Request-Headers");
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
	return gb_http_respond(s->conn, req, 200, "text/plain; charset=utf-8",
	    hdrs, "OK", 2);
}

/* Models, OpenAI side: gb-call GET models | gb-convert models [-i ID]. */
static int
do_models(struct gb_serve *s, struct gb_http_req *req, const struct match *m)
{
	struct gb_pipeline pl;
	struct gb_err err;
	struct call c;
	const char *argv[5] = { "gb-convert", "models", NULL, NULL, NULL };
	int rc;

	if (gb_pipeline_init(&pl, &err) == -1)
		return respond_error(s, req, D_OPENAI, 500, err.msg, NULL);
	if (m->route == R_MODEL) {
		argv[2] = "-i";
		argv[3] = m->id;
		scopy(s->model, sizeof(s->model), m->id);
	}
	rc = call_start(s, &pl, "GET", "models?pageSize=1000", 0, -1, NULL, 0,
	    &c);
	if (rc == -2)
		goto gone;
	if (rc == -1) {
		gb_pipeline_finish(&pl);
		return respond_error(s, req, D_OPENAI, c.status, c.msg, NULL);
	}
	if (!is_2xx(c.status))
		rc = call_error(s, req, &pl, &c, D_OPENAI);
	else
		rc = convert_answer(s, req, &pl, &c, argv, 0, D_OPENAI);
	if (rc != -2)
		return rc;
gone:
	close_fd(&c.out);
	gb_pipeline_kill(&pl);
	return -2;
}

/* Native models: gb-call GET models[/M], passed through. */
static int
do_gmodels(struct gb_serve *s, struct gb_http_req *req,
    const struct match *m)
{
	struct gb_pipeline pl;
	struct gb_err err;
	struct gb_buf out;
	struct call c;
	char path[320];
	int rc;

	if (gb_pipeline_init(&pl, &err) == -1)
		return respond_error(s, req, D_GEMINI, 500, err.msg, NULL);
	if (m->route == R_GMODEL) {
		snprintf(path, sizeof(path), "models/%s", m->id);
		scopy(s->model, sizeof(s->model), m->id);
	} else
		snprintf(path, sizeof(path), "models?pageSize=1000");
	rc = call_start(s, &pl, "GET", path, 0, -1, NULL, 0, &c);
	if (rc == -2)
		goto gone;
	if (rc == -1) {
		gb_pipeline_finish(&pl);
		return respond_error(s, req, D_GEMINI, c.status, c.msg, NULL);
	}
	if (!is_2xx(c.status)) {
		if ((rc = call_error(s, req, &pl, &c, D_GEMINI)) == -2)
			goto gone;
		return rc;
	}
	gb_buf_init(&out, ANSWER_MAX);
	if ((rc = slurp(s, c.out, &out)) == -2) {
		gb_buf_free(&out);
		goto gone;
	}
	close_fd(&c.out);
	gb_pipeline_finish(&pl);
	if (rc == -1)
		rc = respond_error(s, req, D_GEMINI, 502,
		    "upstream answer too large", NULL);
	else
		rc = respond(s, req, c.status, "application/json", NULL,
		    out.data, out.len);
	gb_buf_free(&out);
	return rc;
gone:
	close_fd(&c.out);
	gb_pipeline_kill(&pl);
	return -2;
}

/*
 * Run a request converter (chat-request / embed-request -I 3) on the
 * client body: returns its meta object (new reference) with *out_fd its
 * stdout, or NULL after answering (*rc set).
 */
static json_t *
run_request_converter(struct gb_serve *s, struct gb_http_req *req,
    struct gb_pipeline *pl, const char *mode, int *out_fd, int *rc)
{
	const char *argv[] = { "gb-convert", mode, "-I", "3", NULL };
	int ip[2] = { -1, -1 }, op[2] = { -1, -1 }, mp[2] = { -1, -1 };
	int ep[2] = { -1, -1 }, fds[4], r, ex;
	struct gb_err err;
	struct gb_buf meta;
	char msg[512];
	json_t *j = NULL;
	pid_t pid;

	*out_fd = -1;
	if (gb_pipe(ip) == -1 || gb_pipe(op) == -1 || gb_pipe(mp) == -1 ||
	    gb_pipe(ep) == -1) {
		*rc = respond_error(s, req, D_OPENAI, 500, "pipe failed",
		    NULL);
		goto out;
	}
	fds[0] = ip[0];
	fds[1] = op[1];
	fds[2] = ep[1];
	fds[3] = mp[1];
	pid = gb_pipeline_spawn(pl, argv, fds, 4, &err);
	close_fd(&ip[0]);
	close_fd(&op[1]);
	close_fd(&ep[1]);
	close_fd(&mp[1]);
	if (pid == -1) {
		*rc = respond_error(s, req, D_OPENAI, 500, err.msg, NULL);
		goto out;
	}
	gb_buf_init(&meta, META_MAX);
	r = exchange(s, ip[1], req->body.data, req->body.len, mp[0], &meta);
	ip[1] = -1;
	if (r == -2) {
		gb_buf_free(&meta);
		*rc = -2;
		goto out;
	}
	if (meta.len > 0)
		j = json_loads(meta.data, 0, NULL);
	gb_buf_free(&meta);
	if (!json_is_object(j)) {
		json_decref(j);
		j = NULL;
		close_fd(&op[0]);
		ex = gb_pipeline_wait(pl, pid);
		read_err(ep[0], msg, sizeof(msg));
		gb_pipeline_finish(pl);
		if (ex == GB_EXIT_USAGE || ex == GB_EXIT_NO)
			*rc = respond_error(s, req, D_OPENAI, 400, msg[0] ?
			    msg : "invalid request", NULL);
		else
			*rc = respond_error(s, req, D_OPENAI, 500, msg[0] ?
			    msg : "request conversion failed", NULL);
		goto out;
	}
	*out_fd = op[0];
	op[0] = -1;
out:
	close_fd(&ip[0]);
	close_fd(&ip[1]);
	close_fd(&op[0]);
	close_fd(&op[1]);
	close_fd(&mp[0]);
	close_fd(&mp[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	return j;
}

static const char *
jstr(const json_t *j, const char *k)
{
	const char *v = json_string_value(json_object_get(j, k));

	return v != NULL ? v : "";
}

static int
do_chat(struct gb_serve *s, struct gb_http_req *req)
{
	struct gb_pipeline pl;
	struct gb_err err;
	struct call c;
	const char *argv[8];
	char model[256], path[512];
	json_t *meta;
	int conv_out, rc, stream, usage, n = 0;

	if (gb_pipeline_init(&pl, &err) == -1)
		return respond_error(s, req, D_OPENAI, 500, err.msg, NULL);
	debug(s, "request", req->body.data, req->body.len);
	memset(&c, 0, sizeof(c));
	c.out = -1;
	meta = run_request_converter(s, req, &pl, "chat-request", &conv_out,
	    &rc);
	if (meta == NULL) {
		if (rc == -2)
			goto gone;
		return rc;
	}
	scopy(model, sizeof(model), jstr(meta, "model"));
	scopy(path, sizeof(path), jstr(meta, "path"));
	stream = json_is_true(json_object_get(meta, "stream"));
	usage = json_is_true(json_object_get(meta, "include_usage"));
	json_decref(meta);
	scopy(s->model, sizeof(s->model), model);
	rc = call_start(s, &pl, "POST", path, stream, conv_out, NULL, 0, &c);
	close(conv_out);
	if (rc == -2)
		goto gone;
	if (rc == -1) {
		gb_pipeline_finish(&pl);
		return respond_error(s, req, D_OPENAI, c.status, c.msg, NULL);
	}
	if (!is_2xx(c.status)) {
		if ((rc = call_error(s, req, &pl, &c, D_OPENAI)) == -2)
			goto gone;
		return rc;
	}
	if (stream) {
		argv[n++] = "gb-sse";
		argv[n++] = "-m";
		argv[n++] = model;
		if (usage)
			argv[n++] = "-u";
		argv[n++] = "-k";
		argv[n++] = s->sse_k;
	} else {
		argv[n++] = "gb-convert";
		argv[n++] = "chat-response";
		argv[n++] = "-m";
		argv[n++] = model;
	}
	argv[n] = NULL;
	rc = convert_answer(s, req, &pl, &c, argv, stream, D_OPENAI);
	if (rc != -2)
		return rc;
gone:
	close_fd(&c.out);
	gb_pipeline_kill(&pl);
	return -2;
}

/*
 * Embeddings: one gb-call per batch line of embed-request's output, the
 * answers concatenated in order into embed-response.
 */
static int
do_embed(struct gb_serve *s, struct gb_http_req *req)
{
	struct gb_pipeline pl;
	struct gb_err err;
	struct gb_buf lines, all, out;
	struct call c;
	const char *argv[] = { "gb-convert", "embed-response", "-m", NULL,
	    "-e", NULL, NULL };
	char model[256], path[512], enc[16], msg[512];
	char *line, *nl;
	json_t *meta;
	int conv_out, rc, ip[2], op[2], ep[2], fds[3], ex;
	pid_t pid;

	if (gb_pipeline_init(&pl, &err) == -1)
		return respond_error(s, req, D_OPENAI, 500, err.msg, NULL);
	debug(s, "request", req->body.data, req->body.len);
	memset(&c, 0, sizeof(c));
	c.out = -1;
	gb_buf_init(&lines, (size_t)s->cfg->max_body * 2 + 65536);
	gb_buf_init(&all, ANSWER_MAX);
	gb_buf_init(&out, ANSWER_MAX);
	meta = run_request_converter(s, req, &pl, "embed-request", &conv_out,
	    &rc);
	if (meta == NULL) {
		if (rc == -2)
			gb_pipeline_kill(&pl);
		goto done;
	}
	scopy(model, sizeof(model), jstr(meta, "model"));
	scopy(path, sizeof(path), jstr(meta, "path"));
	scopy(enc, sizeof(enc), *jstr(meta, "encoding_format") ?
	    jstr(meta, "encoding_format") : "float");
	json_decref(meta);
	scopy(s->model, sizeof(s->model), model);
	rc = slurp(s, conv_out, &lines);
	close(conv_out);
	if (rc != 0)
		goto fail;
	gb_pipeline_finish(&pl);
	for (line = lines.data; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if (*line == '\0')
			continue;
		rc = call_start(s, &pl, "POST", path, 0, -1, line,
		    strlen(line), &c);
		if (rc == -2)
			goto fail;
		if (rc == -1) {
			gb_pipeline_finish(&pl);
			rc = respond_error(s, req, D_OPENAI, c.status, c.msg,
			    NULL);
			goto done;
		}
		if (!is_2xx(c.status)) {
			rc = call_error(s, req, &pl, &c, D_OPENAI);
			goto fail;
		}
		rc = slurp(s, c.out, &all);
		close_fd(&c.out);
		if (rc != 0)
			goto fail;
		gb_pipeline_finish(&pl);
	}
	/* all answers -> embed-response */
	argv[3] = model;
	argv[5] = enc;
	if (gb_pipe(ip) == -1 || gb_pipe(op) == -1 || gb_pipe(ep) == -1) {
		rc = respond_error(s, req, D_OPENAI, 500, "pipe failed", NULL);
		goto done;
	}
	fds[0] = ip[0];
	fds[1] = op[1];
	fds[2] = ep[1];
	pid = gb_pipeline_spawn(&pl, argv, fds, 3, &err);
	close(ip[0]);
	close(op[1]);
	close(ep[1]);
	if (pid == -1) {
		close(ip[1]);
		close(op[0]);
		close(ep[0]);
		rc = respond_error(s, req, D_OPENAI, 500, err.msg, NULL);
		goto done;
	}
	rc = exchange(s, ip[1], all.data, all.len, op[0], &out);
	close(op[0]);
	if (rc == -2) {
		close(ep[0]);
		goto fail;
	}
	ex = gb_pipeline_wait(&pl, pid);
	read_err(ep[0], msg, sizeof(msg));
	close(ep[0]);
	if (rc != 0 || ex != 0)
		rc = respond_error(s, req, D_OPENAI, 502, msg[0] ? msg :
		    "could not convert the upstream answer", NULL);
	else
		rc = respond(s, req, 200, "application/json", NULL, out.data,
		    out.len);
	goto done;
fail:
	close_fd(&c.out);
	gb_pipeline_kill(&pl);
	if (rc == -1 && !s->client_gone)
		rc = respond_error(s, req, D_OPENAI, 502,
		    "embedding answer too large", NULL);
done:
	gb_pipeline_finish(&pl);
	gb_buf_free(&lines);
	gb_buf_free(&all);
	gb_buf_free(&out);
	return rc;
}

/* Native generate/stream/count/embed: the client body to gb-call. */
static int
do_gaction(struct gb_serve *s, struct gb_http_req *req,
    const struct match *m)
{
	struct gb_pipeline pl;
	struct gb_err err;
	struct gb_buf out;
	struct call c;
	const char *argv[] = { "gb-sse", "-g", "-m", m->id, "-k", NULL, NULL };
	char path[512];
	int stream, rc;

	if (gb_pipeline_init(&pl, &err) == -1)
		return respond_error(s, req, D_GEMINI, 500, err.msg, NULL);
	debug(s, "request", req->body.data, req->body.len);
	scopy(s->model, sizeof(s->model), m->id);
	stream = strcmp(m->action, "streamGenerateContent") == 0;
	snprintf(path, sizeof(path), "models/%s:%s%s", m->id, m->action,
	    stream ? "?alt=sse" : "");
	rc = call_start(s, &pl, "POST", path, stream, -1, req->body.data,
	    req->body.len, &c);
	if (rc == -2)
		goto gone;
	if (rc == -1) {
		gb_pipeline_finish(&pl);
		return respond_error(s, req, D_GEMINI, c.status, c.msg, NULL);
	}
	if (!is_2xx(c.status)) {
		if ((rc = call_error(s, req, &pl, &c, D_GEMINI)) == -2)
			goto gone;
		return rc;
	}
	if (stream) {
		argv[5] = s->sse_k;
		rc = convert_answer(s, req, &pl, &c, argv, 1, D_GEMINI);
		if (rc == -2)
			goto gone;
		return rc;
	}
	gb_buf_init(&out, ANSWER_MAX);
	if ((rc = slurp(s, c.out, &out)) == -2) {
		gb_buf_free(&out);
		goto gone;
	}
	close_fd(&c.out);
	gb_pipeline_finish(&pl);
	debug(s, "response", out.data, out.len);
	if (rc == -1)
		rc = respond_error(s, req, D_GEMINI, 502,
		    "upstream answer too large", NULL);
	else
		rc = respond(s, req, c.status, "application/json", NULL,
		    out.data, out.len);
	gb_buf_free(&out);
	return rc;
gone:
	close_fd(&c.out);
	gb_pipeline_kill(&pl);
	return -2;
}

/*
 * /v1/keys/list: which keys gb-keys holds valid and invalid, with the
 * full keys (the one place they are shown, as the original did). The
 * state comes from "gb-keys list --json"; entries are matched to
 * API_KEYS by index.
 */
static int
do_keys(struct gb_serve *s, struct gb_http_req *req)
{
	const char *argv[] = { "gb-keys", "list", "--json", NULL };
	struct gb_pipeline pl;
	struct gb_err err;
	struct gb_buf out;
	json_t *j, *arr, *e, *valid, *invalid, *res;
	const char *state;
	char msg[512];
	int ofd, efd, ex, rc, bad;
	size_t i, idx;
	pid_t pid;

	if (gb_pipeline_init(&pl, &err) == -1)
		return respond_error(s, req, D_OPENAI, 500, err.msg, NULL);
	pid = filter_start(&pl, argv, -1, &ofd, &efd, &err);
	if (pid == -1)
		return respond_error(s, req, D_OPENAI, 500, err.msg, NULL);
	gb_buf_init(&out, 16 * 1024 * 1024);
	rc = slurp(s, ofd, &out);
	close(ofd);
	if (rc == -2) {
		close(efd);
		gb_buf_free(&out);
		gb_pipeline_kill(&pl);
		return -2;
	}
	ex = gb_pipeline_wait(&pl, pid);
	read_err(efd, msg, sizeof(msg));
	close(efd);
	j = ex == 0 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
	gb_buf_free(&out);
	arr = json_is_array(j) ? j : json_object_get(j, "keys");
	if (!json_is_array(arr)) {
		json_decref(j);
		return respond_json(s, req, 500, NULL, gb_openai_error(500,
		    "Internal server error while fetching keys list", NULL));
	}
	valid = json_array();
	invalid = json_array();
	json_array_foreach(arr, i, e) {
		idx = json_is_integer(json_object_get(e, "index")) ?
		    (size_t)json_integer_value(json_object_get(e, "index")) :
		    i;
		if (idx >= s->cfg->api_keys.n)
			continue;
		state = json_string_value(json_object_get(e, "state"));
		bad = (state != NULL && strcmp(state, "invalid") == 0) ||
		    json_is_false(json_object_get(e, "valid")) ||
		    json_is_true(json_object_get(e, "invalid"));
		json_array_append_new(bad ? invalid : valid,
		    json_string(s->cfg->api_keys.v[idx]));
	}
	res = json_pack("{s:s, s:{s:o, s:o}, s:I}", "status", "success",
	    "data", "valid_keys", valid, "invalid_keys", invalid, "total",
	    (json_int_t)json_array_size(arr));
	json_decref(j);
	return respond_json(s, req, 200, NULL, res);
}

int
gb_serve_request(struct gb_serve *s, struct gb_http_req *req)
{
	char path[2048], *q;
	const char *query = NULL;
	struct match m;
	int rc, st;

	s->model[0] = '\0';
	s->key[0] = '\0';
	snprintf(s->sse_k, sizeof(s->sse_k), "%d", s->sse_keepalive);
	s->client_gone = 0;
	scopy(path, sizeof(path), req->target);
	if ((q = strchr(path, '?')) != NULL) {
		*q = '\0';
		query = q + 1;
	}
	scopy(s->path, sizeof(s->path), path);
	if (strcmp(req->method, "OPTIONS") == 0) {
		rc = do_preflight(s, req);
		goto out;
	}
	if (path[0] != '/') {
		gb_serve_refuse(s, req, 400);
		return -1;
	}
	route(path, req->method, &m);
	if (m.status != 0) {
		rc = respond_error(s, req, m.dialect, m.status,
		    m.status == 404 ? "Not Found" : "Method Not Allowed",
		    NULL);
		goto out;
	}
	if ((rc = authorize(s, req, &m, query)) != 0)
		goto out;
	if (gb_http_read_body(s->conn, req, &st) == -1) {
		if (st != 0)
			gb_serve_refuse(s, req, st);
		return -1;
	}
	switch (m.route) {
	case R_HEALTH:
		rc = do_health(s, req);
		break;
	case R_MODELS:
	case R_MODEL:
		rc = do_models(s, req, &m);
		break;
	case R_CHAT:
		rc = do_chat(s, req);
		break;
	case R_EMBED:
		rc = do_embed(s, req);
		break;
	case R_KEYS:
		rc = do_keys(s, req);
		break;
	case R_GMODELS:
	case R_GMODEL:
		rc = do_gmodels(s, req, &m);
		break;
	case R_GACTION:
		rc = do_gaction(s, req, &m);
		break;
	default:
		rc = respond_error(s, req, D_OPENAI, 404, "Not Found", NULL);
		break;
	}
out:
	if (rc == -2) {
		req->status = 499;	/* client closed request */
		s->conn->broken = 1;
	}
	if (rc < 0)
		s->conn->broken = 1;
	return gb_http_reusable(s->conn, req) ? 0 : -1;
}
