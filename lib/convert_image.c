/*
 * convert_image.c - OpenAI image generation (POST /v1/images/generations)
 * to Gemini and back: the modes image-request and image-response.
 *
 * Two kinds of model draw: Imagen ("imagen-*"), asked through the
 * native predict action with a sampleCount, and Gemini's image models,
 * asked through generateContent with the IMAGE response modality, which
 * give one image (with some text) per call. So a request becomes a list
 * of upstream bodies, one per call: n generateContent calls, or
 * ceil(n / IMAGEN_BATCH) predict calls. OpenAI's own model names
 * (dall-e-*, gpt-image-*) and an absent model mean IMAGE_MODEL.
 *
 * The answers of those calls, in order, become one OpenAI images
 * answer: every image in b64_json, with revised_prompt from the text a
 * Gemini model said beside it (or the prompt Imagen rewrote). No image
 * in any answer is a negative answer (GB_EXIT_NO) saying why, from the
 * block reason, finish reason or filter reason the upstream gave.
 *
 * OpenAI's size becomes Gemini's aspect ratio: the supported ratio
 * nearest the size's, and a side of 2048 (4096) pixels or more asks
 * for a 2K (4K, Gemini only) image. quality, style, moderation and user are checked and
 * not sent: Gemini has no such knobs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convert.h"
#include "multipart.h"

#define BAD(err, ...)	gb_err_set((err), GB_EXIT_USAGE, 400, __VA_ARGS__)

#define IMAGE_N_MAX	8	/* images one request may ask for */
#define IMAGEN_BATCH	4	/* Imagen's largest sampleCount */
#define PROMPT_MAX	32000	/* bytes of prompt (OpenAI's own cap) */
#define SIDE_MAX	16384	/* pixels of one side of a size */
#define REASON_MAX	200	/* bytes of model text in an error */
#define IMAGE_EDIT_MAX	16	/* input images of one edit */

/* The aspect ratios each kind of model takes. */
static const char *const gemini_ratios[] = {
	"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9",
	"21:9", NULL
};
static const char *const imagen_ratios[] = {
	"1:1", "3:4", "4:3", "9:16", "16:9", NULL
};

/* Is v (a string) one of the NULL-terminated list? */
static int
one_of(const char *v, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(v, *list) == 0)
			return 1;
	return 0;
}

/*
 * An optional string field whose value must be one of list: 0 (absent,
 * null or allowed; *out the value or NULL), or -1 after a 400 naming
 * the field and the values it takes.
 */
static int
enum_field(const json_t *req, const char *name, const char *const *list,
    const char **out, struct gb_err *err)
{
	const json_t *v = json_object_get(req, name);
	const char *const *p;
	char allowed[256];
	size_t o = 0;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v) && one_of(json_string_value(v), list)) {
		*out = json_string_value(v);
		return 0;
	}
	allowed[0] = '\0';
	for (p = list; *p != NULL && o < sizeof(allowed); p++)
		o += (size_t)snprintf(allowed + o, sizeof(allowed) - o,
		    "%s%s", p == list ? "" : ", ", *p);
	return BAD(err, "%s: expected one of %s", name, allowed);
}

/* "W" of "WxH" etc.: a decimal number of at most 5 digits, or -1. */
static long
side(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= SIDE_MAX ? v : -1;
}

/*
 * size -> the nearest aspect ratio the model takes (*ratio) and, for a
 * large size, an image size (*res, "2K" or "4K", else NULL). "auto" or
 * absent: neither. "W:H" naming a ratio the model takes is that ratio.
 */
static int
parse_size(const json_t *req, int imagen, const char **ratio,
    const char **res, struct gb_err *err)
{
	const char *const *list = imagen ? imagen_ratios : gemini_ratios;
	const json_t *v = json_object_get(req, "size");
	const char *s, *x, *const *p;
	double want, have, d, best = 0;
	long w, h, a, b, big;

	*ratio = *res = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if ((s = json_string_value(v)) == NULL)
		return BAD(err, "size: expected a string such as 1024x1024");
	if (strcmp(s, "auto") == 0)
		return 0;
	if (strchr(s, ':') != NULL) {
		for (p = list; *p != NULL; p++)
			if (strcmp(s, *p) == 0) {
				*ratio = *p;
				return 0;
			}
		return BAD(err, "size: aspect ratio %s is not one this model "
		    "takes", s);
	}
	x = strchr(s, 'x');
	if (x == NULL || (w = side(s, (size_t)(x - s))) < 1 ||
	    (h = side(x + 1, strlen(x + 1))) < 1)
		return BAD(err, "size: expected WIDTHxHEIGHT (such as "
		    "1024x1024), an aspect ratio such as 16:9, or auto");
	/* the ratio whose quotient with the size's is nearest 1 */
	for (p = list; *p != NULL; p++) {
		a = strtol(*p, NULL, 10);
		b = strtol(strchr(*p, ':') + 1, NULL, 10);
		want = (double)w * (double)b;
		have = (double)h * (double)a;
		d = want > have ? want / have : have / want;
		if (*ratio == NULL || d < best) {
			*ratio = *p;
			best = d;
		}
	}
	/* OpenAI's own sizes (1792 at most) never ask for more than 1K */
	big = w > h ? w : h;
	if (big >= 4096 && !imagen)
		*res = "4K";
	else if (big >= 2048)
		*res = "2K";
	return 0;
}

/*
 * The model to ask: IMAGE_MODEL for none or OpenAI's names; for an edit
 * a Gemini image model, IMAGE_MODEL when it is one, else
 * GB_IMAGE_EDIT_MODEL.
 */
static const char *
pick_model(const json_t *req, const struct gb_config *cfg, int edit,
    struct gb_err *err)
{
	const json_t *v = json_object_get(req, "model");
	const char *m = NULL, *def;

	def = cfg->image_model != NULL ? cfg->image_model : GB_IMAGE_MODEL;
	if (edit && strncmp(def, "imagen", 6) == 0)
		def = GB_IMAGE_EDIT_MODEL;
	if (v != NULL && !json_is_null(v) &&
	    (m = json_string_value(v)) == NULL) {
		BAD(err, "model: expected a string");
		return NULL;
	}
	if (m == NULL || *m == '\0' || strncmp(m, "dall-e", 6) == 0 ||
	    strncmp(m, "gpt-image", 9) == 0 ||
	    strncmp(m, "chatgpt-image", 13) == 0)
		return def;
	return m;
}

/* The generationConfig asking for an image (new reference). */
static json_t *
gemini_config(const char *ratio, const char *res)
{
	json_t *ic = json_object(), *gc;

	if (ratio != NULL)
		json_object_set_new(ic, "aspectRatio", json_string(ratio));
	if (res != NULL)
		json_object_set_new(ic, "imageSize", json_string(res));
	gc = json_pack("{s:[s,s]}", "responseModalities", "TEXT", "IMAGE");
	if (gc != NULL && json_object_size(ic) > 0)
		json_object_set(gc, "imageConfig", ic);
	json_decref(ic);
	return gc;
}

/* One predict body for count images. */
static json_t *
imagen_body(const json_t *prompt, json_int_t count, const char *ratio,
    const char *res, const char *fmt, const json_t *quality)
{
	json_t *par, *oo;

	par = json_pack("{s:I}", "sampleCount", count);
	if (ratio != NULL)
		json_object_set_new(par, "aspectRatio", json_string(ratio));
	if (res != NULL)
		json_object_set_new(par, "sampleImageSize", json_string(res));
	if (fmt != NULL && strcmp(fmt, "jpeg") == 0) {
		oo = json_pack("{s:s}", "mimeType", "image/jpeg");
		if (json_is_integer(quality))
			json_object_set(oo, "compressionQuality",
			    (json_t *)(uintptr_t)quality);
		json_object_set_new(par, "outputOptions", oo);
	}
	return json_pack("{s:[{s:O}],s:o}", "instances", "prompt", prompt,
	    "parameters", par);
}

/* A request's fields, checked. */
struct opts {
	const json_t	*prompt;
	const char	*model;		/* as asked, or the default */
	char		*up;		/* the upstream model (malloc'd) */
	int		 imagen;
	json_int_t	 n;
	const char	*ratio, *res, *fmt;
	const json_t	*comp;
};

/*
 * Check the fields of a generation (edit 0) or an edit (1) into o:
 * 0, or -1 with err naming the field (o->up freed).
 */
static int
check(const json_t *req, const struct gb_config *cfg, int edit,
    struct opts *o, struct gb_err *err)
{
	static const char *const rfmts[] = { "b64_json", "url", NULL };
	static const char *const qualities[] = {
		"auto", "standard", "hd", "low", "medium", "high", NULL
	};
	static const char *const styles[] = { "vivid", "natural", NULL };
	static const char *const bgs[] = {
		"auto", "opaque", "transparent", NULL
	};
	static const char *const ofmts[] = { "png", "jpeg", "webp", NULL };
	static const char *const mods[] = { "auto", "low", NULL };
	static const char *const fids[] = { "low", "high", NULL };
	const json_t *v;
	const char *s;

	memset(o, 0, sizeof(*o));
	o->n = 1;
	if (!json_is_object(req))
		return BAD(err, "request: expected a JSON object");
	o->prompt = json_object_get(req, "prompt");
	if (o->prompt == NULL || json_is_null(o->prompt))
		return BAD(err, "prompt: missing");
	if (!json_is_string(o->prompt) || json_string_length(o->prompt) == 0)
		return BAD(err, "prompt: expected a non-empty string");
	if (json_string_length(o->prompt) > PROMPT_MAX)
		return BAD(err, "prompt: longer than %d bytes", PROMPT_MAX);
	if ((o->model = pick_model(req, cfg, edit, err)) == NULL ||
	    (o->up = gb_convert_model_name("model", o->model, err)) == NULL)
		return -1;
	o->imagen = strncmp(o->up, "imagen", 6) == 0;
	if (edit && o->imagen) {
		BAD(err, "model: %s cannot edit images here; name a Gemini "
		    "image model such as %s", o->up, GB_IMAGE_EDIT_MODEL);
		goto fail;
	}
	v = json_object_get(req, "n");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > IMAGE_N_MAX) {
			BAD(err, "n: expected an integer from 1 to %d",
			    IMAGE_N_MAX);
			goto fail;
		}
		o->n = json_integer_value(v);
	}
	if (enum_field(req, "response_format", rfmts, &s, err) == -1)
		goto fail;
	if (s != NULL && strcmp(s, "url") == 0) {
		BAD(err, "response_format: url is not offered (this server "
		    "keeps no images to link to); use b64_json");
		goto fail;
	}
	if (enum_field(req, "quality", qualities, &s, err) == -1 ||
	    enum_field(req, "style", styles, &s, err) == -1 ||
	    enum_field(req, "moderation", mods, &s, err) == -1 ||
	    enum_field(req, "input_fidelity", fids, &s, err) == -1 ||
	    enum_field(req, "background", bgs, &s, err) == -1)
		goto fail;
	if (s != NULL && strcmp(s, "transparent") == 0) {
		BAD(err, "background: transparent is not offered (Gemini "
		    "draws opaque images)");
		goto fail;
	}
	if (enum_field(req, "output_format", ofmts, &o->fmt, err) == -1)
		goto fail;
	if (o->fmt != NULL && strcmp(o->fmt, "png") != 0 &&
	    (!o->imagen || strcmp(o->fmt, "jpeg") != 0)) {
		BAD(err, "output_format: %s is not offered by %s (%s)", o->fmt,
		    o->up, o->imagen ? "png or jpeg" : "png");
		goto fail;
	}
	o->comp = v = json_object_get(req, "output_compression");
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    json_integer_value(v) < 0 || json_integer_value(v) > 100)) {
		BAD(err, "output_compression: expected an integer from 0 "
		    "to 100");
		goto fail;
	}
	v = json_object_get(req, "stream");
	if (v != NULL && !json_is_null(v) && !json_is_false(v)) {
		BAD(err, "stream: streamed image generation is not offered");
		goto fail;
	}
	v = json_object_get(req, "user");
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		BAD(err, "user: expected a string");
		goto fail;
	}
	if (parse_size(req, o->imagen, &o->ratio, &o->res, err) == -1)
		goto fail;
	return 0;
fail:
	free(o->up);
	o->up = NULL;
	return -1;
}

json_t *
gb_convert_image_request(const json_t *req, const struct gb_config *cfg,
    json_t **meta, struct gb_err *err)
{
	struct opts o;
	json_t *calls = NULL, *b;
	json_int_t left;
	char path[512];

	if (meta != NULL)
		*meta = NULL;
	if (check(req, cfg, 0, &o, err) == -1)
		return NULL;
	if ((calls = json_array()) == NULL)
		goto mem;
	for (left = o.n; left > 0; left -= o.imagen ? IMAGEN_BATCH : 1) {
		b = o.imagen ? imagen_body(o.prompt, left < IMAGEN_BATCH ?
		    left : IMAGEN_BATCH, o.ratio, o.res, o.fmt, o.comp) :
		    json_pack("{s:[{s:s,s:[{s:O}]}],s:o}", "contents", "role",
		    "user", "parts", "text", o.prompt, "generationConfig",
		    gemini_config(o.ratio, o.res));
		if (json_array_append_new(calls, b) == -1)
			goto mem;
	}
	snprintf(path, sizeof(path), "models/%s:%s", o.up, o.imagen ?
	    "predict" : "generateContent");
	if (meta != NULL && (*meta = json_pack("{s:s,s:s,s:s,s:I,s:I}",
	    "model", o.model, "upstream_model", o.up, "path", path, "n", o.n,
	    "calls", (json_int_t)json_array_size(calls))) == NULL)
		goto mem;
	free(o.up);
	return calls;
mem:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	json_decref(calls);
	free(o.up);
	return NULL;
}

/* ---- edits: multipart/form-data in ---- */

/* The form's text fields and how they become JSON. */
static const struct {
	const char	*name;
	int		 integer;	/* else a string; stream: a boolean */
} edit_fields[] = {
	{ "prompt", 0 }, { "model", 0 }, { "n", 1 }, { "size", 0 },
	{ "response_format", 0 }, { "quality", 0 }, { "background", 0 },
	{ "output_format", 0 }, { "output_compression", 1 }, { "user", 0 },
	{ "input_fidelity", 0 }, { "moderation", 0 }, { "stream", 0 },
	{ "style", 0 }, { "partial_images", 1 },
};

/* A text field's value as JSON (new reference), or NULL after a 400. */
static json_t *
field_value(const struct gb_mpart *m, int integer, struct gb_err *err)
{
	json_t *v;
	long long x = 0;
	size_t i;

	if (strcmp(m->name, "stream") == 0) {
		if (m->len == 4 && memcmp(m->data, "true", 4) == 0)
			return json_true();
		if (m->len == 5 && memcmp(m->data, "false", 5) == 0)
			return json_false();
		BAD(err, "stream: expected true or false");
		return NULL;
	}
	if (integer) {
		if (m->len == 0 || m->len > 9) {
			BAD(err, "%s: expected an integer", m->name);
			return NULL;
		}
		for (i = 0; i < m->len; i++) {
			if (m->data[i] < '0' || m->data[i] > '9') {
				BAD(err, "%s: expected an integer", m->name);
				return NULL;
			}
			x = x * 10 + (m->data[i] - '0');
		}
		return json_integer(x);
	}
	if (m->len > PROMPT_MAX) {
		BAD(err, "%s: longer than %d bytes", m->name, PROMPT_MAX);
		return NULL;
	}
	if ((v = json_stringn(m->data, m->len)) == NULL)
		BAD(err, "%s: not UTF-8 text", m->name);
	return v;
}

/* An image part's type: its own if an image we take, else its magic. */
static const char *
image_type(const struct gb_mpart *m)
{
	const unsigned char *d = (const unsigned char *)m->data;

	if (strcmp(m->ctype, "image/png") == 0 ||
	    strcmp(m->ctype, "image/jpeg") == 0 ||
	    strcmp(m->ctype, "image/webp") == 0)
		return m->ctype;
	if (strcmp(m->ctype, "image/jpg") == 0)
		return "image/jpeg";
	if (m->ctype[0] != '\0' && strcmp(m->ctype,
	    "application/octet-stream") != 0)
		return NULL;
	if (m->len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (m->len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
		return "image/jpeg";
	if (m->len >= 12 && memcmp(d, "RIFF", 4) == 0 &&
	    memcmp(d + 8, "WEBP", 4) == 0)
		return "image/webp";
	return NULL;
}

json_t *
gb_convert_image_edit_request(const char *body, size_t len,
    const struct gb_config *cfg, json_t **meta, struct gb_err *err)
{
	struct gb_mpart *parts;
	struct opts o;
	json_t *req = NULL, *imgs = NULL, *v, *res = NULL;
	const char *mime;
	char path[512], *b64;
	size_t i, k, nimg = 0, blen;
	int n;

	if (meta != NULL)
		*meta = NULL;
	memset(&o, 0, sizeof(o));
	if ((parts = calloc(GB_MPART_MAX, sizeof(*parts))) == NULL ||
	    (req = json_object()) == NULL || (imgs = json_array()) == NULL)
		goto mem;
	if ((n = gb_multipart_parse(body, len, parts, GB_MPART_MAX,
	    err)) == -1)
		goto fail;
	for (i = 0; i < (size_t)n; i++) {
		if (strcmp(parts[i].name, "image") == 0 ||
		    strcmp(parts[i].name, "image[]") == 0) {
			if (++nimg > IMAGE_EDIT_MAX) {
				BAD(err, "image: more than %d images",
				    IMAGE_EDIT_MAX);
				goto fail;
			}
			if (parts[i].len == 0 ||
			    (mime = image_type(&parts[i])) == NULL) {
				BAD(err, "image %zu: not a PNG, JPEG or WebP "
				    "image", nimg);
				goto fail;
			}
			if ((b64 = gb_b64_encode(parts[i].data, parts[i].len,
			    &blen)) == NULL)
				goto mem;
			v = json_pack("{s:{s:s,s:s%}}", "inlineData",
			    "mimeType", mime, "data", b64, blen);
			free(b64);
			if (v == NULL || json_array_append_new(imgs, v) == -1)
				goto mem;
			continue;
		}
		if (strcmp(parts[i].name, "mask") == 0) {
			BAD(err, "mask: not offered (Gemini edits by the "
			    "prompt alone)");
			goto fail;
		}
		for (k = 0; k < GB_NELEM(edit_fields); k++)
			if (strcmp(parts[i].name, edit_fields[k].name) == 0)
				break;
		if (k == GB_NELEM(edit_fields))
			continue;	/* others are ignored, as on JSON */
		if (json_object_get(req, parts[i].name) != NULL) {
			BAD(err, "%s: given twice", parts[i].name);
			goto fail;
		}
		if ((v = field_value(&parts[i], edit_fields[k].integer,
		    err)) == NULL || json_object_set_new(req, parts[i].name,
		    v) == -1)
			goto fail;
	}
	if (nimg == 0) {
		BAD(err, "image: missing");
		goto fail;
	}
	if (check(req, cfg, 1, &o, err) == -1)
		goto fail;
	if (json_array_append_new(imgs, json_pack("{s:O}", "text",
	    o.prompt)) == -1)
		goto mem;
	res = json_pack("{s:[{s:s,s:O}],s:o}", "contents", "role", "user",
	    "parts", imgs, "generationConfig", gemini_config(o.ratio, o.res));
	snprintf(path, sizeof(path), "models/%s:generateContent", o.up);
	if (res == NULL || (meta != NULL && (*meta = json_pack(
	    "{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "model", o.model,
	    "upstream_model", o.up, "path", path, "n", o.n, "calls", o.n,
	    "repeat", o.n, "images", (json_int_t)nimg)) == NULL))
		goto mem;
	goto out;
mem:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
fail:
	json_decref(res);
	res = NULL;
out:
	free(o.up);
	free(parts);
	json_decref(req);
	json_decref(imgs);
	return res;
}

/* ---- the answers ---- */

struct gather {
	json_t		*data;		/* the answer's images */
	json_int_t	 in, out, total, text_in, image_in;
	int		 usage;		/* some answer had usageMetadata */
	char		 why[256];	/* why an answer had no image */
};

/* Cut s to at most n bytes, never inside a UTF-8 sequence. */
static void
utf8_cut(char *s, size_t n)
{
	if (strlen(s) <= n)
		return;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = '\0';
}

/* The first reason an answer had no image, for the error. */
static void
why(struct gather *g, const char *fmt, const char *what)
{
	char m[2 * sizeof(g->why)];

	if (g->why[0] != '\0')
		return;
	snprintf(m, sizeof(m), fmt, what);
	utf8_cut(m, sizeof(g->why) - 1);
	memcpy(g->why, m, strlen(m) + 1);
}

static json_int_t
count(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    json_integer_value(v) : 0;
}

static void
add_usage(struct gather *g, const json_t *um)
{
	const json_t *d, *x;
	const char *mod;
	json_int_t t = 0, i = 0;
	size_t k;

	if (!json_is_object(um))
		return;
	g->usage = 1;
	g->in += count(um, "promptTokenCount");
	g->out += count(um, "candidatesTokenCount") +
	    count(um, "thoughtsTokenCount");
	g->total += count(um, "totalTokenCount");
	d = json_object_get(um, "promptTokensDetails");
	if (!json_is_array(d)) {
		g->text_in += count(um, "promptTokenCount");
		return;
	}
	json_array_foreach(d, k, x) {
		mod = json_string_value(json_object_get(x, "modality"));
		if (mod != NULL && strcmp(mod, "IMAGE") == 0)
			i += count(x, "tokenCount");
		else
			t += count(x, "tokenCount");
	}
	g->text_in += t;
	g->image_in += i;
}

/* One image: checked base64, with the text said beside it. */
static int
add_image(struct gather *g, const json_t *b64, const char *revised,
    size_t a, struct gb_err *err)
{
	json_t *o;

	if (!json_is_string(b64) || !gb_b64_valid(json_string_value(b64),
	    json_string_length(b64)))
		return BAD(err, "answer %zu: image data is not base64", a);
	o = json_pack("{s:O}", "b64_json", b64);
	if (o != NULL && revised != NULL && *revised != '\0')
		json_object_set_new(o, "revised_prompt", json_string(revised));
	if (o == NULL || json_array_append_new(g->data, o) == -1)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	return 0;
}

/* An Imagen predict answer. */
static int
predictions(struct gather *g, const json_t *preds, size_t a,
    struct gb_err *err)
{
	const json_t *p, *b;
	const char *r;
	size_t i;

	if (!json_is_array(preds))
		return BAD(err, "answer %zu: predictions: expected an array",
		    a);
	json_array_foreach(preds, i, p) {
		b = json_object_get(p, "bytesBase64Encoded");
		if (b == NULL) {
			if ((r = json_string_value(json_object_get(p,
			    "raiFilteredReason"))) != NULL)
				why(g, "filtered: %s", r);
			continue;
		}
		if (add_image(g, b, json_string_value(json_object_get(p,
		    "prompt")), a, err) == -1)
			return -1;
	}
	return 0;
}

/* A Gemini generateContent answer: each candidate's images, its text. */
static int
candidates(struct gather *g, const json_t *doc, size_t a, struct gb_err *err)
{
	const json_t *cands, *c, *parts, *p, *id;
	const char *fr, *t, *mime;
	char *text = NULL, *nt;
	size_t i, k, len, tl;
	int rc = 0;

	cands = json_object_get(doc, "candidates");
	if (cands != NULL && !json_is_array(cands))
		return BAD(err, "answer %zu: candidates: expected an array",
		    a);
	json_array_foreach(cands, i, c) {
		parts = json_object_get(json_object_get(c, "content"),
		    "parts");
		free(text);
		text = NULL;
		len = 0;
		/* the text first: it goes with every image of the candidate */
		json_array_foreach(parts, k, p) {
			if (json_is_true(json_object_get(p, "thought")) ||
			    (t = json_string_value(json_object_get(p,
			    "text"))) == NULL)
				continue;
			tl = strlen(t);
			if ((nt = realloc(text, len + tl + 1)) == NULL) {
				free(text);
				return gb_err_set(err, GB_EXIT_TEMP, 500,
				    "out of memory");
			}
			text = nt;
			memcpy(text + len, t, tl + 1);
			len += tl;
		}
		json_array_foreach(parts, k, p) {
			id = json_object_get(p, "inlineData");
			if (id == NULL)
				id = json_object_get(p, "inline_data");
			if (id == NULL || json_is_true(json_object_get(p,
			    "thought")))
				continue;
			mime = json_string_value(json_object_get(id,
			    "mimeType"));
			if (mime == NULL)
				mime = json_string_value(json_object_get(id,
				    "mime_type"));
			if (mime == NULL || strncmp(mime, "image/", 6) != 0)
				continue;
			if ((rc = add_image(g, json_object_get(id, "data"),
			    text, a, err)) == -1)
				goto out;
		}
		fr = json_string_value(json_object_get(c, "finishReason"));
		if (fr != NULL && strcmp(fr, "STOP") != 0)
			why(g, "finishReason %s", fr);
		else if (text != NULL && len > 0) {
			if (len > REASON_MAX) {
				utf8_cut(text, REASON_MAX);
				why(g, "the model said: %s...", text);
			} else
				why(g, "the model said: %s", text);
		}
	}
	if ((fr = json_string_value(json_object_get(json_object_get(doc,
	    "promptFeedback"), "blockReason"))) != NULL)
		why(g, "prompt blocked: %s", fr);
out:
	free(text);
	return rc;
}

json_t *
gb_convert_image_response(const json_t *answers, struct gb_err *err)
{
	struct gather g;
	const json_t *doc, *ge;
	const char *m;
	json_t *res;
	size_t a;

	memset(&g, 0, sizeof(g));
	if ((g.data = json_array()) == NULL)
		goto mem;
	json_array_foreach(answers, a, doc) {
		if (!json_is_object(doc)) {
			BAD(err, "answer %zu: expected a JSON object", a);
			goto fail;
		}
		if (json_is_object(ge = json_object_get(doc, "error"))) {
			m = json_string_value(json_object_get(ge, "message"));
			BAD(err, "answer %zu is an upstream error: %s", a,
			    m != NULL ? m : "(no message)");
			goto fail;
		}
		add_usage(&g, json_object_get(doc, "usageMetadata"));
		if (json_object_get(doc, "predictions") != NULL) {
			if (predictions(&g, json_object_get(doc,
			    "predictions"), a, err) == -1)
				goto fail;
		} else if (candidates(&g, doc, a, err) == -1)
			goto fail;
	}
	if (json_array_size(g.data) == 0) {
		gb_err_set(err, GB_EXIT_NO, 502, "the upstream answer has no "
		    "image (%s)", g.why[0] != '\0' ? g.why : "none was "
		    "returned");
		goto fail;
	}
	res = json_pack("{s:I,s:o}", "created", (json_int_t)time(NULL),
	    "data", g.data);
	if (res != NULL && g.usage)
		json_object_set_new(res, "usage", json_pack(
		    "{s:I,s:I,s:I,s:{s:I,s:I}}", "input_tokens", g.in,
		    "output_tokens", g.out, "total_tokens", g.total,
		    "input_tokens_details", "text_tokens", g.text_in,
		    "image_tokens", g.image_in));
	if (res == NULL)
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	return res;
mem:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
fail:
	json_decref(g.data);
	return NULL;
}
