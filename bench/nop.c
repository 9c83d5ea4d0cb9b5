/*
 * nop - a program that does nothing, built several ways to price
 * process start: -static, dynamic (libc only), -DNOP_JANSSON,
 * -DNOP_CURL (linked with libcurl, Jansson and libsystemd, nothing
 * called at run time but a version query), -DNOP_CURLINIT (the same
 * plus curl_global_init, which is what any libcurl tool pays).
 * A benchmark helper, not part of the product.
 */
#if defined(NOP_CURL) || defined(NOP_CURLINIT)
#include <curl/curl.h>
#include <systemd/sd-daemon.h>
#define NOP_JANSSON
#endif
#ifdef NOP_JANSSON
#include <jansson.h>
#endif

int
main(void)
{
#ifdef NOP_JANSSON
	json_decref(json_integer(1));
#endif
#if defined(NOP_CURL) || defined(NOP_CURLINIT)
	if (curl_version() == 0 || sd_booted() < -1000)
		return 1;
#endif
#ifdef NOP_CURLINIT
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl_global_cleanup();
#endif
	return 0;
}
