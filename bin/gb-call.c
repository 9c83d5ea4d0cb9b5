/*
 * gb-call - one request to the Gemini API, retried across the keys in
 * gb-keys state. The body (POST) comes from stdin, the answer goes to
 * stdout; with -S FD the final status is written to FD, as one line of
 * JSON, before the first byte of the answer. The retry loop and libcurl
 * live in lib/upstream.c; this file is options, output and exit status.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "gb.h"
#include "io.h"
#include "keys.h"
#include "pipeline.h"
#include "upstream.h"

/* Where the final answer goes. */
#ifndef GB_BUILTIN
struct out {
	int			status_fd;	/* -S FD, or -1 */
	int			werrno;		/* a failed write to stdout */
	int			serrno;		/* a failed write to -S FD */
	enum gb_loglevel	level;
};

static int
usage(void)
{
	fprintf(stderr, "usage: gb-call [-s] [-S fd] method path\n");
	return GB_EXIT_USAGE;
}

static int
out_head(void *arg, const struct gb_upstream_head *h)
{
	struct out *o = arg;
	json_t *j;
	char *line = NULL;
	int rc = -1;

	if (o->status_fd < 0)
		return 0;
	j = json_pack("{s:i,s:s?,s:i}", "status", h->status, "key",
	    h->key[0] != '\0' ? h->key : NULL, "attempts", h->attempts);
	if (j != NULL && h->status == 429 && h->retry_after >= 0)
		json_object_set_new(j, "retry_after",
		    json_integer(h->retry_after));
	if (j != NULL && (line = json_dumps(j, JSON_COMPACT)) != NULL) {
		size_t len = strlen(line);

		line[len] = '\n';
		rc = gb_io_writeall(o->status_fd, line, len + 1);
		if (rc == -1)
			o->serrno = errno;
		line[len] = '\0';
	} else
		o->serrno = ENOMEM;
	free(line);
	json_decref(j);
	close(o->status_fd);
	o->status_fd = -1;
	return rc;
}

/* Body bytes straight to fd 1: no stdio, so nothing waits in a buffer. */
static int
out_body(void *arg, const void *p, size_t n)
{
	struct out *o = arg;

	if (gb_io_writeall(STDOUT_FILENO, p, n) == -1) {
		o->werrno = errno;
		return -1;
	}
	return 0;
}

/* Has the reader of stdout gone away (pipe: POLLERR; socket: POLLHUP)? */
static int
out_alive(void *arg)
{
	struct out *o = arg;
	struct pollfd p;

	p.fd = STDOUT_FILENO;
	p.events = 0;
	p.revents = 0;
	if (poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
		o->werrno = EPIPE;
		return 0;
	}
	return 1;
}

static void
out_log(void *arg, enum gb_upstream_loglevel l, const char *msg)
{
	struct out *o = arg;

	if ((int)l <= (int)o->level)
		fprintf(stderr, "gb-call: %s\n", msg);
}

/* A path below BASE_URL: printable ASCII, no spaces. */
static int
valid_path(const char *p)
{
	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/*
 * Does the query carry a key= parameter? Keys travel only in the header;
 * a key in the path (a client's token passed on by mistake) would end up
 * in Google's logs.
 */
static int
has_key_param(const char *p)
{
	if ((p = strchr(p, '?')) == NULL)
		return 0;
	while (p != NULL) {
		p++;
		if (strncmp(p, "key=", 4) == 0 || strcmp(p, "key") == 0 ||
		    strncmp(p, "key&", 4) == 0)
			return 1;
		p = strchr(p, '&');
	}
	return 0;
}

/*
 * What a long-lived caller keeps from one request to the next: the
 * configuration, the key state and the libcurl handle with its
 * connection cache. NULL for a one-shot run.
 */
struct kept {
	int			 ready;
	struct gb_config	 cfg;
	struct gb_upstream	*u;
	struct gb_keys		*ks;
};

/* One gb-call run: the standalone main, and one request of a worker. */
static int
call(int argc, char *argv[], struct kept *kp)
{
	struct gb_config cfg0, *cfgp = &cfg0;
	struct gb_upstream_sink sink;
	struct gb_upstream_head head;
	struct gb_upstream_req req;
	struct gb_upstream *u = NULL;
	struct gb_keys *ks = NULL;
	struct gb_buf body;
	struct gb_err err;
	struct out o;
	const char *errstr;
	long long n;
	int ch, rc;

	/* a vanished reader shows up as EPIPE from write(2) instead */
	signal(SIGPIPE, SIG_IGN);
	memset(&o, 0, sizeof(o));
	memset(&req, 0, sizeof(req));
	o.status_fd = -1;
	while ((ch = getopt(argc, argv, "sS:")) != -1) {
		switch (ch) {
		case 's':
			req.stream = 1;
			break;
		case 'S':
			if (gb_strtonum(optarg, 0, INT_MAX, &n,
			    &errstr) == -1) {
				fprintf(stderr, "gb-call: -S %s: %s\n", optarg,
				    errstr);
				return GB_EXIT_USAGE;
			}
			o.status_fd = (int)n;
			break;
		default:
			return usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		return usage();
	if (strcmp(argv[0], "GET") != 0 && strcmp(argv[0], "POST") != 0) {
		fprintf(stderr, "gb-call: %s: method must be GET or POST\n",
		    argv[0]);
		return GB_EXIT_USAGE;
	}
	if (!valid_path(argv[1])) {
		fprintf(stderr, "gb-call: invalid path\n");
		return GB_EXIT_USAGE;
	}
	if (has_key_param(argv[1])) {
		fprintf(stderr, "gb-call: the path must not carry a key "
		    "parameter\n");
		return GB_EXIT_USAGE;
	}
	if (o.status_fd >= 0) {
		if (o.status_fd <= STDOUT_FILENO) {
			fprintf(stderr, "gb-call: -S %d: not a status fd\n",
			    o.status_fd);
			return GB_EXIT_USAGE;
		}
		if (fcntl(o.status_fd, F_SETFD, FD_CLOEXEC) == -1) {
			fprintf(stderr, "gb-call: -S %d: %s\n", o.status_fd,
			    strerror(errno));
			return GB_EXIT_USAGE;
		}
	}
	req.method = argv[0];
	req.path = argv[1];

	gb_err_clear(&err);
	if (kp != NULL)
		cfgp = &kp->cfg;
	if ((kp == NULL || !kp->ready) &&
	    gb_config_load(cfgp, GB_CONFIG_NEED_KEYS, &err) == -1) {
		fprintf(stderr, "gb-call: %s\n", err.msg);
		return err.code;
	}
	if (kp != NULL && kp->ready) {
		u = kp->u;
		ks = kp->ks;
	}
	o.level = cfgp->log_level;

	gb_buf_init(&body, (size_t)cfgp->max_body);
	if (strcmp(req.method, "POST") == 0) {
		if (gb_io_readall(STDIN_FILENO, &body) == -1) {
			if (errno == E2BIG) {
				fprintf(stderr, "gb-call: request body larger "
				    "than MAX_BODY (%lld bytes)\n",
				    cfgp->max_body);
				rc = GB_EXIT_USAGE;
			} else {
				fprintf(stderr, "gb-call: read error: %s\n",
				    strerror(errno));
				rc = GB_EXIT_TEMP;
			}
			goto out;
		}
		req.body = body.data;
		req.bodylen = body.len;
	}

	if ((ks == NULL && (ks = gb_keys_open(cfgp, &err)) == NULL) ||
	    (u == NULL && (u = gb_upstream_new(cfgp, &err)) == NULL)) {
		fprintf(stderr, "gb-call: %s\n", err.msg);
		rc = err.code;
		goto out;
	}
	sink.head = out_head;
	sink.body = out_body;
	sink.alive = out_alive;
	sink.log = out_log;
	sink.arg = &o;
	rc = gb_upstream_call(u, ks, &req, &sink, &head, &err);
	if (gb_keys_notice(ks) != NULL)
		fprintf(stderr, "gb-call: %s\n", gb_keys_notice(ks));
	if (o.serrno != 0) {
		fprintf(stderr, "gb-call: status fd: write error: %s\n",
		    strerror(o.serrno));
		rc = GB_EXIT_TEMP;
	} else if (o.werrno != 0) {
		fprintf(stderr, "gb-call: write error: %s\n",
		    strerror(o.werrno));
		rc = GB_EXIT_TEMP;
	} else if (rc != GB_EXIT_OK &&
	    (rc != GB_EXIT_NO || o.level >= GB_LOG_WARN))
		fprintf(stderr, "gb-call: %s\n", err.msg);

out:
	if (o.status_fd >= 0)
		close(o.status_fd);
	if (close(STDOUT_FILENO) == -1 && errno != EBADF && rc == GB_EXIT_OK) {
		fprintf(stderr, "gb-call: write error: %s\n", strerror(errno));
		rc = GB_EXIT_TEMP;
	}
	gb_buf_free(&body);
	if (kp != NULL && u != NULL && ks != NULL) {
		/* kept for the next request */
		kp->u = u;
		kp->ks = ks;
		kp->ready = 1;
		return rc;
	}
	gb_upstream_free(u);
	if (ks != NULL)
		gb_keys_close(ks);
	if (kp == NULL || !kp->ready)
		gb_config_free(cfgp);
	return rc;
}
#endif /* !GB_BUILTIN */

/*
 * Behind gb-serve (lib/pipeline.h): a long-lived gb-call worker per
 * connection process keeps the libcurl handle, so its connections to
 * the upstream are reused from one request to the next (new upstream
 * connections per request: 1 -> 0), and a request costs no exec, no
 * libcurl or OpenSSL set-up.
 *
 * gb-serve is built with the stub below in place of gb-call's main (it
 * links no libcurl, so its forks stay cheap). The launcher forks the
 * stub per request as before, with the same descriptors and arguments.
 * The stub hands its descriptors 0-7 and its argv to the worker over a
 * SOCK_SEQPACKET socket (SCM_RIGHTS), and once the worker has said
 * "taken", closes its copies and waits for the exit status, which it
 * exits with: for gb-serve nothing changes (a pid to wait for and to
 * kill, pipes that close when the call is done). The worker of
 * connection process P listens on the abstract socket
 * "gb-call.<uid>.<P>"; the first stub that finds none binds it and
 * starts the worker, "gb-call -W" (exec'd once, through a child that
 * exits at once: in a session of its own, outside every request's
 * process tree and group). The worker exits when P exits (it checks
 * P's pid and start time at least once a second and before each
 * request) and
 * serves one request at a time with the same code as the standalone
 * tool. Both ends check that the other runs as the same user. When
 * anything goes wrong before "taken", the stub execs the standalone
 * gb-call instead: the worker is an optimisation, never a requirement.
 */

#define WK_ARGS		4096	/* bytes of argv handed to the worker */
#define WK_FDS		8	/* descriptors 0-7 are handed over */
#define WK_HIGH		64	/* the worker's own descriptors live above */

static int
wk_same_user(int s)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	    cr.uid == getuid();
}

/*
 * The start time of process pid (field 22 of /proc/PID/stat, clock
 * ticks since boot), or 0: with its pid it names one process for good.
 */
static unsigned long long
wk_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name may hold anything: count from its last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (field = 2; field < 22 && p != NULL; field++)
		if ((p = strchr(p + 1, ' ')) != NULL)
			p++;
	return p != NULL ? strtoull(p, NULL, 10) : 0;
}

/* A descriptor moved to base or above, the original closed. */
static int
wk_move(int fd, int base)
{
	int h;

	if (fd < 0 || (h = fcntl(fd, F_DUPFD_CLOEXEC, base)) == -1)
		return -1;
	close(fd);
	return h;
}

#ifndef GB_BUILTIN
/* Point 0-2 at /dev/null and close 3-7 between requests. */
static void
wk_idle_fds(void)
{
	int i, null;

	for (i = 0; i < WK_FDS; i++)
		close(i);
	if ((null = open("/dev/null", O_RDWR)) == 0) {
		dup2(0, 1);
		dup2(0, 2);
	} else if (null != -1)
		close(null);
}

/*
 * Serve one connected stub: take its descriptors and argv, say "t"
 * (taken), run the call, answer its exit status; closes c.
 */
static void
wk_serve(int c, pid_t conn, unsigned long long start, struct kept *kp)
{
	char buf[WK_ARGS + 1], *av[WK_ARGS / 2 + 1];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * WK_FDS)];
	} cm;
	struct msghdr msg;
	struct cmsghdr *h;
	struct iovec iov;
	int fds[WK_FDS], got[WK_FDS], nfd = 0, i, argc, rc, null;
	unsigned mask;
	ssize_t n;
	size_t off;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = buf;
	iov.iov_len = WK_ARGS;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do
		n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	for (h = CMSG_FIRSTHDR(&msg); n > 0 && h != NULL;
	    h = CMSG_NXTHDR(&msg, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
			nfd = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (nfd > WK_FDS)
				nfd = WK_FDS;
			memcpy(got, CMSG_DATA(h), sizeof(int) * (size_t)nfd);
		}
	for (i = 0; i < nfd; i++)
		got[i] = wk_move(got[i], WK_HIGH + 2);
	if (n < 5 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    !wk_same_user(c))
		goto done;
	/* the message: a mask of the descriptors sent, then argv */
	memcpy(&mask, buf, sizeof(mask));
	buf[n] = '\0';
	for (argc = 0, off = sizeof(mask); off < (size_t)n &&
	    argc < (int)GB_NELEM(av) - 1; off += strlen(buf + off) + 1)
		av[argc++] = buf + off;
	av[argc] = NULL;
	for (i = 0; i < WK_FDS; i++)
		fds[i] = -1;
	for (i = 0, rc = 0; i < WK_FDS; i++)
		if (mask & (1U << i))
			fds[i] = rc < nfd ? got[rc++] : -1;
	if (rc != nfd || argc == 0)
		goto done;
	/*
	 * Take the request only while the connection process lives (its
	 * pid could otherwise be reused by another one, whose stub would
	 * find this worker); the stub runs the call itself without "taken".
	 */
	if (wk_start_time(conn) != start) {
		close(c);
		_exit(0);
	}
	if (send(c, "t", 1, MSG_NOSIGNAL) != 1)
		goto done;
	/*
	 * Descriptors 0-7 not handed over hold /dev/null during the
	 * request: what the call opens to keep (the key state's, libcurl's
	 * connections) lands above them, where wk_idle_fds leaves it.
	 */
	null = wk_move(open("/dev/null", O_RDWR | O_CLOEXEC), WK_HIGH + 2);
	for (i = 0; i < WK_FDS; i++)
		if (dup2(fds[i] >= 0 ? fds[i] : null, i) == -1) {
			close(null);
			goto done;
		}
	close(null);
	for (i = 0; i < nfd; i++) {
		close(got[i]);
		got[i] = -1;
	}
	nfd = 0;
	optind = 0;
	rc = call(argc, av, kp);
	fflush(stderr);
	wk_idle_fds();
	(void)send(c, &rc, sizeof(rc), MSG_NOSIGNAL);
done:
	for (i = 0; i < nfd; i++)
		if (got[i] >= 0)
			close(got[i]);
	wk_idle_fds();
	close(c);
}

/*
 * The worker (gb-call -W PID START, started by a stub): the listening
 * socket on descriptor 3; it serves while process PID, started at
 * START, lives. Never returns.
 */
static void
wk_run(int ls, pid_t conn, unsigned long long start)
{
	struct kept kp;
	struct pollfd p;
	int c, i, r;

	memset(&kp, 0, sizeof(kp));
	(void)prctl(PR_SET_NAME, (unsigned long)"gb-call-worker", 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	/* the listening socket at a fixed place, up high */
	ls = wk_move(ls, WK_HIGH + 1);
	if (ls == -1 || dup2(ls, WK_HIGH) == -1)
		_exit(0);
	ls = WK_HIGH;
	/* nothing of the request or of gb-serve stays open here */
	for (i = 0; i < WK_HIGH; i++)
		close(i);
	if (close_range(WK_HIGH + 1, ~0U, 0) == -1)
		for (i = WK_HIGH + 1; i < 1024; i++)
			close(i);
	wk_idle_fds();
	for (;;) {
		p.fd = ls;
		p.events = POLLIN;
		if ((r = poll(&p, 1, 1000)) == -1 && errno != EINTR)
			break;
		if (r <= 0) {
			if (wk_start_time(conn) != start)
				break;	/* the connection process is gone */
			continue;
		}
		if ((c = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		c = wk_move(c, WK_HIGH + 1);
		if (c >= 0)
			wk_serve(c, conn, start, &kp);
	}
	_exit(0);
}

int
main(int argc, char *argv[])
{
	const char *e1, *e2;
	long long pid, start;

	if (argc == 4 && strcmp(argv[1], "-W") == 0) {
		if (gb_strtonum(argv[2], 1, INT_MAX, &pid, &e1) == -1 ||
		    gb_strtonum(argv[3], 1, LLONG_MAX, &start, &e2) == -1) {
			fprintf(stderr, "gb-call: -W: bad process\n");
			return GB_EXIT_USAGE;
		}
		wk_run(3, (pid_t)pid, (unsigned long long)start);
	}
	return call(argc, argv, NULL);
}
#else /* GB_BUILTIN */
int	gb_builtin_gb_call(int, char *[]);

static socklen_t
wk_addr(struct sockaddr_un *sa, pid_t conn)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* abstract: sun_path[0] is NUL, the name is not NUL-terminated */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
	    "gb-call.%u.%ld", (unsigned)getuid(), (long)conn);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/*
 * Where the standalone gb-call is: the launcher's tool directory (the
 * built-ins are on only when GB_LIBEXECDIR is not set, lib/pipeline.h).
 */
static int
wk_path(char *path, size_t size)
{
	struct gb_pipeline pl;
	struct gb_err err;

	if (gb_pipeline_init(&pl, &err) == -1 ||
	    snprintf(path, size, "%s/gb-call", pl.dir) >= (int)size)
		return -1;
	return 0;
}

/* No worker to hand the request to: be the standalone gb-call. */
static int
wk_exec(char *argv[])
{
	char path[PATH_MAX + 16];

	if (wk_path(path, sizeof(path)) == 0)
		execv(path, argv);
	fprintf(stderr, "gb-call: %s: %s\n", path, strerror(errno));
	return GB_EXIT_TEMP;
}

/*
 * In the grandchild of a stub: become the worker, "gb-call -W PID START"
 * for the connection process, with the listening socket on 3 and
 * nothing else open. Never returns.
 */
static void
wk_start(int ls, pid_t conn)
{
	char path[PATH_MAX + 16], pid[24], start[24];
	char *argv[] = { "gb-call", "-W", pid, start, NULL };
	unsigned long long t;
	int i;

	snprintf(pid, sizeof(pid), "%ld", (long)conn);
	if ((t = wk_start_time(conn)) == 0 ||
	    wk_path(path, sizeof(path)) == -1 ||
	    (ls = wk_move(ls, WK_HIGH)) == -1 || dup2(ls, 3) == -1)
		_exit(0);
	snprintf(start, sizeof(start), "%llu", t);
	for (i = 0; i < 3; i++)
		close(i);
	if (open("/dev/null", O_RDWR) != 0 || dup2(0, 1) == -1 ||
	    dup2(0, 2) == -1)
		_exit(0);
	for (i = 4; i < WK_FDS; i++)
		close(i);
	if (close_range(WK_FDS, ~0U, 0) == -1)
		for (i = WK_FDS; i < 1024; i++)
			close(i);
	execv(path, argv);
	_exit(0);
}

/*
 * The stub: hand the request to the worker, or run it here. Returns the
 * exit status.
 */
int
gb_builtin_gb_call(int argc, char *argv[])
{
	char buf[WK_ARGS];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * WK_FDS)];
	} cm;
	struct sockaddr_un sa;
	struct msghdr msg;
	struct cmsghdr *h;
	struct iovec iov;
	socklen_t salen;
	size_t len, off;
	unsigned mask = 0;
	int fds[WK_FDS], nfd = 0, i, s, ls, rc;
	pid_t conn = getppid(), pid;
	ssize_t n;

	off = sizeof(mask);
	for (i = 0; i < argc; i++) {
		len = strlen(argv[i]) + 1;
		if (off + len > sizeof(buf))
			return wk_exec(argv);
		memcpy(buf + off, argv[i], len);
		off += len;
	}
	for (i = 0; i < WK_FDS; i++)
		if (fcntl(i, F_GETFD) != -1) {
			mask |= 1U << i;
			fds[nfd++] = i;
		}
	memcpy(buf, &mask, sizeof(mask));
	salen = wk_addr(&sa, conn);
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		return wk_exec(argv);
	if (connect(s, (struct sockaddr *)&sa, salen) == -1) {
		/* no worker yet: bind its socket, then start it */
		if ((ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0))
		    == -1 || bind(ls, (struct sockaddr *)&sa, salen) == -1 ||
		    listen(ls, 64) == -1) {
			if (ls != -1)
				close(ls);
			close(s);
			return wk_exec(argv);
		}
		/*
		 * Started through a child that exits at once, so the worker
		 * belongs to no request's process tree or group: a request
		 * that is killed never takes it along.
		 */
		if ((pid = fork()) == 0) {
			(void)setsid();
			if (fork() == 0)
				wk_start(ls, conn);
			_exit(0);
		}
		close(ls);
		if (pid > 0)
			while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
				;
		if (pid == -1 ||
		    connect(s, (struct sockaddr *)&sa, salen) == -1) {
			close(s);
			return wk_exec(argv);
		}
	}
	if (!wk_same_user(s)) {
		close(s);
		return wk_exec(argv);
	}
	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = buf;
	iov.iov_len = off;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
	h = CMSG_FIRSTHDR(&msg);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
	memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)nfd);
	do
		n = sendmsg(s, &msg, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)off) {
		close(s);
		return wk_exec(argv);
	}
	do
		n = recv(s, buf, 1, 0);
	while (n == -1 && errno == EINTR);
	if (n != 1 || buf[0] != 't') {
		close(s);
		return wk_exec(argv);
	}
	/* the worker holds the only copies now: pipes close when it is done */
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	do
		n = recv(s, &rc, sizeof(rc), 0);
	while (n == -1 && errno == EINTR);
	close(s);
	if (n != (ssize_t)sizeof(rc))
		return GB_EXIT_TEMP;	/* the worker died mid-request */
	return rc;
}

int
main(int argc, char *argv[])
{
	return gb_builtin_gb_call(argc, argv);
}
#endif
