/*
 * host.h - a tool's long-lived host: one process, one sd-event loop,
 * many jobs at once (gb-serve(8), DESIGN NOTES).
 *
 * gb-serve spawns each hosted tool's own program as "TOOL -W" with the
 * queue (proto.h) on descriptor 3. The host loads the configuration
 * once, raises its descriptor limit, and serves every JOB message that
 * arrives: the tool's job code (struct gb_host_tool) starts the job on
 * the loop with the job's descriptors and answers through the calls
 * below; nothing blocks the loop for longer than one conversion step,
 * and no job holds a thread. A host whose queue ends (gb-serve let it
 * go, or died) takes no more jobs, finishes those it has, and returns.
 */
#ifndef GB_HOST_H
#define GB_HOST_H

#include <systemd/sd-event.h>

#include "buf.h"
#include "config.h"
#include "gb.h"
#include "proto.h"

struct gb_host;
struct gb_hostjob;

struct gb_host_tool {
	const char	*name;		/* "gb-call" */
	unsigned	 need;		/* GB_CONFIG_NEED_* */
	/* once, before the first job; 0, or -1 with err set */
	int		(*init)(struct gb_host *, struct gb_err *);
	/*
	 * Start a job (its descriptors: gb_hostjob_in/out). The job then
	 * belongs to the tool until it calls gb_hostjob_done(); a start
	 * that fails calls it at once.
	 */
	void		(*start)(struct gb_hostjob *,
			    const struct gb_msg_job *);
	void		(*fini)(struct gb_host *);	/* may be NULL */
};

/*
 * A tool's main calls this first: when argv is "TOOL -W" the process is
 * that tool's host; it serves its queue and returns the exit status to
 * exit with. Returns -1 when argv does not ask for a host. say() is how
 * the host speaks (lib/ never prints): the tool prints "prog: msg".
 */
int		 gb_host_main(int, char *[], const struct gb_host_tool *,
		    void (*)(const char *));

/* A diagnostic for the operator, through the tool's say(). */
void		 gb_host_say(const struct gb_host *, const char *);

sd_event	*gb_host_event(const struct gb_host *);
const struct gb_config *gb_host_config(const struct gb_host *);
void		*gb_host_data(const struct gb_host *);
void		 gb_host_set_data(struct gb_host *, void *);

struct gb_host	*gb_hostjob_host(const struct gb_hostjob *);
/* The job's stdin and stdout (non-blocking), or -1 when it has none. */
int		 gb_hostjob_in(const struct gb_hostjob *);
int		 gb_hostjob_out(const struct gb_hostjob *);
/* Close the job's stdout now (the reader sees its end). */
void		 gb_hostjob_close_out(struct gb_hostjob *);
void		*gb_hostjob_data(const struct gb_hostjob *);
void		 gb_hostjob_set_data(struct gb_hostjob *, void *);

/*
 * Read the job's stdin to its end into b (whose cap bounds it) on the
 * loop, close it, then call done(arg, 0), or done(arg, -1) with errno
 * (E2BIG: over the cap). No stdin reads as empty. Returns 0, or -1 when
 * it cannot start (done is then not called).
 */
int		 gb_hostjob_slurp(struct gb_hostjob *, struct gb_buf *,
		    void (*)(void *, int), void *);

/* gb-call's status, before the first byte of the answer. */
void		 gb_hostjob_head(struct gb_hostjob *,
		    const struct gb_msg_head *);
/* gb-convert's meta object (text of at most GB_PROTO_META - 1 bytes). */
void		 gb_hostjob_meta(struct gb_hostjob *, const char *);
/*
 * The job is over: its descriptors are closed, DONE (exit status, and
 * msg, the tool's diagnostic without the "prog: " prefix, may be NULL)
 * goes to gb-serve, the job is freed. The tool frees its data first.
 */
void		 gb_hostjob_done(struct gb_hostjob *, int, const char *);

/*
 * Write what fits of buf to fd without blocking: the bytes written, or
 * -1 with errno (EPIPE when the reader is gone).
 */
ssize_t		 gb_host_write(int, const void *, size_t);

/*
 * Write n bytes at p to fd after what waits in pending, without
 * blocking; what does not fit now joins pending (whose cap bounds it).
 * 0, or -1 with errno (EPIPE: the reader is gone; ENOMEM: pending full).
 */
int		 gb_host_put(int, struct gb_buf *, const void *, size_t);

/* The hosted tools' job code. */
extern const struct gb_host_tool gb_host_convert;
extern const struct gb_host_tool gb_host_call;
extern const struct gb_host_tool gb_host_sse;

#endif
