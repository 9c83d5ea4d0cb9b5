/*
 * keys.c - the key rotation state on disk (see gb-keys(5)).
 *
 * The state of every key lives in one small text file,
 * $STATE_DIRECTORY/keys.state, one line per key. A key is named in the
 * file by a 64-bit SipHash-2-4 digest of the key (16 hex digits), never
 * by the key itself. Every change is a read-modify-write under an
 * exclusive flock(2) on a separate lock file, keys.lock; the new version
 * is written to keys.state.tmp, fsync'd, renamed over keys.state, and
 * the directory is fsync'd. A process killed at any instant therefore
 * leaves either the old or the new file, never a mix, and readers need
 * no lock at all.
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

#include "buf.h"
#include "io.h"
#include "keys.h"
#include "mask.h"

#define STATE_FILE	"keys.state"
#define STATE_TMP	"keys.state.tmp"
#define STATE_BAD	"keys.state.bad"
#define LOCK_FILE	"keys.lock"
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
	size_t		 rsize;
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
	size_t i;

	for (; p < end; p += 8) {
		m = le64(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	b = (uint64_t)len << 56;
	for (i = 0; i < (len & 7); i++)
		b |= (uint64_t)p[i] << (8 * i);
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

static void
tohex(uint64_t v, char out[17])
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--) {
		out[i] = hx[v & 15];
		v >>= 4;
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
 * Take the exclusive lock, polling so that a stuck holder costs at most
 * wait_ms. The sleeps start short (the lock is normally held for tens of
 * microseconds) and grow to 5 ms.
 */
static int
lock_state(struct gb_keys *k, struct gb_err *err)
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
		if (flock(k->lockfd, LOCK_EX | LOCK_NB) == 0)
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

/*
 * Parse the file in k->rbuf (rsize bytes) into k->st and k->pos. Lines
 * for keys no longer configured are skipped. Returns 0, or -1 with a
 * description of the first problem in why.
 */
static int
parse_state(struct gb_keys *k, char *why, size_t whysz)
{
	const char *p = k->rbuf, *end = p + k->rsize, *nl;
	unsigned long long v[8], pos, count, lines = 0;
	struct gb_key_info *st;
	uint64_t id;
	ssize_t idx;
	size_t len, i;

	if (k->rsize < sizeof(MAGIC) - 1 ||
	    memcmp(p, MAGIC, sizeof(MAGIC) - 1) != 0) {
		snprintf(why, whysz, "not a gb-keys version 1 state file");
		return -1;
	}
	p += sizeof(MAGIC) - 1;
	if (num(&p, end, ' ', (size_t)-1, &pos) == -1 ||
	    num(&p, end, '\n', (size_t)-1, &count) == -1) {
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
		if (hexid(&p, nl + 1, &id) == -1)
			goto bad;
		for (i = 0; i < 8; i++)
			if (num(&p, nl + 1, ' ', i == 7 ? 999 : (1ULL << 62),
			    &v[i]) == -1)
				goto bad;
		len = (size_t)(nl - p);
		if (len > GB_KEYS_REASON_MAX || v[0] > 1)
			goto bad;
		for (i = 0; i < len; i++)
			if ((unsigned char)p[i] < 0x20 ||
			    (unsigned char)p[i] > 0x7e)
				goto bad;
		if ((idx = tab_find(k, id)) != -1) {
			if (k->seen[idx] == k->gen) {
				snprintf(why, whysz, "line %llu: repeated id",
				    lines + 1);
				return -1;
			}
			k->seen[idx] = k->gen;
			st = &k->st[idx];
			st->invalid = (int)v[0];
			st->until = (time_t)v[1];
			st->consec = (long)v[2];
			st->uses = v[3];
			st->fails = v[4];
			st->last_used = (time_t)v[5];
			st->last_error = (time_t)v[6];
			st->status = (int)v[7];
			memcpy(st->reason, p, len);
			st->reason[len] = '\0';
		}
		p = nl + 1;
	}
	if (lines != count) {
		snprintf(why, whysz, "%llu entries, header says %llu", lines,
		    count);
		return -1;
	}
	k->pos = (size_t)(pos % k->n);
	return 0;
bad:
	snprintf(why, whysz, "line %llu: malformed entry", lines + 1);
	return -1;
}

/*
 * Read the state file into k->st. A missing file is a fresh state. With
 * recover, a corrupt file is moved aside to keys.state.bad and a fresh
 * state starts (the caller holds the lock); without, it is an error.
 */
static int
read_state(struct gb_keys *k, int recover, struct gb_err *err)
{
	char why[128];
	struct stat sb;
	size_t got;
	ssize_t r;
	int fd;

	k->pos = 0;
	if ((fd = openat(k->dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			memset(k->st, 0, k->n * sizeof(*k->st));
			return 0;
		}
		return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
		    STATE_FILE, strerror(errno));
	}
	if (fstat(fd, &sb) == -1)
		goto ioerr;
	if (sb.st_size > STATE_MAX) {
		snprintf(why, sizeof(why), "larger than %d bytes", STATE_MAX);
		close(fd);
		goto corrupt;
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
	{
		size_t keep = k->rsize;

		size_t i;

		k->rsize = got;
		if (++k->gen == 0) {
			memset(k->seen, 0, k->n * sizeof(*k->seen));
			k->gen = 1;
		}
		r = parse_state(k, why, sizeof(why));
		k->rsize = keep;
		/* keys without a line (new in API_KEYS) start fresh */
		for (i = 0; r == 0 && i < k->n; i++)
			if (k->seen[i] != k->gen)
				memset(&k->st[i], 0, sizeof(k->st[i]));
	}
	if (r == 0)
		return 0;
corrupt:
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
ioerr:
	gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir, STATE_FILE,
	    strerror(errno));
	close(fd);
	return -1;
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

/* Replace the file: temp, fsync, rename, fsync the directory. */
static int
write_state(struct gb_keys *k, time_t now, struct gb_err *err)
{
	struct gb_key_info *st;
	size_t i, len;
	char *p;
	int fd;

	k->wbuf.len = 0;
	if (gb_buf_reserve(&k->wbuf, 64 + k->n * LINE_MAX_LEN) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	p = k->wbuf.data;
	memcpy(p, MAGIC, sizeof(MAGIC) - 1);
	p += sizeof(MAGIC) - 1;
	p = putnum(p, k->pos, ' ');
	p = putnum(p, k->n, '\n');
	for (i = 0; i < k->n; i++) {
		st = &k->st[i];
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
	}
	k->wbuf.len = (size_t)(p - k->wbuf.data);

	if ((fd = openat(k->dirfd, STATE_TMP,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
		goto fail;
	if (gb_io_writeall(fd, k->wbuf.data, k->wbuf.len) == -1 ||
	    fsync(fd) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		goto fail;
	}
	if (close(fd) == -1 ||
	    renameat(k->dirfd, STATE_TMP, k->dirfd, STATE_FILE) == -1 ||
	    fsync(k->dirfd) == -1)
		goto fail;
	return 0;
fail:
	return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
	    STATE_FILE, strerror(errno));
}

int
gb_keys_load(struct gb_keys *k, struct gb_err *err)
{
	k->notice[0] = '\0';
	return read_state(k, 0, err);
}

/* Lock and read; on failure nothing is held. */
static int
begin(struct gb_keys *k, struct gb_err *err)
{
	k->notice[0] = '\0';
	if (lock_state(k, err) == -1)
		return -1;
	if (read_state(k, 1, err) == -1) {
		unlock_state(k);
		return -1;
	}
	return 0;
}

/* Write and unlock. */
static int
commit(struct gb_keys *k, time_t now, struct gb_err *err)
{
	int rc;

	rc = write_state(k, now, err);
	unlock_state(k);
	return rc;
}

int
gb_keys_next(struct gb_keys *k, const size_t *skip, size_t nskip,
    time_t *retry_at, struct gb_err *err)
{
	struct gb_key_info *st;
	time_t now, soonest = 0;
	size_t i, j, s;

	if (retry_at != NULL)
		*retry_at = 0;
	if (begin(k, err) == -1)
		return -1;
	now = time(NULL);
	for (j = 0, i = k->pos; j < k->n; j++, i = i + 1 == k->n ? 0 : i + 1) {
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
		if (commit(k, now, err) == -1)
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

	if (idx >= k->n)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "key index %zu out of range (0 to %zu)", idx, k->n - 1);
	if (begin(k, err) == -1)
		return -1;
	now = time(NULL);
	st = &k->st[idx];
	switch (what) {
	case GB_KEY_OK:
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
	return commit(k, now, err);
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
	for (i = 0; i < k->n; i++)
		if (idx == (size_t)-1 || idx == i) {
			k->st[i].invalid = 0;
			k->st[i].until = 0;
			k->st[i].consec = 0;
		}
	return commit(k, time(NULL), err);
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
