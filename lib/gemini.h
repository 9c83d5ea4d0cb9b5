/*
 * gemini.h - the shared vocabulary of the Gemini -> OpenAI mapping, used
 * by the whole-response conversion (gb-convert chat-response), the
 * per-event stream conversion (gb-sse) and error answers (gb-serve):
 * finish reasons, usage, the text renderings of code execution and
 * search links, tool-call ids that carry thought signatures, and
 * OpenAI-shaped errors.
 */
#ifndef GB_GEMINI_H
#define GB_GEMINI_H

#include <jansson.h>

#include "buf.h"
#include "gb.h"

/*
 * Gemini finishReason -> OpenAI finish_reason ("stop", "length",
 * "content_filter"); unknown or NULL -> "stop". Turning "stop" into
 * "tool_calls" when calls were emitted is the caller's job.
 */
const char	*gb_gemini_finish_reason(const char *);

/*
 * usageMetadata -> OpenAI usage object (new reference), or NULL when
 * the argument is not an object. Thought tokens count as completion
 * tokens and as completion_tokens_details.reasoning_tokens; when
 * prompt + candidates already equals the total, thoughts are taken as
 * included in candidatesTokenCount.
 */
json_t		*gb_gemini_usage(const json_t *);

/*
 * Text renderings, laid out byte for byte as the original did:
 * executableCode -> "\n\n---\n\n【代码执行】\n```python\n<code>\n```\n"
 * codeExecutionResult -> "\n【执行结果】\n> outcome: ...\n\n【输出结果】\n..."
 * groundingMetadata -> "\n\n---\n\n**【引用来源】**\n\n" + "\n- [t](u)" each.
 * Each appends to the buffer; returns 0, or -1 if the buffer is full.
 */
int	gb_gemini_render_code(const json_t *, struct gb_buf *);
int	gb_gemini_render_result(const json_t *, struct gb_buf *);
int	gb_gemini_render_search(const json_t *, struct gb_buf *);

/*
 * Tool-call ids. Gemini 3 needs each call's thoughtSignature back, and
 * the proxy keeps no state, so the signature rides inside the id handed
 * to the client: "call_<16 hex>" alone, or "call_<16 hex>~<signature>".
 * gb_gemini_call_id() mints one (malloc'd; sig may be NULL).
 * gb_gemini_call_sig() returns the signature part of an id (pointer into
 * it) or NULL.
 */
#define GB_CALL_ID_SIGSEP	'~'
char		*gb_gemini_call_id(const char *);
const char	*gb_gemini_call_sig(const char *);

/*
 * A whole GenerateContentResponse that answers with one candidate (the
 * Responses and Messages APIs): checks its shape and sets *cand to the
 * candidate with the lowest index (its position when it has none), or
 * NULL when none came. Returns 0, or -1 with err set (GB_EXIT_USAGE,
 * 400): not an object, an upstream error object, candidates that are
 * not an array of objects.
 */
int	gb_gemini_answer(const json_t *, const json_t **, struct gb_err *);

/* Fill n bytes with random data (getrandom). Returns 0 or -1. */
int	gb_random(void *, size_t);

/*
 * An id: prefix and ndigits random lower-case hex digits (ndigits even,
 * at most 64) into buf of size bytes, NUL-terminated (cut to fit).
 * Returns 0, or -1 (getrandom failed; errno set).
 */
int	gb_random_id(char *, size_t, const char *, size_t);

/*
 * OpenAI error object (new reference):
 * {"error":{"message":m,"type":t,"param":null,"code":c}} with the type
 * derived from the HTTP status (invalid_request_error,
 * authentication_error, permission_error, not_found_error,
 * rate_limit_error, server_error). code may be NULL.
 */
json_t		*gb_openai_error(int, const char *, const char *);
const char	*gb_openai_error_type(int);

/*
 * Gemini error object (new reference):
 * {"error":{"code":status,"message":m,"status":s}} with the canonical
 * status name for the HTTP status.
 */
json_t		*gb_gemini_error(int, const char *);

/*
 * An upstream (Gemini) error body with its HTTP status -> the OpenAI
 * error answer (new reference) and the status to send (*out_status):
 * 400 API_KEY_INVALID becomes 401; the message is kept; a body that is
 * not Gemini JSON gets a generic message.
 */
json_t	*gb_gemini_error_to_openai(int, const char *, size_t, int *);

#endif
