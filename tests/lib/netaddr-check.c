/*
 * netaddr-check [ALLOW] - the address classifier of image downloads
 * (lib/netaddr.h) over addresses read from stdin, one a line (IPv4
 * dotted quad or IPv6). Prints for each "ADDRESS VERDICT": public,
 * internal, allowed (internal but in ALLOW, a FETCH_ALLOW_PRIVATE
 * value) or invalid (not an address). A bad ALLOW is exit 100 with the
 * message on stderr.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

int
main(int argc, char *argv[])
{
	struct gb_netlist allow;
	struct gb_err err;
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	const struct sockaddr *sa;
	socklen_t len;
	char line[256];
	const char *v;

	if (gb_netlist_parse("FETCH_ALLOW_PRIVATE", argc > 1 ? argv[1] : NULL,
	    &allow, &err) == -1) {
		fprintf(stderr, "netaddr-check: %s\n", err.msg);
		return 100;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		memset(&a4, 0, sizeof(a4));
		memset(&a6, 0, sizeof(a6));
		a4.sin_family = AF_INET;
		a6.sin6_family = AF_INET6;
		if (inet_pton(AF_INET, line, &a4.sin_addr) == 1) {
			sa = (const struct sockaddr *)&a4;
			len = sizeof(a4);
		} else if (inet_pton(AF_INET6, line, &a6.sin6_addr) == 1) {
			sa = (const struct sockaddr *)&a6;
			len = sizeof(a6);
		} else {
			printf("%s invalid\n", line);
			continue;
		}
		if (gb_netaddr_public(sa, len))
			v = "public";
		else if (gb_netaddr_listed(&allow, sa, len))
			v = "allowed";
		else
			v = "internal";
		if (gb_netaddr_allowed(&allow, sa, len) !=
		    (strcmp(v, "internal") != 0))
			v = "inconsistent";
		printf("%s %s\n", line, v);
	}
	gb_netlist_free(&allow);
	return 0;
}
