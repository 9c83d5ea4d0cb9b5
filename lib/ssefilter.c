/*
 * ssefilter.c - the SSE parser feeding the stream converter, with
 * gb-sse's rules for failures and the end of the upstream (ssefilter.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sse.h"
#include "ssefilter.h"

struct gb_ssefilter {
	struct gb_sse	 p;
	struct gb_stream *st;
	int		 ended;		/* end, fail or a feed error came */
};

struct gb_ssefilter *
gb_ssefilter_new(const struct gb_stream_opts *o, gb_stream_out out,
    void *arg, struct gb_err *err)
{
	struct gb_ssefilter *f;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		return NULL;
	}
	if ((f->st = gb_stream_new(o, out, arg, err)) == NULL) {
		free(f);
		return NULL;
	}
	gb_sse_init(&f->p, GB_SSEFILTER_EVENTMAX);
	return f;
}

void
gb_ssefilter_free(struct gb_ssefilter *f)
{
	if (f == NULL)
		return;
	gb_sse_free(&f->p);
	gb_stream_free(f->st);
	free(f);
}

static int
ended(struct gb_err *err)
{
	return gb_err_set(err, GB_EXIT_TEMP, 0, "stream is over");
}

static int
on_event(void *arg, const struct gb_sse_event *ev, struct gb_err *err)
{
	return gb_stream_event(arg, ev->data, ev->len, err);
}

int
gb_ssefilter_feed(struct gb_ssefilter *f, const void *buf, size_t n,
    struct gb_err *err)
{
	char m[GB_ERR_MSGSIZE + 16];

	if (f->ended)
		return ended(err);
	if (gb_sse_feed(&f->p, buf, n, on_event, f->st, err) == 0)
		return 0;
	f->ended = 1;
	/* the converter already reported its own failures */
	if (!gb_stream_over(f->st)) {
		snprintf(m, sizeof(m), "upstream %s", err->msg);
		gb_stream_fail(f->st, 502, m, NULL, err);
	}
	return -1;
}

int
gb_ssefilter_end(struct gb_ssefilter *f, struct gb_err *err)
{
	if (f->ended)
		return ended(err);
	f->ended = 1;
	/* a last event without its blank line is dropped, as SSE says */
	if (gb_sse_end(&f->p) && !gb_stream_complete(f->st))
		return gb_stream_fail(f->st, 502, "upstream stream cut in the "
		    "middle of an event", NULL, err);
	return gb_stream_end(f->st, err);
}

int
gb_ssefilter_fail(struct gb_ssefilter *f, int status, const char *msg,
    struct gb_err *err)
{
	f->ended = 1;
	return gb_stream_fail(f->st, status, msg, NULL, err);
}

int
gb_ssefilter_keepalive(struct gb_ssefilter *f, struct gb_err *err)
{
	return gb_stream_keepalive(f->st, err);
}

int
gb_ssefilter_over(const struct gb_ssefilter *f)
{
	return gb_stream_over(f->st);
}
