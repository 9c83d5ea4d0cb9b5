/*
 * answer.h - is a Gemini answer empty? An upstream 200 to generateContent
 * or streamGenerateContent may carry nothing a client can use: candidates
 * without content parts (finished STOP, or not finished), or no
 * candidates and no promptFeedback.blockReason, or a stream that ends
 * before any content. gb-call retries such an answer on another key
 * (gb-call(1)); this module tells, for a whole answer or for a stream
 * fed in pieces, when the first content has come.
 *
 * Content is: a part with non-empty text (thought or not), or with
 * anything but text, "thought" and "thoughtSignature" (functionCall,
 * inlineData, executableCode, ...); a finishReason other than STOP (a
 * block such as SAFETY, RECITATION, PROHIBITED_CONTENT, or MAX_TOKENS:
 * an answer, not to be asked again); a promptFeedback.blockReason; an
 * error object; anything that is not a JSON object (not ours to judge).
 */
#ifndef GB_ANSWER_H
#define GB_ANSWER_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "sse.h"

/*
 * Is path (below BASE_URL, with or without a query) one whose answers
 * are judged: its action is generateContent or streamGenerateContent?
 * 1 or 0. Nothing else (models, countTokens, embeddings, files...) is.
 */
int	gb_answer_judged(const char *);

/* Does one GenerateContentResponse (or stream event) carry content? */
int	gb_answer_content(const json_t *);

/*
 * Does a whole answer body carry content: an object that does, or an
 * array (an unframed stream) with an element that does? A body that is
 * not JSON is not judged here (1).
 */
int	gb_answer_body_content(const char *, size_t);
/* The same of a body already parsed; NULL (not JSON) is not judged: 1. */
int	gb_answer_doc_content(const json_t *);

/*
 * A stream's bytes, fed in pieces of any size until it shows its first
 * content: SSE (alt=sse) or, when its first byte opens a JSON array or
 * object, unframed JSON. Holds at most the event being read (up to the
 * cap given to init).
 */
struct gb_answer_scan {
	int		 format;	/* 0 not known yet, 'S'SE, 'J'SON */
	int		 found;		/* content seen, or past the cap */
	struct gb_sse	 sse;
	struct gb_buf	 obj;		/* JSON: the element being read */
	int		 depth, instr, esc, array;
	size_t		 cap;
};

void	gb_answer_scan_init(struct gb_answer_scan *, size_t);
/* 1: content has come (or an event outgrew the cap: cannot tell); 0: not yet */
int	gb_answer_scan_feed(struct gb_answer_scan *, const char *, size_t);
void	gb_answer_scan_free(struct gb_answer_scan *);

#endif
