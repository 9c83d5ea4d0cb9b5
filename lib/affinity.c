/*
 * affinity.c - the resource-to-key store (affinity.h).
 *
 * STATE_DIRECTORY/affinity/ holds one file per resource, named after it
 * with its slashes turned into colons ("files/abc" is "files:abc";
 * names hold no colon, so the map goes both ways), holding one line:
 *
 *	KEYID EXPIRES NAME
 *
 * the key's 16-hex state id, the expiry as seconds since the epoch, and
 * the name again. The file's mtime is also set to the expiry, so that a
 * sweep reads no file, only the directory and the inodes. A record is
 * written to a temporary file (".tmp.PID.N"), fsynced, renamed over its
 * name, and the directory fsynced; a reader opens the one file it needs
 * and takes what it finds. Two writers of the same name leave one of
 * their records whole, never a mix.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "affinity.h"
#include "io.h"

#define LINE_MAX_	(GB_AFFINITY_KEYID + 32 + GB_AFFINITY_NAME)
#define TMP_AGE		3600	/* a leftover temporary file goes after */

int
gb_affinity_name_ok(const char *n)
{
	const char *seg = n, *p;
	int segs = 0;
	size_t len;

	if (strlen(n) >= GB_AFFINITY_NAME)
		return 0;
	for (;;) {
		len = strcspn(seg, "/");
		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		for (p = seg; p < seg + len; p++)
			if (!((*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '.' ||
			    *p == '_' || *p == '-'))
				return 0;
		segs++;
		if (seg[len] == '\0')
			break;
		seg += len + 1;
	}
	return segs >= 2;
}

/* The store's directory, and a record's path in it. */
static int
dir_path(char *out, size_t sz, const char *state)
{
	return snprintf(out, sz, "%s/%s", state, GB_AFFINITY_DIR) <
	    (int)sz ? 0 : -1;
}

static int
rec_path(char *out, size_t sz, const char *state, const char *name)
{
	char *p;
	int n;

	n = snprintf(out, sz, "%s/%s/", state, GB_AFFINITY_DIR);
	if (n < 0 || (size_t)n + strlen(name) >= sz)
		return -1;
	memcpy(out + n, name, strlen(name) + 1);
	for (p = out + n; *p != '\0'; p++)
		if (*p == '/')
			*p = ':';
	return 0;
}

static int
fsync_dir(const char *dir)
{
	int fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

struct rec {
	time_t	exp;
	char	file[GB_AFFINITY_NAME];
};

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->exp < y->exp ? -1 : x->exp > y->exp;
}

/*
 * Expired records and old temporary files go; past GB_AFFINITY_MAX, the
 * records expiring soonest go too. Errors are ignored: another process
 * may be sweeping at the same time, and a sweep is only housekeeping.
 */
static void
sweep(const char *dir, time_t now)
{
	struct rec *v = NULL, *t;
	struct dirent *d;
	struct stat st;
	size_t n = 0, cap = 0, i;
	DIR *dp;
	int dfd;

	if ((dp = opendir(dir)) == NULL)
		return;
	dfd = dirfd(dp);
	while ((d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") ==
		    0 || strcmp(d->d_name, ".sweep") == 0 ||
		    fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (d->d_name[0] == '.') {
			if (st.st_mtime + TMP_AGE < now)
				unlinkat(dfd, d->d_name, 0);
			continue;
		}
		if (st.st_mtime <= now) {
			unlinkat(dfd, d->d_name, 0);
			continue;
		}
		if (strlen(d->d_name) >= sizeof(v->file))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			if ((t = reallocarray(v, cap, sizeof(*v))) == NULL)
				break;
			v = t;
		}
		v[n].exp = st.st_mtime;
		memcpy(v[n].file, d->d_name, strlen(d->d_name) + 1);
		n++;
	}
	if (n > GB_AFFINITY_MAX) {
		qsort(v, n, sizeof(*v), rec_cmp);
		for (i = 0; i < n - GB_AFFINITY_MAX; i++)
			unlinkat(dfd, v[i].file, 0);
	}
	free(v);
	closedir(dp);
}

/* Sweep when the last sweep (the mtime of .sweep) is old enough. */
static void
maybe_sweep(const char *dir, time_t now)
{
	char stamp[4096];
	struct stat st;
	int fd;

	if (snprintf(stamp, sizeof(stamp), "%s/.sweep", dir) >=
	    (int)sizeof(stamp))
		return;
	if (stat(stamp, &st) == 0 && st.st_mtime + GB_AFFINITY_SWEEP > now &&
	    st.st_mtime <= now)
		return;
	if ((fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return;
	futimens(fd, NULL);
	close(fd);
	sweep(dir, now);
}

int
gb_affinity_put(const char *state, const char *name, const char *id,
    time_t expires, struct gb_err *err)
{
	char dir[4096], path[4096], tmp[4096], line[LINE_MAX_];
	struct timespec ts[2], now;
	int fd, n;

	if (!gb_affinity_name_ok(name) || strlen(id) >= GB_AFFINITY_KEYID)
		return gb_err_set(err, GB_EXIT_USAGE, 0, "cannot store the "
		    "resource name");
	/* a temporary name no other writer has (O_EXCL checks) */
	clock_gettime(CLOCK_REALTIME, &now);
	if (dir_path(dir, sizeof(dir), state) == -1 ||
	    rec_path(path, sizeof(path), state, name) == -1 ||
	    snprintf(tmp, sizeof(tmp), "%s/.tmp.%ld.%ld", dir, (long)getpid(),
	    (long)now.tv_nsec) >= (int)sizeof(tmp))
		return gb_err_set(err, GB_EXIT_TEMP, 0, "state path too long");
	if (mkdir(state, 0700) == -1 && errno != EEXIST)
		return gb_err_set(err, GB_EXIT_TEMP, errno, "%s", state);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return gb_err_set(err, GB_EXIT_TEMP, errno, "%s", dir);
	n = snprintf(line, sizeof(line), "%s %lld %s\n", id,
	    (long long)expires, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, errno, "%s", tmp);
	ts[0].tv_sec = ts[1].tv_sec = expires;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (gb_io_writeall(fd, line, (size_t)n) == -1 ||
	    futimens(fd, ts) == -1 || fsync(fd) == -1) {
		gb_err_set(err, GB_EXIT_TEMP, errno, "%s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		gb_err_set(err, GB_EXIT_TEMP, errno, "%s", path);
		unlink(tmp);
		return -1;
	}
	if (fsync_dir(dir) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, errno, "%s", dir);
	maybe_sweep(dir, time(NULL));
	return 0;
}

int
gb_affinity_get(const char *state, const char *name, char *id, time_t now)
{
	char path[4096], line[LINE_MAX_], *sp;
	long long exp;
	ssize_t n;
	int fd;

	id[0] = '\0';
	if (!gb_affinity_name_ok(name) ||
	    rec_path(path, sizeof(path), state, name) == -1)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	n = gb_io_read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 ? 0 : -1;
	line[n] = '\0';
	/* KEYID EXPIRES NAME: a record that is not whole is no record */
	if ((sp = strchr(line, ' ')) == NULL ||
	    (size_t)(sp - line) >= GB_AFFINITY_KEYID ||
	    sscanf(sp + 1, "%lld", &exp) != 1 || strchr(line, '\n') == NULL)
		return 0;
	if ((time_t)exp <= now)
		return 0;
	memcpy(id, line, (size_t)(sp - line));
	id[sp - line] = '\0';
	return 1;
}

void
gb_affinity_del(const char *state, const char *name)
{
	char path[4096];

	if (gb_affinity_name_ok(name) &&
	    rec_path(path, sizeof(path), state, name) == 0)
		unlink(path);
}

int
gb_affinity_owners(const char *state, const char *prefix, time_t now,
    char (*ids)[GB_AFFINITY_KEYID], size_t max)
{
	char dir[4096], pre[GB_AFFINITY_NAME], name[GB_AFFINITY_NAME], *p;
	char id[GB_AFFINITY_KEYID];
	struct dirent *d;
	size_t n = 0, i, pl;
	DIR *dp;

	if (dir_path(dir, sizeof(dir), state) == -1 ||
	    strlen(prefix) >= sizeof(pre))
		return -1;
	memcpy(pre, prefix, strlen(prefix) + 1);
	for (p = pre; *p != '\0'; p++)
		if (*p == '/')
			*p = ':';
	pl = strlen(pre);
	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((d = readdir(dp)) != NULL && n < max) {
		if (strncmp(d->d_name, pre, pl) != 0 ||
		    strlen(d->d_name) >= sizeof(name))
			continue;
		memcpy(name, d->d_name, strlen(d->d_name) + 1);
		for (p = name; *p != '\0'; p++)
			if (*p == ':')
				*p = '/';
		if (gb_affinity_get(state, name, id, now) != 1)
			continue;
		for (i = 0; i < n && strcmp(ids[i], id) != 0; i++)
			;
		if (i == n)
			memcpy(ids[n++], id, sizeof(id));
	}
	closedir(dp);
	return (int)n;
}

time_t
gb_affinity_time(const char *s)
{
	struct tm tm;
	const char *p;
	long off = 0;
	int h, m;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &h,
	    &m) == 2) {
		off = (h * 3600L + m * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	return timegm(&tm) - off;
}
