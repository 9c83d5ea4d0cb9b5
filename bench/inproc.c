/*
 * inproc - the work of one chat request with no process start at all.
 *
 * usage: inproc CHATBODY SECONDS
 *
 * Environment: the gb-* configuration (API_KEYS, BASE_URL,
 * STATE_DIRECTORY, ...). In one long-lived process, with the functions
 * the tools are made of (lib/), it repeats what the chat pipeline does:
 * parse the OpenAI body and convert it (gb-convert chat-request), the
 * upstream call with key rotation (gb-call: a gb_upcall on a kept
 * gb_upstream, run on an sd-event loop one at a time as gb-call's CLI
 * runs its one call; its connection is kept from one call to the next),
 * and the conversion of the answer (gb-convert chat-response); then
 * prints the mean wall time of each stage per request:
 *
 *   INPROC n=N total_us=T req_us=A call_us=B resp_us=C keys_us=K once_us=O
 *
 * keys_us is a separate measurement of one gb_keys_next+gb_keys_record
 * pair (the key-state file update a call does, inside call_us), once_us
 * one bare libcurl POST of the same kind on a kept easy handle, with no
 * key state at all. This is
 * the floor of a design with long-lived workers: what is left when the
 * processes already exist. A benchmark helper, not part of the product;
 * built only when build/libgb.a has these functions.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "buf.h"
#include "config.h"
#include "convert.h"
#include "gb.h"
#include "keys.h"
#include "upstream.h"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static size_t
on_curl(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One call in flight: where its answer goes, and how it ended. */
struct run {
	struct gb_buf	 out;
	int		 status;
	int		 over;
	int		 rc;
	struct gb_err	 err;
};

static void
on_head(void *arg, const struct gb_upstream_head *h)
{
	struct run *r = arg;

	r->status = h->status;
}

static int
on_body(void *arg, const void *p, size_t n)
{
	struct run *r = arg;

	return gb_buf_append(&r->out, p, n);
}

static void
on_done(void *arg, int rc, const struct gb_err *e)
{
	struct run *r = arg;

	r->rc = rc;
	r->err = *e;
	r->over = 1;
}

/*
 * One call on u, run on ev to its end (the loop is run turn by turn
 * rather than exited, so that the next call can use it again). 0 when
 * the answer is a 200, in r->out.
 */
static int
call(sd_event *ev, struct gb_upstream *u, struct gb_keys *ks,
    const struct gb_upstream_req *req, struct run *r)
{
	struct gb_upcall_sink sink;
	int e;

	memset(&sink, 0, sizeof(sink));
	sink.head = on_head;
	sink.body = on_body;
	sink.done = on_done;
	sink.arg = r;
	r->over = 0;
	r->status = 0;
	r->rc = GB_EXIT_TEMP;
	gb_err_clear(&r->err);
	if (gb_upcall_start(u, ks, req, &sink, &r->err) == NULL)
		return -1;
	while (!r->over)
		if ((e = sd_event_run(ev, UINT64_MAX)) < 0) {
			gb_err_set(&r->err, GB_EXIT_TEMP, 0, "event loop: %s",
			    strerror(-e));
			return -1;
		}
	if (r->rc == GB_EXIT_OK && r->status != 200)
		gb_err_set(&r->err, GB_EXIT_TEMP, 0, "HTTP %d", r->status);
	return r->rc == GB_EXIT_OK && r->status == 200 ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	struct gb_config cfg;
	struct gb_err err;
	struct gb_keys *ks;
	struct gb_upstream *u;
	struct gb_upstream_req req;
	struct run r;
	sd_event *ev = NULL;
	const char *errstr;
	long long secs;
	json_error_t jerr;
	json_t *in, *gem, *meta, *resp, *oai;
	char *body, *text, *path;
	double t0, t1, t2, t3, deadline, sreq = 0, scall = 0, sresp = 0;
	double skeys = 0, sonce = 0;
	struct curl_slist *hdrs = NULL;
	char url[1024];
	long code = 0;
	CURL *h;
	time_t retry_at;
	int n = 0, i, idx;

	if (argc != 3) {
		fprintf(stderr, "usage: inproc CHATBODY SECONDS\n");
		return 1;
	}
	if (gb_strtonum(argv[2], 1, INT_MAX, &secs, &errstr) == -1) {
		fprintf(stderr, "inproc: %s: %s\n", argv[2], errstr);
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	gb_err_clear(&err);
	if (sd_event_new(&ev) < 0) {
		fprintf(stderr, "inproc: unable to make an event loop\n");
		return 1;
	}
	if (gb_config_load(&cfg, GB_CONFIG_NEED_KEYS, &err) == -1 ||
	    (ks = gb_keys_open(&cfg, &err)) == NULL ||
	    (u = gb_upstream_new(&cfg, ev, &err)) == NULL) {
		fprintf(stderr, "inproc: %s\n", err.msg);
		return 1;
	}
	if ((in = json_load_file(argv[1], 0, &jerr)) == NULL) {
		fprintf(stderr, "inproc: %s: %s\n", argv[1], jerr.text);
		return 1;
	}
	text = json_dumps(in, JSON_COMPACT);
	json_decref(in);
	memset(&r, 0, sizeof(r));
	deadline = now_us() + (double)secs * 1e6;
	for (i = 0; now_us() < deadline; i++) {
		t0 = now_us();
		in = json_loads(text, 0, &jerr);
		meta = NULL;
		gem = gb_convert_chat_request(in, &cfg, &meta, &err);
		if (gem == NULL || meta == NULL) {
			fprintf(stderr, "inproc: chat-request: %s\n", err.msg);
			return 1;
		}
		body = json_dumps(gem, JSON_COMPACT);
		path = strdup(json_string_value(json_object_get(meta, "path")));
		json_decref(in);
		json_decref(gem);
		json_decref(meta);
		t1 = now_us();
		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.path = path;
		req.body = body;
		req.bodylen = strlen(body);
		gb_buf_init(&r.out, GB_UPSTREAM_BUFFER_MAX);
		if (call(ev, u, ks, &req, &r) == -1) {
			fprintf(stderr, "inproc: call: %s\n", r.err.msg);
			return 1;
		}
		t2 = now_us();
		resp = json_loadb(r.out.data, r.out.len, 0, &jerr);
		oai = gb_convert_chat_response(resp, "gemini-2.0-flash", &cfg,
		    &err);
		if (oai == NULL) {
			fprintf(stderr, "inproc: chat-response: %s\n", err.msg);
			return 1;
		}
		free(json_dumps(oai, JSON_COMPACT));
		json_decref(resp);
		json_decref(oai);
		gb_buf_free(&r.out);
		free(body);
		free(path);
		t3 = now_us();
		if (i < 20)	/* warm-up */
			continue;
		sreq += t1 - t0;
		scall += t2 - t1;
		sresp += t3 - t2;
		n++;
	}
	for (i = 0; i < 200; i++) {
		t0 = now_us();
		if ((idx = gb_keys_next(ks, NULL, 0, &retry_at, &err)) < 0 ||
		    gb_keys_record(ks, idx, GB_KEY_OK, 0, 0, NULL, &err) == -1) {
			fprintf(stderr, "inproc: keys: %s\n", err.msg);
			return 1;
		}
		skeys += now_us() - t0;
	}
	/* A bare libcurl POST on a kept handle: the HTTP exchange alone. */
	snprintf(url, sizeof(url), "%s/models/gemini-2.0-flash:generateContent",
	    cfg.base_url);
	h = curl_easy_init();
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "x-goog-api-key: AIzaSyBENCHxxxxxxxxxxxxxxx");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"contents\":[{\"role\":"
	    "\"user\",\"parts\":[{\"text\":\"hi\"}]}]}");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_curl);
	for (i = 0; i < 220; i++) {
		t0 = now_us();
		if (curl_easy_perform(h) != CURLE_OK ||
		    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) !=
		    CURLE_OK || code != 200) {
			fprintf(stderr, "inproc: bare libcurl POST failed\n");
			return 1;
		}
		if (i >= 20)
			sonce += now_us() - t0;
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (n == 0)
		return 1;
	printf("INPROC n=%d total_us=%.1f req_us=%.1f call_us=%.1f "
	    "resp_us=%.1f keys_us=%.1f once_us=%.1f\n", n,
	    (sreq + scall + sresp) / n, sreq / n, scall / n, sresp / n,
	    skeys / 200, sonce / 200);
	gb_upstream_free(u);
	sd_event_unref(ev);
	gb_keys_close(ks);
	gb_config_free(&cfg);
	free(text);
	return 0;
}
