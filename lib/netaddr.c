/*
 * netaddr.c - public and internal addresses, networks an operator
 * allows (netaddr.h).
 *
 * IPv4 internal ranges (RFC 6890 and friends): 0.0.0.0/8 "this
 * network" (0.0.0.0 reaches the local host on Linux), 10/8, 100.64/10
 * (carrier-grade NAT), 127/8, 169.254/16 (link-local, cloud metadata at
 * 169.254.169.254), 172.16/12, 192.0.0.0/24 (protocol assignments),
 * 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (documentation:
 * never on the internet, sometimes misused inside networks),
 * 192.168/16, 198.18/15 (benchmarking), 224/4 (multicast), 240/4
 * (reserved, 255.255.255.255 broadcast).
 *
 * IPv6: only global unicast (2000::/3) is public, less 2001::/32
 * (Teredo, which tunnels to an address it hides), 2001:db8::/32
 * (documentation); outside it, :: and ::1, ULA fc00::/7, link-local
 * fe80::/10, multicast ff00::/8 and the unassigned rest are internal.
 * Forms that carry an IPv4 address are judged by it: ::ffff:a.b.c.d,
 * ::a.b.c.d, 64:ff9b::a.b.c.d (NAT64) and 2002:AABB:CCDD::/48 (6to4).
 * 64:ff9b:1::/48 (local NAT64) is internal.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "netaddr.h"

static const struct {
	unsigned char	a[4];
	int		bits;
} v4internal[] = {
	{ { 0, 0, 0, 0 }, 8 },
	{ { 10, 0, 0, 0 }, 8 },
	{ { 100, 64, 0, 0 }, 10 },
	{ { 127, 0, 0, 0 }, 8 },
	{ { 169, 254, 0, 0 }, 16 },
	{ { 172, 16, 0, 0 }, 12 },
	{ { 192, 0, 0, 0 }, 24 },
	{ { 192, 0, 2, 0 }, 24 },
	{ { 192, 168, 0, 0 }, 16 },
	{ { 198, 18, 0, 0 }, 15 },
	{ { 198, 51, 100, 0 }, 24 },
	{ { 203, 0, 113, 0 }, 24 },
	{ { 224, 0, 0, 0 }, 4 },
	{ { 240, 0, 0, 0 }, 4 },
};

/* The first bits of a and b are equal. */
static int
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	unsigned char m;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	m = (unsigned char)(0xff << (8 - rest));
	return (a[whole] & m) == (b[whole] & m);
}

static int
v4_public(const unsigned char *a)
{
	size_t i;

	for (i = 0; i < GB_NELEM(v4internal); i++)
		if (prefix_eq(a, v4internal[i].a, v4internal[i].bits))
			return 0;
	return 1;
}

/*
 * The IPv4 address an IPv6 address carries (into v4), if it is of a
 * form that carries one; returns 1 if so.
 */
static int
v6_embedded(const unsigned char *a, unsigned char *v4)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	static const unsigned char compat[12];
	static const unsigned char nat64[12] = {
		0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
	};

	if (memcmp(a, mapped, 12) == 0 || memcmp(a, compat, 12) == 0 ||
	    memcmp(a, nat64, 12) == 0) {
		memcpy(v4, a + 12, 4);
		return 1;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		memcpy(v4, a + 2, 4);
		return 1;
	}
	return 0;
}

static int
v6_public(const unsigned char *a)
{
	static const unsigned char teredo[4] = { 0x20, 0x01, 0, 0 };
	static const unsigned char doc[4] = { 0x20, 0x01, 0x0d, 0xb8 };
	unsigned char v4[4];

	if (v6_embedded(a, v4))
		return v4_public(v4);
	if ((a[0] & 0xe0) != 0x20)		/* not 2000::/3 */
		return 0;
	return memcmp(a, teredo, 4) != 0 && memcmp(a, doc, 4) != 0;
}

/* The address bytes and family of a sockaddr, or 0 for another kind. */
static int
sa_bytes(const struct sockaddr *sa, socklen_t len, const unsigned char **p)
{
	if (sa->sa_family == AF_INET &&
	    len >= (socklen_t)sizeof(struct sockaddr_in)) {
		*p = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6 &&
	    len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		*p = (const unsigned char *)
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		return AF_INET6;
	}
	return 0;
}

int
gb_netaddr_public(const struct sockaddr *sa, socklen_t len)
{
	const unsigned char *a;

	switch (sa_bytes(sa, len, &a)) {
	case AF_INET:
		return v4_public(a);
	case AF_INET6:
		return v6_public(a);
	default:
		return 0;
	}
}

int
gb_netaddr_listed(const struct gb_netlist *l, const struct sockaddr *sa,
    socklen_t len)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const unsigned char *a;
	int fam;
	size_t i;

	if (l->all)
		return 1;
	if ((fam = sa_bytes(sa, len, &a)) == 0)
		return 0;
	/* ::ffff:10.1.2.3 is 10.1.2.3 for an IPv4 network */
	if (fam == AF_INET6 && memcmp(a, mapped, 12) == 0) {
		fam = AF_INET;
		a += 12;
	}
	for (i = 0; i < l->n; i++)
		if (l->v[i].family == fam &&
		    prefix_eq(a, l->v[i].addr, l->v[i].bits))
			return 1;
	return 0;
}

int
gb_netaddr_allowed(const struct gb_netlist *l, const struct sockaddr *sa,
    socklen_t len)
{
	return gb_netaddr_public(sa, len) || gb_netaddr_listed(l, sa, len);
}

int
gb_net_parse(const char *s, struct gb_net *n)
{
	char buf[64], *slash, *host = buf, *end;
	const char *es;
	long long bits;
	int max, i;
	size_t len = strlen(s);

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len + 1);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (*host == '[') {
		if ((end = strchr(host, ']')) == NULL || end[1] != '\0')
			return -1;
		*end = '\0';
		host++;
	}
	memset(n, 0, sizeof(*n));
	if (strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, n->addr) != 1)
			return -1;
		n->family = AF_INET6;
		max = 128;
	} else {
		/* inet_pton takes dotted quads only: no 127.1, no 0x7f.1 */
		if (host != buf || inet_pton(AF_INET, host, n->addr) != 1)
			return -1;
		n->family = AF_INET;
		max = 32;
	}
	n->bits = max;
	if (slash != NULL) {
		if (gb_strtonum(slash, 0, max, &bits, &es) == -1)
			return -1;
		n->bits = (int)bits;
	}
	/* host bits must be zero: 10.1.2.3/8 is a mistake, not 10/8 */
	for (i = n->bits; i < max; i++)
		if (n->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return 0;
}

int
gb_netlist_parse(const char *name, const char *s, struct gb_netlist *l,
    struct gb_err *err)
{
	struct gb_strlist items;
	struct gb_err ignore;
	size_t i;

	memset(l, 0, sizeof(*l));
	if (s == NULL || *s == '\0')
		return 0;
	if (gb_config_parse_bool(name, s, &l->all, &ignore) == 0)
		return 0;
	if (gb_config_parse_list(name, s, &items, err) == -1)
		return -1;
	if (items.n > 0 &&
	    (l->v = calloc(items.n, sizeof(*l->v))) == NULL) {
		gb_strlist_free(&items);
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	}
	for (i = 0; i < items.n; i++) {
		if (gb_net_parse(items.v[i], &l->v[i]) == -1) {
			gb_err_set(err, GB_EXIT_USAGE, 0, "%s: \"%.64s\" is "
			    "neither true, false nor an IP address or network "
			    "(10.0.0.0/8, fd00::/8)", name, items.v[i]);
			gb_strlist_free(&items);
			gb_netlist_free(l);
			return -1;
		}
		l->n++;
	}
	gb_strlist_free(&items);
	return 0;
}

void
gb_netlist_free(struct gb_netlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}
