/*
 * metrics.h - counters shared by every process of one machine: a small
 * fixed block in the file "metrics" under STATE_DIRECTORY, mapped
 * MAP_SHARED by gb-serve and by each process that calls upstream (its
 * gb-call host, gb-call on the command line), and updated in place with
 * atomic adds. A process that dies and is started again maps the same
 * block and goes on counting into the same totals. gb-serve(8) lists
 * what /metrics makes of it.
 *
 * Every function takes a NULL block and then does nothing: counting is
 * best effort and never fails a request.
 */
#ifndef GB_METRICS_H
#define GB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gb.h"

/* What one upstream attempt came to. */
enum gb_metrics_outcome {
	GB_OUT_OK,		/* an answer (2xx) */
	GB_OUT_4XX,		/* a client error, passed on */
	GB_OUT_429,		/* the key cools down */
	GB_OUT_5XX,		/* upstream failed */
	GB_OUT_INVALID_KEY,	/* a key fault (API_KEY_INVALID, 401, 403) */
	GB_OUT_EMPTY,		/* a 2xx without content */
	GB_OUT_NOT_JSON,	/* a 2xx that was not JSON */
	GB_OUT_NETWORK,		/* no answer: connection, proxy, timeout */
	GB_OUT_CANCELLED,	/* the caller went away first */
	GB_OUT_N
};

#define GB_METRICS_ROUTES	64	/* route slots: gb-serve's table */
#define GB_METRICS_CLASSES	6	/* 1xx ... 5xx, other */
#define GB_METRICS_BUCKETS	14	/* duration bounds, +Inf apart */

/* The block as it lies in the file (native byte order). */
struct gb_metrics_block {
	char		magic[8];	/* "GBMETR01" */
	uint64_t	size;		/* sizeof(struct gb_metrics_block) */
	uint64_t	routes;		/* the route table's fingerprint */
	uint64_t	attempts[GB_OUT_N];
	uint64_t	retries;
	uint64_t	bytes_in, bytes_out;
	uint64_t	requests[GB_METRICS_ROUTES][GB_METRICS_CLASSES];
	/* per bucket, not cumulative; [GB_METRICS_BUCKETS] is +Inf */
	uint64_t	duration[GB_METRICS_ROUTES][GB_METRICS_BUCKETS + 1];
	uint64_t	duration_us[GB_METRICS_ROUTES];
};

struct gb_metrics;

/*
 * Map dir/metrics, made (zeroed) when missing or of another layout.
 * NULL with err set when it cannot be.
 */
struct gb_metrics *gb_metrics_open(const char *, struct gb_err *);
void	gb_metrics_close(struct gb_metrics *);

/*
 * gb-serve: the request counters belong to a route table whose
 * fingerprint is given; another fingerprint (another table) zeroes them.
 */
void	gb_metrics_routes(struct gb_metrics *, uint64_t);

void	gb_metrics_attempt(struct gb_metrics *, enum gb_metrics_outcome);
void	gb_metrics_retry(struct gb_metrics *);
void	gb_metrics_bytes(struct gb_metrics *, uint64_t, uint64_t);
/* A request of route slot r answered status after usec microseconds. */
void	gb_metrics_request(struct gb_metrics *, size_t, int, uint64_t);

/* Read one counter of the block (an atomic load). */
uint64_t gb_metrics_get(const uint64_t *);
const struct gb_metrics_block *gb_metrics_block(const struct gb_metrics *);

/* The outcome's label ("ok", "429", "invalid_key", ...). */
const char *gb_metrics_outcome_name(enum gb_metrics_outcome);
/* Upper bound of duration bucket i, seconds ("le"). */
double	gb_metrics_bound(size_t);

#endif
