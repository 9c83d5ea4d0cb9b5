/*
 * stream.h - the per-event conversion of a Gemini streamGenerateContent
 * stream into an OpenAI chat.completion.chunk stream (or, in native
 * mode, into a re-framed Gemini stream with the proxy's renderings).
 *
 * A driver (gb-sse, or anything else that reads the upstream) feeds
 * each upstream event in order; the converter hands every complete
 * downstream SSE event, framing included, to an output callback, one
 * call per event, as soon as the event is known. The driver ends the
 * stream with gb_stream_end() at upstream EOF, or gb_stream_fail() when
 * it cannot go on (read error, event too large); both emit what the
 * client must see last (usage, [DONE], or an error event).
 *
 * OpenAI mode, per request: one id ("chatcmpl-" + 24 hex), one created
 * time and one model name on every chunk; a role chunk before anything
 * else of a choice; the parts of each candidate by the walk the whole
 * answer uses too (parts.h): text -> content, thoughts ->
 * reasoning_content (or dropped), functionCall -> a whole tool call
 * (index counted per choice, id from gb_gemini_call_id() carrying the
 * thought signature, which is also given as
 * extra_content.google.thought_signature), executableCode /
 * codeExecutionResult (and their legacy names) -> rendered content,
 * an inlineData image -> a delta of its own, its markdown data URL in
 * content and the same URL in images, grounding links -> rendered
 * content just before the finish; the finish reason always in a chunk
 * of its own with an empty delta; an optional usage chunk (choices [])
 * from the last usageMetadata; data: [DONE].
 *
 * Responses mode (stream_responses.c): named events ("event: TYPE"),
 * each with its type and a sequence_number counting from 0:
 * response.created and response.in_progress first; then the output
 * items of candidate 0 in the order the parts come, by the same walk:
 * thoughts -> a reasoning item (output_item.added,
 * reasoning_summary_part.added, reasoning_summary_text.delta...,
 * .done, reasoning_summary_part.done, output_item.done), text -> a
 * message item (output_item.added, content_part.added,
 * output_text.delta..., output_text.done, content_part.done,
 * output_item.done; search sources as url_citation annotations), each
 * function call -> a function_call item (added, arguments delta and
 * done, done); last response.completed, or response.incomplete, with
 * the whole response and its usage, or response.failed with the error.
 *
 * Anthropic mode (stream_anthropic.c): named events, message_start
 * (with the usage so far) first; then content blocks of candidate 0 by
 * the same walk, each content_block_start, deltas, content_block_stop
 * with an index counting from 0: thoughts -> a thinking block
 * (thinking_delta, and signature_delta with a call's signature), text
 * -> a text block (text_delta), each function call -> a tool_use block
 * (one input_json_delta), after a redacted_thinking block with its
 * signature when no thinking block carried it; last message_delta
 * (stop_reason, usage) and message_stop, or an error event. Keep-alives
 * are ping events.
 */
#ifndef GB_STREAM_H
#define GB_STREAM_H

#include <stddef.h>

#include <jansson.h>

#include "gb.h"

#define GB_STREAM_MAXCHOICES	16		/* candidate indices 0..15 */
#define GB_STREAM_EVENTMAX	(64UL << 20)	/* one converted event */

/* What the client speaks (gb-sse -o NAME). */
enum gb_stream_dialect {
	GB_STREAM_CHAT,		/* "chat": chat.completion.chunk, [DONE] */
	GB_STREAM_GEMINI,	/* "gemini": Gemini events re-framed */
	GB_STREAM_RESPONSES,	/* "responses": Responses API events */
	GB_STREAM_ANTHROPIC	/* "anthropic": Messages API events */
};

/* Name <-> dialect; parse returns 0 or -1. */
int		 gb_stream_dialect_parse(const char *,
		    enum gb_stream_dialect *);
const char	*gb_stream_dialect_name(enum gb_stream_dialect);

struct gb_stream_opts {
	const char	*model;		/* reported model; NULL: modelVersion */
	enum gb_stream_dialect dialect;
	int		 include_usage;	/* chat: usage null + usage chunk */
	int		 show_thinking;	/* chat: thoughts -> reasoning_content
					   (responses: always shown; they
					   come only when asked for) */
	int		 search_links;	/* render groundingChunks as links */
};

/*
 * Output callback: write one complete event (n bytes). Returns 0, or -1
 * with errno set; the stream is dead after that and writes no more.
 */
typedef int	(*gb_stream_out)(void *, const char *, size_t);

struct gb_stream;

struct gb_stream	*gb_stream_new(const struct gb_stream_opts *,
			    gb_stream_out, void *, struct gb_err *);
void			 gb_stream_free(struct gb_stream *);

/*
 * Feed one upstream event: the data of one SSE event (n bytes of JSON),
 * or an already parsed GenerateContentResponse (which may be changed).
 * Returns 0 to go on. Returns -1 with err set (code GB_EXIT_TEMP) when
 * the upstream broke (an error object, data that is not a response
 * object) - the error event has then been written and the stream is
 * over - or when writing failed.
 */
int	gb_stream_event(struct gb_stream *, const char *, size_t,
	    struct gb_err *);
int	gb_stream_chunk(struct gb_stream *, json_t *, struct gb_err *);

/*
 * Upstream EOF. Every choice seen finished (or the prompt was blocked):
 * the usage chunk if asked for and data: [DONE] (OpenAI), nothing more
 * (native); returns 0. Otherwise the stream was cut: an error event,
 * and -1 with err set.
 */
int	gb_stream_end(struct gb_stream *, struct gb_err *);

/*
 * The driver gives up (status, message, optional OpenAI error code):
 * writes the error event (and [DONE] in OpenAI mode) unless the stream
 * is already over; always returns -1 with err set.
 */
int	gb_stream_fail(struct gb_stream *, int, const char *, const char *,
	    struct gb_err *);

/* A keep-alive comment; a no-op once the stream is over. 0 or -1. */
int	gb_stream_keepalive(struct gb_stream *, struct gb_err *);

/* Has every choice finished (or the prompt been blocked)? */
int	gb_stream_complete(const struct gb_stream *);

/* Has the stream written its last event (or failed to write)? */
int	gb_stream_over(const struct gb_stream *);

#endif
