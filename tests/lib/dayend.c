/*
 * dayend - for each time (seconds since the epoch) on a line of standard
 * input, print gb_keys_day_end of it: the end of Google's quota day.
 */
#include <stdio.h>
#include <stdlib.h>

#include "keys.h"

int
main(void)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin) != NULL)
		printf("%lld\n", (long long)gb_keys_day_end(
		    (time_t)strtoll(line, NULL, 10)));
	return ferror(stdout) ? 1 : 0;
}
