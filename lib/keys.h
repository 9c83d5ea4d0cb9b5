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

#include "config.h"
#include "gb.h"

struct gb_keys;

enum gb_key_outcome {
	GB_KEY_OK,	/* success: consecutive failures back to 0 */
	GB_KEY_FAIL,	/* a key fault (400 API_KEY_INVALID, 401, 403) */
	GB_KEY_COOL	/* 429: rest for the given seconds (<0: KEY_COOLDOWN) */
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
 * Record an outcome for key idx. status and reason describe the last
 * error (0 and NULL for GB_KEY_OK). Returns 0 or -1.
 */
int	gb_keys_record(struct gb_keys *, size_t, enum gb_key_outcome, long,
	    int, const char *, struct gb_err *);

#endif
