/*
 * buf.h - a growable byte buffer with a hard cap fixed at creation.
 * Appending past the cap fails with errno E2BIG and leaves the buffer as
 * it was; the data is always NUL-terminated (the NUL is not counted).
 */
#ifndef GB_BUF_H
#define GB_BUF_H

#include <stddef.h>

struct gb_buf {
	char	*data;
	size_t	 len;		/* bytes in use */
	size_t	 size;		/* bytes allocated */
	size_t	 cap;		/* most bytes it may ever hold */
};

void	gb_buf_init(struct gb_buf *, size_t);
int	gb_buf_append(struct gb_buf *, const void *, size_t);
int	gb_buf_putc(struct gb_buf *, int);
int	gb_buf_puts(struct gb_buf *, const char *);
int	gb_buf_printf(struct gb_buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	gb_buf_reserve(struct gb_buf *, size_t);
void	gb_buf_consume(struct gb_buf *, size_t);
void	gb_buf_reset(struct gb_buf *);
void	gb_buf_free(struct gb_buf *);

#endif
