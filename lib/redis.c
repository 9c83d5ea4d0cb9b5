/*
 * redis.c - a bounded connection to the shared state's Redis (redis.h),
 * and the server-side scripts of the key state and the affinity store.
 *
 * hiredis's synchronous API, with a timeout on connect and one on every
 * command (SO_RCVTIMEO/SO_SNDTIMEO): the callers run inside event loops,
 * and a blocking call must never outlive a fraction of a second. Any
 * failure drops the connection and marks the server down for
 * GB_REDIS_RETRY seconds: no call touches the network meanwhile.
 *
 * The layout the scripts keep (gb-keys(5) documents it):
 *
 *	gbkeys:list:DIGEST	hash: "n", and "0".."n-1" -> key id
 *	gbkeys:pos:DIGEST	string: the round-robin position
 *	gbkeys:key:ID		hash: invalid until consec uses fails
 *				last_used last_error status reason
 *	gbkeys:cool:ID		hash: model -> until (TTL: the last one)
 *	gbaff:res:NAME		string: the owner's key id (TTL: expiry)
 *	gbaff:own:COLL/		hash: key id -> latest expiry of its
 *				resources in COLL (TTL: the latest)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "redis.h"

/* Every script's first lines: a key's record, missing fields "". */
#define REC_LUA								\
	"local F = {'invalid','until','consec','uses','fails',"		\
	"'last_used','last_error','status','reason'}\n"			\
	"local function rec(kk)\n"					\
	"  local r = redis.call('HMGET', kk, unpack(F))\n"		\
	"  for j = 1, #F do if not r[j] then r[j] = '' end end\n"	\
	"  return r\n"							\
	"end\n"

/*
 * A cooldown's hash lives as long as its last cooldown.
 */
#define TTL_LUA								\
	"local function keep(k, u, now)\n"				\
	"  if u > now and redis.call('TTL', k) < u - now then\n"	\
	"    redis.call('EXPIRE', k, u - now)\n"			\
	"  end\n"							\
	"end\n"

static const char *const scripts[GB_RS_COUNT] = {
	/* INIT: KEYS list; ARGV the ids in API_KEYS order */
	[GB_RS_INIT] =
	"redis.call('DEL', KEYS[1])\n"
	"for i = 1, #ARGV do\n"
	"  redis.call('HSET', KEYS[1], tostring(i - 1), ARGV[i])\n"
	"end\n"
	"redis.call('HSET', KEYS[1], 'n', #ARGV)\n"
	"return #ARGV\n",

	/*
	 * NEXT: KEYS list, pos; ARGV now, model ("" for none), ids to
	 * skip. From the position on, the first key neither invalid nor
	 * cooling (as a whole, or for the model): one use counted, the
	 * position moved past it. {index, id, record...}; {-1, soonest
	 * return of a cooling key, or 0}; {-2} when the list is missing.
	 */
	[GB_RS_NEXT] = REC_LUA
	"local n = tonumber(redis.call('HGET', KEYS[1], 'n'))\n"
	"if not n or n <= 0 then return {-2} end\n"
	"local now = tonumber(ARGV[1])\n"
	"local model = ARGV[2]\n"
	"local skip = {}\n"
	"for a = 3, #ARGV do skip[ARGV[a]] = true end\n"
	"local pos = (tonumber(redis.call('GET', KEYS[2])) or 0) % n\n"
	"local soonest = 0\n"
	"for j = 0, n - 1 do\n"
	"  local i = (pos + j) % n\n"
	"  local id = redis.call('HGET', KEYS[1], tostring(i))\n"
	"  if not id then return {-2} end\n"
	"  if not skip[id] then\n"
	"    local kk = 'gbkeys:key:' .. id\n"
	"    local r = redis.call('HMGET', kk, 'invalid', 'until')\n"
	"    if r[1] ~= '1' then\n"
	"      local back = tonumber(r[2]) or 0\n"
	"      if model ~= '' then\n"
	"        local c = tonumber(redis.call('HGET', 'gbkeys:cool:' .. id,"
	" model)) or 0\n"
	"        if c > back then back = c end\n"
	"      end\n"
	"      if back > now then\n"
	"        if soonest == 0 or back < soonest then soonest = back end\n"
	"      else\n"
	"        redis.call('HINCRBY', kk, 'uses', 1)\n"
	"        redis.call('HSET', kk, 'last_used', ARGV[1])\n"
	"        redis.call('SET', KEYS[2], (i + 1) % n)\n"
	"        local out = {i, id}\n"
	"        local r2 = rec(kk)\n"
	"        for x = 1, #r2 do out[#out + 1] = r2[x] end\n"
	"        return out\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"end\n"
	"return {-1, soonest}\n",

	/*
	 * RECORD: ARGV id, op, now, until, status, reason, max_failures,
	 * model ("" for the whole key). The record afterwards. An op it
	 * does not know ("read") changes nothing.
	 */
	[GB_RS_RECORD] = REC_LUA TTL_LUA
	"local kk = 'gbkeys:key:' .. ARGV[1]\n"
	"local ck = 'gbkeys:cool:' .. ARGV[1]\n"
	"local op, now = ARGV[2], tonumber(ARGV[3])\n"
	"local function mark()\n"
	"  redis.call('HSET', kk, 'last_error', ARGV[3], 'status', ARGV[5],"
	" 'reason', ARGV[6])\n"
	"end\n"
	"if op == 'ok' then\n"
	"  local r = redis.call('HMGET', kk, 'consec', 'invalid')\n"
	"  if (tonumber(r[1]) or 0) ~= 0 or r[2] == '1' then\n"
	"    redis.call('HSET', kk, 'consec', 0, 'invalid', 0)\n"
	"  end\n"
	"elseif op == 'fail' then\n"
	"  local c = redis.call('HINCRBY', kk, 'consec', 1)\n"
	"  redis.call('HINCRBY', kk, 'fails', 1)\n"
	"  if c >= tonumber(ARGV[7]) then redis.call('HSET', kk, 'invalid', 1)"
	" end\n"
	"  mark()\n"
	"elseif op == 'cool' then\n"
	"  local u = tonumber(ARGV[4])\n"
	"  local whole = ARGV[8] == ''\n"
	"  if not whole and redis.call('HEXISTS', ck, ARGV[8]) == 0 and\n"
	"      redis.call('HLEN', ck) >= 16 then\n"
	"    local all = redis.call('HGETALL', ck)\n"
	"    for x = 1, #all, 2 do\n"
	"      if (tonumber(all[x + 1]) or 0) <= now then\n"
	"        redis.call('HDEL', ck, all[x])\n"
	"      end\n"
	"    end\n"
	"    if redis.call('HLEN', ck) >= 16 then whole = true end\n"
	"  end\n"
	"  if whole then\n"
	"    redis.call('HSET', kk, 'until', ARGV[4])\n"
	"  else\n"
	"    redis.call('HSET', ck, ARGV[8], ARGV[4])\n"
	"    keep(ck, u, now)\n"
	"  end\n"
	"  mark()\n"
	"elseif op == 'revive' then\n"
	"  redis.call('HSET', kk, 'invalid', 0, 'until', 0, 'consec', 0)\n"
	"elseif op == 'note' then\n"
	"  mark()\n"
	"elseif op == 'reset' then\n"
	"  redis.call('HSET', kk, 'invalid', 0, 'until', 0, 'consec', 0)\n"
	"  redis.call('DEL', ck)\n"
	"end\n"
	"return rec(kk)\n",

	/*
	 * LOAD: KEYS pos; ARGV now, ids. {position, {record..., model,
	 * until, ...} per key}, live cooldowns only.
	 */
	[GB_RS_LOAD] = REC_LUA
	"local out = {tonumber(redis.call('GET', KEYS[1])) or 0}\n"
	"local now = tonumber(ARGV[1])\n"
	"for a = 2, #ARGV do\n"
	"  local r = rec('gbkeys:key:' .. ARGV[a])\n"
	"  local all = redis.call('HGETALL', 'gbkeys:cool:' .. ARGV[a])\n"
	"  for x = 1, #all, 2 do\n"
	"    if (tonumber(all[x + 1]) or 0) > now then\n"
	"      r[#r + 1] = all[x]\n"
	"      r[#r + 1] = all[x + 1]\n"
	"    end\n"
	"  end\n"
	"  out[#out + 1] = r\n"
	"end\n"
	"return out\n",

	/* RESET_ALL: ARGV the ids */
	[GB_RS_RESET_ALL] =
	"for a = 1, #ARGV do\n"
	"  redis.call('HSET', 'gbkeys:key:' .. ARGV[a], 'invalid', 0,"
	" 'until', 0, 'consec', 0)\n"
	"  redis.call('DEL', 'gbkeys:cool:' .. ARGV[a])\n"
	"end\n"
	"return #ARGV\n",

	/*
	 * MERGE: ARGV now, then triples id, what, value: "invalid" marks
	 * the key invalid; "until" makes it cool at least until value;
	 * "m:MODEL" makes it cool for MODEL at least until value.
	 */
	[GB_RS_MERGE] = TTL_LUA
	"local now = tonumber(ARGV[1])\n"
	"for a = 2, #ARGV - 2, 3 do\n"
	"  local id, w, v = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])\n"
	"  local kk = 'gbkeys:key:' .. id\n"
	"  if w == 'invalid' then\n"
	"    redis.call('HSET', kk, 'invalid', 1)\n"
	"  elseif w == 'until' then\n"
	"    if v > (tonumber(redis.call('HGET', kk, 'until')) or 0) then\n"
	"      redis.call('HSET', kk, 'until', ARGV[a + 2])\n"
	"    end\n"
	"  elseif string.sub(w, 1, 2) == 'm:' then\n"
	"    local ck = 'gbkeys:cool:' .. id\n"
	"    local m = string.sub(w, 3)\n"
	"    if v > (tonumber(redis.call('HGET', ck, m)) or 0) then\n"
	"      redis.call('HSET', ck, m, ARGV[a + 2])\n"
	"    end\n"
	"    keep(ck, v, now)\n"
	"  end\n"
	"end\n"
	"return 1\n",

	/*
	 * AFF_PUT: KEYS the resource, its collection's owners; ARGV key
	 * id, expiry, now.
	 */
	[GB_RS_AFF_PUT] = TTL_LUA
	"local exp, now = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local ttl = exp - now\n"
	"if ttl < 1 then ttl = 1 end\n"
	"redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)\n"
	"if exp > (tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0) then\n"
	"  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
	"end\n"
	"keep(KEYS[2], exp, now)\n"
	"return 1\n",
};

struct gb_redis {
	struct gb_redis_url u;
	redisContext	*c;
	char		 sha[GB_RS_COUNT][41];
	time_t		 down_since;	/* unreachable since, or 0 */
	time_t		 next_try;
	time_t		 last_log;
	time_t		 back;		/* gb_redis_back's answer */
	char		 why[160];
	char		 notice[GB_ERR_MSGSIZE];
};

/* Copy at most max bytes of s..e into out; -1 when it does not fit. */
static int
part(char *out, size_t max, const char *s, const char *e)
{
	if ((size_t)(e - s) > max)
		return -1;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	return 0;
}

/* "%XX" decoding in place (user names and passwords may need it). */
static int
unescape(char *s)
{
	char *o = s, h[3] = { 0, 0, 0 };

	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if (s[1] == '\0' || s[2] == '\0')
			return -1;
		h[0] = s[1];
		h[1] = s[2];
		if (strspn(h, "0123456789abcdefABCDEF") != 2)
			return -1;
		*o++ = (char)strtol(h, NULL, 16);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/* The query of a URL: db=N, timeout=MS. */
static int
query(const char *q, struct gb_redis_url *u, int dbok, struct gb_err *err)
{
	char name[16];
	const char *e, *v;
	long long n;

	while (q != NULL && *q != '\0') {
		e = q + strcspn(q, "&");
		if ((v = memchr(q, '=', (size_t)(e - q))) == NULL ||
		    part(name, sizeof(name) - 1, q, v) == -1)
			goto bad;
		v++;
		n = 0;
		if (v == e || strspn(v, "0123456789") != (size_t)(e - v) ||
		    e - v > 9)
			goto bad;
		n = strtoll(v, NULL, 10);
		if (strcmp(name, "db") == 0 && dbok && n <= 1000000)
			u->db = (int)n;
		else if (strcmp(name, "timeout") == 0 && n >= 1 &&
		    n <= 60000)
			u->timeout_ms = (long)n;
		else
			goto bad;
		q = *e == '&' ? e + 1 : e;
	}
	return 0;
bad:
	return gb_err_set(err, GB_EXIT_USAGE, 0, "KEY_STATE: bad query "
	    "(db=N for unix:// only, timeout=MS from 1 to 60000)");
}

int
gb_redis_url_parse(const char *s, struct gb_redis_url *u,
    struct gb_err *err)
{
	const char *p, *at, *colon, *slash, *q, *end;
	char num[16];
	long long n;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	u->timeout_ms = GB_REDIS_TIMEOUT_MS;
	if (s == NULL || *s == '\0' || strcmp(s, "file") == 0)
		return 1;
	if (strncmp(s, "unix://", 7) == 0) {
		u->unixsock = 1;
		p = s + 7;
		end = p + strcspn(p, "?");
		if (*p != '/' || part(u->host, 107, p, end) == -1)
			return gb_err_set(err, GB_EXIT_USAGE, 0, "KEY_STATE: "
			    "unix:// needs an absolute socket path (at most "
			    "107 bytes)");
		return query(*end == '?' ? end + 1 : NULL, u, 1, err);
	}
	if (strncmp(s, "redis://", 8) != 0)
		return gb_err_set(err, GB_EXIT_USAGE, 0, "KEY_STATE: not "
		    "\"file\", redis://[[user]:password@]host[:port][/db] or "
		    "unix:///path[?db=N]");
	p = s + 8;
	q = p + strcspn(p, "?");
	/* credentials: the last '@' before the path */
	for (at = NULL, end = p; end < q && *end != '/'; end++)
		;
	for (colon = p; colon < end; colon++)
		if (*colon == '@')
			at = colon;
	if (at != NULL) {
		if ((colon = memchr(p, ':', (size_t)(at - p))) == NULL)
			colon = at;	/* a password alone, no user */
		if (colon == at) {
			if (part(u->pass, GB_REDIS_CRED_MAX, p, at) == -1)
				goto cred;
		} else if (part(u->user, GB_REDIS_CRED_MAX, p, colon) == -1 ||
		    part(u->pass, GB_REDIS_CRED_MAX, colon + 1, at) == -1)
			goto cred;
		if (unescape(u->user) == -1 || unescape(u->pass) == -1)
			goto cred;
		p = at + 1;
	}
	/* host[:port], "[v6]" allowed */
	slash = p + strcspn(p, "/?");
	if (*p == '[') {
		if ((colon = memchr(p, ']', (size_t)(slash - p))) == NULL ||
		    part(u->host, GB_REDIS_HOST_MAX, p + 1, colon) == -1)
			goto host;
		colon++;
		if (colon != slash && *colon != ':')
			goto host;
	} else {
		if ((colon = memchr(p, ':', (size_t)(slash - p))) == NULL)
			colon = slash;
		if (part(u->host, GB_REDIS_HOST_MAX, p, colon) == -1)
			goto host;
	}
	if (u->host[0] == '\0')
		goto host;
	if (colon != slash) {
		if (part(num, sizeof(num) - 1, colon + 1, slash) == -1 ||
		    num[0] == '\0' || strspn(num, "0123456789") !=
		    strlen(num) || (n = strtoll(num, NULL, 10)) < 1 ||
		    n > 65535)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "KEY_STATE: bad port (1 to 65535)");
		u->port = (int)n;
	}
	if (*slash == '/' && slash + 1 < q) {
		if (part(num, sizeof(num) - 1, slash + 1, q) == -1 ||
		    strspn(num, "0123456789") != strlen(num) ||
		    (n = strtoll(num, NULL, 10)) > 1000000)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "KEY_STATE: bad database number");
		u->db = (int)n;
	}
	return query(*q == '?' ? q + 1 : NULL, u, 0, err);
cred:
	memset(u->pass, 0, sizeof(u->pass));
	return gb_err_set(err, GB_EXIT_USAGE, 0, "KEY_STATE: bad user or "
	    "password (at most %d bytes each, %%XX escapes)",
	    GB_REDIS_CRED_MAX);
host:
	return gb_err_set(err, GB_EXIT_USAGE, 0, "KEY_STATE: bad host");
}

const char *
gb_redis_url_show(const struct gb_redis_url *u, char *out, size_t sz)
{
	if (u->unixsock)
		snprintf(out, sz, "unix://%s?db=%d", u->host, u->db);
	else
		snprintf(out, sz, "redis://%s%s%s%s%s%s:%d/%d", u->user,
		    u->pass[0] != '\0' ? ":***" : "",
		    u->user[0] != '\0' || u->pass[0] != '\0' ? "@" : "",
		    strchr(u->host, ':') != NULL ? "[" : "", u->host,
		    strchr(u->host, ':') != NULL ? "]" : "", u->port, u->db);
	return out;
}

struct gb_redis *
gb_redis_new(const struct gb_redis_url *u, struct gb_err *err)
{
	struct gb_redis *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	r->u = *u;
	return r;
}

void
gb_redis_free(struct gb_redis *r)
{
	if (r == NULL)
		return;
	if (r->c != NULL)
		redisFree(r->c);
	explicit_bzero(r->u.pass, sizeof(r->u.pass));
	free(r);
}

/* The connection failed: drop it, try again GB_REDIS_RETRY s later. */
static void
fall(struct gb_redis *r, const char *why, time_t now)
{
	/* why may be in the context's errstr: copied before the free */
	snprintf(r->why, sizeof(r->why), "%s", why);
	if (r->c != NULL) {
		redisFree(r->c);
		r->c = NULL;
	}
	if (r->down_since == 0)
		r->down_since = now;
	r->next_try = now + GB_REDIS_RETRY;
	if (r->last_log == 0 || now >= r->last_log + GB_REDIS_RETRY) {
		r->last_log = now;
		snprintf(r->notice, sizeof(r->notice), "key state: redis "
		    "unreachable (%s); using local state", r->why);
	}
}

/* A command on the connection; NULL after a connection failure. */
static redisReply *
raw(struct gb_redis *r, int argc, const char **argv, const size_t *lens)
{
	redisReply *rep;

	rep = redisCommandArgv(r->c, argc, argv, lens);
	if (rep == NULL)
		fall(r, r->c->errstr[0] != '\0' ? r->c->errstr :
		    "connection lost", time(NULL));
	return rep;
}

/* An error reply becomes the connection's failure. */
static int
bad_reply(struct gb_redis *r, redisReply *rep)
{
	char why[sizeof(r->why)];

	if (rep->type != REDIS_REPLY_ERROR)
		return 0;
	snprintf(why, sizeof(why), "%.*s", (int)rep->len, rep->str);
	freeReplyObject(rep);
	fall(r, why, time(NULL));
	return 1;
}

static int
load_scripts(struct gb_redis *r)
{
	const char *argv[3] = { "SCRIPT", "LOAD", NULL };
	redisReply *rep;
	int i;

	for (i = 0; i < GB_RS_COUNT; i++) {
		argv[2] = scripts[i];
		if ((rep = raw(r, 3, argv, NULL)) == NULL || bad_reply(r, rep))
			return -1;
		if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			freeReplyObject(rep);
			fall(r, "SCRIPT LOAD: unexpected answer", time(NULL));
			return -1;
		}
		memcpy(r->sha[i], rep->str, 40);
		r->sha[i][40] = '\0';
		freeReplyObject(rep);
	}
	return 0;
}

/* Connect, log in, select the database, load the scripts. */
static int
rconnect(struct gb_redis *r, time_t now)
{
	struct timeval tv;
	const char *argv[3];
	redisReply *rep;
	char db[16];
	int argc, fl;

	tv.tv_sec = r->u.timeout_ms / 1000;
	tv.tv_usec = (r->u.timeout_ms % 1000) * 1000;
	if (r->u.unixsock)
		r->c = redisConnectUnixWithTimeout(r->u.host, tv);
	else
		r->c = redisConnectWithTimeout(r->u.host, r->u.port, tv);
	if (r->c == NULL) {
		fall(r, "out of memory", now);
		return -1;
	}
	if (r->c->err != 0) {
		fall(r, r->c->errstr, now);
		return -1;
	}
	/* not inherited by the children gb-serve starts */
	if ((fl = fcntl(r->c->fd, F_GETFD)) != -1)
		fcntl(r->c->fd, F_SETFD, fl | FD_CLOEXEC);
	if (redisSetTimeout(r->c, tv) != REDIS_OK) {
		fall(r, "cannot set the timeout", now);
		return -1;
	}
	if (r->u.pass[0] != '\0') {
		argc = 0;
		argv[argc++] = "AUTH";
		if (r->u.user[0] != '\0')
			argv[argc++] = r->u.user;
		argv[argc++] = r->u.pass;
		if ((rep = raw(r, argc, argv, NULL)) == NULL ||
		    bad_reply(r, rep))
			return -1;
		freeReplyObject(rep);
	}
	if (r->u.db != 0) {
		snprintf(db, sizeof(db), "%d", r->u.db);
		argv[0] = "SELECT";
		argv[1] = db;
		if ((rep = raw(r, 2, argv, NULL)) == NULL || bad_reply(r, rep))
			return -1;
		freeReplyObject(rep);
	}
	return load_scripts(r);
}

int
gb_redis_ready(struct gb_redis *r, struct gb_err *err)
{
	time_t now = time(NULL);

	if (r->c != NULL)
		return 0;
	if (r->down_since != 0 && now < r->next_try)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "redis unreachable "
		    "(%s)", r->why);
	if (rconnect(r, now) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "redis unreachable "
		    "(%s)", r->why);
	if (r->down_since != 0) {
		r->back = r->down_since;
		r->down_since = 0;
		r->last_log = 0;
		snprintf(r->notice, sizeof(r->notice), "key state: redis "
		    "reachable again; shared state resumed");
	}
	return 0;
}

redisReply *
gb_redis_cmd(struct gb_redis *r, int argc, const char **argv,
    const size_t *lens, struct gb_err *err)
{
	redisReply *rep;

	if (gb_redis_ready(r, err) == -1)
		return NULL;
	if ((rep = raw(r, argc, argv, lens)) == NULL || bad_reply(r, rep)) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "redis unreachable (%s)",
		    r->why);
		return NULL;
	}
	return rep;
}

redisReply *
gb_redis_eval(struct gb_redis *r, enum gb_redis_script s, int nkeys,
    int argc, const char **argv, const size_t *lens, struct gb_err *err)
{
	const char **av = NULL;
	size_t *al = NULL;
	redisReply *rep = NULL;
	char nk[16];
	int i, again = 1;

	if (gb_redis_ready(r, err) == -1)
		return NULL;
	if ((av = calloc((size_t)argc + 3, sizeof(*av))) == NULL ||
	    (al = calloc((size_t)argc + 3, sizeof(*al))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		goto out;
	}
	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = "EVALSHA";
	av[1] = r->sha[s];
	av[2] = nk;
	for (i = 0; i < 3; i++)
		al[i] = strlen(av[i]);
	for (i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		al[i + 3] = lens != NULL ? lens[i] : strlen(argv[i]);
	}
retry:
	if ((rep = raw(r, argc + 3, av, al)) != NULL &&
	    rep->type == REDIS_REPLY_ERROR && again &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		/* the server forgot the scripts: once more after a load */
		freeReplyObject(rep);
		rep = NULL;
		again = 0;
		if (load_scripts(r) == 0)
			goto retry;
	}
	if (rep == NULL || bad_reply(r, rep)) {
		rep = NULL;
		gb_err_set(err, GB_EXIT_TEMP, 0, "redis unreachable (%s)",
		    r->why);
	}
out:
	free(av);
	free(al);
	return rep;
}

int
gb_redis_down(struct gb_redis *r, time_t now)
{
	return r->c == NULL && r->down_since != 0 && now < r->next_try;
}

time_t
gb_redis_back(struct gb_redis *r)
{
	time_t t = r->back;

	r->back = 0;
	return t;
}

const char *
gb_redis_notice(struct gb_redis *r, char *out, size_t sz)
{
	if (r->notice[0] == '\0')
		return NULL;
	snprintf(out, sz, "%s", r->notice);
	r->notice[0] = '\0';
	return out;
}
