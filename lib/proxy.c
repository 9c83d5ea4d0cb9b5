/*
 * proxy.c - egress proxies (proxy.h).
 *
 * PROXIES gives each key a proxy of its own, because Google throttles
 * and region-blocks by the address a request comes from. The choice is
 * rendezvous hashing: for a key, every proxy URL gets a weight from a
 * hash of the pair, and the heaviest wins. Unlike "hash modulo the
 * number of proxies" this moves no key whose proxy stays in the list:
 * removing a proxy moves only the keys it carried, adding one takes
 * over only the keys it now outweighs. Nothing is stored; every
 * process of the machine (and every machine) with the same keys and
 * the same list makes the same choice.
 *
 * The hash is FNV-1a over the key, a NUL, and the URL as configured,
 * finished with the MurmurHash3 64-bit mixer so that similar URLs
 * (ports one apart) give unrelated weights. It spreads keys, it does
 * not guard them: a weight says nothing usable about a key.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

static const char *const schemes[] = {
	"http://", "https://", "socks5://", "socks5h://"
};

int
gb_proxy_valid(const char *url)
{
	size_t i, n;

	for (i = 0; i < GB_NELEM(schemes); i++) {
		n = strlen(schemes[i]);
		if (strncasecmp(url, schemes[i], n) == 0)
			return url[n] != '\0' && url[n] != '/' &&
			    strpbrk(url, " \t\r\n") == NULL;
	}
	return 0;
}

const char *
gb_proxy_credentials(const char *url, size_t *len)
{
	const char *auth, *end, *at = NULL, *p;

	auth = strstr(url, "://");
	auth = auth != NULL ? auth + 3 : url;
	/* the authority ends at the path, query or fragment */
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return NULL;
	*len = (size_t)(at - auth);
	return auth;
}

char *
gb_proxy_show(const char *url, char *buf, size_t size)
{
	const char *cred;
	size_t len;

	if (size == 0)
		return buf;
	if ((cred = gb_proxy_credentials(url, &len)) == NULL)
		snprintf(buf, size, "%s", url);
	else
		snprintf(buf, size, "%.*s***%s", (int)(cred - url), url,
		    cred + len);
	return buf;
}

static uint64_t
weight(const char *key, const char *url)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h *= 0x100000001b3ULL;		/* the NUL between them */
	for (p = (const unsigned char *)url; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

size_t
gb_proxy_rendezvous(char *const *urls, size_t n, const char *key)
{
	uint64_t w, best = 0;
	size_t i, pick = 0;

	for (i = 0; i < n; i++) {
		w = weight(key, urls[i]);
		/* a tie (next to impossible) goes to the first listed */
		if (i == 0 || w > best) {
			best = w;
			pick = i;
		}
	}
	return pick;
}

const char *
gb_proxy_pick(const struct gb_config *cfg, const char *key,
    unsigned long rnd)
{
	const struct gb_strlist *l = &cfg->proxies;

	if (l->n == 0)
		return cfg->proxy;
	if (l->n == 1)
		return l->v[0];
	if (cfg->proxies_hash)
		return l->v[gb_proxy_rendezvous(l->v, l->n, key)];
	return l->v[rnd % l->n];
}
