/*
 * keys_redis.c - the key state on Redis (keys_redis.h).
 *
 * Keys are named by their state ids (gb_keys_id), never in clear. The
 * list of one API_KEYS (named by the digest of its ids, as in the
 * state file's header) is a hash of index -> id written once; the
 * round-robin position is a counter beside it; each key is a hash of
 * its record, and its cooldowns per model another hash. The scripts
 * (redis.c) do each operation in one round trip, and next reads only
 * the keys from the position to the first usable one: the cost of a
 * request does not grow with the number of keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys_redis.h"

#define NFIELDS	9	/* a record's fields, in the scripts' order */

struct gb_keys_redis {
	struct gb_redis	*r;
	const char	(*hex)[17];
	size_t		 n;
	char		 list[64];	/* gbkeys:list:DIGEST */
	char		 pos[64];	/* gbkeys:pos:DIGEST */
	char		 maxf[24];
};

struct gb_keys_redis *
gb_keys_redis_open(const struct gb_redis_url *u, const char (*hex)[17],
    size_t n, const char *digest, long max_failures, struct gb_err *err)
{
	struct gb_keys_redis *k;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	if ((k->r = gb_redis_new(u, err)) == NULL) {
		free(k);
		return NULL;
	}
	k->hex = hex;
	k->n = n;
	snprintf(k->list, sizeof(k->list), "gbkeys:list:%s", digest);
	snprintf(k->pos, sizeof(k->pos), "gbkeys:pos:%s", digest);
	snprintf(k->maxf, sizeof(k->maxf), "%ld", max_failures);
	return k;
}

void
gb_keys_redis_close(struct gb_keys_redis *k)
{
	if (k == NULL)
		return;
	gb_redis_free(k->r);
	free(k);
}

int
gb_keys_redis_ready(struct gb_keys_redis *k, time_t *since,
    struct gb_err *err)
{
	*since = 0;
	if (gb_redis_ready(k->r, err) == -1)
		return GB_KEYS_LOCAL;
	*since = gb_redis_back(k->r);
	return 0;
}

const char *
gb_keys_redis_notice(struct gb_keys_redis *k, char *out, size_t sz)
{
	return gb_redis_notice(k->r, out, sz);
}

/* An integer element of a reply (a number, or a string of digits). */
static long long
inum(const redisReply *e)
{
	if (e->type == REDIS_REPLY_INTEGER)
		return e->integer;
	if (e->type == REDIS_REPLY_STRING)
		return strtoll(e->str, NULL, 10);
	return 0;
}

/* Fill *st from NFIELDS elements of a reply. */
static void
to_info(redisReply **e, struct gb_key_info *st)
{
	size_t len;

	memset(st, 0, sizeof(*st));
	st->invalid = inum(e[0]) == 1;
	st->until = (time_t)inum(e[1]);
	st->consec = (long)inum(e[2]);
	st->uses = (unsigned long long)inum(e[3]);
	st->fails = (unsigned long long)inum(e[4]);
	st->last_used = (time_t)inum(e[5]);
	st->last_error = (time_t)inum(e[6]);
	st->status = (int)inum(e[7]);
	if (e[8]->type == REDIS_REPLY_STRING) {
		len = e[8]->len < GB_KEYS_REASON_MAX ? e[8]->len :
		    GB_KEYS_REASON_MAX;
		memcpy(st->reason, e[8]->str, len);
		st->reason[len] = '\0';
	}
}

/* The reply is not what the script returns: use the local state. */
static int
odd(redisReply *rep, struct gb_err *err)
{
	freeReplyObject(rep);
	gb_err_set(err, GB_EXIT_TEMP, 0, "redis: unexpected answer");
	return GB_KEYS_LOCAL;
}

/*
 * A script over every key id, after the list's name (a Redis key, for
 * the script) when list is not NULL; its answer is not wanted.
 */
static int
eval_ids(struct gb_keys_redis *k, enum gb_redis_script script,
    const char *list, struct gb_err *err)
{
	const char **av;
	redisReply *rep;
	size_t i, o = list != NULL;

	if ((av = calloc(k->n + o, sizeof(*av))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	if (list != NULL)
		av[0] = list;
	for (i = 0; i < k->n; i++)
		av[i + o] = k->hex[i];
	rep = gb_redis_eval(k->r, script, (int)o, (int)(k->n + o), av, NULL,
	    err);
	free(av);
	if (rep == NULL)
		return GB_KEYS_LOCAL;
	freeReplyObject(rep);
	return 0;
}

/* Write the list of ids (once per list; next finds it missing). */
static int
init_list(struct gb_keys_redis *k, struct gb_err *err)
{
	return eval_ids(k, GB_RS_INIT, k->list, err);
}

int
gb_keys_redis_next(struct gb_keys_redis *k, const char *model,
    const size_t *skip, size_t nskip, time_t now, time_t *retry_at,
    struct gb_key_info *st, struct gb_err *err)
{
	const char **av;
	redisReply *rep;
	char nowb[24];
	size_t i, idx;
	long long first;
	int tries, rc = GB_KEYS_LOCAL;

	if ((av = calloc(nskip + 4, sizeof(*av))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return GB_KEYS_LOCAL;
	}
	snprintf(nowb, sizeof(nowb), "%lld", (long long)now);
	av[0] = k->list;
	av[1] = k->pos;
	av[2] = nowb;
	av[3] = model != NULL ? model : "";
	for (i = 0; i < nskip; i++)
		av[4 + i] = skip[i] < k->n ? k->hex[skip[i]] : "";
	for (tries = 0; tries < 2; tries++) {
		rep = gb_redis_eval(k->r, GB_RS_NEXT, 2, (int)nskip + 4, av,
		    NULL, err);
		if (rep == NULL)
			break;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
			rc = odd(rep, err);
			break;
		}
		first = inum(rep->element[0]);
		if (first == -2) {
			/* a list not written yet (or flushed): write it */
			freeReplyObject(rep);
			if (init_list(k, err) != 0)
				break;
			continue;
		}
		if (first == -1 && rep->elements == 2) {
			*retry_at = (time_t)inum(rep->element[1]);
			freeReplyObject(rep);
			rc = -1;
			if (*retry_at != 0)
				gb_err_set(err, GB_EXIT_NO, 429, "no usable "
				    "key%s%s; retry after %lld s (at %lld)",
				    model != NULL ? " for " : "", model != NULL ?
				    model : "", (long long)(*retry_at - now),
				    (long long)*retry_at);
			else
				gb_err_set(err, GB_EXIT_NO, 429, "no usable "
				    "key%s%s", model != NULL ? " for " : "",
				    model != NULL ? model : "");
			break;
		}
		if (first < 0 || (size_t)first >= k->n ||
		    rep->elements != 2 + NFIELDS ||
		    rep->element[1]->type != REDIS_REPLY_STRING ||
		    strcmp(rep->element[1]->str, k->hex[first]) != 0) {
			rc = odd(rep, err);
			break;
		}
		idx = (size_t)first;
		to_info(rep->element + 2, &st[idx]);
		freeReplyObject(rep);
		rc = (int)idx;
		break;
	}
	free(av);
	return rc;
}

int
gb_keys_redis_update(struct gb_keys_redis *k, size_t idx, const char *op,
    const char *model, time_t until, int status, const char *reason,
    struct gb_key_info *st, struct gb_err *err)
{
	const char *av[8];
	char nowb[24], untilb[24], statb[16];
	redisReply *rep;

	snprintf(nowb, sizeof(nowb), "%lld", (long long)time(NULL));
	snprintf(untilb, sizeof(untilb), "%lld", (long long)until);
	snprintf(statb, sizeof(statb), "%d", status);
	av[0] = k->hex[idx];
	av[1] = op;
	av[2] = nowb;
	av[3] = untilb;
	av[4] = statb;
	av[5] = reason != NULL ? reason : "";
	av[6] = k->maxf;
	av[7] = model != NULL ? model : "";
	if ((rep = gb_redis_eval(k->r, GB_RS_RECORD, 0, 8, av, NULL, err)) ==
	    NULL)
		return GB_KEYS_LOCAL;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != NFIELDS)
		return odd(rep, err);
	to_info(rep->element, st);
	freeReplyObject(rep);
	return 0;
}

int
gb_keys_redis_load(struct gb_keys_redis *k, time_t now,
    struct gb_key_info *st, size_t *pos, struct gb_key_cool **lcp,
    size_t *lcoff, struct gb_err *err)
{
	struct gb_key_cool *lc = NULL;
	const char **av;
	redisReply *rep, *e;
	char nowb[24];
	size_t i, j, nc = 0;

	if ((av = calloc(k->n + 2, sizeof(*av))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	snprintf(nowb, sizeof(nowb), "%lld", (long long)now);
	av[0] = k->pos;
	av[1] = nowb;
	for (i = 0; i < k->n; i++)
		av[i + 2] = k->hex[i];
	rep = gb_redis_eval(k->r, GB_RS_LOAD, 1, (int)k->n + 2, av, NULL, err);
	free(av);
	if (rep == NULL)
		return GB_KEYS_LOCAL;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != k->n + 1)
		return odd(rep, err);
	for (i = 0; i < k->n; i++) {
		e = rep->element[i + 1];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < NFIELDS ||
		    (e->elements - NFIELDS) % 2 != 0)
			return odd(rep, err);
		nc += (e->elements - NFIELDS) / 2;
	}
	if (nc > 0 && (lc = calloc(nc, sizeof(*lc))) == NULL) {
		freeReplyObject(rep);
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	}
	*pos = (size_t)inum(rep->element[0]) % k->n;
	nc = 0;
	for (i = 0; i < k->n; i++) {
		e = rep->element[i + 1];
		to_info(e->element, &st[i]);
		lcoff[i] = nc;
		for (j = NFIELDS; j + 1 < e->elements; j += 2) {
			if (e->element[j]->type != REDIS_REPLY_STRING ||
			    e->element[j]->len > GB_KEYS_MODEL_MAX)
				continue;
			memcpy(lc[nc].model, e->element[j]->str,
			    e->element[j]->len + 1);
			lc[nc].until = (time_t)inum(e->element[j + 1]);
			nc++;
		}
	}
	lcoff[k->n] = nc;
	freeReplyObject(rep);
	*lcp = lc;
	return 0;
}

int
gb_keys_redis_reset_all(struct gb_keys_redis *k, struct gb_err *err)
{
	return eval_ids(k, GB_RS_RESET_ALL, NULL, err);
}

int
gb_keys_redis_merge(struct gb_keys_redis *k, time_t now,
    const struct gb_keys_mark *m, size_t n, struct gb_err *err)
{
	const char **av;
	char *num, *what, nowb[24];
	redisReply *rep;
	size_t i;
	int rc = 0;

	if (n == 0)
		return 0;
	av = calloc(1 + 3 * n, sizeof(*av));
	num = calloc(n, 24);
	what = calloc(n, GB_KEYS_MODEL_MAX + 3);
	if (av == NULL || num == NULL || what == NULL) {
		rc = gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		goto out;
	}
	snprintf(nowb, sizeof(nowb), "%lld", (long long)now);
	av[0] = nowb;
	for (i = 0; i < n; i++) {
		snprintf(num + 24 * i, 24, "%lld", (long long)m[i].until);
		if (m[i].invalid)
			snprintf(what + (GB_KEYS_MODEL_MAX + 3) * i,
			    GB_KEYS_MODEL_MAX + 3, "invalid");
		else if (m[i].model == NULL)
			snprintf(what + (GB_KEYS_MODEL_MAX + 3) * i,
			    GB_KEYS_MODEL_MAX + 3, "until");
		else
			snprintf(what + (GB_KEYS_MODEL_MAX + 3) * i,
			    GB_KEYS_MODEL_MAX + 3, "m:%s", m[i].model);
		av[1 + 3 * i] = k->hex[m[i].idx];
		av[2 + 3 * i] = what + (GB_KEYS_MODEL_MAX + 3) * i;
		av[3 + 3 * i] = num + 24 * i;
	}
	if ((rep = gb_redis_eval(k->r, GB_RS_MERGE, 0, (int)(1 + 3 * n), av,
	    NULL, err)) == NULL)
		rc = GB_KEYS_LOCAL;
	else
		freeReplyObject(rep);
out:
	free(av);
	free(num);
	free(what);
	return rc;
}
