/*
 * host_convert.c - gb-convert's jobs in its host (host.h).
 *
 * A conversion needs its whole input, so the loop reads a job's stdin
 * to its end without blocking; the conversion itself (gb_convert_run,
 * the code gb-convert runs alone) then runs to completion on one of a
 * few worker threads, because a chat request may download its http(s)
 * images and a large document takes a while to parse: neither may stall
 * the loop that reads and writes every other job. The result comes back
 * to the loop through an eventfd, which sends the meta object, writes
 * the output without blocking and says DONE. No thread waits on a
 * descriptor: a job holds a worker only while it converts. A small
 * document that downloads nothing is converted on the loop at once.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "convert.h"
#include "host.h"

#define WORKERS		4	/* conversions at once */
#define OUT_MAX		(256UL << 20)	/* one converted document */
#define QUICK_MAX	(64 * 1024)	/* converted on the loop up to this */

struct cjob {
	struct gb_hostjob	*j;
	struct cjob		*next;		/* in a pool list */
	struct gb_convert_job	 cj;
	char			 model[GB_PROTO_MODEL];
	char			 arg[GB_PROTO_ARG];
	struct gb_buf		 in;
	struct gb_buf		 out;
	size_t			 off;		/* of out, written */
	json_t			*meta;
	struct gb_err		 err;
	int			 code;
	sd_event_source		*src;
};

struct pool {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct cjob		*todo, *todo_tail;
	struct cjob		*done;
	pthread_t		 t[WORKERS];
	int			 nt;
	int			 stop;
	int			 efd;		/* eventfd: something is done */
	sd_event_source		*esrc;
	const struct gb_config	*cfg;
};

static void
cjob_free(struct cjob *c)
{
	gb_buf_free(&c->in);
	gb_buf_free(&c->out);
	json_decref(c->meta);
	sd_event_source_disable_unref(c->src);
	free(c);
}

static void
finish(struct cjob *c, int code, const char *msg)
{
	struct gb_hostjob *j = c->j;
	char m[GB_ERR_MSGSIZE];

	/* msg may be the job's own: keep it past the free */
	snprintf(m, sizeof(m), "%s", msg != NULL ? msg : "");
	cjob_free(c);
	gb_hostjob_done(j, code, m);
}

/* The conversion itself, on a worker or on the loop. */
static void
convert(struct cjob *c, const struct gb_config *cfg)
{
	gb_err_clear(&c->err);
	c->code = gb_convert_run(&c->cj, cfg, c->in.data != NULL ?
	    c->in.data : "", c->in.len, &c->out, &c->meta, &c->err);
	gb_buf_free(&c->in);
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	struct cjob *c;
	uint64_t one = 1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->todo == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->todo == NULL)
			break;
		c = p->todo;
		if ((p->todo = c->next) == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);
		convert(c, p->cfg);
		pthread_mutex_lock(&p->mu);
		c->next = p->done;
		p->done = c;
		/* a failure means the counter is non-zero: a wake-up waits */
		(void)!write(p->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Write what fits of the output; DONE once it is all out. */
static int
on_out(sd_event_source *src, int fd, uint32_t ev, void *arg)
{
	struct cjob *c = arg;
	ssize_t w;
	char m[GB_ERR_MSGSIZE];

	(void)src;
	(void)ev;
	while (c->off < c->out.len) {
		w = gb_host_write(fd, c->out.data + c->off,
		    c->out.len - c->off);
		if (w == -1 && errno == EAGAIN)
			return 0;
		if (w == -1) {
			snprintf(m, sizeof(m), "stdout: %s", strerror(errno));
			finish(c, GB_EXIT_TEMP, m);
			return 0;
		}
		c->off += (size_t)w;
	}
	finish(c, GB_EXIT_OK, NULL);
	return 0;
}

/* A conversion came back from a worker. */
static void
converted(struct cjob *c)
{
	sd_event *ev = gb_host_event(gb_hostjob_host(c->j));
	ssize_t w;
	char *text;

	if (c->code != GB_EXIT_OK) {
		finish(c, c->code, c->err.msg);
		return;
	}
	if (c->meta != NULL) {
		if ((text = json_dumps(c->meta, JSON_COMPACT)) == NULL) {
			finish(c, GB_EXIT_TEMP, "out of memory");
			return;
		}
		gb_hostjob_meta(c->j, text);
		free(text);
	}
	if (gb_hostjob_out(c->j) < 0) {
		finish(c, GB_EXIT_OK, NULL);
		return;
	}
	/* a small answer fits the pipe: no turn of the loop to wait */
	w = gb_host_write(gb_hostjob_out(c->j), c->out.data, c->out.len);
	if (w == (ssize_t)c->out.len) {
		finish(c, GB_EXIT_OK, NULL);
		return;
	}
	if (w > 0)
		c->off = (size_t)w;
	if (sd_event_add_io(ev, &c->src, gb_hostjob_out(c->j), EPOLLOUT,
	    on_out, c) < 0) {
		finish(c, GB_EXIT_TEMP, "cannot watch stdout");
		return;
	}
}

static int
on_done(sd_event_source *src, int fd, uint32_t ev, void *arg)
{
	struct pool *p = arg;
	struct cjob *c, *next;
	uint64_t n;

	(void)src;
	(void)ev;
	/* EAGAIN: another wake-up took it */
	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&p->mu);
	c = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; c != NULL; c = next) {
		next = c->next;
		converted(c);
	}
	return 0;
}

static void
submit(struct pool *p, struct cjob *c)
{
	pthread_mutex_lock(&p->mu);
	c->next = NULL;
	if (p->todo_tail != NULL)
		p->todo_tail->next = c;
	else
		p->todo = c;
	p->todo_tail = c;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/*
 * Can the conversion run on the loop? A small document converts in
 * tens of microseconds, less than the way to a worker and back; a
 * chat request that may name an http(s) image to download, or a large
 * document, goes to a worker.
 */
static int
quick(const struct cjob *c)
{
	if (c->in.len > QUICK_MAX)
		return 0;
	return (c->cj.mode != GB_CONVERT_CHAT_REQUEST &&
	    c->cj.mode != GB_CONVERT_RESPONSES_REQUEST &&
	    c->cj.mode != GB_CONVERT_ANTHROPIC_REQUEST &&
	    c->cj.mode != GB_CONVERT_ANTHROPIC_COUNT_REQUEST) ||
	    c->in.data == NULL ||
	    memmem(c->in.data, c->in.len, "http", 4) == NULL;
}

/* stdin is all in: convert it, on the loop or on a worker. */
static void
slurped(void *arg, int rc)
{
	struct cjob *c = arg;
	char m[GB_ERR_MSGSIZE];

	if (rc == -1) {
		if (errno == E2BIG)
			snprintf(m, sizeof(m), "stdin: more than %zu bytes "
			    "(MAX_BODY)", c->in.cap);
		else
			snprintf(m, sizeof(m), "stdin: %s", strerror(errno));
		finish(c, errno == E2BIG ? GB_EXIT_USAGE : GB_EXIT_TEMP, m);
		return;
	}
	if (quick(c)) {
		/* on the loop itself: no hand-over to a worker and back */
		convert(c, gb_host_config(gb_hostjob_host(c->j)));
		converted(c);
		return;
	}
	submit(gb_host_data(gb_hostjob_host(c->j)), c);
}

static void
convert_start(struct gb_hostjob *j, const struct gb_msg_job *job)
{
	struct gb_host *h = gb_hostjob_host(j);
	struct cjob *c;

	if (job->tool != GB_TOOL_CONVERT) {
		gb_hostjob_done(j, GB_EXIT_USAGE, "not a gb-convert job");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		gb_hostjob_done(j, GB_EXIT_TEMP, "out of memory");
		return;
	}
	c->j = j;
	if (gb_convert_mode_parse(job->mode, &c->cj.mode) == -1) {
		finish(c, GB_EXIT_USAGE, "unknown mode");
		return;
	}
	snprintf(c->model, sizeof(c->model), "%s", job->model);
	snprintf(c->arg, sizeof(c->arg), "%s", job->arg);
	c->cj.model = c->model[0] != '\0' ? c->model : NULL;
	c->cj.id = c->arg[0] != '\0' ? c->arg : NULL;
	c->cj.base64 = (job->flags & GB_JOB_BASE64) != 0;
	c->cj.status = job->num;
	if ((job->flags & GB_JOB_WAV) != 0)
		c->cj.format = "wav";
	else if ((job->flags & GB_JOB_PCM) != 0)
		c->cj.format = "pcm";
	gb_buf_init(&c->in, (size_t)gb_host_config(h)->max_body);
	gb_buf_init(&c->out, OUT_MAX);
	if (gb_hostjob_slurp(j, &c->in, slurped, c) == -1)
		finish(c, GB_EXIT_TEMP, "cannot watch stdin");
}

static int
convert_init(struct gb_host *h, struct gb_err *err)
{
	struct pool *p;
	sigset_t all, old;
	int i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->cfg = gb_host_config(h);
	if ((p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    sd_event_add_io(gb_host_event(h), &p->esrc, p->efd, EPOLLIN,
	    on_done, p) < 0) {
		if (p->efd >= 0)
			close(p->efd);
		free(p);
		return gb_err_set(err, GB_EXIT_TEMP, 0, "eventfd: %s",
		    strerror(errno));
	}
	/* workers take no signals: the loop's thread does */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < WORKERS; i++)
		if (pthread_create(&p->t[p->nt], NULL, worker, p) == 0)
			p->nt++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	gb_host_set_data(h, p);
	if (p->nt == 0)
		return gb_err_set(err, GB_EXIT_TEMP, 0, "no worker thread");
	return 0;
}

static void
convert_fini(struct gb_host *h)
{
	struct pool *p = gb_host_data(h);
	struct cjob *c;
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nt; i++)
		pthread_join(p->t[i], NULL);
	while ((c = p->todo) != NULL) {
		p->todo = c->next;
		finish(c, GB_EXIT_TEMP, "host stopped");
	}
	while ((c = p->done) != NULL) {
		p->done = c->next;
		finish(c, GB_EXIT_TEMP, "host stopped");
	}
	sd_event_source_disable_unref(p->esrc);
	close(p->efd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

const struct gb_host_tool gb_host_convert = {
	"gb-convert", 0, convert_init, convert_start, convert_fini
};
