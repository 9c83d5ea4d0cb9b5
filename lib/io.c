/*
 * io.c - looping read/write helpers (after djb's allwrite).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

/* One read, retried on EINTR. Returns bytes read, 0 at EOF, -1 on error. */
ssize_t
gb_io_read(int fd, void *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r == -1 && errno == EINTR);
	return r;
}

/* Write all n bytes. Returns 0, or -1 with errno set. */
int
gb_io_writeall(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
gb_io_pwriteall(int fd, const void *p, size_t n)
{
	const char *s = p;
	off_t off = 0;
	ssize_t w;

	while (n > 0) {
		w = pwrite(fd, s, n, off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		off += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Read fd to EOF, appending to b. Returns 0, or -1 with errno set; errno
 * E2BIG means the input was larger than the buffer's cap.
 */
int
gb_io_readall(int fd, struct gb_buf *b)
{
	size_t room;
	ssize_t r;
	char c;

	for (;;) {
		room = b->cap - b->len;
		if (room == 0) {
			/* full: one more byte means the input is too big */
			if ((r = gb_io_read(fd, &c, 1)) <= 0)
				return (int)r;
			errno = E2BIG;
			return -1;
		}
		if (room > 65536)
			room = 65536;
		if (gb_buf_reserve(b, room) == -1)
			return -1;
		r = gb_io_read(fd, b->data + b->len, room);
		if (r == -1)
			return -1;
		if (r == 0)
			return 0;
		b->len += (size_t)r;
		b->data[b->len] = '\0';
	}
}

int
gb_io_readfile(const char *path, struct gb_buf *b)
{
	int fd, rc, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = gb_io_readall(fd, b);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
gb_io_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if ((fl & O_NONBLOCK) != 0)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void *
gb_io_mapshared(const char *dir, const char *name, size_t len,
    int (*prepare)(int, void *), void *arg, int *fdp, struct gb_err *err)
{
	char path[PATH_MAX];
	void *p;
	int fd, e;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path)) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "STATE_DIRECTORY too long");
		return NULL;
	}
	(void)mkdir(dir, 0700);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "%s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (flock(fd, LOCK_EX) == -1 || prepare(fd, arg) == -1 ||
	    (p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0)) == MAP_FAILED) {
		e = errno;
		close(fd);
		gb_err_set(err, GB_EXIT_TEMP, 0, "%s: %s", path, strerror(e));
		return NULL;
	}
	flock(fd, LOCK_UN);
	*fdp = fd;
	return p;
}
