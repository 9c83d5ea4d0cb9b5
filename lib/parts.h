/*
 * parts.h - the one mapping of a Gemini candidate's parts to OpenAI chat
 * output, used by the whole answer (convert_resp.c, one walk per
 * candidate) and by the stream (stream.c, one walk per candidate of each
 * event), so that an answer reads the same streamed and not: the
 * stream's deltas, joined, are the whole answer's message
 * (tests/gb-convert-stream.bats checks it).
 *
 * The parts are walked in order:
 *   text                  -> content
 *   text, thought true    -> reasoning (dropped unless show_thinking)
 *   functionCall          -> a tool call: arguments as a JSON string
 *                            ("{}" when absent or null), the part's
 *                            thoughtSignature inside the id
 *                            (gb_gemini_call_id) and as
 *                            extra_content.google.thought_signature
 *   executableCode, or its legacy name codeExecution
 *                         -> content, gb_gemini_render_code()
 *   codeExecutionResult, or its legacy name executableCodeResult
 *                         -> content, gb_gemini_render_result()
 *   inlineData with an image/ mimeType
 *                         -> content, "\n\n![image](data:MIME;base64,DATA)
 *                            \n\n" (what every chat front-end renders),
 *                            and the same data URL as an images entry
 *                            {"type":"image_url","image_url":{"url"}}
 *                            (what SDK users read); the base64 is
 *                            passed on as it came, byte for byte
 *   the same, thought true -> reasoning, the markdown only (dropped
 *                            unless show_thinking, as thought text is)
 *   inlineData of another type, fileData, a bare thoughtSignature,
 *   anything else         -> nothing (not shown, as the original did)
 * and then, when asked, the search links of a candidate's
 * groundingChunks (gb_gemini_render_search()) end the content.
 *
 * An image whose mimeType is not a plain type/subtype or whose data is
 * not standard base64 is an error (EINVAL), never passed on half-broken
 * nor dropped in silence.
 */
#ifndef GB_PARTS_H
#define GB_PARTS_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* What the walks have found so far. */
struct gb_parts {
	struct gb_buf	 content;	/* text, renderings, links */
	struct gb_buf	 reasoning;	/* thought text */
	json_t		*calls;		/* tool_calls entries; NULL if none */
	json_t		*images;	/* images entries; NULL if none */
	int		 textual;	/* a text, code or result part, or
					   links, came (content may be "") */
};

struct gb_parts_opts {
	int		 show_thinking;	/* thoughts -> reasoning */
	json_int_t	*next_index;	/* if set, each call gets "index"
					   *next_index, which counts on
					   (the stream's per-choice count) */
	const json_t	*links;		/* render this candidate's links
					   after the parts; NULL: none */
};

/* Empty, both buffers capped at cap bytes. */
void	gb_parts_init(struct gb_parts *, size_t);
void	gb_parts_free(struct gb_parts *);

/*
 * Add what the candidate's parts say. Returns 0, or -1 with errno E2BIG
 * (a buffer reached its cap), EINVAL (a bad image) or ENOMEM; what was
 * added before the failure stays.
 */
int	gb_parts_walk(struct gb_parts *, const json_t *,
	    const struct gb_parts_opts *);

/*
 * The same walk, with cut(arg, p) called just before and just after
 * each image is added (one whose markdown is kept: not a hidden
 * thought): the stream hands on what the walk has gathered so far and
 * empties it (gb_parts_clear), so that an image goes out in a delta of
 * its own, between the text before it and the text after it. cut
 * returns 0, or -1 to stop the walk (which then returns -1 as it is).
 */
typedef int	(*gb_parts_cut)(void *, struct gb_parts *);
int	gb_parts_walk_cut(struct gb_parts *, const json_t *,
	    const struct gb_parts_opts *, gb_parts_cut, void *);

/* What an EINVAL of the walk means, for error messages. */
#define GB_PARTS_BAD_IMAGE	"inlineData image with a mimeType not " \
				"type/subtype or data not base64"

/* Empty again: both buffers, no calls, no images (textual stays). */
void	gb_parts_clear(struct gb_parts *);

/*
 * A part's executableCode (or codeExecution) and codeExecutionResult (or
 * executableCodeResult) object, or NULL; *key (if key is not NULL) gets
 * the member's name.
 */
json_t	*gb_parts_code(const json_t *, const char **);
json_t	*gb_parts_result(const json_t *, const char **);

/*
 * Gemini finishReason -> OpenAI finish_reason (gb_gemini_finish_reason),
 * with "stop" becoming "tool_calls" when the choice made calls.
 */
const char	*gb_parts_finish(const char *, int);

#endif
