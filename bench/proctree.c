/*
 * proctree - memory and CPU of a process tree, by PID.
 *
 * usage: proctree rss ROOTPID PREFIX
 *        proctree cpu ROOTPID PREFIX
 *
 * "rss": every 50 ms, sum the resident set (statm) of ROOTPID and all
 * its descendants whose command name starts with PREFIX ("" for all),
 * counting a gb-call worker as a child of the connection process it
 * serves (it is started through a child that exits at once);
 * also the proportional set size (smaps_rollup Pss, shared pages split
 * among the processes that map them), which is what the tree really
 * costs the machine; the threads of those processes (num_threads) and,
 * every 500 ms, their open descriptors (/proc/PID/fd); on SIGTERM/SIGINT,
 * or when ROOTPID is gone, print
 *   RSS peak_kib=N peak_pss_kib=Q peak_procs=P peak_threads=T peak_fds=D
 *   samples=S
 * "cpu": print once the CPU time of that tree (utime+stime of each
 * matching live process plus cutime+cstime, i.e. the children it has
 * reaped; ROOTPID always counts, whatever its name, so that a launcher
 * such as systemd-socket-activate --accept brings in its reaped
 * children), as
 *   CPU us=N procs=P
 * A benchmark helper, not part of the product.
 */
#include <sys/types.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXP	32768

struct proc {
	pid_t	pid;
	pid_t	ppid;
	int	match;
	int	intree;
	pid_t	owner;		/* a gb-call worker's connection process */
	unsigned long long ticks;	/* utime+stime+cutime+cstime */
	long	threads;
};

static struct proc procs[MAXP];
static volatile sig_atomic_t stop;

static void
onsig(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * A gb-call worker ("gb-call -W PID START", gb-call(1)) is started
 * through a child that exits at once, so it is no descendant of the
 * server: it belongs to the tree of connection process PID.
 */
static pid_t
worker_owner(const char *pid)
{
	char path[300], buf[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "gb-call\0-W\0PID\0START\0" */
	if (n < 12 || strcmp(buf, "gb-call") != 0 || strcmp(buf + 8, "-W") != 0)
		return 0;
	return atoi(buf + 11);
}

/* Read every /proc/PID/stat; returns the number of processes. */
static int
scan(const char *prefix)
{
	DIR *d;
	struct dirent *e;
	char path[300], buf[1024], *p, *q;
	FILE *f;
	int n = 0;
	unsigned long ut, st;
	long cut, cst, nth;
	int ppid;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < MAXP) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) == NULL) {
			fclose(f);
			continue;
		}
		fclose(f);
		if ((p = strchr(buf, '(')) == NULL ||
		    (q = strrchr(buf, ')')) == NULL)
			continue;
		*q = '\0';
		/* state ppid pgrp session tty tpgid flags minflt cminflt
		 * majflt cmajflt utime stime cutime cstime priority nice
		 * num_threads */
		if (sscanf(q + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		    "%lu %lu %ld %ld %*d %*d %ld", &ppid, &ut, &st, &cut, &cst,
		    &nth) != 6)
			continue;
		procs[n].pid = atoi(e->d_name);
		procs[n].ppid = ppid;
		procs[n].match = strncmp(p + 1, prefix, strlen(prefix)) == 0;
		procs[n].intree = 0;
		procs[n].owner = strcmp(p + 1, "gb-call-worker") == 0 ?
		    worker_owner(e->d_name) : 0;
		procs[n].ticks = ut + st + cut + cst;
		procs[n].threads = nth;
		n++;
	}
	closedir(d);
	return n;
}

static void
mark(int n, pid_t root)
{
	int i, changed = 1;

	for (i = 0; i < n; i++)
		procs[i].intree = procs[i].pid == root;
	while (changed) {
		changed = 0;
		for (i = 0; i < n; i++) {
			int j;

			if (procs[i].intree)
				continue;
			for (j = 0; j < n; j++)
				if (procs[j].intree &&
				    (procs[j].pid == procs[i].ppid ||
				    procs[j].pid == procs[i].owner)) {
					procs[i].intree = 1;
					changed = 1;
					break;
				}
		}
	}
}

static long
rss_kib(pid_t pid)
{
	char path[64];
	FILE *f;
	long size, res;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static long
nfds(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	long v = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			v++;
	closedir(d);
	return v;
}

static long
pss_kib(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	long v = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Pss:", 4) == 0) {
			v = strtol(line + 4, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int
main(int argc, char *argv[])
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	pid_t root;
	int n, i, procsn, peakprocs = 0, samples = 0;
	long sum, pss, th, fds, peak = 0, peakpss = 0, peakth = 0;
	long peakfds = 0;
	unsigned long long ticks = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: proctree rss|cpu ROOTPID PREFIX\n");
		return 1;
	}
	root = atoi(argv[2]);
	if (strcmp(argv[1], "cpu") == 0) {
		n = scan(argv[3]);
		mark(n, root);
		for (i = procsn = 0; i < n; i++)
			if (procs[i].intree && (procs[i].match ||
			    procs[i].pid == root)) {
				ticks += procs[i].ticks;
				procsn++;
			}
		printf("CPU us=%llu procs=%d\n",
		    ticks * 1000000ULL / sysconf(_SC_CLK_TCK), procsn);
		return 0;
	}
	signal(SIGTERM, onsig);
	signal(SIGINT, onsig);
	while (!stop && kill(root, 0) == 0) {
		n = scan(argv[3]);
		mark(n, root);
		for (i = procsn = 0, sum = pss = th = fds = 0; i < n; i++)
			if (procs[i].intree && procs[i].match) {
				sum += rss_kib(procs[i].pid);
				pss += pss_kib(procs[i].pid);
				th += procs[i].threads;
				if (samples % 10 == 0)
					fds += nfds(procs[i].pid);
				procsn++;
			}
		if (th > peakth)
			peakth = th;
		if (fds > peakfds)
			peakfds = fds;
		if (sum > peak)
			peak = sum;
		if (pss > peakpss)
			peakpss = pss;
		if (procsn > peakprocs)
			peakprocs = procsn;
		samples++;
		nanosleep(&ts, NULL);
	}
	printf("RSS peak_kib=%ld peak_pss_kib=%ld peak_procs=%d "
	    "peak_threads=%ld peak_fds=%ld samples=%d\n", peak, peakpss,
	    peakprocs, peakth, peakfds, samples);
	return 0;
}
