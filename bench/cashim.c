/*
 * cashim - LD_PRELOAD shim that makes every libcurl easy handle trust the
 * CA file named by $BENCH_CAINFO (CURLOPT_CAINFO), for the TLS variant of
 * the benchmark only.
 *
 * libcurl as Debian builds it ignores SSL_CERT_FILE and CURL_CA_BUNDLE
 * (see bench/RESULTS.md), and gb-call has no option of its own yet, so
 * without this the bench's self-signed upstream cannot be reached. Once
 * gb-call can be pointed at a CA, run.sh stops needing this file.
 * Build: cc -shared -fPIC -o cashim.so cashim.c -ldl
 * A benchmark helper, not part of the product.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#include <curl/curl.h>

static void
trust(CURL *h)
{
	const char *ca = getenv("BENCH_CAINFO");

	if (h != NULL && ca != NULL && *ca != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
}

CURL *
curl_easy_init(void)
{
	CURL *(*real)(void) = (CURL *(*)(void))dlsym(RTLD_NEXT,
	    "curl_easy_init");
	CURL *h;

	if (real == NULL)
		return NULL;
	h = real();
	trust(h);
	return h;
}

void
curl_easy_reset(CURL *h)
{
	void (*real)(CURL *) = (void (*)(CURL *))dlsym(RTLD_NEXT,
	    "curl_easy_reset");

	if (real != NULL)
		real(h);
	trust(h);
}
