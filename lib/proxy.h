/*
 * proxy.h - egress proxies: which proxy an upstream attempt goes
 * through (PROXIES, PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY, PROXY; see
 * gb-call(1)), which proxy URLs are accepted, and how a proxy URL is
 * shown in messages (its user and password never are).
 */
#ifndef GB_PROXY_H
#define GB_PROXY_H

#include <stddef.h>

#include "config.h"

/* Room for a masked proxy URL; longer ones are cut. */
#define GB_PROXY_SHOWN	256

/*
 * Is url a proxy URL PROXIES accepts: http://, https://, socks5:// or
 * socks5h:// (any case) followed by a host? 1 or 0.
 */
int	 gb_proxy_valid(const char *);

/*
 * The user and password in url (what comes before the last '@' of the
 * authority): a pointer into url with *len set, or NULL when it has
 * none.
 */
const char *gb_proxy_credentials(const char *, size_t *);

/*
 * url as it may be shown: its user and password (what comes before the
 * last '@' of the authority) replaced by three asterisks; a URL
 * without them unchanged. Into buf of
 * size bytes, cut to fit; returns buf.
 */
char	*gb_proxy_show(const char *, char *, size_t);

/*
 * The proxy of key among the n URLs of list, by rendezvous (highest
 * random weight) hashing: each (key, URL) pair gets a pseudo-random
 * weight and the URL of the highest wins. A key keeps its proxy while
 * the list changes, unless its proxy is the one removed (then only its
 * keys move, spread over the others) or a new one outweighs it (then
 * only the keys it wins move to it). Returns an index below n; n must
 * not be 0.
 */
size_t	 gb_proxy_rendezvous(char *const *, size_t, const char *);

/*
 * The proxy for one attempt with key under cfg: PROXIES (by key, or
 * the URL at index rnd modulo their number when
 * PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY is false), else PROXY, else
 * NULL (libcurl's own proxy variables then apply).
 */
const char *gb_proxy_pick(const struct gb_config *, const char *,
	    unsigned long);

#endif
