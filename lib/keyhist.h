/*
 * keyhist.h - each key's recent history: uses, failures and 429s in the
 * last minute, hour and day, kept in the file "keys.hist" under
 * STATE_DIRECTORY (gb-keys(5)) apart from the key state, so that the
 * cost of a request stays the same whatever the number of keys: one
 * attempt changes a few words of its own key's slot in a MAP_SHARED
 * mapping, with atomic operations and no lock.
 *
 * The history is local to the machine whatever the key state's backend.
 * Functions take a NULL history and then do nothing (or report zeros).
 */
#ifndef GB_KEYHIST_H
#define GB_KEYHIST_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "gb.h"

enum gb_keyhist_what {
	GB_KH_USE,	/* an attempt with the key */
	GB_KH_FAIL,	/* one that brought no answer (not a 429) */
	GB_KH_429,	/* one answered 429 */
	GB_KH_N
};

enum gb_keyhist_span {
	GB_KH_MINUTE,	/* the last 60 seconds */
	GB_KH_HOUR,	/* this minute and the 59 before */
	GB_KH_DAY,	/* this hour and the 23 before */
	GB_KH_SPANS
};

struct gb_keyhist_sums {
	unsigned long long	n[GB_KH_SPANS][GB_KH_N];
};

struct gb_keyhist;

/* Map dir/keys.hist with room for nkeys keys (made when missing). */
struct gb_keyhist *gb_keyhist_open(const char *, size_t, struct gb_err *);
void	gb_keyhist_close(struct gb_keyhist *);

/*
 * One attempt with key idx, whose state id (gb_keys_id) is id, at now:
 * a use, and a failure or a 429 when fail or c429 says so. A slot that
 * held another key (API_KEYS changed) starts afresh.
 */
void	gb_keyhist_add(struct gb_keyhist *, size_t, const char *, int, int,
	    time_t);

/* The sums for key idx at now; zeros for a slot of another key. */
void	gb_keyhist_get(struct gb_keyhist *, size_t, const char *, time_t,
	    struct gb_keyhist_sums *);

/*
 * The sums as JSON: {"1m":{"uses":U,"failures":F,"429":N},"1h":...,
 * "24h":...} (new reference, or NULL when memory ran out).
 */
json_t	*gb_keyhist_json(const struct gb_keyhist_sums *);

/*
 * Add "recent" (gb_keyhist_json) to each key of a key table as
 * gb_keys_list_json makes it, found by its "index" and "id". 0 or -1.
 */
int	gb_keyhist_annotate(struct gb_keyhist *, json_t *, time_t);

#endif
