/*
 * convert.h - the whole-document OpenAI <-> Gemini conversions behind
 * gb-convert (and reusable by gb-serve): chat requests and responses,
 * embeddings, model lists and error bodies. Every function takes parsed
 * JSON, returns a new reference (or -1/NULL with the gb_err filled in,
 * code GB_EXIT_USAGE for bad input), never prints and never exits.
 * gb_convert_run() is all of gb-convert's work on one input, for the
 * command line and for hosts. The per-event stream conversion lives in
 * stream.c; both use gemini.h for the shared vocabulary and parts.h
 * for a candidate's parts.
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
 * OpenAI Responses API request -> Gemini GenerateContentRequest, through
 * the chat request it means (convert_responses.c); *meta as for chat.
 * Gemini GenerateContentResponse -> a Responses response object for the
 * model name the client asked for.
 */
json_t	*gb_convert_responses_request(const json_t *,
	    const struct gb_config *, json_t **, struct gb_err *);
json_t	*gb_convert_responses_response(const json_t *, const char *,
	    const struct gb_config *, struct gb_err *);

/*
 * Anthropic Messages request -> Gemini GenerateContentRequest, through
 * the chat request it means (convert_anthropic.c); *meta as for chat.
 * The count variant wraps it for countTokens
 * ({"generateContentRequest": ...}, meta path models/M:countTokens);
 * its answer {"totalTokens": N} becomes {"input_tokens": N}.
 * Gemini GenerateContentResponse -> a Messages "message" for the model
 * name the client asked for.
 */
json_t	*gb_convert_anthropic_request(const json_t *,
	    const struct gb_config *, json_t **, struct gb_err *);
json_t	*gb_convert_anthropic_count_request(const json_t *,
	    const struct gb_config *, json_t **, struct gb_err *);
json_t	*gb_convert_anthropic_count_response(const json_t *,
	    struct gb_err *);
json_t	*gb_convert_anthropic_response(const json_t *, const char *,
	    const struct gb_config *, struct gb_err *);

/*
 * The models list, or one model (id not NULL), in Anthropic's shape:
 * {"data": [{type "model", id, display_name, created_at}], has_more,
 * first_id, last_id}; ids as gb_convert_models() gives them.
 */
json_t	*gb_convert_anthropic_models(const json_t *,
	    const struct gb_config *, const char *, struct gb_err *);

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
 * Speech (convert_speech.c). An OpenAI /v1/audio/speech request -> a
 * Gemini generateContent body asking a TTS model for audio in one
 * prebuilt voice; OpenAI's model names and a missing model or voice
 * take TTS_MODEL and TTS_VOICE. *meta: {"model","upstream_model",
 * "path","voice","response_format","content_type"}, content_type being
 * the MIME type of what speech-response will make of the answer.
 * input and instructions are capped at GB_SPEECH_INPUT_MAX characters.
 */
#define GB_SPEECH_INPUT_MAX	4096

json_t	*gb_convert_speech_request(const json_t *, const struct gb_config *,
	    json_t **, struct gb_err *);

/*
 * A TTS model's GenerateContentResponse -> the audio bytes, appended to
 * out: format "pcm" (the samples as they came), "wav" (a RIFF WAVE file)
 * or "mp3" (NULL: the default). model (or NULL) names the model in the
 * message of an answer without audio. Returns 0, or -1 with err set
 * (GB_EXIT_NO, status 502: the answer holds no usable audio) and out as
 * it was.
 */
int	 gb_convert_speech_response(const json_t *, const char *,
	    const char *, struct gb_buf *, struct gb_err *);

/*
 * OpenAI images request (POST /v1/images/generations) -> an array of
 * upstream bodies, one per call (convert_image.c): n generateContent
 * bodies for a Gemini image model, or predict bodies of at most 4
 * samples each for Imagen; no model or an OpenAI name means IMAGE_MODEL.
 * *meta: {"model","upstream_model","path","n","calls"}.
 * The answers of those calls, in order -> one OpenAI images answer
 * {"created","data":[{"b64_json","revised_prompt"?}],"usage"?}; no image
 * at all is err->code GB_EXIT_NO, saying why.
 */
json_t	*gb_convert_image_request(const json_t *, const struct gb_config *,
	    json_t **, struct gb_err *);
json_t	*gb_convert_image_response(const json_t *, struct gb_err *);

/*
 * An OpenAI image edit (POST /v1/images/edits), multipart/form-data
 * bytes (multipart.h) -> one generateContent body with the images
 * inline before the prompt, to be sent n times; the model must be a
 * Gemini image model (none or OpenAI's: IMAGE_MODEL if it is one, else
 * GB_IMAGE_EDIT_MODEL). *meta: as for image-request, plus "repeat" (n)
 * and "images".
 */
#define GB_IMAGE_EDIT_MODEL	"gemini-2.5-flash-image"
json_t	*gb_convert_image_edit_request(const char *, size_t,
	    const struct gb_config *, json_t **, struct gb_err *);

/*
 * gb-convert's modes, and one run of a mode as a typed call: what the
 * command line does between reading its input and writing its output,
 * and what a host that runs conversions on worker threads does with a
 * job's whole input.
 */
enum gb_convert_mode {
	GB_CONVERT_CHAT_REQUEST,	/* chat-request */
	GB_CONVERT_CHAT_RESPONSE,	/* chat-response */
	GB_CONVERT_EMBED_REQUEST,	/* embed-request */
	GB_CONVERT_EMBED_RESPONSE,	/* embed-response */
	GB_CONVERT_MODELS,		/* models */
	GB_CONVERT_ERROR,		/* error */
	GB_CONVERT_RESPONSES_REQUEST,	/* responses-request */
	GB_CONVERT_RESPONSES_RESPONSE,	/* responses-response */
	GB_CONVERT_ANTHROPIC_REQUEST,	/* anthropic-request */
	GB_CONVERT_ANTHROPIC_RESPONSE,	/* anthropic-response */
	GB_CONVERT_ANTHROPIC_COUNT_REQUEST,	/* anthropic-count-request */
	GB_CONVERT_ANTHROPIC_COUNT_RESPONSE,	/* anthropic-count-response */
	GB_CONVERT_ANTHROPIC_MODELS,	/* anthropic-models */
	GB_CONVERT_SPEECH_REQUEST,	/* speech-request */
	GB_CONVERT_SPEECH_RESPONSE,	/* speech-response */
	/* images (convert_image.c) */
	GB_CONVERT_IMAGE_REQUEST,	/* image-request */
	GB_CONVERT_IMAGE_RESPONSE,	/* image-response */
	GB_CONVERT_IMAGE_EDIT_REQUEST	/* image-edit-request */
};

struct gb_convert_job {
	enum gb_convert_mode mode;
	const char	*model;		/* -m: needed by chat-response,
					   responses-response and
					   embed-response; embed-request:
					   overrides the request's, or NULL */
	const char	*id;		/* -i: models, one model; or NULL */
	int		 base64;	/* -e base64: embed-response */
	int		 status;	/* -s: error, upstream HTTP status */
	const char	*format;	/* -f: speech-response's audio
					   format, or NULL (mp3) */
};

/* Mode name (as on the command line) <-> mode; parse returns 0 or -1. */
int		 gb_convert_mode_parse(const char *, enum gb_convert_mode *);
const char	*gb_convert_mode_name(enum gb_convert_mode);

/*
 * Convert one input (len bytes at data) by the job, with the
 * configuration cfg (cfg->max_body caps the input). The input is one
 * JSON document (chat-*, embed-request), concatenated JSON documents
 * (embed-response, models) or any bytes (error).
 *
 * On success appends to out the output as gb-convert writes it on
 * stdout (one line of compact JSON, or one line per batch for
 * embed-request; speech-response: the audio bytes) and returns
 * GB_EXIT_OK. With meta not NULL, *meta gets
 * what gb-convert -I writes (a new reference) for chat-request,
 * embed-request, speech-request and error, NULL for the other modes.
 *
 * On failure returns the exit status (GB_EXIT_NO: models -i found no
 * such model; GB_EXIT_USAGE: bad input; GB_EXIT_TEMP: out of memory,
 * out's cap reached, a download or read failed) with err filled in:
 * err->msg is what gb-convert prints after "gb-convert: ", err->status
 * an HTTP status that fits. out is then as it was and *meta NULL.
 *
 * Thread-safe: no state outside the call, so several may run at once
 * (chat-request downloads http(s) images with libcurl, gb_fetch()).
 */
int	gb_convert_run(const struct gb_convert_job *,
	    const struct gb_config *, const char *, size_t, struct gb_buf *,
	    json_t **, struct gb_err *);

/*
 * The same, with the input read from descriptor fd to EOF (the command
 * line's stdin): a JSON document is parsed as it is read, through a
 * 64 KiB buffer, so a large request is never held as bytes and as a
 * tree at once. A read error is GB_EXIT_TEMP, "stdin: <strerror>".
 */
int	gb_convert_run_fd(const struct gb_convert_job *,
	    const struct gb_config *, int, struct gb_buf *, json_t **,
	    struct gb_err *);

/*
 * Append j to out as one line of compact JSON, as gb-convert writes its
 * output and its -I line. Returns 0, or -1 with errno E2BIG (out's cap),
 * ENOMEM or EINVAL (not encodable) and out as it was.
 */
int	gb_convert_dump(const json_t *, struct gb_buf *);

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
 * timeout seconds, connecting only to public addresses and those allow
 * lists (netaddr.h), and then directly, not through a proxy, unless it
 * allows all; *ctype gets the media type (malloc'd, no parameters,
 * lower case) from Content-Type, or NULL. Returns 0 or -1 (err filled
 * in, naming the URL; an address refused is named as that, nothing more).
 */
int	 gb_fetch(const char *, long, const struct gb_netlist *,
	    struct gb_buf *, char **, struct gb_err *);

#endif
