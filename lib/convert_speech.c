/*
 * convert_speech.c - speech: an OpenAI /v1/audio/speech request -> a
 * Gemini generateContent body for a TTS model, and the model's answer
 * -> the audio file the client asked for (gb-convert(1), Speech).
 *
 * Gemini speaks through generateContent with responseModalities AUDIO
 * and a prebuilt voice; the answer is one or more inlineData parts of
 * raw 16-bit PCM ("audio/L16;codec=pcm;rate=24000"). The samples are
 * little-endian, whatever RFC 2586 says of L16: that is what Gemini
 * sends and what its own examples write into WAVE files. OpenAI's
 * "pcm" is the same bytes; "wav" puts a RIFF header before them; "mp3"
 * is encoded here (audio.c). OpenAI's other formats (opus, aac, flac)
 * are refused by name, so a client learns at once what to ask for.
 *
 * Gemini has no speed control and no separate style field: the style
 * (instructions) and a spoken pace for speed go before the text, in
 * the form Google's TTS guide uses ("Say cheerfully: Hello").
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audio.h"
#include "convert.h"
#include "voice.h"

#define BAD(err, ...)	gb_err_set((err), GB_EXIT_USAGE, 400, __VA_ARGS__)
/* the upstream answer is not what a TTS model gives: the gateway's 502 */
#define UPBAD(err, ...)	gb_err_set((err), GB_EXIT_NO, 502, __VA_ARGS__)

#define SPEED_MIN	0.25
#define SPEED_MAX	4.0

static const struct {
	const char	*name;
	const char	*ctype;
} formats[] = {
	{ "mp3", "audio/mpeg" },	/* the first is the default */
	{ "wav", "audio/wav" },
	{ "pcm", "audio/pcm" },
};

/* OpenAI's formats this server does not make. */
static const char *const refused[] = { "opus", "aac", "flac" };

/* Characters (code points) of a UTF-8 string of n bytes. */
static size_t
u8len(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/*
 * A string field: 0 absent or null (*s NULL), 1 a string within max
 * characters, -1 with err set otherwise.
 */
static int
text_field(const json_t *req, const char *k, size_t max, const char **s,
    size_t *n, struct gb_err *err)
{
	const json_t *v = json_object_get(req, k);
	size_t c;

	*s = NULL;
	*n = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return BAD(err, "%s: expected a string", k);
	*s = json_string_value(v);
	*n = json_string_length(v);
	if ((c = u8len(*s, *n)) > max)
		return BAD(err, "%s: %zu characters, more than %zu", k, c,
		    max);
	return 1;
}

/* The Gemini model: TTS_MODEL for OpenAI's names (or none). */
static char *
speech_model(const json_t *req, const struct gb_config *cfg,
    const char **asked, struct gb_err *err)
{
	const json_t *v = json_object_get(req, "model");
	const char *m;

	*asked = cfg->tts_model;
	if (v == NULL || json_is_null(v))
		return gb_convert_model_name("TTS_MODEL", cfg->tts_model, err);
	if ((m = json_string_value(v)) == NULL) {
		BAD(err, "model: expected a string");
		return NULL;
	}
	*asked = m;
	if (strncasecmp(m, "tts-", 4) == 0 || strncasecmp(m, "gpt-", 4) == 0)
		return gb_convert_model_name("TTS_MODEL", cfg->tts_model, err);
	return gb_convert_model_name("model", m, err);
}

/* The Gemini voice: TTS_VOICE when none is named. */
static const char *
speech_voice(const json_t *req, const struct gb_config *cfg,
    struct gb_err *err)
{
	const json_t *v = json_object_get(req, "voice");
	const char *g;

	if (v == NULL || json_is_null(v))
		return cfg->tts_voice;
	if (json_is_object(v)) {
		BAD(err, "voice: custom voices are not supported, name one "
		    "of the prebuilt voices");
		return NULL;
	}
	if (!json_is_string(v)) {
		BAD(err, "voice: expected a string");
		return NULL;
	}
	if ((g = gb_voice_find(json_string_value(v))) == NULL ||
	    strlen(json_string_value(v)) != json_string_length(v))
		BAD(err, "voice: unknown voice \"%.64s\" (a Gemini voice such "
		    "as Kore or Zephyr, or one of OpenAI's: alloy, ash, "
		    "ballad, cedar, coral, echo, fable, marin, nova, onyx, "
		    "sage, shimmer, verse)", json_string_value(v));
	return g;
}

/* The output format's index in formats[], or -1 with err set. */
static int
speech_format(const json_t *req, struct gb_err *err)
{
	const json_t *v = json_object_get(req, "response_format");
	const char *f;
	size_t i;

	if (v == NULL || json_is_null(v))
		return 0;
	if ((f = json_string_value(v)) == NULL)
		return BAD(err, "response_format: expected a string");
	for (i = 0; i < GB_NELEM(formats); i++)
		if (strcasecmp(f, formats[i].name) == 0)
			return (int)i;
	for (i = 0; i < GB_NELEM(refused); i++)
		if (strcasecmp(f, refused[i]) == 0)
			return BAD(err, "response_format: \"%s\" is not "
			    "supported; the supported formats are mp3, wav "
			    "and pcm", refused[i]);
	return BAD(err, "response_format: \"%.32s\" is not one of mp3, wav, "
	    "pcm", f);
}

/*
 * The spoken pace a speed asks for, as words for the style prompt, or
 * NULL (about 1: the model's own pace).
 */
static int
speech_pace(const json_t *req, const char **pace, struct gb_err *err)
{
	const json_t *v = json_object_get(req, "speed");
	double s;

	*pace = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_number(v) || (s = json_number_value(v)) < SPEED_MIN ||
	    s > SPEED_MAX)
		return BAD(err, "speed: expected a number from 0.25 to 4.0");
	if (s <= 0.5)
		*pace = "very slowly";
	else if (s < 0.9)
		*pace = "slowly";
	else if (s >= 2.0)
		*pace = "very quickly";
	else if (s > 1.1)
		*pace = "quickly";
	return 0;
}

static int
speech_stream(const json_t *req, struct gb_err *err)
{
	const json_t *v = json_object_get(req, "stream_format");
	const char *f;

	if (v == NULL || json_is_null(v))
		return 0;
	if ((f = json_string_value(v)) != NULL && strcmp(f, "audio") == 0)
		return 0;
	if (f != NULL && strcmp(f, "sse") == 0)
		return BAD(err, "stream_format: \"sse\" is not supported; "
		    "leave it out (or \"audio\") to get the whole audio file");
	return BAD(err, "stream_format: expected \"audio\" or \"sse\"");
}

/*
 * What the model is asked to say: the input alone, or the style before
 * it: "INSTRUCTIONS: INPUT", "Say PACE: INPUT" or
 * "INSTRUCTIONS, PACE: INPUT" (instructions without the white space and
 * the one '.' or ':' they end with).
 */
static json_t *
speech_text(const char *in, size_t inlen, const char *ins, size_t inslen,
    const char *pace)
{
	struct gb_buf b;
	json_t *t;

	while (inslen > 0 && strchr(" \t\r\n", ins[inslen - 1]) != NULL)
		inslen--;
	if (inslen > 0 && (ins[inslen - 1] == '.' || ins[inslen - 1] == ':'))
		inslen--;
	while (inslen > 0 && strchr(" \t\r\n", ins[inslen - 1]) != NULL)
		inslen--;
	if (inslen == 0 && pace == NULL)
		return json_stringn(in, inlen);
	gb_buf_init(&b, inlen + inslen + 64);
	if ((inslen > 0 ? gb_buf_append(&b, ins, inslen) :
	    gb_buf_puts(&b, "Say")) == -1 ||
	    (pace != NULL && gb_buf_printf(&b, "%s%s", inslen > 0 ? ", " :
	    " ", pace) == -1) || gb_buf_puts(&b, ": ") == -1 ||
	    gb_buf_append(&b, in, inlen) == -1) {
		gb_buf_free(&b);
		return NULL;
	}
	t = json_stringn(b.data, b.len);
	gb_buf_free(&b);
	return t;
}

json_t *
gb_convert_speech_request(const json_t *req, const struct gb_config *cfg,
    json_t **meta, struct gb_err *err)
{
	const char *asked, *voice, *pace, *in, *ins;
	size_t inlen, inslen;
	char *up = NULL, path[512];
	json_t *text, *body = NULL;
	int fmt;

	if (meta != NULL)
		*meta = NULL;
	if (!json_is_object(req)) {
		BAD(err, "request: expected a JSON object");
		return NULL;
	}
	switch (text_field(req, "input", GB_SPEECH_INPUT_MAX, &in, &inlen,
	    err)) {
	case -1:
		return NULL;
	case 0:
		BAD(err, "input: missing");
		return NULL;
	}
	if (inlen == 0) {
		BAD(err, "input: empty");
		return NULL;
	}
	if (text_field(req, "instructions", GB_SPEECH_INPUT_MAX, &ins,
	    &inslen, err) == -1 ||
	    (voice = speech_voice(req, cfg, err)) == NULL ||
	    (fmt = speech_format(req, err)) == -1 ||
	    speech_pace(req, &pace, err) == -1 ||
	    speech_stream(req, err) == -1 ||
	    (up = speech_model(req, cfg, &asked, err)) == NULL)
		return NULL;
	if ((text = speech_text(in, inlen, ins != NULL ? ins : "", inslen,
	    pace)) == NULL)
		goto oom;
	body = json_pack("{s:[{s:s,s:[{s:o}]}],s:{s:[s],s:{s:{s:{s:s}}}}}",
	    "contents", "role", "user", "parts", "text", text,
	    "generationConfig", "responseModalities", "AUDIO",
	    "speechConfig", "voiceConfig", "prebuiltVoiceConfig",
	    "voiceName", voice);
	if (body == NULL)
		goto oom;
	snprintf(path, sizeof(path), "models/%s:generateContent", up);
	if (meta != NULL && (*meta = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}",
	    "model", asked, "upstream_model", up, "path", path,
	    "voice", voice, "response_format", formats[fmt].name,
	    "content_type", formats[fmt].ctype)) == NULL)
		goto oom;
	free(up);
	return body;
oom:
	gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	json_decref(body);
	free(up);
	return NULL;
}

/* ---- the answer ---- */

/* The 16-bit PCM an audio MIME type describes. */
struct pcm {
	unsigned	rate;
	unsigned	channels;
};

/*
 * "audio/L16;codec=pcm;rate=24000" (or audio/pcm, Gemini's other
 * spelling): 16-bit samples at rate Hz (24000 when not said), channels
 * (1 when not said). 0, or -1 with err set.
 */
static int
pcm_type(const char *mime, struct pcm *p, struct gb_err *err)
{
	const char *s, *e;
	long long n;
	size_t tl;

	p->rate = 24000;
	p->channels = 1;
	tl = strcspn(mime, "; \t");
	if (!((tl == 9 && strncasecmp(mime, "audio/l16", 9) == 0) ||
	    (tl == 9 && strncasecmp(mime, "audio/pcm", 9) == 0)))
		return UPBAD(err, "upstream audio is %.64s, not 16-bit PCM",
		    mime);
	for (s = mime + tl; *s != '\0'; s = e) {
		s += strspn(s, "; \t");
		e = s + strcspn(s, ";");
		if (strncasecmp(s, "rate=", 5) == 0 || strncasecmp(s,
		    "channels=", 9) == 0) {
			char num[16];
			const char *v = strchr(s, '=') + 1, *es;
			size_t vl = (size_t)(e - v);
			int rate = tolower((unsigned char)*s) == 'r';

			while (vl > 0 && (v[vl - 1] == ' ' ||
			    v[vl - 1] == '\t'))
				vl--;
			if (vl >= sizeof(num))
				vl = sizeof(num) - 1;
			memcpy(num, v, vl);
			num[vl] = '\0';
			if (gb_strtonum(num, rate ? 8000 : 1, rate ? 96000 : 2,
			    &n, &es) == -1)
				return UPBAD(err, "upstream audio: %s %s "
				    "(%.64s)", rate ? "rate" : "channels", es,
				    mime);
			if (rate)
				p->rate = (unsigned)n;
			else
				p->channels = (unsigned)n;
		}
	}
	return 0;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * Base64 (standard or URL-safe, padded or not) appended to out. 0, or
 * -1 with err set and out as it was.
 */
static int
b64_decode(const char *s, size_t n, struct gb_buf *out, struct gb_err *err)
{
	unsigned char *d;
	size_t i, o = 0;
	uint32_t acc = 0;
	int v, bits = 0;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return UPBAD(err, "upstream audio: invalid base64");
	if (gb_buf_reserve(out, n / 4 * 3 + 2) == -1) {
		if (errno == E2BIG)
			return gb_err_set(err, GB_EXIT_TEMP, 500, "output: "
			    "more than %zu bytes", out->cap);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	}
	d = (unsigned char *)out->data + out->len;
	for (i = 0; i < n; i++) {
		if ((v = b64val((unsigned char)s[i])) < 0) {
			out->data[out->len] = '\0';
			return UPBAD(err, "upstream audio: invalid base64");
		}
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			d[o++] = (unsigned char)(acc >> bits);
		}
	}
	out->len += o;
	out->data[out->len] = '\0';
	return 0;
}

/* Why an answer has no audio, for the 502. */
static void
no_audio(const json_t *res, const json_t *cand, int text, const char *model,
    struct gb_err *err)
{
	const char *r;

	if ((r = json_string_value(json_object_get(json_object_get(res,
	    "promptFeedback"), "blockReason"))) != NULL)
		UPBAD(err, "upstream answer has no audio: the input was "
		    "blocked (%.32s)", r);
	else if (text)
		UPBAD(err, "upstream answer is text, not audio (is %.64s a "
		    "TTS model?)", model != NULL ? model : "the model");
	else if ((r = json_string_value(json_object_get(cand,
	    "finishReason"))) != NULL && strcmp(r, "STOP") != 0)
		UPBAD(err, "upstream answer has no audio (finishReason "
		    "%.32s)", r);
	else
		UPBAD(err, "upstream answer has no audio");
}

int
gb_convert_speech_response(const json_t *res, const char *format,
    const char *model, struct gb_buf *out, struct gb_err *err)
{
	const json_t *cand, *parts, *part, *d, *data;
	const char *mime;
	struct gb_buf pcm, *dst;
	struct pcm p, first = { 0, 0 };
	unsigned char hdr[GB_WAV_HEADER];
	size_t i, start = out->len, frame;
	int fmt = 0, text = 0, rc = -1;

	if (format != NULL) {
		for (fmt = 0; fmt < (int)GB_NELEM(formats); fmt++)
			if (strcmp(format, formats[fmt].name) == 0)
				break;
		if (fmt == (int)GB_NELEM(formats))
			return gb_err_set(err, GB_EXIT_USAGE, 500, "-f %s: "
			    "not one of mp3, wav, pcm", format);
	}
	if (!json_is_object(res))
		return UPBAD(err, "upstream answer: expected a JSON object");
	/* mp3 encodes from a buffer of its own; wav and pcm decode in place */
	gb_buf_init(&pcm, out->cap);
	memset(hdr, 0, sizeof(hdr));
	dst = fmt == 0 ? &pcm : out;
	if (fmt == 1 && gb_buf_append(out, hdr, sizeof(hdr)) == -1) {
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		goto out;
	}
	cand = json_array_get(json_object_get(res, "candidates"), 0);
	parts = json_object_get(json_object_get(cand, "content"), "parts");
	json_array_foreach(parts, i, part) {
		if ((d = json_object_get(part, "inlineData")) == NULL)
			d = json_object_get(part, "inline_data");
		if ((mime = json_string_value(json_object_get(d,
		    "mimeType"))) == NULL)
			mime = json_string_value(json_object_get(d,
			    "mime_type"));
		if (mime == NULL || strncasecmp(mime, "audio/", 6) != 0) {
			if (json_is_string(json_object_get(part, "text")))
				text = 1;
			continue;
		}
		if (pcm_type(mime, &p, err) == -1)
			goto out;
		if (first.rate == 0)
			first = p;
		else if (p.rate != first.rate || p.channels != first.channels) {
			UPBAD(err, "upstream audio parts differ in rate or "
			    "channels");
			goto out;
		}
		if (!json_is_string(data = json_object_get(d, "data"))) {
			UPBAD(err, "upstream audio part without data");
			goto out;
		}
		if (b64_decode(json_string_value(data),
		    json_string_length(data), dst, err) == -1)
			goto out;
	}
	if (first.rate == 0) {
		no_audio(res, cand, text, model, err);
		goto out;
	}
	frame = (size_t)first.channels * 2;
	switch (fmt) {
	case 0:
		if (pcm.len == 0) {
			UPBAD(err, "upstream audio is empty");
			goto out;
		}
		if (pcm.len % frame != 0) {
			UPBAD(err, "upstream audio: %zu bytes are not whole "
			    "16-bit samples", pcm.len);
			goto out;
		}
		rc = gb_audio_mp3((const unsigned char *)pcm.data, pcm.len,
		    first.rate, first.channels, GB_MP3_KBPS, out, err);
		goto out;
	case 1:
		if ((out->len - start - GB_WAV_HEADER) % frame != 0 ||
		    gb_audio_wav_header(hdr, first.rate, first.channels, 16,
		    out->len - start - GB_WAV_HEADER) == -1) {
			UPBAD(err, "upstream audio: %zu bytes are not whole "
			    "16-bit samples", out->len - start - GB_WAV_HEADER);
			goto out;
		}
		memcpy(out->data + start, hdr, sizeof(hdr));
		break;
	default:
		break;
	}
	rc = 0;
out:
	gb_buf_free(&pcm);
	if (rc == -1 && out->len > start) {
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}
