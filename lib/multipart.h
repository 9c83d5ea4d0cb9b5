/*
 * multipart.h - a small, strict reader of multipart/form-data bodies
 * (RFC 7578 over RFC 2046), as OpenAI's SDKs send image edits: the
 * parts' names, file names, types and bytes, pointing into the body.
 */
#ifndef GB_MULTIPART_H
#define GB_MULTIPART_H

#include <stddef.h>

#include "gb.h"

#define GB_MPART_MAX	32	/* parts in one body */
#define GB_MPART_NAME	128	/* a field or file name, NUL included */
#define GB_MPART_TYPE	128	/* a Content-Type, NUL included */

struct gb_mpart {
	char		 name[GB_MPART_NAME];	/* the form field */
	char		 filename[GB_MPART_NAME];	/* "" when none */
	int		 file;		/* a filename= was given */
	char		 ctype[GB_MPART_TYPE];	/* lower case, no parameters;
						   "" when none */
	const char	*data;		/* into the body */
	size_t		 len;
};

/*
 * Read the body (len bytes): its boundary is its first line, "--B"
 * (1 to 70 characters of RFC 2046's set; no preamble), each part has
 * headers of at most 1024 bytes a line and 16 lines, a
 * Content-Disposition "form-data" with a name, and the body ends with
 * "--B--" and at most a CRLF. Fills at most max parts; returns how many,
 * or -1 with err (GB_EXIT_USAGE, 400) saying what is wrong and where
 * (parts counted from 1).
 */
int	gb_multipart_parse(const char *, size_t, struct gb_mpart *, size_t,
	    struct gb_err *);

#endif
