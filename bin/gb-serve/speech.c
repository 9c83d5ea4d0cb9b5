/*
 * speech.c - POST /v1/audio/speech (gb-serve(8), Routes): OpenAI's
 * text to speech on a Gemini TTS model.
 *
 *   convert speech-request -> call POST models/M:generateContent
 *                          -> convert speech-response -f FORMAT
 *
 * The request converter says, in its meta object, which format the
 * client asked for and the MIME type of the file that format is; the
 * answer converter's output is that file, sent as it is with that
 * Content-Type (not JSON, unlike every other converted answer). Errors
 * are OpenAI error objects: the client's mistakes 400, the upstream's
 * errors with their real status (as chat), an answer without audio 502.
 * Speech is not streamed: the answer is sent whole once it is encoded
 * (gb-serve(8) says why).
 */
#include <stdio.h>
#include <string.h>

#include "serve.h"

#define AUDIO_MAX	(256 * 1024 * 1024)	/* an encoded answer */

static void	speech_ev(struct job *, enum job_event);

/* The upstream's 2xx answer, kept in gb-call's stdout, to the encoder. */
static void
encode(struct rq *rq, struct job *callj)
{
	const char *fmt = json_string_value(json_object_get(rq->meta,
	    "response_format"));
	const char *up = json_string_value(json_object_get(rq->meta,
	    "upstream_model"));
	struct gb_msg_job mj;

	job_msg(&mj, GB_TOOL_CONVERT, "speech-response", up, NULL);
	if (fmt != NULL && strcmp(fmt, "wav") == 0)
		mj.flags |= GB_JOB_WAV;
	else if (fmt != NULL && strcmp(fmt, "pcm") == 0)
		mj.flags |= GB_JOB_PCM;
	if ((rq->job[2] = job_start(rq, &mj, NULL, 0, job_take(callj),
	    OUT_READ, AUDIO_MAX, speech_ev)) == NULL)
		rq_start_failed(rq, "gb-convert");
}

/* The encoder ended: the audio file is the answer, or its error is. */
static void
encoded(struct rq *rq, struct job *j)
{
	const char *ct = json_string_value(json_object_get(rq->meta,
	    "content_type"));
	char m[64];

	if (j->exit == GB_EXIT_OK && j->out.len < j->out.cap &&
	    ct != NULL) {
		snprintf(m, sizeof(m), "%zu bytes of %s", j->out.len, ct);
		rq_debug(rq, "response", m, strlen(m));
		rq_reply(rq, 200, ct, NULL, j->out.data, j->out.len);
		return;
	}
	scopy(rq->fail, sizeof(rq->fail), j->msg[0] != '\0' ? j->msg :
	    "speech conversion failed");
	rq_error(rq, 502, j->msg[0] != '\0' ? j->msg :
	    "could not convert the upstream audio", NULL);
}

/* Job 0 converts the request, 1 calls, 2 encodes the answer. */
static void
speech_ev(struct job *j, enum job_event e)
{
	struct rq *rq = j->rq;

	if (j == rq->job[0]) {
		if (e != JOB_END || rq_request_converted(rq, j) == -1)
			return;
		rq->job[1] = rq_call(rq, "POST", rq->upath, j->out.data,
		    j->out.len, rq->pin, NULL, speech_ev);
	} else if (j == rq->job[1]) {
		if (e == JOB_HEAD && rq_call_head(rq, j))
			encode(rq, j);
		else if (e == JOB_END && (!j->has_head ||
		    j->head.status < 200 || j->head.status > 299))
			rq_call_error(rq, j);
		else if (e == JOB_END && j->exit != GB_EXIT_OK &&
		    rq->fail[0] == '\0')
			scopy(rq->fail, sizeof(rq->fail), j->msg);
	} else if (e == JOB_END)
		encoded(rq, j);
}

void
do_speech(struct rq *rq)
{
	rq->job[0] = rq_convert_request(rq, "speech-request", speech_ev);
}
