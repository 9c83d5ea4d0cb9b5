/*
 * job.h - a tool's run as a job of a long-lived host (lib/host.h) as
 * well as a process of its own.
 *
 * A tool's code names its descriptors as a process would (0, 1, 2, and
 * the numbers given in its options, such as gb-call -S 4) and reaches
 * them through gb_fd(): in a process of its own that is the number
 * itself; in a job it is the descriptor the job was handed for that
 * number. Likewise gb_stderr() is stderr or a stream on the job's
 * descriptor 2, and gb_getopt() keeps its state per thread, so that
 * several jobs run at once in the threads of one host.
 *
 * A tool that runs as a job never calls exit(3): its main returns its
 * exit status after freeing what it holds (a host lives on, and
 * valgrind counts what a job forgets).
 */
#ifndef GB_JOB_H
#define GB_JOB_H

#include <stdio.h>

#define GB_JOB_FDS	8	/* a job's descriptors 0..7 */

struct gb_job {
	int	 fd[GB_JOB_FDS];	/* real descriptor, or -1 */
	FILE	*err;			/* on fd[2], opened on first use */
	FILE	*out;			/* on fd[1], opened on first use */
	unsigned closed;		/* bit n: gb_close(n) was called */
};

/* The job the calling thread runs, or NULL in a tool's own process. */
extern _Thread_local struct gb_job *gb_job_self;

/* The real descriptor of the tool's descriptor n (-1 if it has none). */
static inline int
gb_fd(int n)
{
	if (gb_job_self == NULL)
		return n;
	return n >= 0 && n < GB_JOB_FDS ? gb_job_self->fd[n] : -1;
}

/*
 * Close the tool's descriptor n (as close(2) would close n in a process
 * of its own) and forget it: the host must not close it again.
 */
int	 gb_close(int);

/* stderr, or the job's; never NULL (a job without one writes nowhere). */
FILE	*gb_stderr(void);

/* stdout, or a stream on the job's descriptor 1. */
FILE	*gb_stdout(void);

/*
 * Run main(argc, argv) as a job with descriptors fds[0..nfds) (others
 * closed; 0-2 read and write nothing): on the calling thread, with
 * getopt state of its own. Returns main's status. The caller keeps
 * ownership of fds, except those the job closed with gb_close(), which
 * are set to -1 in fds; streams the job opened are closed.
 */
int	 gb_job_run(int (*)(int, char **), int, char **, int *, int);

/*
 * getopt(3) for short options, POSIX rules (no permutation: the first
 * operand ends the options; a leading '+' in the string is accepted and
 * means the same), with its state per thread. gb_optind = 0 or 1 starts
 * afresh.
 */
extern _Thread_local char *gb_optarg;
extern _Thread_local int gb_optind, gb_optopt;
int	 gb_getopt(int, char *const [], const char *);

#endif
