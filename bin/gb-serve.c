/*
 * gb-serve - the HTTP/1.1 front end of gemini-balance.
 *
 * Launch modes, decided at start:
 *   -l ADDRESS          bind and listen itself
 *   LISTEN_FDS, fd 3 listening (systemd Accept=no)
 *   LISTEN_FDS, fd 3 connected (systemd Accept=yes)  that connection
 *   stdin is a socket (inetd, StandardInput=socket)  stdin/stdout
 * Every mode runs one sd-event loop (bin/gb-serve/conn.c): connections,
 * the tools' hosts and their jobs (hosts.c), signals and timers are its
 * sources, and no connection or request holds a thread. On a listening
 * socket it serves up to -c connections (more get 503), tells systemd
 * READY=1, re-reads the configuration on SIGHUP (new connections get
 * the new one, new hosts are started for it) and, on SIGTERM, stops
 * accepting and lets the requests in flight finish for up to
 * STOP_GRACE seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "gb.h"
#include "redis.h"
#include "gb-serve/serve.h"

#define STOP_GRACE	30	/* seconds in-flight requests get on SIGTERM */
#define SSE_KEEPALIVE	15	/* seconds of silence before ": keep-alive" */
#define LISTEN_BACKLOG	4096
#define CONN_FDS	3	/* descriptors a connection may hold here */
#define FDS_KEPT	64	/* for the hosts' queues, logs, the spare */

static void
usage(void)
{
	fprintf(stderr, "usage: gb-serve [-n] [-c connections] [-i idle] "
	    "[-l address] [-t timeout]\n");
	exit(GB_EXIT_USAGE);
}

static int
bind_listen(const char *addr)
{
	struct addrinfo hints, *res, *ai;
	char host[256], *port;
	const char *es;
	long long pv;
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
	/* getaddrinfo would take 80000 as 80000 mod 65536 */
	if (gb_strtonum(port, 0, 65535, &pv, &es) == -1) {
		fprintf(stderr, "%sgb-serve: %s: port %s is %s (allowed 0 to "
		    "65535)\n", gb_log_prio(GB_LOG_ERROR), addr, port, es);
		exit(GB_EXIT_USAGE);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints,
	    &res)) != 0) {
		fprintf(stderr, "%sgb-serve: %s: %s\n",
		    gb_log_prio(GB_LOG_ERROR), addr, gai_strerror(e));
		exit(GB_EXIT_USAGE);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "%sgb-serve: %s: %s\n",
		    gb_log_prio(GB_LOG_ERROR), addr, strerror(errno));
		exit(GB_EXIT_TEMP);
	}
	return fd;
bad:
	fprintf(stderr, "%sgb-serve: %s: expected host:port\n",
	    gb_log_prio(GB_LOG_ERROR), addr);
	exit(GB_EXIT_USAGE);
}

/*
 * The soft descriptor limit up to the hard one (a stream holds a few
 * descriptors here and in each host); returns the limit now in force.
 */
static long
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ?
	    INT_MAX : (long)rl.rlim_cur;
}

extern char **environ;

/*
 * Secrets given in the environment (containers, make run) leave it: the
 * values move to a sealed memfd named by GB_SECRETS_FD, where the
 * configuration reads them (config.h), and their bytes in the original
 * environment block, which /proc/PID/environ shows whatever unsetenv()
 * does, are overwritten. The tools gb-serve starts get an environment
 * built without them (procs.c). 0, or -1 with errno.
 */
static int
move_secrets(void)
{
	const char *names[GB_NSECRETS] = GB_SECRET_NAMES;
	const char *values[GB_NSECRETS];
	char num[16], *eq;
	size_t i, k, l;
	int fd, any = 0, e;

	for (k = 0; k < GB_NSECRETS; k++) {
		values[k] = getenv(names[k]);
		if (values[k] != NULL && *values[k] == '\0')
			values[k] = NULL;
		any |= values[k] != NULL;
	}
	if (!any)
		return 0;
	if ((fd = gb_env_memfd(names, values, GB_NSECRETS)) == -1)
		return -1;
	/* clear of the standard descriptors and of systemd's (3 on) */
	if (fd < 3) {
		e = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		if ((fd = e) == -1)
			return -1;
	}
	snprintf(num, sizeof(num), "%d", fd);
	for (i = 0; environ[i] != NULL; i++)
		for (k = 0; k < GB_NSECRETS; k++) {
			l = strlen(names[k]);
			if (strncmp(environ[i], names[k], l) == 0 &&
			    environ[i][l] == '=') {
				eq = environ[i] + l + 1;
				explicit_bzero(eq, strlen(eq));
			}
		}
	for (k = 0; k < GB_NSECRETS; k++)
		unsetenv(names[k]);
	return setenv(GB_SECRETS_FD, num, 1);
}

/* The directory of the running program: where its tools are. */
static int
tool_dir(char *out, size_t sz)
{
#ifdef GB_LIBEXECDIR
	if (snprintf(out, sz, "%s", GB_LIBEXECDIR) >= (int)sz)
		return -1;
	return 0;
#else
	ssize_t n;
	char *slash;

	if ((n = readlink("/proc/self/exe", out, sz - 1)) <= 0)
		return -1;
	out[n] = '\0';
	if ((slash = strrchr(out, '/')) == NULL)
		return -1;
	*slash = '\0';
	return 0;
#endif
}

/*
 * Where the key state lives, as the start line names it: the file
 * backend and its path (another backend names itself here).
 */
static void
state_backend(const struct gb_config *c, char *out, size_t sz)
{
	struct gb_redis_url u;
	struct gb_err err;
	char shown[GB_REDIS_HOST_MAX + 64];

	gb_err_clear(&err);
	if (c->key_state != NULL &&
	    gb_redis_url_parse(c->key_state, &u, &err) == 0) {
		snprintf(out, sz, "redis %s", gb_redis_url_show(&u, shown,
		    sizeof(shown)));
		return;
	}
	snprintf(out, sz, "file %s/keys.state", c->state_dir != NULL ?
	    c->state_dir : ".");
}

/* The address a socket listens on, as host:port ([v6]:port). */
static void
sock_name(int fd, char *out, size_t sz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv,
	    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, sz, "fd %d", fd);
		return;
	}
	snprintf(out, sz, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	    host, serv);
}

/* One line at start: what serves, where, with how many keys, where. */
static void
log_start(const struct srv *srv, int fd, const char *how)
{
	const struct gb_config *c = &srv->cfg->c;
	char where[NI_MAXHOST + NI_MAXSERV + 8], state[PATH_MAX + 32];

	if (c->log_level < GB_LOG_INFO)
		return;
	sock_name(fd, where, sizeof(where));
	state_backend(c, state, sizeof(state));
	fprintf(stderr, "%sgb-serve: gemini-balance %s serving on %s (%s), "
	    "%zu key%s, key state: %s\n", gb_log_prio(GB_LOG_INFO),
	    GB_VERSION, where, how, c->api_keys.n,
	    c->api_keys.n == 1 ? "" : "s", state);
	fflush(stderr);
}

static struct cfg *
cfg_load(void)
{
	struct gb_err err;
	struct cfg *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		fprintf(stderr, "%sgb-serve: out of memory\n",
		    gb_log_prio(GB_LOG_ERROR));
		return NULL;
	}
	if (gb_config_load(&c->c, GB_CONFIG_NEED_KEYS | GB_CONFIG_NEED_TOKENS,
	    &err) == -1) {
		fprintf(stderr, "%sgb-serve: %s\n",
		    gb_log_prio(GB_LOG_ERROR), err.msg);
		free(c);
		return NULL;
	}
	c->refs = 1;
	return c;
}

/*
 * Load the configuration anew; connections from now on get it, those
 * open keep theirs (the old one goes with the last of them); the hosts
 * are let go and new ones, which read it too, take the new jobs.
 */
static int
on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	struct srv *srv = arg;
	struct cfg *c;

	(void)s;
	(void)si;
	if (srv->stopping || srv->single)
		return 0;
	sd_notify(0, "RELOADING=1");
	if ((c = cfg_load()) == NULL)
		fprintf(stderr, "%sgb-serve: reload failed; keeping the old "
		    "configuration\n", gb_log_prio(GB_LOG_ERROR));
	else {
		cfg_unref(srv->cfg);
		srv->cfg = c;
		hosts_retire(srv);
		fprintf(stderr, "%sgb-serve: configuration reloaded\n",
		    gb_log_prio(GB_LOG_INFO));
	}
	fflush(stderr);
	sd_notify(0, "READY=1");
	return 0;
}

static int
on_grace(sd_event_source *s, uint64_t usec, void *arg)
{
	struct srv *srv = arg;

	(void)s;
	(void)usec;
	fprintf(stderr, "%sgb-serve: %d connection%s still busy after %d s; "
	    "exiting\n",
	gb_log_prio(GB_LOG_WARN), srv->nconn, srv->nconn == 1 ? "" : "s",
	    STOP_GRACE);
	fflush(stderr);
	sd_event_exit(srv->ev, 0);
	return 0;
}

static int
on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	struct srv *srv = arg;

	(void)s;
	(void)si;
	if (srv->stopping)
		return 0;
	srv->stopping = 1;
	sd_notify(0, "STOPPING=1");
	if (srv->lsrc != NULL) {
		srv->lsrc = sd_event_source_disable_unref(srv->lsrc);
		close(srv->lfd);
		srv->lfd = -1;
	}
	if (srv->mlsrc != NULL) {
		srv->mlsrc = sd_event_source_disable_unref(srv->mlsrc);
		close(srv->mlfd);
		srv->mlfd = -1;
	}
	conn_stop_idle(srv);
	srv_maybe_exit(srv);
	if (srv->nconn > 0)
		sd_event_add_time_relative(srv->ev, NULL, CLOCK_MONOTONIC,
		    (uint64_t)STOP_GRACE * 1000000, 0, on_grace, srv);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *addr = NULL, *errstr;
	struct srv srv;
	sigset_t mask;
	long long v;
	long nofile;
	int ch, n, fd, rc, check = 0, maxconn = 0;

	memset(&srv, 0, sizeof(srv));
	srv.idle_s = 60;
	srv.head_s = 10;
	srv.sse_k = SSE_KEEPALIVE;
	srv.lfd = srv.spare = srv.mlfd = -1;
	while ((ch = getopt(argc, argv, "c:i:l:nt:")) != -1) {
		switch (ch) {
		case 'c':
			if (gb_strtonum(optarg, 1, 1000000, &v, &errstr) ==
			    -1) {
				fprintf(stderr, "%sgb-serve: -c %s: %s\n",
				    gb_log_prio(GB_LOG_ERROR),
				    optarg, errstr);
				return GB_EXIT_USAGE;
			}
			maxconn = (int)v;
			break;
		case 'i':
			if (gb_strtonum(optarg, 1, 86400, &v, &errstr) == -1) {
				fprintf(stderr, "%sgb-serve: -i %s: %s\n",
				    gb_log_prio(GB_LOG_ERROR),
				    optarg, errstr);
				return GB_EXIT_USAGE;
			}
			srv.idle_s = (int)v;
			break;
		case 'l':
			addr = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 't':
			if (gb_strtonum(optarg, 1, 86400, &v, &errstr) == -1) {
				fprintf(stderr, "%sgb-serve: -t %s: %s\n",
				    gb_log_prio(GB_LOG_ERROR),
				    optarg, errstr);
				return GB_EXIT_USAGE;
			}
			srv.head_s = (int)v;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	/* a client gone is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	if (move_secrets() == -1) {
		fprintf(stderr, "%sgb-serve: cannot move the secrets out of "
		    "the environment: %s\n", gb_log_prio(GB_LOG_ERROR),
		    strerror(errno));
		return GB_EXIT_TEMP;
	}
	if ((srv.cfg = cfg_load()) == NULL)
		return GB_EXIT_USAGE;
	if (check) {
		cfg_unref(srv.cfg);
		return GB_EXIT_OK;
	}
	if (tool_dir(srv.tooldir, sizeof(srv.tooldir)) == -1) {
		fprintf(stderr, "%sgb-serve: cannot tell where its tools are\n",
		    gb_log_prio(GB_LOG_ERROR));
		cfg_unref(srv.cfg);
		return GB_EXIT_TEMP;
	}
	/*
	 * The default cap: what the descriptors allow, each connection
	 * counted with the most it holds at once here.
	 */
	nofile = raise_nofile();
	srv.maxconn = maxconn > 0 ? maxconn :
	    (int)(nofile > FDS_KEPT + CONN_FDS ? (nofile - FDS_KEPT) /
	    CONN_FDS : 1);
	mallopt(M_ARENA_MAX, 1);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (sd_event_new(&srv.ev) < 0) {
		fprintf(stderr, "%sgb-serve: cannot make an event loop\n",
		    gb_log_prio(GB_LOG_ERROR));
		rc = GB_EXIT_TEMP;
		goto out;
	}
	sd_event_add_signal(srv.ev, NULL, SIGTERM, on_term, &srv);
	sd_event_add_signal(srv.ev, NULL, SIGINT, on_term, &srv);
	metrics_open(&srv);

	if (addr != NULL)
		fd = bind_listen(addr);
	else if ((n = sd_listen_fds(1)) < 0) {
		fprintf(stderr, "%sgb-serve: sd_listen_fds: %s\n",
		    gb_log_prio(GB_LOG_ERROR),
		    strerror(-n));
		rc = GB_EXIT_TEMP;
		goto out;
	} else if (n > 0) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
			;
		else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 0) > 0) {
			srv.single = 1;
			rc = conn_serve_fd(&srv, fd, fd);
			goto loop;
		} else {
			fprintf(stderr, "%sgb-serve: fd %d: not a stream "
			    "socket\n", gb_log_prio(GB_LOG_ERROR), fd);
			rc = GB_EXIT_USAGE;
			goto out;
		}
	} else if (sd_is_socket(STDIN_FILENO, AF_UNSPEC, SOCK_STREAM, 0) > 0) {
		srv.single = 1;
		rc = conn_serve_fd(&srv, STDIN_FILENO, STDOUT_FILENO);
		goto loop;
	} else {
		fprintf(stderr, "%sgb-serve: no socket to serve: give -l "
		    "address, or start under systemd socket activation or "
		    "inetd\n", gb_log_prio(GB_LOG_ERROR));
		rc = GB_EXIT_USAGE;
		goto out;
	}
	sd_event_add_signal(srv.ev, NULL, SIGHUP, on_hup, &srv);
	if (conn_listen(&srv, fd) == -1) {
		fprintf(stderr, "%sgb-serve: cannot watch the listening "
		    "socket\n", gb_log_prio(GB_LOG_ERROR));
		rc = GB_EXIT_TEMP;
		goto out;
	}
	/* /metrics without a credential, on an address of its own */
	if (srv.cfg->c.metrics_listen != NULL &&
	    conn_listen_metrics(&srv, bind_listen(srv.cfg->c.metrics_listen)) ==
	    -1) {
		fprintf(stderr, "gb-serve: cannot watch the METRICS_LISTEN "
		    "socket\n");
		rc = GB_EXIT_TEMP;
		goto out;
	}
	/* the tools' hosts, before the first request needs them */
	hosts_start(&srv);
	log_start(&srv, fd, addr != NULL ? "-l" : "socket activation");
	sd_notify(0, "READY=1");
	sd_notifyf(0, "STATUS=serving; 0 connections");
	rc = 0;
loop:
	if (rc == -1) {
		fprintf(stderr, "%sgb-serve: cannot serve the connection\n",
		    gb_log_prio(GB_LOG_ERROR));
		rc = GB_EXIT_TEMP;
		goto out;
	}
	rc = sd_event_loop(srv.ev) < 0 ? GB_EXIT_TEMP : GB_EXIT_OK;
out:
	conn_free_all(&srv);
	hosts_free(&srv);
	metrics_close(&srv);
	cfg_unref(srv.cfg);
	sd_event_unref(srv.ev);
	return rc;
}
