/*
 * host.c - a tool's long-lived host and the requester's side of its
 * queue (host.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host.h"
#include "job.h"

struct host {
	int			 q;
	const struct gb_host_ops *ops;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 total;		/* threads */
	int			 idle;		/* threads waiting for a job */
	int			 closed;	/* the queue ended */
};

struct jobmsg {
	char	 buf[GB_HOST_ARGS + 1];
	char	*av[GB_HOST_ARGS / 2 + 1];
	int	 argc;
	int	 reply;
	int	 fd[GB_JOB_FDS];
};

/*
 * recvmsg(2) returned 0: the end of the queue, or an empty message (a
 * SOCK_SEQPACKET socket can carry one; no requester sends it).
 */
static int
queue_ended(int q)
{
	struct pollfd p;

	p.fd = q;
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

/*
 * Take one job: 1, 0 when the queue has ended, -1 for a message that is
 * not a job (its descriptors closed).
 */
static int
take(int q, struct jobmsg *m)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) *
				    (GB_JOB_FDS + 1))];
	} cm;
	struct msghdr msg;
	struct cmsghdr *h;
	struct iovec iov;
	int got[GB_JOB_FDS + 1], ngot = 0, i, k, n;
	uint32_t mask;
	ssize_t r;
	size_t off;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = m->buf;
	iov.iov_len = GB_HOST_ARGS;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do
		r = recvmsg(q, &msg, MSG_CMSG_CLOEXEC);
	while (r == -1 && errno == EINTR);
	if (r == -1 && errno != ENOMEM && errno != ENOBUFS)
		return 0;
	if (r == 0 && queue_ended(q))
		return 0;
	for (h = CMSG_FIRSTHDR(&msg); r > 0 && h != NULL;
	    h = CMSG_NXTHDR(&msg, h))
		if (h->cmsg_level == SOL_SOCKET &&
		    h->cmsg_type == SCM_RIGHTS) {
			n = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (i = 0; i < n; i++) {
				memcpy(&k, CMSG_DATA(h) + i * sizeof(int),
				    sizeof(int));
				if (ngot < (int)GB_NELEM(got))
					got[ngot++] = k;
				else
					close(k);
			}
		}
	m->reply = -1;
	for (i = 0; i < GB_JOB_FDS; i++)
		m->fd[i] = -1;
	if (r < (ssize_t)sizeof(mask) + 2 || ngot == 0 ||
	    (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0)
		goto bad;
	memcpy(&mask, m->buf, sizeof(mask));
	m->buf[r] = '\0';
	m->argc = 0;
	for (off = sizeof(mask); off < (size_t)r &&
	    m->argc < (int)GB_NELEM(m->av) - 1;
	    off += strlen(m->buf + off) + 1)
		m->av[m->argc++] = m->buf + off;
	m->av[m->argc] = NULL;
	m->reply = got[0];
	for (i = 0, k = 1; i < GB_JOB_FDS; i++)
		if (mask & (1U << i)) {
			if (k == ngot)
				goto bad;
			m->fd[i] = got[k++];
		}
	if (k != ngot || m->argc == 0)
		goto bad;
	return 1;
bad:
	for (i = 0; i < ngot; i++)
		close(got[i]);
	m->reply = -1;
	for (i = 0; i < GB_JOB_FDS; i++)
		m->fd[i] = -1;
	return -1;
}

static void
run(struct host *h, struct jobmsg *m)
{
	int i, rc;

	/* what was not handed over reads and writes nothing */
	for (i = 0; i <= 2; i++)
		if (m->fd[i] == -1)
			m->fd[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
	rc = gb_job_run(h->ops->run, m->argc, m->av, m->fd, GB_JOB_FDS);
	for (i = 0; i < GB_JOB_FDS; i++)
		if (m->fd[i] != -1)
			close(m->fd[i]);
	(void)send(m->reply, &rc, sizeof(rc), MSG_NOSIGNAL);
	close(m->reply);
}

static void	*worker(void *);

/* With h->mu held: one more idle thread. */
static void
grow(struct host *h)
{
	pthread_attr_t a;
	pthread_t t;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, worker, h) == 0) {
		h->total++;
		h->idle++;
	}
	pthread_attr_destroy(&a);
}

static void *
worker(void *arg)
{
	struct host *h = arg;
	struct jobmsg *m;
	sigset_t all;
	int r = 0;

	/* signals are the main thread's business */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if ((m = malloc(sizeof(*m))) == NULL)
		goto out;
	for (;;) {
		r = take(h->q, m);
		pthread_mutex_lock(&h->mu);
		if (r == 0) {
			h->closed = 1;
			pthread_mutex_unlock(&h->mu);
			break;
		}
		h->idle--;
		if (h->idle == 0 && h->total < GB_HOST_THREADS)
			grow(h);
		pthread_mutex_unlock(&h->mu);
		if (r == 1)
			run(h, m);
		pthread_mutex_lock(&h->mu);
		if (h->idle >= GB_HOST_SPARE) {
			pthread_mutex_unlock(&h->mu);
			break;
		}
		h->idle++;
		pthread_mutex_unlock(&h->mu);
	}
	free(m);
out:
	if (h->ops->thread_end != NULL)
		h->ops->thread_end();
	pthread_mutex_lock(&h->mu);
	h->total--;
	if (r == 0)
		h->idle--;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

void
gb_host_serve(int q, const struct gb_host_ops *ops)
{
	static struct host h;

	/*
	 * One malloc arena per thread (glibc's default, up to 8 per CPU)
	 * keeps each arena's free pages resident: two are enough for jobs
	 * that allocate little and briefly (summed RSS at c=32, issue 7)
	 */
	mallopt(M_ARENA_MAX, GB_HOST_ARENAS);
	memset(&h, 0, sizeof(h));
	h.q = q;
	h.ops = ops;
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_lock(&h.mu);
	grow(&h);
	if (h.total == 0) {
		fprintf(stderr, "host: no thread\n");
		exit(GB_EXIT_TEMP);
	}
	while (h.total > 0)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	exit(GB_EXIT_OK);
}

int
gb_host_main(int argc, char *argv[], const char *prog,
    const struct gb_host_ops *ops)
{
	char name[16];
	struct gb_err err;

	if (argc != 2 || strcmp(argv[1], "-W") != 0)
		return -1;
	/* ps(1) shows gb-convert-host, gb-sse-host, gb-call-host */
	snprintf(name, sizeof(name), "%s-host", prog);
	(void)prctl(PR_SET_NAME, (unsigned long)(uintptr_t)name, 0, 0, 0);
	if (fcntl(3, F_GETFD) == -1) {
		fprintf(stderr, "%s: -W: no queue on descriptor 3\n", prog);
		return GB_EXIT_USAGE;
	}
	gb_err_clear(&err);
	if (ops->start != NULL && ops->start(&err) == -1) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return err.code;
	}
	gb_host_serve(3, ops);
}

int
gb_host_submit(int q, const char *const *argv, const int *fds, size_t nfds,
    struct gb_err *err)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) *
				    (GB_JOB_FDS + 1))];
	} cm;
	char buf[GB_HOST_ARGS];
	int send_fds[GB_JOB_FDS + 1], rp[2], n = 0, e;
	struct msghdr msg;
	struct cmsghdr *h;
	struct iovec iov;
	uint32_t mask = 0;
	size_t off = sizeof(mask), l, i;
	ssize_t r;

	if (nfds > GB_JOB_FDS)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "host: too many descriptors");
	for (i = 0; argv[i] != NULL; i++) {
		l = strlen(argv[i]) + 1;
		if (off + l > sizeof(buf))
			return gb_err_set(err, GB_EXIT_TEMP, 500,
			    "host: arguments too long");
		memcpy(buf + off, argv[i], l);
		off += l;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rp) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "socketpair: %s",
		    strerror(errno));
	send_fds[n++] = rp[1];
	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0) {
			mask |= 1U << i;
			send_fds[n++] = fds[i];
		}
	memcpy(buf, &mask, sizeof(mask));
	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = buf;
	iov.iov_len = off;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
	h = CMSG_FIRSTHDR(&msg);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(h), send_fds, sizeof(int) * (size_t)n);
	do
		r = sendmsg(q, &msg, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	e = errno;
	close(rp[1]);
	if (r != (ssize_t)off) {
		close(rp[0]);
		if (r == -1 && (e == EPIPE || e == ECONNRESET ||
		    e == ECONNREFUSED || e == ENOTCONN))
			return gb_err_set(err, GB_EXIT_NO, 500,
			    "host: gone");
		return gb_err_set(err, GB_EXIT_TEMP, 500, "host: %s",
		    r == -1 ? strerror(e) : "short send");
	}
	return rp[0];
}

int
gb_host_status(int rfd)
{
	ssize_t r;
	int st;

	do
		r = recv(rfd, &st, sizeof(st), 0);
	while (r == -1 && errno == EINTR);
	return r == (ssize_t)sizeof(st) ? st : -1;
}
