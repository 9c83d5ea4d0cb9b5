/*
 * pipeline.h - the one way gb-serve makes the tool processes of a
 * request exist. Each request gets a gb_pipeline: the processes it
 * spawns share one process group, so a client that goes away ends the
 * whole pipeline with one signal, and every process is waited for.
 *
 * Tools are looked up in one directory, never through PATH: $GB_LIBEXECDIR
 * when set, else the compile-time GB_LIBEXECDIR when defined, else the
 * directory of the running executable (/proc/self/exe), which is where
 * make install and the build tree put them.
 *
 * Children get exactly the descriptors asked for (child fd i = fds[i]),
 * default signal dispositions and an empty signal mask; nothing else of
 * the parent is inherited but its environment and working directory.
 *
 * Built-in tools: a program linked with a table gb_tools[] (gb-serve is:
 * the Makefile builds every other bin/<tool>.c into it with its main
 * renamed gb_main_<tool>) hands gb-convert, gb-sse and gb-call to their
 * hosts (host.h), one long-lived process per tool, each the tool's own
 * program run as "TOOL -W". A tool that runs as a process (GB_HOSTS=0,
 * no host could start, gb-keys) is its own program, exec'd; a built-in
 * one whose program is missing is the running program exec'd under the
 * tool's name, which its main dispatches on. Never a fork that goes on
 * running the parent's code, which in a threaded
 * parent could inherit a lock held by another thread (gb-serve(8),
 * DESIGN NOTES). Setting GB_LIBEXECDIR turns the table and the hosts
 * off: the tools are then always exec'd from that directory.
 */
#ifndef GB_PIPELINE_H
#define GB_PIPELINE_H

#include <limits.h>
#include <sys/types.h>

#include "gb.h"

#define GB_PIPELINE_MAX	16	/* processes in one request's pipeline */
#define GB_PIPELINE_FDS	8	/* child descriptors 0..7 can be set */

/* A tool built into the running program. */
struct gb_tool {
	const char	*name;			/* "gb-call"; NULL ends a table */
	int		(*main)(int, char **);
	int		(*builtin)(int, char **); /* if set, not really
						   built in: exec the tool */
};

/* The running program's built-in tools, or NULL (a weak symbol). */
extern const struct gb_tool gb_tools[] __attribute__((weak));

struct gb_pipeline {
	char	 dir[PATH_MAX];		/* where the tools are */
	const struct gb_tool *builtin;	/* gb_tools, or NULL: always exec */
	pid_t	 pgid;			/* 0 until the first spawn */
	size_t	 n;
	pid_t	 pid[GB_PIPELINE_MAX];
	int	 status[GB_PIPELINE_MAX];	/* wait status, -1 running */
	int	 job[GB_PIPELINE_MAX];	/* a host's reply socket, or -1 */
};

/* Find the tool directory; returns 0 or -1 with err set. */
int	gb_pipeline_init(struct gb_pipeline *, struct gb_err *);

/*
 * Start the tool argv[0] (a bare name) with child descriptor i taken
 * from fds[i] for i < nfds; -1 means /dev/null for 0-2 and closed above.
 * Returns the pid, or -1 with err set (exec failures are reported here,
 * not as a child exit status).
 */
pid_t	gb_pipeline_spawn(struct gb_pipeline *, const char *const *,
	    const int *, size_t, struct gb_err *);

/* Wait for one process; returns its exit code (128+n if signalled). */
int	gb_pipeline_wait(struct gb_pipeline *, pid_t);

/* Wait for all processes still running. */
void	gb_pipeline_finish(struct gb_pipeline *);

/* Kill the whole process group at once and reap everything. */
void	gb_pipeline_kill(struct gb_pipeline *);

/*
 * Ids of jobs run by a host (never a pid: pids stay below 2^22). A job
 * is waited for and killed like a process, through the same calls.
 */
#define GB_PIPELINE_JOB	((pid_t)0x40000000)

/*
 * Start the hosts of the hosted tools now rather than on first use
 * (before the first connection), and let them go (they exit once their
 * jobs are done; the next request starts new ones: after a reload).
 * Set GB_HOSTS=0 in the environment to run every tool as a process.
 */
void	gb_hosts_start(void);
void	gb_hosts_stop(void);

/* A pipe with both ends close-on-exec. */
int	gb_pipe(int [2]);

#endif
