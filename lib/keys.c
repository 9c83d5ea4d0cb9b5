/*
 * keys.c - the key rotation state on disk (see gb-keys(5)).
 *
 * The state of every key lives in one small text file,
 * $STATE_DIRECTORY/keys.state, one line per key. A key is named in the
 * file by a 64-bit SipHash-2-4 digest of the key (16 hex digits), never
 * by the key itself. Every change is a read-modify-write under an
 * exclusive flock(2) on a separate lock file, keys.lock; the new version
 * is written to keys.state.tmp, fsync'd, renamed over keys.state, and
 * the directory is fsync'd (writes that only move counters go into a
 * spare copy instead and exchange names, see write_spare). A process
 * killed at any instant therefore leaves either the old or the new
 * file, never a mix; readers take the lock shared.
 *
 * The lock is taken by polling with LOCK_NB and short sleeps, so a
 * process stuck while holding it (stopped, hung on a dead disk) makes
 * the others fail with GB_EXIT_TEMP after a bounded wait instead of
 * hanging the service; the lock goes away by itself when that process
 * dies.
 *
 * Everything on the hot path (gb_keys_next) is linear in the number of
 * keys with small constants: one read(2), a hand-rolled parser, one
 * hash table lookup per line, and a hand-rolled formatter.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "io.h"
#include "keys.h"
#include "mask.h"

#define STATE_FILE	"keys.state"
#define STATE_TMP	"keys.state.tmp"
#define STATE_BAD	"keys.state.bad"
#define LOCK_FILE	"keys.lock"
#define READ_WAIT_MS	100	/* a reader waits this long for the lock */
#define MAGIC		"gbkeys 1 "
#define STATE_MAX	(64 * 1024 * 1024)	/* largest state file read */
#define LINE_MAX_LEN	(17 + 8 * 21 + GB_KEYS_REASON_MAX + 2)

/* The SipHash key that turns API keys into state file ids (public). */
static const uint8_t idkey[16] = {
	'g', 'e', 'm', 'i', 'n', 'i', '-', 'b',
	'a', 'l', 'a', 'n', 'c', 'e', '.', 'k'
};

struct gb_keys {
	size_t		 n;		/* distinct keys, API_KEYS order */
	char		**key;		/* into keymem */
	char		*keymem;
	uint64_t	*id;		/* SipHash of each key */
	char		(*hex)[17];	/* id as hex */
	size_t		*tab;		/* open addressing: index+1, 0 empty */
	size_t		 tabmask;
	struct gb_key_info *st;		/* state as last read */
	unsigned	*seen;		/* == gen: line found in this read */
	unsigned	 gen;
	size_t		 pos;		/* round-robin position */
	long		 max_failures;
	long		 cooldown;
	long		 wait_ms;
	char		*dir;
	int		 dirfd;
	int		 lockfd;
	char		*rbuf;		/* file contents */
	size_t		 rsize;		/* allocated */
	size_t		 flen;		/* bytes of file in rbuf */
	int		 fast;		/* rbuf indexed, lines parsed on demand */
	size_t		*off;		/* fast path: where line i starts */
	struct gb_buf	 wbuf;		/* next version of the file */
	char		 notice[GB_ERR_MSGSIZE];
};

/*
 * SipHash-2-4 (Aumasson and Bernstein), 64-bit output, written from the
 * paper's description.
 */
#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint64_t
siphash(const uint8_t k[16], const void *data, size_t len)
{
	const uint8_t *p = data, *end = p + (len & ~(size_t)7);
	uint64_t k0 = le64(k), k1 = le64(k + 8), m, b;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;

	for (; p < end; p += 8) {
		m = le64(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	m = 0;
	memcpy(&m, p, len & 7);
	b = (uint64_t)len << 56 | le64toh(m);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* v as 16 lowercase hex digits, a byte at a time. */
static void
tohex(uint64_t v, char out[17])
{
	static const char pairs[513] =
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
	int i;

	for (i = 14; i >= 0; i -= 2) {
		memcpy(out + i, pairs + 2 * (v & 0xff), 2);
		v >>= 8;
	}
	out[16] = '\0';
}

/* Slot of id in the table: where it is, or the empty slot it would use. */
static size_t
tab_slot(const struct gb_keys *k, uint64_t id)
{
	size_t h = (size_t)(id ^ (id >> 32)) & k->tabmask;

	while (k->tab[h] != 0 && k->id[k->tab[h] - 1] != id)
		h = (h + 1) & k->tabmask;
	return h;
}

/* Index of the key with this id, or -1. */
static ssize_t
tab_find(const struct gb_keys *k, uint64_t id)
{
	size_t h = tab_slot(k, id);

	return k->tab[h] == 0 ? -1 : (ssize_t)k->tab[h] - 1;
}

struct gb_keys *
gb_keys_open(const struct gb_config *cfg, struct gb_err *err)
{
	struct gb_keys *k;
	size_t i, total = 0, len, h, tabsize;
	uint64_t id;
	char *p;

	if (cfg->api_keys.n == 0) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "API_KEYS is empty");
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		goto nomem;
	k->dirfd = k->lockfd = -1;
	k->max_failures = cfg->max_failures > 0 ? cfg->max_failures : 3;
	k->cooldown = cfg->key_cooldown;
	k->wait_ms = GB_KEYS_WAIT_MS;
	gb_buf_init(&k->wbuf, STATE_MAX);
	for (i = 0; i < cfg->api_keys.n; i++)
		total += strlen(cfg->api_keys.v[i]) + 1;
	for (tabsize = 16; tabsize < 2 * cfg->api_keys.n; tabsize *= 2)
		;
	k->tabmask = tabsize - 1;
	if ((k->keymem = malloc(total)) == NULL ||
	    (k->key = calloc(cfg->api_keys.n, sizeof(*k->key))) == NULL ||
	    (k->id = calloc(cfg->api_keys.n, sizeof(*k->id))) == NULL ||
	    (k->hex = calloc(cfg->api_keys.n, sizeof(*k->hex))) == NULL ||
	    (k->st = calloc(cfg->api_keys.n, sizeof(*k->st))) == NULL ||
	    (k->seen = calloc(cfg->api_keys.n, sizeof(*k->seen))) == NULL ||
	    (k->off = calloc(cfg->api_keys.n + 1, sizeof(*k->off))) == NULL ||
	    (k->tab = calloc(tabsize, sizeof(*k->tab))) == NULL ||
	    (k->dir = strdup(cfg->state_dir ? cfg->state_dir :
	    "./state")) == NULL)
		goto nomem;

	/* distinct keys in order; a repeated key shares the first's state */
	p = k->keymem;
	for (i = 0; i < cfg->api_keys.n; i++) {
		len = strlen(cfg->api_keys.v[i]);
		id = siphash(idkey, cfg->api_keys.v[i], len);
		h = tab_slot(k, id);
		if (k->tab[h] != 0) {
			if (strcmp(k->key[k->tab[h] - 1],
			    cfg->api_keys.v[i]) == 0)
				continue;
			gb_err_set(err, GB_EXIT_USAGE, 0,
			    "API_KEYS: two different keys share a state id");
			goto fail;
		}
		memcpy(p, cfg->api_keys.v[i], len + 1);
		k->key[k->n] = p;
		k->id[k->n] = id;
		tohex(id, k->hex[k->n]);
		k->tab[h] = ++k->n;
		p += len + 1;
	}

	if (mkdir(k->dir, 0700) == -1 && errno != EEXIST) {
		gb_err_set(err, GB_EXIT_TEMP, 0,
		    "cannot create state directory %s: %s", k->dir,
		    strerror(errno));
		goto fail;
	}
	if ((k->dirfd = open(k->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    == -1) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "%s: %s", k->dir,
		    strerror(errno));
		goto fail;
	}
	return k;
nomem:
	gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
fail:
	gb_keys_close(k);
	return NULL;
}

void
gb_keys_close(struct gb_keys *k)
{
	if (k == NULL)
		return;
	if (k->lockfd != -1)
		close(k->lockfd);
	if (k->dirfd != -1)
		close(k->dirfd);
	free(k->keymem);
	free(k->key);
	free(k->id);
	free(k->hex);
	free(k->st);
	free(k->seen);
	free(k->off);
	free(k->tab);
	free(k->dir);
	free(k->rbuf);
	gb_buf_free(&k->wbuf);
	free(k);
}

size_t
gb_keys_count(const struct gb_keys *k)
{
	return k->n;
}

const char *
gb_keys_key(const struct gb_keys *k, size_t idx)
{
	return idx < k->n ? k->key[idx] : NULL;
}

const char *
gb_keys_id(const struct gb_keys *k, size_t idx)
{
	return idx < k->n ? k->hex[idx] : NULL;
}

int
gb_keys_by_id(const struct gb_keys *k, const char *hex, size_t *idx)
{
	uint64_t id = 0;
	ssize_t i;
	int n;

	for (n = 0; n < 16; n++) {
		if (hex[n] >= '0' && hex[n] <= '9')
			id = id << 4 | (uint64_t)(hex[n] - '0');
		else if (hex[n] >= 'a' && hex[n] <= 'f')
			id = id << 4 | (uint64_t)(hex[n] - 'a' + 10);
		else
			return -1;
	}
	if (hex[16] != '\0' || (i = tab_find(k, id)) == -1)
		return -1;
	*idx = (size_t)i;
	return 0;
}

const struct gb_key_info *
gb_keys_info(const struct gb_keys *k, size_t idx)
{
	return idx < k->n ? &k->st[idx] : NULL;
}

size_t
gb_keys_position(const struct gb_keys *k)
{
	return k->pos;
}

void
gb_keys_set_wait(struct gb_keys *k, long ms)
{
	k->wait_ms = ms < 0 ? 0 : ms;
}

const char *
gb_keys_notice(const struct gb_keys *k)
{
	return k->notice[0] != '\0' ? k->notice : NULL;
}

enum gb_key_state
gb_keys_state(const struct gb_key_info *st, time_t now)
{
	if (st->invalid)
		return GB_KEY_INVALID;
	if (st->until > now)
		return GB_KEY_COOLING;
	return GB_KEY_ACTIVE;
}

/*
 * Take the lock (LOCK_EX to change the state, LOCK_SH to read it),
 * polling so that a stuck holder costs at most wait_ms. The sleeps start
 * short (the lock is normally held for tens of microseconds) and grow to
 * 5 ms.
 */
static int
lock_mode(struct gb_keys *k, int mode, struct gb_err *err)
{
	struct timespec now, end, nap = { 0, 50000 };

	if (k->lockfd == -1 && (k->lockfd = openat(k->dirfd, LOCK_FILE,
	    O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
		    LOCK_FILE, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += k->wait_ms / 1000;
	end.tv_nsec += (k->wait_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		if (flock(k->lockfd, mode | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "%s/%s: %s", k->dir, LOCK_FILE, strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec &&
		    now.tv_nsec >= end.tv_nsec))
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "%s/%s: still locked after %ld ms "
			    "(a stuck process holds it; see lslocks)",
			    k->dir, LOCK_FILE, k->wait_ms);
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 5000000L)
			nap.tv_nsec *= 2;
	}
}

static int
lock_state(struct gb_keys *k, struct gb_err *err)
{
	return lock_mode(k, LOCK_EX, err);
}

static void
unlock_state(struct gb_keys *k)
{
	flock(k->lockfd, LOCK_UN);
}

/* Parse a decimal number ending at sep; advances *pp past sep. */
static int
num(const char **pp, const char *end, int sep, unsigned long long max,
    unsigned long long *out)
{
	const char *p = *pp;
	unsigned long long v = 0;
	int digits = 0;

	/* at most 19 digits cannot overflow 64 bits */
	while (p < end && *p >= '0' && *p <= '9' && digits < 19) {
		v = v * 10 + (unsigned)(*p++ - '0');
		digits++;
	}
	if (digits == 0 || v > max || p >= end || *p != sep)
		return -1;
	*pp = p + 1;
	*out = v;
	return 0;
}

static int
hexid(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int i, c;

	if (end - p < 17)
		return -1;
	for (i = 0; i < 16; i++) {
		c = (unsigned char)p[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -1;
	}
	if (p[16] != ' ')
		return -1;
	*pp = p + 17;
	*out = v;
	return 0;
}

/* The header line; returns where the first entry starts, or NULL. */
static const char *
parse_header(const char *p, const char *end, unsigned long long *pos,
    unsigned long long *count)
{
	if ((size_t)(end - p) < sizeof(MAGIC) - 1 ||
	    memcmp(p, MAGIC, sizeof(MAGIC) - 1) != 0)
		return NULL;
	p += sizeof(MAGIC) - 1;
	if (num(&p, end, ' ', (size_t)-1, pos) == -1 ||
	    num(&p, end, '\n', (size_t)-1, count) == -1)
		return NULL;
	return p;
}

/* One entry line, p up to its newline at nl. Returns 0 or -1. */
static int
parse_line(const char *p, const char *nl, uint64_t *id,
    struct gb_key_info *out)
{
	unsigned long long v[8];
	size_t i, len;

	if (hexid(&p, nl + 1, id) == -1)
		return -1;
	for (i = 0; i < 8; i++)
		if (num(&p, nl + 1, ' ', i == 7 ? 999 : (1ULL << 62),
		    &v[i]) == -1)
			return -1;
	len = (size_t)(nl - p);
	if (len > GB_KEYS_REASON_MAX || v[0] > 1)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
			return -1;
	out->invalid = (int)v[0];
	out->until = (time_t)v[1];
	out->consec = (long)v[2];
	out->uses = v[3];
	out->fails = v[4];
	out->last_used = (time_t)v[5];
	out->last_error = (time_t)v[6];
	out->status = (int)v[7];
	memcpy(out->reason, p, len);
	out->reason[len] = '\0';
	return 0;
}

/*
 * Parse the whole file (flen bytes in rbuf) into k->st and k->pos. Lines
 * for keys no longer configured are skipped; configured keys without a
 * line start fresh. Returns 0, or -1 with the first problem in why.
 */
static int
parse_state(struct gb_keys *k, char *why, size_t whysz)
{
	const char *p, *end = k->rbuf + k->flen, *nl;
	unsigned long long pos, count, lines = 0;
	struct gb_key_info tmp;
	uint64_t id;
	ssize_t idx;
	size_t i;

	if (++k->gen == 0) {
		memset(k->seen, 0, k->n * sizeof(*k->seen));
		k->gen = 1;
	}
	if ((p = parse_header(k->rbuf, end, &pos, &count)) == NULL) {
		if (k->flen < sizeof(MAGIC) - 1 ||
		    memcmp(k->rbuf, MAGIC, sizeof(MAGIC) - 1) != 0)
			snprintf(why, whysz,
			    "not a gb-keys version 1 state file");
		else
			snprintf(why, whysz, "line 1: malformed header");
		return -1;
	}
	while (p < end) {
		lines++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			snprintf(why, whysz, "line %llu: incomplete",
			    lines + 1);
			return -1;
		}
		if (parse_line(p, nl, &id, &tmp) == -1) {
			snprintf(why, whysz, "line %llu: malformed entry",
			    lines + 1);
			return -1;
		}
		if ((idx = tab_find(k, id)) != -1) {
			if (k->seen[idx] == k->gen) {
				snprintf(why, whysz, "line %llu: repeated id",
				    lines + 1);
				return -1;
			}
			k->seen[idx] = k->gen;
			k->st[idx] = tmp;
		}
		p = nl + 1;
	}
	if (lines != count) {
		snprintf(why, whysz, "%llu entries, header says %llu", lines,
		    count);
		return -1;
	}
	for (i = 0; i < k->n; i++)
		if (k->seen[i] != k->gen)
			memset(&k->st[i], 0, sizeof(k->st[i]));
	k->pos = (size_t)(pos % k->n);
	return 0;
}

/*
 * The fast path. In the steady state the file has one line per
 * configured key, in API_KEYS order; then an update needs to parse and
 * rewrite only the lines it touches and copies the others as they are.
 * Finds where each line starts (k->off[i], k->off[n] the end) and
 * returns 0 when the file has that shape; the lines themselves are
 * parsed on demand by entry().
 */
static int
index_lines(struct gb_keys *k)
{
	const char *base = k->rbuf, *end = base + k->flen, *p, *nl;
	unsigned long long pos, count;
	size_t i;

	if ((p = parse_header(base, end, &pos, &count)) == NULL ||
	    count != k->n)
		return -1;
	for (i = 0; i < k->n; i++) {
		if (end - p < 18 || memcmp(p, k->hex[i], 16) != 0 ||
		    p[16] != ' ' ||
		    (nl = memchr(p + 17, '\n', (size_t)(end - p) - 17)) == NULL)
			return -1;
		k->off[i] = (size_t)(p - base);
		p = nl + 1;
	}
	if (p != end)
		return -1;
	k->off[k->n] = (size_t)(p - base);
	k->pos = (size_t)(pos % k->n);
	if (++k->gen == 0) {
		memset(k->seen, 0, k->n * sizeof(*k->seen));
		k->gen = 1;
	}
	return 0;
}

/*
 * Read the file into rbuf (flen bytes). Returns 0 (*exists tells whether
 * there was a file), 1 when it is too large to be ours (why says so), or
 * -1 on an I/O error.
 */
static int
read_raw(struct gb_keys *k, int *exists, char *why, size_t whysz,
    struct gb_err *err)
{
	struct stat sb;
	size_t got;
	ssize_t r;
	int fd;

	k->flen = 0;
	*exists = 0;
	if ((fd = openat(k->dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
		    STATE_FILE, strerror(errno));
	}
	*exists = 1;
	if (fstat(fd, &sb) == -1)
		goto ioerr;
	if (sb.st_size > STATE_MAX) {
		close(fd);
		snprintf(why, whysz, "larger than %d bytes", STATE_MAX);
		return 1;
	}
	if ((size_t)sb.st_size + 1 > k->rsize) {
		free(k->rbuf);
		k->rsize = 0;
		if ((k->rbuf = malloc((size_t)sb.st_size + 1)) == NULL) {
			close(fd);
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "out of memory");
		}
		k->rsize = (size_t)sb.st_size + 1;
	}
	/* the file never changes in place: read exactly its size */
	for (got = 0; got < (size_t)sb.st_size; got += (size_t)r) {
		r = gb_io_read(fd, k->rbuf + got, (size_t)sb.st_size - got);
		if (r == -1)
			goto ioerr;
		if (r == 0)
			break;
	}
	close(fd);
	k->flen = got;
	return 0;
ioerr:
	gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir, STATE_FILE,
	    strerror(errno));
	close(fd);
	return -1;
}

/*
 * Parse what read_raw() read (rc its result) in full. A missing file is
 * a fresh state. With recover, a corrupt file is moved aside to
 * keys.state.bad and a fresh state starts (the caller holds the lock);
 * without, it is an error.
 */
static int
load_full(struct gb_keys *k, int rc, int exists, char *why, size_t whysz,
    int recover, struct gb_err *err)
{
	k->fast = 0;
	k->pos = 0;
	if (rc == -1)
		return -1;
	if (rc == 0 && !exists) {
		memset(k->st, 0, k->n * sizeof(*k->st));
		return 0;
	}
	if (rc == 0 && parse_state(k, why, whysz) == 0)
		return 0;
	memset(k->st, 0, k->n * sizeof(*k->st));
	k->pos = 0;
	if (!recover)
		return gb_err_set(err, GB_EXIT_TEMP, 0,
		    "%s/%s: corrupt state (%s); the next update moves it to %s",
		    k->dir, STATE_FILE, why, STATE_BAD);
	if (renameat(k->dirfd, STATE_FILE, k->dirfd, STATE_BAD) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
		    STATE_BAD, strerror(errno));
	snprintf(k->notice, sizeof(k->notice),
	    "%s/%s: corrupt state (%s); moved to %s, starting afresh",
	    k->dir, STATE_FILE, why, STATE_BAD);
	return 0;
}

/* Leave the fast path: parse everything that was read. */
static int
go_slow(struct gb_keys *k, struct gb_err *err)
{
	char why[128];

	if (!k->fast)
		return 0;
	return load_full(k, 0, 1, why, sizeof(why), 1, err);
}

/* Make k->st[i] current; on the fast path its line is parsed now. */
static int
entry(struct gb_keys *k, size_t i, struct gb_err *err)
{
	const char *p;
	uint64_t id;

	if (!k->fast || k->seen[i] == k->gen)
		return 0;
	p = k->rbuf + k->off[i];
	if (parse_line(p, k->rbuf + k->off[i + 1] - 1, &id, &k->st[i]) == 0) {
		k->seen[i] = k->gen;
		return 0;
	}
	/* a bad line: the full parse finds it and recovers */
	return go_slow(k, err) == -1 ? -1 : 1;
}

/* Append v in decimal followed by sep; p has room for 21 bytes. */
static char *
putnum(char *p, unsigned long long v, char sep)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	*p++ = sep;
	return p;
}

static unsigned long long
unum(long long v)
{
	return v < 0 ? 0 : (unsigned long long)v;
}

static char *
put_line(const struct gb_keys *k, size_t i, time_t now, char *p)
{
	const struct gb_key_info *st = &k->st[i];
	size_t len;

	memcpy(p, k->hex[i], 16);
	p[16] = ' ';
	p += 17;
	p = putnum(p, st->invalid ? 1 : 0, ' ');
	p = putnum(p, st->until > now ? unum(st->until) : 0, ' ');
	p = putnum(p, unum(st->consec), ' ');
	p = putnum(p, st->uses, ' ');
	p = putnum(p, st->fails, ' ');
	p = putnum(p, unum(st->last_used), ' ');
	p = putnum(p, unum(st->last_error), ' ');
	p = putnum(p, st->status > 0 && st->status < 1000 ?
	    (unsigned)st->status : 0, ' ');
	len = strlen(st->reason);
	memcpy(p, st->reason, len);
	p += len;
	*p++ = '\n';
	return p;
}

/* Close fd after a failure, keeping the failure's errno. */
static void
close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

/*
 * A write without sync (counters, the position): the new version goes
 * into the spare copy, keys.state.tmp, which holds the version before
 * last, overwritten in place, and the two names are exchanged. Measured
 * on ext4 under the lock: 7.5 us, against 35 to 185 us for a new file
 * each time (inode allocation, then the unlink of the old one) and 0.1 to
 * 1.5 ms for a rename over keys.state (ext4 writes the new data out at
 * once on such a rename, auto_da_alloc). keys.state itself is never
 * written in place, so a kill -9 at any instant leaves it old or new;
 * the spare may be torn, and is only ever read as keys.state after a
 * complete write. Readers take the lock shared (gb_keys_load), since a
 * reader could hold the spare open from when it was keys.state. With no
 * keys.state yet, or where exchange is not supported: rename.
 */
static int
write_spare(struct gb_keys *k, struct gb_err *err)
{
	struct stat sb;
	int fd;

	if ((fd = openat(k->dirfd, STATE_TMP, O_WRONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1 && errno == ENOENT)
		fd = openat(k->dirfd, STATE_TMP, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	if (fstat(fd, &sb) == -1)
		goto fail_close;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto fail_close;
	}
	if (gb_io_pwriteall(fd, k->wbuf.data, k->wbuf.len) == -1 ||
	    (sb.st_size > (off_t)k->wbuf.len &&
	    ftruncate(fd, (off_t)k->wbuf.len) == -1))
		goto fail_close;
	if (close(fd) == -1)
		goto fail;
	if (renameat2(k->dirfd, STATE_TMP, k->dirfd, STATE_FILE,
	    RENAME_EXCHANGE) == 0)
		return 0;
	if (renameat(k->dirfd, STATE_TMP, k->dirfd, STATE_FILE) == 0)
		return 0;
	goto fail;
fail_close:
	close_keep_errno(fd);
fail:
	return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
	    STATE_FILE, strerror(errno));
}

/*
 * Replace the file with a new version in which key changed (or no key,
 * (size_t)-1) differs: temp, fsync, rename, fsync the directory. On the
 * fast path the other lines are copied from the old version. Without
 * sync, write_spare: atomic for every process on the machine (a kill -9
 * still leaves old or new), only a power cut may lose the write (see
 * gb-keys(5), "Durability").
 */
static int
write_state(struct gb_keys *k, size_t changed, time_t now, int sync,
    struct gb_err *err)
{
	size_t i, need;
	char *p;
	int fd;

	need = 64 + (k->fast ? k->flen + LINE_MAX_LEN : k->n * LINE_MAX_LEN);
	k->wbuf.len = 0;
	if (gb_buf_reserve(&k->wbuf, need) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	p = k->wbuf.data;
	memcpy(p, MAGIC, sizeof(MAGIC) - 1);
	p += sizeof(MAGIC) - 1;
	p = putnum(p, k->pos, ' ');
	p = putnum(p, k->n, '\n');
	if (k->fast && changed == (size_t)-1) {
		memcpy(p, k->rbuf + k->off[0], k->off[k->n] - k->off[0]);
		p += k->off[k->n] - k->off[0];
	} else if (k->fast) {
		memcpy(p, k->rbuf + k->off[0], k->off[changed] - k->off[0]);
		p += k->off[changed] - k->off[0];
		p = put_line(k, changed, now, p);
		memcpy(p, k->rbuf + k->off[changed + 1],
		    k->off[k->n] - k->off[changed + 1]);
		p += k->off[k->n] - k->off[changed + 1];
	} else
		for (i = 0; i < k->n; i++)
			p = put_line(k, i, now, p);
	k->wbuf.len = (size_t)(p - k->wbuf.data);

	if (!sync)
		return write_spare(k, err);
	if ((unlinkat(k->dirfd, STATE_TMP, 0) == -1 && errno != ENOENT) ||
	    (fd = openat(k->dirfd, STATE_TMP,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		goto fail;
	if (gb_io_writeall(fd, k->wbuf.data, k->wbuf.len) == -1 ||
	    (sync && fsync(fd) == -1)) {
		close_keep_errno(fd);
		goto fail;
	}
	if (close(fd) == -1)
		goto fail;
	if (renameat(k->dirfd, STATE_TMP, k->dirfd, STATE_FILE) == -1 ||
	    (sync && fsync(k->dirfd) == -1))
		goto fail;
	return 0;
fail:
	return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
	    STATE_FILE, strerror(errno));
}

int
gb_keys_load(struct gb_keys *k, struct gb_err *err)
{
	char why[128];
	long wait;
	int rc, exists, locked;

	k->notice[0] = '\0';
	/*
	 * A reader shares the lock: a writer may be overwriting the spare
	 * copy, which is a version a reader without the lock could still
	 * hold open (see write_spare). Not for long: when the lock stays
	 * taken (a writer stuck holding it, writing nothing), read without
	 * it, as a stuck writer must not stop "gb-keys list".
	 */
	wait = k->wait_ms;
	if (k->wait_ms > READ_WAIT_MS)
		k->wait_ms = READ_WAIT_MS;
	locked = lock_mode(k, LOCK_SH, err) == 0;
	k->wait_ms = wait;
	gb_err_clear(err);
	rc = read_raw(k, &exists, why, sizeof(why), err);
	rc = load_full(k, rc, exists, why, sizeof(why), 0, err);
	if (locked)
		unlock_state(k);
	return rc;
}

/*
 * Lock and read, on the fast path when the file allows it; on failure
 * nothing is held.
 */
static int
begin(struct gb_keys *k, struct gb_err *err)
{
	char why[128];
	int rc, exists;

	k->notice[0] = '\0';
	if (lock_state(k, err) == -1)
		return -1;
	rc = read_raw(k, &exists, why, sizeof(why), err);
	if (rc == 0 && exists && index_lines(k) == 0) {
		k->fast = 1;
		return 0;
	}
	if (load_full(k, rc, exists, why, sizeof(why), 1, err) == -1) {
		unlock_state(k);
		return -1;
	}
	return 0;
}

/* Write and unlock. */
static int
commit(struct gb_keys *k, size_t changed, time_t now, int sync,
    struct gb_err *err)
{
	int rc;

	rc = write_state(k, changed, now, sync, err);
	unlock_state(k);
	return rc;
}

int
gb_keys_next(struct gb_keys *k, const size_t *skip, size_t nskip,
    time_t *retry_at, struct gb_err *err)
{
	struct gb_key_info *st;
	time_t now, soonest;
	size_t i, j, s;
	int rc;

	if (retry_at != NULL)
		*retry_at = 0;
	if (begin(k, err) == -1)
		return -1;
	now = time(NULL);
again:
	soonest = 0;
	for (j = 0, i = k->pos; j < k->n; j++, i = i + 1 == k->n ? 0 : i + 1) {
		if ((rc = entry(k, i, err)) == -1) {
			unlock_state(k);
			return -1;
		}
		if (rc == 1)
			goto again;
		st = &k->st[i];
		if (st->invalid)
			continue;
		if (st->until > now) {
			if (soonest == 0 || st->until < soonest)
				soonest = st->until;
			continue;
		}
		for (s = 0; s < nskip; s++)
			if (skip[s] == i)
				break;
		if (s < nskip)
			continue;
		st->uses++;
		st->last_used = now;
		k->pos = i + 1 == k->n ? 0 : i + 1;
		/* only counters moved: no fsync on the hot path */
		if (commit(k, i, now, 0, err) == -1)
			return -1;
		return (int)i;
	}
	unlock_state(k);
	if (retry_at != NULL)
		*retry_at = soonest;
	if (soonest != 0)
		return gb_err_set(err, GB_EXIT_NO, 429,
		    "no usable key; retry after %lld s (at %lld)",
		    (long long)(soonest - now), (long long)soonest);
	return gb_err_set(err, GB_EXIT_NO, 429, "no usable key");
}

/*
 * Keep a reason printable ASCII, short, and free of any configured key
 * (an upstream message could quote one): those become their masked form.
 */
static void
set_reason(struct gb_keys *k, struct gb_key_info *st, const char *reason)
{
	char tmp[GB_KEYS_REASON_MAX * 4 + 1], m[GB_MASK_SIZE];
	const char *hit;
	size_t i, o, len, klen, mlen;

	if (reason == NULL)
		reason = "";
	len = strnlen(reason, sizeof(tmp) - 1);
	memcpy(tmp, reason, len);
	tmp[len] = '\0';
	for (i = 0; i < k->n; i++) {
		klen = strlen(k->key[i]);
		while (klen > 0 && (hit = memmem(tmp, len, k->key[i], klen))
		    != NULL) {
			gb_mask(k->key[i], m, sizeof(m));
			mlen = strlen(m);
			o = (size_t)(hit - tmp);
			memmove(tmp + o + mlen, tmp + o + klen,
			    len - o - klen + 1);
			memcpy(tmp + o, m, mlen);
			len = len - klen + mlen;
		}
	}
	for (i = o = 0; i < len && o < GB_KEYS_REASON_MAX; i++) {
		unsigned char c = (unsigned char)tmp[i];

		if (c == 0xe2 && i + 2 < len &&
		    (unsigned char)tmp[i + 1] == 0x80 &&
		    (unsigned char)tmp[i + 2] == 0xa6) {
			/* the mask's ellipsis, kept in ASCII */
			if (o + 3 > GB_KEYS_REASON_MAX)
				break;
			memcpy(st->reason + o, "...", 3);
			o += 3;
			i += 2;
			continue;
		}
		st->reason[o++] = c < 0x20 || c > 0x7e ? '?' : (char)c;
	}
	while (o > 0 && st->reason[o - 1] == ' ')
		o--;
	st->reason[o] = '\0';
}

int
gb_keys_record(struct gb_keys *k, size_t idx, enum gb_key_outcome what,
    long seconds, int status, const char *reason, struct gb_err *err)
{
	struct gb_key_info *st;
	time_t now;
	int sync = 1;

	if (idx >= k->n)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "key index %zu out of range (0 to %zu)", idx, k->n - 1);
	if (begin(k, err) == -1)
		return -1;
	if (entry(k, idx, err) == -1) {
		unlock_state(k);
		return -1;
	}
	now = time(NULL);
	st = &k->st[idx];
	switch (what) {
	case GB_KEY_OK:
		/*
		 * The common case, a success of a key in good standing,
		 * changes nothing in the file: no write at all. A success
		 * that ends a failure streak moves a counter only (no
		 * fsync); one that revives an invalid key is synced.
		 */
		if (st->consec == 0 && !st->invalid) {
			unlock_state(k);
			return 0;
		}
		sync = st->invalid;
		st->consec = 0;
		st->invalid = 0;
		break;
	case GB_KEY_FAIL:
		st->consec++;
		st->fails++;
		if (st->consec >= k->max_failures)
			st->invalid = 1;
		st->last_error = now;
		st->status = status;
		set_reason(k, st, reason);
		break;
	case GB_KEY_COOL:
		if (seconds < 0)
			seconds = k->cooldown;
		st->until = now + seconds;
		st->last_error = now;
		st->status = status > 0 ? status : 429;
		set_reason(k, st, reason);
		break;
	case GB_KEY_REVIVE:
		st->invalid = 0;
		st->until = 0;
		st->consec = 0;
		break;
	case GB_KEY_NOTE:
		st->last_error = now;
		st->status = status;
		set_reason(k, st, reason);
		break;
	}
	return commit(k, idx, now, sync, err);
}

int
gb_keys_reset(struct gb_keys *k, size_t idx, struct gb_err *err)
{
	size_t i;

	if (idx != (size_t)-1 && idx >= k->n)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "key index %zu out of range (0 to %zu)", idx, k->n - 1);
	if (begin(k, err) == -1)
		return -1;
	if ((idx == (size_t)-1 ? go_slow(k, err) : entry(k, idx, err)) == -1) {
		unlock_state(k);
		return -1;
	}
	for (i = 0; i < k->n; i++)
		if (idx == (size_t)-1 || idx == i) {
			k->st[i].invalid = 0;
			k->st[i].until = 0;
			k->st[i].consec = 0;
		}
	return commit(k, idx, time(NULL), 1, err);
}

/*
 * A key named by index or masked id. "..." stands for the ellipsis. The
 * name is echoed in messages only when it cannot be a full key.
 */
int
gb_keys_find(const struct gb_keys *k, const char *name, size_t *idx,
    struct gb_err *err)
{
	char want[GB_MASK_SIZE * 2], m[GB_MASK_SIZE];
	const char *dots, *es;
	size_t i, found = 0, first = 0, second = 0, plen;
	long long v;

	if (*name >= '0' && *name <= '9' && strspn(name, "0123456789") ==
	    strlen(name)) {
		if (gb_strtonum(name, 0, (long long)k->n - 1, &v, &es) == -1)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "key index %.20s out of range (0 to %zu)", name,
			    k->n - 1);
		*idx = (size_t)v;
		return 0;
	}
	for (i = 0; i < k->n; i++)
		if (strcmp(name, k->key[i]) == 0)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "a full key on the command line is refused; "
			    "name it by index or masked id");
	if ((dots = strstr(name, "...")) != NULL) {
		plen = (size_t)(dots - name);
		if (strlen(name) + 1 >= sizeof(want))
			goto nomatch;
		snprintf(want, sizeof(want), "%.*s\xe2\x80\xa6%s", (int)plen,
		    name, dots + 3);
	} else if (strstr(name, "\xe2\x80\xa6") != NULL &&
	    strlen(name) < sizeof(want))
		snprintf(want, sizeof(want), "%s", name);
	else
		goto nomatch;
	/*
	 * A mask is at most 6 characters, the ellipsis, at most 4: anything
	 * longer matches no key and might be one, so it is not echoed.
	 */
	dots = strstr(want, "\xe2\x80\xa6");
	if (dots - want > 6 || strlen(dots + 3) > 4)
		goto nomatch;
	for (i = 0; i < k->n; i++) {
		if (strcmp(gb_mask(k->key[i], m, sizeof(m)), want) != 0)
			continue;
		if (found == 0)
			first = i;
		else if (found == 1)
			second = i;
		found++;
	}
	if (found == 1) {
		*idx = first;
		return 0;
	}
	if (found > 1)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "%s is ambiguous (keys %zu and %zu%s); use the index",
		    want, first, second, found > 2 ? " and more" : "");
	return gb_err_set(err, GB_EXIT_USAGE, 0, "no key matches %s", want);
nomatch:
	return gb_err_set(err, GB_EXIT_USAGE, 0,
	    "not a key index or masked id (like AIzaSy...fGhI)");
}

const char *
gb_keys_state_name(enum gb_key_state s)
{
	switch (s) {
	case GB_KEY_COOLING:
		return "cooling";
	case GB_KEY_INVALID:
		return "invalid";
	default:
		return "active";
	}
}

static json_t *
opt_time(time_t t)
{
	return t > 0 ? json_integer((json_int_t)t) : json_null();
}

json_t *
gb_keys_list_json(struct gb_keys *k, time_t now)
{
	const struct gb_key_info *st;
	json_t *root, *arr, *o, *le;
	char m[GB_MASK_SIZE];
	size_t i;
	enum gb_key_state s;

	root = json_pack("{s:I,s:I,s:[]}", "now", (json_int_t)now,
	    "position", (json_int_t)gb_keys_position(k), "keys");
	if (root == NULL)
		return NULL;
	arr = json_object_get(root, "keys");
	for (i = 0; i < gb_keys_count(k); i++) {
		st = gb_keys_info(k, i);
		s = gb_keys_state(st, now);
		if (st->last_error > 0)
			le = json_pack("{s:o,s:s,s:I}", "status",
			    st->status > 0 ? json_integer(st->status) :
			    json_null(), "reason", st->reason, "at",
			    (json_int_t)st->last_error);
		else
			le = json_null();
		o = json_pack("{s:I,s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:o,s:o}",
		    "index", (json_int_t)i,
		    "key", gb_mask(gb_keys_key(k, i), m, sizeof(m)),
		    "id", gb_keys_id(k, i),
		    "state", gb_keys_state_name(s),
		    "cooling_until", s == GB_KEY_COOLING ?
		    opt_time(st->until) : json_null(),
		    "consecutive_failures", (json_int_t)st->consec,
		    "failures", (json_int_t)st->fails,
		    "uses", (json_int_t)st->uses,
		    "last_used", opt_time(st->last_used),
		    "last_error", le);
		if (o == NULL || json_array_append_new(arr, o) == -1) {
			json_decref(o);
			json_decref(root);
			return NULL;
		}
	}
	return root;
}
