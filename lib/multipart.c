/*
 * multipart.c - multipart/form-data (RFC 7578, RFC 2046 section 5.1),
 * read strictly: what the SDKs send and nothing looser.
 *
 * The body is "--B" CRLF, then per part: header lines, an empty line,
 * the bytes, CRLF "--B"; after the last part "--" and at most a CRLF.
 * The boundary B is taken from the first line (no preamble), so the
 * reader needs no Content-Type header; a caller that has one may check
 * it names the same boundary. A part's bytes end at the first CRLF "--B"
 * after its headers, which a sender guarantees by choosing B absent from
 * every part. Nothing is copied: parts point into the body. Every size is
 * bounded (the parts, a header line, the header lines of a part, a name)
 * and anything else is an error naming the part and what is wrong.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"

#define BOUNDARY_MAX	70	/* RFC 2046 */
#define LINE_MAX_	1024	/* a header line */
#define HEADERS_MAX	16	/* header lines of a part */

#define BAD(err, ...)	gb_err_set((err), GB_EXIT_USAGE, 400, __VA_ARGS__)

/* RFC 2046 bchars: the characters a boundary may have. */
static int
bchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c) != NULL;
}

/* An RFC 7230 token character (header and parameter names). */
static int
tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *
skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/*
 * A parameter value at *pp (a quoted string without escapes, or a
 * token) into out; *pp moves past it. 0, or -1 (malformed, too long).
 */
static int
param_value(const char **pp, const char *e, char *out, size_t sz)
{
	const char *p = *pp, *s;
	size_t n;

	if (p < e && *p == '"') {
		s = ++p;
		while (p < e && *p != '"' && *p != '\\')
			p++;
		if (p == e || *p != '"')
			return -1;
		n = (size_t)(p - s);
		p++;
	} else {
		s = p;
		while (p < e && tchar((unsigned char)*p))
			p++;
		n = (size_t)(p - s);
		if (n == 0)
			return -1;
	}
	if (n >= sz || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	*pp = p;
	return 0;
}

/* Content-Disposition: form-data; name="..."[; filename="..."] */
static int
disposition(const char *p, const char *e, struct gb_mpart *m, size_t i,
    struct gb_err *err)
{
	char pname[32], val[GB_MPART_NAME];
	const char *s;
	int named = 0;

	p = skip_ws(p, e);
	if ((size_t)(e - p) < 9 || strncasecmp(p, "form-data", 9) != 0 ||
	    (p + 9 < e && p[9] != ';' && p[9] != ' ' && p[9] != '\t'))
		return BAD(err, "multipart part %zu: Content-Disposition is "
		    "not form-data", i);
	p = skip_ws(p + 9, e);
	while (p < e) {
		if (*p != ';')
			return BAD(err, "multipart part %zu: malformed "
			    "Content-Disposition", i);
		p = skip_ws(p + 1, e);
		for (s = p; p < e && tchar((unsigned char)*p); p++)
			;
		if (p == s || p == e || *p != '=' ||
		    (size_t)(p - s) >= sizeof(pname))
			return BAD(err, "multipart part %zu: malformed "
			    "Content-Disposition parameter", i);
		memcpy(pname, s, (size_t)(p - s));
		pname[p - s] = '\0';
		p++;
		if (param_value(&p, e, val, sizeof(val)) == -1)
			return BAD(err, "multipart part %zu: %s: malformed or "
			    "longer than %d bytes", i, pname,
			    GB_MPART_NAME - 1);
		if (strcasecmp(pname, "name") == 0) {
			if (named++)
				return BAD(err, "multipart part %zu: two "
				    "names", i);
			memcpy(m->name, val, sizeof(m->name));
		} else if (strcasecmp(pname, "filename") == 0) {
			memcpy(m->filename, val, sizeof(m->filename));
			m->file = 1;
		}
		p = skip_ws(p, e);
	}
	if (!named || m->name[0] == '\0')
		return BAD(err, "multipart part %zu: no name", i);
	return 0;
}

/* Content-Type, lower case, without parameters. */
static int
content_type(const char *p, const char *e, struct gb_mpart *m, size_t i,
    struct gb_err *err)
{
	const char *s;
	size_t n, k;

	p = skip_ws(p, e);
	for (s = p; p < e && *p != ';' && *p != ' ' && *p != '\t'; p++)
		;
	n = (size_t)(p - s);
	if (n == 0 || n >= sizeof(m->ctype) || memchr(s, '/', n) == NULL)
		return BAD(err, "multipart part %zu: malformed Content-Type",
		    i);
	for (k = 0; k < n; k++) {
		if (!tchar((unsigned char)s[k]) && s[k] != '/')
			return BAD(err, "multipart part %zu: malformed "
			    "Content-Type", i);
		m->ctype[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 :
		    s[k]);
	}
	m->ctype[n] = '\0';
	return 0;
}

/*
 * The header lines of part i from *pp up to and past the empty line.
 * 0, or -1 with err.
 */
static int
headers(const char **pp, const char *end, struct gb_mpart *m, size_t i,
    struct gb_err *err)
{
	const char *p = *pp, *eol, *colon;
	int n = 0, disp = 0;
	size_t len;

	for (;;) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			return BAD(err, "multipart part %zu: headers do not "
			    "end", i);
		len = (size_t)(eol - p);
		if (len == 0)
			break;
		if (len > LINE_MAX_)
			return BAD(err, "multipart part %zu: a header line "
			    "longer than %d bytes", i, LINE_MAX_);
		if (++n > HEADERS_MAX)
			return BAD(err, "multipart part %zu: more than %d "
			    "header lines", i, HEADERS_MAX);
		if (memchr(p, '\n', len) != NULL ||
		    memchr(p, '\r', len) != NULL ||
		    memchr(p, '\0', len) != NULL ||
		    (colon = memchr(p, ':', len)) == NULL || colon == p)
			return BAD(err, "multipart part %zu: malformed header "
			    "line", i);
		if ((size_t)(colon - p) == 19 &&
		    strncasecmp(p, "Content-Disposition", 19) == 0) {
			if (disp++)
				return BAD(err, "multipart part %zu: two "
				    "Content-Disposition headers", i);
			if (disposition(colon + 1, eol, m, i, err) == -1)
				return -1;
		} else if ((size_t)(colon - p) == 12 &&
		    strncasecmp(p, "Content-Type", 12) == 0) {
			if (m->ctype[0] != '\0')
				return BAD(err, "multipart part %zu: two "
				    "Content-Type headers", i);
			if (content_type(colon + 1, eol, m, i, err) == -1)
				return -1;
		}
		p = eol + 2;
	}
	if (!disp)
		return BAD(err, "multipart part %zu: no Content-Disposition",
		    i);
	*pp = p + 2;
	return 0;
}

int
gb_multipart_parse(const char *body, size_t len, struct gb_mpart *parts,
    size_t max, struct gb_err *err)
{
	const char *end = body + len, *p, *eol, *next;
	char delim[4 + BOUNDARY_MAX + 1];
	size_t blen, dlen, n = 0, i;

	/* the first line: "--" and the boundary */
	if (len < 4 || body[0] != '-' || body[1] != '-' ||
	    (eol = memmem(body, len, "\r\n", 2)) == NULL)
		return BAD(err, "multipart: the body does not start with "
		    "its boundary line");
	blen = (size_t)(eol - body) - 2;
	if (blen == 0 || blen > BOUNDARY_MAX || body[1 + blen] == ' ')
		return BAD(err, "multipart: the boundary is empty, longer "
		    "than %d characters or ends with a space", BOUNDARY_MAX);
	for (i = 0; i < blen; i++)
		if (!bchar((unsigned char)body[2 + i]))
			return BAD(err, "multipart: the boundary has a "
			    "character RFC 2046 does not allow");
	memcpy(delim, "\r\n--", 4);
	memcpy(delim + 4, body + 2, blen);
	dlen = 4 + blen;
	p = eol + 2;
	for (;;) {
		if (n == max)
			return BAD(err, "multipart: more than %zu parts", max);
		memset(&parts[n], 0, sizeof(parts[n]));
		if (headers(&p, end, &parts[n], n + 1, err) == -1)
			return -1;
		next = memmem(p, (size_t)(end - p), delim, dlen);
		if (next == NULL)
			return BAD(err, "multipart part %zu: no boundary after "
			    "it", n + 1);
		parts[n].data = p;
		parts[n].len = (size_t)(next - p);
		n++;
		p = next + dlen;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			p += 2;
			if (p == end || (end - p == 2 && p[0] == '\r' &&
			    p[1] == '\n'))
				return (int)n;
			return BAD(err, "multipart: bytes after the closing "
			    "boundary");
		}
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return BAD(err, "multipart part %zu: its boundary is "
			    "not followed by a line end", n);
		p += 2;
	}
}
