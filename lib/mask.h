/*
 * mask.h - how keys and tokens are shown anywhere but /v1/keys/list:
 * "AIzaSy…fGhI" (first 6, an ellipsis, last 4). Short secrets show less.
 */
#ifndef GB_MASK_H
#define GB_MASK_H

#include <stddef.h>

#define GB_MASK_SIZE	32	/* enough for any masked form plus NUL */

char	*gb_mask(const char *, char *, size_t);

#endif
