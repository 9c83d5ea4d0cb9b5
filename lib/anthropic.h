/*
 * anthropic.h - the pieces of the Anthropic Messages API shape that the
 * whole answer (gb-convert anthropic-response), the stream (gb-sse -o
 * anthropic) and gb-serve's errors share.
 *
 * The request side (Messages request -> Gemini) is in convert.h.
 */
#ifndef GB_ANTHROPIC_H
#define GB_ANTHROPIC_H

#include <jansson.h>

/* The id prefixes, with 24 random hex digits after them. */
#define GB_ANTHROPIC_IDSIZE	48

/* prefix + 24 random hex digits ("msg_", "toolu_"); 0, or -1. */
int	gb_anthropic_id(char *, const char *);

/*
 * {"type":"error","error":{"type":t,"message":m}} (new reference), the
 * type from the HTTP status: invalid_request_error 400,
 * authentication_error 401, permission_error 403, not_found_error 404,
 * request_too_large 413, rate_limit_error 429, overloaded_error 503 and
 * 529, api_error otherwise.
 */
json_t		*gb_anthropic_error(int, const char *);
const char	*gb_anthropic_error_type(int);

/*
 * An upstream (Gemini) error body with its HTTP status -> the Anthropic
 * error answer (new reference) and the status to send (400
 * API_KEY_INVALID becomes 401), as gb_gemini_error_to_openai() does.
 */
json_t	*gb_gemini_error_to_anthropic(int, const char *, size_t, int *);

/*
 * Gemini finishReason (NULL: none yet) -> stop_reason: "end_turn", or
 * "tool_use" when calls came, "max_tokens", "refusal" for the reasons
 * chat calls content_filter; a blocked prompt is "refusal".
 */
const char	*gb_anthropic_stop_reason(const char *, int, int);

/*
 * usageMetadata -> {input_tokens, output_tokens, cache_read_input_tokens}
 * (new reference): cached tokens are not counted again as input;
 * thoughts count as output. A missing argument counts as zeros.
 */
json_t	*gb_anthropic_usage(const json_t *);

/*
 * A tool call of the part walk (parts.h) -> a tool_use block (new
 * reference; id "toolu_" + 24 random hex digits, input the arguments
 * as an object); the thought signature the call carries, or NULL.
 */
json_t		*gb_anthropic_tool_use(const json_t *);
const char	*gb_anthropic_call_sig(const json_t *);

#endif
