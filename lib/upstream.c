/*
 * upstream.c - the one module that talks to Google.
 *
 * An attempt is one libcurl transfer with one key. What to do with the
 * body is decided when its first byte arrives, from the HTTP status
 * (CURLINFO_RESPONSE_CODE is known by then):
 *
 *   2xx, streaming  the answer is committed: sink->head, then every piece
 *                   straight to sink->body as libcurl hands it over
 *   2xx, otherwise  collected (capped) so that a transfer that breaks
 *                   half-way can still be retried; committed at the end,
 *                   or as soon as it outgrows the buffer
 *   anything else   collected (capped at GB_UPSTREAM_ERRBODY_MAX) and
 *                   classified when complete: ErrorInfo.reason tells a bad
 *                   key from a bad request, RetryInfo.retryDelay says how
 *                   long a 429'd key rests
 *
 * Once committed an attempt is never retried, so bytes from two attempts
 * never mix. The retry loop (gb_upstream_call) takes keys from gb-keys
 * state, records each key's outcome, and hands the final answer -- the
 * upstream's own, or a synthesised Gemini-style error -- to the sink.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "gemini.h"
#include "keys.h"
#include "mask.h"
#include "upstream.h"

#define BACKOFF_STEP_MS	100	/* backoff before retry n: n * step ... */
#define BACKOFF_MAX_MS	1000	/* ... capped here */
#define DELAY_MAX	(7L * 86400)	/* longest retry delay believed */

struct gb_upstream {
	CURL			*h;
	const struct gb_config	*cfg;
	char			 errbuf[CURL_ERROR_SIZE];
};

/* One attempt's result. */
struct gb_upstream_attempt {
	enum gb_upstream_class class;
	int	 status;		/* HTTP status, 0 if none arrived */
	long	 retry_after;		/* 429: seconds asked for, or -1 */
	int	 timed_out;		/* the attempt ran out of time */
	int	 committed;		/* sink->head was called */
	int	 gone;			/* the sink refused data */
	char	 reason[64];		/* ErrorInfo.reason, or "" */
	char	 msg[256];		/* what went wrong, for messages */
};

/* One attempt in flight: the userdata of every libcurl callback. */
struct xfer {
	struct gb_upstream		*u;
	const struct gb_upstream_sink	*sink;
	struct gb_upstream_head		*head;	/* what a commit reports */
	int				 stream;
	long				 status;
	int				 decided;	/* status looked at */
	int				 ok;		/* status is 2xx */
	int				 committed;
	int				 gone;		/* sink refused data */
	int				 timed_out;
	int				 too_big;
	double				 deadline;	/* monotonic seconds */
	double				 stall;		/* TIMEOUT, seconds */
	double				 last;		/* last body byte */
	long				 hdr_retry;	/* Retry-After header */
	struct gb_buf			 buf;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
say(const struct gb_upstream_sink *s, enum gb_upstream_loglevel l,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s == NULL || s->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log(s->arg, l, msg);
}

/*
 * One connection cache (and DNS cache, TLS sessions) for every handle of
 * the process, once gb_upstream_share() has made it: the threads of a
 * gb-call host then reuse each other's upstream connections.
 */
static CURLSH *share;
static pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];

static void
share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg)
{
	(void)h;
	(void)a;
	(void)arg;
	pthread_mutex_lock(&share_mu[d]);
}

static void
share_unlock(CURL *h, curl_lock_data d, void *arg)
{
	(void)h;
	(void)arg;
	pthread_mutex_unlock(&share_mu[d]);
}

int
gb_upstream_share(struct gb_err *err)
{
	int i;

	if (share != NULL)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (share = curl_share_init()) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0,
		    "unable to initialise libcurl");
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_mu[i], NULL);
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return 0;
}

struct gb_upstream *
gb_upstream_new(const struct gb_config *cfg, struct gb_err *err)
{
	struct gb_upstream *u;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		gb_err_set(err, GB_EXIT_TEMP, 0,
		    "unable to initialise libcurl");
		return NULL;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->h = curl_easy_init()) == NULL) {
		free(u);
		curl_global_cleanup();
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	if (share != NULL) {
		curl_easy_setopt(u->h, CURLOPT_SHARE, share);
		/*
		 * The shared cache keeps at most this many idle
		 * connections (libcurl's default, 5, closed most of them
		 * at 32 calls at once: 0.78 new connections per request)
		 */
		curl_easy_setopt(u->h, CURLOPT_MAXCONNECTS,
		    (long)GB_UPSTREAM_KEEP);
	}
	u->cfg = cfg;
	return u;
}

void
gb_upstream_free(struct gb_upstream *u)
{
	if (u == NULL)
		return;
	curl_easy_cleanup(u->h);
	free(u);
	curl_global_cleanup();
}

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

/* The status is in: decide how this attempt's body is handled. */
static void
decide(struct xfer *x)
{
	curl_easy_getinfo(x->u->h, CURLINFO_RESPONSE_CODE, &x->status);
	x->decided = 1;
	x->ok = x->status >= 200 && x->status < 300;
	gb_buf_free(&x->buf);
	gb_buf_init(&x->buf, x->ok ? GB_UPSTREAM_BUFFER_MAX :
	    GB_UPSTREAM_ERRBODY_MAX);
}

/* This attempt is the answer: status to the sink, then what is buffered. */
static int
commit(struct xfer *x)
{
	x->committed = 1;
	x->head->status = (int)x->status;
	x->head->retry_after = -1;
	if (x->sink->head(x->sink->arg, x->head) == -1 ||
	    (x->buf.len > 0 &&
	    x->sink->body(x->sink->arg, x->buf.data, x->buf.len) == -1)) {
		x->gone = 1;
		return -1;
	}
	gb_buf_reset(&x->buf);
	return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	x->last = now();
	if (!x->decided)
		decide(x);
	if (!x->committed && x->ok && x->stream && commit(x) == -1)
		return CURL_WRITEFUNC_ERROR;
	if (!x->committed) {
		if (gb_buf_append(&x->buf, p, len) == 0)
			return len;
		/* a 2xx outgrew the buffer: from here on, pass it on */
		if (!x->ok) {
			x->too_big = 1;
			return CURL_WRITEFUNC_ERROR;
		}
		if (commit(x) == -1)
			return CURL_WRITEFUNC_ERROR;
	}
	if (x->sink->body(x->sink->arg, p, len) == -1) {
		x->gone = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	return len;
}

/* Only Retry-After is of interest (a fallback for RetryInfo). */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, i;
	char v[32];

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		x->hdr_retry = -1;
	else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
		for (i = 12; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		snprintf(v, sizeof(v), "%.*s", (int)(len - i), p + i);
		v[strcspn(v, "\r\n \t")] = '\0';
		x->hdr_retry = parse_delay(v);
	}
	return len;
}

/*
 * Called often during a transfer and about once a second while the
 * upstream is silent: enforce the deadline until the answer is committed
 * (afterwards a stream may run long, but not stay silent for TIMEOUT
 * seconds: LOW_SPEED alone averages over a window and lets a stall run
 * about 6 s longer) and stop as soon as the caller is gone.
 */
static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct xfer *x = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	if (!x->committed && now() >= x->deadline) {
		x->timed_out = 1;
		return 1;
	}
	if (x->committed && x->stall > 0 && now() - x->last >= x->stall) {
		x->timed_out = 1;
		return 1;
	}
	if (x->sink->alive != NULL && !x->sink->alive(x->sink->arg)) {
		x->gone = 1;
		return 1;
	}
	return 0;
}

/* libcurl errors no other key or retry can fix. */
static int
fatal_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_COULDNT_RESOLVE_PROXY:
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

/* Wipe the key header's bytes before libcurl frees them. */
static void
free_headers(struct curl_slist *l)
{
	struct curl_slist *t;

	for (t = l; t != NULL; t = t->next)
		explicit_bzero(t->data, strlen(t->data));
	curl_slist_free_all(l);
}

/* One attempt with one key; fills *a. -1 only on local trouble. */
static int
run(struct xfer *x, const char *key, const struct gb_upstream_req *req,
    struct gb_upstream_attempt *a, struct gb_err *err)
{
	struct gb_upstream *u = x->u;
	const struct gb_config *cfg = u->cfg;
	CURL *h = u->h;
	struct curl_slist *hdrs = NULL, *t;
	char *url = NULL, *kh = NULL;
	const char *path = req->path, *ca;
	int post = strcmp(req->method, "POST") == 0;
	double left;
	long cms, tms;
	CURLcode rc;

	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
	x->hdr_retry = -1;
	while (*path == '/')
		path++;
	if (asprintf(&url, "%s/%s", cfg->base_url, path) == -1)
		url = NULL;
	if (asprintf(&kh, "x-goog-api-key: %s", key) == -1)
		kh = NULL;
	if (url == NULL || kh == NULL)
		goto nomem;
	if ((t = curl_slist_append(hdrs, kh)) == NULL)
		goto nomem;
	hdrs = t;
	if (post) {
		if ((t = curl_slist_append(hdrs,
		    "Content-Type: application/json")) == NULL)
			goto nomem;
		hdrs = t;
	}
	if ((t = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto nomem;
	hdrs = t;
	explicit_bzero(kh, strlen(kh));
	free(kh);
	kh = NULL;

	left = x->deadline - now();
	if (left < 0.001)
		left = 0.001;
	cms = (long)(left * 1000) + 1;
	tms = x->stream ? 0 : cms;
	if (cms > GB_UPSTREAM_CONNECT_MAX * 1000L)
		cms = GB_UPSTREAM_CONNECT_MAX * 1000L;

	u->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "gemini-balance/" GB_VERSION);
	if (post) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->bodylen);
	} else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tms);
	/* a stream that stays silent for TIMEOUT seconds has stalled */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, cfg->timeout);
	x->stall = (double)cfg->timeout;
	x->last = now();
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, u->errbuf);
	if (cfg->proxy != NULL)
		curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy);
	/*
	 * A private CA (a TLS-inspecting proxy, a test upstream): libcurl
	 * as Debian builds it reads no variable for this itself.
	 */
	if ((ca = getenv("CURL_CA_BUNDLE")) != NULL && *ca != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);

	rc = curl_easy_perform(h);

	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	free_headers(hdrs);
	free(url);

	if (!x->decided) {
		if (rc == CURLE_OK)
			decide(x);
		else
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE,
			    &x->status);
	}
	a->status = (int)x->status;
	a->committed = x->committed;
	a->gone = x->gone;
	if (x->gone) {
		a->class = GB_UP_FATAL;
		snprintf(a->msg, sizeof(a->msg), "the caller went away");
	} else if (rc == CURLE_OK) {
		if (x->committed)
			a->class = GB_UP_OK;
		else
			a->class = gb_upstream_classify(a->status,
			    x->buf.data, x->buf.len, &a->retry_after,
			    a->reason, sizeof(a->reason));
		if (a->class == GB_UP_COOL && a->retry_after < 0)
			a->retry_after = x->hdr_retry;
		snprintf(a->msg, sizeof(a->msg), "HTTP %d%s%s", a->status,
		    a->reason[0] != '\0' ? " " : "", a->reason);
	} else {
		/* no complete answer: whatever status came is worthless */
		if (!x->committed)
			a->status = 0;
		a->class = GB_UP_RETRY;
		if (rc == CURLE_OPERATION_TIMEDOUT || x->timed_out) {
			a->timed_out = 1;
			snprintf(a->msg, sizeof(a->msg), "timed out");
		} else if (x->too_big)
			snprintf(a->msg, sizeof(a->msg),
			    "answer larger than %d bytes",
			    x->ok ? GB_UPSTREAM_BUFFER_MAX :
			    GB_UPSTREAM_ERRBODY_MAX);
		else {
			if (fatal_curl(rc))
				a->class = GB_UP_FATAL;
			snprintf(a->msg, sizeof(a->msg), "%s",
			    u->errbuf[0] != '\0' ? u->errbuf :
			    curl_easy_strerror(rc));
		}
	}
	return 0;

nomem:
	if (kh != NULL) {
		explicit_bzero(kh, strlen(kh));
		free(kh);
	}
	free(url);
	free_headers(hdrs);
	return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
}

static void
xfer_init(struct xfer *x, struct gb_upstream *u,
    const struct gb_upstream_sink *sink, struct gb_upstream_head *head,
    int stream, double deadline)
{
	memset(x, 0, sizeof(*x));
	x->u = u;
	x->sink = sink;
	x->head = head;
	x->stream = stream;
	x->deadline = deadline;
	gb_buf_init(&x->buf, 0);
}

/* The final answer, when it is not an upstream one being passed on. */
static int
deliver(const struct gb_upstream_sink *s, struct gb_upstream_head *head,
    const char *body, size_t len)
{
	if (s->head(s->arg, head) == -1)
		return -1;
	if (len > 0 && s->body(s->arg, body, len) == -1)
		return -1;
	return 0;
}

/* A synthesised Gemini-style error as the final answer. */
static int
deliver_error(const struct gb_upstream_sink *s,
    struct gb_upstream_head *head, int status, const char *msg)
{
	json_t *e;
	char *txt;
	int rc;

	head->status = status;
	if ((e = gb_gemini_error(status, msg)) == NULL ||
	    (txt = json_dumps(e, JSON_COMPACT)) == NULL) {
		json_decref(e);
		return deliver(s, head, NULL, 0);
	}
	json_decref(e);
	rc = deliver(s, head, txt, strlen(txt));
	free(txt);
	return rc;
}

/* Sleep before retry n (after a 5xx or a network failure). */
static void
backoff(int n, double deadline)
{
	struct timespec ts;
	double ms = (double)n * BACKOFF_STEP_MS, left;

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	left = (deadline - now()) * 1000;
	if (ms > left)
		ms = left;
	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
record(struct gb_keys *ks, size_t idx, enum gb_key_outcome o, long secs,
    int status, const char *reason, const struct gb_upstream_sink *s)
{
	struct gb_err e;

	gb_err_clear(&e);
	if (gb_keys_record(ks, idx, o, secs, status,
	    reason != NULL && *reason != '\0' ? reason : NULL, &e) == -1)
		say(s, GB_UP_LOG_WARN, "unable to record the key's outcome: %s",
		    e.msg);
}

/*
 * After a final 429: seconds until some key is usable again according to
 * the shared state (1 if one is usable now), or -1 if unknown.
 */
static long
earliest_recovery(struct gb_keys *ks)
{
	const struct gb_key_info *ki;
	struct gb_err e;
	time_t t = time(NULL), best = 0;
	size_t i;

	if (gb_keys_load(ks, &e) == -1)
		return -1;
	for (i = 0; i < gb_keys_count(ks); i++) {
		ki = gb_keys_info(ks, i);
		switch (gb_keys_state(ki, t)) {
		case GB_KEY_ACTIVE:
			return 1;
		case GB_KEY_COOLING:
			if (best == 0 || ki->until < best)
				best = ki->until;
			break;
		default:
			break;
		}
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
record_ok(struct gb_keys *ks, size_t idx, const struct gb_upstream_sink *s)
{
	const struct gb_key_info *ki = gb_keys_info(ks, idx);

	if (ki != NULL && ki->consec == 0 && !ki->invalid)
		return;
	record(ks, idx, GB_KEY_OK, 0, 0, NULL, s);
}

static long
seconds_until(time_t t)
{
	time_t n = time(NULL);

	return t > n ? (long)(t - n) : 1;
}

int
gb_upstream_call(struct gb_upstream *u, struct gb_keys *ks,
    const struct gb_upstream_req *req, const struct gb_upstream_sink *s,
    struct gb_upstream_head *head, struct gb_err *err)
{
	const struct gb_config *cfg = u->cfg;
	struct gb_upstream_attempt a;
	struct gb_err kerr;
	struct xfer x;
	size_t *tried, ntried = 0;
	double deadline = now() + (double)cfg->timeout;
	time_t retry_at = 0;
	int n, idx, nokey = 0, code;
	long max = cfg->max_retries, secs;
	const char *key;

	memset(head, 0, sizeof(*head));
	head->retry_after = -1;
	memset(&a, 0, sizeof(a));
	gb_buf_init(&x.buf, 0);
	if ((tried = calloc((size_t)max, sizeof(*tried))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return GB_EXIT_TEMP;
	}

	for (n = 1; n <= max; n++) {
		if (n > 1) {
			if (now() >= deadline)
				break;
			if (a.class == GB_UP_RETRY)
				backoff(n - 1, deadline);
		}
		gb_err_clear(&kerr);
		retry_at = 0;
		if ((idx = gb_keys_next(ks, tried, ntried, &retry_at,
		    &kerr)) == -1) {
			if (kerr.code != GB_EXIT_NO) {
				free(tried);
				gb_buf_free(&x.buf);
				gb_err_set(err, GB_EXIT_TEMP, 0, "%s",
				    kerr.msg);
				if (deliver_error(s, head, 500,
				    "key state unavailable") == -1)
					gb_err_set(err, GB_EXIT_TEMP, 0,
					    "the caller went away");
				return GB_EXIT_TEMP;
			}
			nokey = 1;
			break;
		}
		tried[ntried++] = (size_t)idx;
		key = gb_keys_key(ks, (size_t)idx);
		gb_mask(key, head->key, sizeof(head->key));
		head->attempts = n;
		say(s, GB_UP_LOG_DEBUG, "attempt %d of %ld: %s %s with key %s",
		    n, max, req->method, req->path, head->key);

		gb_buf_free(&x.buf);
		xfer_init(&x, u, s, head, req->stream, deadline);
		if (run(&x, key, req, &a, err) == -1) {
			free(tried);
			gb_buf_free(&x.buf);
			return GB_EXIT_TEMP;
		}
		if (a.gone) {
			/* not the key's fault; a 2xx still proves the key */
			if (x.ok)
				record_ok(ks, (size_t)idx, s);
			code = gb_err_set(err, GB_EXIT_TEMP, 0,
			    "the caller went away");
			goto done;
		}
		if (a.committed || a.class == GB_UP_OK) {
			record_ok(ks, (size_t)idx, s);
			if (!a.committed && commit(&x) == -1) {
				code = gb_err_set(err, GB_EXIT_TEMP, 0,
				    "the caller went away");
				goto done;
			}
			if (a.class != GB_UP_OK) {
				code = gb_err_set(err, GB_EXIT_TEMP, 0,
				    "upstream answer broke off: %s", a.msg);
				goto done;
			}
			code = GB_EXIT_OK;
			goto done;
		}
		switch (a.class) {
		case GB_UP_FATAL:
			say(s, GB_UP_LOG_ERROR, "attempt %d with key %s: %s",
			    n, head->key, a.msg);
			code = gb_err_set(err, GB_EXIT_TEMP, 0,
			    "upstream request failed: %s", a.msg);
			head->retry_after = -1;
			if (deliver_error(s, head, 502, err->msg) == -1)
				gb_err_set(err, GB_EXIT_TEMP, 0,
				    "the caller went away");
			goto done;
		case GB_UP_FINAL:
			code = gb_err_set(err, GB_EXIT_NO, a.status,
			    "upstream answered %s", a.msg);
			head->status = a.status;
			if (deliver(s, head, x.buf.data, x.buf.len) == -1)
				code = gb_err_set(err, GB_EXIT_TEMP, 0,
				    "the caller went away");
			goto done;
		case GB_UP_KEY:
			record(ks, (size_t)idx, GB_KEY_FAIL, 0, a.status,
			    a.reason, s);
			say(s, GB_UP_LOG_WARN, "attempt %d with key %s: %s, "
			    "key failure recorded", n, head->key, a.msg);
			break;
		case GB_UP_COOL:
			secs = a.retry_after >= 0 ? a.retry_after :
			    cfg->key_cooldown;
			record(ks, (size_t)idx, GB_KEY_COOL, secs, a.status,
			    a.reason, s);
			say(s, GB_UP_LOG_WARN, "attempt %d with key %s: %s, "
			    "key cools down for %ld s", n, head->key, a.msg,
			    secs);
			break;
		default:
			/* remembered as the last error, not held against it */
			record(ks, (size_t)idx, GB_KEY_NOTE, 0, a.status,
			    a.status != 0 ? a.reason : a.timed_out ?
			    "timeout" : "network error", s);
			say(s, GB_UP_LOG_WARN, "attempt %d with key %s: %s",
			    n, head->key, a.msg);
			break;
		}
	}

	/* Out of attempts, time or keys: report the last outcome. */
	if (ntried == 0) {
		if (retry_at > 0) {
			head->retry_after = seconds_until(retry_at);
			code = gb_err_set(err, GB_EXIT_NO, 429,
			    "every API key is cooling down (next in %ld s)",
			    head->retry_after);
			if (deliver_error(s, head, 429, "every API key is "
			    "cooling down; retry later") == -1)
				code = gb_err_set(err, GB_EXIT_TEMP, 0,
				    "the caller went away");
		} else {
			code = gb_err_set(err, GB_EXIT_NO, 503,
			    "no usable API key");
			if (deliver_error(s, head, 503, "no usable API key") ==
			    -1)
				code = gb_err_set(err, GB_EXIT_TEMP, 0,
				    "the caller went away");
		}
		goto done;
	}
	if (a.status != 0) {
		/* the last upstream answer, passed on unchanged */
		head->status = a.status;
		if (a.status == 429) {
			head->retry_after = nokey && retry_at > 0 ?
			    seconds_until(retry_at) : earliest_recovery(ks);
			if (head->retry_after < 0)
				head->retry_after = a.retry_after >= 0 ?
				    a.retry_after : cfg->key_cooldown;
		}
		code = gb_err_set(err, a.status >= 500 ? GB_EXIT_TEMP :
		    GB_EXIT_NO, a.status, "giving up after %d attempt%s: %s",
		    head->attempts, head->attempts == 1 ? "" : "s", a.msg);
		if (deliver(s, head, x.buf.data, x.buf.len) == -1)
			code = gb_err_set(err, GB_EXIT_TEMP, 0,
			    "the caller went away");
		goto done;
	}
	code = gb_err_set(err, GB_EXIT_TEMP, a.timed_out ? 504 : 502,
	    "giving up after %d attempt%s: %s", head->attempts,
	    head->attempts == 1 ? "" : "s", a.msg);
	if (deliver_error(s, head, a.timed_out ? 504 : 502, a.timed_out ?
	    "upstream timed out" : "upstream unreachable") == -1)
		code = gb_err_set(err, GB_EXIT_TEMP, 0, "the caller went away");

done:
	free(tried);
	gb_buf_free(&x.buf);
	return code == GB_EXIT_OK ? GB_EXIT_OK : err->code;
}
