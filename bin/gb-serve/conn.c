/*
 * conn.c - gb-serve's connections on one sd-event loop (serve.h).
 *
 * A connection reads a request head, has it routed and authorised
 * (routes.c) before any large body is taken, reads the body, and hands
 * the request to its handler; the answer goes into the connection's
 * output buffer and out as fast as the client takes it. A request in
 * progress watches only for the client hanging up, which ends it and
 * its jobs at once. Every wait has a bound: the idle time before a
 * request, the header time once its first byte came, the idle time
 * between pieces of a body.
 *
 * Accepting never spins: out of descriptors, the reserve descriptor is
 * given up for a moment to accept and answer 503 with Retry-After, the
 * cause is logged at most once a second, and accepting pauses for a
 * tenth of a second.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "anthropic.h"
#include "gemini.h"
#include "serve.h"

#define ACCEPT_BURST	64	/* connections taken per wake-up */
#define READSIZE	65536
#define OUT_HIGH	(256 * 1024)	/* a stream pauses above this */
#define LINGER_USEC	1000000	/* reading after our last byte */
#define LINGER_MAX	(256 * 1024)
#define PAUSE_USEC	100000	/* accepting paused on a shortage */
#define ANSWER_MAX	(256 * 1024 * 1024)

enum cstate {
	C_HEAD,		/* waiting for (the rest of) a head */
	C_BODY,		/* reading the body */
	C_RUN,		/* the handler has it */
	C_LINGER	/* our last byte is out: reading, then close */
};

struct conn {
	struct srv		*srv;
	struct cfg		*cfg;
	struct conn		*prev, *next;
	int			 rfd, wfd;
	sd_event_source		*rsrc, *wsrc, *timer, *defer;
	enum cstate		 state;
	struct gb_buf		 in;		/* read, not consumed */
	struct gb_buf		 out;		/* to write */
	size_t			 lingered;
	int			 closing;	/* close after the answer */
	int			 closed;	/* freed on the next turn */
	int			 shut;		/* FIN sent */
	int			 stalled;	/* output waits on the client */
	struct gb_http_req	 req;
	int			 has_req;
	struct gb_http_body	 body;
	struct gb_http_frame	 frame;		/* of the answer */
	struct rq		*rq;
	uint64_t		 t0;		/* the request's first byte */
	int			 metrics_only;	/* on METRICS_LISTEN */
};

static void	conn_close(struct conn *);
static void	conn_next(struct conn *);
static void	conn_flush(struct conn *);
static void	conn_watch(struct conn *);
static struct rq *rq_new(struct conn *);

/* ---- configuration references ---- */

struct cfg *
cfg_ref(struct cfg *c)
{
	c->refs++;
	return c;
}

void
cfg_unref(struct cfg *c)
{
	if (c != NULL && --c->refs == 0) {
		gb_config_free(&c->c);
		free(c);
	}
}

/* ---- logging ---- */

static uint64_t
now_usec(const struct srv *srv)
{
	uint64_t t;

	sd_event_now(srv->ev, CLOCK_MONOTONIC, &t);
	return t;
}

static void
stamp(char *out, size_t sz)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
srv_shortage(struct srv *srv, const char *where, int e)
{
	uint64_t now = now_usec(srv);

	if (srv->last_shortage != 0 && now - srv->last_shortage < 1000000)
		return;
	srv->last_shortage = now;
	fprintf(stderr, "%sgb-serve: %s: %s (%d connections open); answering "
	    "503\n", gb_log_prio(GB_LOG_WARN), where, strerror(e), srv->nconn);
	fflush(stderr);
}

/* Replace every configured key and token in p by its masked form. */
static void
put_masked(const struct gb_config *cfg, FILE *f, const char *p, size_t n)
{
	const struct gb_strlist *lists[2] = { &cfg->api_keys,
	    &cfg->allowed_tokens };
	char m[GB_MASK_SIZE];
	const char *sec;
	size_t i, k, l, sl;
	int hit;

	for (i = 0; i < n; ) {
		hit = 0;
		for (l = 0; l < 2 && !hit; l++)
			for (k = 0; k < lists[l]->n && !hit; k++) {
				sec = lists[l]->v[k];
				sl = strlen(sec);
				if (sl > 0 && sl <= n - i &&
				    memcmp(p + i, sec, sl) == 0) {
					fputs(gb_mask(sec, m, sizeof(m)), f);
					i += sl;
					hit = 1;
				}
			}
		if (!hit && cfg->auth_token != NULL &&
		    (sl = strlen(cfg->auth_token)) > 0 && sl <= n - i &&
		    memcmp(p + i, cfg->auth_token, sl) == 0) {
			fputs(gb_mask(cfg->auth_token, m, sizeof(m)), f);
			i += sl;
			hit = 1;
		}
		if (!hit)
			fputc(p[i++] == '\n' ? ' ' : p[i - 1], f);
	}
}

void
rq_debug(const struct rq *rq, const char *label, const char *p, size_t n)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f;

	if (rq->cfg->log_level < GB_LOG_DEBUG)
		return;
	if (p == NULL)
		p = "", n = 0;
	if ((f = open_memstream(&line, &len)) == NULL)
		return;
	fprintf(f, "%sgb-serve: debug %s: ", gb_log_prio(GB_LOG_DEBUG),
	    label);
	put_masked(rq->cfg, f, p, n);
	fputc('\n', f);
	if (fclose(f) == 0)
		fwrite(line, 1, len, stderr);
	free(line);
	fflush(stderr);
}

/* The client's address, as host:port ([v6]:port), or "-". */
static void
peer(int fd, char *out, size_t sz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv,
	    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, sz, "-");
	else
		snprintf(out, sz, ss.ss_family == AF_INET6 ? "[%s]:%s" :
		    "%s:%s", host, serv);
}

static void
log_request(struct conn *c, const struct rq *rq)
{
	const struct gb_http_req *req = &c->req;
	char ts[32], client[NI_MAXHOST + NI_MAXSERV + 4];

	if (c->cfg->c.log_level < GB_LOG_INFO)
		return;
	stamp(ts, sizeof(ts));
	peer(c->rfd, client, sizeof(client));
	fprintf(stderr, "%sgb-serve: %s %s %s %d %llums model=%s key=%s "
	    "bytes=%lld client=%s id=%s%s%s%s\n", gb_log_prio(GB_LOG_INFO), ts,
	    req->method != NULL ? req->method : "-",
	    rq != NULL && rq->path[0] != '\0' ? rq->path : "-", req->status,
	    (unsigned long long)((now_usec(c->srv) - c->t0) / 1000),
	    rq != NULL && rq->model[0] != '\0' ? rq->model : "-",
	    rq != NULL && rq->key[0] != '\0' ? rq->key : "-", req->sent,
	    client, rq != NULL && rq->rid[0] != '\0' ? rq->rid : "-",
	    rq != NULL && rq->fail[0] != '\0' ? " error=\"" : "",
	    rq != NULL ? rq->fail : "",
	    rq != NULL && rq->fail[0] != '\0' ? "\"" : "");
	fflush(stderr);
}

/* ---- the answer ---- */

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

/* The request is answered: let its jobs go, log it, go on. */
static int
on_finish(sd_event_source *s, void *arg)
{
	struct conn *c = arg;
	struct rq *rq = c->rq;

	(void)s;
	sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
	if (rq == NULL || c->closed)
		return 0;
	log_request(c, rq);
	metrics_request(c->srv, rq, c->req.status, now_usec(c->srv) - c->t0);
	route_free(rq);
	free(rq);
	c->rq = NULL;
	conn_next(c);
	return 0;
}

/* No more events for the request's jobs; finish it on the next turn. */
static void
rq_done(struct rq *rq)
{
	struct conn *c = rq->conn;
	size_t i;

	rq->done = 1;
	for (i = 0; i < GB_NELEM(rq->job); i++)
		if (rq->job[i] != NULL)
			rq->job[i]->cb = NULL;
	if (c->defer == NULL)
		sd_event_add_defer(c->srv->ev, &c->defer, on_finish, c);
	sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
	conn_flush(c);
}

/* The answer's head; the connection closes after it if it must. */
static void
put_head(struct conn *c, int status, const char *ctype, const char *hdrs,
    long long clen)
{
	if (c->closing || c->srv->stopping)
		c->req.keepalive = 0;
	c->req.status = status;
	if (gb_http_format_head(&c->out, &c->req, status, ctype, hdrs, clen,
	    time(NULL), &c->frame) == -1) {
		c->closing = 1;
		c->frame.nobody = 1;
	}
	if (c->frame.close)
		c->closing = 1;
}

void
rq_reply(struct rq *rq, int status, const char *ctype, const char *extra,
    const void *body, size_t len)
{
	struct conn *c = rq->conn;
	char hdrs[2048 + 1024], cors[1024];

	if (rq->done)
		return;
	cors_headers(&c->req, cors, sizeof(cors));
	snprintf(hdrs, sizeof(hdrs), "%s%s", cors, extra != NULL ? extra : "");
	put_head(c, status, ctype, hdrs, (long long)len);
	if (gb_http_format_data(&c->out, &c->frame, body, len) == -1)
		c->closing = 1;
	else if (!c->frame.nobody)
		c->req.sent += (long long)len;
	rq_done(rq);
}

void
rq_reply_json(struct rq *rq, int status, const char *extra, json_t *j)
{
	char *txt;

	txt = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (txt == NULL) {
		rq_reply(rq, 500, "application/json", extra, "{}", 2);
		return;
	}
	rq_reply(rq, status, "application/json", extra, txt, strlen(txt));
	free(txt);
}

json_t *
rq_error_json(const struct rq *rq, int status, const char *msg,
    const char *code)
{
	switch (rq->dialect) {
	case D_GEMINI:
		return gb_gemini_error(status, msg);
	case D_ANTHROPIC:
		return gb_anthropic_error(status, msg);
	default:
		return gb_openai_error(status, msg, code);
	}
}

void
rq_error(struct rq *rq, int status, const char *msg, const char *code)
{
	rq_reply_json(rq, status, NULL, rq_error_json(rq, status, msg, code));
}

void
rq_stream_begin(struct rq *rq)
{
	struct conn *c = rq->conn;
	char hdrs[1024 + 128], cors[1024];

	cors_headers(&c->req, cors, sizeof(cors));
	snprintf(hdrs, sizeof(hdrs), "%sCache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n", cors);
	put_head(c, 200, "text/event-stream", hdrs, -1);
	if (!rq->streaming) {
		rq->streaming = 1;
		c->srv->nstreams++;
	}
	conn_flush(c);
}

void
rq_stream_data(struct rq *rq, const void *p, size_t n)
{
	struct conn *c = rq->conn;

	if (rq->done || n == 0)
		return;
	if (gb_http_format_data(&c->out, &c->frame, p, n) == -1) {
		/* the client takes nothing: it is as good as gone */
		conn_close(c);
		return;
	}
	if (!c->frame.nobody)
		c->req.sent += (long long)n;
	conn_flush(c);
}

void
rq_stream_end(struct rq *rq)
{
	struct conn *c = rq->conn;

	if (rq->done)
		return;
	if (gb_http_format_end(&c->out, &c->frame) == -1)
		c->closing = 1;
	rq_done(rq);
}

int
rq_backlogged(const struct rq *rq)
{
	return rq->conn->out.len > OUT_HIGH;
}

/* ---- reading requests ---- */

static void
arm(struct conn *c, uint64_t usec)
{
	uint64_t now = now_usec(c->srv);

	sd_event_source_set_time(c->timer, now + usec);
	sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static void
disarm(struct conn *c)
{
	sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
}

/* Answer an HTTP-level refusal, and close after it. */
static void
refuse(struct conn *c, int status)
{
	struct rq *rq;

	c->closing = 1;
	if ((rq = c->rq) == NULL && (rq = rq_new(c)) == NULL) {
		conn_close(c);
		return;
	}
	c->state = C_RUN;
	disarm(c);
	route_refuse(rq, status);
}

/* The body is in: run the handler. */
static void
run(struct conn *c)
{
	c->state = C_RUN;
	disarm(c);
	conn_watch(c);
	route_run(c->rq);
}

/* A request to answer: routing, logging and the answer need it. */
static struct rq *
rq_new(struct conn *c)
{
	unsigned char r[6];
	struct rq *rq;
	const char *q;
	size_t i;

	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return NULL;
	rq->conn = c;
	rq->srv = c->srv;
	/* an id the request's lines share: 48 random bits, in hex */
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r));
	r[0] ^= (unsigned char)++c->srv->next_rid;
	for (i = 0; i < sizeof(r); i++)
		snprintf(rq->rid + 2 * i, 3, "%02x", r[i]);
	rq->cfg = &c->cfg->c;
	rq->req = &c->req;
	rq->metrics_only = c->metrics_only;
	if (c->req.target != NULL) {
		snprintf(rq->path, sizeof(rq->path), "%.*s",
		    (int)strcspn(c->req.target, "?"), c->req.target);
		if ((q = strchr(c->req.target, '?')) != NULL)
			rq->query = q + 1;
	}
	c->rq = rq;
	return rq;
}

/* Take what the input buffer holds: a head, then a body. */
static void
consume(struct conn *c)
{
	struct rq *rq;
	size_t used;
	int n, st;

	if (c->closed)
		return;
	if (c->state == C_HEAD) {
		if (c->in.len == 0)
			return;
		if (c->has_req)
			gb_http_req_free(&c->req);
		n = gb_http_parse_head(c->in.data, c->in.len,
		    c->cfg->c.max_body, &c->req, &used, &st);
		c->has_req = 1;
		gb_buf_consume(&c->in, used);
		if (n == 0)
			return;
		if (n < 0) {
			refuse(c, st);
			return;
		}
		if ((rq = rq_new(c)) == NULL) {
			conn_close(c);
			return;
		}
		c->state = C_RUN;
		disarm(c);
		if (rq->path[0] != '/') {
			c->closing = 1;
			route_refuse(rq, 400);
			return;
		}
		if (route_request(rq) != 0) {
			/* answered at once: a body left unread ends it */
			return;
		}
		gb_http_body_init(&c->body, &c->req);
		/* before the flush: it watches for what the state needs */
		c->state = C_BODY;
		if (c->req.expect && c->in.len == 0 &&
		    (c->req.chunked || c->req.clen > 0)) {
			gb_http_format_continue(&c->out);
			conn_flush(c);
			if (c->closed)
				return;
		}
	}
	if (c->state == C_BODY) {
		n = gb_http_body_feed(&c->body, c->in.data != NULL ?
		    c->in.data : "", c->in.len, &used, &c->req.body, &st);
		gb_buf_consume(&c->in, used);
		if (n < 0) {
			c->closing = 1;
			c->state = C_RUN;
			route_refuse(c->rq, st);
			return;
		}
		if (n > 0) {
			c->req.body_read = 1;
			run(c);
		} else
			arm(c, (uint64_t)c->srv->idle_s * 1000000);
	}
}

static int
on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct conn *c = arg;

	(void)s;
	(void)usec;
	if (c->closed)
		return 0;
	switch (c->state) {
	case C_HEAD:
		if (c->in.len == 0) {
			conn_close(c);	/* idle: nothing to answer */
			return 0;
		}
		refuse(c, 408);
		break;
	case C_BODY:
		refuse(c, 408);
		break;
	case C_RUN:
		/* the answer waited the idle time on a client not reading */
		if (c->rq != NULL && c->rq->fail[0] == '\0')
			snprintf(c->rq->fail, sizeof(c->rq->fail),
			    "client stopped reading");
		conn_close(c);
		break;
	default:
		conn_close(c);
		break;
	}
	return 0;
}

static int
on_read(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct conn *c = arg;
	size_t want;
	ssize_t r;

	(void)s;
	if ((ev & EPOLLOUT) != 0 && c->wsrc == NULL) {
		conn_flush(c);
		if (c->closed || (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
		    EPOLLERR)) == 0)
			return 0;
	}
	if (c->closed)
		return 0;
	if (c->state == C_RUN) {
		/* only a hang-up is asked for while a request runs */
		if ((ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
			conn_close(c);
		return 0;
	}
	want = c->in.cap - c->in.len;
	if (want > READSIZE)
		want = READSIZE;
	if (c->state == C_LINGER)
		want = READSIZE;
	if (want == 0 || gb_buf_reserve(&c->in, want) == -1) {
		if (c->state == C_HEAD)
			refuse(c, 431);
		else
			conn_close(c);
		return 0;
	}
	do
		r = read(fd, c->in.data + c->in.len, want);
	while (r == -1 && errno == EINTR);
	if (r == -1 && errno == EAGAIN)
		return 0;
	if (r <= 0) {
		conn_close(c);
		return 0;
	}
	if (c->state == C_LINGER) {
		metrics_bytes(c->srv, (uint64_t)r, 0);
		c->lingered += (size_t)r;
		if (c->lingered > LINGER_MAX)
			conn_close(c);
		return 0;
	}
	if (c->state == C_HEAD && c->in.len == 0) {
		c->t0 = now_usec(c->srv);
		arm(c, (uint64_t)c->srv->head_s * 1000000);
	}
	c->in.len += (size_t)r;
	metrics_bytes(c->srv, (uint64_t)r, 0);
	consume(c);
	return 0;
}

/* Write what the output buffer holds. */
static void
conn_flush(struct conn *c)
{
	ssize_t w;
	int wrote = 0;

	if (c->closed)
		return;
	while (c->out.len > 0) {
		do
			w = send(c->wfd, c->out.data, c->out.len,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w == -1 && errno == EINTR);
		if (w == -1 && errno == ENOTSOCK)
			w = write(c->wfd, c->out.data, c->out.len);
		if (w == -1 && errno == EAGAIN)
			break;
		if (w <= 0) {
			conn_close(c);
			return;
		}
		gb_buf_consume(&c->out, (size_t)w);
		metrics_bytes(c->srv, 0, (uint64_t)w);
		wrote = 1;
	}
	/*
	 * A client that stops reading an answer is given the idle time
	 * to take more, then it is as good as gone.
	 */
	if (c->state == C_RUN) {
		if (c->out.len > 0 && (!c->stalled || wrote)) {
			c->stalled = 1;
			arm(c, (uint64_t)c->srv->idle_s * 1000000);
		} else if (c->out.len == 0 && c->stalled) {
			c->stalled = 0;
			disarm(c);
		}
	}
	if (c->state == C_LINGER && c->out.len == 0 && !c->shut) {
		shutdown(c->wfd, SHUT_WR);
		c->shut = 1;
	}
	if (c->out.len <= OUT_HIGH / 2 && c->rq != NULL && !c->rq->done)
		route_drained(c->rq);
	conn_watch(c);
}

static int
on_write(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct conn *c = arg;

	(void)s;
	(void)fd;
	if (c->closed)
		return 0;
	if ((ev & (EPOLLERR | EPOLLHUP)) != 0 && c->out.len > 0) {
		conn_close(c);
		return 0;
	}
	conn_flush(c);
	return 0;
}

/* Watch for what the state needs. */
static void
conn_watch(struct conn *c)
{
	uint32_t rev, wev = c->out.len > 0 ? EPOLLOUT : 0;

	if (c->closed)
		return;
	switch (c->state) {
	case C_RUN:
		rev = EPOLLRDHUP;
		break;
	default:
		rev = EPOLLIN | EPOLLRDHUP;
		break;
	}
	if (c->wsrc == NULL) {
		sd_event_source_set_io_events(c->rsrc, rev | wev);
		return;
	}
	sd_event_source_set_io_events(c->rsrc, rev);
	sd_event_source_set_io_events(c->wsrc, wev);
	sd_event_source_set_enabled(c->wsrc, wev != 0 ? SD_EVENT_ON :
	    SD_EVENT_OFF);
}

/* After an answer: the next request, or a lingering close. */
static void
conn_next(struct conn *c)
{
	if (c->closed)
		return;
	if (c->has_req) {
		gb_http_req_free(&c->req);
		c->has_req = 0;
	}
	memset(&c->req, 0, sizeof(c->req));
	memset(&c->frame, 0, sizeof(c->frame));
	c->stalled = 0;
	if (c->closing || c->srv->stopping) {
		/*
		 * Closing a socket with unread input sends a reset, which
		 * may overtake the answer still in flight: send FIN when the
		 * answer is out, and read what the client still sends for a
		 * short while.
		 */
		c->state = C_LINGER;
		if (c->out.len == 0 && !c->shut) {
			shutdown(c->wfd, SHUT_WR);
			c->shut = 1;
		}
		arm(c, LINGER_USEC);
		conn_watch(c);
		return;
	}
	c->state = C_HEAD;
	if (c->in.len > 0) {
		c->t0 = now_usec(c->srv);
		arm(c, (uint64_t)c->srv->head_s * 1000000);
	} else
		arm(c, (uint64_t)c->srv->idle_s * 1000000);
	conn_watch(c);
	consume(c);
}

/* Free what closed connections hold, out of every callback. */
static int
on_reap(sd_event_source *s, void *arg)
{
	struct srv *srv = arg;
	struct conn *c;

	(void)s;
	sd_event_source_set_enabled(srv->reaper, SD_EVENT_OFF);
	while ((c = srv->dead) != NULL) {
		srv->dead = c->next;
		if (c->rq != NULL) {
			log_request(c, c->rq);
			metrics_request(srv, c->rq, c->req.status,
			    now_usec(srv) - c->t0);
			route_free(c->rq);
			free(c->rq);
		}
		if (c->has_req)
			gb_http_req_free(&c->req);
		gb_buf_free(&c->in);
		gb_buf_free(&c->out);
		cfg_unref(c->cfg);
		free(c);
	}
	sd_notifyf(0, "STATUS=%s; %d connection%s", srv->stopping ?
	    "stopping" : "serving", srv->nconn, srv->nconn == 1 ? "" : "s");
	srv_maybe_exit(srv);
	return 0;
}

void
srv_maybe_exit(struct srv *srv)
{
	if ((srv->stopping || srv->single) && srv->nconn == 0 &&
	    srv->nproc == 0 && srv->dead == NULL)
		sd_event_exit(srv->ev, 0);
}

/*
 * Close the connection now: its descriptors and sources go at once, a
 * request still running stops getting its jobs' events; the memory goes
 * on the next turn of the loop, since callers up the stack may still
 * look at it (c->closed tells them).
 */
static void
conn_close(struct conn *c)
{
	struct srv *srv = c->srv;
	size_t i;

	if (c->closed)
		return;
	c->closed = 1;
	if (c->rq != NULL && !c->rq->done) {
		c->req.status = 499;	/* client closed request */
		if (c->rq->fail[0] == '\0')
			snprintf(c->rq->fail, sizeof(c->rq->fail),
			    "client went away");
		c->rq->done = 1;
		for (i = 0; i < GB_NELEM(c->rq->job); i++)
			if (c->rq->job[i] != NULL)
				c->rq->job[i]->cb = NULL;
	}
	c->rsrc = sd_event_source_disable_unref(c->rsrc);
	c->wsrc = sd_event_source_disable_unref(c->wsrc);
	c->timer = sd_event_source_disable_unref(c->timer);
	c->defer = sd_event_source_disable_unref(c->defer);
	if (c->wfd != c->rfd)
		close(c->wfd);
	close(c->rfd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = srv->dead;
	srv->dead = c;
	srv->nconn--;
	if (srv->reaper == NULL)
		sd_event_add_defer(srv->ev, &srv->reaper, on_reap, srv);
	sd_event_source_set_enabled(srv->reaper, SD_EVENT_ONESHOT);
}

/* Serve a connection on rfd/wfd (the same socket, or inetd's pair). */
int
conn_serve_fd(struct srv *srv, int rfd, int wfd)
{
	struct conn *c;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->srv = srv;
	c->cfg = cfg_ref(srv->cfg);
	c->rfd = rfd;
	c->wfd = wfd;
	gb_buf_init(&c->in, GB_HTTP_HEAD_MAX + READSIZE);
	gb_buf_init(&c->out, ANSWER_MAX + 65536);
	gb_io_nonblock(rfd);
	gb_io_nonblock(wfd);
	setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sd_event_add_io(srv->ev, &c->rsrc, rfd, EPOLLIN | EPOLLRDHUP,
	    on_read, c) < 0 ||
	    (wfd != rfd && sd_event_add_io(srv->ev, &c->wsrc, wfd, 0,
	    on_write, c) < 0) ||
	    sd_event_add_time(srv->ev, &c->timer, CLOCK_MONOTONIC, 0, 0,
	    on_timer, c) < 0) {
		sd_event_source_disable_unref(c->rsrc);
		sd_event_source_disable_unref(c->wsrc);
		sd_event_source_disable_unref(c->timer);
		cfg_unref(c->cfg);
		gb_buf_free(&c->in);
		gb_buf_free(&c->out);
		free(c);
		return -1;
	}
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconn++;
	c->state = C_HEAD;
	/*
	 * A new connection has the header time, not the idle time, to
	 * send its first request: silent sockets must not fill the cap.
	 */
	arm(c, (uint64_t)(srv->head_s < srv->idle_s ? srv->head_s :
	    srv->idle_s) * 1000000);
	return 0;
}

void
conn_free_all(struct srv *srv)
{
	while (srv->conns != NULL)
		conn_close(srv->conns);
	on_reap(NULL, srv);
	srv->reaper = sd_event_source_disable_unref(srv->reaper);
	srv->lsrc = sd_event_source_disable_unref(srv->lsrc);
	srv->lretry = sd_event_source_disable_unref(srv->lretry);
	srv->mlsrc = sd_event_source_disable_unref(srv->mlsrc);
	if (srv->mlfd >= 0)
		close(srv->mlfd);
	srv->mlfd = -1;
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->spare >= 0)
		close(srv->spare);
	srv->lfd = srv->spare = -1;
}

void
conn_stop_idle(struct srv *srv)
{
	struct conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == C_HEAD && c->in.len == 0)
			conn_close(c);
	}
}

/* ---- accepting ---- */

/*
 * Over the connection cap, or out of descriptors: a short 503 with
 * Retry-After, best effort, and close. The request already received is
 * read off first (without waiting, at most 64 KiB): closing a socket
 * with unread input sends a reset, which the client may see instead of
 * the answer's clean end.
 */
static void
busy(int fd)
{
	static const char body[] = "{\"error\":{\"message\":"
	    "\"server busy, try again\",\"type\":\"server_error\","
	    "\"param\":null,\"code\":null}}";
	char junk[4096], msg[512];
	size_t drained = 0;
	ssize_t got, w;
	int n;

	n = snprintf(msg, sizeof(msg), "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Retry-After: 1\r\nAccess-Control-Allow-Origin: *\r\n"
	    "Connection: close\r\n\r\n%s", sizeof(body) - 1, body);
	w = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)w;
	shutdown(fd, SHUT_WR);
	while (drained < 65536 &&
	    (got = recv(fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		drained += (size_t)got;
	close(fd);
}

static int
on_resume(sd_event_source *s, uint64_t usec, void *arg)
{
	struct srv *srv = arg;

	(void)s;
	(void)usec;
	if (srv->spare < 0)
		srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (srv->lsrc != NULL && !srv->stopping)
		sd_event_source_set_enabled(srv->lsrc, SD_EVENT_ON);
	return 0;
}

/* Out of descriptors: answer one waiting client 503, pause accepting. */
static void
shortage(struct srv *srv, int e)
{
	int fd;

	srv_shortage(srv, "accept", e);
	if (srv->spare >= 0) {
		close(srv->spare);
		srv->spare = -1;
		if ((fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			busy(fd);
	}
	sd_event_source_set_enabled(srv->lsrc, SD_EVENT_OFF);
	if (srv->lretry == NULL)
		sd_event_add_time_relative(srv->ev, &srv->lretry,
		    CLOCK_MONOTONIC, PAUSE_USEC, 1000, on_resume, srv);
	else {
		sd_event_source_set_time_relative(srv->lretry, PAUSE_USEC);
		sd_event_source_set_enabled(srv->lretry, SD_EVENT_ONESHOT);
	}
}

static int
on_accept(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct srv *srv = arg;
	int i, cfd;

	(void)s;
	(void)ev;
	for (i = 0; i < ACCEPT_BURST; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				shortage(srv, errno);
			break;
		}
		if (srv->nconn >= srv->maxconn || srv->stopping) {
			busy(cfd);
			continue;
		}
		if (conn_serve_fd(srv, cfd, cfd) == -1) {
			srv_shortage(srv, "connection", errno);
			busy(cfd);
		} else if (fd == srv->mlfd)
			srv->conns->metrics_only = 1;
	}
	sd_notifyf(0, "STATUS=serving; %d connection%s", srv->nconn,
	    srv->nconn == 1 ? "" : "s");
	return 0;
}

int
conn_listen(struct srv *srv, int lfd)
{
	gb_io_nonblock(lfd);
	fcntl(lfd, F_SETFD, FD_CLOEXEC);
	srv->lfd = lfd;
	srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return sd_event_add_io(srv->ev, &srv->lsrc, lfd, EPOLLIN, on_accept,
	    srv) < 0 ? -1 : 0;
}

int
conn_listen_metrics(struct srv *srv, int fd)
{
	gb_io_nonblock(fd);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	srv->mlfd = fd;
	return sd_event_add_io(srv->ev, &srv->mlsrc, fd, EPOLLIN, on_accept,
	    srv) < 0 ? -1 : 0;
}
