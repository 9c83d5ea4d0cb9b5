/*
 * pipeline.c - spawning a request's tool processes (fork + exec, after
 * execline's pipeline and OpenBSD slowcgi): explicit descriptors, one
 * process group per request, exec errors reported through a
 * close-on-exec pipe, every child reaped. Tools built into the running
 * program are forked without exec (pipeline.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "pipeline.h"

#define FD_PARK	32	/* sources are moved above this before dup2 */

int
gb_pipe(int p[2])
{
	return pipe2(p, O_CLOEXEC);
}

int
gb_pipeline_init(struct gb_pipeline *pl, struct gb_err *err)
{
	const char *env;
	char *slash;
	ssize_t n;

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
	n = readlink("/proc/self/exe", pl->dir, sizeof(pl->dir) - 1);
	if (n <= 0)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "/proc/self/exe: %s", strerror(errno));
	pl->dir[n] = '\0';
	if ((slash = strrchr(pl->dir, '/')) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "/proc/self/exe: no directory");
	*slash = '\0';
	return 0;
#endif
}

/*
 * In the child of a built-in tool: nothing the parent had open beyond
 * the tool's descriptors stays open (there is no exec to close the
 * close-on-exec ones), getopt starts afresh, and the tool's main runs on
 * a private copy of argv (getopt may permute it) and exits as the
 * standalone tool would.
 */
static void
run_builtin(const struct gb_tool *t, const char *const *argv)
{
	char **av;
	int argc, i;

	if (close_range(GB_PIPELINE_FDS, ~0U, 0) == -1)
		for (i = GB_PIPELINE_FDS; i < 1024; i++)
			close(i);
	for (argc = 0; argv[argc] != NULL; argc++)
		;
	if ((av = calloc((size_t)argc + 1, sizeof(*av))) == NULL)
		_exit(GB_EXIT_TEMP);
	for (i = 0; i < argc; i++)
		av[i] = (char *)(uintptr_t)argv[i];
	/* ps(1) and the logs show the tool's name, not gb-serve's */
	(void)prctl(PR_SET_NAME, (unsigned long)(uintptr_t)t->name, 0, 0, 0);
	optind = 0;	/* glibc: a full re-initialisation of getopt */
	i = t->builtin != NULL ? t->builtin(argc, av) : t->main(argc, av);
	free(av);
	exit(i);
}

/*
 * In the child: set up and exec (or run the built-in tool t), or report
 * errno on ep and exit.
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
	if (t != NULL)
		run_builtin(t, argv);
	/* nothing else the parent had open survives the exec */
	if (close_range(GB_PIPELINE_FDS, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		for (i = GB_PIPELINE_FDS; i < 1024; i++)
			if (i != ep)
				close(i);
	execv(path, (char *const *)(uintptr_t)argv);
fail:
	e = errno;
	gb_io_writeall(ep, &e, sizeof(e));
	_exit(127);
}

pid_t
gb_pipeline_spawn(struct gb_pipeline *pl, const char *const *argv,
    const int *fds, size_t nfds, struct gb_err *err)
{
	char path[PATH_MAX + 64];
	const struct gb_tool *b, *t;
	int ep[2], e, hi, st;
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
			/* the child must not write what the parent buffered */
			fflush(NULL);
			break;
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
		if (pl->status[i] == -1)
			kill(pl->pid[i], SIGKILL);
	gb_pipeline_finish(pl);
}
