/*
 * redis.h - one connection to the Redis server that holds the shared
 * key state (KEY_STATE=redis://...; gb-keys(5), SHARED STATE ON REDIS).
 *
 * Every call is bounded: the connection and each command time out
 * after the URL's timeout (250 ms by default), so a dead or stuck
 * server costs a request a quarter of a second, not its life. A call
 * that finds the server unreachable marks the connection down; the
 * next attempt to connect comes GB_REDIS_RETRY seconds later, and
 * until then every call fails at once, without touching the network,
 * so that the caller uses its local state.
 *
 * The server-side scripts (Lua) of the key state and of the affinity
 * store are loaded once per connection (SCRIPT LOAD) and run by their
 * digest (EVALSHA); a server that forgot them (NOSCRIPT, after a
 * restart or SCRIPT FLUSH) gets them again.
 */
#ifndef GB_REDIS_H
#define GB_REDIS_H

#include <stddef.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "gb.h"

#define GB_REDIS_TIMEOUT_MS	250	/* connect and command, default */
#define GB_REDIS_RETRY		30	/* seconds between connection tries */
#define GB_REDIS_HOST_MAX	255
#define GB_REDIS_CRED_MAX	255

/* What KEY_STATE names (gb_redis_url_parse). */
struct gb_redis_url {
	int	 unixsock;			/* unix:///path */
	char	 host[GB_REDIS_HOST_MAX + 1];	/* or the socket's path */
	int	 port;
	char	 user[GB_REDIS_CRED_MAX + 1];	/* "" for none */
	char	 pass[GB_REDIS_CRED_MAX + 1];	/* "" for none */
	int	 db;
	long	 timeout_ms;
};

/* The scripts, by number. */
enum gb_redis_script {
	GB_RS_INIT,		/* the key list of one API_KEYS */
	GB_RS_NEXT,		/* fair round robin, one use counted */
	GB_RS_RECORD,		/* ok, fail, cool, revive, note, reset */
	GB_RS_LOAD,		/* every key's record and cooldowns */
	GB_RS_RESET_ALL,
	GB_RS_MERGE,		/* marks made locally while unreachable */
	GB_RS_AFF_PUT,		/* a resource's owner, with its TTL */
	GB_RS_COUNT
};

struct gb_redis;

/*
 * Parse KEY_STATE: redis://[[user]:password@]host[:port][/db][?timeout=MS]
 * or unix:///path[?db=N[&timeout=MS]]. 0, or -1 with a message that
 * never holds the password. A string that names no Redis ("", "file")
 * is 1: the local file state.
 */
int	gb_redis_url_parse(const char *, struct gb_redis_url *,
	    struct gb_err *);

/* The URL for messages, the password as "***". */
const char *gb_redis_url_show(const struct gb_redis_url *, char *, size_t);

/* A connection (made on first use) to the server of url. */
struct gb_redis *gb_redis_new(const struct gb_redis_url *, struct gb_err *);
void	gb_redis_free(struct gb_redis *);

/*
 * Make sure of a connection: 0, or -1 when the server is unreachable
 * (and then no try is made before GB_REDIS_RETRY seconds have passed).
 */
int	gb_redis_ready(struct gb_redis *, struct gb_err *);

/*
 * Run a script with its keys and arguments (argv[0..nkeys) are the
 * keys). The reply (free it with freeReplyObject), or NULL: with
 * err->code GB_EXIT_TEMP and gb_redis_down() true when the server
 * could not be reached (use the local state), else an error reply of
 * the script.
 */
redisReply *gb_redis_eval(struct gb_redis *, enum gb_redis_script, int,
	    int, const char **, const size_t *, struct gb_err *);

/* One plain command, the same way. */
redisReply *gb_redis_cmd(struct gb_redis *, int, const char **,
	    const size_t *, struct gb_err *);

/* Unreachable now (the last call failed, and no retry is due yet)? */
int	gb_redis_down(struct gb_redis *, time_t);

/*
 * When the server came back after being unreachable: the time it went
 * away, returned once (the caller then pushes what it did locally);
 * else 0.
 */
time_t	gb_redis_back(struct gb_redis *);

/*
 * A line for the operator, or NULL: that the server is unreachable
 * (once per GB_REDIS_RETRY seconds), or reachable again. Cleared by
 * the call; copied into the buffer given.
 */
const char *gb_redis_notice(struct gb_redis *, char *, size_t);

#endif
