/*
 * responses.h - the pieces of the OpenAI Responses API shape that the
 * whole answer (gb-convert responses-response) and the stream (gb-sse
 * -o responses) share, so that a response reads the same streamed and
 * not: ids, the response object, its usage and status, output items.
 *
 * The request side (Responses request -> Gemini) is in convert.h.
 */
#ifndef GB_RESPONSES_H
#define GB_RESPONSES_H

#include <stddef.h>

#include <jansson.h>

#include "gb.h"

#define GB_RESP_IDSIZE	64	/* the longest id written, with its NUL */

/*
 * prefix + "_" + 32 random hex digits ("resp", "msg", "rs", "fc") into
 * buf (GB_RESP_IDSIZE bytes). Returns 0, or -1 (getrandom failed).
 */
int	gb_responses_id(char *, const char *);

/*
 * usageMetadata -> Responses usage (new reference): input_tokens,
 * input_tokens_details.cached_tokens, output_tokens (thoughts
 * included), output_tokens_details.reasoning_tokens, total_tokens. A
 * missing argument counts as zeros.
 */
json_t	*gb_responses_usage(const json_t *);

/*
 * The response's status from the candidate's finishReason (NULL: none)
 * and whether the prompt was blocked: "completed", or "incomplete" with
 * *reason set to "max_output_tokens" or "content_filter" (else NULL).
 */
const char	*gb_responses_status(const char *, int, const char **);

/*
 * The response object (new reference). output and usage are taken
 * (usage may be NULL: null); reason (incomplete_details.reason) and
 * error ({code, message}, taken) may be NULL.
 */
json_t	*gb_responses_object(const char *, json_int_t, const char *,
	    const char *, const char *, json_t *, json_t *, json_t *);

/*
 * Output items (new references). A message of one output_text part
 * (annotations taken, NULL: []); a reasoning item of one summary text;
 * a function_call item from a tool call of the part walk (parts.h), its
 * call_id the walk's id (which carries the thought signature).
 */
json_t	*gb_responses_message(const char *, const char *, size_t,
	    json_t *, const char *);
json_t	*gb_responses_reasoning(const char *, const char *, size_t);
json_t	*gb_responses_call(const char *, const json_t *, const char *);

/*
 * A candidate's search sources -> url_citation annotations (new
 * reference, [] when none) for the text the candidate's answer has
 * (groundingSupports' byte offsets become character offsets in it).
 */
json_t	*gb_responses_annotations(const json_t *, const char *, size_t);

#endif
