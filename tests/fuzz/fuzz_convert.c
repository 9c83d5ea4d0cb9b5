/*
 * fuzz_convert.c - every gb-convert mode on arbitrary JSON. The first
 * byte picks the mode, the rest is the document; modes 5 to 7 run
 * gb_convert_run() on the bytes as they are, JSON or not (its mode from
 * bits 3-7: every mode, the Responses, Anthropic and speech ones
 * included), as a host does. Inputs that mention "http" are skipped:
 * chat-request would try to download them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The typed core on the raw bytes; out and meta are dropped. */
static void
run_core(const uint8_t *data, size_t len, const struct gb_config *cfg)
{
	struct gb_convert_job job;
	struct gb_buf out;
	struct gb_err err;
	json_t *meta = NULL;

	memset(&job, 0, sizeof(job));
	job.mode = (enum gb_convert_mode)((data[0] >> 3) %
	    (GB_CONVERT_SPEECH_RESPONSE + 1));
	job.model = "gemini-2.0-flash-exp-search";
	job.id = data[0] & 0x40 ? "gemini-2.0-flash-exp" : NULL;
	job.base64 = data[0] & 0x80;
	job.status = data[0] & 0x40 ? 400 : 503;
	job.format = (data[0] & 0x7) == 6 ? "wav" : (data[0] & 0x7) == 7 ?
	    "pcm" : NULL;
	gb_buf_init(&out, 1 << 24);
	gb_convert_run(&job, cfg, (const char *)data + 1, len - 1, &out,
	    &meta, &err);
	gb_buf_free(&out);
	json_decref(meta);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char *search[] = { "gemini-2.0-flash-exp" };
	struct gb_config cfg;
	struct gb_err err;
	json_t *in, *out, *meta = NULL, *arr;

	if (len < 1 || memmem(data, len, "http", 4) != NULL)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.model_search.v = search;
	cfg.model_search.n = 1;
	cfg.show_search_link = 1;
	cfg.show_thinking = data[0] & 0x80 ? 1 : 0;
	cfg.code_execution = data[0] & 0x40 ? 1 : 0;
	cfg.max_body = 1 << 20;
	cfg.tts_model = (char *)(uintptr_t)"gemini-2.5-flash-preview-tts";
	cfg.tts_voice = (char *)(uintptr_t)"Zephyr";
	if ((data[0] & 0x7) >= 5) {
		run_core(data, len, &cfg);
		return 0;
	}
	if ((in = json_loadb((const char *)data + 1, len - 1, 0, NULL)) ==
	    NULL)
		return 0;
	out = NULL;
	switch (data[0] & 0x7) {
	case 0:
		out = gb_convert_chat_request(in, &cfg, &meta, &err);
		break;
	case 1:
		out = gb_convert_chat_response(in, "gemini-2.0-flash-exp-search",
		    &cfg, &err);
		break;
	case 2:
		out = gb_convert_embed_request(in, NULL, &meta, &err);
		break;
	case 3:
		arr = json_is_array(in) ? json_incref(in) : json_pack("[O]", in);
		out = gb_convert_embed_response(arr, "m", data[0] & 0x8, &err);
		json_decref(arr);
		break;
	case 4:
		arr = json_is_array(in) ? json_incref(in) : json_pack("[O]", in);
		out = gb_convert_models(arr, &cfg, data[0] & 0x8 ?
		    "gemini-2.0-flash-exp-search" : NULL, &err);
		json_decref(arr);
		break;
	default:
		break;
	}
	if (out != NULL) {
		char *s = json_dumps(out, JSON_COMPACT);

		free(s);
	}
	json_decref(out);
	json_decref(meta);
	json_decref(in);
	return 0;
}
