/*
 * host.h - a long-lived process that runs one tool's main as jobs, one
 * per request, on a pool of threads (issue 7; gb-serve(8), DESIGN NOTES).
 *
 * Requests reach a host over a SOCK_SEQPACKET socket, the queue, that
 * gb-serve made with socketpair(2) and handed the host one end of: one
 * message per job, carrying the tool's argv and, by SCM_RIGHTS, a reply
 * socket and the job's descriptors 0..7. Any idle thread takes the next
 * message; the job runs the tool's main exactly as the standalone tool
 * would run (lib/job.h maps its descriptors and streams); when it
 * returns, its descriptors are closed and its exit status is sent on the
 * reply socket, which is then closed: to the requester that reads like
 * waitpid(2), and a reply socket that ends without a status means the
 * host died. A host keeps one idle thread ready (so a job waits for
 * another only when the pool is at its maximum), lets surplus idle
 * threads go, and exits once nobody holds the other end of its queue
 * and its last job is done.
 */
#ifndef GB_HOST_H
#define GB_HOST_H

#include <stddef.h>

#include "gb.h"

#define GB_HOST_ARGS	4096	/* bytes of argv in one job message */
#define GB_HOST_THREADS	256	/* jobs at once in one host */
#define GB_HOST_SPARE	4	/* idle threads kept */
#define GB_HOST_ARENAS	2	/* malloc arenas of a host */

struct gb_host_ops {
	int	(*run)(int, char **);	/* the tool's main */
	void	(*thread_end)(void);	/* a thread leaves (may be NULL) */
	int	(*start)(struct gb_err *); /* before serving (may be NULL) */
};

/*
 * A tool's main calls this first: when argv is "TOOL -W" the tool is a
 * host, spawned by gb-serve (lib/pipeline.c) with its queue on
 * descriptor 3. Names the process TOOL-host and serves jobs (never
 * returns), or returns the exit status of a host that cannot start; -1
 * when argv asks for no host (the tool runs as itself).
 */
int	gb_host_main(int, char *[], const char *, const struct gb_host_ops *);

/* Serve jobs from the queue descriptor q until it closes; never returns. */
void	gb_host_serve(int, const struct gb_host_ops *)
	    __attribute__((noreturn));

/*
 * Hand a job to the host behind queue q: argv, and job descriptor i =
 * fds[i] for i < nfds (-1: none; 0-2 then read and write /dev/null).
 * Returns the reply socket to wait on, or -1 with err set (err->code is
 * GB_EXIT_NO when the host is gone: start another and try again).
 */
int	gb_host_submit(int, const char *const *, const int *, size_t,
	    struct gb_err *);

/* The job's exit status from its reply socket, or -1 if the host died. */
int	gb_host_status(int);

#endif
