/*
 * buf.c - capped growable buffers: every buffer that grows from input
 * gets its cap when it is created, so overflow is a clean error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
gb_buf_init(struct gb_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->size = 0;
	b->cap = cap;
}

/* Make room for n more bytes plus the terminating NUL. */
int
gb_buf_reserve(struct gb_buf *b, size_t n)
{
	size_t need, nsize;
	char *p;

	if (n > b->cap || b->len > b->cap - n) {
		errno = E2BIG;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->size)
		return 0;
	nsize = b->size ? b->size : 256;
	while (nsize < need)
		nsize = nsize > ((size_t)-1) / 2 ? need : nsize * 2;
	if (nsize > b->cap + 1)
		nsize = b->cap + 1;
	if ((p = realloc(b->data, nsize)) == NULL)
		return -1;
	b->data = p;
	b->size = nsize;
	return 0;
}

int
gb_buf_append(struct gb_buf *b, const void *p, size_t n)
{
	if (gb_buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
gb_buf_putc(struct gb_buf *b, int c)
{
	char ch = (char)c;

	return gb_buf_append(b, &ch, 1);
}

int
gb_buf_puts(struct gb_buf *b, const char *s)
{
	return gb_buf_append(b, s, strlen(s));
}

int
gb_buf_printf(struct gb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (gb_buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Drop the first n bytes. */
void
gb_buf_consume(struct gb_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

void
gb_buf_reset(struct gb_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
gb_buf_free(struct gb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->size = 0;
}
