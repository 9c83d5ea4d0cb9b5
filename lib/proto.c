/*
 * proto.c - sending and receiving the messages of proto.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

struct gb_msgq_item {
	struct gb_msgq_item	*next;
	size_t			 len;
	int			 fd[GB_MSG_FDS];
	int			 nfd;
	struct gb_msg		 msg;		/* len bytes used */
};

size_t
gb_msg_len(const struct gb_msg *m)
{
	switch (m->type) {
	case GB_MSG_JOB:
		return GB_MSG_HDR + sizeof(m->u.job);
	case GB_MSG_HEAD:
		return GB_MSG_HDR + sizeof(m->u.head);
	case GB_MSG_DONE:
		return GB_MSG_HDR + sizeof(m->u.done);
	case GB_MSG_META:
		return GB_MSG_HDR + strnlen(m->u.meta, GB_PROTO_META - 1) + 1;
	default:
		return GB_MSG_HDR;
	}
}

int
gb_msg_send(int q, const struct gb_msg *m, size_t len, const int *fds,
    int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * GB_MSG_FDS)];
	} cm;
	struct msghdr msg;
	struct iovec iov;
	int sent[GB_MSG_FDS], i, n = 0;
	ssize_t r;

	for (i = 0; i < nfds && n < GB_MSG_FDS; i++)
		if (fds[i] >= 0)
			sent[n++] = fds[i];
	nfds = n;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)m;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm.hdr.cmsg_level = SOL_SOCKET;
		cm.hdr.cmsg_type = SCM_RIGHTS;
		cm.hdr.cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(&cm.hdr), sent, sizeof(int) * (size_t)nfds);
	}
	do
		r = sendmsg(q, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r == -1 && errno == EINTR);
	return r == (ssize_t)len ? 0 : -1;
}

/* Is a received message whole and of a known type? */
static int
msg_ok(const struct gb_msg *m, size_t len)
{
	if (len < GB_MSG_HDR)
		return 0;
	switch (m->type) {
	case GB_MSG_JOB:
		return len == GB_MSG_HDR + sizeof(m->u.job) &&
		    memchr(m->u.job.mode, '\0', sizeof(m->u.job.mode)) &&
		    memchr(m->u.job.model, '\0', sizeof(m->u.job.model)) &&
		    memchr(m->u.job.arg, '\0', sizeof(m->u.job.arg)) &&
		    memchr(m->u.job.pin, '\0', sizeof(m->u.job.pin)) &&
		    memchr(m->u.job.hdrs, '\0', sizeof(m->u.job.hdrs)) &&
		    memchr(m->u.job.rid, '\0', sizeof(m->u.job.rid));
	case GB_MSG_HEAD:
		return len == GB_MSG_HDR + sizeof(m->u.head) &&
		    memchr(m->u.head.key, '\0', sizeof(m->u.head.key)) &&
		    memchr(m->u.head.key_id, '\0',
		    sizeof(m->u.head.key_id)) &&
		    memchr(m->u.head.hdrs, '\0', sizeof(m->u.head.hdrs));
	case GB_MSG_DONE:
		return len == GB_MSG_HDR + sizeof(m->u.done) &&
		    memchr(m->u.done.msg, '\0', sizeof(m->u.done.msg));
	case GB_MSG_META:
		return len > GB_MSG_HDR &&
		    ((const char *)m)[len - 1] == '\0';
	default:
		return 0;
	}
}

/*
 * recvmsg(2) gave 0 bytes: the end of the queue, or an empty packet (a
 * SOCK_SEQPACKET socket carries those; no peer of ours sends one).
 */
static int
ended(int q)
{
	struct pollfd p;

	p.fd = q;
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

ssize_t
gb_msg_recv(int q, struct gb_msg *m, int *fds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * (GB_MSG_FDS + 4))];
	} cm;
	struct msghdr msg;
	struct cmsghdr *h;
	struct iovec iov;
	int got[GB_MSG_FDS + 4], ngot = 0, i, k;
	ssize_t r;

	for (i = 0; i < GB_MSG_FDS; i++)
		fds[i] = -1;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = m;
	iov.iov_len = sizeof(*m);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do
		r = recvmsg(q, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return -1;
	if (r == 0 && !ended(q)) {
		/* an empty packet, not the end of the queue */
		for (h = CMSG_FIRSTHDR(&msg); h != NULL;
		    h = CMSG_NXTHDR(&msg, h))
			if (h->cmsg_level == SOL_SOCKET &&
			    h->cmsg_type == SCM_RIGHTS)
				for (i = 0; i < (int)((h->cmsg_len -
				    CMSG_LEN(0)) / sizeof(int)); i++) {
					memcpy(&k, CMSG_DATA(h) + i *
					    sizeof(int), sizeof(int));
					close(k);
				}
		errno = EBADMSG;
		return -1;
	}
	if (r == 0)
		return 0;
	for (h = CMSG_FIRSTHDR(&msg); h != NULL; h = CMSG_NXTHDR(&msg, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < k && ngot < (int)GB_NELEM(got); i++)
			memcpy(&got[ngot++], CMSG_DATA(h) + i * sizeof(int),
			    sizeof(int));
	}
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    ngot > GB_MSG_FDS || !msg_ok(m, (size_t)r)) {
		for (i = 0; i < ngot; i++)
			close(got[i]);
		errno = EBADMSG;
		return -1;
	}
	for (i = 0; i < ngot; i++)
		fds[i] = got[i];
	return r;
}

static void
item_free(struct gb_msgq_item *it)
{
	int i;

	for (i = 0; i < it->nfd; i++)
		if (it->fd[i] >= 0)
			close(it->fd[i]);
	free(it);
}

int
gb_msgq_send(struct gb_msgq *mq, int q, const struct gb_msg *m, size_t len,
    int *fds, int nfds)
{
	struct gb_msgq_item *it;
	int i;

	if (mq->head == NULL) {
		if (gb_msg_send(q, m, len, fds, nfds) == 0) {
			for (i = 0; i < nfds; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			return 0;
		}
		if (errno != EAGAIN && errno != ENOBUFS) {
			for (i = 0; i < nfds; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			return -1;
		}
	}
	if ((it = malloc(offsetof(struct gb_msgq_item, msg) + len)) == NULL) {
		for (i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		errno = ENOMEM;
		return -1;
	}
	it->next = NULL;
	it->len = len;
	it->nfd = nfds;
	for (i = 0; i < nfds; i++)
		it->fd[i] = fds[i];
	memcpy(&it->msg, m, len);
	if (mq->tail != NULL)
		mq->tail->next = it;
	else
		mq->head = it;
	mq->tail = it;
	mq->n++;
	return 0;
}

int
gb_msgq_flush(struct gb_msgq *mq, int q)
{
	struct gb_msgq_item *it;

	while ((it = mq->head) != NULL) {
		if (gb_msg_send(q, &it->msg, it->len, it->fd, it->nfd) == -1)
			return errno == EAGAIN || errno == ENOBUFS ? 1 : -1;
		mq->head = it->next;
		if (mq->head == NULL)
			mq->tail = NULL;
		mq->n--;
		item_free(it);
	}
	return 0;
}

void
gb_msgq_clear(struct gb_msgq *mq)
{
	struct gb_msgq_item *it;

	while ((it = mq->head) != NULL) {
		mq->head = it->next;
		item_free(it);
	}
	mq->tail = NULL;
	mq->n = 0;
}
