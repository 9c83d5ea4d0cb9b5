/*
 * upstream.c - the one module that talks to Google.
 *
 * A gb_upstream is one libcurl multi handle on an sd-event loop: libcurl
 * names the sockets it wants watched and the timeout it wants
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION), they become io and
 * time sources of the loop, and whatever fires is handed back with
 * curl_multi_socket_action. Finished transfers are reaped after each
 * such turn. Every call on it shares its connection cache.
 *
 * A call (gb_upcall) is a small state machine. Its one time source,
 * "step", starts the next attempt (at once, or after the backoff), and
 * runs from the loop whatever a sink asked for from inside a libcurl
 * callback (a resume, a cancel), where libcurl may not be re-entered.
 * An attempt is one transfer with one key. What to do with the body is
 * decided when its first byte arrives, from the HTTP status
 * (CURLINFO_RESPONSE_CODE is known by then):
 *
 *   2xx, streaming  the answer is committed: sink->head, then every piece
 *                   straight to sink->body as libcurl hands it over; a
 *                   generate stream only from its first content
 *                   (answer.h), held until then (capped), so that one
 *                   that ends empty is retried
 *   2xx, otherwise  collected (capped) so that a transfer that breaks
 *                   half-way can still be retried; committed at the end
 *                   if it is JSON, or as soon as it outgrows the buffer.
 *                   A complete body that is not JSON (a proxy's HTML
 *                   page, a truncated answer), or an empty generate
 *                   answer, is no answer: the attempt fails like a 5xx
 *                   and the next key is tried
 *   anything else   collected (capped at GB_UPSTREAM_ERRBODY_MAX) and
 *                   classified when complete: ErrorInfo.reason tells a bad
 *                   key from a bad request, RetryInfo.retryDelay says how
 *                   long a 429'd key rests
 *
 * Once committed an attempt is never retried, so bytes from two attempts
 * never mix. When an attempt ends, the key's outcome is recorded in
 * gb-keys state and the call either ends -- with upstream's answer or a
 * synthesised Gemini-style error -- or goes on with the next key.
 *
 * Each attempt goes through its key's egress proxy, if any (proxy.h).
 *
 * libcurl sends a request again by itself when a reused connection dies
 * before any of the answer came; that would make one key use two
 * upstream calls. A pre-request callback counts the sends of each
 * attempt and refuses a second: the attempt fails like any lost
 * connection and the policy retries it, counted, on the next key.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/epoll.h>

#include <curl/curl.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "answer.h"
#include "buf.h"
#include "gemini.h"
#include "keyhist.h"
#include "keys.h"
#include "mask.h"
#include "metrics.h"
#include "proxy.h"
#include "upstream.h"

#define BACKOFF_STEP_MS	100	/* backoff before retry n: n * step ... */
#define BACKOFF_MAX_MS	1000	/* ... capped here */
#define DELAY_MAX	(7L * 86400)	/* longest retry delay believed */
#define ACCURACY_USEC	1000	/* timers: sd-event's default is 250 ms */
#define EPOLL_BATCH	256	/* socket events handled per turn */

/* A socket libcurl asked to have watched: an io source of the loop. */
struct sock {
	struct gb_upstream	*u;
	curl_socket_t		 fd;
	struct sock		*prev, *next;
};

struct gb_upstream {
	const struct gb_config	*cfg;
	sd_event		*loop;
	CURLM			*multi;
	CURLSH			*tls;		/* TLS sessions, its own */
	sd_event_source		*timer;		/* libcurl's timeout */
	int			 ep;		/* epoll of libcurl's sockets */
	sd_event_source		*epsrc;		/* ep, on the loop */
	struct sock		*socks;
	struct gb_upcall	*calls;		/* not done yet */
	int			 depth;		/* inside libcurl: its callbacks
						   may be on the stack */
	struct gb_metrics	*metrics;	/* shared counters, or NULL */
	struct gb_keyhist	*hist;		/* keys' history, or NULL */
};

/* One attempt's result. */
struct attempt {
	enum gb_upstream_class class;
	int	 status;		/* HTTP status, 0 if none arrived */
	long	 retry_after;		/* 429: seconds asked for, or -1 */
	int	 timed_out;		/* the attempt ran out of time */
	int	 committed;		/* sink->head was called */
	int	 notjson;		/* a 2xx whose body is not JSON */
	int	 gone;			/* the caller went away */
	int	 daily;			/* 429 of a per-day quota */
	int	 proxy;			/* the proxy failed, not upstream */
	int	 empty;			/* a 2xx without content */
	char	 reason[64];		/* ErrorInfo.reason, or "" */
	char	 msg[256];		/* what went wrong, for messages */
};

struct gb_upcall {
	struct gb_upstream	*u;
	struct gb_upcall	*prev, *next;
	struct gb_keys		*ks;
	struct gb_upcall_sink	 sink;
	struct gb_upstream_head	 head;	/* what the sink is told */
	struct gb_err		 err;	/* why done reports non-zero */
	sd_event_source		*step;	/* next attempt, or sink wishes */
	int			 post;	/* sends a body (POST, PATCH) */
	char			 method[8];
	int			 upload;	/* below the upload root */
	char			*pin;	/* the one key's state id, or NULL */
	char			*xhdrs;	/* extra header lines, or NULL */
	int			 stream;
	int			 judge;	/* generate: empty answers retried */
	int			 over;	/* done is being called */

	/* the policy */
	size_t			*tried;	/* keys used, max of them */
	size_t			 ntried;
	long			 max;
	double			 deadline;	/* monotonic seconds */
	time_t			 retry_at;	/* a cooling key's return */
	int			 nokey;		/* gb_keys_next found none */
	char			 model[GB_KEYS_MODEL_MAX + 1]; /* of the path,
						   keys cool for it alone */
	size_t			 idx;		/* key of the attempt */
	struct attempt		 a;		/* the last attempt's */

	/* the transfer, one easy handle for all attempts */
	CURL			*h;
	char			*url;
	const char		*path;		/* in url: below BASE_URL */
	struct curl_slist	*hdrs;		/* with the key */
	const char		*proxy;		/* of the attempt (in cfg), or
						   NULL */
	char			 via[GB_PROXY_SHOWN + 8]; /* " via <proxy>",
						   masked, or "" */
	char			 errbuf[CURL_ERROR_SIZE];
	int			 active;	/* h is in the multi handle */
	long			 status;
	int			 decided;	/* status looked at */
	int			 ok;		/* status is 2xx */
	int			 committed;
	int			 gone;		/* the sink refused data */
	int			 timed_out;
	int			 too_big;
	int			 sends;		/* pre-request callbacks */
	double			 stall;		/* TIMEOUT, seconds */
	double			 last;		/* last body byte */
	long			 hdr_retry;	/* Retry-After header */
	struct gb_buf		 buf;
	struct gb_answer_scan	 scan;		/* a held stream's events */

	/* what the sink asked for */
	int			 paused;	/* no body bytes for now */
	int			 held;		/* libcurl holds it paused */
	int			 cancelled;
};

static void	next(struct gb_upcall *);
static void	attempt_end(struct gb_upcall *, CURLcode);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CLOCK_MONOTONIC in microseconds, as sd-event counts. */
static uint64_t
usec_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
say(const struct gb_upcall *c, enum gb_upstream_loglevel l,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->sink.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->sink.log(c->sink.arg, l, msg);
}

/* --- libcurl on the loop ---------------------------------------------- */

static void
sock_free(struct sock *s)
{
	struct gb_upstream *u = s->u;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		u->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	/* libcurl may have closed it already: then epoll forgot it too */
	epoll_ctl(u->ep, EPOLL_CTL_DEL, s->fd, NULL);
	free(s);
}

/*
 * The calls whose transfers libcurl has finished: each attempt ends
 * (which may end the call, or start the next attempt).
 */
static void
reap(struct gb_upstream *u)
{
	CURLMsg *m;
	CURLcode rc;
	char *p;
	int left;

	while ((m = curl_multi_info_read(u->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		p = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
		if (p != NULL)
			attempt_end((struct gb_upcall *)(void *)p, rc);
	}
}

/*
 * libcurl gave up on its multi handle (it cannot go on without the
 * sources it asked for): every running attempt fails, so that no call
 * waits for a transfer nobody drives.
 */
static void
fail_active(struct gb_upstream *u, CURLMcode mc)
{
	struct gb_upcall *c;

	for (;;) {
		for (c = u->calls; c != NULL && !c->active; c = c->next)
			;
		if (c == NULL)
			return;
		snprintf(c->errbuf, sizeof(c->errbuf), "libcurl: %s",
		    curl_multi_strerror(mc));
		attempt_end(c, CURLE_OUT_OF_MEMORY);
	}
}

/* Hand an event (or the timeout) to libcurl, then reap what finished. */
static void
drive(struct gb_upstream *u, curl_socket_t fd, int flags)
{
	CURLMcode mc;
	int running;

	u->depth++;
	mc = curl_multi_socket_action(u->multi, fd, flags, &running);
	u->depth--;
	reap(u);
	if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET)
		fail_active(u, mc);
}

/*
 * libcurl's sockets are in an epoll of their own, one source of the
 * loop: sd-event dispatches one source a turn and polls every ready
 * descriptor again before each, so thousands of upstream sockets ready
 * at once would cost each other; here one turn serves them all.
 */
static int
on_io(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct gb_upstream *u = arg;
	struct epoll_event ev[EPOLL_BATCH];
	int flags, i, n;

	(void)src;
	(void)revents;
	do
		n = epoll_wait(fd, ev, EPOLL_BATCH, 0);
	while (n == -1 && errno == EINTR);
	for (i = 0; i < n; i++) {
		flags = 0;
		if (ev[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (ev[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (ev[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		drive(u, ev[i].data.fd, flags);
	}
	return 0;
}

static int
on_timer(sd_event_source *src, uint64_t usec, void *arg)
{
	(void)src;
	(void)usec;
	drive(arg, CURL_SOCKET_TIMEOUT, 0);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl waits for. */
static int
on_socket(CURL *h, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct gb_upstream *u = arg;
	struct sock *s = sockp;
	struct epoll_event e;

	(void)h;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_free(s);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	if (what & CURL_POLL_IN)
		e.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		e.events |= EPOLLOUT;
	e.data.fd = fd;
	if (s != NULL)
		return epoll_ctl(u->ep, EPOLL_CTL_MOD, fd, &e);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	if (epoll_ctl(u->ep, EPOLL_CTL_ADD, fd, &e) == -1) {
		free(s);
		return -1;
	}
	s->u = u;
	s->fd = fd;
	s->next = u->socks;
	if (s->next != NULL)
		s->next->prev = s;
	u->socks = s;
	curl_multi_assign(u->multi, fd, s);
	return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: call back in ms milliseconds (-1: never). 0,
 * "at once", is a time already past: with now as the earliest time, the
 * loop would coalesce it into its ACCURACY_USEC window, and libcurl asks
 * for 0 several times a transfer (about a millisecond a call, measured).
 */
static int
on_curl_timer(CURLM *m, long ms, void *arg)
{
	struct gb_upstream *u = arg;

	(void)m;
	if (ms < 0)
		return sd_event_source_set_enabled(u->timer,
		    SD_EVENT_OFF) < 0 ? -1 : 0;
	if (sd_event_source_set_time(u->timer,
	    ms == 0 ? 0 : usec_now() + (uint64_t)ms * 1000) < 0 ||
	    sd_event_source_set_enabled(u->timer, SD_EVENT_ONESHOT) < 0)
		return -1;
	return 0;
}

static void
upstream_drop(struct gb_upstream *u)
{
	gb_metrics_close(u->metrics);
	gb_keyhist_close(u->hist);
	if (u->multi != NULL)
		curl_multi_cleanup(u->multi);
	while (u->socks != NULL)
		sock_free(u->socks);
	sd_event_source_disable_unref(u->epsrc);
	if (u->ep >= 0)
		close(u->ep);
	if (u->tls != NULL)
		curl_share_cleanup(u->tls);
	sd_event_source_disable_unref(u->timer);
	sd_event_unref(u->loop);
	free(u);
	curl_global_cleanup();
}

struct gb_upstream *
gb_upstream_new(const struct gb_config *cfg, sd_event *ev,
    struct gb_err *err)
{
	struct gb_upstream *u;
	struct gb_err e;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		gb_err_set(err, GB_EXIT_TEMP, 0,
		    "unable to initialise libcurl");
		return NULL;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		curl_global_cleanup();
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	u->cfg = cfg;
	u->loop = sd_event_ref(ev);
	/* counting is best effort: without its files, nothing is counted */
	u->metrics = gb_metrics_open(cfg->state_dir, &e);
	u->hist = gb_keyhist_open(cfg->state_dir, cfg->api_keys.n, &e);
	if ((u->ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    sd_event_add_io(u->loop, &u->epsrc, u->ep, EPOLLIN, on_io, u) < 0)
		goto fail;
	if (sd_event_add_time(u->loop, &u->timer, CLOCK_MONOTONIC, 0,
	    ACCURACY_USEC, on_timer, u) < 0 ||
	    sd_event_source_set_enabled(u->timer, SD_EVENT_OFF) < 0)
		goto fail;
	if ((u->multi = curl_multi_init()) == NULL)
		goto fail;
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	/*
	 * Idle connections kept for the next call (libcurl's default, 4
	 * per handle added, closed most of them between bursts of calls)
	 */
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS,
	    (long)GB_UPSTREAM_KEEP);
	/* TLS sessions resumed across calls */
	if ((u->tls = curl_share_init()) == NULL)
		goto fail;
	curl_share_setopt(u->tls, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return u;

fail:
	upstream_drop(u);
	gb_err_set(err, GB_EXIT_TEMP, 0, "unable to set up the upstream "
	    "client");
	return NULL;
}

/* --- classification --------------------------------------------------- */

/*
 * RetryInfo.retryDelay is a protobuf Duration in JSON: "37s", "0.5s",
 * "1.250s". Whole seconds, a fraction rounds up. -1 if malformed.
 */
static long
parse_delay(const char *s)
{
	long v = 0;
	int frac = 0, digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if (v < DELAY_MAX)
			v = v * 10 + (*s - '0');
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, digits++)
			if (*s != '0')
				frac = 1;
	if (*s == 's')
		s++;
	if (digits == 0 || *s != '\0')
		return -1;
	v += frac;
	return v > DELAY_MAX ? DELAY_MAX : v;
}

enum gb_upstream_class
gb_upstream_classify(int status, const char *body, size_t len, long *delay,
    char *reason, size_t reasonsz)
{
	json_t *root = NULL, *e, *d;
	const char *r, *rd;
	size_t i;
	enum gb_upstream_class c;

	*delay = -1;
	if (reasonsz > 0)
		reason[0] = '\0';
	if (status >= 200 && status < 300)
		return GB_UP_OK;
	if (body != NULL && len > 0)
		root = json_loadb(body, len, 0, NULL);
	/* Google sometimes wraps the error in an array */
	e = json_is_array(root) ? json_array_get(root, 0) : root;
	e = json_object_get(e, "error");
	json_array_foreach(json_object_get(e, "details"), i, d) {
		r = json_string_value(json_object_get(d, "reason"));
		if (r != NULL && reasonsz > 0 && reason[0] == '\0')
			snprintf(reason, reasonsz, "%s", r);
		rd = json_string_value(json_object_get(d, "retryDelay"));
		if (rd != NULL && *delay < 0)
			*delay = parse_delay(rd);
	}
	json_decref(root);

	if (status == 400)
		c = reasonsz > 0 && strcmp(reason, "API_KEY_INVALID") == 0 ?
		    GB_UP_KEY : GB_UP_FINAL;
	else if (status == 401 || status == 403)
		c = GB_UP_KEY;
	else if (status == 429)
		c = GB_UP_COOL;
	else if (status >= 500)
		c = GB_UP_RETRY;
	else
		c = GB_UP_FINAL;
	return c;
}

/*
 * Does a 429 body name a per-day quota? Google's QuotaFailure detail
 * lists the quotas that ran out; a quotaId with "PerDay" in it
 * (GenerateRequestsPerDayPerProjectPerModel-FreeTier) resets at
 * midnight Pacific time, whatever RetryInfo says.
 */
static int
quota_daily(const char *body, size_t len)
{
	json_t *root, *e, *d, *v;
	const char *id;
	size_t i, j;
	int daily = 0;

	if (body == NULL || len == 0 ||
	    (root = json_loadb(body, len, 0, NULL)) == NULL)
		return 0;
	e = json_is_array(root) ? json_array_get(root, 0) : root;
	e = json_object_get(e, "error");
	json_array_foreach(json_object_get(e, "details"), i, d)
		json_array_foreach(json_object_get(d, "violations"), j, v) {
			id = json_string_value(json_object_get(v, "quotaId"));
			if (id != NULL && strstr(id, "PerDay") != NULL)
				daily = 1;
		}
	json_decref(root);
	return daily;
}

/*
 * The model a path is about, "models/M:action" or "models/M", or "".
 * Quotas are per key and model: a key out of one model's quota still
 * serves the others.
 */
static void
path_model(const char *path, char *out, size_t outsz)
{
	size_t len;

	out[0] = '\0';
	if (strncmp(path, "models/", 7) != 0)
		return;
	path += 7;
	len = strcspn(path, ":/?");
	if (len > 0 && len < outsz) {
		memcpy(out, path, len);
		out[len] = '\0';
	}
}

/* libcurl errors no other key or retry can fix. */
static int
fatal_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return 1;
	default:
		return 0;
	}
}

/*
 * Did the attempt fail at its proxy rather than upstream: the proxy's
 * name not resolved, no connection to it, its SOCKS or CONNECT
 * handshake refused? Not the key's fault, and another attempt (another
 * key, perhaps another proxy) may get through.
 */
static int
proxy_fault(struct gb_upcall *c, CURLcode rc)
{
	long code = 0;

	if (rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_PROXY)
		return 1;
	if (c->proxy == NULL)
		return 0;
	/* with a proxy, the connection made is the one to the proxy */
	if (rc == CURLE_COULDNT_CONNECT)
		return 1;
	curl_easy_getinfo(c->h, CURLINFO_HTTP_CONNECTCODE, &code);
	return code >= 300;
}

/*
 * A proxy's user and password out of msg (libcurl's messages name the
 * proxy's host, but a message must never show its credentials).
 */
static void
scrub(char *msg, const char *proxy)
{
	const char *cred;
	char *hit;
	size_t n;

	/* shorter credentials than "***" are left as they are */
	if (proxy == NULL || (cred = gb_proxy_credentials(proxy, &n)) == NULL ||
	    n < 3)
		return;
	while ((hit = memmem(msg, strlen(msg), cred, n)) != NULL) {
		memcpy(hit, "***", 3);
		memmove(hit + 3, hit + n, strlen(hit + n) + 1);
	}
}

/* The attempt's egress proxy (gb-call(1): PROXIES, PROXY). */
static void
pick_proxy(struct gb_upcall *c, const char *key)
{
	const struct gb_config *cfg = c->u->cfg;
	unsigned long r = 0;
	char shown[GB_PROXY_SHOWN];

	if (cfg->proxies.n > 1 && !cfg->proxies_hash &&
	    gb_random(&r, sizeof(r)) == -1)
		r = (unsigned long)c->head.attempts;
	c->proxy = gb_proxy_pick(cfg, key, r);
	if (c->proxy == NULL)
		c->via[0] = '\0';
	else
		snprintf(c->via, sizeof(c->via), " via %s",
		    gb_proxy_show(c->proxy, shown, sizeof(shown)));
}

/* Wipe the key header's bytes before libcurl frees them. */
static void
free_headers(struct curl_slist *l)
{
	struct curl_slist *t;

	for (t = l; t != NULL; t = t->next)
		explicit_bzero(t->data, strlen(t->data));
	curl_slist_free_all(l);
}

/* --- one transfer ------------------------------------------------------ */

/* Run the step source at usec (0: as soon as the loop gets to it). */
static void
arm(struct gb_upcall *c, uint64_t usec)
{
	/* cannot fail on a time source of a loop that still runs */
	(void)sd_event_source_set_time(c->step, usec);
	(void)sd_event_source_set_enabled(c->step, SD_EVENT_ONESHOT);
}

/* The status is in: decide how this attempt's body is handled. */
static void
decide(struct gb_upcall *c)
{
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
	c->decided = 1;
	c->ok = c->status >= 200 && c->status < 300;
	gb_buf_free(&c->buf);
	gb_buf_init(&c->buf, c->ok ? GB_UPSTREAM_BUFFER_MAX :
	    GB_UPSTREAM_ERRBODY_MAX);
	gb_answer_scan_free(&c->scan);
	gb_answer_scan_init(&c->scan, GB_UPSTREAM_HOLD_MAX);
}

/*
 * This attempt is the answer: status to the sink, then what is buffered.
 * -1 when the caller went away meanwhile.
 */
static int
commit(struct gb_upcall *c)
{
	c->committed = 1;
	c->head.status = (int)c->status;
	c->head.retry_after = -1;
	c->sink.head(c->sink.arg, &c->head);
	if (c->cancelled)
		return -1;
	if (c->buf.len > 0 &&
	    c->sink.body(c->sink.arg, c->buf.data, c->buf.len) == -1) {
		c->gone = 1;
		return -1;
	}
	gb_buf_reset(&c->buf);
	return c->cancelled ? -1 : 0;
}

/*
 * A generate stream before its first content: held, so that a stream
 * that ends without any can still go to another key. Committed at its
 * first event with content, or when more than GB_UPSTREAM_HOLD_MAX is
 * held (then it cannot be judged in bounded memory, and is passed on).
 */
static size_t
hold(struct gb_upcall *c, const char *p, size_t len)
{
	if (gb_buf_append(&c->buf, p, len) == -1 ||
	    gb_answer_scan_feed(&c->scan, p, len) != 0 ||
	    c->buf.len > GB_UPSTREAM_HOLD_MAX) {
		/* the piece is in the buffer: commit passes it on */
		if (commit(c) == -1)
			return CURL_WRITEFUNC_ERROR;
	}
	return c->cancelled ? CURL_WRITEFUNC_ERROR : len;
}

/*
 * CURLOPT_WRITEFUNCTION. While the sink wants a pause, a piece is handed
 * back (CURL_WRITEFUNC_PAUSE): libcurl keeps it and stops reading until
 * the transfer is unpaused, then offers it again.
 */
static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct gb_upcall *c = arg;
	size_t len = size * n;

	if (c->cancelled)
		return CURL_WRITEFUNC_ERROR;
	c->last = now();
	if (!c->decided)
		decide(c);
	if (!c->committed && c->ok && c->stream) {
		if (c->judge)
			return hold(c, p, len);
		if (commit(c) == -1)
			return CURL_WRITEFUNC_ERROR;
	}
	if (!c->committed) {
		if (gb_buf_append(&c->buf, p, len) == 0)
			return len;
		/* a 2xx outgrew the buffer: from here on, pass it on */
		if (!c->ok) {
			c->too_big = 1;
			return CURL_WRITEFUNC_ERROR;
		}
		if (commit(c) == -1)
			return CURL_WRITEFUNC_ERROR;
	}
	if (c->paused) {
		c->held = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (c->sink.body(c->sink.arg, p, len) == -1) {
		c->gone = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	return c->cancelled ? CURL_WRITEFUNC_ERROR : len;
}

/*
 * An X-Goog-Upload-* header of the answer (the resumable upload
 * protocol: its URL, status, granularity) is kept for the sink as one
 * "Name: value\n" line; what does not fit is dropped.
 */
static void
keep_header(struct gb_upcall *c, const char *p, size_t len)
{
	size_t have = strlen(c->head.hdrs);

	while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (have + len + 2 > sizeof(c->head.hdrs) || memchr(p, '\0', len))
		return;
	memcpy(c->head.hdrs + have, p, len);
	c->head.hdrs[have + len] = '\n';
	c->head.hdrs[have + len + 1] = '\0';
}

/*
 * Retry-After (a fallback for RetryInfo), and the upload protocol's
 * headers.
 */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct gb_upcall *c = arg;
	size_t len = size * n, i;
	char v[32];

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		c->hdr_retry = -1;
		c->head.hdrs[0] = '\0';
	} else if (len > 14 && strncasecmp(p, "x-goog-upload-", 14) == 0)
		keep_header(c, p, len);
	else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
		for (i = 12; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		snprintf(v, sizeof(v), "%.*s", (int)(len - i), p + i);
		v[strcspn(v, "\r\n \t")] = '\0';
		c->hdr_retry = parse_delay(v);
	}
	return len;
}

/*
 * Called often during a transfer and about once a second while the
 * upstream is silent (LOW_SPEED_LIMIT keeps libcurl's timer ticking):
 * enforce the deadline until the answer is committed (afterwards a
 * stream may run long, but not stay silent for TIMEOUT seconds:
 * LOW_SPEED alone averages over a window and lets a stall run about 6 s
 * longer). A stream the sink paused is not silent.
 */
static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct gb_upcall *c = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	if (c->cancelled)
		return 1;
	if (!c->committed && now() >= c->deadline) {
		c->timed_out = 1;
		return 1;
	}
	if (c->committed && !c->paused && !c->held && c->stall > 0 &&
	    now() - c->last >= c->stall) {
		c->timed_out = 1;
		return 1;
	}
	return 0;
}

/*
 * CURLOPT_PREREQFUNCTION: the request is about to be sent. A second
 * time in one attempt is libcurl re-sending it on a fresh connection
 * after a reused one died before the answer: refused, the attempt fails.
 */
static int
on_prereq(void *arg, char *ip, char *local, int port, int lport)
{
	struct gb_upcall *c = arg;

	(void)ip, (void)local, (void)port, (void)lport;
	return ++c->sends > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

/* Take the transfer out of the multi handle (aborting it if running). */
static void
xfer_stop(struct gb_upcall *c)
{
	if (c->active)
		curl_multi_remove_handle(c->u->multi, c->h);
	c->active = 0;
	c->held = 0;
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	free_headers(c->hdrs);
	c->hdrs = NULL;
}

/*
 * What stays the same for every attempt of the call. -1 with err set on
 * local trouble.
 */
static int
xfer_setup(struct gb_upcall *c, const struct gb_upstream_req *req,
    struct gb_err *err)
{
	const struct gb_config *cfg = c->u->cfg;
	const char *path = req->path, *ca;
	CURL *h;

	const char *ver;
	int n;

	while (*path == '/')
		path++;
	/* "upload/REST": BASE_URL is ROOT/VERSION, the upload is at
	   ROOT/upload/VERSION/REST (Google's resumable uploads) */
	ver = strrchr(cfg->base_url, '/');
	c->upload = strncmp(path, "upload/", 7) == 0 && ver != NULL;
	if ((h = c->h = curl_easy_init()) == NULL || (c->upload ?
	    (n = asprintf(&c->url, "%.*s/upload%s/%s",
	    (int)(ver - cfg->base_url), cfg->base_url, ver, path + 7)) :
	    (n = asprintf(&c->url, "%s/%s", cfg->base_url, path))) == -1) {
		c->url = NULL;
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	}
	c->path = c->url + (size_t)n - strlen(path);
	c->judge = gb_answer_judged(c->path);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)(void *)c);
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "gemini-balance/" GB_VERSION);
	if (c->post) {
		/* not copied: the caller keeps the body until done */
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->bodylen);
	} else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (strcmp(c->method, "PATCH") == 0 || strcmp(c->method, "DELETE") ==
	    0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
	/* a stream that stays silent for TIMEOUT seconds has stalled */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, cfg->timeout);
	c->stall = (double)cfg->timeout;
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	/*
	 * A private CA (a TLS-inspecting proxy, a test upstream): libcurl
	 * as Debian builds it reads no variable for this itself.
	 */
	if ((ca = getenv("CURL_CA_BUNDLE")) != NULL && *ca != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_SHARE, c->u->tls);
	return 0;
}

/* Append the caller's header lines ("Name: value\n"...) to c->hdrs. */
static int
add_lines(struct gb_upcall *c, const char *p)
{
	struct curl_slist *t;
	char line[GB_UPSTREAM_HDRS_MAX];
	size_t n;

	for (; *p != '\0'; p += n + (p[n] == '\n')) {
		n = strcspn(p, "\n");
		if (n == 0 || n >= sizeof(line))
			continue;
		memcpy(line, p, n);
		line[n] = '\0';
		if ((t = curl_slist_append(c->hdrs, line)) == NULL)
			return -1;
		c->hdrs = t;
	}
	return 0;
}

/* Start an attempt with key. -1 with c->err set on local trouble. */
static int
xfer_start(struct gb_upcall *c, const char *key)
{
	struct curl_slist *t;
	char *kh = NULL;
	double left;
	long cms, tms;

	c->status = 0;
	c->decided = c->ok = c->gone = c->timed_out = c->too_big = 0;
	c->sends = 0;
	c->hdr_retry = -1;
	c->held = 0;
	gb_buf_free(&c->buf);
	gb_buf_init(&c->buf, 0);

	if (asprintf(&kh, "x-goog-api-key: %s", key) == -1) {
		kh = NULL;
		goto nomem;
	}
	if ((t = curl_slist_append(c->hdrs, kh)) == NULL)
		goto nomem;
	c->hdrs = t;
	if (c->post && (c->xhdrs == NULL ||
	    strcasestr(c->xhdrs, "content-type:") == NULL)) {
		if ((t = curl_slist_append(c->hdrs,
		    "Content-Type: application/json")) == NULL)
			goto nomem;
		c->hdrs = t;
	}
	if (c->xhdrs != NULL && add_lines(c, c->xhdrs) == -1)
		goto nomem;
	/* no "Expect: 100-continue" round trip before a large body */
	if ((t = curl_slist_append(c->hdrs, "Expect:")) == NULL)
		goto nomem;
	c->hdrs = t;
	explicit_bzero(kh, strlen(kh));
	free(kh);
	kh = NULL;

	left = c->deadline - now();
	if (left < 0.001)
		left = 0.001;
	cms = (long)(left * 1000) + 1;
	tms = c->stream ? 0 : cms;
	if (cms > GB_UPSTREAM_CONNECT_MAX * 1000L)
		cms = GB_UPSTREAM_CONNECT_MAX * 1000L;

	c->errbuf[0] = '\0';
	/* NULL: libcurl's own proxy variables apply */
	curl_easy_setopt(c->h, CURLOPT_PROXY, c->proxy);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, cms);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, tms);
	c->last = now();
	if (curl_multi_add_handle(c->u->multi, c->h) != CURLM_OK) {
		xfer_stop(c);
		return gb_err_set(&c->err, GB_EXIT_TEMP, 0,
		    "unable to start an upstream transfer");
	}
	c->active = 1;
	return 0;

nomem:
	if (kh != NULL) {
		explicit_bzero(kh, strlen(kh));
		free(kh);
	}
	xfer_stop(c);
	return gb_err_set(&c->err, GB_EXIT_TEMP, 0, "out of memory");
}

/* --- the answer -------------------------------------------------------- */

/*
 * The final answer, when it is not an upstream one being passed on.
 * -1 when the caller went away.
 */
static int
deliver(struct gb_upcall *c, const char *body, size_t len)
{
	c->sink.head(c->sink.arg, &c->head);
	if (c->cancelled)
		return -1;
	if (len > 0 && c->sink.body(c->sink.arg, body, len) == -1) {
		c->gone = 1;
		return -1;
	}
	return c->cancelled ? -1 : 0;
}

/* A synthesised Gemini-style error as the final answer. */
static int
deliver_error(struct gb_upcall *c, int status, const char *msg)
{
	json_t *e;
	char *txt;
	int rc;

	c->head.status = status;
	if ((e = gb_gemini_error(status, msg)) == NULL ||
	    (txt = json_dumps(e, JSON_COMPACT)) == NULL) {
		json_decref(e);
		return deliver(c, NULL, 0);
	}
	json_decref(e);
	rc = deliver(c, txt, strlen(txt));
	free(txt);
	return rc;
}

/* Everything the call holds, without a word to the sink. */
static void
call_free(struct gb_upcall *c)
{
	struct gb_upstream *u = c->u;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (u->calls == c)
		u->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->h != NULL) {
		xfer_stop(c);
		curl_easy_cleanup(c->h);
	}
	sd_event_source_disable_unref(c->step);
	gb_buf_free(&c->buf);
	gb_answer_scan_free(&c->scan);
	free(c->tried);
	free(c->url);
	free(c->pin);
	free(c->xhdrs);
	free(c);
}

/*
 * The call is over: code is GB_EXIT_OK, or -1 with c->err saying why.
 * done is the last the sink hears; the call is freed right after.
 */
static void
finish(struct gb_upcall *c, int code)
{
	int rc = code == GB_EXIT_OK ? GB_EXIT_OK : c->err.code;

	if (rc == GB_EXIT_OK)
		gb_err_clear(&c->err);
	c->over = 1;
	if (c->active)
		xfer_stop(c);
	c->sink.done(c->sink.arg, rc, &c->err);
	call_free(c);
}

/* --- key state --------------------------------------------------------- */

/* What the key state has to tell the operator (the shared state's
 * server gone or back), said once. */
static void
keys_notice(struct gb_upcall *c)
{
	const char *n = gb_keys_notice(c->ks);

	if (n != NULL && gb_keys_shared(c->ks))
		say(c, GB_UP_LOG_WARN, "%s", n);
}

static void
record(struct gb_upcall *c, enum gb_key_outcome o, long secs, int status,
    const char *reason)
{
	struct gb_err e;

	gb_err_clear(&e);
	if (gb_keys_record(c->ks, c->idx, o, secs, status,
	    reason != NULL && *reason != '\0' ? reason : NULL, &e) == -1)
		say(c, GB_UP_LOG_WARN, "unable to record the key's outcome: %s",
		    e.msg);
	keys_notice(c);
}

static void
cool(struct gb_upcall *c, long secs, int status, const char *reason)
{
	struct gb_err e;

	gb_err_clear(&e);
	if (gb_keys_cool(c->ks, c->idx, c->model[0] != '\0' ? c->model :
	    NULL, time(NULL) + secs, status, reason != NULL &&
	    *reason != '\0' ? reason : NULL, &e) == -1)
		say(c, GB_UP_LOG_WARN, "unable to record the key's outcome: %s",
		    e.msg);
	keys_notice(c);
}

/*
 * After a final 429: seconds until some key is usable again for this
 * call's model according to the shared state (1 if one is usable now),
 * or -1 if unknown.
 */
static long
earliest_recovery(struct gb_upcall *c)
{
	const struct gb_key_info *ki;
	const struct gb_key_cool *kc;
	struct gb_err e;
	time_t t = time(NULL), best = 0, back;
	size_t i, j, nc;

	if (gb_keys_load(c->ks, &e) == -1)
		return -1;
	for (i = 0; i < gb_keys_count(c->ks); i++) {
		ki = gb_keys_info(c->ks, i);
		if (ki->invalid)
			continue;
		back = ki->until;
		kc = gb_keys_cools(c->ks, i, &nc);
		for (j = 0; j < nc; j++)
			if (strcmp(kc[j].model, c->model) == 0 &&
			    kc[j].until > back)
				back = kc[j].until;
		if (back <= t)
			return 1;
		if (best == 0 || back < best)
			best = back;
	}
	if (best == 0)
		return -1;
	return best > t ? (long)(best - t) : 1;
}

/*
 * A success resets the key's failure count. When the state read by our
 * own gb_keys_next shows nothing to reset, skip the rewrite (and its
 * fsync): that is most requests, and the write costs more than the rest
 * of gb-call's own work.
 */
static void
record_ok(struct gb_upcall *c)
{
	const struct gb_key_info *ki = gb_keys_info(c->ks, c->idx);

	if (ki != NULL && ki->consec == 0 && !ki->invalid)
		return;
	record(c, GB_KEY_OK, 0, 0, NULL);
}

static long
seconds_until(time_t t)
{
	time_t n = time(NULL);

	return t > n ? (long)(t - n) : 1;
}

/* --- the policy -------------------------------------------------------- */

/* Out of attempts, time or keys: the last outcome is the answer. */
static void
give_up(struct gb_upcall *c)
{
	struct attempt *a = &c->a;
	int n = c->head.attempts;

	if (c->ntried == 0) {
		if (c->retry_at > 0) {
			c->head.retry_after = seconds_until(c->retry_at);
			gb_err_set(&c->err, GB_EXIT_NO, 429,
			    "every API key is cooling down (next in %ld s)",
			    c->head.retry_after);
			if (deliver_error(c, 429, "every API key is cooling "
			    "down; retry later") == -1)
				gb_err_set(&c->err, GB_EXIT_TEMP, 0,
				    "the caller went away");
		} else {
			gb_err_set(&c->err, GB_EXIT_NO, 503,
			    "no usable API key");
			if (deliver_error(c, 503, "no usable API key") == -1)
				gb_err_set(&c->err, GB_EXIT_TEMP, 0,
				    "the caller went away");
		}
		finish(c, -1);
		return;
	}
	if (a->status != 0 && !a->notjson && !a->empty) {
		/* the last upstream answer, passed on unchanged */
		c->head.status = a->status;
		if (a->status == 429 && c->pin != NULL)
			c->head.retry_after = a->retry_after >= 0 ?
			    a->retry_after : c->u->cfg->key_cooldown;
		else if (a->status == 429) {
			c->head.retry_after = c->nokey && c->retry_at > 0 ?
			    seconds_until(c->retry_at) :
			    earliest_recovery(c);
			if (c->head.retry_after < 0)
				c->head.retry_after = a->retry_after >= 0 ?
				    a->retry_after : c->u->cfg->key_cooldown;
		}
		gb_err_set(&c->err, a->status >= 500 ? GB_EXIT_TEMP :
		    GB_EXIT_NO, a->status, "giving up after %d attempt%s: %s",
		    n, n == 1 ? "" : "s", a->msg);
		if (deliver(c, c->buf.data, c->buf.len) == -1)
			gb_err_set(&c->err, GB_EXIT_TEMP, 0,
			    "the caller went away");
		finish(c, -1);
		return;
	}
	/*
	 * no answer to pass on: a 2xx that was not JSON or empty, or none
	 * at all
	 */
	gb_err_set(&c->err, GB_EXIT_TEMP, a->timed_out ? 504 : 502,
	    "giving up after %d attempt%s: %s", n, n == 1 ? "" : "s", a->msg);
	if (deliver_error(c, a->timed_out ? 504 : 502, a->timed_out ?
	    "upstream timed out" : a->notjson ? "upstream answer is not JSON" :
	    a->empty ? "upstream answer is empty (no content)" :
	    a->proxy ? "upstream unreachable: the proxy failed" :
	    "upstream unreachable") == -1)
		gb_err_set(&c->err, GB_EXIT_TEMP, 0, "the caller went away");
	finish(c, -1);
}

/* What the ended transfer comes to, in c->a. */
static void
judge(struct gb_upcall *c, CURLcode rc)
{
	struct attempt *a = &c->a;
	json_t *doc = NULL;

	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
	if (!c->decided) {
		if (rc == CURLE_OK)
			decide(c);
		else
			curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE,
			    &c->status);
	}
	a->status = (int)c->status;
	a->committed = c->committed;
	a->gone = c->gone || c->cancelled;
	if (a->gone) {
		a->class = GB_UP_FATAL;
		snprintf(a->msg, sizeof(a->msg), "the caller went away");
	} else if (rc == CURLE_OK) {
		if (c->committed)
			a->class = GB_UP_OK;
		else
			a->class = gb_upstream_classify(a->status,
			    c->buf.data, c->buf.len, &a->retry_after,
			    a->reason, sizeof(a->reason));
		if (a->class == GB_UP_COOL && a->retry_after < 0)
			a->retry_after = c->hdr_retry;
		if (a->class == GB_UP_COOL)
			a->daily = quota_daily(c->buf.data, c->buf.len);
		/*
		 * not -s: a 2xx is checked before it is passed on (its body
		 * parsed once for both checks). Gemini answers with a JSON
		 * object, or an array (streamGenerateContent without
		 * alt=sse); anything else is some proxy's page or a body cut
		 * short.
		 */
		if (a->class == GB_UP_OK && !c->committed && !c->stream &&
		    (!c->upload || c->judge) && c->buf.data != NULL &&
		    c->buf.len > 0)
			doc = json_loadb(c->buf.data, c->buf.len, 0, NULL);
		if (a->class == GB_UP_OK && !c->committed && !c->stream &&
		    !c->upload && doc == NULL) {
			a->class = GB_UP_RETRY;
			a->notjson = 1;
			snprintf(a->reason, sizeof(a->reason), "not JSON");
			snprintf(a->msg, sizeof(a->msg), "HTTP %d, not JSON",
			    a->status);
		} else if (a->class == GB_UP_OK && !c->committed && c->judge &&
		    (c->stream || !gb_answer_doc_content(doc))) {
			/* a held stream that ended, or a whole answer: empty */
			a->class = GB_UP_RETRY;
			a->empty = 1;
			snprintf(a->reason, sizeof(a->reason), "empty answer");
			snprintf(a->msg, sizeof(a->msg), "HTTP %d, %s",
			    a->status, c->stream ? "stream ended before any "
			    "content" : "empty answer (no content)");
		} else
			snprintf(a->msg, sizeof(a->msg), "HTTP %d%s%s",
			    a->status, a->reason[0] != '\0' ? " " : "",
			    a->reason);
		json_decref(doc);
	} else {
		/* no complete answer: whatever status came is worthless */
		if (!c->committed)
			a->status = 0;
		a->class = GB_UP_RETRY;
		if (rc == CURLE_OPERATION_TIMEDOUT || c->timed_out) {
			a->timed_out = 1;
			snprintf(a->msg, sizeof(a->msg), "timed out");
		} else if (c->too_big)
			snprintf(a->msg, sizeof(a->msg),
			    "answer larger than %d bytes",
			    c->ok ? GB_UPSTREAM_BUFFER_MAX :
			    GB_UPSTREAM_ERRBODY_MAX);
		else if (c->sends > 1)
			snprintf(a->msg, sizeof(a->msg), "connection lost "
			    "before an answer (not sent again)");
		else if (proxy_fault(c, rc)) {
			a->proxy = 1;
			snprintf(a->msg, sizeof(a->msg), "proxy failed: %.*s",
			    (int)sizeof(a->msg) - 16, c->errbuf[0] != '\0' ? c->errbuf :
			    curl_easy_strerror(rc));
		} else {
			if (fatal_curl(rc))
				a->class = GB_UP_FATAL;
			snprintf(a->msg, sizeof(a->msg), "%s",
			    c->errbuf[0] != '\0' ? c->errbuf :
			    curl_easy_strerror(rc));
		}
		scrub(a->msg, c->proxy);
	}
}

/*
 * Count the attempt that ended (c->a) in the shared counters and in its
 * key's history: the one place every attempt's outcome passes.
 */
static void
tally(struct gb_upcall *c, int gone_ok)
{
	const struct attempt *a = &c->a;
	enum gb_metrics_outcome o;

	if (a->gone)
		o = gone_ok ? GB_OUT_OK : GB_OUT_CANCELLED;
	else if (a->committed || a->class == GB_UP_OK)
		o = a->class == GB_UP_OK ? GB_OUT_OK : GB_OUT_NETWORK;
	else if (a->class == GB_UP_KEY)
		o = GB_OUT_INVALID_KEY;
	else if (a->class == GB_UP_COOL)
		o = GB_OUT_429;
	else if (a->empty)
		o = GB_OUT_EMPTY;
	else if (a->notjson)
		o = GB_OUT_NOT_JSON;
	else if (a->status >= 500)
		o = GB_OUT_5XX;
	else if (a->status == 0)
		o = GB_OUT_NETWORK;
	else
		o = GB_OUT_4XX;
	gb_metrics_attempt(c->u->metrics, o);
	gb_keyhist_add(c->u->hist, c->idx, gb_keys_id(c->ks, c->idx),
	    o != GB_OUT_OK && o != GB_OUT_4XX && o != GB_OUT_429 &&
	    o != GB_OUT_CANCELLED, o == GB_OUT_429, time(NULL));
}

/*
 * An attempt ended (libcurl finished it, or it was stopped): record the
 * key's outcome, then end the call or go on with the next key.
 */
static void
attempt_end(struct gb_upcall *c, CURLcode rc)
{
	struct attempt *a = &c->a;
	long secs, ms, left;
	int n = c->head.attempts;

	judge(c, rc);
	xfer_stop(c);
	tally(c, c->ok);
	if (a->gone) {
		/* not the key's fault; a 2xx still proves the key */
		if (c->ok)
			record_ok(c);
		gb_err_set(&c->err, GB_EXIT_TEMP, 0, "the caller went away");
		finish(c, -1);
		return;
	}
	if (a->committed || a->class == GB_UP_OK) {
		record_ok(c);
		if (!a->committed && commit(c) == -1) {
			gb_err_set(&c->err, GB_EXIT_TEMP, 0,
			    "the caller went away");
			finish(c, -1);
		} else if (a->class != GB_UP_OK) {
			gb_err_set(&c->err, GB_EXIT_TEMP, 0,
			    "upstream answer broke off: %s", a->msg);
			finish(c, -1);
		} else
			finish(c, GB_EXIT_OK);
		return;
	}
	/*
	 * A pinned call names a resource of its key: Google answers 403 or
	 * 404 when it is gone (or was never there), which is the answer,
	 * and no fault of the key.
	 */
	if (c->pin != NULL && a->class == GB_UP_KEY && a->status == 403)
		a->class = GB_UP_FINAL;
	switch (a->class) {
	case GB_UP_FATAL:
		say(c, GB_UP_LOG_ERROR, "attempt %d with key %s%s: %s", n,
		    c->head.key, c->via, a->msg);
		gb_err_set(&c->err, GB_EXIT_TEMP, 0,
		    "upstream request failed: %s", a->msg);
		c->head.retry_after = -1;
		if (deliver_error(c, 502, c->err.msg) == -1)
			gb_err_set(&c->err, GB_EXIT_TEMP, 0,
			    "the caller went away");
		finish(c, -1);
		return;
	case GB_UP_FINAL:
		gb_err_set(&c->err, GB_EXIT_NO, a->status,
		    "upstream answered %s", a->msg);
		c->head.status = a->status;
		if (deliver(c, c->buf.data, c->buf.len) == -1)
			gb_err_set(&c->err, GB_EXIT_TEMP, 0,
			    "the caller went away");
		finish(c, -1);
		return;
	case GB_UP_KEY:
		record(c, GB_KEY_FAIL, 0, a->status, a->reason);
		say(c, GB_UP_LOG_WARN, "attempt %d with key %s: %s, "
		    "key failure recorded", n, c->head.key, a->msg);
		break;
	case GB_UP_COOL:
		/*
		 * Never a failure: a per-day quota rests until Google's
		 * day ends, else the delay asked for, else KEY_COOLDOWN;
		 * for the model alone when the path names one.
		 */
		if (a->daily)
			secs = seconds_until(gb_keys_day_end(time(NULL)));
		else
			secs = a->retry_after > 0 ? a->retry_after :
			    c->u->cfg->key_cooldown;
		cool(c, secs, a->status, a->reason);
		say(c, GB_UP_LOG_WARN, "attempt %d with key %s: %s, key "
		    "cools down%s%s for %ld s%s", n, c->head.key, a->msg,
		    c->model[0] != '\0' ? " for " : "", c->model, secs,
		    a->daily ? " (a per-day quota: until midnight Pacific "
		    "time)" : "");
		break;
	default:
		/* remembered as the last error, not held against it */
		record(c, GB_KEY_NOTE, 0, a->status, a->status != 0 ?
		    a->reason : a->timed_out ? "timeout" : a->proxy ?
		    "proxy error" : "network error");
		say(c, GB_UP_LOG_WARN, "attempt %d with key %s%s: %s", n,
		    c->head.key, c->via, a->msg);
		break;
	}

	if (c->cancelled) {
		/* cancelled from the log callback: no other key */
		gb_err_set(&c->err, GB_EXIT_TEMP, 0, "the caller went away");
		finish(c, -1);
		return;
	}
	/* a pinned call tries its one key again only after a 5xx */
	if (n >= c->max || now() >= c->deadline ||
	    (c->pin != NULL && a->class != GB_UP_RETRY)) {
		give_up(c);
		return;
	}
	/* after a 5xx, a 2xx not JSON or a network failure, a pause */
	if (a->class == GB_UP_RETRY) {
		ms = (long)n * BACKOFF_STEP_MS;
		if (ms > BACKOFF_MAX_MS)
			ms = BACKOFF_MAX_MS;
		left = (long)((c->deadline - now()) * 1000);
		if (ms > left)
			ms = left;
		if (ms > 0) {
			arm(c, usec_now() + (uint64_t)ms * 1000);
			return;
		}
	}
	next(c);
}

/*
 * The key of a pinned call: its index, or -1 once the call has been
 * answered 403 (the key is not configured, or is invalid: no other key
 * can reach the resource, so none is tried).
 */
static int
pinned_key(struct gb_upcall *c)
{
	const struct gb_key_info *ki;
	struct gb_err e;
	const char *why = NULL;
	size_t idx;

	if (gb_keys_by_id(c->ks, c->pin, &idx) == -1)
		why = "is no longer configured";
	else if (gb_keys_read(c->ks, idx, &e) == 0 &&
	    (ki = gb_keys_info(c->ks, idx)) != NULL &&
	    gb_keys_state(ki, time(NULL)) == GB_KEY_INVALID)
		why = "is invalid (gb-keys reset revives it)";
	if (why == NULL)
		return (int)idx;
	gb_err_set(&c->err, GB_EXIT_NO, 403, "the API key that owns this "
	    "resource (id %s) %s", c->pin, why);
	if (deliver_error(c, 403, c->err.msg) == -1)
		gb_err_set(&c->err, GB_EXIT_TEMP, 0, "the caller went away");
	finish(c, -1);
	return -1;
}

/* The next attempt, on a key this call has not tried yet. */
static void
next(struct gb_upcall *c)
{
	struct gb_err kerr;
	const char *key;
	int idx;

	gb_err_clear(&kerr);
	c->retry_at = 0;
	if (c->pin != NULL) {
		if ((idx = pinned_key(c)) == -1)
			return;		/* answered: c is gone */
		keys_notice(c);
	} else {
		idx = gb_keys_next_for(c->ks, c->model[0] != '\0' ? c->model :
		    NULL, c->tried, c->ntried, &c->retry_at, &kerr);
		keys_notice(c);
	}
	if (idx == -1) {
		if (kerr.code != GB_EXIT_NO) {
			gb_err_set(&c->err, GB_EXIT_TEMP, 0, "%s", kerr.msg);
			if (deliver_error(c, 500, "key state unavailable") ==
			    -1)
				gb_err_set(&c->err, GB_EXIT_TEMP, 0,
				    "the caller went away");
			finish(c, -1);
			return;
		}
		c->nokey = 1;
		give_up(c);
		return;
	}
	c->idx = (size_t)idx;
	c->tried[c->ntried++] = c->idx;
	key = gb_keys_key(c->ks, c->idx);
	gb_mask(key, c->head.key, sizeof(c->head.key));
	snprintf(c->head.key_id, sizeof(c->head.key_id), "%s",
	    gb_keys_id(c->ks, c->idx));
	c->head.attempts++;
	if (c->head.attempts > 1)
		gb_metrics_retry(c->u->metrics);
	pick_proxy(c, key);
	say(c, GB_UP_LOG_DEBUG, "attempt %d of %ld: %s %s with key %s%s",
	    c->head.attempts, c->max, c->method, c->path, c->head.key,
	    c->via);
	if (c->cancelled)
		return;		/* by the log callback: on_step ends it */
	if (xfer_start(c, key) == -1) {
		/* local trouble: nothing went upstream */
		if (deliver_error(c, 500, c->err.msg) == -1)
			gb_err_set(&c->err, GB_EXIT_TEMP, 0,
			    "the caller went away");
		finish(c, -1);
	}
}

/*
 * The step source: the first attempt, the next one after a backoff, and
 * what the sink asked for that could not be done at once (libcurl was on
 * the stack): end a cancelled call, unpause a resumed transfer.
 */
static int
on_step(sd_event_source *src, uint64_t usec, void *arg)
{
	struct gb_upcall *c = arg;
	struct gb_upstream *u = c->u;
	CURLcode rc;

	(void)src;
	(void)usec;
	if (c->cancelled) {
		if (c->active) {
			xfer_stop(c);
			memset(&c->a, 0, sizeof(c->a));
			c->a.gone = 1;
			tally(c, c->decided && c->ok);
		}
		/* not the key's fault; a 2xx still proves the key */
		if (c->decided && c->ok)
			record_ok(c);
		gb_err_set(&c->err, GB_EXIT_TEMP, 0, "the caller went away");
		finish(c, -1);
		return 0;
	}
	if (!c->active) {
		next(c);
		return 0;
	}
	if (c->held && !c->paused) {
		/* libcurl hands over what it held (the sink may pause again) */
		c->held = 0;
		c->last = now();
		u->depth++;
		rc = curl_easy_pause(c->h, CURLPAUSE_CONT);
		u->depth--;
		if (rc != CURLE_OK)
			attempt_end(c, rc);
		else
			reap(u);
	}
	return 0;
}

/* --- the interface ----------------------------------------------------- */

int
gb_upstream_header_ok(const char *l)
{
	const char *colon = strchr(l, ':'), *p;
	size_t n;

	if (colon == NULL)
		return 0;
	n = (size_t)(colon - l);
	if (!(n == 12 && strncasecmp(l, "Content-Type", 12) == 0) &&
	    !(n > 14 && strncasecmp(l, "X-Goog-Upload-", 14) == 0))
		return 0;
	for (p = l; p < colon; p++)
		if (!(*p == '-' || (*p >= '0' && *p <= '9') ||
		    (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return 0;
	for (p = colon + 1; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return strlen(l) < GB_UPSTREAM_HDRS_MAX / 2;
}

struct gb_upcall *
gb_upcall_start(struct gb_upstream *u, struct gb_keys *ks,
    const struct gb_upstream_req *req, const struct gb_upcall_sink *sink,
    struct gb_err *err)
{
	struct gb_upcall *c;
	long max = u->cfg->max_retries;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	c->u = u;
	c->ks = ks;
	c->sink = *sink;
	snprintf(c->method, sizeof(c->method), "%s", req->method);
	c->post = strcmp(req->method, "POST") == 0 ||
	    strcmp(req->method, "PATCH") == 0;
	c->stream = req->stream;
	path_model(req->path, c->model, sizeof(c->model));
	c->max = max;
	c->deadline = now() + (double)u->cfg->timeout;
	c->head.retry_after = -1;
	gb_buf_init(&c->buf, 0);
	gb_err_clear(&c->err);
	if ((req->pin != NULL && (c->pin = strdup(req->pin)) == NULL) ||
	    (req->hdrs != NULL && (c->xhdrs = strdup(req->hdrs)) == NULL)) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		goto fail;
	}
	if ((c->tried = calloc(max > 0 ? (size_t)max : 1,
	    sizeof(*c->tried))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		goto fail;
	}
	if (xfer_setup(c, req, err) == -1)
		goto fail;
	/* the first attempt starts from the loop */
	if (sd_event_add_time(u->loop, &c->step, CLOCK_MONOTONIC, 0,
	    ACCURACY_USEC, on_step, c) < 0) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "unable to add a timer");
		goto fail;
	}
	c->next = u->calls;
	if (c->next != NULL)
		c->next->prev = c;
	u->calls = c;
	return c;

fail:
	call_free(c);
	return NULL;
}

void
gb_upcall_pause(struct gb_upcall *c)
{
	if (c->paused || c->over)
		return;
	c->paused = 1;
	/*
	 * From the loop, stop libcurl now; from inside it, on_body hands
	 * the next piece back instead.
	 */
	if (c->active && c->committed && !c->held && c->u->depth == 0 &&
	    curl_easy_pause(c->h, CURLPAUSE_RECV) == CURLE_OK)
		c->held = 1;
}

void
gb_upcall_resume(struct gb_upcall *c)
{
	if (!c->paused || c->over)
		return;
	c->paused = 0;
	c->last = now();
	/* unpausing delivers what libcurl held: from the loop, not here */
	if (c->held)
		arm(c, 0);
}

void
gb_upcall_cancel(struct gb_upcall *c)
{
	if (c->cancelled || c->over)
		return;
	c->cancelled = 1;
	/* libcurl forbids removing a handle from inside its callbacks */
	if (c->active && c->u->depth == 0)
		xfer_stop(c);
	arm(c, 0);
}

void
gb_upstream_free(struct gb_upstream *u)
{
	if (u == NULL)
		return;
	while (u->calls != NULL)
		call_free(u->calls);
	upstream_drop(u);
}
