/*
 * serve.h - gb-serve's own modules: one sd-event loop serving every
 * connection (conn.c), the route table and its handlers (routes.c), and
 * the tools' hosts with the jobs gb-serve hands them (hosts.c).
 *
 * A request runs as a chain of jobs, each a request to a tool host
 * (proto.h), fed and drained through pipes that are sources of the loop;
 * a handler starts the first job and goes on from each job's events.
 * Nothing blocks and nothing holds a thread: a stream costs the loop two
 * descriptors (the client and the last tool's stdout) and some memory.
 */
#ifndef GB_SERVE_H
#define GB_SERVE_H

#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "buf.h"
#include "config.h"
#include "httpmsg.h"
#include "io.h"
#include "mask.h"
#include "metrics.h"
#include "proto.h"
#include "stream.h"

struct conn;
struct job;
struct rq;
struct srv;

/* A configuration, shared by the connections that started with it. */
struct cfg {
	struct gb_config	 c;
	int			 refs;
};

struct cfg	*cfg_ref(struct cfg *);
void		 cfg_unref(struct cfg *);

/* ---- hosts.c: the tools' hosts and the jobs they run ---- */

#define NTOOLS		3	/* gb-convert, gb-call, gb-sse */

struct host;

/* What happened to a job, for its request. */
enum job_event {
	JOB_HEAD,	/* gb-call's status arrived (job->head) */
	JOB_META,	/* gb-convert's meta object arrived (job->meta) */
	JOB_DATA,	/* a relayed job's stdout gave bytes (job->out) */
	JOB_END		/* DONE and the end of its stdout: job->exit */
};

/* Where a job's stdout goes. */
enum job_out {
	OUT_NONE,	/* no stdout */
	OUT_READ,	/* read whole into job->out (capped) */
	OUT_RELAY,	/* read as it comes: JOB_DATA per read */
	OUT_KEEP	/* a pipe whose read end waits in job->rfd, to be
			   read later (job_read) or handed on (job_take) */
};

struct job {
	struct rq		*rq;		/* NULL once let go */
	struct host		*host;
	struct job		*hnext;		/* in the host's table */
	uint32_t		 id;
	/* stdin: fed from memory by the loop, or a descriptor handed on */
	int			 wfd;
	sd_event_source		*wsrc;
	const char		*wdata;		/* owned by the request */
	size_t			 wlen, woff;
	/* stdout */
	enum job_out		 outmode;
	int			 rfd;
	sd_event_source		*rsrc;
	struct gb_buf		 out;
	int			 eof;		/* stdout ended (or none) */
	int			 paused;	/* relay held for the client */
	/* what the host said */
	int			 has_head;
	struct gb_msg_head	 head;
	json_t			*meta;
	int			 exit;		/* -1 until DONE */
	char			 msg[GB_ERR_MSGSIZE];
	int			 ended;		/* JOB_END was given */
	int			 lost;		/* its host went, no DONE */
	void			(*cb)(struct job *, enum job_event);
	struct proc		*proc;		/* run as a process (procs.c) */
};

/*
 * Start a job of the request on the current host of its tool (spawned
 * on first use). Its stdin is data (len bytes, kept by the caller until
 * the job ends) when data is not NULL, else the descriptor infd (taken,
 * even on failure), else nothing (-1). cap bounds job->out for OUT_READ
 * and OUT_RELAY. Returns the job, or NULL with errno (EMFILE, ENFILE:
 * out of descriptors, to be answered 503).
 */
struct job	*job_start(struct rq *, const struct gb_msg_job *,
		    const char *, size_t, int, enum job_out, size_t,
		    void (*)(struct job *, enum job_event));
/* OUT_KEEP: start reading the kept stdout into job->out (cap). */
int		 job_read(struct job *, size_t);
/* OUT_KEEP: take the kept stdout's read end (the caller closes it). */
int		 job_take(struct job *);
/* OUT_RELAY: stop or go on reading (the client is slow, or caught up). */
void		 job_pause(struct job *, int);
/*
 * The request is done with the job: close gb-serve's ends (which ends
 * the job in its host, as EPIPE would) and forget it; the host's DONE
 * frees it later.
 */
void		 job_release(struct job *);

/*
 * What the host (or the process, procs.c) said about the job: HEAD,
 * META or DONE, as on a host's queue.
 */
void		 job_said(struct job *, const struct gb_msg *);

/* Disable and drop a source; close a descriptor; both set to none. */
void		 close_src(sd_event_source **);
void		 close_fd(int *);

/* Spawn the hosts now (before the first request needs them). */
void		 hosts_start(struct srv *);
/* Let the current hosts go (after a reload): new ones for new jobs. */
void		 hosts_retire(struct srv *);
/* At exit: let every host's record go (the hosts end with their queue). */
void		 hosts_free(struct srv *);

/* ---- procs.c: a job as a process of its own ---- */

/*
 * What a tool gb-serve starts gets: gb-serve's environment without the
 * secrets (nor GB_SECRETS_FD, CREDENTIALS_DIRECTORY), and those it needs
 * (gb-call, gb-keys: API_KEYS) on a sealed memfd, put at descriptor
 * fdnum in the child and named by GB_SECRETS_FD there.
 */
struct toolenv {
	char	**envp;
	char	  var[32];
	int	  fd, fdnum;
};

int		 toolenv_make(struct toolenv *, const struct gb_config *,
		    enum gb_tool, int);
/* Its descriptors for posix_spawn; from: the first one to close. */
void		 toolenv_fds(const struct toolenv *,
		    posix_spawn_file_actions_t *, int);
void		 toolenv_free(struct toolenv *);

struct proc;

/*
 * Run the job as the tool's own program, a child of gb-serve, with
 * stdin fds[0] and stdout fds[1] (-1: /dev/null; both taken): what it
 * writes on its -I or -S descriptor and its exit become the job's META,
 * HEAD and DONE. For gb-serve serving one connection (Accept=yes,
 * inetd), which starts no hosts. 0, or -1 with errno.
 */
int		 proc_start(struct srv *, struct job *,
		    const struct gb_msg_job *, int *);
/* The request let the job go: stop the process (it is still reaped). */
void		 proc_release(struct job *);
void		 proc_free(struct job *);

/* ---- conn.c: connections ---- */

struct srv {
	sd_event		*ev;
	struct cfg		*cfg;		/* for new connections */
	int			 maxconn;	/* -c */
	int			 nconn;
	int			 idle_s;	/* -i */
	int			 head_s;	/* -t */
	int			 sse_k;		/* gb-sse -k */
	int			 lfd;		/* listening, or -1 */
	sd_event_source		*lsrc;
	sd_event_source		*lretry;	/* accepting paused */
	int			 spare;		/* reserve descriptor */
	int			 stopping;
	int			 single;	/* one connection, then exit */
	uint64_t		 last_shortage;	/* logged, usec */
	char			 tooldir[PATH_MAX];
	struct host		*hosts[NTOOLS];	/* current */
	struct host		*retired;	/* let go, still running */
	uint32_t		 next_id;
	unsigned		 next_rid;
	struct conn		*conns;
	struct conn		*dead;		/* closed, freed next turn */
	int			 nproc;		/* tools running as processes */
	sd_event_source		*reaper;
	/* metrics.c */
	struct gb_metrics	*metrics;	/* shared counters, or NULL */
	int			 mlfd;		/* METRICS_LISTEN, or -1 */
	sd_event_source		*mlsrc;
	int			 nstreams;	/* answers streaming now */
};

int		 conn_listen(struct srv *, int);
/* The METRICS_LISTEN socket: its connections get /metrics alone. */
int		 conn_listen_metrics(struct srv *, int);
int		 conn_serve_fd(struct srv *, int, int);
/* Close idle connections now (stopping). */
void		 conn_stop_idle(struct srv *);
/*
 * End the loop if there is nothing left to serve: stopping, or serving
 * one connection, with no connection and no tool process left.
 */
void		 srv_maybe_exit(struct srv *);
/* At exit: close every connection and free what they hold. */
void		 conn_free_all(struct srv *);
/*
 * Log a shortage of descriptors, at most once a second: what ran out
 * (errno) and where.
 */
void		 srv_shortage(struct srv *, const char *, int);

/* ---- the request, as conn.c hands it to routes.c ---- */

enum dialect { D_OPENAI, D_GEMINI, D_ANTHROPIC };

struct route;

struct rq {
	struct conn		*conn;
	struct srv		*srv;
	const struct gb_config	*cfg;
	struct gb_http_req	*req;
	const struct route	*rt;
	enum dialect		 dialect;
	char			 path[256];	/* without the query */
	const char		*query;
	char			 id[256];	/* {id} / {model}, decoded */
	char			 action[32];	/* native action */
	char			 model[GB_PROTO_MODEL];	/* for the log */
	char			 key[GB_MASK_SIZE];	/* for the log */
	char			 fail[96];	/* why it failed, for the log */
	char			 rid[GB_PROTO_RID];	/* the request's id */
	int			 metrics_only;	/* came on METRICS_LISTEN */
	int			 streaming;	/* counted in srv->nstreams */
	/* the handlers' state */
	struct job		*job[4];
	json_t			*meta;
	char			 upath[GB_PROTO_ARG];	/* upstream path */
	int			 stream;
	int			 usage;
	enum gb_stream_dialect	 sse;		/* a stream's output */
	char			 mode[GB_PROTO_MODE];	/* a conversion */
	struct gb_buf		 acc;		/* answers gathered */
	int			 calls;		/* images: of the line */
	size_t			 pos;		/* in job[0]'s output */
	int			 begun;		/* stream head sent */
	int			 done;		/* answer complete */
	/* key affinity (resources.c) */
	char			 pin[GB_PROTO_KEYID];	/* gb-call -K, or "" */
	struct res		*res;
};

/*
 * The answer, through the connection: a whole one, or a stream (head,
 * then pieces, then the end). A request calls exactly one rq_reply or
 * rq_stream_begin...rq_stream_end, then nothing more: rq_reply and
 * rq_stream_end finish it (and free it with its jobs).
 */
void	rq_reply(struct rq *, int, const char *, const char *, const void *,
	    size_t);
void	rq_reply_json(struct rq *, int, const char *, json_t *);
void	rq_error(struct rq *, int, const char *, const char *);
/* The error object of the request's dialect (new reference). */
json_t	*rq_error_json(const struct rq *, int, const char *, const char *);
void	rq_stream_begin(struct rq *);
void	rq_stream_data(struct rq *, const void *, size_t);
void	rq_stream_end(struct rq *);
/* The client cannot take more now (relay should pause). */
int	rq_backlogged(const struct rq *);
/* LOG_LEVEL=debug: a labelled body, secrets masked. */
void	rq_debug(const struct rq *, const char *, const char *, size_t);

/* ---- routes.c ---- */

/*
 * Route a request whose head is read: fills rq->rt etc. Returns 0 when
 * the handler should run once the body is in; otherwise the answer has
 * been given (404, 405, 401, preflight).
 */
int	route_request(struct rq *);
/* Run the handler (the body is in req->body). */
void	route_run(struct rq *);
/* The client went away, or the request is over: let its jobs go. */
void	route_free(struct rq *);
/* The client took what waited: a paused relay goes on. */
void	route_drained(struct rq *);

/* Answer an HTTP-level refusal (400, 408, 413, 431, 501, 503, 505). */
void	route_refuse(struct rq *, int);

/*
 * The route table as metrics labels it: its rows are slots 0 to
 * route_slots() - 1, and route_slots() stands for no route. The label
 * is the route's path pattern under its first prefix ("/v1/chat/
 * completions", "/v1beta/models/{model}:{action}"), or "none".
 */
size_t		 route_slots(void);
size_t		 route_slot(const struct route *);
const char	*route_label(size_t, char *, size_t, const char **);

/* Constant-time check of a presented token. */
int	token_ok(const struct gb_config *, const char *, int);
/* Copy src into dst of size sz, cut to fit, always terminated. */
void	scopy(char *, size_t, const char *);

/*
 * The handlers' shared steps, for resources.c: start gb-call (METHOD
 * PATH, body, -K pin and -H lines, either may be NULL or ""), its
 * stdout kept until its status is known; on HEAD, 1 for a 2xx to go on
 * with (else the error body is being read); an error answer given in
 * the route's dialect.
 */
struct job	*rq_call(struct rq *, const char *, const char *, const char *,
		    size_t, const char *, const char *,
		    void (*)(struct job *, enum job_event));
int		 rq_call_head(struct rq *, struct job *);
void		 rq_call_error(struct rq *, struct job *);

/*
 * More shared steps, for handlers in files of their own: run a request
 * converter (MODE) on the client body; when it ends, 0 with rq->meta,
 * rq->model and rq->upath set, or -1 once its error was answered (400
 * for the client's mistakes); a job that could not start answered (503
 * when descriptors ran out, else 500) after job_start failed.
 */
struct job	*rq_convert_request(struct rq *, const char *,
		    void (*)(struct job *, enum job_event));
int		 rq_request_converted(struct rq *, struct job *);
void		 rq_start_failed(struct rq *, const char *);
/* A job message for TOOL: mode, model and arg (each may be NULL). */
void		 job_msg(struct gb_msg_job *, enum gb_tool, const char *,
		    const char *, const char *);

/* ---- metrics.c: GET /metrics ---- */

/* Map the shared counters (STATE_DIRECTORY/metrics) for the server. */
void	metrics_open(struct srv *);
void	metrics_close(struct srv *);
/* A request is over (status, microseconds since its first byte). */
void	metrics_request(struct srv *, struct rq *, int, uint64_t);
/* Bytes read from and written to clients. */
void	metrics_bytes(struct srv *, uint64_t, uint64_t);
void	do_metrics(struct rq *);

/* ---- speech.c: POST /v1/audio/speech ---- */

void	do_speech(struct rq *);
/* ---- images.c: POST /v1/images/generations ---- */

void	do_images(struct rq *);
void	do_image_edits(struct rq *);

/* ---- resources.c: key affinity ---- */

struct res;

/* The routes of files, uploads, caches, batches, operations, ... */
void	do_resource(struct rq *);
void	do_upload(struct rq *);
/*
 * The key that owns the resources a request body names, into pin
 * (GB_PROTO_KEYID bytes; kept when none is named): 0, or -1 once a 400
 * has been given (two keys' resources in one request).
 */
int	res_body_pin(struct rq *, const char *, size_t, char *);
/* A model action's 2xx answer (doc): record what it created. */
void	res_created(struct rq *, const struct job *, const json_t *);
void	res_free(struct rq *);

#endif
