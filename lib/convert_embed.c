/*
 * convert_embed.c - embeddings (OpenAI request -> batchEmbedContents
 * bodies, their answers -> one OpenAI list) and the models list.
 *
 * Gemini takes at most GB_EMBED_BATCH inputs per batchEmbedContents
 * call, each request repeating "model":"models/<m>"; the answers come
 * back in request order, so concatenating them in batch order keeps the
 * OpenAI indices. Gemini reports no token usage for embeddings: usage is
 * zero.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

#define BAD(err, ...)	gb_err_set((err), GB_EXIT_USAGE, 400, __VA_ARGS__)

json_t *
gb_convert_embed_request(const json_t *req, const char *model, json_t **meta,
    struct gb_err *err)
{
	const json_t *in, *v, *dim, *ef;
	json_t *batches = NULL, *reqs = NULL, *r, *list = NULL;
	const char *enc = "float";
	char *up = NULL, mname[256], path[512];
	size_t i;

	if (meta != NULL)
		*meta = NULL;
	if (!json_is_object(req)) {
		BAD(err, "request: expected a JSON object");
		return NULL;
	}
	if (model == NULL &&
	    (model = json_string_value(json_object_get(req, "model"))) == NULL) {
		BAD(err, "model: missing");
		return NULL;
	}
	if ((up = gb_convert_model_name("model", model, err)) == NULL)
		return NULL;
	in = json_object_get(req, "input");
	if (json_is_string(in))
		list = json_pack("[O]", in);
	else if (json_is_array(in))
		list = json_incref((json_t *)(uintptr_t)in);
	else {
		BAD(err, "input: expected a string or an array of strings");
		goto fail;
	}
	if (json_array_size(list) == 0) {
		BAD(err, "input: empty");
		goto fail;
	}
	json_array_foreach(list, i, v) {
		if (json_is_integer(v) || json_is_array(v)) {
			BAD(err, "input: token arrays are not supported, "
			    "send text");
			goto fail;
		}
		if (!json_is_string(v)) {
			BAD(err, "input[%zu]: expected a string", i);
			goto fail;
		}
		if (json_string_length(v) == 0) {
			BAD(err, "input[%zu]: empty string", i);
			goto fail;
		}
	}
	dim = json_object_get(req, "dimensions");
	if (dim != NULL && !json_is_null(dim) && (!json_is_integer(dim) ||
	    json_integer_value(dim) < 1 ||
	    json_integer_value(dim) > INT32_MAX)) {
		BAD(err, "dimensions: expected a positive integer");
		goto fail;
	}
	ef = json_object_get(req, "encoding_format");
	if (ef != NULL && !json_is_null(ef)) {
		enc = json_string_value(ef);
		if (enc == NULL || (strcmp(enc, "float") != 0 &&
		    strcmp(enc, "base64") != 0)) {
			BAD(err, "encoding_format: expected float or base64");
			goto fail;
		}
	}
	snprintf(mname, sizeof(mname), "models/%s", up);
	batches = json_array();
	json_array_foreach(list, i, v) {
		if (i % GB_EMBED_BATCH == 0) {
			reqs = json_array();
			json_array_append_new(batches, json_pack("{s:o}",
			    "requests", reqs));
		}
		r = json_pack("{s:s,s:{s:[{s:O}]}}", "model", mname, "content",
		    "parts", "text", v);
		if (json_is_integer(dim))
			json_object_set(r, "outputDimensionality",
			    (json_t *)(uintptr_t)dim);
		if (json_array_append_new(reqs, r) == -1) {
			gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
			goto fail;
		}
	}
	snprintf(path, sizeof(path), "%s:batchEmbedContents", mname);
	if (meta != NULL)
		*meta = json_pack("{s:s,s:s,s:s,s:s,s:I}", "model", model,
		    "upstream_model", up, "path", path, "encoding_format", enc,
		    "batches", (json_int_t)json_array_size(batches));
	json_decref(list);
	free(up);
	return batches;
fail:
	json_decref(batches);
	json_decref(list);
	free(up);
	return NULL;
}

/* A vector -> base64 of little-endian float32 (new reference). */
static json_t *
vector_b64(const json_t *vals)
{
	const json_t *x;
	unsigned char *b;
	uint32_t u;
	float f;
	size_t i, n;
	char *s;
	json_t *r;

	if ((b = malloc(json_array_size(vals) * 4 + 1)) == NULL)
		return NULL;
	json_array_foreach(vals, i, x) {
		f = (float)json_number_value(x);
		memcpy(&u, &f, 4);
		b[4 * i] = u & 0xff;
		b[4 * i + 1] = u >> 8 & 0xff;
		b[4 * i + 2] = u >> 16 & 0xff;
		b[4 * i + 3] = u >> 24 & 0xff;
	}
	s = gb_b64_encode(b, json_array_size(vals) * 4, &n);
	free(b);
	if (s == NULL)
		return NULL;
	r = json_stringn_nocheck(s, n);
	free(s);
	return r;
}

json_t *
gb_convert_embed_response(const json_t *bodies, const char *model,
    int base64, struct gb_err *err)
{
	const json_t *body, *embs, *e, *vals, *x, *ge;
	json_t *data, *emb;
	size_t b, i, k, idx = 0;

	if ((data = json_array()) == NULL)
		goto mem;
	json_array_foreach(bodies, b, body) {
		if (json_is_object(ge = json_object_get(body, "error"))) {
			BAD(err, "response %zu is an upstream error: %s", b,
			    json_string_value(json_object_get(ge, "message")) ?
			    json_string_value(json_object_get(ge, "message")) :
			    "(no message)");
			goto fail;
		}
		embs = json_object_get(body, "embeddings");
		if (!json_is_array(embs)) {
			BAD(err, "response %zu: no embeddings array", b);
			goto fail;
		}
		json_array_foreach(embs, i, e) {
			vals = json_object_get(e, "values");
			if (!json_is_array(vals)) {
				BAD(err, "response %zu: embeddings[%zu]: no "
				    "values array", b, i);
				goto fail;
			}
			json_array_foreach(vals, k, x)
				if (!json_is_number(x)) {
					BAD(err, "response %zu: embeddings[%zu]"
					    ".values[%zu]: expected a number",
					    b, i, k);
					goto fail;
				}
			emb = base64 ? vector_b64(vals) :
			    json_incref((json_t *)(uintptr_t)vals);
			if (emb == NULL || json_array_append_new(data, json_pack(
			    "{s:s,s:I,s:o}", "object", "embedding", "index",
			    (json_int_t)idx++, "embedding", emb)) == -1)
				goto mem;
		}
	}
	return json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data",
	    data, "model", model, "usage", "prompt_tokens", 0, "total_tokens",
	    0);
mem:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
fail:
	json_decref(data);
	return NULL;
}

static json_t *
model_obj(const char *id)
{
	return json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model",
	    "created", 0, "owned_by", "google");
}

json_t *
gb_convert_models(const json_t *pages, const struct gb_config *cfg,
    const char *want, struct gb_err *err)
{
	const json_t *page, *models, *m, *ge;
	const char *name, *id;
	json_t *data, *found = NULL;
	char sid[512];
	size_t p, i;

	if (want != NULL && strncmp(want, "models/", 7) == 0)
		want += 7;
	if ((data = json_array()) == NULL)
		goto mem;
	json_array_foreach(pages, p, page) {
		if (json_is_object(ge = json_object_get(page, "error"))) {
			BAD(err, "page %zu is an upstream error: %s", p,
			    json_string_value(json_object_get(ge, "message")) ?
			    json_string_value(json_object_get(ge, "message")) :
			    "(no message)");
			goto fail;
		}
		models = json_object_get(page, "models");
		if (models != NULL && !json_is_array(models)) {
			BAD(err, "page %zu: models: expected an array", p);
			goto fail;
		}
		json_array_foreach(models, i, m) {
			name = json_string_value(json_object_get(m, "name"));
			if (name == NULL) {
				BAD(err, "page %zu: models[%zu].name: missing",
				    p, i);
				goto fail;
			}
			id = strrchr(name, '/') != NULL ?
			    strrchr(name, '/') + 1 : name;
			json_array_append_new(data, model_obj(id));
			if (gb_strlist_has(&cfg->model_search, id)) {
				snprintf(sid, sizeof(sid), "%s-search", id);
				json_array_append_new(data, model_obj(sid));
			}
		}
	}
	if (want == NULL)
		return json_pack("{s:s,s:o}", "object", "list", "data", data);
	json_array_foreach(data, i, m)
		if (strcmp(json_string_value(json_object_get(m, "id")), want) ==
		    0) {
			found = json_incref((json_t *)(uintptr_t)m);
			break;
		}
	json_decref(data);
	if (found == NULL)
		gb_err_set(err, GB_EXIT_NO, 404, "model not found: %s", want);
	return found;
mem:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
fail:
	json_decref(data);
	return NULL;
}
