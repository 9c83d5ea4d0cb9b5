/*
 * affstore.c - the key-affinity store on the files of affinity.c or on
 * Redis (affstore.h).
 *
 * On Redis a resource NAME is the string gbaff:res:NAME, its owner's
 * key id, expiring with the resource; and the owners of each
 * collection ("files/", "cachedContents/", ...) are the hash
 * gbaff:own:COLL/ of key id -> the latest expiry of that key's
 * resources there, so that a list asks only the keys that own some.
 * One round trip per operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "affstore.h"
#include "redis.h"

#define RKEY_MAX	(GB_AFFINITY_NAME + 16)

struct gb_affstore {
	char		*state;		/* STATE_DIRECTORY */
	struct gb_redis	*r;		/* or NULL: the files alone */
};

struct gb_affstore *
gb_affstore_open(const struct gb_config *cfg, struct gb_err *err)
{
	struct gb_affstore *s;
	struct gb_redis_url u;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->state = strdup(cfg->state_dir != NULL ? cfg->state_dir :
	    "./state")) == NULL) {
		free(s);
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	rc = cfg->key_state != NULL ? gb_redis_url_parse(cfg->key_state, &u,
	    err) : 1;
	if (rc == 0)
		s->r = gb_redis_new(&u, err);
	explicit_bzero(&u, sizeof(u));
	if (rc == -1 || (rc == 0 && s->r == NULL)) {
		gb_affstore_close(s);
		return NULL;
	}
	return s;
}

void
gb_affstore_close(struct gb_affstore *s)
{
	if (s == NULL)
		return;
	gb_redis_free(s->r);
	free(s->state);
	free(s);
}

const char *
gb_affstore_notice(struct gb_affstore *s, char *out, size_t sz)
{
	return s->r != NULL ? gb_redis_notice(s->r, out, sz) : NULL;
}

/* "gbaff:res:NAME" and "gbaff:own:COLL/" of a storable name. */
static void
rkeys(const char *name, char *res, char *own)
{
	snprintf(res, RKEY_MAX, "gbaff:res:%s", name);
	snprintf(own, RKEY_MAX, "gbaff:own:%.*s/", (int)strcspn(name, "/"),
	    name);
}

int
gb_affstore_put(struct gb_affstore *s, const char *name, const char *id,
    time_t expires, struct gb_err *err)
{
	char res[RKEY_MAX], own[RKEY_MAX], exp[24], now[24];
	const char *av[5];
	redisReply *rep;
	struct gb_err e;

	if (s->r == NULL || !gb_affinity_name_ok(name) ||
	    strlen(id) >= GB_AFFINITY_KEYID)
		return gb_affinity_put(s->state, name, id, expires, err);
	rkeys(name, res, own);
	snprintf(exp, sizeof(exp), "%lld", (long long)expires);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	av[0] = res;
	av[1] = own;
	av[2] = id;
	av[3] = exp;
	av[4] = now;
	gb_err_clear(&e);
	if ((rep = gb_redis_eval(s->r, GB_RS_AFF_PUT, 2, 5, av, NULL, &e)) ==
	    NULL)
		return gb_affinity_put(s->state, name, id, expires, err);
	freeReplyObject(rep);
	return 0;
}

int
gb_affstore_get(struct gb_affstore *s, const char *name, char *id,
    time_t now)
{
	char res[RKEY_MAX], own[RKEY_MAX];
	const char *av[2] = { "GET", res };
	redisReply *rep;
	struct gb_err e;

	id[0] = '\0';
	if (s->r == NULL || !gb_affinity_name_ok(name))
		return gb_affinity_get(s->state, name, id, now);
	rkeys(name, res, own);
	gb_err_clear(&e);
	if ((rep = gb_redis_cmd(s->r, 2, av, NULL, &e)) != NULL) {
		if (rep->type == REDIS_REPLY_STRING && rep->len > 0 &&
		    rep->len < GB_AFFINITY_KEYID) {
			memcpy(id, rep->str, rep->len + 1);
			freeReplyObject(rep);
			return 1;
		}
		freeReplyObject(rep);
	}
	/* unknown there (or unreachable): made here while it was away? */
	return gb_affinity_get(s->state, name, id, now);
}

void
gb_affstore_del(struct gb_affstore *s, const char *name)
{
	char res[RKEY_MAX], own[RKEY_MAX];
	const char *av[2] = { "DEL", res };
	redisReply *rep;
	struct gb_err e;

	if (s->r != NULL && gb_affinity_name_ok(name)) {
		rkeys(name, res, own);
		gb_err_clear(&e);
		if ((rep = gb_redis_cmd(s->r, 2, av, NULL, &e)) != NULL)
			freeReplyObject(rep);
	}
	gb_affinity_del(s->state, name);
}

int
gb_affstore_owners(struct gb_affstore *s, const char *prefix, time_t now,
    char (*ids)[GB_AFFINITY_KEYID], size_t max)
{
	char own[RKEY_MAX];
	const char *av[2] = { "HGETALL", own };
	redisReply *rep;
	struct gb_err e;
	size_t n, i, j;
	int rc;

	/* the files first: what was made here while Redis was away */
	if ((rc = gb_affinity_owners(s->state, prefix, now, ids, max)) == -1)
		return -1;
	n = (size_t)rc;
	if (s->r == NULL)
		return (int)n;
	snprintf(own, sizeof(own), "gbaff:own:%s", prefix);
	gb_err_clear(&e);
	if ((rep = gb_redis_cmd(s->r, 2, av, NULL, &e)) == NULL)
		return (int)n;
	if (rep->type == REDIS_REPLY_ARRAY)
		for (i = 0; i + 1 < rep->elements && n < max; i += 2) {
			if (rep->element[i]->type != REDIS_REPLY_STRING ||
			    rep->element[i]->len >= GB_AFFINITY_KEYID ||
			    rep->element[i + 1]->type != REDIS_REPLY_STRING ||
			    strtoll(rep->element[i + 1]->str, NULL, 10) <= now)
				continue;
			for (j = 0; j < n && strcmp(ids[j],
			    rep->element[i]->str) != 0; j++)
				;
			if (j == n)
				memcpy(ids[n++], rep->element[i]->str,
				    rep->element[i]->len + 1);
		}
	freeReplyObject(rep);
	return (int)n;
}
