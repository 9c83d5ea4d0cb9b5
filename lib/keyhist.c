/*
 * keyhist.c - per-key recent history (keyhist.h), file format in
 * gb-keys(5).
 *
 * The file is a 64-byte header ("GBKHIST1", then the slot size) and one
 * slot per key, in API_KEYS order: the key's 16-hex-digit state id,
 * then three rings of counters -- 60 one-second, 60 one-minute and 24
 * one-hour buckets -- each bucket three words (uses, failures, 429s).
 * A word holds the period it counts for in its high 32 bits (seconds,
 * minutes or hours since the epoch) and the count in its low 32 bits,
 * so a bucket of a period gone by is recognised and restarted by the
 * same compare-and-swap that counts: no lock, and no count lost or
 * doubled between processes. Readers sum the words whose period lies
 * in the window.
 *
 * A slot whose id is not its key's (a new key, or API_KEYS reordered)
 * is cleared under an exclusive flock on the file before it is used.
 * The file only grows, so no mapping ever outlives its pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "keyhist.h"

#define MAGIC		"GBKHIST1"
#define HEAD		64
#define IDLEN		16
#define SECS		60
#define MINS		60
#define HOURS		24

struct slot {
	char		id[IDLEN];
	uint64_t	sec[SECS][GB_KH_N];
	uint64_t	min[MINS][GB_KH_N];
	uint64_t	hour[HOURS][GB_KH_N];
};

struct gb_keyhist {
	int		 fd;
	size_t		 nkeys;
	size_t		 len;		/* mapped */
	unsigned char	*p;
};

static struct slot *
slot_of(struct gb_keyhist *h, size_t idx)
{
	return (struct slot *)(void *)(h->p + HEAD + idx * sizeof(struct slot));
}

/* Under the lock: our header, and room for nkeys slots. */
static int
prepare(int fd, size_t nkeys)
{
	unsigned char head[HEAD];
	uint64_t ssz = sizeof(struct slot);
	struct stat st;
	off_t want = (off_t)(HEAD + nkeys * sizeof(struct slot));

	if (fstat(fd, &st) == -1)
		return -1;
	if (st.st_size < HEAD || pread(fd, head, HEAD, 0) != HEAD ||
	    memcmp(head, MAGIC, 8) != 0 || memcmp(head + 8, &ssz, 8) != 0) {
		memset(head, 0, sizeof(head));
		memcpy(head, MAGIC, 8);
		memcpy(head + 8, &ssz, 8);
		if (ftruncate(fd, 0) == -1 || ftruncate(fd, want) == -1 ||
		    pwrite(fd, head, HEAD, 0) != HEAD)
			return -1;
		return 0;
	}
	if (st.st_size < want && ftruncate(fd, want) == -1)
		return -1;
	return 0;
}

/* prepare() as gb_io_mapshared calls it. */
static int
prepare_slots(int fd, void *nkeys)
{
	return prepare(fd, *(size_t *)nkeys);
}

struct gb_keyhist *
gb_keyhist_open(const char *dir, size_t nkeys, struct gb_err *err)
{
	struct gb_keyhist *h;
	size_t len = HEAD + nkeys * sizeof(struct slot);
	void *p;
	int fd;

	if ((p = gb_io_mapshared(dir, "keys.hist", len, prepare_slots,
	    &nkeys, &fd, err)) == NULL)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		munmap(p, len);
		close(fd);
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	h->fd = fd;
	h->nkeys = nkeys;
	h->len = len;
	h->p = p;
	return h;
}

void
gb_keyhist_close(struct gb_keyhist *h)
{
	if (h == NULL)
		return;
	munmap(h->p, h->len);
	close(h->fd);
	free(h);
}

/* Count one in word w for period t (a bucket of an older one restarts). */
static void
bump(uint64_t *w, uint32_t t)
{
	uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED), nw;

	do {
		if ((uint32_t)(old >> 32) == t)
			nw = old + 1;
		else if ((uint32_t)(old >> 32) > t)
			return;		/* a newer period already: too late */
		else
			nw = (uint64_t)t << 32 | 1;
	} while (!__atomic_compare_exchange_n(w, &old, nw, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

/* The slot of key idx, id, claimed for it if it held another key. */
static struct slot *
claim(struct gb_keyhist *h, size_t idx, const char *id)
{
	struct slot *s;

	if (h == NULL || idx >= h->nkeys || id == NULL || strlen(id) != IDLEN)
		return NULL;
	s = slot_of(h, idx);
	if (memcmp(s->id, id, IDLEN) == 0)
		return s;
	if (flock(h->fd, LOCK_EX) == -1)
		return NULL;
	if (memcmp(s->id, id, IDLEN) != 0) {
		memset(s, 0, sizeof(*s));
		memcpy(s->id, id, IDLEN);
	}
	flock(h->fd, LOCK_UN);
	return s;
}

void
gb_keyhist_add(struct gb_keyhist *h, size_t idx, const char *id, int fail,
    int c429, time_t now)
{
	struct slot *s;
	uint32_t t = (uint32_t)now;
	int what[GB_KH_N], i;

	if ((s = claim(h, idx, id)) == NULL)
		return;
	what[GB_KH_USE] = 1;
	what[GB_KH_FAIL] = fail;
	what[GB_KH_429] = c429;
	for (i = 0; i < GB_KH_N; i++) {
		if (!what[i])
			continue;
		bump(&s->sec[t % SECS][i], t);
		bump(&s->min[(t / 60) % MINS][i], t / 60);
		bump(&s->hour[(t / 3600) % HOURS][i], t / 3600);
	}
}

/* Sum the n words of ring r[n][GB_KH_N] whose period is in (t-n, t]. */
static void
sum(const uint64_t (*r)[GB_KH_N], size_t n, uint32_t t,
    unsigned long long *out)
{
	uint64_t w;
	uint32_t at;
	size_t b;
	int i;

	for (b = 0; b < n; b++)
		for (i = 0; i < GB_KH_N; i++) {
			w = __atomic_load_n(&r[b][i], __ATOMIC_RELAXED);
			at = (uint32_t)(w >> 32);
			if (at <= t && t - at < n)
				out[i] += (uint32_t)w;
		}
}

void
gb_keyhist_get(struct gb_keyhist *h, size_t idx, const char *id, time_t now,
    struct gb_keyhist_sums *out)
{
	const struct slot *s;
	uint32_t t = (uint32_t)now;

	memset(out, 0, sizeof(*out));
	if (h == NULL || idx >= h->nkeys || id == NULL ||
	    strlen(id) != IDLEN)
		return;
	s = slot_of(h, idx);
	if (memcmp(s->id, id, IDLEN) != 0)
		return;
	sum((const uint64_t (*)[GB_KH_N])s->sec, SECS, t,
	    out->n[GB_KH_MINUTE]);
	sum((const uint64_t (*)[GB_KH_N])s->min, MINS, t / 60,
	    out->n[GB_KH_HOUR]);
	sum((const uint64_t (*)[GB_KH_N])s->hour, HOURS, t / 3600,
	    out->n[GB_KH_DAY]);
}

json_t *
gb_keyhist_json(const struct gb_keyhist_sums *s)
{
	static const char *const span[GB_KH_SPANS] = { "1m", "1h", "24h" };
	json_t *o, *v;
	int i;

	if ((o = json_object()) == NULL)
		return NULL;
	for (i = 0; i < GB_KH_SPANS; i++) {
		v = json_pack("{s:I,s:I,s:I}",
		    "uses", (json_int_t)s->n[i][GB_KH_USE],
		    "failures", (json_int_t)s->n[i][GB_KH_FAIL],
		    "429", (json_int_t)s->n[i][GB_KH_429]);
		if (v == NULL || json_object_set_new(o, span[i], v) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int
gb_keyhist_annotate(struct gb_keyhist *h, json_t *doc, time_t now)
{
	struct gb_keyhist_sums sums;
	json_t *k, *idx;
	size_t i;

	json_array_foreach(json_object_get(doc, "keys"), i, k) {
		idx = json_object_get(k, "index");
		gb_keyhist_get(h, json_is_integer(idx) &&
		    json_integer_value(idx) >= 0 ?
		    (size_t)json_integer_value(idx) : (size_t)-1,
		    json_string_value(json_object_get(k, "id")), now, &sums);
		if (json_object_set_new(k, "recent", gb_keyhist_json(&sums)) ==
		    -1)
			return -1;
	}
	return 0;
}
