/*
 * convert_run.c - gb-convert's work between "input read" and "output
 * ready", as one typed call (convert.h) that the command line and a
 * host running conversions on worker threads both make: parse the input
 * the mode wants, convert, free the input, dump the answer into the
 * caller's capped buffer. The messages are the command line's (after
 * "gb-convert: "), which is why the input is called stdin in them.
 *
 * Thread-safe: everything a run holds is on its stack or the heap, and
 * it is all freed before it returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "convert.h"
#include "gemini.h"
#include "io.h"

#define DUMPFLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(15) | \
			    JSON_ENCODE_ANY)
#define READBUF		65536

static const char *const mode_names[] = {
	[GB_CONVERT_CHAT_REQUEST] = "chat-request",
	[GB_CONVERT_CHAT_RESPONSE] = "chat-response",
	[GB_CONVERT_EMBED_REQUEST] = "embed-request",
	[GB_CONVERT_EMBED_RESPONSE] = "embed-response",
	[GB_CONVERT_MODELS] = "models",
	[GB_CONVERT_ERROR] = "error",
	[GB_CONVERT_RESPONSES_REQUEST] = "responses-request",
	[GB_CONVERT_RESPONSES_RESPONSE] = "responses-response",
	[GB_CONVERT_ANTHROPIC_REQUEST] = "anthropic-request",
	[GB_CONVERT_ANTHROPIC_RESPONSE] = "anthropic-response",
	[GB_CONVERT_ANTHROPIC_COUNT_REQUEST] = "anthropic-count-request",
	[GB_CONVERT_ANTHROPIC_COUNT_RESPONSE] = "anthropic-count-response",
	[GB_CONVERT_ANTHROPIC_MODELS] = "anthropic-models",
	[GB_CONVERT_SPEECH_REQUEST] = "speech-request",
	[GB_CONVERT_SPEECH_RESPONSE] = "speech-response",
	[GB_CONVERT_IMAGE_REQUEST] = "image-request",
	[GB_CONVERT_IMAGE_RESPONSE] = "image-response",
	[GB_CONVERT_IMAGE_EDIT_REQUEST] = "image-edit-request",
};

int
gb_convert_mode_parse(const char *name, enum gb_convert_mode *mode)
{
	size_t i;

	for (i = 0; i < GB_NELEM(mode_names); i++)
		if (strcmp(name, mode_names[i]) == 0) {
			*mode = (enum gb_convert_mode)i;
			return 0;
		}
	return -1;
}

const char *
gb_convert_mode_name(enum gb_convert_mode mode)
{
	return (size_t)mode < GB_NELEM(mode_names) ? mode_names[mode] : NULL;
}

/*
 * Where a run's input comes from: len bytes at data, or (use_fd) the
 * descriptor fd read to EOF; at most cap bytes either way.
 */
struct input {
	const char	*data;
	size_t		 len;
	int		 use_fd;
	int		 fd;
	size_t		 cap;
};

static int
toobig(const struct input *in, struct gb_err *err)
{
	return gb_err_set(err, GB_EXIT_USAGE, 413,
	    "stdin: more than %zu bytes (MAX_BODY)", in->cap);
}

/*
 * A descriptor through Jansson's callback loader, counted against the
 * cap. The loader asks for small pieces; they are served from a 64 KiB
 * buffer so a large body costs few read(2) calls and is never held
 * twice (the bytes and the tree).
 */
struct reader {
	int	 fd;
	size_t	 cap;
	size_t	 total;
	int	 toobig;
	int	 ioerr;
	size_t	 off;
	size_t	 len;
	char	 buf[READBUF];
};

static size_t
read_cb(void *p, size_t n, void *arg)
{
	struct reader *r = arg;
	ssize_t got;

	if (r->off == r->len) {
		got = gb_io_read(r->fd, r->buf, sizeof(r->buf));
		if (got == -1) {
			r->ioerr = errno;
			return (size_t)-1;
		}
		r->total += (size_t)got;
		if (r->total > r->cap) {
			r->toobig = 1;
			return (size_t)-1;
		}
		r->off = 0;
		r->len = (size_t)got;
	}
	if (n > r->len - r->off)
		n = r->len - r->off;
	memcpy(p, r->buf + r->off, n);
	r->off += n;
	return n;
}

/* One JSON document (of any type). */
static json_t *
load_json(const struct input *in, struct gb_err *err)
{
	struct reader *r;
	json_error_t je;
	json_t *j;

	if (!in->use_fd) {
		if (in->len > in->cap) {
			toobig(in, err);
			return NULL;
		}
		j = json_loadb(in->data != NULL ? in->data : "", in->len,
		    JSON_DECODE_ANY, &je);
	} else {
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
			return NULL;
		}
		r->fd = in->fd;
		r->cap = in->cap;
		j = json_load_callback(read_cb, r, JSON_DECODE_ANY, &je);
		if (r->ioerr != 0 || r->toobig) {
			if (r->ioerr != 0)
				gb_err_set(err, GB_EXIT_TEMP, 500, "stdin: %s",
				    strerror(r->ioerr));
			else
				toobig(in, err);
			free(r);
			json_decref(j);
			return NULL;
		}
		free(r);
	}
	if (j == NULL)
		gb_err_set(err, GB_EXIT_USAGE, 400, "stdin: invalid JSON at "
		    "line %d column %d: %s", je.line, je.column, je.text);
	return j;
}

/*
 * The whole input as bytes: in->data itself, or what the descriptor
 * gives, read into raw. 0, or -1 with err set.
 */
static int
load_raw(struct input *in, struct gb_buf *raw, struct gb_err *err)
{
	if (!in->use_fd)
		return in->len > in->cap ? toobig(in, err) : 0;
	gb_buf_init(raw, in->cap);
	if (gb_io_readall(in->fd, raw) == -1) {
		if (errno == E2BIG)
			return toobig(in, err);
		return gb_err_set(err, GB_EXIT_TEMP, 500, "stdin: %s",
		    strerror(errno));
	}
	in->data = raw->data;
	in->len = raw->len;
	return 0;
}

/* Concatenated JSON values (white space between) -> an array of them. */
static json_t *
load_json_seq(struct input *in, struct gb_err *err)
{
	struct gb_buf raw;
	json_error_t je;
	json_t *all = NULL, *j;
	size_t off = 0;

	gb_buf_init(&raw, 0);
	if (load_raw(in, &raw, err) == -1)
		goto out;
	if ((all = json_array()) == NULL) {
		gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		goto out;
	}
	for (;;) {
		while (off < in->len &&
		    strchr(" \t\r\n", in->data[off]) != NULL)
			off++;
		if (off == in->len)
			break;
		j = json_loadb(in->data + off, in->len - off,
		    JSON_DISABLE_EOF_CHECK, &je);
		if (j == NULL) {
			gb_err_set(err, GB_EXIT_USAGE, 400, "stdin: invalid "
			    "JSON in document %zu: %s",
			    json_array_size(all) + 1, je.text);
			goto fail;
		}
		if (json_array_append_new(all, j) == -1) {
			gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
			goto fail;
		}
		off += (size_t)je.position;
	}
	if (json_array_size(all) == 0) {
		gb_err_set(err, GB_EXIT_USAGE, 400, "stdin: no JSON document");
		goto fail;
	}
	goto out;
fail:
	json_decref(all);
	all = NULL;
out:
	gb_buf_free(&raw);
	return all;
}

/* The output buffer behind Jansson's dump callback. */
struct dump {
	struct gb_buf	*b;
	int		 err;		/* errno of a failed append */
};

static int
dump_cb(const char *p, size_t n, void *arg)
{
	struct dump *d = arg;

	if (gb_buf_append(d->b, p, n) == -1) {
		d->err = errno;
		return -1;
	}
	return 0;
}

int
gb_convert_dump(const json_t *j, struct gb_buf *out)
{
	struct dump d = { out, 0 };
	size_t len = out->len;

	if (json_dump_callback(j, dump_cb, &d, DUMPFLAGS) == 0 &&
	    dump_cb("\n", 1, &d) == 0)
		return 0;
	if (out->len > len) {
		out->len = len;
		out->data[len] = '\0';
	}
	errno = d.err != 0 ? d.err : EINVAL;
	return -1;
}

/* gb_convert_dump(), with a failure told in err. */
static int
put_json(struct gb_buf *out, const json_t *j, struct gb_err *err)
{
	if (gb_convert_dump(j, out) == 0)
		return 0;
	if (errno == E2BIG)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "output: more than %zu bytes", out->cap);
	if (errno == ENOMEM)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
	return gb_err_set(err, GB_EXIT_TEMP, 500, "cannot encode the output");
}

/* The run proper, on an input from memory or a descriptor. */
static int
run(const struct gb_convert_job *job, const struct gb_config *cfg,
    struct input *in, struct gb_buf *out, json_t **meta, struct gb_err *err)
{
	struct gb_buf raw;
	json_t *doc = NULL, *res = NULL, *line;
	size_t i, outlen = out->len;
	int ostatus;

	gb_err_clear(err);
	if (meta != NULL)
		*meta = NULL;
	/* what the command line's options make sure of */
	if ((job->mode == GB_CONVERT_CHAT_RESPONSE ||
	    job->mode == GB_CONVERT_RESPONSES_RESPONSE ||
	    job->mode == GB_CONVERT_ANTHROPIC_RESPONSE ||
	    job->mode == GB_CONVERT_EMBED_RESPONSE) && job->model == NULL) {
		gb_err_set(err, GB_EXIT_USAGE, 500, "%s: no model",
		    gb_convert_mode_name(job->mode));
		return GB_EXIT_USAGE;
	}
	if (job->mode == GB_CONVERT_ERROR &&
	    (job->status < 100 || job->status > 599)) {
		gb_err_set(err, GB_EXIT_USAGE, 500,
		    "error: status %d not in 100..599", job->status);
		return GB_EXIT_USAGE;
	}
	/* speech-response: the output is audio bytes, not JSON */
	if (job->mode == GB_CONVERT_SPEECH_RESPONSE) {
		if ((doc = load_json(in, err)) != NULL &&
		    gb_convert_speech_response(doc, job->format, job->model,
		    out, err) == 0) {
			json_decref(doc);
			return GB_EXIT_OK;
		}
		json_decref(doc);
		goto fail;
	}
	switch (job->mode) {
	case GB_CONVERT_CHAT_REQUEST:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_chat_request(doc, cfg, meta, err);
		break;
	case GB_CONVERT_CHAT_RESPONSE:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_chat_response(doc, job->model, cfg,
			    err);
		break;
	case GB_CONVERT_RESPONSES_REQUEST:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_responses_request(doc, cfg, meta,
			    err);
		break;
	case GB_CONVERT_RESPONSES_RESPONSE:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_responses_response(doc, job->model,
			    cfg, err);
		break;
	case GB_CONVERT_ANTHROPIC_REQUEST:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_anthropic_request(doc, cfg, meta,
			    err);
		break;
	case GB_CONVERT_ANTHROPIC_COUNT_REQUEST:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_anthropic_count_request(doc, cfg,
			    meta, err);
		break;
	case GB_CONVERT_ANTHROPIC_RESPONSE:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_anthropic_response(doc, job->model,
			    cfg, err);
		break;
	case GB_CONVERT_ANTHROPIC_COUNT_RESPONSE:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_anthropic_count_response(doc, err);
		break;
	case GB_CONVERT_SPEECH_REQUEST:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_speech_request(doc, cfg, meta, err);
		break;
	case GB_CONVERT_EMBED_REQUEST:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_embed_request(doc, job->model, meta,
			    err);
		break;
	case GB_CONVERT_EMBED_RESPONSE:
		if ((doc = load_json_seq(in, err)) != NULL)
			res = gb_convert_embed_response(doc, job->model,
			    job->base64, err);
		break;
	case GB_CONVERT_MODELS:
		if ((doc = load_json_seq(in, err)) != NULL)
			res = gb_convert_models(doc, cfg, job->id, err);
		break;
	case GB_CONVERT_ANTHROPIC_MODELS:
		if ((doc = load_json_seq(in, err)) != NULL)
			res = gb_convert_anthropic_models(doc, cfg, job->id,
			    err);
		break;
	case GB_CONVERT_IMAGE_REQUEST:
		if ((doc = load_json(in, err)) != NULL)
			res = gb_convert_image_request(doc, cfg, meta, err);
		break;
	case GB_CONVERT_IMAGE_RESPONSE:
		if ((doc = load_json_seq(in, err)) != NULL)
			res = gb_convert_image_response(doc, err);
		break;
	case GB_CONVERT_IMAGE_EDIT_REQUEST:
		gb_buf_init(&raw, 0);
		if (load_raw(in, &raw, err) == 0)
			res = gb_convert_image_edit_request(in->data != NULL ?
			    in->data : "", in->len, cfg, meta, err);
		gb_buf_free(&raw);
		break;
	case GB_CONVERT_ERROR:
		gb_buf_init(&raw, 0);
		if (load_raw(in, &raw, err) == 0) {
			res = gb_gemini_error_to_openai(job->status,
			    in->data != NULL ? in->data : "", in->len,
			    &ostatus);
			if (res != NULL && meta != NULL && (*meta = json_pack(
			    "{s:i}", "status", ostatus)) == NULL) {
				json_decref(res);
				res = NULL;
			}
		}
		gb_buf_free(&raw);
		break;
	default:
		gb_err_set(err, GB_EXIT_USAGE, 500, "unknown mode %d",
		    (int)job->mode);
		return GB_EXIT_USAGE;
	}
	/* the request may be large: let it go before the output grows */
	json_decref(doc);
	if (res == NULL) {
		if (err->msg[0] == '\0')
			gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
		goto fail;
	}
	if (job->mode == GB_CONVERT_EMBED_REQUEST ||
	    job->mode == GB_CONVERT_IMAGE_REQUEST) {
		json_array_foreach(res, i, line)
			if (put_json(out, line, err) == -1)
				goto fail;
	} else if (put_json(out, res, err) == -1)
		goto fail;
	json_decref(res);
	return GB_EXIT_OK;
fail:
	json_decref(res);
	if (meta != NULL) {
		json_decref(*meta);
		*meta = NULL;
	}
	/* nothing of a failed run stays in the output */
	if (out->len > outlen) {
		out->len = outlen;
		out->data[outlen] = '\0';
	}
	if (err->code == GB_EXIT_OK)
		err->code = GB_EXIT_TEMP;
	return err->code;
}

int
gb_convert_run(const struct gb_convert_job *job, const struct gb_config *cfg,
    const char *data, size_t len, struct gb_buf *out, json_t **meta,
    struct gb_err *err)
{
	struct input in = { data, len, 0, -1, (size_t)cfg->max_body };

	return run(job, cfg, &in, out, meta, err);
}

int
gb_convert_run_fd(const struct gb_convert_job *job,
    const struct gb_config *cfg, int fd, struct gb_buf *out, json_t **meta,
    struct gb_err *err)
{
	struct input in = { NULL, 0, 1, fd, (size_t)cfg->max_body };

	return run(job, cfg, &in, out, meta, err);
}
