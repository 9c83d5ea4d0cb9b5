/*
 * affinity.h - which key created which upstream resource (a file, a
 * cached content, a batch, an operation, an interaction, an upload
 * session), so that every later request naming it goes with that key.
 * See gb-serve(8), KEY AFFINITY, for the rules and the file format.
 *
 * The store is a directory under the key state directory, one small
 * file per resource, written whole to a temporary file and renamed into
 * place: readers never lock, writers of different resources never wait
 * for each other, and a process killed at any moment leaves either the
 * old record or the new one. Records name the key by its state id
 * (gb_keys_id), never the key itself.
 */
#ifndef GB_AFFINITY_H
#define GB_AFFINITY_H

#include <stddef.h>
#include <time.h>

#include "gb.h"

#define GB_AFFINITY_DIR		"affinity"	/* below STATE_DIRECTORY */
#define GB_AFFINITY_NAME	200	/* longest resource name, NUL included */
#define GB_AFFINITY_KEYID	24	/* a key id (16 hex), NUL included */
#define GB_AFFINITY_MAX		10000	/* records kept at most */
#define GB_AFFINITY_SWEEP	60	/* seconds between sweeps */

/*
 * Can name be stored: segments of [A-Za-z0-9._-] (none "." or "..")
 * joined by single slashes, at least two, shorter than
 * GB_AFFINITY_NAME?
 */
int	gb_affinity_name_ok(const char *);

/*
 * Record that key id created name, until expires (a time(3)). Also
 * sweeps the store, at most once every GB_AFFINITY_SWEEP seconds across
 * processes: expired records go, and then the records expiring soonest
 * until no more than GB_AFFINITY_MAX are left. 0, or -1 with err set.
 */
int	gb_affinity_put(const char *, const char *, const char *, time_t,
	    struct gb_err *);

/*
 * The key id of name into id (GB_AFFINITY_KEYID bytes): 1 when known
 * and not expired at now, 0 when not (or name cannot be stored), -1 on
 * an I/O error (errno).
 */
int	gb_affinity_get(const char *, const char *, char *, time_t);

/* Forget name (a deleted resource, a finished upload). */
void	gb_affinity_del(const char *, const char *);

/*
 * The distinct key ids owning live records whose names start with
 * prefix, into ids[0..max): their number (at most max), or -1 (errno).
 */
int	gb_affinity_owners(const char *, const char *, time_t,
	    char (*)[GB_AFFINITY_KEYID], size_t);

/* An RFC 3339 time ("2025-01-02T03:04:05.123Z", "+01:00"), or -1. */
time_t	gb_affinity_time(const char *);

#endif
