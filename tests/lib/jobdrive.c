/*
 * jobdrive - run gb-convert and gb-sse as jobs (lib/job.h) many times
 * over, in several threads of one process at once, and check every
 * run's stdout, stderr, descriptor 3 and exit status against a case.
 * Built by tests/gb-job-tools.bats with the tools' main renamed
 * gb_main_gb_convert and gb_main_gb_sse.
 *
 * usage: jobdrive [-n runs] [-t threads] case ...
 *
 * A case is a path prefix P: P.args (the tool's argv as words on one
 * line, the first gb-convert or gb-sse), P.in (its stdin), P.out (the
 * expected stdout, its random parts normalised as tests/lib/sse.bash
 * does), P.err (stderr), P.meta (what descriptor 3 gets), P.status (the
 * exit status); a missing file means empty, or 0. An optional P.stdout
 * names a file opened as the job's stdout instead (such as /dev/full).
 * A job gets descriptors 0-3: P.in, then memory files for 1, 2 and 3.
 * Each of the threads runs the given number of runs, going round the
 * cases from its own starting point. At the end every descriptor the
 * runs opened must be closed again: the host's (those the job did not
 * gb_close), the job's streams.
 *
 * Exit 0 after printing "N runs ok", 1 at a mismatch, 2 on misuse.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "job.h"

int	gb_main_gb_convert(int, char **);
int	gb_main_gb_sse(int, char **);

#define MAXARGS	32

struct bytes {
	char	*p;
	size_t	 n;
};

struct tcase {
	const char	*name;
	int		(*fn)(int, char **);
	int		 argc;
	char		*argv[MAXARGS + 1];
	char		*in;		/* path of stdin */
	char		*outpath;	/* NULL: a memory file */
	struct bytes	 out, err, meta;
	int		 status;
};

static struct tcase *cases;
static int ncases, runs = 1;
static atomic_int failed;

static void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n)) == NULL) {
		perror("jobdrive");
		exit(2);
	}
	return p;
}

/* The contents of path (NUL-terminated), or empty when it is missing. */
static struct bytes
slurp(const char *path)
{
	struct bytes b = { xmalloc(1), 0 };
	char chunk[8192];
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
			if ((b.p = realloc(b.p, b.n + (size_t)r + 1)) == NULL) {
				perror("jobdrive");
				exit(2);
			}
			memcpy(b.p + b.n, chunk, (size_t)r);
			b.n += (size_t)r;
		}
		close(fd);
	}
	b.p[b.n] = '\0';
	return b;
}

/* Everything written to a memory file so far. */
static struct bytes
drain(int fd)
{
	struct bytes b;
	off_t end = lseek(fd, 0, SEEK_END);
	ssize_t r;

	b.n = end > 0 ? (size_t)end : 0;
	b.p = xmalloc(b.n + 1);
	r = pread(fd, b.p, b.n, 0);
	b.n = r > 0 ? (size_t)r : 0;
	b.p[b.n] = '\0';
	return b;
}

static size_t
span(const char *p, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n && p[i] != '\0' && strchr(set, p[i]) != NULL; i++)
		continue;
	return i;
}

/*
 * The random parts made comparable, as sse_normalise does: completion
 * ids, creation times, the random half of tool-call ids.
 */
static struct bytes
normalise(struct bytes in)
{
	static const struct {
		const char *from, *set, *to;
	} rule[] = {
		{ "\"chatcmpl-", "0123456789abcdef", "ID" },
		{ "\"created\":", "0123456789", "0" },
		{ "\"call_", "0123456789abcdef", "ID" },
	};
	struct bytes b = { xmalloc(in.n + 1), 0 };
	size_t i = 0, j, k, l;

	while (i < in.n) {
		for (j = 0; j < sizeof(rule) / sizeof(rule[0]); j++) {
			l = strlen(rule[j].from);
			if (in.n - i > l && memcmp(in.p + i, rule[j].from,
			    l) == 0 && (k = span(in.p + i + l, in.n - i - l,
			    rule[j].set)) > 0)
				break;
		}
		if (j == sizeof(rule) / sizeof(rule[0])) {
			b.p[b.n++] = in.p[i++];
			continue;
		}
		memcpy(b.p + b.n, rule[j].from, l);
		b.n += l;
		memcpy(b.p + b.n, rule[j].to, strlen(rule[j].to));
		b.n += strlen(rule[j].to);
		i += l + k;
	}
	b.p[b.n] = '\0';
	return b;
}

static void
load_case(struct tcase *c, const char *prefix)
{
	char path[4096], *w, *save;
	struct bytes args, st, op;

	c->name = prefix;
	snprintf(path, sizeof(path), "%s.args", prefix);
	args = slurp(path);
	for (w = strtok_r(args.p, " \t\n", &save); w != NULL &&
	    c->argc < MAXARGS; w = strtok_r(NULL, " \t\n", &save))
		c->argv[c->argc++] = w;
	c->argv[c->argc] = NULL;
	if (c->argc > 0 && strcmp(c->argv[0], "gb-convert") == 0)
		c->fn = gb_main_gb_convert;
	else if (c->argc > 0 && strcmp(c->argv[0], "gb-sse") == 0)
		c->fn = gb_main_gb_sse;
	else {
		fprintf(stderr, "jobdrive: %s: no tool named\n", path);
		exit(2);
	}
	snprintf(path, sizeof(path), "%s.in", prefix);
	c->in = strdup(path);
	snprintf(path, sizeof(path), "%s.out", prefix);
	c->out = slurp(path);
	snprintf(path, sizeof(path), "%s.err", prefix);
	c->err = slurp(path);
	snprintf(path, sizeof(path), "%s.meta", prefix);
	c->meta = slurp(path);
	snprintf(path, sizeof(path), "%s.status", prefix);
	st = slurp(path);
	c->status = atoi(st.p);
	free(st.p);
	snprintf(path, sizeof(path), "%s.stdout", prefix);
	op = slurp(path);
	op.p[strcspn(op.p, "\n")] = '\0';
	if (op.p[0] != '\0')
		c->outpath = op.p;
	else
		free(op.p);
}

static int
same(const struct tcase *c, int tid, int run, const char *what,
    struct bytes got, struct bytes want)
{
	if (got.n == want.n && memcmp(got.p, want.p, got.n) == 0)
		return 1;
	fprintf(stderr, "jobdrive: %s: thread %d run %d: %s differs\n"
	    "--- got (%zu bytes)\n%s\n--- want (%zu bytes)\n%s\n",
	    c->name, tid, run, what, got.n, got.p, want.n, want.p);
	return 0;
}

static void *
worker(void *arg)
{
	int tid = (int)(long)arg, fds[4], mem[3], i, r, rc, ok;
	char *argv[MAXARGS + 1];
	struct tcase *c;
	struct bytes out, nout, err, meta;

	for (i = 0; i < 3; i++)
		if ((mem[i] = memfd_create("jobdrive", MFD_CLOEXEC)) == -1) {
			perror("jobdrive: memfd_create");
			exit(2);
		}
	for (r = 0; r < runs && !atomic_load(&failed); r++) {
		c = &cases[(tid + r) % ncases];
		for (i = 0; i < 3; i++) {
			if (ftruncate(mem[i], 0) == -1 ||
			    lseek(mem[i], 0, SEEK_SET) == -1) {
				perror("jobdrive: ftruncate");
				exit(2);
			}
		}
		fds[0] = open(c->in, O_RDONLY | O_CLOEXEC);
		fds[1] = c->outpath != NULL ?
		    open(c->outpath, O_WRONLY | O_CLOEXEC) :
		    fcntl(mem[0], F_DUPFD_CLOEXEC, 0);
		fds[2] = fcntl(mem[1], F_DUPFD_CLOEXEC, 0);
		fds[3] = fcntl(mem[2], F_DUPFD_CLOEXEC, 0);
		for (i = 0; i < 4; i++)
			if (fds[i] == -1) {
				perror("jobdrive: descriptor");
				exit(2);
			}
		memcpy(argv, c->argv, sizeof(argv));
		rc = gb_job_run(c->fn, c->argc, argv, fds, 4);
		ok = 1;
		/* a descriptor the job closed without gb_close is gone */
		for (i = 0; i < 4; i++)
			if (fds[i] != -1 && close(fds[i]) == -1) {
				fprintf(stderr, "jobdrive: %s: descriptor %d "
				    "closed behind the host's back\n",
				    c->name, i);
				ok = 0;
			}
		out = drain(mem[0]);
		nout = normalise(out);
		err = drain(mem[1]);
		meta = drain(mem[2]);
		if (rc != c->status) {
			fprintf(stderr, "jobdrive: %s: thread %d run %d: "
			    "status %d, want %d\n%s", c->name, tid, r, rc,
			    c->status, err.p);
			ok = 0;
		}
		ok = ok && same(c, tid, r, "stdout", nout, c->out) &&
		    same(c, tid, r, "stderr", err, c->err) &&
		    same(c, tid, r, "descriptor 3", meta, c->meta);
		free(out.p);
		free(nout.p);
		free(err.p);
		free(meta.p);
		if (!ok)
			atomic_store(&failed, 1);
	}
	for (i = 0; i < 3; i++)
		close(mem[i]);
	return NULL;
}

static int
count_fds(void)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int
main(int argc, char *argv[])
{
	pthread_t *th;
	int ch, nthreads = 1, i, fds0, fds1;
	long total;

	while ((ch = getopt(argc, argv, "n:t:")) != -1) {
		switch (ch) {
		case 'n':
			runs = atoi(optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || runs < 1 || nthreads < 1) {
usage:
		fprintf(stderr, "usage: jobdrive [-n runs] [-t threads] "
		    "case ...\n");
		return 2;
	}
	ncases = argc;
	cases = calloc((size_t)ncases, sizeof(*cases));
	th = calloc((size_t)nthreads, sizeof(*th));
	if (cases == NULL || th == NULL)
		return 2;
	for (i = 0; i < ncases; i++)
		load_case(&cases[i], argv[i]);

	fds0 = count_fds();
	for (i = 0; i < nthreads; i++)
		if ((errno = pthread_create(&th[i], NULL, worker,
		    (void *)(long)i)) != 0) {
			perror("jobdrive: pthread_create");
			return 2;
		}
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	fds1 = count_fds();
	if (fds1 != fds0) {
		fprintf(stderr, "jobdrive: %d descriptors open before the "
		    "runs, %d after\n", fds0, fds1);
		failed = 1;
	}

	for (i = 0; i < ncases; i++) {
		free(cases[i].argv[0]);	/* the words of P.args */
		free(cases[i].in);
		free(cases[i].outpath);
		free(cases[i].out.p);
		free(cases[i].err.p);
		free(cases[i].meta.p);
	}
	free(cases);
	free(th);
	if (failed)
		return 1;
	total = (long)runs * nthreads;
	printf("%ld runs ok\n", total);
	return 0;
}
