/*
 * firstev - time to the first server-sent event.
 *
 * usage: firstev HOST PORT PATH BODYFILE TOKEN COUNT SECONDS
 *
 * Sends COUNT POST requests (or as many as fit in SECONDS) one after the
 * other over a kept-alive HTTP/1.1 connection and times, for each, the
 * interval from writing the request to reading the first "data:" line of
 * the (de-chunked) response body, and to the end of the response. A new
 * connection is made before a request when the server closed the last
 * one; the connect itself is not timed, but whatever the server does
 * after accept (for instance spawning a process per connection) is.
 * TOKEN "-" sends no Authorization header. Prints one line:
 *
 *   FIRSTEV n=N p50_us=… p99_us=… full_p50_us=… errors=E conns=C
 *
 * A benchmark helper, not part of the product: it trusts its own
 * arguments and exits 1 on any set-up error.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RBUF	65536
#define MAXN	100000

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
dial(const char *host, int port)
{
	struct sockaddr_in sa;
	struct timeval tv = { 10, 0 };	/* a silent server is an error */
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
writeall(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= w;
	}
	return 0;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, int n, double p)
{
	int i;

	if (n == 0)
		return 0;
	i = (int)(p / 100.0 * (n - 1) + 0.5);
	return v[i];
}

/*
 * One request/response. Returns 0 and sets *first and *full (µs after the
 * request was written), and *keep to whether the connection may be
 * reused; -1 on a transport error or a non-200 status.
 */
static int
exchange(int fd, const char *req, size_t reqlen, double *first,
    double *full, int *keep)
{
	static char buf[RBUF];
	size_t have = 0, hdrlen, i, bl = 0;
	ssize_t r;
	long clen = -1, chunk = -1, left;
	int chunked = 0, status, found = 0, ateol = 1;
	double t0;
	char *eoh, *p, *s;

	t0 = now_us();
	if (writeall(fd, req, reqlen) == -1)
		return -1;
	/* Headers. */
	for (;;) {
		if (have == sizeof(buf) - 1)
			return -1;
		r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r <= 0)
			return -1;
		have += r;
		buf[have] = '\0';
		if ((eoh = strstr(buf, "\r\n\r\n")) != NULL)
			break;
	}
	hdrlen = eoh + 4 - buf;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	*keep = strncmp(buf, "HTTP/1.1", 8) == 0;
	for (p = strstr(buf, "\r\n") + 2; p < eoh; p = strstr(p, "\r\n") + 2) {
		if (strncasecmp(p, "content-length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
		else if (strncasecmp(p, "transfer-encoding:", 18) == 0 &&
		    strstr(p, "chunked") != NULL && strstr(p, "chunked") < strstr(p, "\r\n"))
			chunked = 1;
		else if (strncasecmp(p, "connection:", 11) == 0 &&
		    strcasestr(p, "close") != NULL &&
		    strcasestr(p, "close") < strstr(p, "\r\n"))
			*keep = 0;
	}
	if (!chunked && clen < 0)
		*keep = 0;
	/*
	 * Body: feed bytes through a de-chunker; look for "data:" at a line
	 * start in the decoded stream.
	 */
	memmove(buf, buf + hdrlen, have - hdrlen);
	have -= hdrlen;
	left = chunked ? -1 : clen;
	for (;;) {
		for (i = 0; i < have; ) {
			if (chunked && chunk <= 0) {
				/* Need a full size line: "\r\n"? "hex\r\n". */
				s = memchr(buf + i, '\n', have - i);
				if (s == NULL)
					break;
				if (chunk == 0) {	/* CRLF after data */
					i = s + 1 - buf;
					chunk = -1;
					continue;
				}
				chunk = strtol(buf + i, NULL, 16);
				i = s + 1 - buf;
				if (chunk == 0)
					goto done;	/* ignore trailers */
				continue;
			}
			/* Decoded byte(s) buf[i..]. */
			{
				size_t n = have - i;
				size_t k;

				if (chunked && (long)n > chunk)
					n = chunk;
				if (!chunked && left >= 0 && (long)n > left)
					n = left;
				for (k = 0; k < n && !found; k++) {
					char c = buf[i + k];

					if (ateol && c == 'd')
						bl = 1;
					else if (bl > 0 && bl < 5 &&
					    c == "data:"[bl])
						bl++;
					else
						bl = 0;
					if (bl == 5) {
						*first = now_us() - t0;
						found = 1;
					}
					ateol = c == '\n' || c == '\r';
				}
				i += n;
				if (chunked)
					chunk -= n;	/* 0: CRLF follows */
				if (!chunked && left >= 0) {
					left -= n;
					if (left == 0)
						goto done;
				}
			}
		}
		memmove(buf, buf + i, have - i);
		have -= i;
		r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!chunked && clen < 0)
				goto done;
			return -1;
		}
		have += r;
	}
done:
	*full = now_us() - t0;
	if (!found)
		*first = *full;
	return status == 200 && found ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	static double first[MAXN], full[MAXN];
	static char req[1 << 20];
	char body[1 << 19];
	FILE *f;
	size_t blen, reqlen;
	int port, count, secs, n = 0, errors = 0, conns = 0, fd = -1, keep, i;
	double deadline, a, b;

	if (argc != 8) {
		fprintf(stderr, "usage: firstev HOST PORT PATH BODYFILE TOKEN "
		    "COUNT SECONDS\n");
		return 1;
	}
	port = atoi(argv[2]);
	count = atoi(argv[6]);
	secs = atoi(argv[7]);
	if (count > MAXN)
		count = MAXN;
	if ((f = fopen(argv[4], "rb")) == NULL) {
		perror(argv[4]);
		return 1;
	}
	blen = fread(body, 1, sizeof(body), f);
	fclose(f);
	if (strcmp(argv[5], "-") == 0)
		reqlen = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\n"
		    "Host: %s:%d\r\nContent-Type: application/json\r\n"
		    "Accept: text/event-stream\r\nContent-Length: %zu\r\n\r\n",
		    argv[3], argv[1], port, blen);
	else
		reqlen = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\n"
		    "Host: %s:%d\r\nContent-Type: application/json\r\n"
		    "Accept: text/event-stream\r\n"
		    "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n",
		    argv[3], argv[1], port, argv[5], blen);
	memcpy(req + reqlen, body, blen);
	reqlen += blen;

	deadline = now_us() + secs * 1e6;
	for (i = 0; i < count + 20 && now_us() < deadline; i++) {
		if (fd == -1) {
			if ((fd = dial(argv[1], port)) == -1) {
				errors++;
				usleep(10000);
				continue;
			}
			conns++;
		}
		if (exchange(fd, req, reqlen, &a, &b, &keep) == -1) {
			errors++;
			close(fd);
			fd = -1;
			continue;
		}
		if (!keep) {
			close(fd);
			fd = -1;
		}
		if (i < 20)		/* warm-up */
			continue;
		first[n] = a;
		full[n] = b;
		n++;
	}
	if (fd != -1)
		close(fd);
	qsort(first, n, sizeof(double), cmpd);
	qsort(full, n, sizeof(double), cmpd);
	printf("FIRSTEV n=%d p50_us=%.1f p99_us=%.1f full_p50_us=%.1f "
	    "errors=%d conns=%d\n", n, pct(first, n, 50), pct(first, n, 99),
	    pct(full, n, 50), errors, conns);
	return n > 0 ? 0 : 1;
}
