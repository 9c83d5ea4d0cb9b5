/*
 * hosts.c - the tools' hosts as gb-serve sees them, and the jobs it
 * hands them (serve.h, proto.h, host.h).
 *
 * Each hosted tool (gb-convert, gb-call, gb-sse) runs as one long-lived
 * process, its own program started as "TOOL -W" with posix_spawn(3) and
 * the queue on descriptor 3. A job is a message on that queue carrying
 * the job's stdin and stdout; gb-serve keeps the other ends of those
 * pipes as sources of its loop, feeding the stdin from memory and
 * reading the stdout whole, as it comes (a stream), or not at all (kept
 * to be handed to the next job). The host answers HEAD, META and DONE
 * with the job's id.
 *
 * A host that dies (its queue ends, or its process exits) ends every job
 * it had with exit status 128+signal (or 111) and a message saying so,
 * which the request turns into an error the client sees; the next job
 * for that tool starts a new host. The queue's end and the process's
 * exit come in either order: the jobs end once both are known (or the
 * queue has been over for GONE_WAIT seconds), so that they can say how
 * the host went. A host let go after a reload gets
 * no more jobs: its queue is shut for writing, it finishes what it has
 * and exits, and is reaped like any other child.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve.h"

#define TABSZ		1024	/* buckets of a host's job table */
#define GONE_WAIT	5	/* seconds from the queue's end to the exit */
#define READSIZE	65536

struct host {
	struct srv		*srv;
	enum gb_tool		 tool;
	pid_t			 pid;		/* 0 once reaped */
	int			 status;	/* wait status once reaped */
	int			 q;		/* -1 once it ended */
	sd_event_source		*qsrc, *child;
	sd_event_source		*gone;		/* the queue ended: the exit? */
	struct gb_msgq		 outq;
	struct job		*tab[TABSZ];
	size_t			 njobs;
	int			 retired;
	int			 busy;		/* in a callback: keep it */
	struct host		*next;		/* in srv->retired */
};

static const char *const tool_names[NTOOLS] = {
	"gb-convert", "gb-call", "gb-sse"
};

/* The host that takes a tool's jobs: gb-call's also has the key table. */
static int
tool_slot(enum gb_tool t)
{
	switch (t) {
	case GB_TOOL_CONVERT:
		return 0;
	case GB_TOOL_CALL:
	case GB_TOOL_KEYS:
		return 1;
	case GB_TOOL_SSE:
		return 2;
	}
	return -1;
}

static void	 job_check(struct job *);
static void	 host_maybe_free(struct host *);

void
close_src(sd_event_source **s)
{
	*s = sd_event_source_disable_unref(*s);
}

void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ---- the job table of a host ---- */

static struct job **
slot(struct host *h, uint32_t id)
{
	return &h->tab[id % TABSZ];
}

static struct job *
job_find(struct host *h, uint32_t id)
{
	struct job *j;

	for (j = *slot(h, id); j != NULL; j = j->hnext)
		if (j->id == id)
			return j;
	return NULL;
}

static void
job_unlink(struct job *j)
{
	struct job **p;

	if (j->host == NULL)
		return;
	for (p = slot(j->host, j->id); *p != NULL; p = &(*p)->hnext)
		if (*p == j) {
			*p = j->hnext;
			j->host->njobs--;
			break;
		}
	host_maybe_free(j->host);
	j->host = NULL;
}

static void
job_free(struct job *j)
{
	job_unlink(j);
	proc_free(j);
	close_src(&j->wsrc);
	close_src(&j->rsrc);
	close_fd(&j->wfd);
	close_fd(&j->rfd);
	gb_buf_free(&j->out);
	json_decref(j->meta);
	free(j);
}

/* Tell the request, unless it let the job go. */
static void
notify(struct job *j, enum job_event e)
{
	if (j->rq != NULL && j->cb != NULL)
		j->cb(j, e);
}

/* DONE and the end of stdout: the job is over for its request. */
static void
job_check(struct job *j)
{
	if (j->exit < 0 || !j->eof || j->ended)
		return;
	j->ended = 1;
	if (j->rq == NULL) {
		job_free(j);
		return;
	}
	job_unlink(j);
	notify(j, JOB_END);
}

static void
job_done(struct job *j, int status, const char *msg)
{
	if (j->exit >= 0)
		return;
	j->exit = status;
	snprintf(j->msg, sizeof(j->msg), "%s", msg != NULL ? msg : "");
	job_check(j);
}

/* ---- a host's process and queue ---- */

static void
host_free(struct host *h)
{
	struct host **p;
	int i;

	for (i = 0; i < NTOOLS; i++)
		if (h->srv->hosts[i] == h)
			h->srv->hosts[i] = NULL;
	for (p = &h->srv->retired; *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	close_src(&h->qsrc);
	close_src(&h->child);
	close_src(&h->gone);
	gb_msgq_clear(&h->outq);
	close_fd(&h->q);
	free(h);
}

static void
host_maybe_free(struct host *h)
{
	if (h->q < 0 && h->pid == 0 && h->njobs == 0 && h->busy == 0)
		host_free(h);
}

/*
 * The host is gone (its queue ended): every job it still had ends with
 * an error. Its process may not be reaped yet.
 */
static void
host_gone(struct host *h)
{
	struct job *j, *next;
	char msg[128];
	int code = GB_EXIT_TEMP, i, sig = 0;

	close_src(&h->qsrc);
	close_src(&h->gone);
	gb_msgq_clear(&h->outq);
	close_fd(&h->q);
	for (i = 0; i < NTOOLS; i++)
		if (h->srv->hosts[i] == h)
			h->srv->hosts[i] = NULL;
	if (h->pid == 0 && WIFSIGNALED(h->status)) {
		sig = WTERMSIG(h->status);
		code = 128 + sig;
	}
	if (sig != 0)
		snprintf(msg, sizeof(msg), "%s host died (signal %d)",
		    tool_names[tool_slot(h->tool)], sig);
	else if (h->pid == 0 && WIFEXITED(h->status))
		snprintf(msg, sizeof(msg), "%s host ended (exit %d)",
		    tool_names[tool_slot(h->tool)], WEXITSTATUS(h->status));
	else
		snprintf(msg, sizeof(msg), "%s host ended",
		    tool_names[tool_slot(h->tool)]);
	if (h->njobs > 0)
		fprintf(stderr, "%sgb-serve: %s with %zu job%s in flight\n",
		    gb_log_prio(GB_LOG_WARN),
		    msg, h->njobs, h->njobs == 1 ? "" : "s");
	h->busy++;
	for (i = 0; i < TABSZ; i++)
		for (j = h->tab[i]; j != NULL; j = next) {
			next = j->hnext;
			/* no DONE came: the request must say so */
			if (j->exit < 0)
				j->lost = 1;
			job_done(j, code, msg);
		}
	h->busy--;
	/* jobs whose stdout is still open stay until it ends */
	host_maybe_free(h);
}

static void
on_msg(struct host *h, struct gb_msg *m)
{
	struct job *j;

	if ((j = job_find(h, m->id)) != NULL)
		job_said(j, m);
}

void
job_said(struct job *j, const struct gb_msg *m)
{
	switch (m->type) {
	case GB_MSG_HEAD:
		if (j->has_head)
			break;
		j->has_head = 1;
		j->head = m->u.head;
		notify(j, JOB_HEAD);
		break;
	case GB_MSG_META:
		json_decref(j->meta);
		j->meta = json_loads(m->u.meta, 0, NULL);
		notify(j, JOB_META);
		break;
	case GB_MSG_DONE:
		job_done(j, m->u.done.exit, m->u.done.msg);
		break;
	default:
		break;
	}
}

static void
want_out(struct host *h)
{
	if (h->qsrc != NULL)
		sd_event_source_set_io_events(h->qsrc, EPOLLIN |
		    (h->outq.n > 0 ? EPOLLOUT : 0));
}

/* Read what the queue holds; 1 when it ended. */
static int
drain_queue(struct host *h)
{
	struct gb_msg m;
	int fds[GB_MSG_FDS];
	ssize_t r;

	while (h->q >= 0) {
		r = gb_msg_recv(h->q, &m, fds);
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		if (r == 0)
			return 1;
		if (r == -1) {
			if (errno == EBADMSG)
				continue;
			return errno != EAGAIN;
		}
		on_msg(h, &m);
	}
	return 0;
}

static int
on_gone_wait(sd_event_source *s, uint64_t usec, void *arg)
{
	struct host *h = arg;

	(void)s;
	(void)usec;
	h->busy++;
	host_gone(h);
	h->busy--;
	host_maybe_free(h);
	return 0;
}

/*
 * The queue ended (or broke): the host is going, and takes no new job.
 * A host closes its queue as it exits, and the two reach the loop in
 * either order: its jobs end when its exit status is in (on_child), to
 * say "died (signal 9)" rather than just "ended"; what it said before
 * is read then too.
 */
static void
queue_ended(struct host *h)
{
	int i;

	if (h->pid == 0 || h->gone != NULL) {
		host_gone(h);
		return;
	}
	close_src(&h->qsrc);
	for (i = 0; i < NTOOLS; i++)
		if (h->srv->hosts[i] == h)
			h->srv->hosts[i] = NULL;
	if (sd_event_add_time_relative(h->srv->ev, &h->gone, CLOCK_MONOTONIC,
	    (uint64_t)GONE_WAIT * 1000000, 0, on_gone_wait, h) < 0)
		host_gone(h);
}

static int
on_queue(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct host *h = arg;

	(void)s;
	h->busy++;
	if ((ev & EPOLLOUT) != 0 && gb_msgq_flush(&h->outq, fd) == -1)
		queue_ended(h);
	else if (h->q >= 0 && (drain_queue(h) ||
	    (ev & (EPOLLHUP | EPOLLERR)) != 0))
		queue_ended(h);
	else
		want_out(h);
	h->busy--;
	host_maybe_free(h);
	return 0;
}

static int
on_child(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct host *h = arg;
	int st;

	(void)s;
	if (waitpid(h->pid, &st, WNOHANG) == h->pid)
		h->status = st;
	else if (si->si_code == CLD_EXITED)
		h->status = si->si_status << 8;
	else
		h->status = si->si_status & 0x7f;
	h->pid = 0;
	close_src(&h->child);
	h->busy++;
	if (h->q >= 0) {
		/* what it said before it went comes first */
		drain_queue(h);
		host_gone(h);
	}
	h->busy--;
	host_maybe_free(h);
	return 0;
}

/*
 * Start the host of a tool: its program from the tool directory, the
 * queue on descriptor 3, stdin and stdout on /dev/null, stderr shared,
 * default signal dispositions and an empty mask.
 */
static struct host *
host_spawn(struct srv *srv, enum gb_tool tool)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	struct host *h;
	char prog[PATH_MAX + 32];
	const char *name = tool_names[tool_slot(tool)];
	struct toolenv te;
	char *argv[3];
	int sv[2], e;
	pid_t pid;

	if (snprintf(prog, sizeof(prog), "%s/%s", srv->tooldir, name) >=
	    (int)sizeof(prog)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if (toolenv_make(&te, &srv->cfg->c, tool, 4) == -1) {
		e = errno;
		free(h);
		errno = e;
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		e = errno;
		toolenv_free(&te);
		free(h);
		errno = e;
		return NULL;
	}
	argv[0] = (char *)(uintptr_t)name;
	argv[1] = (char *)(uintptr_t)"-W";
	argv[2] = NULL;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	toolenv_fds(&te, &fa, 4);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	e = posix_spawn(&pid, prog, &fa, &at, argv, te.envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	toolenv_free(&te);
	close(sv[1]);
	if (e != 0) {
		fprintf(stderr, "%sgb-serve: cannot start %s: %s\n",
		    gb_log_prio(GB_LOG_ERROR), prog,
		    strerror(e));
		close(sv[0]);
		free(h);
		errno = e;
		return NULL;
	}
	h->srv = srv;
	h->tool = tool == GB_TOOL_KEYS ? GB_TOOL_CALL : tool;
	h->pid = pid;
	h->q = sv[0];
	gb_io_nonblock(h->q);
	if (sd_event_add_io(srv->ev, &h->qsrc, h->q, EPOLLIN, on_queue,
	    h) < 0 ||
	    sd_event_add_child(srv->ev, &h->child, pid, WEXITED, on_child,
	    h) < 0) {
		fprintf(stderr, "%sgb-serve: cannot watch %s\n",
		    gb_log_prio(GB_LOG_ERROR), name);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		h->pid = 0;
		close_src(&h->qsrc);
		close_fd(&h->q);
		free(h);
		errno = EIO;
		return NULL;
	}
	return h;
}

static struct host *
host_for(struct srv *srv, enum gb_tool tool)
{
	int i = tool_slot(tool);

	if (i < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (srv->hosts[i] == NULL)
		srv->hosts[i] = host_spawn(srv, tool);
	return srv->hosts[i];
}

void
hosts_start(struct srv *srv)
{
	host_for(srv, GB_TOOL_CONVERT);
	host_for(srv, GB_TOOL_CALL);
	host_for(srv, GB_TOOL_SSE);
}

void
hosts_retire(struct srv *srv)
{
	struct host *h;
	int i;

	for (i = 0; i < NTOOLS; i++) {
		if ((h = srv->hosts[i]) == NULL)
			continue;
		srv->hosts[i] = NULL;
		h->retired = 1;
		/* no more jobs: the host ends once its own are done */
		if (h->q >= 0)
			shutdown(h->q, SHUT_WR);
		h->next = srv->retired;
		srv->retired = h;
	}
}

void
hosts_free(struct srv *srv)
{
	struct job *j, *next;
	struct host *h;
	int i, k;

	/* what is left when the loop ends: its memory, not its processes */
	for (k = 0; k < NTOOLS + 1; k++) {
		while ((h = k < NTOOLS ? srv->hosts[k] : srv->retired) !=
		    NULL) {
			for (i = 0; i < TABSZ; i++)
				for (j = h->tab[i]; j != NULL; j = next) {
					next = j->hnext;
					j->host = NULL;
					if (j->rq == NULL)
						job_free(j);
				}
			h->njobs = 0;
			h->pid = 0;
			host_free(h);
		}
	}
}

/* ---- a job's pipes, on gb-serve's side ---- */

static int
on_job_in(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct job *j = arg;
	ssize_t w;

	(void)s;
	while (j->woff < j->wlen && (ev & EPOLLERR) == 0) {
		do
			w = write(fd, j->wdata + j->woff, j->wlen - j->woff);
		while (w == -1 && errno == EINTR);
		if (w == -1 && errno == EAGAIN)
			return 0;
		if (w == -1)
			break;	/* the job stopped reading: its DONE says why */
		j->woff += (size_t)w;
	}
	close_src(&j->wsrc);
	close_fd(&j->wfd);
	return 0;
}

static int
on_job_out(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct job *j = arg;
	size_t want;
	ssize_t r;

	(void)s;
	for (;;) {
		want = j->out.cap - j->out.len;
		if (want > READSIZE)
			want = READSIZE;
		if (want == 0) {
			/* over its cap: the request sees out.len == cap */
			close_src(&j->rsrc);
			close_fd(&j->rfd);
			j->eof = 1;
			break;
		}
		if (gb_buf_reserve(&j->out, want) == -1) {
			close_src(&j->rsrc);
			close_fd(&j->rfd);
			j->eof = 1;
			break;
		}
		do
			r = read(fd, j->out.data + j->out.len, want);
		while (r == -1 && errno == EINTR);
		if (r == -1 && errno == EAGAIN)
			return 0;
		if (r <= 0) {
			close_src(&j->rsrc);
			close_fd(&j->rfd);
			j->eof = 1;
			break;
		}
		j->out.len += (size_t)r;
		j->out.data[j->out.len] = '\0';
		if (j->outmode == OUT_RELAY) {
			notify(j, JOB_DATA);
			/*
			 * Edge-triggered: on until the pipe is empty, unless
			 * held. A short read emptied it and the next write or
			 * the writer's close is a new edge, unless the close
			 * came already (EPOLLHUP): then on to the end.
			 */
			if (j->cb == NULL || j->paused || j->rsrc == NULL ||
			    ((size_t)r < want &&
			    (ev & (EPOLLHUP | EPOLLERR)) == 0))
				return 0;
		}
	}
	job_check(j);
	return 0;
}

static int
watch_out(struct job *j)
{
	gb_io_nonblock(j->rfd);
	/*
	 * Edge-triggered: sd-event polls every ready descriptor again
	 * before each dispatch, so thousands of streams ready at once
	 * would cost each other if they stayed ready while they wait.
	 */
	return sd_event_add_io(j->rq->srv->ev, &j->rsrc, j->rfd,
	    EPOLLIN | EPOLLET, on_job_out, j) < 0 ? -1 : 0;
}

struct job *
job_start(struct rq *rq, const struct gb_msg_job *mj, const char *data,
    size_t len, int infd, enum job_out om, size_t cap,
    void (*cb)(struct job *, enum job_event))
{
	struct srv *srv = rq->srv;
	struct gb_msg m;
	struct host *h;
	struct job *j;
	int ip[2], op[2], fds[2] = { -1, -1 }, e, pf;

	fds[0] = infd;		/* ours from here on */
	h = NULL;
	if ((!srv->single && (h = host_for(srv, (enum gb_tool)mj->tool)) ==
	    NULL) || (j = calloc(1, sizeof(*j))) == NULL) {
		e = errno;
		close_fd(&fds[0]);
		errno = e;
		return NULL;
	}
	j->rq = rq;
	j->wfd = j->rfd = -1;
	j->exit = -1;
	j->outmode = om;
	j->cb = cb;
	gb_buf_init(&j->out, cap);
	/*
	 * A host's ends are non-blocking as ours are; a tool run as a
	 * process gets blocking ones, as a shell would give it.
	 */
	pf = O_CLOEXEC | (h != NULL ? O_NONBLOCK : 0);
	if (data != NULL) {
		if (pipe2(ip, pf) == -1)
			goto fail;
		fds[0] = ip[0];
		j->wfd = ip[1];
		j->wdata = data;
		j->wlen = len;
	}
	if (om != OUT_NONE) {
		if (pipe2(op, pf) == -1)
			goto fail;
		fds[1] = op[1];
		j->rfd = op[0];
	}
	j->eof = om == OUT_NONE || om == OUT_KEEP;
	if (h == NULL) {
		/* one connection alone: the tool runs as a process */
		if (proc_start(srv, j, mj, fds) == -1) {
			fds[0] = fds[1] = -1;
			goto fail;
		}
		goto started;
	}
	do
		j->id = ++srv->next_id;
	while (j->id == 0 || job_find(h, j->id) != NULL);
	memset(&m, 0, sizeof(m));
	m.type = GB_MSG_JOB;
	m.id = j->id;
	m.u.job = *mj;
	snprintf(m.u.job.rid, sizeof(m.u.job.rid), "%s", rq->rid);
	m.u.job.fds = (fds[0] >= 0 ? GB_JOB_IN : 0) |
	    (fds[1] >= 0 ? GB_JOB_OUT : 0);
	/* the descriptors are the queue's from here on, sent or not */
	if (gb_msgq_send(&h->outq, h->q, &m, gb_msg_len(&m), fds, 2) == -1) {
		e = errno;
		fds[0] = fds[1] = -1;
		queue_ended(h);
		errno = e == ENOMEM ? ENOMEM : EPIPE;
		goto fail;
	}
	want_out(h);
	j->host = h;
	j->hnext = *slot(h, j->id);
	*slot(h, j->id) = j;
	h->njobs++;
started:
	if (j->wfd >= 0) {
		gb_io_nonblock(j->wfd);
		/* what fits goes now; the rest when the pipe has room */
		on_job_in(NULL, j->wfd, 0, j);
		if (j->wfd >= 0 && sd_event_add_io(srv->ev, &j->wsrc, j->wfd,
		    EPOLLOUT, on_job_in, j) < 0)
			close_fd(&j->wfd);
	}
	if ((om == OUT_READ || om == OUT_RELAY) && watch_out(j) == -1) {
		close_fd(&j->rfd);
		j->eof = 1;
	}
	return j;
fail:
	e = errno;
	close_fd(&fds[0]);
	close_fd(&fds[1]);
	job_free(j);
	errno = e;
	return NULL;
}

int
job_read(struct job *j, size_t cap)
{
	if (j->outmode != OUT_KEEP || j->rfd < 0)
		return -1;
	j->outmode = OUT_READ;
	j->out.cap = cap;
	j->eof = 0;
	if (watch_out(j) == -1) {
		close_fd(&j->rfd);
		j->eof = 1;
		job_check(j);
		return -1;
	}
	return 0;
}

int
job_take(struct job *j)
{
	int fd = j->rfd;

	j->rfd = -1;
	return fd;
}

void
job_pause(struct job *j, int on)
{
	j->paused = on;
	if (j->rsrc != NULL)
		sd_event_source_set_enabled(j->rsrc, on ? SD_EVENT_OFF :
		    SD_EVENT_ON);
}

void
job_release(struct job *j)
{
	j->rq = NULL;
	j->cb = NULL;
	proc_release(j);
	close_src(&j->wsrc);
	close_src(&j->rsrc);
	close_fd(&j->wfd);
	close_fd(&j->rfd);
	j->eof = 1;
	if (j->exit >= 0 || (j->host == NULL && j->proc == NULL))
		job_free(j);
}
