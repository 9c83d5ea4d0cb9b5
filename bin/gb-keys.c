/*
 * gb-keys - look at and change the key rotation state (gb-keys(1)).
 *
 * The state itself is lib/keys.c; this file parses the command line,
 * prints tables and JSON, and does the upstream calls of "check".
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "curlapi.h"
#include "gb.h"
#include "keyhist.h"
#include "keys.h"
#include "mask.h"
#include "proxy.h"

#define CHECK_BODY_MAX	(64 * 1024)

/*
 * libcurl is loaded with dlopen(3) by "check" alone (lib/curlapi.h):
 * linking it costs every other command about 3.4 ms of dynamic loading
 * at start (libcurl pulls in TLS, LDAP, Kerberos...), several times the
 * work of "next".
 */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: gb-keys [-w seconds] [-m model] next\n"
	    "       gb-keys [-w seconds] ok key\n"
	    "       gb-keys [-w seconds] fail key [status [reason]]\n"
	    "       gb-keys [-w seconds] [-m model] cool key [seconds | day]\n"
	    "       gb-keys [-w seconds] list [--json]\n"
	    "       gb-keys [-w seconds] reset [key]\n"
	    "       gb-keys [-w seconds] check\n");
	exit(GB_EXIT_USAGE);
}

/*
 * A diagnostic: "gb-keys: ..." on stderr, with its journal priority when
 * stderr is the journal (gb-keys check runs as a unit of its own).
 */
static void __attribute__((format(printf, 2, 3)))
say(enum gb_loglevel l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%sgb-keys: ", gb_log_prio(l));
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int
fail(const struct gb_err *e)
{
	say(GB_LOG_ERROR, "%s", e->msg);
	return e->code ? e->code : GB_EXIT_TEMP;
}

static void
isotime(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "-");
}

/* Display width of a UTF-8 string (the masks carry an ellipsis). */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

#define NCOL	11

/* "model N s, model N s" for the models key i cools for, or "-". */
static void
cooling_for(struct gb_keys *k, size_t i, time_t now, char *out,
    size_t outsz)
{
	const struct gb_key_cool *kc;
	size_t j, nc, o = 0;
	int r;

	kc = gb_keys_cools(k, i, &nc);
	out[0] = '\0';
	for (j = 0; j < nc && o < outsz; j++) {
		if (kc[j].until <= now)
			continue;
		r = snprintf(out + o, outsz - o, "%s%s %lld s",
		    o > 0 ? ", " : "", kc[j].model,
		    (long long)(kc[j].until - now));
		if (r < 0 || (size_t)r >= outsz - o) {
			/* cut at a whole entry */
			out[o] = '\0';
			if (o + 5 < outsz)
				snprintf(out + o, outsz - o, ", ...");
			break;
		}
		o += (size_t)r;
	}
	if (out[0] == '\0')
		snprintf(out, outsz, "-");
}

/* A span of a key's recent history: "uses/failures/429s". */
static void
recent(const struct gb_keyhist_sums *s, enum gb_keyhist_span sp, char *out,
    size_t outsz)
{
	snprintf(out, outsz, "%llu/%llu/%llu", s->n[sp][GB_KH_USE],
	    s->n[sp][GB_KH_FAIL], s->n[sp][GB_KH_429]);
}

static int
cmd_list_text(struct gb_keys *k, struct gb_keyhist *hist, time_t now)
{
	static const char *head[NCOL] = { "INDEX", "KEY", "STATE",
	    "COOLING FOR", "FAILS", "USES", "1M", "1H", "24H", "LAST ERROR",
	    "WHEN" };
	const char *cell[NCOL];
	char buf[NCOL][512], m[GB_MASK_SIZE];
	struct gb_keyhist_sums sums;
	const struct gb_key_info *st;
	size_t n = gb_keys_count(k), i, c, w[NCOL], pass, pad;
	enum gb_key_state s;

	for (c = 0; c < NCOL; c++)
		w[c] = strlen(head[c]);
	/* pass 0 measures the columns, pass 1 prints */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i <= n; i++) {
			if (i == 0) {
				for (c = 0; c < NCOL; c++)
					cell[c] = head[c];
			} else {
				st = gb_keys_info(k, i - 1);
				s = gb_keys_state(st, now);
				for (c = 0; c < NCOL; c++)
					cell[c] = buf[c];
				snprintf(buf[0], sizeof(buf[0]), "%zu", i - 1);
				snprintf(buf[1], sizeof(buf[1]), "%s",
				    gb_mask(gb_keys_key(k, i - 1), m,
				    sizeof(m)));
				if (s == GB_KEY_COOLING)
					snprintf(buf[2], sizeof(buf[2]),
					    "cooling %lld s",
					    (long long)(st->until - now));
				else
					snprintf(buf[2], sizeof(buf[2]), "%s",
					    gb_keys_state_name(s));
				cooling_for(k, i - 1, now, buf[3],
				    sizeof(buf[3]));
				snprintf(buf[4], sizeof(buf[4]), "%ld/%llu",
				    st->consec, st->fails);
				snprintf(buf[5], sizeof(buf[5]), "%llu",
				    st->uses);
				gb_keyhist_get(hist, i - 1,
				    gb_keys_id(k, i - 1), now, &sums);
				recent(&sums, GB_KH_MINUTE, buf[6],
				    sizeof(buf[6]));
				recent(&sums, GB_KH_HOUR, buf[7],
				    sizeof(buf[7]));
				recent(&sums, GB_KH_DAY, buf[8],
				    sizeof(buf[8]));
				if (st->last_error > 0 && st->status > 0)
					snprintf(buf[9], sizeof(buf[9]),
					    "%d %s", st->status,
					    st->reason[0] ? st->reason : "-");
				else if (st->last_error > 0)
					snprintf(buf[9], sizeof(buf[9]),
					    "- %s",
					    st->reason[0] ? st->reason : "-");
				else
					snprintf(buf[9], sizeof(buf[9]), "-");
				isotime(st->last_error, buf[10],
				    sizeof(buf[10]));
			}
			for (c = 0; c < NCOL; c++) {
				if (pass == 0) {
					if (width(cell[c]) > w[c])
						w[c] = width(cell[c]);
					continue;
				}
				fputs(cell[c], stdout);
				if (c == NCOL - 1) {
					putchar('\n');
					break;
				}
				for (pad = width(cell[c]); pad < w[c] + 2;
				    pad++)
					putchar(' ');
			}
		}
	}
	return GB_EXIT_OK;
}

static int
cmd_list_json(struct gb_keys *k, struct gb_keyhist *hist, time_t now)
{
	json_t *root;

	if ((root = gb_keys_list_json(k, now)) == NULL ||
	    gb_keyhist_annotate(hist, root, now) == -1) {
		json_decref(root);
		say(GB_LOG_ERROR, "out of memory");
		return GB_EXIT_TEMP;
	}
	/* a write error shows in ferror(stdout), checked by main() */
	json_dumpf(root, stdout, JSON_COMPACT);
	json_decref(root);
	putchar('\n');
	return GB_EXIT_OK;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct gb_buf *b = arg;

	(void)size;
	if (gb_buf_append(b, p, nmemb) == -1)
		return 0;
	return nmemb;
}

/*
 * The short reason of a Gemini error body: the first details[].reason
 * (API_KEY_INVALID), else error.status (PERMISSION_DENIED), else "-".
 */
static void
error_reason(const struct gb_buf *b, char *out, size_t outsz)
{
	json_t *root, *e, *d, *v;
	size_t i;

	snprintf(out, outsz, "-");
	if ((root = json_loadb(b->data ? b->data : "", b->len, 0, NULL)) ==
	    NULL)
		return;
	e = json_object_get(root, "error");
	json_array_foreach(json_object_get(e, "details"), i, d)
		if (json_is_string(v = json_object_get(d, "reason"))) {
			snprintf(out, outsz, "%s", json_string_value(v));
			json_decref(root);
			return;
		}
	if (json_is_string(v = json_object_get(e, "status")))
		snprintf(out, outsz, "%s", json_string_value(v));
	json_decref(root);
}

/*
 * Ask upstream for one model with each invalid or cooling key; a key
 * that answers 200 is revived, any other answer is remembered as its
 * last error. Exit 111 if some key could not be checked at all.
 */
static int
cmd_check(struct gb_keys *k, const struct gb_config *cfg)
{
	char url[2048], hdr[1024], m[GB_MASK_SIZE], reason[128];
	char ebuf[CURL_ERROR_SIZE];
	const struct gb_key_info *st;
	struct curl_slist *h;
	struct gb_err err;
	struct gb_buf body;
	CURL *c;
	CURLcode cc;
	enum gb_key_state s;
	size_t i, n = gb_keys_count(k);
	long status;
	time_t now = time(NULL);
	int rc = GB_EXIT_OK;
	unsigned char *todo;
	struct gb_curl api;
	const char *proxy;

	if (gb_keys_load(k, &err) == -1)
		return fail(&err);
	if ((todo = calloc(n, 1)) == NULL) {
		say(GB_LOG_ERROR, "out of memory");
		return GB_EXIT_TEMP;
	}
	for (i = 0; i < n; i++)
		todo[i] = gb_keys_state(gb_keys_info(k, i), now) !=
		    GB_KEY_ACTIVE;
	if (snprintf(url, sizeof(url), "%s/models?pageSize=1",
	    cfg->base_url) >= (int)sizeof(url)) {
		free(todo);
		say(GB_LOG_ERROR, "BASE_URL too long");
		return GB_EXIT_USAGE;
	}
	if (gb_curl_load(&api, &err) == -1) {
		free(todo);
		return fail(&err);
	}
	if (api.global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (c = api.easy_init()) == NULL) {
		free(todo);
		gb_curl_unload(&api);
		say(GB_LOG_ERROR, "cannot initialise libcurl");
		return GB_EXIT_TEMP;
	}
	for (i = 0; i < n; i++) {
		if (!todo[i])
			continue;
		gb_mask(gb_keys_key(k, i), m, sizeof(m));
		gb_buf_init(&body, CHECK_BODY_MAX);
		snprintf(hdr, sizeof(hdr), "x-goog-api-key: %s",
		    gb_keys_key(k, i));
		h = api.slist_append(NULL, hdr);
		explicit_bzero(hdr, sizeof(hdr));
		api.easy_reset(c);
		ebuf[0] = '\0';
		api.easy_setopt(c, CURLOPT_URL, url);
		api.easy_setopt(c, CURLOPT_HTTPHEADER, h);
		api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		api.easy_setopt(c, CURLOPT_TIMEOUT, cfg->timeout);
		api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
		    cfg->timeout < 10 ? cfg->timeout : 10L);
		api.easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
		api.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		api.easy_setopt(c, CURLOPT_WRITEDATA, &body);
		/* the key's own egress, as gb-call would take it */
		if ((proxy = gb_proxy_pick(cfg, gb_keys_key(k, i), i)) != NULL)
			api.easy_setopt(c, CURLOPT_PROXY, proxy);
		cc = h == NULL ? CURLE_OUT_OF_MEMORY : api.easy_perform(c);
		api.slist_free_all(h);
		status = 0;
		api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR &&
		    status != 0)) {
			printf("%zu %s unreachable (%s)\n", i, m,
			    ebuf[0] != '\0' ? ebuf : api.easy_strerror(cc));
			rc = GB_EXIT_TEMP;
		} else if (status == 200) {
			if (gb_keys_record(k, i, GB_KEY_REVIVE, 0, 0, NULL,
			    &err) == -1)
				rc = fail(&err);
			else
				printf("%zu %s revived\n", i, m);
		} else {
			error_reason(&body, reason, sizeof(reason));
			if (gb_keys_record(k, i, GB_KEY_NOTE, 0, (int)status,
			    reason, &err) == -1)
				rc = fail(&err);
			else {
				st = gb_keys_info(k, i);
				s = gb_keys_state(st, time(NULL));
				printf("%zu %s still %s (%ld %s)\n", i, m,
				    gb_keys_state_name(s), status, st->reason);
			}
		}
		gb_buf_free(&body);
	}
	api.easy_cleanup(c);
	api.global_cleanup();
	gb_curl_unload(&api);
	free(todo);
	return rc;
}

static int
cmd_next(struct gb_keys *k, const char *model)
{
	struct gb_err err;
	time_t at;
	int i;

	if ((i = gb_keys_next_for(k, model, NULL, 0, &at, &err)) == -1) {
		if (err.code == GB_EXIT_NO && at != 0) {
			long long left = (long long)(at - time(NULL));

			say(GB_LOG_WARN, "no usable key%s%s; "
			    "retry after %lld s (at %lld)",
			    model != NULL ? " for " : "",
			    model != NULL ? model : "",
			    left < 1 ? 1 : left, (long long)at);
			return GB_EXIT_NO;
		}
		return fail(&err);
	}
	printf("%s\n", gb_keys_key(k, (size_t)i));
	return GB_EXIT_OK;
}

static int
num_arg(const char *s, long long min, long long max, const char *what,
    long long *out)
{
	const char *es;

	if (gb_strtonum(s, min, max, out, &es) == -1) {
		say(GB_LOG_ERROR, "%s is %s (allowed %lld to %lld)",
		    what, es, min, max);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct gb_config cfg;
	struct gb_keys *k;
	struct gb_keyhist *hist;
	struct gb_err err, herr;
	const char *cmd, *model = NULL;
	time_t until;
	long long wait = GB_KEYS_WAIT_MS / 1000, v;
	size_t idx;
	int ch, rc, json = 0;
	enum { NEXT, OK, FAIL, COOL, LIST, RESET, CHECK } op;

	while ((ch = getopt(argc, argv, "+m:w:")) != -1) {
		switch (ch) {
		case 'm':
			if (strlen(optarg) == 0 ||
			    strlen(optarg) > GB_KEYS_MODEL_MAX ||
			    strpbrk(optarg, " \t\n") != NULL) {
				say(GB_LOG_ERROR, "-m: not a model "
				    "name (1 to %d characters, no space)",
				    GB_KEYS_MODEL_MAX);
				return GB_EXIT_USAGE;
			}
			model = optarg;
			break;
		case 'w':
			if (num_arg(optarg, 0, 3600, "-w", &wait) == -1)
				return GB_EXIT_USAGE;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cmd = argv[0];
	argc--;
	argv++;
	if (strcmp(cmd, "next") == 0 && argc == 0)
		op = NEXT;
	else if (strcmp(cmd, "ok") == 0 && argc == 1)
		op = OK;
	else if (strcmp(cmd, "fail") == 0 && argc >= 1 && argc <= 3)
		op = FAIL;
	else if (strcmp(cmd, "cool") == 0 && argc >= 1 && argc <= 2)
		op = COOL;
	else if (strcmp(cmd, "list") == 0 && (argc == 0 || (argc == 1 &&
	    strcmp(argv[0], "--json") == 0))) {
		op = LIST;
		json = argc == 1;
	} else if (strcmp(cmd, "reset") == 0 && argc <= 1)
		op = RESET;
	else if (strcmp(cmd, "check") == 0 && argc == 0)
		op = CHECK;
	else
		usage();
	if (model != NULL && op != NEXT && op != COOL)
		usage();

	if (gb_config_load(&cfg, GB_CONFIG_NEED_KEYS, &err) == -1)
		return fail(&err);
	if ((k = gb_keys_open(&cfg, &err)) == NULL) {
		gb_config_free(&cfg);
		return fail(&err);
	}
	gb_keys_set_wait(k, (long)wait * 1000);
	/* a shared state (KEY_STATE) or nothing: never the local copy */
	gb_keys_set_fallback(k, 0);
	signal(SIGPIPE, SIG_IGN);

	rc = GB_EXIT_OK;
	if (argc >= 1 && op != LIST &&
	    gb_keys_find(k, argv[0], &idx, &err) == -1) {
		rc = fail(&err);
		goto out;
	}
	switch (op) {
	case NEXT:
		rc = cmd_next(k, model);
		break;
	case OK:
		if (gb_keys_record(k, idx, GB_KEY_OK, 0, 0, NULL, &err) == -1)
			rc = fail(&err);
		break;
	case FAIL:
		v = 0;
		if (argc >= 2 && num_arg(argv[1], 0, 999, "status", &v) == -1) {
			rc = GB_EXIT_USAGE;
			break;
		}
		if (gb_keys_record(k, idx, GB_KEY_FAIL, 0, (int)v,
		    argc >= 3 ? argv[2] : NULL, &err) == -1)
			rc = fail(&err);
		break;
	case COOL:
		v = cfg.key_cooldown;
		if (argc >= 2 && strcmp(argv[1], "day") == 0)
			v = (long long)(gb_keys_day_end(time(NULL)) -
			    time(NULL));
		else if (argc >= 2 && num_arg(argv[1], 0, 86400 * 7,
		    "seconds", &v) == -1) {
			rc = GB_EXIT_USAGE;
			break;
		}
		until = time(NULL) + (time_t)v;
		if (gb_keys_cool(k, idx, model, until, 429, NULL, &err) == -1)
			rc = fail(&err);
		break;
	case LIST:
		/* the recent history is shown as zeros without its file */
		hist = gb_keyhist_open(cfg.state_dir, cfg.api_keys.n, &herr);
		if (gb_keys_load(k, &err) == -1)
			rc = fail(&err);
		else if (json)
			rc = cmd_list_json(k, hist, time(NULL));
		else
			rc = cmd_list_text(k, hist, time(NULL));
		gb_keyhist_close(hist);
		break;
	case RESET:
		if (gb_keys_reset(k, argc == 1 ? idx : (size_t)-1, &err) == -1)
			rc = fail(&err);
		break;
	case CHECK:
		rc = cmd_check(k, &cfg);
		break;
	}
	if (gb_keys_notice(k) != NULL)
		say(GB_LOG_WARN, "%s", gb_keys_notice(k));
out:
	gb_keys_close(k);
	gb_config_free(&cfg);
	if ((fflush(stdout) == EOF || ferror(stdout)) && rc == GB_EXIT_OK) {
		say(GB_LOG_ERROR, "stdout: %s", strerror(errno));
		rc = GB_EXIT_TEMP;
	}
	return rc;
}
