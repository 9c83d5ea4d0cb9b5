/*
 * curlapi.c - libcurl through dlopen(3), see curlapi.h.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

#include "curlapi.h"

int
gb_curl_load(struct gb_curl *a, struct gb_err *err)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} sym[] = {
		{ "curl_global_init", offsetof(struct gb_curl, global_init) },
		{ "curl_global_cleanup",
		    offsetof(struct gb_curl, global_cleanup) },
		{ "curl_easy_init", offsetof(struct gb_curl, easy_init) },
		{ "curl_easy_reset", offsetof(struct gb_curl, easy_reset) },
		{ "curl_easy_setopt", offsetof(struct gb_curl, easy_setopt) },
		{ "curl_easy_perform",
		    offsetof(struct gb_curl, easy_perform) },
		{ "curl_easy_getinfo",
		    offsetof(struct gb_curl, easy_getinfo) },
		{ "curl_easy_cleanup",
		    offsetof(struct gb_curl, easy_cleanup) },
		{ "curl_easy_strerror",
		    offsetof(struct gb_curl, easy_strerror) },
		{ "curl_slist_append",
		    offsetof(struct gb_curl, slist_append) },
		{ "curl_slist_free_all",
		    offsetof(struct gb_curl, slist_free_all) },
	};
	const char *e;
	void *f;
	size_t i;

	memset(a, 0, sizeof(*a));
	if ((a->lib = dlopen(GB_CURL_LIB, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		return gb_err_set(err, GB_EXIT_TEMP, 500, "%s",
		    e != NULL ? e : GB_CURL_LIB ": cannot load");
	}
	for (i = 0; i < GB_NELEM(sym); i++) {
		if ((f = dlsym(a->lib, sym[i].name)) == NULL) {
			dlclose(a->lib);
			a->lib = NULL;
			return gb_err_set(err, GB_EXIT_TEMP, 500, "%s: no %s",
			    GB_CURL_LIB, sym[i].name);
		}
		/* POSIX guarantees a function pointer survives void * */
		memcpy((char *)a + sym[i].off, &f, sizeof(f));
	}
	return 0;
}

void
gb_curl_unload(struct gb_curl *a)
{
	if (a->lib != NULL)
		dlclose(a->lib);
	a->lib = NULL;
}
