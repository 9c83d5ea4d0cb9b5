/*
 * affstore.h - the key-affinity store of the configuration: the files
 * of affinity.h under STATE_DIRECTORY, or, with KEY_STATE=redis://...,
 * Redis, shared by every machine (each record with the resource's
 * expiry as its TTL; gb-keys(5) has the layout).
 *
 * When Redis cannot be reached the files are used: a resource created
 * meanwhile is known on this machine only, and a lookup that Redis
 * does not answer looks in the files as well.
 */
#ifndef GB_AFFSTORE_H
#define GB_AFFSTORE_H

#include <stddef.h>
#include <time.h>

#include "affinity.h"
#include "config.h"
#include "gb.h"

struct gb_affstore;

/* The store cfg names (connects on first use). NULL with err set. */
struct gb_affstore *gb_affstore_open(const struct gb_config *,
	    struct gb_err *);
void	gb_affstore_close(struct gb_affstore *);

/* As gb_affinity_put, gb_affinity_get, gb_affinity_del and
 * gb_affinity_owners. */
int	gb_affstore_put(struct gb_affstore *, const char *, const char *,
	    time_t, struct gb_err *);
int	gb_affstore_get(struct gb_affstore *, const char *, char *, time_t);
void	gb_affstore_del(struct gb_affstore *, const char *);
int	gb_affstore_owners(struct gb_affstore *, const char *, time_t,
	    char (*)[GB_AFFINITY_KEYID], size_t);

/* Redis gone or back, for the operator (as gb_redis_notice), or NULL. */
const char *gb_affstore_notice(struct gb_affstore *, char *, size_t);

#endif
