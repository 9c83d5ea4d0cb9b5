/*
 * host.c - a tool's long-lived host (host.h): the loop, the queue, the
 * jobs' bookkeeping. What a job does is the tool's (host_*.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "host.h"
#include "io.h"

#define QUEUE_FD	3	/* where gb-serve puts the queue */
#define TAKE_BURST	64	/* jobs taken per wake-up, for fairness */
#define SLURP_READ	65536

struct gb_hostjob {
	struct gb_host		*h;
	struct gb_hostjob	*prev, *next;
	uint32_t		 id;
	int			 in, out;
	void			*data;
	/* gb_hostjob_slurp */
	sd_event_source		*slurp;
	struct gb_buf		*sbuf;
	void			(*sdone)(void *, int);
	void			*sarg;
};

struct gb_host {
	const struct gb_host_tool *tool;
	sd_event		*ev;
	sd_event_source		*qsrc;
	int			 q;		/* -1 once it ended */
	struct gb_msgq		 outq;
	struct gb_config	 cfg;
	struct gb_hostjob	*jobs;
	size_t			 njobs;
	int			 ended;		/* no more jobs will come */
	void			*data;
	void			(*say)(const char *);
};

void
gb_host_say(const struct gb_host *h, const char *msg)
{
	h->say(msg);
}

sd_event *
gb_host_event(const struct gb_host *h)
{
	return h->ev;
}

const struct gb_config *
gb_host_config(const struct gb_host *h)
{
	return &h->cfg;
}

void *
gb_host_data(const struct gb_host *h)
{
	return h->data;
}

void
gb_host_set_data(struct gb_host *h, void *p)
{
	h->data = p;
}

struct gb_host *
gb_hostjob_host(const struct gb_hostjob *j)
{
	return j->h;
}

int
gb_hostjob_in(const struct gb_hostjob *j)
{
	return j->in;
}

int
gb_hostjob_out(const struct gb_hostjob *j)
{
	return j->out;
}

void
gb_hostjob_close_out(struct gb_hostjob *j)
{
	if (j->out >= 0) {
		close(j->out);
		j->out = -1;
	}
}

void *
gb_hostjob_data(const struct gb_hostjob *j)
{
	return j->data;
}

void
gb_hostjob_set_data(struct gb_hostjob *j, void *p)
{
	j->data = p;
}

ssize_t
gb_host_write(int fd, const void *p, size_t n)
{
	ssize_t r;

	do
		r = write(fd, p, n);
	while (r == -1 && errno == EINTR);
	return r;
}

int
gb_host_put(int fd, struct gb_buf *pending, const void *p, size_t n)
{
	ssize_t w = 0;

	if (pending->len == 0) {
		w = gb_host_write(fd, p, n);
		if (w == -1 && errno != EAGAIN)
			return -1;
		if (w == -1)
			w = 0;
	}
	if ((size_t)w < n && gb_buf_append(pending, (const char *)p + w,
	    n - (size_t)w) == -1) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Watch the queue for writability only while replies wait. */
static void
want_out(struct gb_host *h)
{
	if (h->qsrc != NULL)
		sd_event_source_set_io_events(h->qsrc,
		    (h->ended ? 0 : EPOLLIN) |
		    (h->outq.n > 0 ? EPOLLOUT : 0));
}

static void
reply(struct gb_host *h, const struct gb_msg *m)
{
	if (h->q < 0)
		return;
	if (gb_msgq_send(&h->outq, h->q, m, gb_msg_len(m), NULL, 0) == -1)
		gb_msgq_clear(&h->outq);	/* gb-serve is gone */
	want_out(h);
}

void
gb_hostjob_head(struct gb_hostjob *j, const struct gb_msg_head *hd)
{
	struct gb_msg m;

	memset(&m, 0, GB_MSG_HDR + sizeof(m.u.head));
	m.type = GB_MSG_HEAD;
	m.id = j->id;
	m.u.head = *hd;
	m.u.head.key[sizeof(m.u.head.key) - 1] = '\0';
	reply(j->h, &m);
}

void
gb_hostjob_meta(struct gb_hostjob *j, const char *text)
{
	struct gb_msg m;
	size_t n = strlen(text);

	if (n > GB_PROTO_META - 1)
		n = GB_PROTO_META - 1;
	m.type = GB_MSG_META;
	m.id = j->id;
	memcpy(m.u.meta, text, n);
	m.u.meta[n] = '\0';
	reply(j->h, &m);
}

static void
maybe_exit(struct gb_host *h)
{
	if (h->ended && h->njobs == 0 && h->outq.n == 0)
		sd_event_exit(h->ev, 0);
}

void
gb_hostjob_done(struct gb_hostjob *j, int status, const char *msg)
{
	struct gb_host *h = j->h;
	struct gb_msg m;

	sd_event_source_disable_unref(j->slurp);
	if (j->in >= 0)
		close(j->in);
	if (j->out >= 0)
		close(j->out);
	memset(&m, 0, GB_MSG_HDR + sizeof(m.u.done));
	m.type = GB_MSG_DONE;
	m.id = j->id;
	m.u.done.exit = status;
	if (msg != NULL)
		snprintf(m.u.done.msg, sizeof(m.u.done.msg), "%s", msg);
	reply(h, &m);
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		h->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	h->njobs--;
	free(j);
	maybe_exit(h);
}

static int
on_slurp(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct gb_hostjob *j = arg;
	struct gb_buf *b = j->sbuf;
	size_t want;
	ssize_t r;
	int e = 0;

	(void)s;
	(void)ev;
	for (;;) {
		want = b->cap - b->len < SLURP_READ ? b->cap - b->len :
		    SLURP_READ;
		if (want == 0) {
			e = E2BIG;
			break;
		}
		if (gb_buf_reserve(b, want) == -1) {
			e = ENOMEM;
			break;
		}
		do
			r = read(fd, b->data + b->len, want);
		while (r == -1 && errno == EINTR);
		if (r == -1 && errno == EAGAIN)
			return 0;
		if (r == -1) {
			e = errno;
			break;
		}
		if (r == 0)
			break;
		b->len += (size_t)r;
		b->data[b->len] = '\0';
	}
	j->slurp = sd_event_source_disable_unref(j->slurp);
	/* all in: the descriptor is not needed for the rest of the job */
	close(j->in);
	j->in = -1;
	errno = e;
	j->sdone(j->sarg, e == 0 ? 0 : -1);
	return 0;
}

int
gb_hostjob_slurp(struct gb_hostjob *j, struct gb_buf *b,
    void (*done)(void *, int), void *arg)
{
	j->sbuf = b;
	j->sdone = done;
	j->sarg = arg;
	if (j->in < 0) {
		done(arg, 0);
		return 0;
	}
	return sd_event_add_io(j->h->ev, &j->slurp, j->in, EPOLLIN, on_slurp,
	    j) < 0 ? -1 : 0;
}

static void
take(struct gb_host *h, const struct gb_msg *m, int *fds)
{
	struct gb_hostjob *j;
	int k;

	if (m->type != GB_MSG_JOB) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		struct gb_msg r;

		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		memset(&r, 0, GB_MSG_HDR + sizeof(r.u.done));
		r.type = GB_MSG_DONE;
		r.id = m->id;
		r.u.done.exit = GB_EXIT_TEMP;
		snprintf(r.u.done.msg, sizeof(r.u.done.msg), "out of memory");
		reply(h, &r);
		return;
	}
	j->h = h;
	j->id = m->id;
	/* the descriptors came in order, those the job has */
	k = 0;
	j->in = (m->u.job.fds & GB_JOB_IN) != 0 ? fds[k++] : -1;
	j->out = (m->u.job.fds & GB_JOB_OUT) != 0 ? fds[k++] : -1;
	for (; k < GB_MSG_FDS; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	/* gb-serve makes them so already: one fcntl each */
	if (j->in >= 0)
		gb_io_nonblock(j->in);
	if (j->out >= 0)
		gb_io_nonblock(j->out);
	j->next = h->jobs;
	if (h->jobs != NULL)
		h->jobs->prev = j;
	h->jobs = j;
	h->njobs++;
	h->tool->start(j, &m->u.job);
}

static void
queue_end(struct gb_host *h)
{
	h->ended = 1;
	want_out(h);
	maybe_exit(h);
}

static int
on_queue(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct gb_host *h = arg;
	struct gb_msg m;
	int fds[GB_MSG_FDS], i;
	ssize_t r;

	(void)s;
	if ((ev & EPOLLOUT) != 0) {
		if (gb_msgq_flush(&h->outq, fd) == -1)
			gb_msgq_clear(&h->outq);
		want_out(h);
		maybe_exit(h);
	}
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0 || h->ended)
		return 0;
	for (i = 0; i < TAKE_BURST; i++) {
		r = gb_msg_recv(fd, &m, fds);
		if (r == 0) {
			queue_end(h);
			return 0;
		}
		if (r == -1) {
			if (errno == EBADMSG)
				continue;
			if (errno != EAGAIN)
				queue_end(h);
			return 0;
		}
		take(h, &m, fds);
	}
	return 0;
}

/* The soft descriptor limit up to the hard one: a job holds a few. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
gb_host_main(int argc, char *argv[], const struct gb_host_tool *tool,
    void (*say)(const char *))
{
	struct gb_host h;
	struct gb_err err;
	char name[16];
	int rc;

	if (argc != 2 || strcmp(argv[1], "-W") != 0)
		return -1;
	memset(&h, 0, sizeof(h));
	h.tool = tool;
	h.say = say;
	h.q = QUEUE_FD;
	if (fcntl(h.q, F_GETFD) == -1) {
		say("-W: no queue on descriptor 3");
		return GB_EXIT_USAGE;
	}
	fcntl(h.q, F_SETFD, FD_CLOEXEC);
	gb_io_nonblock(h.q);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	mallopt(M_ARENA_MAX, 2);
	/* last: a process named so is a host ready to serve */
	snprintf(name, sizeof(name), "%s-host", tool->name);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	gb_err_clear(&err);
	if (gb_config_load(&h.cfg, tool->need, &err) == -1) {
		say(err.msg);
		return err.code != 0 ? err.code : GB_EXIT_USAGE;
	}
	if (sd_event_new(&h.ev) < 0) {
		say("cannot make an event loop");
		gb_config_free(&h.cfg);
		return GB_EXIT_TEMP;
	}
	if (tool->init != NULL && tool->init(&h, &err) == -1) {
		say(err.msg);
		sd_event_unref(h.ev);
		gb_config_free(&h.cfg);
		return err.code != 0 ? err.code : GB_EXIT_TEMP;
	}
	if (sd_event_add_io(h.ev, &h.qsrc, h.q, EPOLLIN, on_queue, &h) < 0) {
		say("cannot watch the queue");
		rc = GB_EXIT_TEMP;
		goto out;
	}
	rc = sd_event_loop(h.ev) < 0 ? GB_EXIT_TEMP : GB_EXIT_OK;
out:
	if (tool->fini != NULL)
		tool->fini(&h);
	sd_event_source_unref(h.qsrc);
	gb_msgq_clear(&h.outq);
	close(h.q);
	sd_event_unref(h.ev);
	gb_config_free(&h.cfg);
	return rc;
}
