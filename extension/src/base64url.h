/*
 * base64url.h: strict base64url (RFC 4648 §5, no padding) and the JWS
 * compact serialization's segment split (RFC 7515 §7.1).
 *
 * Free of backend dependencies, so the fuzz target (tests/fuzz) compiles
 * it standalone with -DPGAPP_STANDALONE.
 */
#ifndef PGAPP_BASE64URL_H
#define PGAPP_BASE64URL_H

#ifdef PGAPP_STANDALONE
#include <stdbool.h>
#include <stddef.h>
#endif

/* SPEC §5: a token is at most 8 KiB */
#define JWS_MAX_TOKEN_BYTES 8192

/* Bytes needed to encode n bytes (no padding, no terminator). */
#define Base64UrlEncodedLength(n) \
	(((n) / 3) * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))

/* An upper bound of the bytes that len characters decode to. */
#define Base64UrlDecodedMax(len) (((len) / 4) * 3 + 2)

/* The three segments of a compact JWS, pointing into the token. */
typedef struct JwsSegments
{
	const char *header;
	size_t		header_len;
	const char *payload;
	size_t		payload_len;
	const char *signature;
	size_t		signature_len;
} JwsSegments;

typedef enum JwsSplitResult
{
	JWS_SPLIT_OK = 0,
	JWS_SPLIT_TOO_LONG,		 /* longer than JWS_MAX_TOKEN_BYTES */
	JWS_SPLIT_BAD_CHAR,		 /* a byte outside base64url and '.' */
	JWS_SPLIT_SEGMENT_COUNT, /* not exactly three segments */
	JWS_SPLIT_EMPTY_SEGMENT	 /* a segment is empty */
} JwsSplitResult;

extern size_t Base64UrlEncode(const unsigned char *src, size_t len, char *dst);
extern bool	  Base64UrlDecode(const char *src, size_t len, unsigned char *dst,
							  size_t *dst_len);
extern JwsSplitResult JwsSplitCompact(const char *token, size_t len,
									  JwsSegments *out);

#endif /* PGAPP_BASE64URL_H */
