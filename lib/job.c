/*
 * job.c - descriptors, streams and getopt state of a tool run as a job
 * (job.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "job.h"

_Thread_local struct gb_job *gb_job_self;
_Thread_local char *gb_optarg;
_Thread_local int gb_optind = 1, gb_optopt;
static _Thread_local const char *nextc;	/* inside a cluster like -gu */

/* A stream of its own on a copy of fd (fclose must not close fd). */
static FILE *
stream_on(int fd)
{
	FILE *f;
	int d;

	if (fd < 0 || (d = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return fopen("/dev/null", "we");
	if ((f = fdopen(d, "w")) == NULL)
		close(d);
	return f;
}

FILE *
gb_stderr(void)
{
	struct gb_job *j = gb_job_self;

	if (j == NULL)
		return stderr;
	if (j->err == NULL && (j->err = stream_on(j->fd[2])) != NULL)
		setvbuf(j->err, NULL, _IOLBF, 0);
	return j->err != NULL ? j->err : stderr;
}

FILE *
gb_stdout(void)
{
	struct gb_job *j = gb_job_self;

	if (j == NULL)
		return stdout;
	if (j->out == NULL)
		j->out = stream_on(j->fd[1]);
	return j->out != NULL ? j->out : stdout;
}

int
gb_close(int n)
{
	struct gb_job *j = gb_job_self;
	int fd;

	if (j == NULL)
		return close(n);
	if (n < 0 || n >= GB_JOB_FDS || j->fd[n] == -1) {
		errno = EBADF;
		return -1;
	}
	fd = j->fd[n];
	j->fd[n] = -1;
	j->closed |= 1U << n;
	return close(fd);
}

int
gb_job_run(int (*fn)(int, char **), int argc, char **argv, int *fds,
    int nfds)
{
	struct gb_job job, *saved = gb_job_self;
	int i, rc;

	memset(&job, 0, sizeof(job));
	for (i = 0; i < GB_JOB_FDS; i++)
		job.fd[i] = i < nfds ? fds[i] : -1;
	gb_job_self = &job;
	gb_optind = 1;
	nextc = NULL;
	rc = fn(argc, argv);
	for (i = 0; i < nfds && i < GB_JOB_FDS; i++)
		if (job.closed & (1U << i))
			fds[i] = -1;
	if (job.out != NULL)
		fclose(job.out);
	if (job.err != NULL)
		fclose(job.err);
	gb_job_self = saved;
	return rc;
}

static int
opt_error(char *const argv[], const char *fmt, int c, const char *opts)
{
	if (*opts != ':')
		fprintf(gb_stderr(), fmt, argv[0], c);
	return '?';
}

int
gb_getopt(int argc, char *const argv[], const char *opts)
{
	const char *arg, *o;
	int c;

	if (*opts == '+')
		opts++;
	if (gb_optind == 0) {
		gb_optind = 1;
		nextc = NULL;
	}
	gb_optarg = NULL;
	if (nextc == NULL || *nextc == '\0') {
		if (gb_optind >= argc || (arg = argv[gb_optind]) == NULL ||
		    arg[0] != '-' || arg[1] == '\0')
			return -1;
		if (strcmp(arg, "--") == 0) {
			gb_optind++;
			return -1;
		}
		nextc = arg + 1;
	}
	c = (unsigned char)*nextc++;
	gb_optopt = c;
	if (c == ':' || (o = strchr(opts, c)) == NULL) {
		if (*nextc == '\0')
			gb_optind++;
		return opt_error(argv, "%s: invalid option -- '%c'\n", c,
		    opts);
	}
	if (o[1] != ':') {
		if (*nextc == '\0')
			gb_optind++;
		return c;
	}
	if (*nextc != '\0') {
		gb_optarg = (char *)(uintptr_t)nextc;
		gb_optind++;
	} else if (gb_optind + 1 < argc) {
		gb_optarg = argv[gb_optind + 1];
		gb_optind += 2;
	} else {
		gb_optind++;
		nextc = NULL;
		opt_error(argv, "%s: option requires an argument -- '%c'\n",
		    c, opts);
		return *opts == ':' ? ':' : '?';
	}
	nextc = NULL;
	return c;
}
