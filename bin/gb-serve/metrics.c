/*
 * metrics.c - GET /metrics: the Prometheus text exposition format
 * (version 0.0.4) of the counters every process of the machine shares
 * (lib/metrics.h), the key table read when scraped, and what this
 * server holds open. gb-serve(8) lists the families.
 *
 * On the hot path a request costs a few atomic adds on the shared
 * block: its route and status class, its duration bucket, the bytes of
 * its reads and writes. Labels come from fixed sets only -- the route
 * table's patterns, status classes, attempt outcomes, key states -- and
 * the models keys cool for, which the key state bounds; never a path as
 * asked, a key or a token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

#define KEYS_MAX	(16 * 1024 * 1024)
#define CTYPE		"text/plain; version=0.0.4; charset=utf-8"

/* A fingerprint of the route table (FNV-1a of its labels). */
static uint64_t
routes_print(void)
{
	uint64_t h = 14695981039346656037ULL;
	const char *method, *p;
	char label[256];
	size_t i;

	for (i = 0; i <= route_slots(); i++) {
		route_label(i, label, sizeof(label), &method);
		for (p = label; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		for (p = method; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ '\n') * 1099511628211ULL;
	}
	return h;
}

void
metrics_open(struct srv *srv)
{
	struct gb_err err;

	if (route_slots() + 1 > GB_METRICS_ROUTES) {
		fprintf(stderr, "gb-serve: metrics: more routes than slots\n");
		return;
	}
	if ((srv->metrics = gb_metrics_open(srv->cfg->c.state_dir,
	    &err)) == NULL) {
		fprintf(stderr, "gb-serve: metrics off: %s\n", err.msg);
		fflush(stderr);
		return;
	}
	gb_metrics_routes(srv->metrics, routes_print());
}

void
metrics_close(struct srv *srv)
{
	gb_metrics_close(srv->metrics);
	srv->metrics = NULL;
}

void
metrics_request(struct srv *srv, struct rq *rq, int status, uint64_t usec)
{
	if (rq->streaming) {
		rq->streaming = 0;
		srv->nstreams--;
	}
	gb_metrics_request(srv->metrics, route_slot(rq->rt), status, usec);
}

void
metrics_bytes(struct srv *srv, uint64_t in, uint64_t out)
{
	gb_metrics_bytes(srv->metrics, in, out);
}

/* ---- the exposition ---- */

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label_value(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void
requests(FILE *f, const struct gb_metrics_block *b)
{
	static const char *const cls[GB_METRICS_CLASSES] = {
		"1xx", "2xx", "3xx", "4xx", "5xx", "other"
	};
	const char *method;
	char label[256];
	uint64_t n, cum, count;
	size_t r, c;

	family(f, "gb_requests_total", "counter",
	    "Requests answered, by route and status class.");
	for (r = 0; r <= route_slots(); r++) {
		route_label(r, label, sizeof(label), &method);
		for (c = 0; c < GB_METRICS_CLASSES; c++)
			if ((n = gb_metrics_get(&b->requests[r][c])) > 0)
				fprintf(f, "gb_requests_total{route=\"%s\","
				    "method=\"%s\",code=\"%s\"} %llu\n", label,
				    method, cls[c], (unsigned long long)n);
	}
	family(f, "gb_request_duration_seconds", "histogram",
	    "Time from a request's first byte to its answer's end, by "
	    "route.");
	for (r = 0; r <= route_slots(); r++) {
		count = 0;
		for (c = 0; c <= GB_METRICS_BUCKETS; c++)
			count += gb_metrics_get(&b->duration[r][c]);
		if (count == 0)
			continue;
		route_label(r, label, sizeof(label), &method);
		cum = 0;
		for (c = 0; c <= GB_METRICS_BUCKETS; c++) {
			cum += gb_metrics_get(&b->duration[r][c]);
			fprintf(f, "gb_request_duration_seconds_bucket{route="
			    "\"%s\",method=\"%s\",le=\"", label, method);
			if (c < GB_METRICS_BUCKETS)
				fprintf(f, "%g", gb_metrics_bound(c));
			else
				fputs("+Inf", f);
			fprintf(f, "\"} %llu\n", (unsigned long long)cum);
		}
		fprintf(f, "gb_request_duration_seconds_sum{route=\"%s\","
		    "method=\"%s\"} %.6f\n", label, method,
		    (double)gb_metrics_get(&b->duration_us[r]) / 1e6);
		fprintf(f, "gb_request_duration_seconds_count{route=\"%s\","
		    "method=\"%s\"} %llu\n", label, method,
		    (unsigned long long)cum);
	}
}

static void
upstream(FILE *f, const struct gb_metrics_block *b)
{
	size_t o;

	family(f, "gb_upstream_attempts_total", "counter",
	    "Upstream attempts (one key each), by outcome.");
	for (o = 0; o < GB_OUT_N; o++)
		fprintf(f, "gb_upstream_attempts_total{outcome=\"%s\"} %llu\n",
		    gb_metrics_outcome_name((enum gb_metrics_outcome)o),
		    (unsigned long long)gb_metrics_get(&b->attempts[o]));
	family(f, "gb_upstream_retries_total", "counter",
	    "Upstream attempts after a request's first, on another key.");
	fprintf(f, "gb_upstream_retries_total %llu\n",
	    (unsigned long long)gb_metrics_get(&b->retries));
}

/*
 * The key table (gb-keys list --json) as gauges: keys by state, and
 * keys cooling for each model. Nothing when the table could not be
 * read (the HELP and TYPE lines stay).
 */
static void
keys(FILE *f, const json_t *doc)
{
	static const char *const states[] = { "active", "cooling",
	    "invalid" };
	long long n[3] = { 0, 0, 0 };
	json_t *models, *k, *mc, *c, *v;
	const char *st, *model;
	size_t i, j, s;
	json_int_t now = json_integer_value(json_object_get(doc, "now"));

	models = json_object();
	json_array_foreach(json_object_get(doc, "keys"), i, k) {
		st = json_string_value(json_object_get(k, "state"));
		for (s = 0; s < 3; s++)
			if (st != NULL && strcmp(st, states[s]) == 0)
				n[s]++;
		if (st == NULL || strcmp(st, "invalid") == 0)
			continue;
		mc = json_object_get(k, "models_cooling");
		json_array_foreach(mc, j, c) {
			model = json_string_value(json_object_get(c, "model"));
			if (model == NULL || json_integer_value(
			    json_object_get(c, "until")) <= now)
				continue;
			v = json_object_get(models, model);
			json_object_set_new(models, model, json_integer(
			    json_integer_value(v) + 1));
		}
	}
	family(f, "gb_keys", "gauge", "API keys by state.");
	if (json_is_array(json_object_get(doc, "keys")))
		for (s = 0; s < 3; s++)
			fprintf(f, "gb_keys{state=\"%s\"} %lld\n", states[s],
			    n[s]);
	family(f, "gb_keys_cooling_per_model", "gauge",
	    "API keys resting for one model alone, by model.");
	json_object_foreach(models, model, v) {
		fputs("gb_keys_cooling_per_model{model=\"", f);
		label_value(f, model);
		fprintf(f, "\"} %lld\n", (long long)json_integer_value(v));
	}
	json_decref(models);
}

static void
render(struct rq *rq, const json_t *doc)
{
	static const struct gb_metrics_block zero;
	const struct gb_metrics_block *b = gb_metrics_block(rq->srv->metrics);
	char *txt = NULL;
	size_t len = 0;
	FILE *f;

	if (b == NULL)
		b = &zero;
	if ((f = open_memstream(&txt, &len)) == NULL) {
		rq_error(rq, 500, "out of memory", NULL);
		return;
	}
	family(f, "gb_build_info", "gauge",
	    "The running version of gemini-balance (always 1).");
	fprintf(f, "gb_build_info{version=\"%s\"} 1\n", GB_VERSION);
	requests(f, b);
	upstream(f, b);
	keys(f, doc);
	family(f, "gb_open_streams", "gauge",
	    "Answers this server is streaming now.");
	fprintf(f, "gb_open_streams %d\n", rq->srv->nstreams);
	family(f, "gb_open_connections", "gauge",
	    "Client connections this server holds open now.");
	fprintf(f, "gb_open_connections %d\n", rq->srv->nconn);
	family(f, "gb_received_bytes_total", "counter",
	    "Bytes read from clients (heads and bodies).");
	fprintf(f, "gb_received_bytes_total %llu\n",
	    (unsigned long long)gb_metrics_get(&b->bytes_in));
	family(f, "gb_sent_bytes_total", "counter",
	    "Bytes written to clients (heads and bodies).");
	fprintf(f, "gb_sent_bytes_total %llu\n",
	    (unsigned long long)gb_metrics_get(&b->bytes_out));
	if (fclose(f) != 0) {
		free(txt);
		rq_error(rq, 500, "out of memory", NULL);
		return;
	}
	rq_reply(rq, 200, CTYPE, "Cache-Control: no-store\r\n", txt, len);
	free(txt);
}

static void
keys_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;
	json_t *doc;

	if (e != JOB_END)
		return;
	doc = j->exit == GB_EXIT_OK && j->out.len < j->out.cap ?
	    json_loadb(j->out.data, j->out.len, 0, NULL) : NULL;
	if (doc == NULL)
		scopy(rq->fail, sizeof(rq->fail), j->msg[0] != '\0' ? j->msg :
		    "key table unreadable");
	render(rq, doc);
	json_decref(doc);
}

void
do_metrics(struct rq *rq)
{
	struct gb_msg_job mj;

	job_msg(&mj, GB_TOOL_KEYS, NULL, NULL, NULL);
	if ((rq->job[0] = job_start(rq, &mj, NULL, 0, -1, OUT_READ, KEYS_MAX,
	    keys_ev)) == NULL)
		render(rq, NULL);
}
