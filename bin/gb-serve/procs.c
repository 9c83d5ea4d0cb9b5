/*
 * procs.c - a job run as the tool's own program, a child of gb-serve
 * (serve.h): how gb-serve serving a single connection (systemd
 * Accept=yes, inetd) runs its tools, since starting three long-lived
 * hosts for every connection would cost more than the processes
 * themselves (gb-serve(8), DESIGN NOTES).
 *
 * The child gets the job's stdin and stdout, its stderr on a pipe, and
 * the side channel its command line offers: gb-convert -I 3 writes the
 * meta object, gb-call -S 4 its status line. What comes back is turned
 * into the messages a host would send (META, HEAD, DONE), so requests
 * see no difference: DONE comes once the process has exited and both
 * pipes have ended, its message the first line of what the tool said on
 * stderr, without the "gb-tool: " prefix (the whole of it also goes to
 * gb-serve's stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve.h"

#define SIDE_MAX	GB_PROTO_META	/* the side channel's line */
#define ERR_MAX		8192		/* what a tool says on stderr */
#define AV_MAX		48		/* a command line's words */

extern char **environ;

struct proc {
	struct srv		*srv;
	pid_t			 pid;		/* 0 once reaped */
	int			 status;
	int			 side, err;	/* read ends, or -1 */
	sd_event_source		*sidesrc, *errsrc, *child;
	struct gb_buf		 sidebuf, errbuf;
	enum gb_tool		 tool;
	char			 rid[GB_PROTO_RID];	/* its request's */
};


/* ---- what a tool gets from gb-serve: its environment, its secrets ---- */

/* Is the environment entry e the variable name? */
static int
named(const char *e, const char *name)
{
	size_t l = strlen(name);

	return strncmp(e, name, l) == 0 && e[l] == '=';
}

/* Variables no tool inherits: the secrets and where they come from. */
static int
withheld(const char *e)
{
	static const char *const secrets[GB_NSECRETS] = GB_SECRET_NAMES;
	static const char *const where[] = { GB_SECRETS_FD,
	    "CREDENTIALS_DIRECTORY" };
	size_t i;

	for (i = 0; i < GB_NELEM(secrets); i++)
		if (named(e, secrets[i]))
			return 1;
	for (i = 0; i < GB_NELEM(where); i++)
		if (named(e, where[i]))
			return 1;
	return 0;
}

/* A list as a JSON array, to be freed; NULL when empty or out of memory. */
static char *
list_json(const struct gb_strlist *l)
{
	json_t *a;
	char *v;
	size_t i;

	if (l->n == 0 || (a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	v = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return v;
}

int
toolenv_make(struct toolenv *te, const struct gb_config *c, enum gb_tool t,
    int fdnum)
{
	const char *names[4] = { "API_KEYS", "KEY_STATE", "PROXY",
	    "PROXIES" };
	const char *values[4];
	char *keys, *proxies;
	size_t i, n;

	memset(te, 0, sizeof(*te));
	te->fd = -1;
	/*
	 * gb-call (and gb-keys) need the keys, where their state is and
	 * the proxies to reach the upstream through; nothing needs the
	 * tokens
	 */
	if (t == GB_TOOL_CALL || t == GB_TOOL_KEYS) {
		keys = list_json(&c->api_keys);
		proxies = list_json(&c->proxies);
		if (keys == NULL || (c->proxies.n > 0 && proxies == NULL)) {
			free(keys);
			free(proxies);
			errno = ENOMEM;
			return -1;
		}
		values[0] = keys;
		values[1] = c->key_state;
		values[2] = c->proxy;
		values[3] = proxies;
		te->fd = gb_env_memfd(names, values, GB_NELEM(names));
		free(keys);
		free(proxies);
		if (te->fd == -1)
			return -1;
		snprintf(te->var, sizeof(te->var), "%s=%d", GB_SECRETS_FD,
		    fdnum);
		te->fdnum = fdnum;
	}
	for (n = 0; environ[n] != NULL; n++)
		;
	if ((te->envp = calloc(n + 2, sizeof(*te->envp))) == NULL) {
		toolenv_free(te);
		errno = ENOMEM;
		return -1;
	}
	for (i = n = 0; environ[i] != NULL; i++)
		if (!withheld(environ[i]))
			te->envp[n++] = environ[i];
	if (te->fd >= 0)
		te->envp[n++] = te->var;
	te->envp[n] = NULL;
	return 0;
}

void
toolenv_fds(const struct toolenv *te, posix_spawn_file_actions_t *fa,
    int from)
{
	if (te->fd >= 0) {
		posix_spawn_file_actions_adddup2(fa, te->fd, te->fdnum);
		from = te->fdnum + 1;
	}
	/* nothing else gb-serve inherited or holds */
	posix_spawn_file_actions_addclosefrom_np(fa, from);
}

void
toolenv_free(struct toolenv *te)
{
	free(te->envp);
	te->envp = NULL;
	if (te->fd >= 0)
		close(te->fd);
	te->fd = -1;
}

/*
 * The side channel ended: gb-call's status line is the job's HEAD (it
 * comes before the answer, which waits in the kept stdout until then),
 * gb-convert's meta object its META.
 */
static void
side_said(struct job *j)
{
	struct proc *p = j->proc;
	struct gb_msg m;
	json_t *doc, *v;
	const char *key;

	if (p->sidebuf.len == 0)
		return;
	memset(&m, 0, sizeof(m));
	if (p->tool != GB_TOOL_CALL) {
		m.type = GB_MSG_META;
		snprintf(m.u.meta, sizeof(m.u.meta), "%.*s",
		    (int)p->sidebuf.len, p->sidebuf.data);
		job_said(j, &m);
		return;
	}
	doc = json_loadb(p->sidebuf.data, p->sidebuf.len, 0, NULL);
	if (json_is_integer(v = json_object_get(doc, "status"))) {
		m.type = GB_MSG_HEAD;
		m.u.head.status = (int32_t)json_integer_value(v);
		m.u.head.attempts = (int32_t)json_integer_value(
		    json_object_get(doc, "attempts"));
		v = json_object_get(doc, "retry_after");
		m.u.head.retry_after = json_is_integer(v) ?
		    json_integer_value(v) : -1;
		key = json_string_value(json_object_get(doc, "key"));
		snprintf(m.u.head.key, sizeof(m.u.head.key), "%s",
		    key != NULL ? key : "");
		key = json_string_value(json_object_get(doc, "key_id"));
		snprintf(m.u.head.key_id, sizeof(m.u.head.key_id), "%s",
		    key != NULL ? key : "");
		key = json_string_value(json_object_get(doc, "headers"));
		snprintf(m.u.head.hdrs, sizeof(m.u.head.hdrs), "%s",
		    key != NULL ? key : "");
		job_said(j, &m);
	}
	json_decref(doc);
}

/* The process exited and both pipes ended: DONE. */
static void
maybe_done(struct job *j)
{
	struct proc *p = j->proc;
	struct gb_msg m;
	const char *prio, *l, *e;
	char *nl, *msg;
	int code;

	if (p->pid != 0 || p->side >= 0 || p->err >= 0)
		return;
	if (p->errbuf.len > 0) {
		/* a tool's diagnostics: warnings, each line its own */
		prio = gb_log_prio(GB_LOG_WARN);
		for (l = p->errbuf.data; l < p->errbuf.data + p->errbuf.len;
		    l = e + 1) {
			if ((e = memchr(l, '\n', (size_t)(p->errbuf.data +
			    p->errbuf.len - l))) == NULL)
				e = p->errbuf.data + p->errbuf.len;
			fprintf(stderr, "%s%.*s%s%s\n", prio, (int)(e - l), l,
			    p->rid[0] != '\0' ? " id=" : "", p->rid);
		}
		fflush(stderr);
	}
	/* (a buffer reserved but never read into is not terminated) */
	msg = p->errbuf.len > 0 ? p->errbuf.data : "";
	if ((nl = strchr(msg, '\n')) != NULL)
		*nl = '\0';
	if (strncmp(msg, "gb-", 3) == 0 && (nl = strstr(msg, ": ")) != NULL)
		msg = nl + 2;
	if (WIFEXITED(p->status))
		code = WEXITSTATUS(p->status);
	else
		code = 128 + WTERMSIG(p->status);
	memset(&m, 0, sizeof(m));
	m.type = GB_MSG_DONE;
	m.u.done.exit = code;
	snprintf(m.u.done.msg, sizeof(m.u.done.msg), "%s", msg);
	job_said(j, &m);
}

/* Read a pipe into its buffer (capped); at its end, maybe DONE. */
static int
on_pipe(sd_event_source *s, int fd, uint32_t ev, void *arg)
{
	struct job *j = arg;
	struct proc *p = j->proc;
	struct gb_buf *b = s == p->sidesrc ? &p->sidebuf : &p->errbuf;
	char junk[4096];
	size_t want;
	ssize_t r;

	(void)ev;
	for (;;) {
		want = b->cap - b->len;
		if (want > 0 && gb_buf_reserve(b, want) == 0)
			r = read(fd, b->data + b->len, want);
		else
			r = read(fd, junk, sizeof(junk)); /* over cap */
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			break;
		if (want > 0 && b->data != NULL) {
			b->len += (size_t)r;
			b->data[b->len] = '\0';
		}
	}
	if (s == p->sidesrc) {
		close_src(&p->sidesrc);
		close_fd(&p->side);
		side_said(j);
		if (j->proc == NULL)
			return 0;
	} else {
		close_src(&p->errsrc);
		close_fd(&p->err);
	}
	maybe_done(j);
	return 0;
}

static int
on_exit_(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct job *j = arg;
	struct proc *p = j->proc;
	int st;

	(void)s;
	if (waitpid(p->pid, &st, WNOHANG) == p->pid)
		p->status = st;
	else if (si->si_code == CLD_EXITED)
		p->status = si->si_status << 8;
	else
		p->status = si->si_status & 0x7f;
	p->pid = 0;
	close_src(&p->child);
	maybe_done(j);
	return 0;
}

/* The command line of the job, as a shell user would type it. */
static int
argv_of(const struct gb_msg_job *mj, char **av, char *num, char *hb)
{
	char *l;
	int n = 0;

	switch (mj->tool) {
	case GB_TOOL_CONVERT:
		av[n++] = (char *)(uintptr_t)"gb-convert";
		av[n++] = (char *)(uintptr_t)mj->mode;
		if (strlen(mj->mode) > 8 && strcmp(mj->mode +
		    strlen(mj->mode) - 8, "-request") == 0) {
			av[n++] = (char *)(uintptr_t)"-I";
			av[n++] = (char *)(uintptr_t)"3";
		}
		if (mj->model[0] != '\0') {
			av[n++] = (char *)(uintptr_t)"-m";
			av[n++] = (char *)(uintptr_t)mj->model;
		}
		if (mj->arg[0] != '\0') {
			av[n++] = (char *)(uintptr_t)"-i";
			av[n++] = (char *)(uintptr_t)mj->arg;
		}
		if ((mj->flags & GB_JOB_BASE64) != 0) {
			av[n++] = (char *)(uintptr_t)"-e";
			av[n++] = (char *)(uintptr_t)"base64";
		}
		if ((mj->flags & (GB_JOB_WAV | GB_JOB_PCM)) != 0) {
			av[n++] = (char *)(uintptr_t)"-f";
			av[n++] = (char *)(uintptr_t)((mj->flags &
			    GB_JOB_WAV) != 0 ? "wav" : "pcm");
		}
		break;
	case GB_TOOL_CALL:
		av[n++] = (char *)(uintptr_t)"gb-call";
		if ((mj->flags & GB_JOB_STREAM) != 0)
			av[n++] = (char *)(uintptr_t)"-s";
		av[n++] = (char *)(uintptr_t)"-S";
		av[n++] = (char *)(uintptr_t)"4";
		if (mj->pin[0] != '\0') {
			av[n++] = (char *)(uintptr_t)"-K";
			av[n++] = (char *)(uintptr_t)mj->pin;
		}
		/* -H per header line, split in place in hb */
		memcpy(hb, mj->hdrs, GB_PROTO_HDRS);
		for (l = hb; *l != '\0' && n < AV_MAX - 6;) {
			av[n++] = (char *)(uintptr_t)"-H";
			av[n++] = l;
			l += strcspn(l, "\n");
			if (*l == '\n')
				*l++ = '\0';
		}
		av[n++] = (char *)(uintptr_t)mj->mode;
		av[n++] = (char *)(uintptr_t)mj->arg;
		break;
	case GB_TOOL_SSE:
		av[n++] = (char *)(uintptr_t)"gb-sse";
		if (mj->mode[0] != '\0') {
			av[n++] = (char *)(uintptr_t)"-o";
			av[n++] = (char *)(uintptr_t)mj->mode;
		}
		if ((mj->flags & GB_JOB_USAGE) != 0)
			av[n++] = (char *)(uintptr_t)"-u";
		if (mj->num > 0) {
			snprintf(num, 16, "%d", (int)mj->num);
			av[n++] = (char *)(uintptr_t)"-k";
			av[n++] = num;
		}
		if (mj->model[0] != '\0') {
			av[n++] = (char *)(uintptr_t)"-m";
			av[n++] = (char *)(uintptr_t)mj->model;
		}
		break;
	case GB_TOOL_KEYS:
		av[n++] = (char *)(uintptr_t)"gb-keys";
		av[n++] = (char *)(uintptr_t)"list";
		av[n++] = (char *)(uintptr_t)"--json";
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	av[n] = NULL;
	return 0;
}

int
proc_start(struct srv *srv, struct job *j, const struct gb_msg_job *mj,
    int *fds)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	struct proc *p;
	char prog[PATH_MAX + 32], num[16], *av[AV_MAX], hb[GB_PROTO_HDRS];
	struct toolenv te;
	int sp[2] = { -1, -1 }, ep[2] = { -1, -1 }, side, e;

	if (argv_of(mj, av, num, hb) == -1 ||
	    snprintf(prog, sizeof(prog), "%s/%s", srv->tooldir, av[0]) >=
	    (int)sizeof(prog)) {
		e = errno != 0 ? errno : ENAMETOOLONG;
		goto fail_fds;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		e = errno;
		goto fail_fds;
	}
	p->side = p->err = -1;
	p->tool = (enum gb_tool)mj->tool;
	if (j->rq != NULL)
		snprintf(p->rid, sizeof(p->rid), "%s", j->rq->rid);
	gb_buf_init(&p->sidebuf, SIDE_MAX);
	gb_buf_init(&p->errbuf, ERR_MAX);
	side = mj->tool == GB_TOOL_CALL ? 4 : 3;
	if (pipe2(sp, O_CLOEXEC) == -1 || pipe2(ep, O_CLOEXEC) == -1 ||
	    toolenv_make(&te, &srv->cfg->c, p->tool, side + 1) == -1) {
		e = errno;
		goto fail;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	if (fds[0] >= 0)
		posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		    O_RDONLY, 0);
	if (fds[1] >= 0)
		posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
		    O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	posix_spawn_file_actions_adddup2(&fa, sp[1], side);
	toolenv_fds(&te, &fa, side + 1);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	e = posix_spawn(&p->pid, prog, &fa, &at, av, te.envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	toolenv_free(&te);
	close_fd(&sp[1]);
	close_fd(&ep[1]);
	close_fd(&fds[0]);
	close_fd(&fds[1]);
	if (e != 0) {
		p->pid = 0;
		fprintf(stderr, "%sgb-serve: cannot run %s: %s\n",
		    gb_log_prio(GB_LOG_ERROR), prog,
		    strerror(e));
		goto fail;
	}
	p->side = sp[0];
	p->err = ep[0];
	gb_io_nonblock(p->side);
	gb_io_nonblock(p->err);
	j->proc = p;
	p->srv = srv;
	srv->nproc++;
	if (sd_event_add_io(srv->ev, &p->sidesrc, p->side, EPOLLIN, on_pipe,
	    j) < 0 ||
	    sd_event_add_io(srv->ev, &p->errsrc, p->err, EPOLLIN, on_pipe,
	    j) < 0 ||
	    sd_event_add_child(srv->ev, &p->child, p->pid, WEXITED, on_exit_,
	    j) < 0) {
		/* cannot watch it: stop it and wait here */
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		j->proc = NULL;
		srv->nproc--;
		e = EIO;
		goto fail;
	}
	return 0;
fail:
	close_src(&p->sidesrc);
	close_src(&p->errsrc);
	close_fd(&sp[0]);
	close_fd(&sp[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	gb_buf_free(&p->sidebuf);
	gb_buf_free(&p->errbuf);
	free(p);
fail_fds:
	close_fd(&fds[0]);
	close_fd(&fds[1]);
	errno = e;
	return -1;
}

void
proc_release(struct job *j)
{
	if (j->proc != NULL && j->proc->pid != 0)
		kill(j->proc->pid, SIGTERM);
}

void
proc_free(struct job *j)
{
	struct proc *p = j->proc;

	if (p == NULL)
		return;
	close_src(&p->sidesrc);
	close_src(&p->errsrc);
	close_src(&p->child);
	close_fd(&p->side);
	close_fd(&p->err);
	gb_buf_free(&p->sidebuf);
	gb_buf_free(&p->errbuf);
	p->srv->nproc--;
	srv_maybe_exit(p->srv);
	free(p);
	j->proc = NULL;
}
