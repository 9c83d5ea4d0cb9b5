/*
 * fuzz_image.c - the image modes of gb-convert on arbitrary bytes: the
 * first byte picks image-request (a JSON request), image-response
 * (concatenated answers) or image-edit-request (a multipart/form-data
 * body, also read by gb_multipart_parse() alone), run through
 * gb_convert_run() as a host does.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "convert.h"
#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const enum gb_convert_mode modes[] = {
		GB_CONVERT_IMAGE_REQUEST, GB_CONVERT_IMAGE_RESPONSE,
		GB_CONVERT_IMAGE_EDIT_REQUEST
	};
	static struct gb_mpart parts[GB_MPART_MAX];
	struct gb_convert_job job;
	struct gb_config cfg;
	struct gb_buf out;
	struct gb_err err;
	json_t *meta = NULL;

	if (len < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_body = 1 << 20;
	cfg.image_model = data[0] & 0x80 ? "gemini-2.5-flash-image" : NULL;
	memset(&job, 0, sizeof(job));
	job.mode = modes[(data[0] & 0x7f) % 3];
	if (job.mode == GB_CONVERT_IMAGE_EDIT_REQUEST)
		gb_multipart_parse((const char *)data + 1, len - 1, parts,
		    data[0] & 0x40 ? 2 : GB_MPART_MAX, &err);
	gb_buf_init(&out, 1 << 24);
	gb_convert_run(&job, &cfg, (const char *)data + 1, len - 1, &out,
	    &meta, &err);
	gb_buf_free(&out);
	json_decref(meta);
	return 0;
}
