/*
 * mask.c - masked forms of secrets for logs, tables and messages.
 *
 * 16 characters or more: the first 6 and the last 4 ("AIzaSy…fGhI"),
 * which tells keys apart without giving them away. Shorter secrets (test
 * keys, short tokens) keep only their last quarter, at most 2 characters,
 * so that a masked form never reveals most of a secret.
 */
#include <stdio.h>
#include <string.h>

#include "mask.h"

char *
gb_mask(const char *s, char *out, size_t outsz)
{
	size_t len, tail;

	if (s == NULL)
		s = "";
	len = strlen(s);
	if (len >= 16) {
		snprintf(out, outsz, "%.6s\xe2\x80\xa6%s", s, s + len - 4);
		return out;
	}
	tail = len / 4;
	if (tail > 2)
		tail = 2;
	snprintf(out, outsz, "\xe2\x80\xa6%s", s + len - tail);
	return out;
}
