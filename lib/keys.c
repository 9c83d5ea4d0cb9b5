/*
 * keys.c - the key rotation state on disk (see gb-keys(5)).
 *
 * The state lives in $STATE_DIRECTORY/keys.state: a text file of
 * fixed-size records, a header, one record per key in API_KEYS order,
 * then one record per (key, model) cooldown. A key is named in the file
 * by a 64-bit SipHash-2-4 digest of the key (16 hex digits), never by
 * the key itself.
 *
 * Every operation holds an flock(2) on a separate lock file, keys.lock,
 * and touches only the records it needs: next reads the header and the
 * records from the round-robin position to the first usable key
 * (skipping keys that cool for the model by a table of the cooldown
 * records, read again only when the header's generation moves), then
 * writes back that key's record and the header. Each write is one
 * pwrite(2) of one record, and no record crosses a page, so a process
 * killed at any instant leaves every record whole, old or new. A file
 * of another shape (version 1, keys added, removed or reordered) is
 * read whole once and replaced by one in the canonical order: temp,
 * fsync, rename.
 *
 * The lock is taken by polling with LOCK_NB and short sleeps, so a
 * process stuck while holding it (stopped, hung on a dead disk) makes
 * the others fail with GB_EXIT_TEMP after a bounded wait instead of
 * hanging the service; the lock goes away by itself when that process
 * dies.
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
#include "keys_redis.h"
#include "mask.h"

#define STATE_FILE	"keys.state"
#define STATE_TMP	"keys.state.tmp"
#define STATE_BAD	"keys.state.bad"
#define LOCK_FILE	"keys.lock"
#define READ_WAIT_MS	100	/* a reader waits this long for the lock */
#define MAGIC1		"gbkeys 1 "
#define MAGIC2		"gbkeys 2 "
#define REC		256	/* bytes of every version 2 record */
#define CHUNK		16	/* records next reads at once (a page) */
#define STATE_MAX	(256 * 1024 * 1024)	/* largest state file read */
#define COOL_MAX(n)	(16 * (n) + 1024)	/* cooldown records kept */

/* Largest values written, so that a record always fits in REC. */
#define TIME_MAX	99999999999ULL		/* 11 digits: year 5138 */
#define COUNT_MAX	999999999999999ULL	/* 15 digits */
#define CONSEC_MAX	999999999ULL

/* The SipHash key that turns API keys into state file ids (public). */
static const uint8_t idkey[16] = {
	'g', 'e', 'm', 'i', 'n', 'i', '-', 'b',
	'a', 'l', 'a', 'n', 'c', 'e', '.', 'k'
};

/* A (key, model) cooldown record as last read; until <= now: free. */
struct cool {
	size_t		 idx;
	uint64_t	 mh;		/* SipHash of the model */
	time_t		 until;
	char		 model[GB_KEYS_MODEL_MAX + 1];
};

struct gb_keys {
	size_t		 n;		/* distinct keys, API_KEYS order */
	char		**key;		/* into keymem */
	char		*keymem;
	uint64_t	*id;		/* SipHash of each key */
	char		(*hex)[17];	/* id as hex */
	size_t		*tab;		/* open addressing: index+1, 0 empty */
	size_t		 tabmask;
	char		 digest[17];	/* of every id in order */
	struct gb_key_info *st;		/* state as last read */
	size_t		 pos;		/* round-robin position */
	long		 max_failures;
	long		 cooldown;
	long		 wait_ms;
	char		*dir;
	int		 dirfd;
	int		 lockfd;
	int		 fd;		/* keys.state as last opened, or -1 */
	dev_t		 fdev;
	ino_t		 fino;
	/* the header as last read */
	unsigned long long gen;		/* moves with every cooldown change */
	size_t		 ncool;		/* cooldown records in the file */
	/* the cooldown records (slot order) and a table (idx, mh) -> slot */
	struct cool	*cool;
	size_t		 coolcap;
	size_t		*ctab;		/* slot+1, 0 empty */
	size_t		 ctabmask;
	int		 cvalid;	/* cool matches gen of this file */
	unsigned long long cgen;
	/* after gb_keys_load: the live cooldowns of each key */
	struct gb_key_cool *lc;
	size_t		*lcoff;		/* n + 1 offsets into lc */
	/* records read ahead by next within one locked operation */
	char		 chunk[CHUNK * REC];
	size_t		 cfirst, ccount;
	struct gb_buf	 rbuf;		/* a whole file */
	struct gb_buf	 wbuf;		/* a whole new file */
	char		 notice[GB_ERR_MSGSIZE];
	/* the shared state (KEY_STATE=redis://...), or NULL */
	struct gb_keys_redis *rd;
	int		 fallback;	/* to the file when unreachable */
	char		 rnotice[GB_ERR_MSGSIZE];
};

static int	shared_begin(struct gb_keys *, struct gb_err *);
static int	shared_end(struct gb_keys *, int, struct gb_err *);
static int	shared_update(struct gb_keys *, size_t, enum gb_key_outcome,
		    const char *, time_t, int, const char *, struct gb_err *);
static int	shared_load(struct gb_keys *, struct gb_err *);
static int	file_load(struct gb_keys *, struct gb_err *);

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
	uint64_t id, *le;
	char *p;
	int rc;

	if (cfg->api_keys.n == 0) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "API_KEYS is empty");
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		goto nomem;
	k->dirfd = k->lockfd = k->fd = -1;
	k->max_failures = cfg->max_failures > 0 ? cfg->max_failures : 3;
	k->cooldown = cfg->key_cooldown;
	k->wait_ms = GB_KEYS_WAIT_MS;
	gb_buf_init(&k->rbuf, STATE_MAX);
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
	/* the digest of the id list tells a file in our order at a glance */
	if ((le = calloc(k->n, sizeof(*le))) == NULL)
		goto nomem;
	for (i = 0; i < k->n; i++)
		le[i] = htole64(k->id[i]);
	tohex(siphash(idkey, le, k->n * sizeof(*le)), k->digest);
	free(le);

	/* KEY_STATE=redis://...: the shared state, the file as fallback */
	k->fallback = 1;
	if (cfg->key_state != NULL) {
		struct gb_redis_url u;

		if ((rc = gb_redis_url_parse(cfg->key_state, &u, err)) == -1)
			goto fail;
		if (rc == 0 && (k->rd = gb_keys_redis_open(&u,
		    (const char (*)[17])k->hex, k->n, k->digest,
		    k->max_failures, err)) == NULL) {
			explicit_bzero(&u, sizeof(u));
			goto fail;
		}
		explicit_bzero(&u, sizeof(u));
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
	gb_keys_redis_close(k->rd);
	if (k->lockfd != -1)
		close(k->lockfd);
	if (k->fd != -1)
		close(k->fd);
	if (k->dirfd != -1)
		close(k->dirfd);
	free(k->keymem);
	free(k->key);
	free(k->id);
	free(k->hex);
	free(k->st);
	free(k->tab);
	free(k->dir);
	free(k->cool);
	free(k->ctab);
	free(k->lc);
	free(k->lcoff);
	gb_buf_free(&k->rbuf);
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
	if (k->notice[0] != '\0')
		return k->notice;
	return k->rnotice[0] != '\0' ? k->rnotice : NULL;
}

void
gb_keys_set_fallback(struct gb_keys *k, int on)
{
	k->fallback = on;
}

int
gb_keys_shared(const struct gb_keys *k)
{
	return k->rd != NULL;
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

/* A model name a cooldown record can hold: printable, no space. */
static int
model_ok(const char *m)
{
	size_t i;

	if (m == NULL || *m == '\0')
		return 0;
	for (i = 0; m[i] != '\0'; i++)
		if (i == GB_KEYS_MODEL_MAX || (unsigned char)m[i] <= 0x20 ||
		    (unsigned char)m[i] > 0x7e)
			return 0;
	return 1;
}

static uint64_t
model_hash(const char *m)
{
	return siphash(idkey, m, strlen(m));
}

/*
 * A key record or a version 1 line, p up to its newline nl: the reason
 * is the rest of the line less the padding. Returns 0 or -1.
 */
static int
parse_rec(const char *p, const char *nl, uint64_t *id,
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
	while (nl > p && nl[-1] == ' ')
		nl--;
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

/* A cooldown record: "cool ID UNTIL MODEL", padded. 0 or -1. */
static int
parse_cool(const char *p, uint64_t *id, struct cool *c)
{
	const char *nl = p + REC - 1;
	unsigned long long until;
	size_t len;

	if (*nl != '\n' || memcmp(p, "cool ", 5) != 0)
		return -1;
	p += 5;
	if (hexid(&p, nl + 1, id) == -1 ||
	    num(&p, nl + 1, ' ', TIME_MAX, &until) == -1)
		return -1;
	while (nl > p && nl[-1] == ' ')
		nl--;
	len = (size_t)(nl - p);
	if (len == 0 || len > GB_KEYS_MODEL_MAX)
		return -1;
	memcpy(c->model, p, len);
	c->model[len] = '\0';
	if (!model_ok(c->model))
		return -1;
	c->mh = model_hash(c->model);
	c->until = (time_t)until;
	return 0;
}

/* The version 2 header record. 0 or -1. */
static int
parse_hdr(const char *p, size_t len, unsigned long long *pos,
    unsigned long long *count, unsigned long long *ncool,
    unsigned long long *gen, char digest[17])
{
	const char *end = p + REC;
	int i;

	if (len < REC || p[REC - 1] != '\n' ||
	    memcmp(p, MAGIC2, sizeof(MAGIC2) - 1) != 0)
		return -1;
	p += sizeof(MAGIC2) - 1;
	if (num(&p, end, ' ', (size_t)-1, pos) == -1 ||
	    num(&p, end, ' ', (size_t)-1, count) == -1 ||
	    num(&p, end, ' ', (size_t)-1, ncool) == -1 ||
	    num(&p, end, ' ', 1ULL << 62, gen) == -1)
		return -1;
	for (i = 0; i < 16; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			return -1;
	memcpy(digest, p, 16);
	digest[16] = '\0';
	for (p += 16; p < end - 1; p++)
		if (*p != ' ')
			return -1;
	return 0;
}

/* Append v in decimal, at most max, followed by sep. */
static char *
putnum(char *p, unsigned long long v, unsigned long long max, char sep)
{
	char tmp[20];
	int n = 0;

	if (v > max)
		v = max;
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

/* Spaces from p to the end of the record, then its newline. */
static void
pad(char *rec, char *p)
{
	memset(p, ' ', (size_t)(rec + REC - 1 - p));
	rec[REC - 1] = '\n';
}

static void
put_hdr(const struct gb_keys *k, char *rec)
{
	char *p = rec;

	memcpy(p, MAGIC2, sizeof(MAGIC2) - 1);
	p += sizeof(MAGIC2) - 1;
	p = putnum(p, k->pos, (size_t)-1, ' ');
	p = putnum(p, k->n, (size_t)-1, ' ');
	p = putnum(p, k->ncool, (size_t)-1, ' ');
	p = putnum(p, k->gen, 1ULL << 62, ' ');
	memcpy(p, k->digest, 16);
	pad(rec, p + 16);
}

/* Key i's record (at most 17 + 88 + 80 + 1 bytes before the padding). */
static void
put_rec(const struct gb_keys *k, size_t i, time_t now, char *rec)
{
	const struct gb_key_info *st = &k->st[i];
	char *p = rec;
	size_t len;

	memcpy(p, k->hex[i], 16);
	p[16] = ' ';
	p += 17;
	p = putnum(p, st->invalid ? 1 : 0, 1, ' ');
	p = putnum(p, st->until > now ? unum(st->until) : 0, TIME_MAX, ' ');
	p = putnum(p, unum(st->consec), CONSEC_MAX, ' ');
	p = putnum(p, st->uses, COUNT_MAX, ' ');
	p = putnum(p, st->fails, COUNT_MAX, ' ');
	p = putnum(p, unum(st->last_used), TIME_MAX, ' ');
	p = putnum(p, unum(st->last_error), TIME_MAX, ' ');
	p = putnum(p, st->status > 0 && st->status < 1000 ?
	    (unsigned)st->status : 0, 999, ' ');
	len = strlen(st->reason);
	memcpy(p, st->reason, len);
	pad(rec, p + len);
}

static void
put_cool(const struct gb_keys *k, const struct cool *c, char *rec)
{
	char *p = rec;
	size_t len = strlen(c->model);

	memcpy(p, "cool ", 5);
	memcpy(p + 5, k->hex[c->idx], 16);
	p[21] = ' ';
	p = putnum(p + 22, unum(c->until), TIME_MAX, ' ');
	memcpy(p, c->model, len);
	pad(rec, p + len);
}

static ssize_t
readat(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int
writeat(int fd, const void *buf, size_t len, off_t off)
{
	size_t put = 0;
	ssize_t r;

	while (put < len) {
		r = pwrite(fd, (const char *)buf + put, len - put,
		    off + (off_t)put);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		put += (size_t)r;
	}
	return 0;
}

/* Close fd after a failure, keeping the failure's errno. */
static void
close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

static int
ioerr(struct gb_keys *k, struct gb_err *err)
{
	return gb_err_set(err, GB_EXIT_TEMP, 0, "%s/%s: %s", k->dir,
	    STATE_FILE, strerror(errno));
}

/*
 * Make k->fd the current keys.state (opened again after a replacement),
 * or -1 when there is none. 0 or -1.
 */
static int
state_fd(struct gb_keys *k, struct gb_err *err)
{
	struct stat sb;
	int fd;

	if (fstatat(k->dirfd, STATE_FILE, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return ioerr(k, err);
		if (k->fd != -1)
			close(k->fd);
		k->fd = -1;
		k->cvalid = 0;
		return 0;
	}
	if (k->fd != -1 && sb.st_dev == k->fdev && sb.st_ino == k->fino)
		return 0;
	if (k->fd != -1)
		close(k->fd);
	k->fd = -1;
	k->cvalid = 0;
	if ((fd = openat(k->dirfd, STATE_FILE, O_RDWR | O_CLOEXEC |
	    O_NOFOLLOW)) == -1 && errno == EACCES)
		fd = openat(k->dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	if (fd == -1)
		return ioerr(k, err);
	if (fstat(fd, &sb) == -1) {
		close_keep_errno(fd);
		return ioerr(k, err);
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return ioerr(k, err);
	}
	k->fd = fd;
	k->fdev = sb.st_dev;
	k->fino = sb.st_ino;
	return 0;
}

/* The cooldown table: slot of (idx, mh, model), or where it would go. */
static size_t
ctab_slot(const struct gb_keys *k, size_t idx, uint64_t mh,
    const char *model)
{
	size_t h = (size_t)((mh ^ (idx * 0x9e3779b97f4a7c15ULL)) >> 7) &
	    k->ctabmask;
	const struct cool *c;

	while (k->ctab[h] != 0) {
		c = &k->cool[k->ctab[h] - 1];
		if (c->idx == idx && c->mh == mh &&
		    strcmp(c->model, model) == 0)
			break;
		h = (h + 1) & k->ctabmask;
	}
	return h;
}

/* Index the first ncool records of k->cool. 0 or -1 (out of memory). */
static int
ctab_build(struct gb_keys *k)
{
	size_t size, j, h;

	for (size = 16; size < 2 * (k->ncool + 1); size *= 2)
		;
	if (size != k->ctabmask + 1 || k->ctab == NULL) {
		free(k->ctab);
		if ((k->ctab = calloc(size, sizeof(*k->ctab))) == NULL) {
			k->ctabmask = 0;
			return -1;
		}
		k->ctabmask = size - 1;
	} else
		memset(k->ctab, 0, size * sizeof(*k->ctab));
	for (j = 0; j < k->ncool; j++) {
		if (k->cool[j].until == 0)
			continue;
		h = ctab_slot(k, k->cool[j].idx, k->cool[j].mh,
		    k->cool[j].model);
		if (k->ctab[h] == 0)
			k->ctab[h] = j + 1;
	}
	return 0;
}

/* k->cool now holds the file's cooldown records of this generation. */
static int
cool_indexed(struct gb_keys *k, struct gb_err *err)
{
	if (ctab_build(k) == -1) {
		k->cvalid = 0;
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	}
	k->cvalid = 1;
	k->cgen = k->gen;
	return 0;
}

static ssize_t
cool_find(const struct gb_keys *k, size_t idx, uint64_t mh,
    const char *model)
{
	size_t h;

	if (k->ctab == NULL)
		return -1;
	h = ctab_slot(k, idx, mh, model);
	return k->ctab[h] == 0 ? -1 : (ssize_t)k->ctab[h] - 1;
}

static int
cool_room(struct gb_keys *k, size_t n)
{
	struct cool *c;
	size_t cap;

	if (n <= k->coolcap)
		return 0;
	for (cap = k->coolcap ? k->coolcap : 16; cap < n; cap *= 2)
		;
	if ((c = reallocarray(k->cool, cap, sizeof(*c))) == NULL)
		return -1;
	k->cool = c;
	k->coolcap = cap;
	return 0;
}

static void
fresh(struct gb_keys *k)
{
	memset(k->st, 0, k->n * sizeof(*k->st));
	k->pos = 0;
	k->ncool = 0;
}

/*
 * Parse a whole file (len bytes at p) into k->st, k->pos and the live
 * cooldowns (k->cool, k->ncool). Records of keys no longer configured
 * are skipped; configured keys without one start fresh. Returns 0, -1
 * with the first problem in why, or -2 when memory ran out.
 */
static int
parse_file(struct gb_keys *k, const char *p, size_t len, time_t now,
    char *why, size_t whysz)
{
	const char *end = p + len, *nl;
	unsigned long long pos, count, ncool, gen, i, lines = 0;
	unsigned char *seen;
	struct gb_key_info tmp;
	char digest[17];
	struct cool c;
	uint64_t id;
	ssize_t idx;
	int v2, rc = -1;

	fresh(k);
	if ((seen = calloc(k->n, 1)) == NULL)
		return -2;
	v2 = len >= sizeof(MAGIC2) - 1 &&
	    memcmp(p, MAGIC2, sizeof(MAGIC2) - 1) == 0;
	if (v2) {
		if (parse_hdr(p, len, &pos, &count, &ncool, &gen, digest) ==
		    -1) {
			snprintf(why, whysz, "record 0: malformed header");
			goto out;
		}
		if (count > (len / REC) || ncool > len / REC ||
		    len / REC < 1 + count + ncool || len % REC != 0) {
			snprintf(why, whysz, "%zu bytes for %llu keys and "
			    "%llu cooldowns", len, count, ncool);
			goto out;
		}
		k->gen = gen;
		p += REC;
	} else {
		if (len < sizeof(MAGIC1) - 1 ||
		    memcmp(p, MAGIC1, sizeof(MAGIC1) - 1) != 0) {
			snprintf(why, whysz, "not a gb-keys state file");
			goto out;
		}
		p += sizeof(MAGIC1) - 1;
		if (num(&p, end, ' ', (size_t)-1, &pos) == -1 ||
		    num(&p, end, '\n', (size_t)-1, &count) == -1) {
			snprintf(why, whysz, "line 1: malformed header");
			goto out;
		}
		ncool = 0;
	}
	for (i = 0; i < count; i++) {
		lines++;
		if (v2) {
			nl = p + REC - 1;
			if (*nl != '\n')
				nl = NULL;
		} else if (p >= end) {
			snprintf(why, whysz, "%llu entries, header says %llu",
			    lines - 1, count);
			goto out;
		} else
			nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			snprintf(why, whysz, "%s %llu: incomplete",
			    v2 ? "record" : "line", lines + !v2);
			goto out;
		}
		if (parse_rec(p, nl, &id, &tmp) == -1) {
			snprintf(why, whysz, "%s %llu: malformed entry",
			    v2 ? "record" : "line", lines + !v2);
			goto out;
		}
		if ((idx = tab_find(k, id)) != -1) {
			if (seen[idx]) {
				snprintf(why, whysz, "%s %llu: repeated id",
				    v2 ? "record" : "line", lines + !v2);
				goto out;
			}
			seen[idx] = 1;
			k->st[idx] = tmp;
		}
		p = nl + 1;
	}
	if (!v2 && p != end) {
		snprintf(why, whysz, "more entries than the header's %llu",
		    count);
		goto out;
	}
	for (i = 0; i < ncool; i++, p += REC) {
		/* a bad cooldown record is dropped, not fatal */
		if (parse_cool(p, &id, &c) == -1 || c.until <= now ||
		    (idx = tab_find(k, id)) == -1)
			continue;
		if (k->ncool >= COOL_MAX(k->n))
			break;
		if (cool_room(k, k->ncool + 1) == -1) {
			rc = -2;
			goto out;
		}
		c.idx = (size_t)idx;
		k->cool[k->ncool++] = c;
	}
	k->pos = (size_t)(pos % k->n);
	rc = 0;
out:
	free(seen);
	if (rc != 0) {
		fresh(k);
		k->cvalid = 0;
	}
	return rc;
}

/*
 * Read the whole file and parse it. A missing file is a fresh state.
 * With recover, a corrupt file is moved aside to keys.state.bad and a
 * fresh state starts (the caller holds the lock); without, it is an
 * error. Afterwards k->cool holds the live cooldowns, not the file's
 * slots (k->cvalid is 0).
 */
static int
load_whole(struct gb_keys *k, int recover, struct gb_err *err)
{
	char why[128];
	struct stat sb;
	ssize_t r;
	int rc;

	k->cvalid = 0;
	if (state_fd(k, err) == -1)
		return -1;
	if (k->fd == -1) {
		fresh(k);
		return 0;
	}
	if (fstat(k->fd, &sb) == -1)
		return ioerr(k, err);
	if (sb.st_size > STATE_MAX) {
		snprintf(why, sizeof(why), "larger than %d bytes", STATE_MAX);
		rc = -1;
	} else {
		k->rbuf.len = 0;
		if (gb_buf_reserve(&k->rbuf, (size_t)sb.st_size + 1) == -1)
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "out of memory");
		if ((r = readat(k->fd, k->rbuf.data, (size_t)sb.st_size, 0))
		    == -1)
			return ioerr(k, err);
		rc = parse_file(k, k->rbuf.data, (size_t)r, time(NULL), why,
		    sizeof(why));
		if (rc == -2)
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "out of memory");
	}
	if (rc == 0)
		return 0;
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

/*
 * Replace the file with the whole state in memory, in the canonical
 * order, live cooldowns only: temp, fsync, rename, fsync the
 * directory. Afterwards the cooldown table matches the file.
 */
static int
write_full(struct gb_keys *k, time_t now, struct gb_err *err)
{
	size_t i, j;
	char *p;
	int fd;

	for (i = j = 0; i < k->ncool; i++)
		if (k->cool[i].until > now)
			k->cool[j++] = k->cool[i];
	k->ncool = j;
	k->gen++;
	k->wbuf.len = 0;
	if (gb_buf_reserve(&k->wbuf, (1 + k->n + k->ncool) * REC) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	p = k->wbuf.data;
	put_hdr(k, p);
	for (i = 0, p += REC; i < k->n; i++, p += REC)
		put_rec(k, i, now, p);
	for (i = 0; i < k->ncool; i++, p += REC)
		put_cool(k, &k->cool[i], p);
	k->wbuf.len = (size_t)(p - k->wbuf.data);
	if ((unlinkat(k->dirfd, STATE_TMP, 0) == -1 && errno != ENOENT) ||
	    (fd = openat(k->dirfd, STATE_TMP,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		return ioerr(k, err);
	if (gb_io_writeall(fd, k->wbuf.data, k->wbuf.len) == -1 ||
	    fsync(fd) == -1) {
		close_keep_errno(fd);
		return ioerr(k, err);
	}
	if (close(fd) == -1 ||
	    renameat(k->dirfd, STATE_TMP, k->dirfd, STATE_FILE) == -1 ||
	    fsync(k->dirfd) == -1)
		return ioerr(k, err);
	if (state_fd(k, err) == -1)
		return -1;
	return cool_indexed(k, err);
}

/* The file is not what the fast path expects: read it all, rewrite it. */
static int
go_slow(struct gb_keys *k, struct gb_err *err)
{
	k->ccount = 0;
	if (load_whole(k, 1, err) == -1)
		return -1;
	return write_full(k, time(NULL), err);
}

/*
 * Lock, and read the header. A file in the canonical shape (version 2,
 * our keys in our order) is used in place; any other is read whole and
 * rewritten first. On failure nothing is held.
 */
static int
begin(struct gb_keys *k, struct gb_err *err)
{
	unsigned long long pos, count, ncool, gen;
	char hdr[REC], digest[17];

	k->notice[0] = '\0';
	k->ccount = 0;
	if (lock_state(k, err) == -1)
		return -1;
	if (state_fd(k, err) == -1)
		goto fail;
	if (k->fd != -1 && readat(k->fd, hdr, REC, 0) == REC &&
	    parse_hdr(hdr, REC, &pos, &count, &ncool, &gen, digest) == 0 &&
	    count == k->n && strcmp(digest, k->digest) == 0 &&
	    ncool <= COOL_MAX(k->n)) {
		k->pos = (size_t)(pos % k->n);
		k->ncool = (size_t)ncool;
		k->gen = gen;
		return 0;
	}
	if (go_slow(k, err) == 0)
		return 0;
fail:
	unlock_state(k);
	return -1;
}

/*
 * Bring the cooldown table up to date with the file: read again only
 * when the generation moved (or the file was replaced). 0, 1 when the
 * file had to be rewritten (start over), -1.
 */
static int
cool_sync(struct gb_keys *k, struct gb_err *err)
{
	size_t j, len = k->ncool * REC;
	ssize_t r, idx;
	uint64_t id;
	char *p;

	if (k->cvalid && k->cgen == k->gen)
		return 0;
	k->rbuf.len = 0;
	if (cool_room(k, k->ncool) == -1 ||
	    gb_buf_reserve(&k->rbuf, len + 1) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	if ((r = readat(k->fd, k->rbuf.data, len,
	    (off_t)((1 + k->n) * REC))) == -1)
		return ioerr(k, err);
	if ((size_t)r < len)
		return go_slow(k, err) == -1 ? -1 : 1;
	for (j = 0, p = k->rbuf.data; j < k->ncool; j++, p += REC) {
		if (parse_cool(p, &id, &k->cool[j]) == -1 ||
		    (idx = tab_find(k, id)) == -1) {
			memset(&k->cool[j], 0, sizeof(k->cool[j]));
			continue;	/* a free slot */
		}
		k->cool[j].idx = (size_t)idx;
	}
	return cool_indexed(k, err);
}

/*
 * Make k->st[i] current from its record, reading up to a page of
 * records ahead. 0, 1 when the file had to be rewritten (start over),
 * -1.
 */
static int
rec_get(struct gb_keys *k, size_t i, struct gb_err *err)
{
	size_t cnt;
	ssize_t r;
	uint64_t id;
	const char *p;

	if (i < k->cfirst || i >= k->cfirst + k->ccount) {
		cnt = k->n - i < CHUNK ? k->n - i : CHUNK;
		if ((r = readat(k->fd, k->chunk, cnt * REC,
		    (off_t)((1 + i) * REC))) == -1)
			return ioerr(k, err);
		if ((size_t)r < cnt * REC)
			goto bad;
		k->cfirst = i;
		k->ccount = cnt;
	}
	p = k->chunk + (i - k->cfirst) * REC;
	if (p[REC - 1] == '\n' && memcmp(p, k->hex[i], 16) == 0 &&
	    parse_rec(p, p + REC - 1, &id, &k->st[i]) == 0)
		return 0;
bad:
	/* the full parse finds what is wrong, and recovers */
	return go_slow(k, err) == -1 ? -1 : 1;
}

static int
rec_put(struct gb_keys *k, size_t i, time_t now, struct gb_err *err)
{
	char rec[REC];

	put_rec(k, i, now, rec);
	k->ccount = 0;
	if (writeat(k->fd, rec, REC, (off_t)((1 + i) * REC)) == -1)
		return ioerr(k, err);
	return 0;
}

static int
hdr_put(struct gb_keys *k, struct gb_err *err)
{
	char rec[REC];

	put_hdr(k, rec);
	if (writeat(k->fd, rec, REC, 0) == -1)
		return ioerr(k, err);
	return 0;
}

static int
cool_put(struct gb_keys *k, size_t j, struct gb_err *err)
{
	char rec[REC];

	put_cool(k, &k->cool[j], rec);
	if (writeat(k->fd, rec, REC, (off_t)((1 + k->n + j) * REC)) == -1)
		return ioerr(k, err);
	return 0;
}

/* Make what was written durable (when sync), then unlock. */
static int
finish(struct gb_keys *k, int rc, int sync, struct gb_err *err)
{
	if (rc == 0 && sync && fdatasync(k->fd) == -1)
		rc = ioerr(k, err);
	unlock_state(k);
	return rc;
}

int
gb_keys_next(struct gb_keys *k, const size_t *skip, size_t nskip,
    time_t *retry_at, struct gb_err *err)
{
	return gb_keys_next_for(k, NULL, skip, nskip, retry_at, err);
}

int
gb_keys_next_for(struct gb_keys *k, const char *model, const size_t *skip,
    size_t nskip, time_t *retry_at, struct gb_err *err)
{
	struct gb_key_info *st;
	time_t now, soonest, t;
	uint64_t mh = 0;
	size_t i, j, s;
	ssize_t c;
	int rc, bymodel;

	if (retry_at != NULL)
		*retry_at = 0;
	if ((bymodel = model_ok(model)))
		mh = model_hash(model);
	if ((rc = shared_begin(k, err)) == 0)
		rc = shared_end(k, gb_keys_redis_next(k->rd, bymodel ? model :
		    NULL, skip, nskip, time(NULL), retry_at != NULL ? retry_at :
		    &soonest, k->st, err), err);
	if (rc != GB_KEYS_LOCAL)
		return rc;
	if (begin(k, err) == -1)
		return -1;
	now = time(NULL);
again:
	soonest = 0;
	if (bymodel && (rc = cool_sync(k, err)) != 0) {
		if (rc == -1)
			return finish(k, -1, 0, err);
		goto again;
	}
	for (j = 0, i = k->pos; j < k->n; j++, i = i + 1 == k->n ? 0 : i + 1) {
		for (s = 0; s < nskip; s++)
			if (skip[s] == i)
				break;
		if (s < nskip)
			continue;
		if (bymodel && (c = cool_find(k, i, mh, model)) != -1 &&
		    (t = k->cool[c].until) > now) {
			if (soonest == 0 || t < soonest)
				soonest = t;
			continue;
		}
		if ((rc = rec_get(k, i, err)) == -1)
			return finish(k, -1, 0, err);
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
		st->uses++;
		st->last_used = now;
		k->pos = i + 1 == k->n ? 0 : i + 1;
		/* only counters moved: no sync on the hot path */
		if (rec_put(k, i, now, err) == -1 || hdr_put(k, err) == -1)
			return finish(k, -1, 0, err);
		finish(k, 0, 0, err);
		return (int)i;
	}
	unlock_state(k);
	if (retry_at != NULL)
		*retry_at = soonest;
	if (soonest != 0)
		return gb_err_set(err, GB_EXIT_NO, 429,
		    "no usable key%s%s; retry after %lld s (at %lld)",
		    bymodel ? " for " : "", bymodel ? model : "",
		    (long long)(soonest - now), (long long)soonest);
	return gb_err_set(err, GB_EXIT_NO, 429, "no usable key%s%s",
	    bymodel ? " for " : "", bymodel ? model : "");
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
/*
 * Key idx cools for model until then: its record is reused, else a
 * free one (expired), else one is added. 0, 1 when the file had to be
 * rewritten (start over), 2 when no record is left (COOL_MAX: the key
 * cools for every model instead), -1.
 */
static int
cool_set(struct gb_keys *k, size_t idx, const char *model, time_t until,
    time_t now, struct gb_err *err)
{
	uint64_t mh = model_hash(model);
	ssize_t c;
	size_t j;
	int rc;

	if ((rc = cool_sync(k, err)) != 0)
		return rc;
	if ((c = cool_find(k, idx, mh, model)) == -1)
		for (j = 0; j < k->ncool; j++)
			if (k->cool[j].until <= now) {
				c = (ssize_t)j;
				break;
			}
	if (c == -1) {
		if (k->ncool >= COOL_MAX(k->n))
			return 2;
		if (cool_room(k, k->ncool + 1) == -1)
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "out of memory");
		c = (ssize_t)k->ncool;
	}
	k->cool[c].idx = idx;
	k->cool[c].mh = mh;
	k->cool[c].until = until;
	snprintf(k->cool[c].model, sizeof(k->cool[c].model), "%s", model);
	/* the record first: a header that counts it comes after */
	if (cool_put(k, (size_t)c, err) == -1)
		return -1;
	if ((size_t)c == k->ncool)
		k->ncool++;
	k->gen++;
	if (hdr_put(k, err) == -1)
		return -1;
	return cool_indexed(k, err);
}

static int
update(struct gb_keys *k, size_t idx, enum gb_key_outcome what,
    const char *model, time_t until, int status, const char *reason,
    struct gb_err *err)
{
	struct gb_key_info *st;
	time_t now;
	int rc, sync = 1;

	if (idx >= k->n)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "key index %zu out of range (0 to %zu)", idx, k->n - 1);
	if ((rc = shared_update(k, idx, what, model, until, status, reason,
	    err)) != GB_KEYS_LOCAL)
		return rc;
	if (begin(k, err) == -1)
		return -1;
again:
	if ((rc = rec_get(k, idx, err)) == -1)
		return finish(k, -1, 0, err);
	if (rc == 1)
		goto again;
	now = time(NULL);
	st = &k->st[idx];
	switch (what) {
	case GB_KEY_OK:
		/*
		 * The common case, a success of a key in good standing,
		 * changes nothing in the file: no write at all. A success
		 * that ends a failure streak moves a counter only (no
		 * sync); one that revives an invalid key is synced.
		 */
		if (st->consec == 0 && !st->invalid)
			return finish(k, 0, 0, err);
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
		rc = model_ok(model) ? cool_set(k, idx, model, until, now,
		    err) : 2;
		if (rc == -1)
			return finish(k, -1, 0, err);
		if (rc == 1)
			goto again;
		if (rc == 2)
			st->until = until;
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
		sync = 0;
		st->last_error = now;
		st->status = status;
		set_reason(k, st, reason);
		break;
	}
	return finish(k, rec_put(k, idx, now, err), sync, err);
}

int
gb_keys_read(struct gb_keys *k, size_t idx, struct gb_err *err)
{
	int rc;

	if (idx >= k->n)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "key index %zu out of range (0 to %zu)", idx, k->n - 1);
	if ((rc = shared_begin(k, err)) == 0)
		rc = shared_end(k, gb_keys_redis_update(k->rd, idx, "read",
		    NULL, 0, 0, NULL, &k->st[idx], err), err);
	if (rc != GB_KEYS_LOCAL)
		return rc;
	if (begin(k, err) == -1)
		return -1;
	while ((rc = rec_get(k, idx, err)) == 1)
		;
	return finish(k, rc, 0, err);
}

int
gb_keys_record(struct gb_keys *k, size_t idx, enum gb_key_outcome what,
    long seconds, int status, const char *reason, struct gb_err *err)
{
	if (what == GB_KEY_COOL && seconds < 0)
		seconds = k->cooldown;
	return update(k, idx, what, NULL, time(NULL) + seconds, status,
	    reason, err);
}

int
gb_keys_cool(struct gb_keys *k, size_t idx, const char *model,
    time_t until, int status, const char *reason, struct gb_err *err)
{
	return update(k, idx, GB_KEY_COOL, model, until, status, reason,
	    err);
}

int
gb_keys_reset(struct gb_keys *k, size_t idx, struct gb_err *err)
{
	struct gb_key_info *st;
	time_t now;
	size_t i, j;
	int rc, moved = 0;

	if (idx != (size_t)-1 && idx >= k->n)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "key index %zu out of range (0 to %zu)", idx, k->n - 1);
	if ((rc = shared_begin(k, err)) == 0)
		rc = shared_end(k, idx == (size_t)-1 ?
		    gb_keys_redis_reset_all(k->rd, err) :
		    gb_keys_redis_update(k->rd, idx, "reset", NULL, 0, 0, NULL,
		    &k->st[idx], err), err);
	if (rc != GB_KEYS_LOCAL)
		return rc;
	if (begin(k, err) == -1)
		return -1;
	now = time(NULL);
	if (idx == (size_t)-1) {
		/* everything: read it all, write it all */
		if (load_whole(k, 1, err) == -1)
			return finish(k, -1, 0, err);
		for (i = 0; i < k->n; i++) {
			k->st[i].invalid = 0;
			k->st[i].until = 0;
			k->st[i].consec = 0;
		}
		k->ncool = 0;
		return finish(k, write_full(k, now, err), 0, err);
	}
again:
	if ((rc = rec_get(k, idx, err)) == 1 || (rc == 0 &&
	    (rc = cool_sync(k, err)) == 1))
		goto again;
	if (rc == -1)
		return finish(k, -1, 0, err);
	st = &k->st[idx];
	st->invalid = 0;
	st->until = 0;
	st->consec = 0;
	for (j = 0; j < k->ncool; j++)
		if (k->cool[j].idx == idx && k->cool[j].until != 0) {
			k->cool[j].until = 0;
			if (cool_put(k, j, err) == -1)
				return finish(k, -1, 0, err);
			moved = 1;
		}
	if (moved) {
		k->gen++;
		if (hdr_put(k, err) == -1 || cool_indexed(k, err) == -1)
			return finish(k, -1, 0, err);
	}
	return finish(k, rec_put(k, idx, now, err), 1, err);
}

int
gb_keys_load(struct gb_keys *k, struct gb_err *err)
{
	int rc;

	k->notice[0] = '\0';
	if ((rc = shared_begin(k, err)) == 0)
		rc = shared_end(k, shared_load(k, err), err);
	if (rc != GB_KEYS_LOCAL)
		return rc;
	return file_load(k, err);
}

/* gb_keys_load on the file. */
static int
file_load(struct gb_keys *k, struct gb_err *err)
{
	struct gb_key_cool *lc;
	size_t i, j, *at;
	time_t now = time(NULL);
	long wait;
	int rc, locked;

	k->notice[0] = '\0';
	/*
	 * A reader shares the lock, not for long: when the lock stays
	 * taken (a writer stuck holding it, writing nothing), read without
	 * it, as a stuck writer must not stop "gb-keys list". Each record
	 * is written whole by one pwrite, so such a read still sees whole
	 * records.
	 */
	wait = k->wait_ms;
	if (k->wait_ms > READ_WAIT_MS)
		k->wait_ms = READ_WAIT_MS;
	locked = lock_mode(k, LOCK_SH, err) == 0;
	k->wait_ms = wait;
	gb_err_clear(err);
	rc = load_whole(k, 0, err);
	if (locked)
		unlock_state(k);
	if (rc == -1)
		return -1;
	/* the live cooldowns grouped by key, in file order */
	free(k->lc);
	k->lc = NULL;
	if (k->lcoff == NULL &&
	    (k->lcoff = calloc(k->n + 1, sizeof(*k->lcoff))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	memset(k->lcoff, 0, (k->n + 1) * sizeof(*k->lcoff));
	if (k->ncool > 0 &&
	    (k->lc = calloc(k->ncool, sizeof(*k->lc))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	for (j = 0; j < k->ncool; j++)
		if (k->cool[j].until > now)
			k->lcoff[k->cool[j].idx + 1]++;
	for (i = 0; i < k->n; i++)
		k->lcoff[i + 1] += k->lcoff[i];
	if ((at = calloc(k->n + 1, sizeof(*at))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	memcpy(at, k->lcoff, (k->n + 1) * sizeof(*at));
	for (j = 0; j < k->ncool; j++) {
		if (k->cool[j].until <= now)
			continue;
		lc = &k->lc[at[k->cool[j].idx]++];
		lc->until = k->cool[j].until;
		snprintf(lc->model, sizeof(lc->model), "%s",
		    k->cool[j].model);
	}
	free(at);
	return 0;
}

const struct gb_key_cool *
gb_keys_cools(const struct gb_keys *k, size_t idx, size_t *n)
{
	*n = 0;
	if (idx >= k->n || k->lcoff == NULL || k->lc == NULL)
		return NULL;
	*n = k->lcoff[idx + 1] - k->lcoff[idx];
	return *n > 0 ? &k->lc[k->lcoff[idx]] : NULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12). */
static long
days_of(long y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The first Sunday on or after day number d (1970-01-01 a Thursday). */
static long
sunday_from(long d)
{
	return d + (7 - (d + 4) % 7) % 7;
}

/*
 * UTC offset of Pacific time at t: daylight time (UTC-7) from 02:00 PST
 * on the second Sunday in March to 02:00 PDT on the first Sunday in
 * November (the US rules since 2007), standard time (UTC-8) otherwise.
 */
static long
pacific_offset(time_t t)
{
	struct tm tm;
	time_t start, end;
	long y;

	if (gmtime_r(&t, &tm) == NULL)
		return -8 * 3600;
	y = tm.tm_year + 1900L;
	start = (time_t)(sunday_from(days_of(y, 3, 1)) + 7) * 86400 +
	    10 * 3600;
	end = (time_t)sunday_from(days_of(y, 11, 1)) * 86400 + 9 * 3600;
	return t >= start && t < end ? -7 * 3600 : -8 * 3600;
}

time_t
gb_keys_day_end(time_t now)
{
	long off = pacific_offset(now);
	time_t midnight;

	midnight = ((now + off) / 86400 + 1) * 86400;
	/* the offset may change between now and then (02:00 today) */
	return midnight - pacific_offset(midnight - off);
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
	const struct gb_key_cool *lc;
	json_t *root, *arr, *o, *le, *mc;
	char m[GB_MASK_SIZE];
	size_t i, j, nc;
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
		mc = json_array();
		lc = gb_keys_cools(k, i, &nc);
		for (j = 0; j < nc; j++)
			if (lc[j].until > now)
				json_array_append_new(mc, json_pack(
				    "{s:s,s:I}", "model", lc[j].model,
				    "until", (json_int_t)lc[j].until));
		o = json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:I,s:I,s:I,s:o,s:o}",
		    "index", (json_int_t)i,
		    "key", gb_mask(gb_keys_key(k, i), m, sizeof(m)),
		    "id", gb_keys_id(k, i),
		    "state", gb_keys_state_name(s),
		    "cooling_until", s == GB_KEY_COOLING ?
		    opt_time(st->until) : json_null(),
		    "models_cooling", mc,
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

/*
 * The shared state (KEY_STATE=redis://...). Each operation first makes
 * sure of the server (shared_begin), then runs there (shared_end sees
 * how it went). GB_KEYS_LOCAL says to use the file instead: there is no
 * server configured, or it is unreachable and falling back is allowed;
 * without the fallback (gb-keys), an unreachable server is an error.
 */

/*
 * The server is back after an outage: push the marks made in the local
 * state meanwhile (keys found invalid since, live cooldowns), so that
 * the other machines learn them. Counters and the position stay local.
 */
static void
push_local(struct gb_keys *k, time_t since)
{
	struct gb_keys_mark *m;
	const struct gb_key_cool *lc;
	struct gb_err e;
	time_t now = time(NULL);
	size_t i, j, n = 0, nc, cap;

	gb_err_clear(&e);
	if (file_load(k, &e) == -1)
		return;
	cap = k->n + (k->lcoff != NULL ? k->lcoff[k->n] : 0);
	if ((m = calloc(cap, sizeof(*m))) == NULL)
		return;
	for (i = 0; i < k->n; i++) {
		if (k->st[i].invalid && k->st[i].last_error >= since) {
			m[n].idx = i;
			m[n++].invalid = 1;
		} else if (k->st[i].until > now) {
			m[n].idx = i;
			m[n++].until = k->st[i].until;
		}
		lc = gb_keys_cools(k, i, &nc);
		for (j = 0; j < nc && n < cap; j++) {
			m[n].idx = i;
			m[n].model = lc[j].model;
			m[n++].until = lc[j].until;
		}
	}
	gb_keys_redis_merge(k->rd, now, m, n, &e);
	free(m);
}

static int
shared_end(struct gb_keys *k, int rc, struct gb_err *err)
{
	char why[GB_ERR_MSGSIZE];

	gb_keys_redis_notice(k->rd, k->rnotice, sizeof(k->rnotice));
	if (rc != GB_KEYS_LOCAL)
		return rc;
	if (!k->fallback) {
		k->rnotice[0] = '\0';
		snprintf(why, sizeof(why), "%s", err->msg);
		return gb_err_set(err, GB_EXIT_TEMP, 0, "key state: %s", why);
	}
	gb_err_clear(err);
	return GB_KEYS_LOCAL;
}

static int
shared_begin(struct gb_keys *k, struct gb_err *err)
{
	time_t since;
	int rc;

	k->rnotice[0] = '\0';
	if (k->rd == NULL)
		return GB_KEYS_LOCAL;
	if ((rc = gb_keys_redis_ready(k->rd, &since, err)) == 0 && since != 0)
		push_local(k, since);
	return shared_end(k, rc, err);
}

static int
shared_update(struct gb_keys *k, size_t idx, enum gb_key_outcome what,
    const char *model, time_t until, int status, const char *reason,
    struct gb_err *err)
{
	struct gb_key_info tmp;
	const char *op = "note";
	int rc;

	if ((rc = shared_begin(k, err)) != 0)
		return rc;
	memset(&tmp, 0, sizeof(tmp));
	set_reason(k, &tmp, reason);
	switch (what) {
	case GB_KEY_OK:
		op = "ok";
		break;
	case GB_KEY_FAIL:
		op = "fail";
		break;
	case GB_KEY_COOL:
		op = "cool";
		if (status <= 0)
			status = 429;
		break;
	case GB_KEY_REVIVE:
		op = "revive";
		break;
	case GB_KEY_NOTE:
		break;
	}
	return shared_end(k, gb_keys_redis_update(k->rd, idx, op,
	    what == GB_KEY_COOL && model_ok(model) ? model : NULL, until,
	    status, tmp.reason, &k->st[idx], err), err);
}

static int
shared_load(struct gb_keys *k, struct gb_err *err)
{
	struct gb_key_cool *lc = NULL;
	int rc;

	if (k->lcoff == NULL &&
	    (k->lcoff = calloc(k->n + 1, sizeof(*k->lcoff))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	if ((rc = gb_keys_redis_load(k->rd, time(NULL), k->st, &k->pos, &lc,
	    k->lcoff, err)) != 0) {
		memset(k->lcoff, 0, (k->n + 1) * sizeof(*k->lcoff));
		return rc;
	}
	free(k->lc);
	k->lc = lc;
	return 0;
}
