/*
 * gb-serve - the HTTP/1.1 front end of gemini-balance.
 *
 * Launch modes, decided at start:
 *   -l ADDRESS          bind and listen itself, accept loop
 *   LISTEN_FDS, fd 3 listening (systemd Accept=no)   accept loop
 *   LISTEN_FDS, fd 3 connected (systemd Accept=yes)  serve that connection
 *   stdin is a socket (inetd, StandardInput=socket)  serve stdin/stdout
 * The accept loop serves each connection in a thread of its own (at
 * most -c at once; more get 503), tells systemd READY=1, re-reads the
 * configuration on SIGHUP and, on SIGTERM, stops accepting and lets the
 * connections finish their requests for up to STOP_GRACE seconds.
 * Signals reach the loop (the main thread) through a self-pipe; the
 * connection threads block them. A stop reaches every connection thread
 * through the stop pipe: its write end is closed, so its read end, which
 * every wait for the next request polls, reports a hang-up to all of
 * them at once and for good. A thread that ends writes a 0 byte to the
 * self-pipe so the loop can count and, when stopping, exit.
 *
 * The configuration is reference counted: a connection keeps the one it
 * started with; a reload replaces the current one, and the old one is
 * freed when its last connection ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gb.h"
#include "host.h"
#include "http.h"
#include "mask.h"
#include "pipeline.h"
#include "serve.h"

#define STOP_GRACE	30	/* seconds in-flight requests get on SIGTERM */
#define SSE_KEEPALIVE	15	/* seconds of silence before ": keep-alive" */

/*
 * A connection thread's stack. Its buffers are on the heap and every
 * tool runs in a process of its own (exec'd), but the thread parses
 * JSON itself (an upstream error body on the Gemini routes), and
 * Jansson's recursion through a document at its depth limit (2048)
 * takes about 600 KiB. The sanitizers' frames are larger.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CONN_STACK	(8 * 1024 * 1024)
#else
#define CONN_STACK	(1024 * 1024)
#endif

/* A configuration, shared by the connections that started with it. */
struct cfgref {
	struct gb_config cfg;
	int		 refs;		/* under lock */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfgref *current;	/* under lock; replaced by reload */
static int nconn;		/* connection threads, under lock */
static int maxchild = 256;
static int idle_s = 60;
static int head_s = 30;
static volatile sig_atomic_t stopping;	/* the main thread's own */
static int sigpipe_fd[2] = { -1, -1 };	/* signals, thread ends -> loop */
static int stop_fd[2] = { -1, -1 };	/* write end closed: stop */

static void
usage(void)
{
	fprintf(stderr, "usage: gb-serve [-n] [-c children] [-i idle] "
	    "[-l address] [-t timeout]\n");
	exit(GB_EXIT_USAGE);
}

/* ---- logging ---- */

static void
stamp(char *out, size_t sz)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
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

/*
 * One debug line, written at once: connections share stderr with each
 * other and with the tools, so it is put together in memory first.
 */
static void
debug_body(void *arg, const char *label, const char *p, size_t n)
{
	const struct gb_config *cfg = arg;
	char *line = NULL;
	size_t len = 0;
	FILE *f;

	if (p == NULL)
		p = "", n = 0;
	if ((f = open_memstream(&line, &len)) != NULL) {
		fprintf(f, "gb-serve: debug %s: ", label);
		put_masked(cfg, f, p, n);
		fputc('\n', f);
		if (fclose(f) == 0)
			fwrite(line, 1, len, stderr);
		free(line);
	} else {
		flockfile(stderr);
		fprintf(stderr, "gb-serve: debug %s: ", label);
		put_masked(cfg, stderr, p, n);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
	fflush(stderr);
}

static void
log_request(const struct gb_serve *s, const struct gb_http_req *req,
    long long ms)
{
	char ts[32];

	if (s->cfg->log_level < GB_LOG_INFO)
		return;
	stamp(ts, sizeof(ts));
	fprintf(stderr, "gb-serve: %s %s %s %d %lldms model=%s key=%s "
	    "bytes=%lld\n", ts, req->method != NULL ? req->method : "-",
	    s->path[0] != '\0' ? s->path : "-", req->status, ms,
	    s->model[0] != '\0' ? s->model : "-",
	    s->key[0] != '\0' ? s->key : "-", req->sent);
	fflush(stderr);
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the configuration ---- */

static struct cfgref *
cfg_new(const struct gb_config *c)
{
	struct cfgref *cr;

	if ((cr = malloc(sizeof(*cr))) == NULL)
		return NULL;
	cr->cfg = *c;
	cr->refs = 1;
	return cr;
}

static void
cfg_unref(struct cfgref *cr)
{
	int last;

	pthread_mutex_lock(&lock);
	last = --cr->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last) {
		gb_config_free(&cr->cfg);
		free(cr);
	}
}

/* ---- one connection ---- */

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
set_sig(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/*
 * Close a connection without losing the last answer: closing a socket
 * with unread input makes the kernel send RST, which can destroy data
 * still in flight. So send FIN first and read what the client still
 * sends, for a short while (a lingering close).
 */
static void
linger_close(int rfd, int wfd)
{
	struct pollfd p;
	char buf[4096];
	long long end = mono_ms() + 1000;
	size_t total = 0;
	ssize_t r;

	shutdown(wfd, SHUT_WR);
	while (total < 256 * 1024 && mono_ms() < end) {
		p.fd = rfd;
		p.events = POLLIN;
		if (poll(&p, 1, (int)(end - mono_ms())) <= 0)
			break;
		if ((r = read(rfd, buf, sizeof(buf))) <= 0)
			break;
		total += (size_t)r;
	}
	if (rfd != wfd)
		close(wfd);
	close(rfd);
}

/*
 * Serve requests on one connection with configuration cr until the
 * client closes, the idle timeout passes, an error makes it unusable, or
 * a stop is asked (between requests): by SIGTERM (stopping, when stopfd
 * is -1) or by the stop pipe's read end stopfd turning readable. Closes
 * rfd and wfd. Returns the exit status.
 */
static int
serve_conn(int rfd, int wfd, struct cfgref *cr, int stopfd)
{
	struct gb_http_conn conn;
	struct gb_http_req req;
	struct gb_serve s;
	struct timeval tv;
	long long t0;
	int one = 1, rc, st;

	setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tv.tv_sec = idle_s;
	tv.tv_usec = 0;
	setsockopt(wfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	gb_http_conn_init(&conn, rfd, wfd);
	conn.idle_ms = idle_s * 1000;
	conn.head_ms = head_s * 1000;
	conn.max_body = cr->cfg.max_body;
	conn.stop = stopfd < 0 ? &stopping : NULL;
	conn.stopfd = stopfd;
	memset(&s, 0, sizeof(s));
	s.cfg = &cr->cfg;
	s.conn = &conn;
	s.sse_keepalive = SSE_KEEPALIVE;
	s.debug = debug_body;
	s.arg = &cr->cfg;

	for (;;) {
		rc = gb_http_read_head(&conn, &req, &st);
		if (rc == 0)
			break;
		t0 = mono_ms();
		if (rc == -1) {
			if (st != 0) {
				s.path[0] = s.model[0] = s.key[0] = '\0';
				gb_serve_refuse(&s, &req, st);
				log_request(&s, &req, mono_ms() - t0);
			}
			gb_http_req_free(&req);
			break;
		}
		rc = gb_serve_request(&s, &req);
		log_request(&s, &req, mono_ms() - t0);
		gb_http_req_free(&req);
		if (rc == -1 || gb_http_stopped(&conn))
			break;
	}
	gb_http_conn_free(&conn);
	linger_close(rfd, wfd);
	return GB_EXIT_OK;
}

/* ---- the accept loop ---- */

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	ssize_t w;

	/* a full pipe means a wake-up is pending anyway */
	w = write(sigpipe_fd[1], &c, 1);
	(void)w;
	errno = saved;
}

static int
bind_listen(const char *addr)
{
	struct addrinfo hints, *res, *ai;
	char host[256], *port;
	int fd = -1, one = 1, e;

	if (strlen(addr) >= sizeof(host))
		goto bad;
	strcpy(host, addr);
	if ((port = strrchr(host, ':')) == NULL)
		goto bad;
	*port++ = '\0';
	if (host[0] == '[') {
		if (port[-2] != ']')
			goto bad;
		port[-2] = '\0';
		memmove(host, host + 1, strlen(host + 1) + 1);
	}
	if (*port == '\0')
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints,
	    &res)) != 0) {
		fprintf(stderr, "gb-serve: %s: %s\n", addr, gai_strerror(e));
		exit(GB_EXIT_USAGE);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "gb-serve: %s: %s\n", addr, strerror(errno));
		exit(GB_EXIT_TEMP);
	}
	return fd;
bad:
	fprintf(stderr, "gb-serve: %s: expected host:port\n", addr);
	exit(GB_EXIT_USAGE);
}

static int
count(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = nconn;
	pthread_mutex_unlock(&lock);
	return n;
}

static void
status(void)
{
	int n = count();

	sd_notifyf(0, "STATUS=%s; %d connection%s", stopping ?
	    "stopping" : "serving", n, n == 1 ? "" : "s");
}

/*
 * Load the configuration anew; connections from now on get it, those
 * open keep theirs (the old one is freed with the last of them).
 */
static void
reload(void)
{
	struct gb_config nc;
	struct gb_err err;
	struct cfgref *cr, *old;

	sd_notify(0, "RELOADING=1");
	if (gb_config_load(&nc, GB_CONFIG_NEED_KEYS | GB_CONFIG_NEED_TOKENS,
	    &err) == -1) {
		fprintf(stderr, "gb-serve: reload: %s; keeping the old "
		    "configuration\n", err.msg);
	} else if ((cr = cfg_new(&nc)) == NULL) {
		gb_config_free(&nc);
		fprintf(stderr, "gb-serve: reload: %s; keeping the old "
		    "configuration\n", strerror(errno));
	} else {
		pthread_mutex_lock(&lock);
		old = current;
		current = cr;
		pthread_mutex_unlock(&lock);
		cfg_unref(old);
		/* the tools' hosts read it too: new ones for new requests */
		gb_hosts_stop();
		fprintf(stderr, "gb-serve: configuration reloaded\n");
	}
	fflush(stderr);
	sd_notify(0, "READY=1");
}

/*
 * Over the connection cap: a short 503, best effort, and close. The
 * request already received is read off first (without waiting, at most
 * 64 KiB): closing a socket with unread input sends a reset, which the
 * client may see instead of the answer's clean end.
 */
static void
busy(int fd)
{
	char junk[4096];
	size_t drained = 0;
	ssize_t got;
	static const char body[] = "{\"error\":{\"message\":"
	    "\"server busy, try again\",\"type\":\"server_error\","
	    "\"param\":null,\"code\":null}}";
	char msg[512];
	int n;
	ssize_t w;

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

struct conn {
	int		 fd;
	struct cfgref	*cr;
};

/* A connection thread: serve, then tell the loop. */
static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	unsigned char end = 0;
	ssize_t w;

	serve_conn(c->fd, c->fd, c->cr, stop_fd[0]);
	cfg_unref(c->cr);
	free(c);
	pthread_mutex_lock(&lock);
	nconn--;
	pthread_mutex_unlock(&lock);
	/* a full pipe means a wake-up is pending anyway */
	w = write(sigpipe_fd[1], &end, 1);
	(void)w;
	return NULL;
}

/* Start a thread for connection fd, or answer 503 and close it. */
static void
start_conn(int fd, const pthread_attr_t *attr, const sigset_t *block)
{
	struct conn *c;
	pthread_t t;
	sigset_t old;
	int e;

	pthread_mutex_lock(&lock);
	if (nconn >= maxchild) {
		pthread_mutex_unlock(&lock);
		busy(fd);
		return;
	}
	nconn++;
	pthread_mutex_unlock(&lock);
	if ((c = malloc(sizeof(*c))) == NULL) {
		e = errno;
		goto fail;
	}
	c->fd = fd;
	pthread_mutex_lock(&lock);
	c->cr = current;
	c->cr->refs++;
	pthread_mutex_unlock(&lock);
	/* the thread starts with the signals blocked: they are the loop's */
	pthread_sigmask(SIG_BLOCK, block, &old);
	e = pthread_create(&t, attr, conn_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e == 0)
		return;
	cfg_unref(c->cr);
	free(c);
fail:
	fprintf(stderr, "gb-serve: thread: %s\n", strerror(e));
	fflush(stderr);
	pthread_mutex_lock(&lock);
	nconn--;
	pthread_mutex_unlock(&lock);
	busy(fd);
}

static int
accept_loop(int lfd)
{
	struct pollfd p[2];
	pthread_attr_t attr;
	sigset_t block;
	long long deadline = 0;
	unsigned char sig[64];
	ssize_t r;
	int cfd, n, i;

	if (pipe2(sigpipe_fd, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pipe2(stop_fd, O_CLOEXEC) == -1) {
		fprintf(stderr, "gb-serve: pipe: %s\n", strerror(errno));
		return GB_EXIT_TEMP;
	}
	if ((n = pthread_attr_init(&attr)) != 0 ||
	    (n = pthread_attr_setdetachstate(&attr,
	    PTHREAD_CREATE_DETACHED)) != 0 ||
	    (n = pthread_attr_setstacksize(&attr, CONN_STACK)) != 0) {
		fprintf(stderr, "gb-serve: thread: %s\n", strerror(n));
		return GB_EXIT_TEMP;
	}
	/* as in the hosts (lib/host.c): few arenas, few idle pages */
	mallopt(M_ARENA_MAX, GB_HOST_ARENAS);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	fcntl(lfd, F_SETFD, FD_CLOEXEC);
	set_sig(SIGTERM, on_signal, SA_RESTART);
	set_sig(SIGINT, on_signal, SA_RESTART);
	set_sig(SIGHUP, on_signal, SA_RESTART);
	/* the tools' hosts, before the first request needs them */
	gb_hosts_start();
	sd_notify(0, "READY=1");
	status();

	for (;;) {
		p[0].fd = sigpipe_fd[0];
		p[0].events = POLLIN;
		p[1].fd = lfd;
		p[1].events = POLLIN;
		n = poll(p, lfd >= 0 ? 2 : 1, stopping ? 1000 : -1);
		if (n == -1 && errno != EINTR) {
			fprintf(stderr, "gb-serve: poll: %s\n",
			    strerror(errno));
			return GB_EXIT_TEMP;
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			while ((r = read(sigpipe_fd[0], sig, sizeof(sig))) > 0)
				for (i = 0; i < r; i++) {
					if ((sig[i] == SIGTERM ||
					    sig[i] == SIGINT) && !stopping) {
						stopping = 1;
						deadline = mono_ms() +
						    STOP_GRACE * 1000;
						sd_notify(0, "STOPPING=1");
						if (lfd >= 0)
							close(lfd);
						lfd = -1;
						/* wakes every idle connection */
						close(stop_fd[1]);
						stop_fd[1] = -1;
					} else if (sig[i] == SIGHUP &&
					    !stopping)
						reload();
				}
			status();
		}
		if (stopping) {
			if (count() == 0)
				break;
			if (mono_ms() > deadline) {
				/*
				 * The threads still hold the configuration:
				 * end the process as it is. Each request's
				 * tools die with it (PR_SET_PDEATHSIG).
				 */
				fprintf(stderr, "gb-serve: %d connection%s "
				    "still busy after %d s; exiting\n",
				    count(), count() == 1 ? "" : "s",
				    STOP_GRACE);
				fflush(stderr);
				_exit(GB_EXIT_OK);
			}
			continue;
		}
		if (n <= 0 || !(p[1].revents & POLLIN))
			continue;
		while ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			start_conn(cfd, &attr, &block);
			status();
		}
	}
	/* the pipes stay open: an ending thread may still write */
	pthread_attr_destroy(&attr);
	return GB_EXIT_OK;
}

/*
 * One connection in this process (systemd Accept=yes, inetd): a signal
 * asks it to stop, a reload is for the accepting side only.
 */
static int
serve_one(int rfd, int wfd)
{
	set_sig(SIGTERM, on_stop, 0);
	set_sig(SIGINT, on_stop, 0);
	set_sig(SIGHUP, SIG_IGN, 0);
	return serve_conn(rfd, wfd, current, -1);
}

int
main(int argc, char *argv[])
{
	const char *addr = NULL, *errstr, *base;
	const struct gb_tool *t;
	struct gb_config cfg;
	struct gb_err err;
	long long v;
	int ch, n, fd, rc, check = 0;

	/*
	 * A multi-call binary: run under a built-in tool's name, it is that
	 * tool (lib/pipeline.c runs a tool as a process this way when the
	 * tool's host cannot take it).
	 */
	base = strrchr(argv[0], '/');
	base = base != NULL ? base + 1 : argv[0];
	for (t = gb_tools; t->name != NULL; t++)
		if (strcmp(base, t->name) == 0) {
			(void)prctl(PR_SET_NAME, (unsigned long)(uintptr_t)
			    t->name, 0, 0, 0);
			return t->builtin != NULL ? t->builtin(argc, argv) :
			    t->main(argc, argv);
		}

	while ((ch = getopt(argc, argv, "c:i:l:nt:")) != -1) {
		switch (ch) {
		case 'c':
			if (gb_strtonum(optarg, 1, 65536, &v, &errstr) == -1) {
				fprintf(stderr, "gb-serve: -c %s: %s\n",
				    optarg, errstr);
				return GB_EXIT_USAGE;
			}
			maxchild = (int)v;
			break;
		case 'i':
			if (gb_strtonum(optarg, 1, 86400, &v, &errstr) == -1) {
				fprintf(stderr, "gb-serve: -i %s: %s\n",
				    optarg, errstr);
				return GB_EXIT_USAGE;
			}
			idle_s = (int)v;
			break;
		case 'l':
			addr = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 't':
			if (gb_strtonum(optarg, 1, 86400, &v, &errstr) == -1) {
				fprintf(stderr, "gb-serve: -t %s: %s\n",
				    optarg, errstr);
				return GB_EXIT_USAGE;
			}
			head_s = (int)v;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	/*
	 * Set once for every connection: a client gone is an error, not a
	 * signal; children stay waitable for lib/pipeline.c (SIGCHLD may
	 * have been inherited as ignored).
	 */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	if (gb_config_load(&cfg, GB_CONFIG_NEED_KEYS | GB_CONFIG_NEED_TOKENS,
	    &err) == -1) {
		fprintf(stderr, "gb-serve: %s\n", err.msg);
		return GB_EXIT_USAGE;
	}
	if (check) {
		gb_config_free(&cfg);
		return GB_EXIT_OK;
	}
	if ((current = cfg_new(&cfg)) == NULL) {
		fprintf(stderr, "gb-serve: %s\n", strerror(errno));
		gb_config_free(&cfg);
		return GB_EXIT_TEMP;
	}

	if (addr != NULL)
		rc = accept_loop(bind_listen(addr));
	else if ((n = sd_listen_fds(1)) < 0) {
		fprintf(stderr, "gb-serve: sd_listen_fds: %s\n",
		    strerror(-n));
		rc = GB_EXIT_TEMP;
	} else if (n > 0) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
			rc = accept_loop(fd);
		else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 0) > 0)
			rc = serve_one(fd, fd);
		else {
			fprintf(stderr, "gb-serve: fd %d: not a stream "
			    "socket\n", fd);
			rc = GB_EXIT_USAGE;
		}
	} else if (sd_is_socket(STDIN_FILENO, AF_UNSPEC, SOCK_STREAM, 0) > 0)
		rc = serve_one(STDIN_FILENO, STDOUT_FILENO);
	else {
		fprintf(stderr, "gb-serve: no socket to serve: give -l "
		    "address, or start under systemd socket activation or "
		    "inetd\n");
		rc = GB_EXIT_USAGE;
	}
	cfg_unref(current);
	return rc;
}
