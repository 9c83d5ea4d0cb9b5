/*
 * io.h - all fd I/O goes through here: short reads and writes are looped,
 * EINTR is retried.
 */
#ifndef GB_IO_H
#define GB_IO_H

#include <sys/types.h>

#include "buf.h"
#include "gb.h"

ssize_t	gb_io_read(int, void *, size_t);
int	gb_io_writeall(int, const void *, size_t);
/* The whole of p at offset 0 of fd (a file overwritten in place). */
int	gb_io_pwriteall(int, const void *, size_t);
int	gb_io_readall(int, struct gb_buf *);
int	gb_io_readfile(const char *, struct gb_buf *);
/* Make fd non-blocking (one fcntl when it is already); 0 or -1. */
int	gb_io_nonblock(int);
/*
 * DIR/NAME (DIR made 0700 if missing, the file 0600) mapped shared,
 * len bytes, read and write, once prepare(fd, arg) has shaped it under
 * an exclusive lock (0, or -1 with errno). The mapping, its descriptor
 * in *fdp; or NULL with err set (GB_EXIT_TEMP).
 */
void	*gb_io_mapshared(const char *, const char *, size_t,
	    int (*)(int, void *), void *, int *, struct gb_err *);

#endif
