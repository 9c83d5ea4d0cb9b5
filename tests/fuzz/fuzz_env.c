/*
 * fuzz_env.c - the .env parser and the list/boolean value parsers.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const char *names[] = {
		"API_KEYS", "ALLOWED_TOKENS", "MODEL_SEARCH", "SHOW_SEARCH_LINK",
		"A", "B"
	};
	struct gb_strlist l;
	struct gb_env *env;
	struct gb_err err;
	const char *v;
	size_t i;
	int b;

	if ((env = gb_env_parse((const char *)data, len, "fuzz", &err)) ==
	    NULL)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((v = gb_env_get(env, names[i])) == NULL)
			continue;
		if (gb_config_parse_list(names[i], v, &l, &err) == 0)
			gb_strlist_free(&l);
		(void)gb_config_parse_bool(names[i], v, &b, &err);
	}
	gb_env_close(env);
	return 0;
}
