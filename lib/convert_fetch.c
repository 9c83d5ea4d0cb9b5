/*
 * convert_fetch.c - download an http(s) image for inlining. The size cap
 * is the buffer's cap (gb-convert uses GB_FETCH_MAX), the time cap is
 * for the whole transfer including redirects; only http and https are
 * spoken, in both the first request and any redirect. libcurl is
 * loaded only here, on the first download (curlapi.h): gb-convert runs
 * on every request and should not pay for loading it.
 *
 * A client's URL must not reach into the server's network, so every
 * socket libcurl opens goes through open_socket(), which sees the
 * address about to be connected to - after name resolution, for the
 * first request and for every redirect - and refuses an internal one
 * (netaddr.h) unless the operator allowed it. Checking the URL's text
 * instead would miss names that resolve inside (localhost, a name whose
 * answer changes between a check and the connect), redirects, and the
 * many spellings of an address (127.1, 2130706433, 0x7f.1, [::1]). For
 * the same reason a proxy from the environment (http_proxy...) is not
 * used while the check is on: the address connected to would be the
 * proxy's, and the proxy would connect anywhere; with every address
 * allowed the proxy variables apply, as for any libcurl program.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "convert.h"
#include "curlapi.h"
#include "netaddr.h"

struct sink {
	struct gb_buf	*b;
	int		 toobig;
	const struct gb_netlist *allow;
	int		 refused;	/* a connect was refused */
};

/*
 * CURLOPT_OPENSOCKETFUNCTION: a socket for an allowed address, none
 * (libcurl then tries the next address, or fails) for another.
 */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct sink *s = arg;
	int fd;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !gb_netaddr_allowed(s->allow, &a->addr, a->addrlen)) {
		s->refused = 1;
		return CURL_SOCKET_BAD;
	}
	if ((fd = socket(a->family, a->socktype | SOCK_CLOEXEC,
	    a->protocol)) == -1)
		return CURL_SOCKET_BAD;
	return fd;
}

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct sink *s = arg;

	if (gb_buf_append(s->b, p, sz * n) == -1) {
		s->toobig = errno == E2BIG;
		return 0;
	}
	return sz * n;
}

/* "Image/PNG; charset=x" -> "image/png" (malloc'd), or NULL. */
static char *
media_type(const char *ct)
{
	size_t n;
	char *r;

	if (ct == NULL)
		return NULL;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; \t");
	if (n == 0 || memchr(ct, '/', n) == NULL)
		return NULL;
	if ((r = strndup(ct, n)) == NULL)
		return NULL;
	for (n = 0; r[n] != '\0'; n++)
		r[n] = (char)tolower((unsigned char)r[n]);
	return r;
}

int
gb_fetch(const char *url, long timeout, const struct gb_netlist *allow,
    struct gb_buf *b, char **ctype, struct gb_err *err)
{
	char ebuf[CURL_ERROR_SIZE];
	struct gb_curl api;
	struct sink s;
	const char *ct = NULL;
	CURL *h;
	CURLcode rc;
	long code = 0;
	int ret = -1;

	*ctype = NULL;
	s.b = b;
	s.toobig = 0;
	s.allow = allow;
	s.refused = 0;
	ebuf[0] = '\0';
	if (gb_curl_load(&api, err) == -1)
		return -1;
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		gb_curl_unload(&api);
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "cannot start a download");
	}
	if ((h = api.easy_init()) == NULL) {
		api.global_cleanup();
		gb_curl_unload(&api);
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "cannot start a download");
	}
	api.easy_setopt(h, CURLOPT_URL, url);
	api.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	api.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	api.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	api.easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	api.easy_setopt(h, CURLOPT_TIMEOUT, timeout);
	api.easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)b->cap);
	api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	api.easy_setopt(h, CURLOPT_USERAGENT, "gemini-balance/" GB_VERSION);
	api.easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	api.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	api.easy_setopt(h, CURLOPT_WRITEDATA, &s);
	if (!allow->all) {
		api.easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
		api.easy_setopt(h, CURLOPT_OPENSOCKETDATA, &s);
		api.easy_setopt(h, CURLOPT_PROXY, "");
	}
	rc = api.easy_perform(h);
	if (rc == CURLE_OK)
		api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (s.toobig || rc == CURLE_FILESIZE_EXCEEDED)
		gb_err_set(err, GB_EXIT_USAGE, 400,
		    "%s: image larger than %zu bytes", url, b->cap);
	else if (rc != CURLE_OK && s.refused)
		/* nothing of what answers there, not even whether it does */
		gb_err_set(err, GB_EXIT_USAGE, 400, "%s: image URL resolves "
		    "to a private, loopback or link-local address; refused",
		    url);
	else if (rc != CURLE_OK)
		gb_err_set(err, GB_EXIT_USAGE, 400, "%s: cannot download: %s",
		    url, ebuf[0] != '\0' ? ebuf : api.easy_strerror(rc));
	else if (code < 200 || code > 299)
		gb_err_set(err, GB_EXIT_USAGE, 400,
		    "%s: cannot download: HTTP status %ld", url, code);
	else if (b->len == 0)
		gb_err_set(err, GB_EXIT_USAGE, 400, "%s: empty download", url);
	else {
		api.easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
		*ctype = media_type(ct);
		ret = 0;
	}
	api.easy_cleanup(h);
	api.global_cleanup();
	gb_curl_unload(&api);
	return ret;
}
