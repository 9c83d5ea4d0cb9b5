/*
 * config.h - the configuration every tool reads: the process environment
 * first, then a .env file (ENV_FILE, default ./.env) for what the
 * environment does not set (or sets empty); the secrets also from
 * systemd credentials and a descriptor (config.c). Names and defaults:
 * gemini-balance(7).
 */
#ifndef GB_CONFIG_H
#define GB_CONFIG_H

#include "gb.h"
#include "netaddr.h"

struct gb_strlist {
	char	**v;
	size_t	  n;
};

enum gb_loglevel {
	GB_LOG_ERROR,
	GB_LOG_WARN,
	GB_LOG_INFO,
	GB_LOG_DEBUG
};

/*
 * The prefix a log line of that level starts with: "<3>" error, "<4>"
 * warning, "<6>" info, "<7>" debug when standard error is the journal
 * ($JOURNAL_STREAM names its device and inode, sd-daemon(3)), else "".
 */
const char	*gb_log_prio(enum gb_loglevel);

struct gb_config {
	struct gb_strlist api_keys;		/* API_KEYS */
	struct gb_strlist allowed_tokens;	/* ALLOWED_TOKENS */
	struct gb_strlist model_search;		/* MODEL_SEARCH */
	char	*auth_token;			/* AUTH_TOKEN, or first token */
	char	*base_url;			/* BASE_URL, no trailing '/' */
	char	*proxy;				/* PROXY, or NULL */
	struct gb_strlist proxies;		/* PROXIES (wins over PROXY) */
	int	 proxies_hash;			/* PROXIES_USE_CONSISTENCY_
						   HASH_BY_API_KEY */
	char	*state_dir;			/* STATE_DIRECTORY (first entry) */
	char	*key_state;			/* KEY_STATE, or NULL: file */
	int	 code_execution;		/* TOOLS_CODE_EXECUTION_ENABLED */
	int	 show_search_link;		/* SHOW_SEARCH_LINK */
	int	 show_thinking;			/* SHOW_THINKING_PROCESS */
	long	 max_failures;			/* MAX_FAILURES */
	long	 max_retries;			/* MAX_RETRIES */
	long	 key_cooldown;			/* KEY_COOLDOWN, seconds */
	long	 timeout;			/* TIMEOUT, seconds */
	long long max_body;			/* MAX_BODY, bytes */
	enum gb_loglevel log_level;		/* LOG_LEVEL */
	char	*tts_model;			/* TTS_MODEL */
	char	*tts_voice;			/* TTS_VOICE, as Gemini's name */
	char	*image_model;			/* IMAGE_MODEL */
#define GB_IMAGE_MODEL	"imagen-4.0-generate-001"	/* its default */
	/* chats whose answers may hold images */
	struct gb_strlist image_models;		/* IMAGE_MODELS */
	/* internal networks image downloads may reach */
	struct gb_netlist fetch_allow;		/* FETCH_ALLOW_PRIVATE */
	char	*metrics_listen;		/* METRICS_LISTEN, or NULL */
};

/* What a tool insists on; the rest falls back to defaults. */
#define GB_CONFIG_NEED_KEYS	0x1	/* API_KEYS must be set, non-empty */
#define GB_CONFIG_NEED_TOKENS	0x2	/* ALLOWED_TOKENS must be set */

/*
 * The secrets: read from $CREDENTIALS_DIRECTORY/NAME first, then from
 * the descriptor named by the variable GB_SECRETS_FD, then as any other
 * setting; a process that holds them only in memory hands them on that
 * way (gb_env_memfd) rather than in the environment.
 */
#define GB_SECRET_NAMES	{ "API_KEYS", "ALLOWED_TOKENS", "AUTH_TOKEN", \
			  "KEY_STATE", "PROXY", "PROXIES" }
#define GB_NSECRETS	6
#define GB_SECRETS_FD	"GB_SECRETS_FD"

int	 gb_config_load(struct gb_config *, unsigned, struct gb_err *);
void	 gb_config_free(struct gb_config *);

/*
 * Lower-level pieces, exposed for tools and tests: look a variable up
 * (environment, then the .env file given), parse a list (JSON array or
 * comma list), a boolean (1/on/t/true/y/yes, 0/off/f/false/n/no).
 */
struct gb_env;
struct gb_env	*gb_env_open(struct gb_err *);
struct gb_env	*gb_env_parse(const char *, size_t, const char *,
		    struct gb_err *);
const char	*gb_env_get(const struct gb_env *, const char *);
void		 gb_env_close(struct gb_env *);
/*
 * A sealed memfd (close-on-exec) holding NAME="VALUE" lines for the
 * names whose value is not NULL, as gb_env_parse reads them: the
 * descriptor, or -1 with errno.
 */
int		 gb_env_memfd(const char *const *, const char *const *,
		    size_t);
int	 gb_config_parse_list(const char *, const char *, struct gb_strlist *,
	    struct gb_err *);
int	 gb_config_parse_bool(const char *, const char *, int *,
	    struct gb_err *);
int	 gb_strlist_has(const struct gb_strlist *, const char *);
void	 gb_strlist_free(struct gb_strlist *);

#endif
