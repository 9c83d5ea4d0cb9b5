/*
 * curlapi.h - libcurl loaded with dlopen(3) on first need.
 *
 * Linking libcurl costs every start of a program ~5-7 ms of CPU on the
 * bench machine (libcurl pulls in ~34 shared objects: TLS, LDAP,
 * Kerberos, SSH...), many times the work of a conversion or of
 * "gb-keys next". Tools that need libcurl only now and then (gb-convert
 * for http image URLs, gb-keys for "check") call it through this table
 * instead, so that a program that never downloads never loads it.
 */
#ifndef GB_CURLAPI_H
#define GB_CURLAPI_H

#include <curl/curl.h>

#include "gb.h"

#define GB_CURL_LIB	"libcurl.so.4"

struct gb_curl {
	void		*lib;
	CURLcode	(*global_init)(long);
	void		(*global_cleanup)(void);
	CURL		*(*easy_init)(void);
	void		(*easy_reset)(CURL *);
	CURLcode	(*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode	(*easy_perform)(CURL *);
	CURLcode	(*easy_getinfo)(CURL *, CURLINFO, ...);
	void		(*easy_cleanup)(CURL *);
	const char	*(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void		(*slist_free_all)(struct curl_slist *);
};

/*
 * Load libcurl and fill the table; returns 0, or -1 with err set
 * (GB_EXIT_TEMP, HTTP status 500) and nothing held.
 */
int	gb_curl_load(struct gb_curl *, struct gb_err *);

/* Drop this reference to libcurl (after global_cleanup, if wanted). */
void	gb_curl_unload(struct gb_curl *);

#endif
