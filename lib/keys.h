/*
 * keys.h - the key rotation state on disk, shared by every process
 * (gb-keys, gb-call, gb-serve). See gb-keys(5) for the file format and
 * the locking protocol.
 *
 * Keys are identified by their index in API_KEYS order. Every call that
 * changes state takes the lock, re-reads the file, changes it, and
 * replaces it atomically, so concurrent processes never lose an update.
 */
#ifndef GB_KEYS_H
#define GB_KEYS_H

#include <time.h>

#include <jansson.h>

#include "config.h"
#include "gb.h"

struct gb_keys;

enum gb_key_outcome {
	GB_KEY_OK,	/* success: consecutive failures back to 0 */
	GB_KEY_FAIL,	/* a key fault (400 API_KEY_INVALID, 401, 403) */
	GB_KEY_COOL,	/* 429: rest for the given seconds (<0: KEY_COOLDOWN) */
	GB_KEY_REVIVE,	/* back to active: no cooldown, no failure streak */
	GB_KEY_NOTE	/* only remember status and reason as the last error */
};

/* What a key is at a given moment (derived from gb_key_info and now). */
enum gb_key_state {
	GB_KEY_ACTIVE,
	GB_KEY_COOLING,
	GB_KEY_INVALID
};

#define GB_KEYS_REASON_MAX	80	/* bytes of "last error" reason kept */
#define GB_KEYS_MODEL_MAX	200	/* longest model a key cools for alone */
#define GB_KEYS_WAIT_MS		5000	/* default lock wait, milliseconds */

/* Everything the state file remembers about one key. */
struct gb_key_info {
	int		 invalid;	/* MAX_FAILURES reached */
	time_t		 until;		/* cooling until then (0: never) */
	long		 consec;	/* consecutive failures */
	unsigned long long uses;	/* times handed out by next */
	unsigned long long fails;	/* times recorded as failed */
	time_t		 last_used;	/* 0: never */
	time_t		 last_error;	/* time of the last error, 0: never */
	int		 status;	/* HTTP status of the last error, or 0 */
	char		 reason[GB_KEYS_REASON_MAX + 1];
};

/* A model a key cools for (gb_keys_cools). */
struct gb_key_cool {
	time_t		 until;
	char		 model[GB_KEYS_MODEL_MAX + 1];
};

/* Open the state under cfg->state_dir for the keys in cfg->api_keys. */
struct gb_keys	*gb_keys_open(const struct gb_config *, struct gb_err *);
void		 gb_keys_close(struct gb_keys *);

size_t		 gb_keys_count(const struct gb_keys *);
const char	*gb_keys_key(const struct gb_keys *, size_t);

/*
 * Take the next usable key in round-robin order, skipping invalid and
 * cooling keys and the nskip indices in skip (keys this request already
 * tried), and count one use. Returns its index, or -1: with err->code
 * GB_EXIT_NO when no key is usable (*retry_at then holds the earliest
 * time a cooling key comes back, or 0 if none will), GB_EXIT_TEMP on an
 * I/O error.
 */
int	gb_keys_next(struct gb_keys *, const size_t *, size_t, time_t *,
	    struct gb_err *);

/*
 * The same for one model: keys cooling for that model (gb_keys_cool)
 * are skipped as well, and counted in *retry_at. A NULL model is
 * gb_keys_next.
 */
int	gb_keys_next_for(struct gb_keys *, const char *, const size_t *,
	    size_t, time_t *, struct gb_err *);

/*
 * Record an outcome for key idx. status and reason describe the last
 * error (0 and NULL for GB_KEY_OK). Returns 0 or -1.
 */
int	gb_keys_record(struct gb_keys *, size_t, enum gb_key_outcome, long,
	    int, const char *, struct gb_err *);

/*
 * Bring gb_keys_info() of key idx up to date, reading its record alone.
 * 0 or -1.
 */
int	gb_keys_read(struct gb_keys *, size_t, struct gb_err *);

/*
 * Key idx rests until then for model alone: it goes on serving other
 * models. A NULL or unusable model name (empty, longer than
 * GB_KEYS_MODEL_MAX, a space or a control character), or a state with
 * no room left for another cooldown, rests the whole key instead.
 * status and reason as for gb_keys_record. 0 or -1.
 */
int	gb_keys_cool(struct gb_keys *, size_t, const char *, time_t, int,
	    const char *, struct gb_err *);

/*
 * The end of Google's quota day after now: the next midnight in
 * America/Los_Angeles, where daily quotas reset.
 */
time_t	gb_keys_day_end(time_t);

/*
 * Read the whole state, sharing the lock for a moment (records are
 * written whole, so a reader never sees half of one). Afterwards
 * gb_keys_info() and gb_keys_position() describe it. A missing file is
 * a fresh state; a corrupt one is an error (GB_EXIT_TEMP).
 * gb_keys_next() and gb_keys_record() bring gb_keys_info() up to date
 * only for the key they return or change: they read no more of the
 * file than they need.
 */
int	gb_keys_load(struct gb_keys *, struct gb_err *);
const struct gb_key_info *gb_keys_info(const struct gb_keys *, size_t);
/*
 * After gb_keys_load: the models key idx cools for, *n of them (NULL
 * when none).
 */
const struct gb_key_cool *gb_keys_cools(const struct gb_keys *, size_t,
	    size_t *);
size_t	gb_keys_position(const struct gb_keys *);
enum gb_key_state gb_keys_state(const struct gb_key_info *, time_t);

/*
 * Find a key by its index ("3") or masked id ("AIzaSy…fGhI", with "..."
 * accepted for the ellipsis). Fails with GB_EXIT_USAGE when nothing or
 * more than one key matches; the message never contains a full key.
 */
int	gb_keys_find(const struct gb_keys *, const char *, size_t *,
	    struct gb_err *);

/* Revive one key (idx) or all of them (idx == (size_t)-1). */
int	gb_keys_reset(struct gb_keys *, size_t, struct gb_err *);

/*
 * How long a caller waits for the lock before giving up with
 * GB_EXIT_TEMP (milliseconds; default GB_KEYS_WAIT_MS).
 */
void	gb_keys_set_wait(struct gb_keys *, long);

/*
 * A warning for the operator from the last call, or NULL: set when a
 * corrupt state file was moved aside and a fresh state started, and
 * when the shared state's server became unreachable (said once per
 * GB_REDIS_RETRY seconds) or reachable again.
 */
const char *gb_keys_notice(const struct gb_keys *);

/*
 * With KEY_STATE=redis://..., whether an unreachable server makes the
 * operations use the local file state (on, the default) or fail with
 * GB_EXIT_TEMP (off: gb-keys, which must not show or change a state
 * other than the shared one).
 */
void	gb_keys_set_fallback(struct gb_keys *, int);

/* Is the state shared through Redis (KEY_STATE)? */
int	gb_keys_shared(const struct gb_keys *);

/* The 16 hex digits that stand for key idx in the state file. */
const char *gb_keys_id(const struct gb_keys *, size_t);

/*
 * The index of the configured key whose id (gb_keys_id) is hex, in
 * constant time: 0, or -1 when hex is malformed or names no configured
 * key.
 */
int	gb_keys_by_id(const struct gb_keys *, const char *, size_t *);

/* "active", "cooling" or "invalid". */
const char *gb_keys_state_name(enum gb_key_state);

/*
 * The loaded state as gb-keys list --json prints it (gb-keys(1)): keys
 * masked. A new reference, or NULL when memory ran out.
 */
json_t	*gb_keys_list_json(struct gb_keys *, time_t);

#endif
