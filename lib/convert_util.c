/*
 * convert_util.c - small pieces the conversions share: base64, model
 * names, and the JSON Schema cleaner for tool parameters and response
 * schemas.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
gb_b64_encode(const void *p, size_t n, size_t *outlen)
{
	const unsigned char *s = p;
	char *out, *d;
	size_t i, len;
	uint32_t v;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	len = (n + 2) / 3 * 4;
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	d = out;
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*d++ = b64chars[v >> 18 & 63];
		*d++ = b64chars[v >> 12 & 63];
		*d++ = b64chars[v >> 6 & 63];
		*d++ = b64chars[v & 63];
	}
	if (i < n) {
		v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		*d++ = b64chars[v >> 18 & 63];
		*d++ = b64chars[v >> 12 & 63];
		*d++ = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
		*d++ = '=';
	}
	*d = '\0';
	if (outlen != NULL)
		*outlen = len;
	return out;
}

/*
 * Standard alphabet; '=' only as the last one or two characters, and
 * then the length is a multiple of 4; unpadded data may not leave a
 * single dangling character. Empty data is not valid.
 */
static int
b64_char(unsigned char c)
{
	/* no table filled on first use: tools run as jobs in threads */
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int
gb_b64_valid(const char *s, size_t n)
{
	size_t i, pad = 0;

	if (n == 0)
		return 0;
	while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
		pad++;
	for (i = 0; i < n - pad; i++)
		if (!b64_char((unsigned char)s[i]))
			return 0;
	if (pad > 0)
		return n % 4 == 0 && n > pad;
	return n % 4 != 1;
}

char *
gb_convert_model_name(const char *where, const char *m, struct gb_err *err)
{
	const char *p;
	char *r;

	if (strncmp(m, "models/", 7) == 0)
		m += 7;
	if (strlen(m) > 200) {
		gb_err_set(err, GB_EXIT_USAGE, 400, "%s: model name too long",
		    where);
		return NULL;
	}
	if (*m == '\0') {
		gb_err_set(err, GB_EXIT_USAGE, 400, "%s: empty model name",
		    where);
		return NULL;
	}
	for (p = m; *p != '\0'; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '.' && *p != '-' &&
		    *p != '_') {
			gb_err_set(err, GB_EXIT_USAGE, 400,
			    "%s: model name has a character other than "
			    "letters, digits, '.', '-' and '_'", where);
			return NULL;
		}
	if ((r = strdup(m)) == NULL)
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	return r;
}

/* Keywords whose value is one schema, an array of them, or a map. */
static const char *const sub_one[] = {
	"items", "additionalProperties", "not", "contains", "if", "then",
	"else", "propertyNames", "additionalItems", "unevaluatedItems",
	"unevaluatedProperties", NULL
};
static const char *const sub_list[] = {
	"anyOf", "oneOf", "allOf", "prefixItems", "items", NULL
};
static const char *const sub_map[] = {
	"properties", "patternProperties", "$defs", "definitions",
	"dependentSchemas", NULL
};

static int
listed(const char *const *l, const char *k)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, k) == 0)
			return 1;
	return 0;
}

json_t *
gb_schema_clean(const json_t *s, const char *const *drop)
{
	const char *k, *mk;
	json_t *o, *v, *c, *mv;
	size_t i;

	if (!json_is_object(s))
		return json_deep_copy(s);
	if ((o = json_object()) == NULL)
		return NULL;
	json_object_foreach((json_t *)(uintptr_t)s, k, v) {
		if (listed(drop, k))
			continue;
		if (json_is_object(v) && listed(sub_map, k)) {
			c = json_object();
			json_object_foreach(v, mk, mv)
				json_object_set_new(c, mk,
				    gb_schema_clean(mv, drop));
		} else if (json_is_array(v) && listed(sub_list, k)) {
			c = json_array();
			json_array_foreach(v, i, mv)
				json_array_append_new(c,
				    gb_schema_clean(mv, drop));
		} else if (json_is_object(v) && listed(sub_one, k)) {
			c = gb_schema_clean(v, drop);
		} else
			c = json_deep_copy(v);
		if (c == NULL || json_object_set_new(o, k, c) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}
