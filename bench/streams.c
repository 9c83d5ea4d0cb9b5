/*
 * streams - many concurrent server-sent-event streams, both ends.
 *
 * usage: streams up EVENTS GAP_MS
 *        streams client HOST PORT PATH BODYFILE TOKEN N OPEN_MS TIMEOUT_S
 *            MARKER
 *
 * "up" is a Gemini-like upstream on 127.0.0.1 (a port the kernel picks,
 * printed first as "UP port=P"). It answers every
 * POST …:streamGenerateContent with 200, "Transfer-Encoding: chunked"
 * and EVENTS SSE events, one chunk each, the first at once and the next
 * ones GAP_MS apart (due times fixed from the request's arrival, so
 * delays do not add up), each a small GenerateContentResponse with
 * text, the last with finishReason STOP and usageMetadata, CRLF framing
 * as Google sends it; then it keeps the connection for the next
 * request (HTTP/1.1 keep-alive). Every event is written when it is due,
 * never buffered for later, unless the socket itself is full.
 * GET /_stats answers one line of counters (accepted connections,
 * requests, streams, completed, client gone, active, peak active, the
 * latest an event was written after its due time, events written over
 * 10 ms late); /_stats?reset=1 answers and then zeroes them. Anything
 * else is a Gemini-shaped 404. One thread, one epoll loop, timeouts
 * from a heap of due times.
 *
 * "client" opens N connections to HOST:PORT, one every OPEN_MS/N ms
 * (all of them within OPEN_MS, whatever the server does), and sends on
 * each, as soon as it is connected, "POST PATH" with BODYFILE
 * (Authorization: Bearer TOKEN unless TOKEN is "-"). It reads the
 * answer (chunked, Content-Length or close-delimited), counts the
 * "data:" lines of the decoded body and looks for MARKER in it (the
 * last event's sign: "[DONE]" for OpenAI streams, "finishReason" for
 * Gemini's). A connect that fails is a failure, never retried. One
 * stream's times: start (connect() called), connected, request
 * written, first "data:" line, end. When every stream has ended, or
 * TIMEOUT_S after its start, it prints one line:
 *
 *   STREAMS n=N ok=K failed=F wall_us=W first_n=M first_p50_us=…
 *   first_p99_us=… conn_p50_us=… conn_p99_us=… full_p50_us=…
 *   full_p99_us=… fails=WHAT:COUNT,… (or fails=-)
 *
 * then, for each other status seen, the start of the first such
 * answer's body that came with its head (error bodies say why):
 *
 *   SAMPLE http_CODE TEXT
 *
 * wall from the first connect() to the last stream's end (ok or not);
 * first = start → first event, over the streams that got one; conn =
 * start → connected; full = start → end of the ok streams. A stream is
 * ok when the status is 200, the body ended as its framing says and
 * MARKER was in it. Failures: conn_ERRNO (socket or connect failed),
 * http_CODE (another status; the body is not read), nohead (closed or
 * reset before a whole response head), cut (closed or reset inside the
 * body), nolast (the body ended cleanly without MARKER), timeout.
 *
 * Both raise their soft RLIMIT_NOFILE to the hard limit. A benchmark
 * helper, not part of the product: it trusts its own arguments and
 * exits 1 on any set-up error.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAXEV		1024
#define INCAP		(1 << 20)	/* upstream: a request, head and body */
#define HEADCAP		16384		/* client: a response head */
#define MAXEVENTS	1000
#define MAXSTREAMS	100000

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	return (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL) {
		perror("streams: realloc");
		exit(1);
	}
	return p;
}

/* ---- the upstream ------------------------------------------------------ */

enum { U_FREE, U_HEAD, U_BODY, U_STREAM };

struct uconn {
	int		 state;
	unsigned	 gen;		/* bumped on close: stale heap entry */
	char		*in;
	size_t		 inlen, incap;
	size_t		 reqlen;	/* head + body of this request */
	int		 chunkedbody;
	char		*out;		/* what the socket did not take */
	size_t		 outlen, outoff, outcap;
	int		 pollout;
	int		 next;		/* next event to write */
	double		 t0;		/* the request's arrival */
};

struct due {
	double		 at;
	int		 fd;
	unsigned	 gen;
};

static struct uconn *uc;
static int ufdmax;
static int uep;
static struct due *heap;
static size_t heapn, heapcap;
static char **evframe;		/* each event as one HTTP chunk */
static size_t *evlen;
static int nevents;
static double gap_us;
static struct {
	unsigned long	 accepted, requests, streams, done, gone, late10;
	int		 active, peak;
	double		 latemax;
} st;

static void
heap_push(double at, int fd, unsigned gen)
{
	size_t i, p;
	struct due d = { at, fd, gen }, t;

	if (heapn == heapcap) {
		heapcap = heapcap ? heapcap * 2 : 1024;
		heap = xrealloc(heap, heapcap * sizeof(*heap));
	}
	i = heapn++;
	heap[i] = d;
	while (i > 0 && heap[p = (i - 1) / 2].at > heap[i].at) {
		t = heap[p];
		heap[p] = heap[i];
		heap[i] = t;
		i = p;
	}
}

static struct due
heap_pop(void)
{
	struct due top = heap[0], t;
	size_t i = 0, l, r, m;

	heap[0] = heap[--heapn];
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < heapn && heap[l].at < heap[m].at)
			m = l;
		if (r < heapn && heap[r].at < heap[m].at)
			m = r;
		if (m == i)
			break;
		t = heap[m];
		heap[m] = heap[i];
		heap[i] = t;
		i = m;
	}
	return top;
}

static void
u_close(int fd)
{
	struct uconn *c = &uc[fd];

	if (c->state == U_STREAM) {
		st.active--;
		st.gone++;
	}
	close(fd);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->inlen = c->incap = c->outlen = c->outoff = c->outcap = 0;
	c->pollout = 0;
	c->state = U_FREE;
	c->gen++;
}

static void
u_pollout(int fd, int on)
{
	struct epoll_event ev;

	if (uc[fd].pollout == on)
		return;
	ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
	ev.data.fd = fd;
	epoll_ctl(uep, EPOLL_CTL_MOD, fd, &ev);
	uc[fd].pollout = on;
}

/* Write now what the socket takes, keep the rest; -1: connection gone. */
static int
u_send(int fd, const char *p, size_t n)
{
	struct uconn *c = &uc[fd];
	ssize_t w;

	if (c->outlen == c->outoff) {
		c->outlen = c->outoff = 0;
		while (n > 0) {
			w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1 && errno == EAGAIN)
				break;
			if (w == -1)
				return -1;
			p += w;
			n -= (size_t)w;
		}
		if (n == 0)
			return 0;
	}
	if (c->outlen + n > c->outcap) {
		c->outcap = c->outlen + n + 4096;
		c->out = xrealloc(c->out, c->outcap);
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
	u_pollout(fd, 1);
	return 0;
}

static int
u_flush(int fd)
{
	struct uconn *c = &uc[fd];
	ssize_t w;

	while (c->outoff < c->outlen) {
		w = send(fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return 0;
		if (w == -1)
			return -1;
		c->outoff += (size_t)w;
	}
	c->outlen = c->outoff = 0;
	u_pollout(fd, 0);
	return 0;
}

static int
u_simple(int fd, int code, const char *reason, const char *ctype,
    const char *body)
{
	char buf[2048];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
	    code, reason, ctype, strlen(body), body);
	return u_send(fd, buf, (size_t)n);
}

/* Write event k of the stream on fd; after the last one, end the body. */
static int
u_event(int fd, int k)
{
	struct uconn *c = &uc[fd];

	if (u_send(fd, evframe[k], evlen[k]) == -1)
		return -1;
	if (k + 1 < nevents) {
		c->next = k + 1;
		heap_push(c->t0 + (k + 1) * gap_us, fd, c->gen);
		return 0;
	}
	if (u_send(fd, "0\r\n\r\n", 5) == -1)
		return -1;
	c->state = U_HEAD;
	st.active--;
	st.done++;
	return 0;
}

static int u_process(int);

static int
u_dispatch(int fd, const char *method, const char *target)
{
	struct uconn *c = &uc[fd];
	static const char hdr[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Content-Disposition: attachment\r\n"
	    "Vary: Origin\r\nVary: X-Origin\r\nVary: Referer\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "Server: scaffolding on HTTPServer2\r\n"
	    "X-XSS-Protection: 0\r\nX-Frame-Options: SAMEORIGIN\r\n"
	    "X-Content-Type-Options: nosniff\r\n\r\n";
	char line[512];
	int active;

	st.requests++;
	if (strncmp(target, "/_stats", 7) == 0) {
		snprintf(line, sizeof(line), "accepted=%lu requests=%lu "
		    "streams=%lu done=%lu gone=%lu active=%d peak=%d "
		    "late_max_us=%.0f late10=%lu\n", st.accepted,
		    st.requests, st.streams, st.done, st.gone, st.active,
		    st.peak, st.latemax, st.late10);
		if (strstr(target, "reset=1") != NULL) {
			active = st.active;
			memset(&st, 0, sizeof(st));
			st.active = st.peak = active;
		}
		return u_simple(fd, 200, "OK", "text/plain", line);
	}
	if (strcmp(method, "POST") != 0 ||
	    strstr(target, ":streamGenerateContent") == NULL)
		return u_simple(fd, 404, "Not Found", "application/json",
		    "{\"error\":{\"code\":404,\"message\":\"Requested entity "
		    "was not found.\",\"status\":\"NOT_FOUND\"}}");
	st.streams++;
	if (++st.active > st.peak)
		st.peak = st.active;
	c->state = U_STREAM;
	c->t0 = now_us();
	if (u_send(fd, hdr, sizeof(hdr) - 1) == -1)
		return -1;
	return u_event(fd, 0);
}

/*
 * Parse what came in: a request head, then a body by Content-Length or
 * chunked (skipped up to its last chunk), then dispatch. A pipelined
 * request waits until the stream before it has ended.
 */
static int
u_process(int fd)
{
	struct uconn *c = &uc[fd];
	char *eoh, *p, *nl, method[16], target[1024];
	size_t hl;
	long long clen;

	for (;;) {
		if (c->state == U_STREAM)
			return 0;
		if (c->state == U_HEAD) {
			if (c->inlen < 4 || (eoh = memmem(c->in, c->inlen,
			    "\r\n\r\n", 4)) == NULL)
				return 0;
			hl = (size_t)(eoh + 4 - c->in);
			*eoh = '\0';
			if (sscanf(c->in, "%15s %1023s", method, target) != 2)
				return -1;
			clen = 0;
			c->chunkedbody = 0;
			for (p = strstr(c->in, "\r\n"); p != NULL; p = nl) {
				p += 2;
				nl = strstr(p, "\r\n");
				if (strncasecmp(p, "content-length:", 15) == 0)
					clen = strtoll(p + 15, NULL, 10);
				else if (strncasecmp(p,
				    "transfer-encoding:", 18) == 0)
					c->chunkedbody = 1;
			}
			*eoh = '\r';
			if (clen < 0 || clen > INCAP)
				return -1;
			c->reqlen = hl + (size_t)clen;
			c->state = U_BODY;
		}
		if (c->chunkedbody) {
			/* the last chunk, no trailers */
			p = memmem(c->in, c->inlen, "\r\n0\r\n\r\n", 7);
			if (p == NULL)
				return 0;
			c->reqlen = (size_t)(p + 7 - c->in);
		}
		if (c->inlen < c->reqlen)
			return 0;
		if (sscanf(c->in, "%15s %1023s", method, target) != 2)
			return -1;
		memmove(c->in, c->in + c->reqlen, c->inlen - c->reqlen);
		c->inlen -= c->reqlen;
		c->state = U_HEAD;
		if (u_dispatch(fd, method, target) == -1)
			return -1;
	}
}

static void
u_read(int fd)
{
	struct uconn *c = &uc[fd];
	ssize_t r;

	for (;;) {
		if (c->inlen == c->incap) {
			if (c->incap >= INCAP) {
				u_close(fd);
				return;
			}
			c->incap = c->incap ? c->incap * 2 : 4096;
			c->in = xrealloc(c->in, c->incap);
		}
		r = read(fd, c->in + c->inlen, c->incap - c->inlen);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			break;
		if (r <= 0) {
			u_close(fd);
			return;
		}
		c->inlen += (size_t)r;
	}
	if (u_process(fd) == -1)
		u_close(fd);
}

/* Every event as one HTTP chunk: "data: {json}\r\n\r\n". */
static void
u_events(void)
{
	static const char *words[] = { "Once upon a time", ", a proxy",
	    " stood between", " many clients", " and one model", ", passing",
	    " every word", " along", " as soon as", " it came." };
	char json[1024], data[1200];
	int k, d;

	evframe = xrealloc(NULL, nevents * sizeof(*evframe));
	evlen = xrealloc(NULL, nevents * sizeof(*evlen));
	for (k = 0; k < nevents; k++) {
		if (k + 1 < nevents)
			snprintf(json, sizeof(json), "{\"candidates\":[{"
			    "\"content\":{\"parts\":[{\"text\":\"%s\"}],"
			    "\"role\":\"model\"},\"index\":0}],"
			    "\"usageMetadata\":{\"promptTokenCount\":9,"
			    "\"totalTokenCount\":9,\"promptTokensDetails\":[{"
			    "\"modality\":\"TEXT\",\"tokenCount\":9}]},"
			    "\"modelVersion\":\"gemini-2.0-flash\","
			    "\"responseId\":\"bEnChStReAmS0123456789\"}",
			    words[k % 10]);
		else
			snprintf(json, sizeof(json), "{\"candidates\":[{"
			    "\"content\":{\"parts\":[{\"text\":\"%s\"}],"
			    "\"role\":\"model\"},\"finishReason\":\"STOP\","
			    "\"index\":0}],\"usageMetadata\":{"
			    "\"promptTokenCount\":9,\"candidatesTokenCount\":"
			    "%d,\"totalTokenCount\":%d,\"promptTokensDetails\""
			    ":[{\"modality\":\"TEXT\",\"tokenCount\":9}],"
			    "\"candidatesTokensDetails\":[{\"modality\":"
			    "\"TEXT\",\"tokenCount\":%d}]},\"modelVersion\":"
			    "\"gemini-2.0-flash\",\"responseId\":"
			    "\"bEnChStReAmS0123456789\"}", words[k % 10],
			    4 * nevents, 9 + 4 * nevents, 4 * nevents);
		d = snprintf(data, sizeof(data), "data: %s\r\n\r\n", json);
		evframe[k] = xrealloc(NULL, (size_t)d + 32);
		evlen[k] = (size_t)snprintf(evframe[k], (size_t)d + 32,
		    "%x\r\n%s\r\n", d, data);
	}
}

static int
up_main(int argc, char *argv[])
{
	struct sockaddr_in sa;
	struct epoll_event ev, evs[MAXEV];
	socklen_t sl = sizeof(sa);
	struct due d;
	double now, late;
	int lfd, fd, n, i, one = 1, timeout;

	if (argc != 4) {
		fprintf(stderr, "usage: streams up EVENTS GAP_MS\n");
		return 1;
	}
	nevents = atoi(argv[2]);
	gap_us = atoi(argv[3]) * 1000.0;
	if (nevents < 1 || nevents > MAXEVENTS || gap_us < 0) {
		fprintf(stderr, "streams: bad EVENTS or GAP_MS\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((ufdmax = raise_nofile()) == -1) {
		perror("streams: RLIMIT_NOFILE");
		return 1;
	}
	uc = calloc((size_t)ufdmax, sizeof(*uc));
	u_events();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 65535) == -1 ||	/* capped at somaxconn */
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) == -1) {
		perror("streams: listen");
		return 1;
	}
	if ((uep = epoll_create1(EPOLL_CLOEXEC)) == -1 || uc == NULL) {
		perror("streams");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(uep, EPOLL_CTL_ADD, lfd, &ev);
	printf("UP port=%d\n", ntohs(sa.sin_port));
	fflush(stdout);

	for (;;) {
		timeout = -1;
		if (heapn > 0) {
			late = heap[0].at - now_us();
			timeout = late <= 0 ? 0 : (int)(late / 1000) + 1;
		}
		n = epoll_wait(uep, evs, MAXEV, timeout);
		if (n == -1 && errno != EINTR) {
			perror("streams: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
					if (fd >= ufdmax) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP,
					    TCP_NODELAY, &one, sizeof(one));
					uc[fd].state = U_HEAD;
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.fd = fd;
					epoll_ctl(uep, EPOLL_CTL_ADD, fd, &ev);
					st.accepted++;
				}
				continue;
			}
			if (uc[fd].state == U_FREE)
				continue;
			if ((evs[i].events & EPOLLOUT) && u_flush(fd) == -1) {
				u_close(fd);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
			    EPOLLERR))
				u_read(fd);
		}
		now = now_us();
		while (heapn > 0 && heap[0].at <= now) {
			d = heap_pop();
			if (uc[d.fd].gen != d.gen ||
			    uc[d.fd].state != U_STREAM)
				continue;
			late = now - d.at;
			if (late > st.latemax)
				st.latemax = late;
			if (late > 10000)
				st.late10++;
			if (u_event(d.fd, uc[d.fd].next) == -1)
				u_close(d.fd);
			else if (uc[d.fd].state == U_HEAD &&
			    u_process(d.fd) == -1)
				u_close(d.fd);
		}
	}
}

/* ---- the client -------------------------------------------------------- */

enum { C_IDLE, C_CONNECTING, C_SENDING, C_HEAD, C_BODY, C_DONE };
enum { F_CHUNKED, F_LENGTH, F_CLOSE };
enum { CS_SIZE, CS_EXT, CS_DATA, CS_DATAEND, CS_TRAILER };
enum {
	RES_OK, RES_CONN, RES_HTTP, RES_NOHEAD, RES_CUT, RES_NOLAST,
	RES_TIMEOUT
};

struct cconn {
	int		 fd;
	int		 state;
	int		 result;
	int		 detail;	/* errno or HTTP status */
	double		 t_start, t_conn, t_first, t_end;
	size_t		 sent;
	char		*head;
	size_t		 headlen;
	int		 framing;
	long long	 left;		/* body or chunk bytes left */
	int		 cstate;
	long long	 size;
	int		 digits;
	int		 linelen;	/* trailer line */
	int		 dpos;		/* "data:" matched at line start */
	size_t		 mpos;		/* MARKER matched so far */
	int		 events;
	int		 marker;
};

static struct cconn *cc;
static int cn, cep, cactive;
static struct sockaddr_in csa;
static char *creq;
static size_t creqlen;
static const char *cmarker;
static size_t cmarkerlen;
static struct {
	int	 status;
	char	 text[161];
} csample[32];
static int nsample;

/* Keep the start of the first body of each other status, on one line. */
static void
c_sample(int status, const char *p, size_t n)
{
	int i;
	size_t k;

	for (i = 0; i < nsample; i++)
		if (csample[i].status == status)
			return;
	if (nsample == 32)
		return;
	csample[nsample].status = status;
	for (k = 0; k < n && k < sizeof(csample[0].text) - 1; k++)
		csample[nsample].text[k] = p[k] == '\n' || p[k] == '\r' ||
		    p[k] == '\t' ? ' ' : p[k];
	csample[nsample++].text[k] = '\0';
}

static void
c_end(struct cconn *c, int result, int detail)
{
	if (c->state == C_DONE)
		return;
	c->result = result;
	c->detail = detail;
	c->t_end = now_us();
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	free(c->head);
	c->head = NULL;
	c->state = C_DONE;
	cactive--;
}

/* Bytes of the decoded body: count "data:" lines, look for MARKER. */
static void
c_feed(struct cconn *c, const char *p, size_t n)
{
	size_t i;
	char ch;

	for (i = 0; i < n; i++) {
		ch = p[i];
		if (c->dpos >= 0 && c->dpos < 5) {
			if (ch == "data:"[c->dpos]) {
				if (++c->dpos == 5) {
					if (c->events++ == 0)
						c->t_first = now_us();
				}
			} else
				c->dpos = -1;
		}
		if (ch == '\n' || ch == '\r')
			c->dpos = 0;
		if (!c->marker) {
			if (ch == cmarker[c->mpos])
				c->mpos++;
			else
				c->mpos = ch == cmarker[0];
			if (c->mpos == cmarkerlen)
				c->marker = 1;
		}
	}
}

static void
c_bodyend(struct cconn *c)
{
	c_end(c, c->marker && c->events > 0 ? RES_OK : RES_NOLAST, 0);
}

/* Raw body bytes through the de-chunker; 1 when the body has ended. */
static int
c_body(struct cconn *c, const char *p, size_t n)
{
	size_t i = 0, k;
	char ch;
	int v;

	if (c->framing == F_CLOSE) {
		c_feed(c, p, n);
		return 0;
	}
	if (c->framing == F_LENGTH) {
		k = (long long)n > c->left ? (size_t)c->left : n;
		c_feed(c, p, k);
		c->left -= (long long)k;
		return c->left == 0;
	}
	while (i < n) {
		switch (c->cstate) {
		case CS_SIZE:
		case CS_EXT:
			ch = p[i++];
			if (ch == '\n') {
				if (c->digits == 0)
					return -1;
				c->left = c->size;
				c->size = c->digits = 0;
				c->linelen = 0;
				c->cstate = c->left == 0 ? CS_TRAILER : CS_DATA;
				break;
			}
			if (c->cstate == CS_EXT || ch == '\r')
				break;
			if (ch >= '0' && ch <= '9')
				v = ch - '0';
			else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
				v = (ch | 0x20) - 'a' + 10;
			else {
				c->cstate = CS_EXT;
				break;
			}
			if (c->digits++ > 12)
				return -1;
			c->size = c->size * 16 + v;
			break;
		case CS_DATA:
			k = n - i;
			if ((long long)k > c->left)
				k = (size_t)c->left;
			c_feed(c, p + i, k);
			i += k;
			c->left -= (long long)k;
			if (c->left == 0)
				c->cstate = CS_DATAEND;
			break;
		case CS_DATAEND:
			if (p[i++] == '\n')
				c->cstate = CS_SIZE;
			break;
		case CS_TRAILER:
			ch = p[i++];
			if (ch == '\n') {
				if (c->linelen == 0)
					return 1;
				c->linelen = 0;
			} else if (ch != '\r')
				c->linelen++;
			break;
		}
	}
	return 0;
}

/* A whole head in c->head: its status and the body's framing. */
static void
c_parsehead(struct cconn *c, size_t hl)
{
	char *p, *nl, *eoh = c->head + hl - 4;
	int status;
	long long clen = -1;
	int chunked = 0, r;

	*eoh = '\0';
	if (sscanf(c->head, "HTTP/1.%*d %d", &status) != 1) {
		c_end(c, RES_NOHEAD, 0);
		return;
	}
	for (p = strstr(c->head, "\r\n"); p != NULL; p = nl) {
		p += 2;
		nl = strstr(p, "\r\n");
		if (nl != NULL)
			*nl = '\0';
		if (strncasecmp(p, "content-length:", 15) == 0)
			clen = strtoll(p + 15, NULL, 10);
		else if (strncasecmp(p, "transfer-encoding:", 18) == 0 &&
		    strcasestr(p, "chunked") != NULL)
			chunked = 1;
		if (nl != NULL)
			*nl = '\r';
	}
	if (status != 200) {
		c_sample(status, c->head + hl, c->headlen - hl);
		c_end(c, RES_HTTP, status);
		return;
	}
	c->framing = chunked ? F_CHUNKED : clen >= 0 ? F_LENGTH : F_CLOSE;
	c->left = clen;
	c->cstate = CS_SIZE;
	c->dpos = 0;
	c->state = C_BODY;
	if (c->framing == F_LENGTH && clen == 0) {
		c_bodyend(c);
		return;
	}
	r = c_body(c, c->head + hl, c->headlen - hl);
	if (r == 1)
		c_bodyend(c);
	else if (r == -1)
		c_end(c, RES_CUT, 0);
}

static void
c_read(struct cconn *c)
{
	char buf[65536], *eoh;
	ssize_t r;
	int b;

	for (;;) {
		if (c->state == C_HEAD) {
			if (c->head == NULL)
				c->head = xrealloc(NULL, HEADCAP);
			r = read(c->fd, c->head + c->headlen,
			    HEADCAP - c->headlen);
		} else
			r = read(c->fd, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return;
		if (r <= 0) {
			if (c->state == C_HEAD)
				c_end(c, RES_NOHEAD, r == 0 ? 0 : errno);
			else if (r == 0 && c->framing == F_CLOSE)
				c_bodyend(c);
			else
				c_end(c, RES_CUT, r == 0 ? 0 : errno);
			return;
		}
		if (c->state == C_HEAD) {
			c->headlen += (size_t)r;
			eoh = memmem(c->head, c->headlen, "\r\n\r\n", 4);
			if (eoh == NULL) {
				if (c->headlen == HEADCAP) {
					c_end(c, RES_NOHEAD, 0);
					return;
				}
				continue;
			}
			c_parsehead(c, (size_t)(eoh + 4 - c->head));
			if (c->state == C_DONE)
				return;
			free(c->head);
			c->head = NULL;
			continue;
		}
		b = c_body(c, buf, (size_t)r);
		if (b == 1) {
			c_bodyend(c);
			return;
		}
		if (b == -1) {
			c_end(c, RES_CUT, 0);
			return;
		}
	}
}

static void
c_send(struct cconn *c)
{
	struct epoll_event ev;
	ssize_t w;

	while (c->sent < creqlen) {
		w = send(c->fd, creq + c->sent, creqlen - c->sent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return;
		if (w == -1) {
			c_end(c, RES_NOHEAD, errno);
			return;
		}
		c->sent += (size_t)w;
	}
	c->state = C_HEAD;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.u32 = (uint32_t)(c - cc);
	epoll_ctl(cep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
c_connected(struct cconn *c)
{
	int e = 0;
	socklen_t el = sizeof(e);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1)
		e = errno;
	if (e != 0) {
		c_end(c, RES_CONN, e);
		return;
	}
	c->t_conn = now_us();
	c->state = C_SENDING;
	c_send(c);
}

static void
c_start(struct cconn *c)
{
	struct epoll_event ev;
	int one = 1;

	c->t_start = now_us();
	c->dpos = -1;
	cactive++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		c->state = C_CONNECTING;
		c_end(c, RES_CONN, errno);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_CONNECTING;
	ev.events = EPOLLOUT;
	ev.data.u32 = (uint32_t)(c - cc);
	if (epoll_ctl(cep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		c_end(c, RES_CONN, errno);
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&csa, sizeof(csa)) == 0)
		c_connected(c);
	else if (errno != EINPROGRESS)
		c_end(c, RES_CONN, errno);
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, int n, double p)
{
	int i;

	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof(double), cmpd);
	i = (int)(p / 100.0 * (n - 1) + 0.5);
	return v[i];
}

static const char *
errname(int e)
{
	switch (e) {
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EPIPE: return "EPIPE";
	case EAGAIN: return "EAGAIN";
	case 0: return "";
	default: return "other";
	}
}

/* "what:count" for every kind of failure, comma-separated. */
static void
c_report(double t0)
{
	static const char *kind[] = { "ok", "conn", "http", "nohead", "cut",
	    "nolast", "timeout" };
	struct { char what[48]; int n; } f[64];
	double *first, *conn, *full, wall = 0;
	int nf = 0, i, j, ok = 0, nfirst = 0, nconn = 0, nfull = 0;
	char what[48], fails[4096];
	size_t off = 0;

	first = xrealloc(NULL, (size_t)cn * sizeof(double));
	conn = xrealloc(NULL, (size_t)cn * sizeof(double));
	full = xrealloc(NULL, (size_t)cn * sizeof(double));
	for (i = 0; i < cn; i++) {
		struct cconn *c = &cc[i];

		if (c->t_end - t0 > wall)
			wall = c->t_end - t0;
		if (c->t_conn > 0)
			conn[nconn++] = c->t_conn - c->t_start;
		if (c->t_first > 0)
			first[nfirst++] = c->t_first - c->t_start;
		if (c->result == RES_OK) {
			ok++;
			full[nfull++] = c->t_end - c->t_start;
			continue;
		}
		if (c->result == RES_HTTP)
			snprintf(what, sizeof(what), "http_%d", c->detail);
		else if (c->result == RES_CONN || (c->detail != 0 &&
		    c->result != RES_TIMEOUT))
			snprintf(what, sizeof(what), "%s%s%s",
			    kind[c->result], c->detail ? "_" : "",
			    errname(c->detail));
		else
			snprintf(what, sizeof(what), "%s", kind[c->result]);
		for (j = 0; j < nf && strcmp(f[j].what, what) != 0; j++)
			;
		if (j == nf && nf < 64) {
			snprintf(f[nf].what, sizeof(f[nf].what), "%s", what);
			f[nf++].n = 0;
		}
		if (j < nf)
			f[j].n++;
	}
	fails[0] = '\0';
	for (j = 0; j < nf && off < sizeof(fails) - 64; j++)
		off += (size_t)snprintf(fails + off, sizeof(fails) - off,
		    "%s%s:%d", j ? "," : "", f[j].what, f[j].n);
	printf("STREAMS n=%d ok=%d failed=%d wall_us=%.0f first_n=%d "
	    "first_p50_us=%.0f first_p99_us=%.0f conn_p50_us=%.0f "
	    "conn_p99_us=%.0f full_p50_us=%.0f full_p99_us=%.0f fails=%s\n",
	    cn, ok, cn - ok, wall, nfirst, pct(first, nfirst, 50),
	    pct(first, nfirst, 99), pct(conn, nconn, 50),
	    pct(conn, nconn, 99), pct(full, nfull, 50), pct(full, nfull, 99),
	    nf ? fails : "-");
	for (i = 0; i < nsample; i++)
		printf("SAMPLE http_%d %s\n", csample[i].status,
		    csample[i].text);
	free(first);
	free(conn);
	free(full);
}

static int
client_main(int argc, char *argv[])
{
	struct epoll_event evs[MAXEV];
	struct cconn *c;
	FILE *f;
	char *body;
	size_t blen, hl;
	double t0, open_us, timeout_us, now, lastscan = 0, next;
	int port, started = 0, n, i, wait_ms, maxfd;

	if (argc != 11) {
		fprintf(stderr, "usage: streams client HOST PORT PATH BODYFILE "
		    "TOKEN N OPEN_MS TIMEOUT_S MARKER\n");
		return 1;
	}
	port = atoi(argv[3]);
	cn = atoi(argv[7]);
	open_us = atoi(argv[8]) * 1000.0;
	timeout_us = atoi(argv[9]) * 1e6;
	cmarker = argv[10];
	cmarkerlen = strlen(cmarker);
	if (cn < 1 || cn > MAXSTREAMS || cmarkerlen == 0 || port < 1) {
		fprintf(stderr, "streams: bad N, PORT or MARKER\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((maxfd = raise_nofile()) == -1) {
		perror("streams: RLIMIT_NOFILE");
		return 1;
	}
	if (maxfd < cn + 16)
		fprintf(stderr, "streams: warning: %d descriptors for %d "
		    "streams\n", maxfd, cn);
	memset(&csa, 0, sizeof(csa));
	csa.sin_family = AF_INET;
	csa.sin_port = htons(port);
	if (inet_pton(AF_INET, argv[2], &csa.sin_addr) != 1) {
		fprintf(stderr, "streams: %s: not an IPv4 address\n", argv[2]);
		return 1;
	}
	if ((f = fopen(argv[5], "rb")) == NULL) {
		perror(argv[5]);
		return 1;
	}
	body = xrealloc(NULL, 1 << 20);
	blen = fread(body, 1, 1 << 20, f);
	fclose(f);
	creq = xrealloc(NULL, blen + 4096);
	hl = (size_t)snprintf(creq, 4096, "POST %s HTTP/1.1\r\n"
	    "Host: %s:%d\r\nUser-Agent: bench-streams\r\n"
	    "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
	    "%s%s%sContent-Length: %zu\r\n\r\n", argv[4], argv[2], port,
	    strcmp(argv[6], "-") ? "Authorization: Bearer " : "",
	    strcmp(argv[6], "-") ? argv[6] : "",
	    strcmp(argv[6], "-") ? "\r\n" : "", blen);
	memcpy(creq + hl, body, blen);
	creqlen = hl + blen;
	free(body);
	cc = calloc((size_t)cn, sizeof(*cc));
	if (cc == NULL || (cep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("streams");
		return 1;
	}
	for (i = 0; i < cn; i++)
		cc[i].fd = -1;

	t0 = now_us();
	while (started < cn || cactive > 0) {
		now = now_us();
		while (started < cn && now >= t0 + started * open_us / cn)
			c_start(&cc[started++]);
		wait_ms = 100;
		if (started < cn) {
			next = t0 + started * open_us / cn - now_us();
			wait_ms = next <= 0 ? 0 : (int)(next / 1000) + 1;
		}
		n = epoll_wait(cep, evs, MAXEV, wait_ms);
		if (n == -1 && errno != EINTR) {
			perror("streams: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			c = &cc[evs[i].data.u32];
			switch (c->state) {
			case C_CONNECTING:
				c_connected(c);
				break;
			case C_SENDING:
				c_send(c);
				break;
			case C_HEAD:
			case C_BODY:
				c_read(c);
				break;
			default:
				break;
			}
		}
		now = now_us();
		if (now - lastscan > 100000) {
			lastscan = now;
			for (i = 0; i < started; i++)
				if (cc[i].state != C_DONE &&
				    now - cc[i].t_start > timeout_us)
					c_end(&cc[i], RES_TIMEOUT, 0);
		}
	}
	c_report(t0);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc >= 2 && strcmp(argv[1], "up") == 0)
		return up_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return client_main(argc, argv);
	fprintf(stderr, "usage: streams up EVENTS GAP_MS\n"
	    "       streams client HOST PORT PATH BODYFILE TOKEN N OPEN_MS "
	    "TIMEOUT_S MARKER\n");
	return 1;
}
