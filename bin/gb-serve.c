/*
 * gb-serve - the HTTP/1.1 front end of gemini-balance.
 *
 * Launch modes, decided at start:
 *   -l ADDRESS          bind and listen itself, accept loop
 *   LISTEN_FDS, fd 3 listening (systemd Accept=no)   accept loop
 *   LISTEN_FDS, fd 3 connected (systemd Accept=yes)  serve that connection
 *   stdin is a socket (inetd, StandardInput=socket)  serve stdin/stdout
 * The accept loop forks one process per connection (at most -c at once;
 * more get 503), tells systemd READY=1, re-reads the configuration on
 * SIGHUP and, on SIGTERM, stops accepting and lets the connections
 * finish their requests for up to STOP_GRACE seconds. Signals reach the
 * loop through a self-pipe; children get default dispositions.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gb.h"
#include "http.h"
#include "mask.h"
#include "pipeline.h"
#include "serve.h"

#define STOP_GRACE	30	/* seconds in-flight requests get on SIGTERM */
#define SSE_KEEPALIVE	15	/* seconds of silence before ": keep-alive" */

static struct gb_config cfg;
static int maxchild = 256;
static int idle_s = 60;
static int head_s = 30;
static volatile sig_atomic_t stopping;
static int sigpipe_fd[2] = { -1, -1 };

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
put_masked(FILE *f, const char *p, size_t n)
{
	const struct gb_strlist *lists[2] = { &cfg.api_keys,
	    &cfg.allowed_tokens };
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
		if (!hit && cfg.auth_token != NULL &&
		    (sl = strlen(cfg.auth_token)) > 0 && sl <= n - i &&
		    memcmp(p + i, cfg.auth_token, sl) == 0) {
			fputs(gb_mask(cfg.auth_token, m, sizeof(m)), f);
			i += sl;
			hit = 1;
		}
		if (!hit)
			fputc(p[i++] == '\n' ? ' ' : p[i - 1], f);
	}
}

static void
debug_body(void *arg, const char *label, const char *p, size_t n)
{
	(void)arg;
	fprintf(stderr, "gb-serve: debug %s: ", label);
	put_masked(stderr, p != NULL ? p : "", p != NULL ? n : 0);
	fputc('\n', stderr);
	fflush(stderr);
}

static void
log_request(const struct gb_serve *s, const struct gb_http_req *req,
    long long ms)
{
	char ts[32];

	if (cfg.log_level < GB_LOG_INFO)
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
 * Serve requests on one connection until the client closes, the idle
 * timeout passes, an error makes it unusable, or SIGTERM asks to stop
 * (between requests). Returns the exit status.
 */
static int
serve_conn(int rfd, int wfd)
{
	struct gb_http_conn conn;
	struct gb_http_req req;
	struct gb_serve s;
	struct timeval tv;
	long long t0;
	int one = 1, rc, st;

	set_sig(SIGTERM, on_stop, 0);
	set_sig(SIGINT, on_stop, 0);
	set_sig(SIGHUP, SIG_IGN, 0);
	set_sig(SIGCHLD, SIG_DFL, 0);
	setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tv.tv_sec = idle_s;
	tv.tv_usec = 0;
	setsockopt(wfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	gb_http_conn_init(&conn, rfd, wfd);
	conn.idle_ms = idle_s * 1000;
	conn.head_ms = head_s * 1000;
	conn.max_body = cfg.max_body;
	conn.stop = &stopping;
	memset(&s, 0, sizeof(s));
	s.cfg = &cfg;
	s.conn = &conn;
	s.sse_keepalive = SSE_KEEPALIVE;
	s.debug = debug_body;

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
		if (rc == -1 || stopping)
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

struct kids {
	pid_t	*pid;
	int	 n;
};

static void
reap(struct kids *k)
{
	pid_t p;
	int st, i;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < k->n; i++)
			if (k->pid[i] == p) {
				k->pid[i] = k->pid[--k->n];
				break;
			}
}

static void
status(const struct kids *k)
{
	sd_notifyf(0, "STATUS=%s; %d connection%s", stopping ?
	    "stopping" : "serving", k->n, k->n == 1 ? "" : "s");
}

static void
reload(void)
{
	struct gb_config nc;
	struct gb_err err;

	sd_notify(0, "RELOADING=1");
	if (gb_config_load(&nc, GB_CONFIG_NEED_KEYS | GB_CONFIG_NEED_TOKENS,
	    &err) == -1) {
		fprintf(stderr, "gb-serve: reload: %s; keeping the old "
		    "configuration\n", err.msg);
	} else {
		gb_config_free(&cfg);
		cfg = nc;
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

static int
accept_loop(int lfd)
{
	struct pollfd p[2];
	struct kids k;
	long long deadline = 0;
	unsigned char sig[64];
	ssize_t r;
	pid_t pid;
	int cfd, n, i;

	if ((k.pid = calloc((size_t)maxchild, sizeof(pid_t))) == NULL) {
		fprintf(stderr, "gb-serve: %s\n", strerror(errno));
		return GB_EXIT_TEMP;
	}
	k.n = 0;
	if (pipe2(sigpipe_fd, O_CLOEXEC | O_NONBLOCK) == -1) {
		fprintf(stderr, "gb-serve: pipe: %s\n", strerror(errno));
		return GB_EXIT_TEMP;
	}
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	fcntl(lfd, F_SETFD, FD_CLOEXEC);
	set_sig(SIGTERM, on_signal, SA_RESTART);
	set_sig(SIGINT, on_signal, SA_RESTART);
	set_sig(SIGHUP, on_signal, SA_RESTART);
	set_sig(SIGCHLD, on_signal, SA_RESTART);
	/* the tools' hosts, before the first request needs them */
	gb_hosts_start();
	sd_notify(0, "READY=1");
	status(&k);

	for (;;) {
		p[0].fd = sigpipe_fd[0];
		p[0].events = POLLIN;
		p[1].fd = lfd;
		p[1].events = POLLIN;
		n = poll(p, lfd >= 0 ? 2 : 1, stopping ? 200 : -1);
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
						for (n = 0; n < k.n; n++)
							kill(k.pid[n],
							    SIGTERM);
					} else if (sig[i] == SIGHUP &&
					    !stopping)
						reload();
				}
			reap(&k);
			status(&k);
		}
		if (stopping) {
			reap(&k);
			if (k.n == 0)
				break;
			if (mono_ms() > deadline) {
				for (n = 0; n < k.n; n++)
					kill(k.pid[n], SIGKILL);
				deadline = mono_ms() + 60000;
			}
			continue;
		}
		if (n <= 0 || !(p[1].revents & POLLIN))
			continue;
		while ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			reap(&k);
			if (k.n >= maxchild) {
				busy(cfd);
				continue;
			}
			if ((pid = fork()) == -1) {
				fprintf(stderr, "gb-serve: fork: %s\n",
				    strerror(errno));
				busy(cfd);
				continue;
			}
			if (pid == 0) {
				close(lfd);
				close(sigpipe_fd[0]);
				close(sigpipe_fd[1]);
				_exit(serve_conn(cfd, cfd));
			}
			close(cfd);
			k.pid[k.n++] = pid;
			status(&k);
		}
	}
	free(k.pid);
	return GB_EXIT_OK;
}

int
main(int argc, char *argv[])
{
	const char *addr = NULL, *errstr;
	struct gb_err err;
	long long v;
	int ch, n, fd, check = 0;

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

	signal(SIGPIPE, SIG_IGN);
	if (gb_config_load(&cfg, GB_CONFIG_NEED_KEYS | GB_CONFIG_NEED_TOKENS,
	    &err) == -1) {
		fprintf(stderr, "gb-serve: %s\n", err.msg);
		return GB_EXIT_USAGE;
	}
	if (check) {
		gb_config_free(&cfg);
		return GB_EXIT_OK;
	}

	if (addr != NULL)
		return accept_loop(bind_listen(addr));
	if ((n = sd_listen_fds(1)) < 0) {
		fprintf(stderr, "gb-serve: sd_listen_fds: %s\n",
		    strerror(-n));
		return GB_EXIT_TEMP;
	}
	if (n > 0) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
			return accept_loop(fd);
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 0) > 0)
			return serve_conn(fd, fd);
		fprintf(stderr, "gb-serve: fd %d: not a stream socket\n", fd);
		return GB_EXIT_USAGE;
	}
	if (sd_is_socket(STDIN_FILENO, AF_UNSPEC, SOCK_STREAM, 0) > 0)
		return serve_conn(STDIN_FILENO, STDOUT_FILENO);
	fprintf(stderr, "gb-serve: no socket to serve: give -l address, or "
	    "start under systemd socket activation or inetd\n");
	return GB_EXIT_USAGE;
}
