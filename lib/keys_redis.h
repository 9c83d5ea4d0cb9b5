/*
 * keys_redis.h - the key state on Redis (KEY_STATE=redis://...), the
 * backend of keys.c when the state is shared between machines. See
 * gb-keys(5), SHARED STATE ON REDIS, for the layout and the scripts.
 *
 * Every operation is one script run on the server (one round trip,
 * atomic), so any number of processes on any number of machines rotate
 * fairly over one key list and see each other's marks at once. A call
 * that cannot reach the server returns GB_KEYS_LOCAL: keys.c then uses
 * the file state of the machine.
 */
#ifndef GB_KEYS_REDIS_H
#define GB_KEYS_REDIS_H

#include <stddef.h>
#include <time.h>

#include "keys.h"
#include "redis.h"

#define GB_KEYS_LOCAL	(-2)	/* unreachable: use the local state */

struct gb_keys_redis;

/* A mark made locally, pushed when the server is back (merge). */
struct gb_keys_mark {
	size_t		 idx;
	const char	*model;		/* NULL: the whole key */
	int		 invalid;	/* else: cooling until */
	time_t		 until;
};

/*
 * The shared state of the n keys whose ids (gb_keys_id) are hex;
 * digest names the list (gb-keys(5)). Connects on first use.
 */
struct gb_keys_redis *gb_keys_redis_open(const struct gb_redis_url *,
	    const char (*)[17], size_t, const char *, long, struct gb_err *);
void	gb_keys_redis_close(struct gb_keys_redis *);

/*
 * 0 when the server is there (*since: when it went away, if it just
 * came back, else 0), GB_KEYS_LOCAL when not.
 */
int	gb_keys_redis_ready(struct gb_keys_redis *, time_t *,
	    struct gb_err *);

/*
 * gb_keys_next_for on the server: the key's index (its record into
 * st[index]), -1 with GB_EXIT_NO when none is usable (*retry_at set),
 * or GB_KEYS_LOCAL.
 */
int	gb_keys_redis_next(struct gb_keys_redis *, const char *,
	    const size_t *, size_t, time_t, time_t *, struct gb_key_info *,
	    struct gb_err *);

/*
 * One operation on key idx: "ok", "fail", "cool" (for model, or the
 * whole key when model is NULL), "revive", "note", "reset", or "read";
 * its record afterwards into *st. 0 or GB_KEYS_LOCAL.
 */
int	gb_keys_redis_update(struct gb_keys_redis *, size_t, const char *,
	    const char *, time_t, int, const char *, struct gb_key_info *,
	    struct gb_err *);

/*
 * Every key's record into st[0..n), the position into *pos, the live
 * cooldowns into *lc (allocated; the caller frees) grouped by key with
 * lcoff[0..n] their offsets. 0, -1 (out of memory) or GB_KEYS_LOCAL.
 */
int	gb_keys_redis_load(struct gb_keys_redis *, time_t,
	    struct gb_key_info *, size_t *, struct gb_key_cool **, size_t *,
	    struct gb_err *);

/* Revive every key. 0 or GB_KEYS_LOCAL. */
int	gb_keys_redis_reset_all(struct gb_keys_redis *, struct gb_err *);

/*
 * Push marks made locally: invalid keys stay invalid, cooldowns end no
 * sooner than they would have. 0 or GB_KEYS_LOCAL.
 */
int	gb_keys_redis_merge(struct gb_keys_redis *, time_t,
	    const struct gb_keys_mark *, size_t, struct gb_err *);

/* As gb_redis_notice. */
const char *gb_keys_redis_notice(struct gb_keys_redis *, char *, size_t);

#endif
