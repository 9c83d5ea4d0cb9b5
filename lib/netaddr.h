/*
 * netaddr.h - which network addresses a download may connect to.
 *
 * A URL from a client must not reach into the server's own network:
 * loopback, private, link-local, shared (CGNAT), multicast and reserved
 * addresses are "internal"; the rest of the IPv4 space and IPv6's
 * global unicast (2000::/3) are "public". IPv6 forms that carry an IPv4
 * address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64
 * 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address they
 * carry. An operator may allow some internal networks (a list of
 * networks, struct gb_netlist) or all of them.
 */
#ifndef GB_NETADDR_H
#define GB_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "gb.h"

struct gb_net {				/* one network, as 10.0.0.0/8 */
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* 4 or 16 bytes, host bits zero */
	int		 bits;		/* prefix length */
};

struct gb_netlist {
	int		 all;		/* every address is allowed */
	struct gb_net	*v;
	size_t		 n;
};

/*
 * 1 if the address (sockaddr_in or sockaddr_in6 of len bytes) is
 * public, 0 if it is internal or of another family.
 */
int	gb_netaddr_public(const struct sockaddr *, socklen_t);

/* 1 if the address is in one of the list's networks (or all is set). */
int	gb_netaddr_listed(const struct gb_netlist *, const struct sockaddr *,
	    socklen_t);

/* 1 if a download may connect to the address: public or listed. */
int	gb_netaddr_allowed(const struct gb_netlist *, const struct sockaddr *,
	    socklen_t);

/*
 * Parse one network: an IPv4 or IPv6 address (IPv6 optionally in
 * brackets) with an optional "/bits"; no bits is one address. Host bits
 * must be zero. Returns 0, or -1 (not a network).
 */
int	gb_net_parse(const char *, struct gb_net *);

/*
 * Parse the value of a variable (name, for messages) that allows
 * internal addresses: a boolean (true: all, false: none), or a list
 * (JSON array or comma list) of networks. Empty or NULL is none.
 * Returns 0, or -1 with err set (GB_EXIT_USAGE naming the variable and
 * the bad item, or GB_EXIT_TEMP out of memory) and l empty.
 */
int	gb_netlist_parse(const char *, const char *, struct gb_netlist *,
	    struct gb_err *);
void	gb_netlist_free(struct gb_netlist *);

#endif
