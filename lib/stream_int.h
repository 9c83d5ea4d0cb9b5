/*
 * stream_int.h - what stream.c shares with the dialects it keeps in
 * files of their own (stream_responses.c, stream_anthropic.c); not for
 * the stream's users.
 */
#ifndef GB_STREAM_INT_H
#define GB_STREAM_INT_H

#include <jansson.h>

#include "buf.h"
#include "gb.h"
#include "parts.h"
#include "stream.h"

struct choice {
	int		 seen;		/* role chunk sent (chat) */
	int		 finished;
	int		 saw_call;
	json_int_t	 next_tool;
	json_t		*ground;	/* candidate with groundingChunks */
};

struct gb_stream_resp;
struct gb_stream_anth;

struct gb_stream {
	struct gb_stream_opts o;
	gb_stream_out	 out;
	void		*arg;
	char		 id[9 + 24 + 1];
	json_int_t	 created;
	char		*model;		/* fixed at the first chunk */
	json_t		*usage;		/* last usageMetadata */
	struct choice	 ch[GB_STREAM_MAXCHOICES];
	int		 blocked;
	int		 over;		/* last event written */
	int		 dead;		/* a write failed */
	struct gb_buf	 ev;		/* the event being written */
	struct gb_stream_resp *resp;	/* responses mode */
	struct gb_stream_anth *anth;	/* anthropic mode */
};

/*
 * Write "event: NAME" (when name is not NULL), "data: <compact json>"
 * and the dialect's blank line as one event. Takes j; 0 or -1.
 */
int	gb_stream_emit(struct gb_stream *, const char *, json_t *,
	    struct gb_err *);
/* Hand the event in st->ev to the output, in one call; 0 or -1. */
int	gb_stream_flush(struct gb_stream *, struct gb_err *);
/* errno E2BIG: "converted event too large"; else out of memory. -1. */
int	gb_stream_oom(struct gb_err *);

/*
 * Responses mode: state; the parts of one event of candidate 0 (walked
 * by stream.c) with its finishReason when it finishes (else NULL); the
 * end; a failure.
 */
int	gb_stream_resp_new(struct gb_stream *, struct gb_err *);
void	gb_stream_resp_free(struct gb_stream *);
int	gb_stream_resp_parts(struct gb_stream *, const struct gb_parts *,
	    const char *, struct gb_err *);
int	gb_stream_resp_end(struct gb_stream *, struct gb_err *);
int	gb_stream_resp_fail(struct gb_stream *, int, const char *,
	    struct gb_err *);

/* Anthropic mode: the same, and its keep-alive (a ping event). */
int	gb_stream_anth_new(struct gb_stream *, struct gb_err *);
void	gb_stream_anth_free(struct gb_stream *);
int	gb_stream_anth_parts(struct gb_stream *, const struct gb_parts *,
	    const char *, struct gb_err *);
int	gb_stream_anth_end(struct gb_stream *, struct gb_err *);
int	gb_stream_anth_fail(struct gb_stream *, int, const char *,
	    struct gb_err *);
int	gb_stream_anth_ping(struct gb_stream *, struct gb_err *);

#endif
