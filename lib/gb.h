/*
 * gb.h - things every gemini-balance tool and module shares: the exit
 * status table, the error record lib/ functions fill in instead of
 * printing, and a few small helpers.
 */
#ifndef GB_H
#define GB_H

#include <stddef.h>

#define GB_VERSION	"0.1.0"

/*
 * Exit status of every tool (repeated in each man page's EXIT STATUS).
 * 128+n (killed by signal n) is the shell's, not ours.
 */
#define GB_EXIT_OK	0	/* success */
#define GB_EXIT_NO	1	/* a negative answer: no usable key, upstream said no */
#define GB_EXIT_USAGE	100	/* usage error or bad input */
#define GB_EXIT_TEMP	111	/* temporary failure: network, retries exhausted, I/O */

/*
 * lib/ never prints and never exits: a failing function fills a gb_err
 * and returns -1 (or NULL). The caller prints "prog: msg" and exits with
 * the code stored here.
 */
#define GB_ERR_MSGSIZE	512

struct gb_err {
	int	code;			/* one of GB_EXIT_* */
	int	status;			/* HTTP status that fits, or 0 */
	char	msg[GB_ERR_MSGSIZE];
};

void	gb_err_clear(struct gb_err *);
int	gb_err_set(struct gb_err *, int, int, const char *, ...)
	    __attribute__((format(printf, 4, 5)));

/*
 * Parse a decimal integer in [min, max]; returns 0 on success, -1 with
 * *errstr set to "invalid", "too small" or "too large" otherwise.
 */
int	gb_strtonum(const char *, long long, long long, long long *,
	    const char **);

#define GB_NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#endif
