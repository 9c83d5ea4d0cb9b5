/*
 * config.c - configuration from the environment and a .env file.
 *
 * The .env syntax is the one users of the original already have:
 * KEY=VALUE lines, an optional leading "export ", '#' comment lines,
 * values in single quotes (literal) or double quotes (with \n \t \" \\
 * escapes), and for unquoted values an inline comment after whitespace
 * ("KEY=v  # note") is dropped. The environment wins over the file,
 * unless its value is empty: an empty variable counts as unset, so that
 * a launcher passing a name it does not have (systemd-socket-activate
 * -E NAME) does not hide the file's value. A missing default ./.env is
 * fine; a missing ENV_FILE that was named explicitly is an error.
 *
 * The secrets (API_KEYS, ALLOWED_TOKENS, AUTH_TOKEN) come from more
 * places, first found wins: a systemd credential of that name
 * ($CREDENTIALS_DIRECTORY/NAME), the settings on the descriptor named by
 * GB_SECRETS_FD (where gb-serve moves them out of its environment, and
 * hands them to the children that need them), the environment, .env.
 * A tool reads only the secrets it needs (GB_CONFIG_NEED_*).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "redis.h"
#include "io.h"
#include "proxy.h"
#include "voice.h"

#define ENV_FILE_MAX	(1024 * 1024)
#define ENV_VARS_MAX	1024

/* the Gemini models known to draw in a chat */
#define IMAGE_MODELS_DEFAULT	"[\"gemini-2.0-flash-exp-image-generation\"," \
	"\"gemini-2.0-flash-preview-image-generation\"," \
	"\"gemini-2.5-flash-image\",\"gemini-2.5-flash-image-preview\"," \
	"\"gemini-3-pro-image-preview\",\"gemini-3.1-flash-image-preview\"]"

struct gb_env {
	char	*names[ENV_VARS_MAX];
	char	*values[ENV_VARS_MAX];
	size_t	 n;
};

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * Parse the value part of one line in place. Returns the value, or NULL
 * for an unterminated quote.
 */
static char *
env_value(char *v)
{
	char *s, *d, q;

	v = trim(v);
	if (*v != '"' && *v != '\'') {
		for (s = v; *s != '\0'; s++)
			if (*s == '#' && (s == v || s[-1] == ' ' || s[-1] == '\t')) {
				*s = '\0';
				break;
			}
		return trim(v);
	}
	q = *v++;
	for (s = d = v; *s != '\0' && *s != q; s++) {
		if (q == '"' && *s == '\\' && s[1] != '\0') {
			s++;
			switch (*s) {
			case 'n':
				*d++ = '\n';
				break;
			case 't':
				*d++ = '\t';
				break;
			case 'r':
				*d++ = '\r';
				break;
			default:
				*d++ = *s;
				break;
			}
		} else
			*d++ = *s;
	}
	if (*s != q)
		return NULL;
	*d = '\0';
	return v;
}

static int
env_parse(struct gb_env *env, char *text, const char *path,
    struct gb_err *err)
{
	char *line, *next, *eq, *name, *value;
	size_t lineno = 0, i;

	for (line = text; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		if (strncmp(line, "export ", 7) == 0)
			line = trim(line + 7);
		if ((eq = strchr(line, '=')) == NULL)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s:%zu: expected NAME=VALUE", path, lineno);
		*eq = '\0';
		name = trim(line);
		if (*name == '\0')
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s:%zu: empty variable name", path, lineno);
		if ((value = env_value(eq + 1)) == NULL)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s:%zu: %s: unterminated quote", path, lineno,
			    name);
		for (i = 0; i < env->n; i++)
			if (strcmp(env->names[i], name) == 0)
				break;
		if (i == env->n) {
			if (env->n == ENV_VARS_MAX)
				return gb_err_set(err, GB_EXIT_USAGE, 0,
				    "%s: more than %d variables", path,
				    ENV_VARS_MAX);
			env->names[i] = strdup(name);
			env->values[i] = NULL;
			env->n++;
		}
		free(env->values[i]);
		env->values[i] = strdup(value);
		if (env->names[i] == NULL || env->values[i] == NULL)
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "out of memory");
	}
	return 0;
}

/*
 * Parse .env text (len bytes, need not be NUL-terminated); name is what
 * error messages call it. A NUL byte in the text is an error: it would
 * silently cut the file short.
 */
struct gb_env *
gb_env_parse(const char *data, size_t len, const char *name,
    struct gb_err *err)
{
	struct gb_env *env;
	char *text;

	if (memchr(data, '\0', len) != NULL) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "%s: contains a NUL byte",
		    name);
		return NULL;
	}
	if ((env = calloc(1, sizeof(*env))) == NULL ||
	    (text = strndup(data, len)) == NULL) {
		free(env);
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		return NULL;
	}
	if (env_parse(env, text, name, err) == -1) {
		free(text);
		gb_env_close(env);
		return NULL;
	}
	free(text);
	return env;
}

struct gb_env *
gb_env_open(struct gb_err *err)
{
	struct gb_env *env;
	struct gb_buf b;
	const char *path;
	int named;

	path = getenv("ENV_FILE");
	named = path != NULL && *path != '\0';
	if (!named)
		path = ".env";
	gb_buf_init(&b, ENV_FILE_MAX);
	if (gb_io_readfile(path, &b) == -1) {
		if (errno == ENOENT && !named) {
			gb_buf_free(&b);
			if ((env = calloc(1, sizeof(*env))) == NULL)
				gb_err_set(err, GB_EXIT_TEMP, 0,
				    "out of memory");
			return env;
		}
		if (errno == E2BIG)
			gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s: larger than %d bytes", path, ENV_FILE_MAX);
		else
			gb_err_set(err, GB_EXIT_USAGE, 0, "%s: %s", path,
			    strerror(errno));
		gb_buf_free(&b);
		return NULL;
	}
	env = gb_env_parse(b.data != NULL ? b.data : "", b.len, path, err);
	gb_buf_free(&b);
	return env;
}

const char *
gb_env_get(const struct gb_env *env, const char *name)
{
	const char *v;
	size_t i;

	if ((v = getenv(name)) != NULL && *v != '\0')
		return v;
	if (env == NULL)
		return NULL;
	for (i = 0; i < env->n; i++)
		if (strcmp(env->names[i], name) == 0)
			return env->values[i];
	return v;
}

/* A variable of env alone (not the environment), or NULL. */
static const char *
env_own(const struct gb_env *env, const char *name)
{
	size_t i;

	if (env == NULL)
		return NULL;
	for (i = 0; i < env->n; i++)
		if (strcmp(env->names[i], name) == 0)
			return env->values[i];
	return NULL;
}

/*
 * The settings on the descriptor GB_SECRETS_FD names (.env syntax), read
 * from its start each time; *out NULL when there is none.
 */
static int
secrets_fd(struct gb_env **out, struct gb_err *err)
{
	const char *v, *es;
	struct gb_buf b;
	long long fd;
	ssize_t r;
	off_t off = 0;

	*out = NULL;
	if ((v = getenv(GB_SECRETS_FD)) == NULL || *v == '\0')
		return 0;
	if (gb_strtonum(v, 0, 1 << 20, &fd, &es) == -1)
		return gb_err_set(err, GB_EXIT_USAGE, 0, "%s: \"%s\" is %s",
		    GB_SECRETS_FD, v, es);
	gb_buf_init(&b, ENV_FILE_MAX);
	for (;;) {
		if (gb_buf_reserve(&b, 4096) == -1) {
			gb_buf_free(&b);
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s: larger than %d bytes", GB_SECRETS_FD,
			    ENV_FILE_MAX);
		}
		r = pread((int)fd, b.data + b.len, 4096, off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			gb_buf_free(&b);
			return gb_err_set(err, GB_EXIT_USAGE, errno,
			    "%s: descriptor %lld", GB_SECRETS_FD, fd);
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
		off += r;
	}
	*out = gb_env_parse(b.data != NULL ? b.data : "", b.len,
	    GB_SECRETS_FD, err);
	gb_buf_free(&b);
	return *out == NULL ? -1 : 0;
}

/*
 * A secret: the systemd credential NAME, else the GB_SECRETS_FD
 * settings, else the environment or .env. *out is NULL when none has
 * it, else to be freed.
 */
static int
secret_get(const struct gb_env *env, const struct gb_env *moved,
    const char *name, char **out, struct gb_err *err)
{
	const char *dir, *v;
	struct gb_buf b;
	char path[4096];

	*out = NULL;
	if ((dir = getenv("CREDENTIALS_DIRECTORY")) != NULL && *dir != '\0') {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		    sizeof(path))
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "CREDENTIALS_DIRECTORY: path too long");
		gb_buf_init(&b, ENV_FILE_MAX);
		if (gb_io_readfile(path, &b) == 0) {
			/* the file's final newlines are not the value's */
			while (b.len > 0 && (b.data[b.len - 1] == '\n' ||
			    b.data[b.len - 1] == '\r'))
				b.len--;
			if (b.len > 0 && memchr(b.data, '\0', b.len) != NULL) {
				gb_buf_free(&b);
				return gb_err_set(err, GB_EXIT_USAGE, 0,
				    "%s: contains a NUL byte", path);
			}
			*out = strndup(b.len > 0 ? b.data : "", b.len);
			gb_buf_free(&b);
			if (*out == NULL)
				return gb_err_set(err, GB_EXIT_TEMP, 0,
				    "out of memory");
			return 0;
		}
		if (errno != ENOENT) {
			gb_err_set(err, GB_EXIT_USAGE, 0, "%s: %s", path,
			    errno == E2BIG ? "too large" : strerror(errno));
			gb_buf_free(&b);
			return -1;
		}
		gb_buf_free(&b);
	}
	if ((v = env_own(moved, name)) == NULL || *v == '\0')
		v = gb_env_get(env, name);
	if (v != NULL && (*out = strdup(v)) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	return 0;
}

/* secret_get(), an empty value taken as none (NULL). */
static int
secret_str(const struct gb_env *env, const struct gb_env *moved,
    const char *name, char **out, struct gb_err *err)
{
	if (secret_get(env, moved, name, out, err) == -1)
		return -1;
	if (*out != NULL && **out == '\0') {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* One value in double quotes, as env_value() reads it back. */
static int
put_quoted(struct gb_buf *b, const char *v)
{
	char e[2] = { '\\', 0 };

	if (gb_buf_append(b, "\"", 1) == -1)
		return -1;
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '\n':
			e[1] = 'n';
			break;
		case '\r':
			e[1] = 'r';
			break;
		case '"':
		case '\\':
			e[1] = *v;
			break;
		default:
			if (gb_buf_append(b, v, 1) == -1)
				return -1;
			continue;
		}
		if (gb_buf_append(b, e, 2) == -1)
			return -1;
	}
	return gb_buf_append(b, "\"\n", 2);
}

int
gb_env_memfd(const char *const *names, const char *const *values, size_t n)
{
	struct gb_buf b;
	size_t i;
	int fd, e;

	gb_buf_init(&b, ENV_FILE_MAX);
	for (i = 0; i < n; i++) {
		if (values[i] == NULL)
			continue;
		if (gb_buf_append(&b, names[i], strlen(names[i])) == -1 ||
		    gb_buf_append(&b, "=", 1) == -1 ||
		    put_quoted(&b, values[i]) == -1) {
			gb_buf_free(&b);
			errno = E2BIG;
			return -1;
		}
	}
	if ((fd = memfd_create("gb-secrets", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1) {
		e = errno;
		gb_buf_free(&b);
		errno = e;
		return -1;
	}
	if (gb_io_writeall(fd, b.data != NULL ? b.data : "", b.len) == -1) {
		e = errno;
		gb_buf_free(&b);
		close(fd);
		errno = e;
		return -1;
	}
	/* what was written stays what it is */
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	    F_SEAL_SEAL);
	gb_buf_free(&b);
	return fd;
}

void
gb_env_close(struct gb_env *env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; i < env->n; i++) {
		free(env->names[i]);
		free(env->values[i]);
	}
	free(env);
}

void
gb_strlist_free(struct gb_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
gb_strlist_has(const struct gb_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

static int
strlist_add(struct gb_strlist *l, const char *s, size_t n)
{
	char **v;

	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL)
		return -1;
	l->v = v;
	if ((l->v[l->n] = strndup(s, n)) == NULL)
		return -1;
	l->n++;
	return 0;
}

/*
 * A list is either a JSON array of strings (the original's form) or a
 * comma list; items are trimmed and empty items dropped.
 */
int
gb_config_parse_list(const char *name, const char *s, struct gb_strlist *out,
    struct gb_err *err)
{
	json_error_t jerr;
	json_t *a, *v;
	const char *p, *e, *b;
	size_t i;

	out->v = NULL;
	out->n = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[') {
		if ((a = json_loads(s, 0, &jerr)) == NULL)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s: not a JSON list of strings: %s", name,
			    jerr.text);
		if (!json_is_array(a)) {
			json_decref(a);
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s: not a JSON list of strings", name);
		}
		json_array_foreach(a, i, v) {
			if (!json_is_string(v)) {
				json_decref(a);
				gb_strlist_free(out);
				return gb_err_set(err, GB_EXIT_USAGE, 0,
				    "%s: item %zu is not a string", name, i);
			}
			if (json_string_length(v) == 0)
				continue;
			if (strlist_add(out, json_string_value(v),
			    json_string_length(v)) == -1) {
				json_decref(a);
				gb_strlist_free(out);
				return gb_err_set(err, GB_EXIT_TEMP, 0,
				    "out of memory");
			}
		}
		json_decref(a);
		return 0;
	}
	for (p = s; ; p = e + 1) {
		const char *end;

		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		for (b = p; b < e && isspace((unsigned char)*b); b++)
			;
		for (end = e; end > b && isspace((unsigned char)end[-1]);
		    end--)
			;
		if (end > b && strlist_add(out, b, (size_t)(end - b)) == -1) {
			gb_strlist_free(out);
			return gb_err_set(err, GB_EXIT_TEMP, 0,
			    "out of memory");
		}
		if (*e == '\0')
			break;
	}
	return 0;
}

int
gb_config_parse_bool(const char *name, const char *s, int *out,
    struct gb_err *err)
{
	static const char *yes[] = { "1", "on", "t", "true", "y", "yes" };
	static const char *no[] = { "0", "off", "f", "false", "n", "no" };
	size_t i;

	for (i = 0; i < GB_NELEM(yes); i++)
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
	for (i = 0; i < GB_NELEM(no); i++)
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	return gb_err_set(err, GB_EXIT_USAGE, 0,
	    "%s: not a boolean: \"%s\" (use true or false)", name, s);
}

static int
get_bool(const struct gb_env *env, const char *name, int def, int *out,
    struct gb_err *err)
{
	const char *v = gb_env_get(env, name);

	if (v == NULL || *v == '\0') {
		*out = def;
		return 0;
	}
	return gb_config_parse_bool(name, v, out, err);
}

static int
get_num(const struct gb_env *env, const char *name, long long def,
    long long min, long long max, long long *out, struct gb_err *err)
{
	const char *v = gb_env_get(env, name), *es;

	if (v == NULL || *v == '\0') {
		*out = def;
		return 0;
	}
	if (gb_strtonum(v, min, max, out, &es) == -1)
		return gb_err_set(err, GB_EXIT_USAGE, 0,
		    "%s: \"%s\" is %s (allowed %lld to %lld)", name, v, es,
		    min, max);
	return 0;
}

static int
get_str(const struct gb_env *env, const char *name, const char *def,
    char **out, struct gb_err *err)
{
	const char *v = gb_env_get(env, name);

	if (v == NULL || *v == '\0')
		v = def;
	if (v == NULL) {
		*out = NULL;
		return 0;
	}
	if ((*out = strdup(v)) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	return 0;
}

static int
list_of(const char *name, const char *v, const char *def, int required,
    struct gb_strlist *out, struct gb_err *err)
{
	if (v == NULL || *v == '\0') {
		if (required)
			return gb_err_set(err, GB_EXIT_USAGE, 0,
			    "%s is not set (in the environment or %s)", name,
			    getenv("ENV_FILE") ? getenv("ENV_FILE") : ".env");
		v = def;
	}
	if (gb_config_parse_list(name, v, out, err) == -1)
		return -1;
	if (required && out->n == 0)
		return gb_err_set(err, GB_EXIT_USAGE, 0, "%s is empty", name);
	return 0;
}

static int
get_list(const struct gb_env *env, const char *name, const char *def,
    int required, struct gb_strlist *out, struct gb_err *err)
{
	return list_of(name, gb_env_get(env, name), def, required, out, err);
}

/*
 * The secrets a tool needs (need: GB_CONFIG_NEED_*), and the settings
 * whose URLs may hold a password (KEY_STATE, PROXY, PROXIES), from the
 * places secret_get() looks in; the others stay unread.
 */
static int
get_secrets(struct gb_config *c, const struct gb_env *env, unsigned need,
    struct gb_err *err)
{
	struct gb_env *moved;
	char *v = NULL;
	int rc = -1;

	if (secrets_fd(&moved, err) == -1)
		return -1;
	/* URLs that may hold a password: secrets, needed or not */
	if (secret_str(env, moved, "KEY_STATE", &c->key_state, err) == -1 ||
	    secret_str(env, moved, "PROXY", &c->proxy, err) == -1 ||
	    secret_get(env, moved, "PROXIES", &v, err) == -1 ||
	    list_of("PROXIES", v, "", 0, &c->proxies, err) == -1)
		goto out;
	free(v);
	v = NULL;
	if ((need & GB_CONFIG_NEED_KEYS) != 0) {
		if (secret_get(env, moved, "API_KEYS", &v, err) == -1 ||
		    list_of("API_KEYS", v, "", 1, &c->api_keys, err) == -1)
			goto out;
		free(v);
		v = NULL;
	}
	if ((need & GB_CONFIG_NEED_TOKENS) != 0) {
		if (secret_get(env, moved, "ALLOWED_TOKENS", &v, err) == -1 ||
		    list_of("ALLOWED_TOKENS", v, "", 1, &c->allowed_tokens,
		    err) == -1)
			goto out;
		free(v);
		v = NULL;
		if (secret_get(env, moved, "AUTH_TOKEN", &v, err) == -1)
			goto out;
		if (v == NULL || *v == '\0') {
			free(v);
			v = strdup(c->allowed_tokens.v[0]);
		}
		if ((c->auth_token = v) == NULL) {
			gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
			goto out;
		}
		v = NULL;
	}
	rc = 0;
out:
	free(v);
	gb_env_close(moved);
	return rc;
}

int
gb_config_load(struct gb_config *c, unsigned need, struct gb_err *err)
{
	struct gb_env *env;
	long long n;
	const char *lv;
	char *colon, shown[GB_PROXY_SHOWN];
	size_t len, i;

	memset(c, 0, sizeof(*c));
	if ((env = gb_env_open(err)) == NULL)
		return -1;
	if (get_secrets(c, env, need, err) == -1 ||
	    get_list(env, "MODEL_SEARCH", "[\"gemini-2.0-flash-exp\"]", 0,
	    &c->model_search, err) == -1 ||
	    get_str(env, "BASE_URL",
	    "https://generativelanguage.googleapis.com/v1beta", &c->base_url,
	    err) == -1 ||
	    get_bool(env, "PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY", 1,
	    &c->proxies_hash, err) == -1 ||
	    get_str(env, "STATE_DIRECTORY", "./state", &c->state_dir,
	    err) == -1 ||
	    get_bool(env, "TOOLS_CODE_EXECUTION_ENABLED", 0,
	    &c->code_execution, err) == -1 ||
	    get_bool(env, "SHOW_SEARCH_LINK", 1, &c->show_search_link,
	    err) == -1 ||
	    get_bool(env, "SHOW_THINKING_PROCESS", 1, &c->show_thinking,
	    err) == -1)
		goto fail;
	/* models that answer chats with images */
	if (get_list(env, "IMAGE_MODELS", IMAGE_MODELS_DEFAULT, 0,
	    &c->image_models, err) == -1)
		goto fail;
	/* downloads of client URLs: which internal networks they reach */
	if (gb_netlist_parse("FETCH_ALLOW_PRIVATE",
	    gb_env_get(env, "FETCH_ALLOW_PRIVATE"), &c->fetch_allow,
	    err) == -1)
		goto fail;
	if (get_num(env, "MAX_FAILURES", 3, 1, 1000000, &n, err) == -1)
		goto fail;
	c->max_failures = (long)n;
	if (get_num(env, "MAX_RETRIES", 3, 1, 100, &n, err) == -1)
		goto fail;
	c->max_retries = (long)n;
	if (get_num(env, "KEY_COOLDOWN", 60, 0, 86400 * 7, &n, err) == -1)
		goto fail;
	c->key_cooldown = (long)n;
	if (get_num(env, "TIMEOUT", 300, 1, 86400, &n, err) == -1)
		goto fail;
	c->timeout = (long)n;
	if (get_num(env, "MAX_BODY", 33554432, 1024, 1LL << 32, &n,
	    err) == -1)
		goto fail;
	c->max_body = n;

	/* images: the model drawing for OpenAI's model names */
	if (get_str(env, "IMAGE_MODEL", GB_IMAGE_MODEL,
	    &c->image_model, err) == -1)
		goto fail;
	if (strlen(c->image_model) > 200 || strspn(c->image_model,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != strlen(c->image_model)) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "IMAGE_MODEL: \"%s\" is not "
		    "a model name", c->image_model);
		goto fail;
	}

	/* systemd may pass several directories, colon-separated */
	if ((colon = strchr(c->state_dir, ':')) != NULL)
		*colon = '\0';
	len = strlen(c->base_url);
	while (len > 1 && c->base_url[len - 1] == '/')
		c->base_url[--len] = '\0';
	if (strncmp(c->base_url, "http://", 7) != 0 &&
	    strncmp(c->base_url, "https://", 8) != 0) {
		gb_err_set(err, GB_EXIT_USAGE, 0,
		    "BASE_URL: \"%s\" is not an http(s) URL", c->base_url);
		goto fail;
	}

	for (i = 0; i < c->proxies.n; i++)
		if (!gb_proxy_valid(c->proxies.v[i])) {
			gb_err_set(err, GB_EXIT_USAGE, 0, "PROXIES: \"%s\" is "
			    "not an http://, https://, socks5:// or socks5h:// "
			    "URL", gb_proxy_show(c->proxies.v[i], shown,
			    sizeof(shown)));
			goto fail;
		}

	/* KEY_STATE: "file" (the default) or a Redis URL */
	if (c->key_state != NULL) {
		struct gb_redis_url ru;
		int rc = gb_redis_url_parse(c->key_state, &ru, err);

		explicit_bzero(&ru, sizeof(ru));
		if (rc == -1)
			goto fail;
		if (rc == 1) {
			free(c->key_state);
			c->key_state = NULL;
		}
	}

	lv = gb_env_get(env, "LOG_LEVEL");
	if (lv == NULL || *lv == '\0' || strcasecmp(lv, "info") == 0)
		c->log_level = GB_LOG_INFO;
	else if (strcasecmp(lv, "error") == 0)
		c->log_level = GB_LOG_ERROR;
	else if (strcasecmp(lv, "warn") == 0 || strcasecmp(lv, "warning") == 0)
		c->log_level = GB_LOG_WARN;
	else if (strcasecmp(lv, "debug") == 0)
		c->log_level = GB_LOG_DEBUG;
	else {
		gb_err_set(err, GB_EXIT_USAGE, 0,
		    "LOG_LEVEL: \"%s\" is not one of error, warn, info, debug",
		    lv);
		goto fail;
	}
	/* gb-serve: /metrics on an address of its own, host:port */
	if (get_str(env, "METRICS_LISTEN", NULL, &c->metrics_listen,
	    err) == -1)
		goto fail;
	if (c->metrics_listen != NULL &&
	    strrchr(c->metrics_listen, ':') == NULL) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "METRICS_LISTEN: \"%.64s\" "
		    "is not host:port", c->metrics_listen);
		goto fail;
	}
	/* speech: a model name and a voice /v1/audio/speech accepts */
	if (get_str(env, "TTS_MODEL", "gemini-2.5-flash-preview-tts",
	    &c->tts_model, err) == -1 ||
	    get_str(env, "TTS_VOICE", "Zephyr", &c->tts_voice, err) == -1)
		goto fail;
	if (strspn(c->tts_model, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	    strlen(c->tts_model) || strlen(c->tts_model) > 200) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "TTS_MODEL: \"%.64s\" is "
		    "not a model name", c->tts_model);
		goto fail;
	}
	if ((lv = gb_voice_find(c->tts_voice)) == NULL) {
		gb_err_set(err, GB_EXIT_USAGE, 0, "TTS_VOICE: \"%.64s\" is "
		    "neither a Gemini voice nor an OpenAI one",
		    c->tts_voice);
		goto fail;
	}
	free(c->tts_voice);
	if ((c->tts_voice = strdup(lv)) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
		goto fail;
	}
	gb_env_close(env);
	return 0;
fail:
	gb_env_close(env);
	gb_config_free(c);
	return -1;
}

const char *
gb_log_prio(enum gb_loglevel l)
{
	static const char *const prio[] = { "<3>", "<4>", "<6>", "<7>" };
	unsigned long long dev, ino;
	const char *js;
	struct stat st;

	if ((js = getenv("JOURNAL_STREAM")) == NULL ||
	    sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1 ||
	    (unsigned long long)st.st_dev != dev ||
	    (unsigned long long)st.st_ino != ino)
		return "";
	return (unsigned)l < GB_NELEM(prio) ? prio[l] : "";
}

void
gb_config_free(struct gb_config *c)
{
	gb_strlist_free(&c->api_keys);
	gb_strlist_free(&c->allowed_tokens);
	gb_strlist_free(&c->model_search);
	free(c->auth_token);
	free(c->base_url);
	free(c->proxy);
	gb_strlist_free(&c->proxies);
	gb_strlist_free(&c->image_models);
	free(c->state_dir);
	free(c->key_state);
	free(c->tts_model);
	free(c->tts_voice);
	free(c->image_model);
	gb_netlist_free(&c->fetch_allow);
	free(c->metrics_listen);
	memset(c, 0, sizeof(*c));
}
