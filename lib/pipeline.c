/*
 * pipeline.c - spawning a request's tool processes (fork + exec, after
 * execline's pipeline and OpenBSD slowcgi): explicit descriptors, one
 * process group per request, exec errors reported through a
 * close-on-exec pipe, every child reaped. Most requests' tools run as
 * jobs of long-lived hosts instead (host.h, below).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"
#include "io.h"
#include "pipeline.h"

#define FD_PARK	32	/* sources are moved above this before dup2 */

int
gb_pipe(int p[2])
{
	return pipe2(p, O_CLOEXEC);
}

#ifndef GB_LIBEXECDIR
/* The running program's directory, looked up once per process. */
static char exedir[PATH_MAX];
static int exedir_errno;
static pthread_once_t exedir_once = PTHREAD_ONCE_INIT;

static void
find_exedir(void)
{
	char *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", exedir, sizeof(exedir) - 1);
	if (n <= 0) {
		exedir_errno = n == -1 ? errno : ENAMETOOLONG;
		return;
	}
	exedir[n] = '\0';
	if ((slash = strrchr(exedir, '/')) == NULL)
		exedir_errno = ENOENT;
	else
		*slash = '\0';
}
#endif

int
gb_pipeline_init(struct gb_pipeline *pl, struct gb_err *err)
{
	const char *env;

	memset(pl, 0, sizeof(*pl));
	if ((env = getenv("GB_LIBEXECDIR")) != NULL && *env != '\0') {
		/* other programs asked for: exec them, no built-ins */
		if (strlen(env) >= sizeof(pl->dir))
			return gb_err_set(err, GB_EXIT_USAGE, 500,
			    "GB_LIBEXECDIR: too long");
		strcpy(pl->dir, env);
		return 0;
	}
	pl->builtin = gb_tools;
#ifdef GB_LIBEXECDIR
	snprintf(pl->dir, sizeof(pl->dir), "%s", GB_LIBEXECDIR);
	return 0;
#else
	pthread_once(&exedir_once, find_exedir);
	if (exedir_errno != 0)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "/proc/self/exe: %s", strerror(exedir_errno));
	memcpy(pl->dir, exedir, sizeof(pl->dir));
	return 0;
#endif
}

/*
 * In the child: set up and exec, or report errno on ep and exit. A
 * built-in tool t whose program is missing from the directory is the
 * running program itself, exec'd under the tool's name (gb-serve's main
 * dispatches on argv[0]). Only async-signal-safe calls here: the parent
 * may be threaded, and another thread may have held any lock (the
 * allocator's, stdio's) at the fork.
 */
static void
child(const struct gb_tool *t, const char *path, const char *const *argv,
    const int *fds, size_t nfds, pid_t pgid, int ep, pid_t parent)
{
	int park[GB_PIPELINE_FDS], i, e, null;
	struct sigaction sa;
	sigset_t all;

	setpgid(0, pgid);
	/* if the connection's process dies, its pipeline dies with it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(127);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		sigaction(i, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	for (i = 0; i < (int)nfds; i++) {
		park[i] = -1;
		if (fds[i] >= 0 &&
		    (park[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, FD_PARK)) == -1)
			goto fail;
	}
	for (i = 0; i < GB_PIPELINE_FDS; i++) {
		if (i < (int)nfds && park[i] >= 0) {
			if (dup2(park[i], i) == -1)
				goto fail;
		} else if (i <= 2) {
			if ((null = open("/dev/null", O_RDWR)) == -1)
				goto fail;
			if (null != i) {
				if (dup2(null, i) == -1)
					goto fail;
				close(null);
			}
		} else
			close(i);
	}
	/* nothing else the parent had open survives the exec */
	if (close_range(GB_PIPELINE_FDS, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		for (i = GB_PIPELINE_FDS; i < 1024; i++)
			if (i != ep)
				close(i);
	execv(path, (char *const *)(uintptr_t)argv);
	if (errno == ENOENT && t != NULL && t->builtin == NULL)
		execv("/proc/self/exe", (char *const *)(uintptr_t)argv);
fail:
	e = errno;
	gb_io_writeall(ep, &e, sizeof(e));
	_exit(127);
}

/*
 * The hosts (lib/host.h): the tools that run as jobs of a long-lived
 * process instead of a process per request, each its own program run as
 * "TOOL -W" (spawned, see host_start). Not a fork that goes on running
 * gb-serve's code: a fork of a threaded process inherits every lock
 * another thread held at that moment (an allocator's, a stdio stream's,
 * a sanitizer's) with no thread left to release it, and a host starts
 * threads and allocates at once; an exec leaves nothing of the parent
 * behind but the descriptors passed on. A host is started on first use
 * (gb_hosts_start starts them ahead) and lives while its queue is held
 * open here; one that has died is started again on the next request,
 * and that request falls back to a process of its own if that fails.
 */
static struct host {
	const char	*name;
	int		 q;		/* our end of its queue, or -1 */
	pid_t		 pid;
	int		 noexec;	/* its program would not run: no
					   host until gb_hosts_stop */
} hosts[] = {
	{ "gb-convert", -1, -1, 0 },
	{ "gb-sse", -1, -1, 0 },
	{ "gb-call", -1, -1, 0 },
};
/* read: hand a job to a host; write: start, or let go of, a host */
static pthread_rwlock_t hosts_lk = PTHREAD_RWLOCK_INITIALIZER;
static pid_t retired[64];	/* hosts let go, to be reaped */
static size_t nretired;

static int
hosts_on(const struct gb_pipeline *pl)
{
	const char *e = getenv("GB_HOSTS");

	return pl->builtin != NULL && (e == NULL || strcmp(e, "0") != 0);
}

/* With hosts_lk held for writing: reap what has exited of the hosts let go. */
static void
reap_retired(void)
{
	size_t i;

	for (i = 0; i < nretired; )
		if (waitpid(retired[i], NULL, WNOHANG) != 0)
			retired[i] = retired[--nretired];
		else
			i++;
}

/*
 * With hosts_lk held for writing: let host h go (it exits when its jobs
 * are done).
 */
static void
host_drop(struct host *h)
{
	if (h->q >= 0)
		close(h->q);
	h->q = -1;
	if (h->pid > 0) {
		if (nretired == GB_NELEM(retired)) {
			/* cannot happen unless hosts die in a loop */
			while (waitpid(retired[0], NULL, 0) == -1 &&
			    errno == EINTR)
				;
			retired[0] = retired[--nretired];
		}
		retired[nretired++] = h->pid;
	}
	h->pid = -1;
	reap_retired();
}

/*
 * With hosts_lk held for writing: start host h, "TOOL -W" with its queue
 * on descriptor 3, in a process group of its own (a request's or a
 * terminal's signal is not for it), default signals, nothing else of
 * ours open; 0, or -1.
 *
 * posix_spawn(3), not fork: glibc's runs the child on the parent's
 * memory until the exec (CLONE_VFORK) with no fork handlers and no copy
 * of the page tables, and reports a failed exec as its own result, so a
 * job is never sent to a host that did not start. A program that will
 * not run (gb-serve copied alone, say) is not tried again before the
 * next reload; its requests run as processes.
 */
static int
host_start(const struct gb_pipeline *pl, struct host *h)
{
	char path[PATH_MAX + 64];
	char *argv[] = { (char *)(uintptr_t)h->name, "-W", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	int q[2], hi, e;
	pid_t pid;

	if (h->noexec || snprintf(path, sizeof(path), "%s/%s", pl->dir,
	    h->name) >= (int)sizeof(path))
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, q) == -1)
		return -1;
	/* clear of 0-3, which the actions below set */
	if ((hi = fcntl(q[1], F_DUPFD_CLOEXEC, 10)) == -1) {
		close(q[0]);
		close(q[1]);
		return -1;
	}
	close(q[1]);
	q[1] = hi;
	sigfillset(&all);
	sigemptyset(&none);
	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		goto out;
	if ((e = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		goto out;
	}
	if ((e = posix_spawn_file_actions_adddup2(&fa, q[1], 3)) == 0 &&
	    (e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDWR, 0)) == 0 &&
	    (e = posix_spawn_file_actions_adddup2(&fa, 0, 1)) == 0 &&
	    (e = posix_spawn_file_actions_addclosefrom_np(&fa, 4)) == 0 &&
	    (e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) == 0 &&
	    (e = posix_spawnattr_setpgroup(&at, 0)) == 0 &&
	    (e = posix_spawnattr_setsigdefault(&at, &all)) == 0 &&
	    (e = posix_spawnattr_setsigmask(&at, &none)) == 0 &&
	    (e = posix_spawn(&pid, path, &fa, &at, argv, environ)) != 0 &&
	    (e == ENOENT || e == EACCES || e == ENOEXEC || e == EPERM))
		h->noexec = 1;
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
out:
	close(q[1]);
	if (e != 0) {
		close(q[0]);
		return -1;
	}
	h->q = q[0];
	h->pid = pid;
	return 0;
}

void
gb_hosts_start(void)
{
	struct gb_pipeline pl;
	struct gb_err err;
	size_t i;

	if (gb_pipeline_init(&pl, &err) == -1 || !hosts_on(&pl))
		return;
	pthread_rwlock_wrlock(&hosts_lk);
	for (i = 0; i < GB_NELEM(hosts); i++)
		if (hosts[i].q < 0)
			(void)host_start(&pl, &hosts[i]);
	pthread_rwlock_unlock(&hosts_lk);
}

void
gb_hosts_stop(void)
{
	size_t i;

	pthread_rwlock_wrlock(&hosts_lk);
	for (i = 0; i < GB_NELEM(hosts); i++) {
		host_drop(&hosts[i]);
		hosts[i].noexec = 0;
	}
	pthread_rwlock_unlock(&hosts_lk);
}

/*
 * Hand argv to its tool's host: the reply socket, -1 when the tool has
 * no host (or no host could take it: run it as a process then), -2 with
 * err set on a failure that running it as a process would not mend.
 */
static int
host_submit(struct gb_pipeline *pl, const char *const *argv, const int *fds,
    size_t nfds, struct gb_err *err)
{
	struct host *h = NULL;
	size_t i;
	int try, q, r;
	pid_t pid;

	if (!hosts_on(pl))
		return -1;
	for (i = 0; i < GB_NELEM(hosts); i++)
		if (strcmp(hosts[i].name, argv[0]) == 0)
			h = &hosts[i];
	if (h == NULL)
		return -1;
	for (try = 0; try < 2; try++) {
		pthread_rwlock_rdlock(&hosts_lk);
		while (h->q < 0) {
			pthread_rwlock_unlock(&hosts_lk);
			pthread_rwlock_wrlock(&hosts_lk);
			if (h->q < 0 && host_start(pl, h) == -1) {
				pthread_rwlock_unlock(&hosts_lk);
				return -1;
			}
			pthread_rwlock_unlock(&hosts_lk);
			pthread_rwlock_rdlock(&hosts_lk);
		}
		q = h->q;
		pid = h->pid;
		r = gb_host_submit(q, argv, fds, nfds, err);
		pthread_rwlock_unlock(&hosts_lk);
		if (r >= 0)
			return r;
		if (err->code != GB_EXIT_NO)
			return -2;
		/* the host is gone: let it go, start another */
		pthread_rwlock_wrlock(&hosts_lk);
		if (h->q == q && h->pid == pid)
			host_drop(h);
		pthread_rwlock_unlock(&hosts_lk);
	}
	return -1;
}

pid_t
gb_pipeline_spawn(struct gb_pipeline *pl, const char *const *argv,
    const int *fds, size_t nfds, struct gb_err *err)
{
	char path[PATH_MAX + 64];
	const struct gb_tool *b, *t;
	int ep[2], e, hi, st, jr;
	ssize_t r;
	pid_t pid, parent;

	if (pl->n == GB_PIPELINE_MAX || nfds > GB_PIPELINE_FDS)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "pipeline: too many processes");
	if (strchr(argv[0], '/') != NULL)
		return gb_err_set(err, GB_EXIT_USAGE, 500,
		    "pipeline: %s: not a tool name", argv[0]);
	snprintf(path, sizeof(path), "%s/%s", pl->dir, argv[0]);
	t = NULL;
	for (b = pl->builtin; b != NULL && b->name != NULL; b++)
		if (strcmp(b->name, argv[0]) == 0) {
			t = b;
			break;
		}
	if (t != NULL) {
		jr = host_submit(pl, argv, fds, nfds, err);
		if (jr == -2)
			return -1;
		if (jr >= 0) {
			pl->pid[pl->n] = GB_PIPELINE_JOB + (pid_t)pl->n;
			pl->job[pl->n] = jr;
			pl->status[pl->n] = -1;
			return pl->pid[pl->n++];
		}
	}
	if (gb_pipe(ep) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "pipe: %s",
		    strerror(errno));
	/* keep the report pipe clear of the descriptors being set up */
	if ((hi = fcntl(ep[1], F_DUPFD_CLOEXEC, FD_PARK + GB_PIPELINE_FDS))
	    == -1) {
		e = errno;
		close(ep[0]);
		close(ep[1]);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "fcntl: %s",
		    strerror(e));
	}
	close(ep[1]);
	parent = getpid();
	if ((pid = fork()) == -1) {
		e = errno;
		close(ep[0]);
		close(hi);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "fork: %s",
		    strerror(e));
	}
	if (pid == 0)
		child(t, path, argv, fds, nfds, pl->pgid, hi, parent);
	close(hi);
	/* both sides set the group, whichever runs first */
	(void)setpgid(pid, pl->pgid != 0 ? pl->pgid : pid);
	if (pl->pgid == 0)
		pl->pgid = pid;
	pl->pid[pl->n] = pid;
	pl->job[pl->n] = -1;
	pl->status[pl->n] = -1;
	pl->n++;
	do
		r = read(ep[0], &e, sizeof(e));
	while (r == -1 && errno == EINTR);
	close(ep[0]);
	if (r == (ssize_t)sizeof(e)) {
		st = gb_pipeline_wait(pl, pid);
		(void)st;
		return gb_err_set(err, GB_EXIT_TEMP, 500, "%s: %s", argv[0],
		    strerror(e));
	}
	return pid;
}

static int
exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 128;
}

int
gb_pipeline_wait(struct gb_pipeline *pl, pid_t pid)
{
	size_t i;
	int st;
	pid_t r;

	for (i = 0; i < pl->n; i++)
		if (pl->pid[i] == pid)
			break;
	if (i == pl->n)
		return -1;
	if (pl->status[i] != -1)
		return exit_code(pl->status[i]);
	if (pl->job[i] >= 0) {
		/* a job: its status, or killed if its host died */
		st = gb_host_status(pl->job[i]);
		close(pl->job[i]);
		pl->job[i] = -1;
		pl->status[i] = st >= 0 ? (st & 0xff) << 8 : SIGKILL;
		return exit_code(pl->status[i]);
	}
	do
		r = waitpid(pid, &st, 0);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		st = 128 << 8;
	pl->status[i] = st;
	return exit_code(st);
}

void
gb_pipeline_finish(struct gb_pipeline *pl)
{
	size_t i;

	for (i = 0; i < pl->n; i++)
		if (pl->status[i] == -1)
			gb_pipeline_wait(pl, pl->pid[i]);
}

void
gb_pipeline_kill(struct gb_pipeline *pl)
{
	size_t i;

	if (pl->pgid > 0)
		killpg(pl->pgid, SIGKILL);
	for (i = 0; i < pl->n; i++)
		if (pl->status[i] == -1 && pl->job[i] >= 0) {
			/*
			 * A job ends when its descriptors do: the caller
			 * closes its ends, the job's next read or write (or
			 * gb-call's poll of its stdout) fails.
			 */
			close(pl->job[i]);
			pl->job[i] = -1;
			pl->status[i] = SIGKILL;
		} else if (pl->status[i] == -1)
			kill(pl->pid[i], SIGKILL);
	gb_pipeline_finish(pl);
}
