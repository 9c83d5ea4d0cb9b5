/*
 * spawnbench - what it costs to make a process.
 *
 * usage: spawnbench [-n N] [-r ROUNDS] [-i FILE] fork
 *        spawnbench [-n N] [-r ROUNDS] [-i FILE] exec PROG [ARG...]
 *        spawnbench [-n N] [-r ROUNDS] [-i FILE] spawn PROG [ARG...]
 *        spawnbench [-n N] [-r ROUNDS] pipe
 *
 * fork:  fork(); the child _exit(0)s at once; waitpid.
 * exec:  fork() + execv(PROG) in the child; wait4.
 * spawn: posix_spawn(PROG); wait4.
 * pipe:  one round trip of a 1 KiB message to an already running child
 *        over a pair of pipes (what a hop to a long-lived worker costs).
 * Each round runs N iterations; stdin of the child is FILE (default
 * /dev/null) opened afresh, stdout and stderr go to /dev/null. Prints
 *
 *   SPAWN wall_us=M cpu_us=C user_us=U sys_us=S fails=F
 *
 * wall_us is the median over the rounds of the mean wall time per
 * iteration, cpu_us the mean CPU (user+sys, from wait4's rusage) of
 * one child, i.e. what the child itself burnt. With -DWITH_CURL the
 * driver is linked with libcurl, Jansson and libsystemd and initialises
 * libcurl before measuring, so "fork" shows the cost of forking a
 * process shaped like gb-serve (the multi-call option).
 * A benchmark helper, not part of the product.
 */
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef WITH_CURL
#include <curl/curl.h>
#include <jansson.h>
#include <systemd/sd-daemon.h>
#endif

extern char **environ;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Round trips of 1 KiB to a child that echoes it back. */
static int
pingpong(int n, int r)
{
	char buf[1024];
	double rounds[100], t0;
	int to[2], from[2], i, k;
	ssize_t got, m;
	pid_t pid;

	memset(buf, 'x', sizeof(buf));
	if (pipe(to) == -1 || pipe(from) == -1)
		return 1;
	if ((pid = fork()) == 0) {
		close(to[1]);
		close(from[0]);
		while ((got = read(to[0], buf, sizeof(buf))) > 0)
			if (write(from[1], buf, got) != got)
				_exit(1);
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	for (k = 0; k < r; k++) {
		t0 = now_us();
		for (i = 0; i < n; i++) {
			if (write(to[1], buf, sizeof(buf)) != sizeof(buf))
				return 1;
			for (got = 0; got < (ssize_t)sizeof(buf); got += m)
				if ((m = read(from[0], buf + got,
				    sizeof(buf) - got)) <= 0)
					return 1;
		}
		rounds[k] = (now_us() - t0) / n;
	}
	close(to[1]);
	waitpid(pid, NULL, 0);
	qsort(rounds, r, sizeof(double), cmpd);
	printf("SPAWN wall_us=%.1f cpu_us=0 user_us=0 sys_us=0 fails=0 "
	    "min_us=%.1f max_us=%.1f\n", rounds[r / 2], rounds[0],
	    rounds[r - 1]);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: spawnbench [-n N] [-r ROUNDS] [-i FILE] "
	    "fork | pipe | exec PROG [ARG...] | spawn PROG [ARG...]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	const char *in = "/dev/null", *mode;
	double rounds[100], t0, cpu = 0, ucpu = 0, scpu = 0;
	int n = 200, r = 5, c, i, k, fails = 0, status, nullfd;
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	pid_t pid;

	while ((c = getopt(argc, argv, "+n:r:i:")) != -1) {
		switch (c) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'r':
			r = atoi(optarg);
			break;
		case 'i':
			in = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || n < 1 || r < 1 || r > 100)
		usage();
	mode = argv[0];
	argv++;
	if (strcmp(mode, "fork") != 0 && strcmp(mode, "pipe") != 0 &&
	    argv[0] == NULL)
		usage();
#ifdef WITH_CURL
	{
		CURL *h;
		json_t *j;

		curl_global_init(CURL_GLOBAL_DEFAULT);
		h = curl_easy_init();
		curl_easy_setopt(h, CURLOPT_URL, "http://127.0.0.1:9/");
		j = json_loads("{\"a\":[1,2,3]}", 0, NULL);
		json_decref(j);
		(void)sd_booted();
		(void)h;	/* kept alive on purpose, like gb-serve's */
	}
#endif
	if (strcmp(mode, "pipe") == 0)
		return pingpong(n, r);
	if ((nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		return 1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, nullfd, 1);
	posix_spawn_file_actions_adddup2(&fa, nullfd, 2);

	for (k = 0; k < r; k++) {
		t0 = now_us();
		for (i = 0; i < n; i++) {
			if (strcmp(mode, "spawn") == 0) {
				if (posix_spawn(&pid, argv[0], &fa, NULL, argv,
				    environ) != 0) {
					fails++;
					continue;
				}
			} else if ((pid = fork()) == 0) {
				int fd;

				if (strcmp(mode, "fork") == 0)
					_exit(0);
				if ((fd = open(in, O_RDONLY)) != -1 &&
				    fd != 0) {
					dup2(fd, 0);
					close(fd);
				}
				dup2(nullfd, 1);
				dup2(nullfd, 2);
				execv(argv[0], argv);
				_exit(127);
			} else if (pid == -1) {
				fails++;
				continue;
			}
			if (wait4(pid, &status, 0, &ru) == -1 ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fails++;
			ucpu += ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec;
			scpu += ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
		}
		rounds[k] = (now_us() - t0) / n;
	}
	qsort(rounds, r, sizeof(double), cmpd);
	cpu = ucpu + scpu;
	printf("SPAWN wall_us=%.1f cpu_us=%.1f user_us=%.1f sys_us=%.1f "
	    "fails=%d min_us=%.1f max_us=%.1f\n", rounds[r / 2],
	    cpu / ((double)n * r), ucpu / ((double)n * r),
	    scpu / ((double)n * r), fails, rounds[0], rounds[r - 1]);
	return 0;
}
