/*
 * proto.h - the messages between gb-serve and a tool host (host.h).
 *
 * A host's queue is one end of a SOCK_SEQPACKET socketpair: one message
 * per packet, each a fixed header and the body its type names, so a
 * packet is read whole or not at all and nothing is parsed out of text.
 *
 *   gb-serve -> host  JOB   a request for the tool: its options as typed
 *                           fields, and by SCM_RIGHTS the job's stdin
 *                           and stdout (either may be absent)
 *   host -> gb-serve  HEAD  gb-call's final upstream status, sent before
 *                           the first byte of the answer on its stdout
 *                     META  gb-convert's meta object (what -I FD prints)
 *                     DONE  the job is over: exit status and message,
 *                           always the last message of a job
 *
 * The job's descriptors are the data path and also its cancellation: a
 * requester that goes away closes its ends, and the job sees EPIPE or
 * EPOLLERR exactly as the tool run alone would. Job ids are chosen by
 * gb-serve and unique among the jobs of one host.
 */
#ifndef GB_PROTO_H
#define GB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "gb.h"
#include "mask.h"

#define GB_PROTO_MODE	32	/* a mode, NUL included */
#define GB_PROTO_MODEL	256	/* a model name, NUL included */
#define GB_PROTO_ARG	2048	/* a path or id, NUL included */
#define GB_PROTO_META	3072	/* a meta object, NUL included */
#define GB_PROTO_KEYID	24	/* a key's state id (16 hex), NUL included */
#define GB_PROTO_RID	16	/* a request id, NUL included */
#define GB_PROTO_HDRS	1024	/* header lines "Name: value\n", NUL
				   included */

enum gb_msg_type {
	GB_MSG_JOB = 1,
	GB_MSG_HEAD,
	GB_MSG_META,
	GB_MSG_DONE
};

/* Which tool a job is for; a host takes the jobs of its own tool. */
enum gb_tool {
	GB_TOOL_CONVERT = 1,	/* gb-convert MODE [-m model] [-i id] ... */
	GB_TOOL_CALL,		/* gb-call [-s] METHOD PATH */
	GB_TOOL_SSE,		/* gb-sse [-o mode] [-u] [-k secs]
				   [-m model] */
	GB_TOOL_KEYS		/* the key table, as gb-keys list --json;
				   taken by gb-call's host */
};

#define GB_JOB_STREAM	0x1	/* gb-call -s */
#define GB_JOB_USAGE	0x4	/* gb-sse -u */
#define GB_JOB_BASE64	0x8	/* gb-convert embed-response -e base64 */
#define GB_JOB_WAV	0x10	/* gb-convert speech-response -f wav */
#define GB_JOB_PCM	0x20	/* gb-convert speech-response -f pcm */

#define GB_JOB_IN	0x1	/* the message carries the job's stdin */
#define GB_JOB_OUT	0x2	/* ... and its stdout (after stdin) */

struct gb_msg_job {
	uint32_t	tool;			/* enum gb_tool */
	uint32_t	flags;			/* GB_JOB_STREAM ... */
	uint32_t	fds;			/* GB_JOB_IN | GB_JOB_OUT */
	int32_t		num;			/* gb-sse -k; gb-convert
						   error -s */
	char		mode[GB_PROTO_MODE];	/* gb-convert MODE; gb-call
						   METHOD; gb-sse -o */
	char		model[GB_PROTO_MODEL];	/* -m, or "" */
	char		arg[GB_PROTO_ARG];	/* gb-call PATH; gb-convert
						   models -i ID, or "" */
	char		pin[GB_PROTO_KEYID];	/* gb-call -K: the one key to
						   use, by state id, or "" */
	char		hdrs[GB_PROTO_HDRS];	/* gb-call -H: X-Goog-Upload-*
						   and Content-Type lines */
	char		rid[GB_PROTO_RID];	/* the request's id, for the
						   job's diagnostics, or "" */
};

struct gb_msg_head {
	int32_t		status;			/* HTTP status to report */
	int32_t		attempts;
	int64_t		retry_after;		/* seconds, or -1 */
	char		key[GB_MASK_SIZE];	/* masked, or "" */
	char		key_id[GB_PROTO_KEYID];	/* its state id, or "" */
	char		hdrs[GB_PROTO_HDRS];	/* the answer's X-Goog-Upload-*
						   header lines, or "" */
};

struct gb_msg_done {
	int32_t		exit;			/* GB_EXIT_*, 128+n */
	char		msg[GB_ERR_MSGSIZE];	/* why, or "" */
};

struct gb_msg {
	uint32_t	type;			/* enum gb_msg_type */
	uint32_t	id;			/* the job */
	union {
		struct gb_msg_job	job;
		struct gb_msg_head	head;
		struct gb_msg_done	done;
		char			meta[GB_PROTO_META];
	} u;
};

#define GB_MSG_HDR	offsetof(struct gb_msg, u)
#define GB_MSG_FDS	2	/* descriptors a message may carry */

/*
 * Send one message (len bytes of m, the header included) with the
 * descriptors of fds[0..nfds) that are not -1, in order. Returns 0, or
 * -1 with errno (EAGAIN on a full queue).
 */
int	gb_msg_send(int, const struct gb_msg *, size_t, const int *, int);

/*
 * Receive one message. Returns its length (at least GB_MSG_HDR, and
 * checked against its type), 0 at the end of the queue, -1 with errno
 * (EAGAIN: nothing there; EBADMSG: a malformed message, dropped with its
 * descriptors). fds[0..GB_MSG_FDS) get the descriptors it carried, in
 * order, -1 for the rest; they are the caller's to close.
 */
ssize_t	gb_msg_recv(int, struct gb_msg *, int *);

/*
 * Messages waiting for a full queue to drain, with the descriptors they
 * carry (closed once sent or dropped).
 */
struct gb_msgq_item;
struct gb_msgq {
	struct gb_msgq_item	*head;
	struct gb_msgq_item	*tail;
	size_t			 n;
};

/*
 * Send now if nothing is waiting, else (or on EAGAIN) keep a copy to
 * send later; the descriptors are the queue's from here on. Returns 0,
 * or -1 with errno when the peer is gone or memory ran out.
 */
int	gb_msgq_send(struct gb_msgq *, int, const struct gb_msg *, size_t,
	    int *, int);

/*
 * Send what waits, in order: 0 when all is sent, 1 when some still
 * waits, -1 with errno when the peer is gone.
 */
int	gb_msgq_flush(struct gb_msgq *, int);

/* Drop what waits, closing its descriptors. */
void	gb_msgq_clear(struct gb_msgq *);

/* The length of a message of type t (meta: its text and NUL). */
size_t	gb_msg_len(const struct gb_msg *);

#endif
