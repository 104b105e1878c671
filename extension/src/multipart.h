/*
 * multipart.h — multipart/form-data bodies (RFC 7578 over RFC 2046's
 * multipart framing), as browsers send a FormData object.
 *
 * The parser only finds spans in the body: it allocates nothing and knows
 * nothing of PostgreSQL, so tests/fuzz can build it standalone
 * (-DPGAPP_STANDALONE).  The dispatcher copies and checks the values.
 */
#ifndef PGAPP_MULTIPART_H
#define PGAPP_MULTIPART_H

#ifdef PGAPP_STANDALONE
#include <stdbool.h>
#include <stddef.h>
#endif

/* RFC 2046 §5.1.1: a boundary is 1 to 70 characters */
#define MULTIPART_MAX_BOUNDARY 70
/* More parts than this is refused, as Starlette refuses over 1,000 fields */
#define MULTIPART_MAX_PARTS 1000

typedef struct MultipartPart
{
	const char *name; /* the form field's name (not terminated) */
	size_t		name_len;
	const char *value; /* the part's content (not terminated) */
	size_t		value_len;
	bool		is_file; /* Content-Disposition has a filename */
} MultipartPart;

/* Called for each part in order; return false to stop with an error. */
typedef bool (*MultipartPartFn)(const MultipartPart *part, void *arg);

/*
 * The boundary parameter of a Content-Type value whose media type is
 * multipart/form-data, copied into out (MULTIPART_MAX_BOUNDARY + 1 bytes).
 * False when the parameter is missing or not a valid boundary.
 */
bool MultipartBoundary(const char *content_type, char *out);

/*
 * Walk body (len bytes) split by boundary.  Every part must carry
 * Content-Disposition: form-data with a name; a preamble and an epilogue
 * are ignored.  False when the body is malformed, has more than
 * MULTIPART_MAX_PARTS parts, or fn returned false.
 */
bool MultipartParse(const char *body, size_t len, const char *boundary,
					MultipartPartFn fn, void *arg);

#endif
