/*
 * images.c - POST /v1/images/generations (gb-serve(8), IMAGES):
 *
 *   convert image-request -> call POST PATH, once per line, one after
 *   the other -> convert image-response
 *
 * Job 0 turns the OpenAI request into one upstream body per line (n
 * generateContent calls for a Gemini image model, predict calls of up
 * to four samples for Imagen) and the meta object with the path. Each
 * line is a gb-call (job 1) whose whole answer gathers in rq->acc, in
 * order; job 2 turns them all into the OpenAI answer. An upstream error
 * on any call is the answer, in OpenAI's shape with its real status,
 * as on chat; an answer without any image is a 502 saying why.
 *
 * POST /v1/images/edits is the same with image-edit-request on the
 * multipart/form-data body: one generateContent body, with the images
 * inline, sent n times (the meta object's "repeat").
 */
#include <string.h>
#include <strings.h>

#include "serve.h"

#define ANSWER_MAX	(256 * 1024 * 1024)	/* all the answers */

static void	images_next(struct rq *);

/* The request converted: 0 with rq->meta, or -1 after the answer. */
static int
request_converted(struct rq *rq, struct job *j)
{
	const char *up;

	if (rq_request_converted(rq, j) == -1)
		return -1;
	/* the model the images come from, for the log */
	if ((up = json_string_value(json_object_get(rq->meta,
	    "upstream_model"))) != NULL)
		scopy(rq->model, sizeof(rq->model), up);
	return 0;
}

static void
images_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;

	if (j == rq->job[0]) {
		if (e != JOB_END || request_converted(rq, j) == -1)
			return;
		gb_buf_init(&rq->acc, ANSWER_MAX);
		rq->pos = 0;
		images_next(rq);
	} else if (j == rq->job[1]) {
		if (e == JOB_HEAD) {
			if (rq_call_head(rq, j))
				job_read(j, ANSWER_MAX);
			return;
		}
		if (e != JOB_END)
			return;
		if (!j->has_head || j->head.status < 200 ||
		    j->head.status >= 300) {
			rq_call_error(rq, j);
			return;
		}
		if (j->out.len >= j->out.cap || gb_buf_append(&rq->acc,
		    j->out.data != NULL ? j->out.data : "", j->out.len) ==
		    -1 || gb_buf_append(&rq->acc, "\n", 1) == -1) {
			scopy(rq->fail, sizeof(rq->fail), "answers too large");
			rq_error(rq, 502, "the upstream answers are too large",
			    NULL);
			return;
		}
		rq->job[1] = NULL;
		job_release(j);
		images_next(rq);
	} else if (e == JOB_END) {
		if (j->exit == GB_EXIT_OK && j->out.len < j->out.cap) {
			rq_reply(rq, 200, "application/json", NULL,
			    j->out.data, j->out.len);
			return;
		}
		scopy(rq->fail, sizeof(rq->fail), j->msg[0] != '\0' ?
		    j->msg : "conversion failed");
		rq_error(rq, 502, j->msg[0] != '\0' ? j->msg :
		    "could not convert the upstream answer", NULL);
	}
}

/*
 * The next call: each line "repeat" times (meta; an edit's one body is
 * sent n times), or, after the last, the answer's conversion.
 */
static void
images_next(struct rq *rq)
{
	struct gb_buf *lines = &rq->job[0]->out;	/* one call a line */
	struct gb_msg_job mj;
	json_int_t repeat;
	const char *line, *nl;
	size_t n;

	repeat = json_integer_value(json_object_get(rq->meta, "repeat"));
	if (repeat < 1 || repeat > 64)
		repeat = 1;
	while (rq->pos < lines->len) {
		line = lines->data + rq->pos;
		nl = memchr(line, '\n', lines->len - rq->pos);
		n = nl != NULL ? (size_t)(nl - line) : lines->len - rq->pos;
		if (n > 0 && rq->calls < repeat) {
			rq->calls++;
			rq->job[1] = rq_call(rq, "POST", rq->upath, line, n,
			    NULL, NULL, images_ev);
			return;
		}
		rq->calls = 0;
		rq->pos += n + (nl != NULL ? 1 : 0);
	}
	job_msg(&mj, GB_TOOL_CONVERT, "image-response", NULL, NULL);
	if ((rq->job[2] = job_start(rq, &mj, rq->acc.data != NULL ?
	    rq->acc.data : "", rq->acc.len, -1, OUT_READ, ANSWER_MAX,
	    images_ev)) == NULL)
		rq_start_failed(rq, "gb-convert");
}

/* Generations: a JSON body. */
void
do_images(struct rq *rq)
{
	rq->job[0] = rq_convert_request(rq, "image-request", images_ev);
}

/*
 * Edits: a multipart/form-data body (its boundary on its first line,
 * which gb-convert reads), the images inline in one generateContent
 * body sent n times.
 */
void
do_image_edits(struct rq *rq)
{
	const char *ct = gb_http_header(rq->req, "Content-Type");

	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0 ||
	    (ct[19] != ';' && ct[19] != '\0' && ct[19] != ' ')) {
		scopy(rq->fail, sizeof(rq->fail), "not multipart");
		rq_error(rq, 400, "Content-Type: expected multipart/form-data "
		    "(an image edit is a form with the image files)", NULL);
		return;
	}
	rq->job[0] = rq_convert_request(rq, "image-edit-request", images_ev);
}
