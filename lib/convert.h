/*
 * convert.h - the whole-document OpenAI <-> Gemini conversions behind
 * gb-convert (and reusable by gb-serve): chat requests and responses,
 * embeddings, model lists and error bodies. Every function takes parsed
 * JSON, returns a new reference (or -1/NULL with the gb_err filled in,
 * code GB_EXIT_USAGE for bad input), never prints and never exits.
 * The per-event stream conversion lives in stream.c; both use gemini.h
 * for the shared vocabulary.
 */
#ifndef GB_CONVERT_H
#define GB_CONVERT_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "gb.h"

/* Caps of an http(s) image download (documented in gb-convert(1)). */
#define GB_FETCH_MAX		(20 * 1024 * 1024)
#define GB_FETCH_TIMEOUT	10		/* seconds, whole transfer */

/* Most inputs in one batchEmbedContents call (Gemini's limit). */
#define GB_EMBED_BATCH		100

/* Placeholder Google documents for calls without a known signature. */
#define GB_SKIP_SIGNATURE	"skip_thought_signature_validator"

/*
 * OpenAI chat.completions request -> Gemini GenerateContentRequest.
 * *meta (if meta is not NULL) gets what the upstream call needs:
 * {"model","upstream_model","path","stream","include_usage","search"}.
 * http(s) image URLs are downloaded here (GB_FETCH_MAX, GB_FETCH_TIMEOUT).
 */
json_t	*gb_convert_chat_request(const json_t *, const struct gb_config *,
	    json_t **, struct gb_err *);

/*
 * Gemini GenerateContentResponse -> OpenAI chat.completion for the model
 * name the client asked for (search links when it ends in "-search").
 */
json_t	*gb_convert_chat_response(const json_t *, const char *,
	    const struct gb_config *, struct gb_err *);

/*
 * OpenAI embeddings request -> an array of batchEmbedContents bodies, one
 * per GB_EMBED_BATCH inputs. model may be NULL (then the request's).
 * *meta: {"model","upstream_model","path","encoding_format","batches"}.
 */
json_t	*gb_convert_embed_request(const json_t *, const char *, json_t **,
	    struct gb_err *);

/*
 * An array of batchEmbedContents responses (in batch order) -> one OpenAI
 * embeddings list; base64 != 0 encodes each vector as little-endian
 * float32 in base64.
 */
json_t	*gb_convert_embed_response(const json_t *, const char *, int,
	    struct gb_err *);

/*
 * An array of Gemini models list pages -> the OpenAI list, "-search"
 * variants right after the MODEL_SEARCH ids. With id not NULL, the one
 * model object, or NULL with err->code GB_EXIT_NO when it is absent.
 */
json_t	*gb_convert_models(const json_t *, const struct gb_config *,
	    const char *, struct gb_err *);

/*
 * Model names: strip a leading "models/"; check the rest is a plain name
 * ([A-Za-z0-9._-]). Returns a malloc'd copy or NULL (err filled in).
 */
char	*gb_convert_model_name(const char *, const char *, struct gb_err *);

/*
 * Clean a JSON Schema for Gemini (new reference): drops the keywords
 * listed in the NULL-terminated array wherever they are keywords (not
 * inside "properties" maps, where they are property names).
 */
json_t	*gb_schema_clean(const json_t *, const char *const *);

/*
 * Base64 (standard alphabet, padded). gb_b64_encode returns a malloc'd
 * NUL-terminated string (length in *outlen) or NULL; gb_b64_valid says
 * whether s[0..n) is well-formed base64.
 */
char	*gb_b64_encode(const void *, size_t, size_t *);
int	 gb_b64_valid(const char *, size_t);

/*
 * Download an http(s) URL into b (whose cap bounds the size), within
 * timeout seconds; *ctype gets the media type (malloc'd, no parameters,
 * lower case) from Content-Type, or NULL. Returns 0 or -1 (err filled
 * in, naming the URL).
 */
int	 gb_fetch(const char *, long, struct gb_buf *, char **,
	    struct gb_err *);

#endif
