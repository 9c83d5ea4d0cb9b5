/*
 * metrics.c - the shared counter block (metrics.h).
 *
 * The file is made or remade under an exclusive flock on itself: a
 * process that finds it missing, short, or of another layout (magic and
 * size) zeroes it at the right size; everyone else maps it as it is.
 * Counters are 64-bit words changed only by atomic adds, so processes
 * never lose an update and never take a lock on the hot path. The
 * block is never shrunk, so a mapping never outlives its pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "metrics.h"

#define MAGIC	"GBMETR01"

struct gb_metrics {
	int			 fd;
	struct gb_metrics_block	*b;
};

static const double bounds[GB_METRICS_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300
};

static const char *const outcomes[GB_OUT_N] = {
	"ok", "4xx", "429", "5xx", "invalid_key", "empty", "not_json",
	"network", "cancelled"
};

static void
add(uint64_t *p, uint64_t n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

uint64_t
gb_metrics_get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Under the lock: a block of our layout, zeroed when it was not. */
static int
prepare(int fd)
{
	struct gb_metrics_block h;
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -1;
	if ((size_t)st.st_size >= sizeof(h) &&
	    pread(fd, &h, offsetof(struct gb_metrics_block, routes), 0) ==
	    (ssize_t)offsetof(struct gb_metrics_block, routes) &&
	    memcmp(h.magic, MAGIC, 8) == 0 && h.size == sizeof(h))
		return 0;
	if (ftruncate(fd, 0) == -1 || ftruncate(fd, sizeof(h)) == -1)
		return -1;
	memset(&h, 0, offsetof(struct gb_metrics_block, routes));
	memcpy(h.magic, MAGIC, 8);
	h.size = sizeof(h);
	if (pwrite(fd, &h, offsetof(struct gb_metrics_block, routes), 0) !=
	    (ssize_t)offsetof(struct gb_metrics_block, routes))
		return -1;
	return 0;
}

/* prepare() as gb_io_mapshared calls it. */
static int
prepare_block(int fd, void *unused)
{
	(void)unused;
	return prepare(fd);
}

struct gb_metrics *
gb_metrics_open(const char *dir, struct gb_err *err)
{
	struct gb_metrics *m;
	void *p;
	int fd;

	if ((p = gb_io_mapshared(dir, "metrics",
	    sizeof(struct gb_metrics_block), prepare_block, NULL, &fd,
	    err)) == NULL)
		return NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		munmap(p, sizeof(struct gb_metrics_block));
		close(fd);
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	m->fd = fd;
	m->b = p;
	return m;
}

void
gb_metrics_close(struct gb_metrics *m)
{
	if (m == NULL)
		return;
	munmap(m->b, sizeof(*m->b));
	close(m->fd);
	free(m);
}

void
gb_metrics_routes(struct gb_metrics *m, uint64_t print)
{
	struct gb_metrics_block *b;

	if (m == NULL)
		return;
	b = m->b;
	if (flock(m->fd, LOCK_EX) == -1)
		return;
	if (gb_metrics_get(&b->routes) != print) {
		memset(b->requests, 0, sizeof(b->requests));
		memset(b->duration, 0, sizeof(b->duration));
		memset(b->duration_us, 0, sizeof(b->duration_us));
		__atomic_store_n(&b->routes, print, __ATOMIC_RELAXED);
	}
	flock(m->fd, LOCK_UN);
}

void
gb_metrics_attempt(struct gb_metrics *m, enum gb_metrics_outcome o)
{
	if (m != NULL && (unsigned)o < GB_OUT_N)
		add(&m->b->attempts[o], 1);
}

void
gb_metrics_retry(struct gb_metrics *m)
{
	if (m != NULL)
		add(&m->b->retries, 1);
}

void
gb_metrics_bytes(struct gb_metrics *m, uint64_t in, uint64_t out)
{
	if (m == NULL)
		return;
	if (in > 0)
		add(&m->b->bytes_in, in);
	if (out > 0)
		add(&m->b->bytes_out, out);
}

void
gb_metrics_request(struct gb_metrics *m, size_t r, int status,
    uint64_t usec)
{
	size_t cls, i;

	if (m == NULL || r >= GB_METRICS_ROUTES)
		return;
	cls = status >= 100 && status < 600 ? (size_t)(status / 100 - 1) :
	    GB_METRICS_CLASSES - 1;
	add(&m->b->requests[r][cls], 1);
	for (i = 0; i < GB_METRICS_BUCKETS; i++)
		if ((double)usec <= bounds[i] * 1e6)
			break;
	add(&m->b->duration[r][i], 1);
	add(&m->b->duration_us[r], usec);
}

const struct gb_metrics_block *
gb_metrics_block(const struct gb_metrics *m)
{
	return m != NULL ? m->b : NULL;
}

const char *
gb_metrics_outcome_name(enum gb_metrics_outcome o)
{
	return (unsigned)o < GB_OUT_N ? outcomes[o] : "other";
}

double
gb_metrics_bound(size_t i)
{
	return i < GB_METRICS_BUCKETS ? bounds[i] : 0;
}
