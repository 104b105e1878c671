/*
 * base64url.c: strict base64url and the JWS compact split.
 *
 * "Strict" (RFC 7515 §2, RFC 8725 §3.1 spirit): only the 64 characters of
 * the URL-safe alphabet, no padding, no whitespace, and no non-canonical
 * encodings: the unused low bits of the last character must be zero, so
 * one byte string has exactly one encoding and a token cannot be altered
 * without changing what it decodes to.
 */
#ifdef PGAPP_STANDALONE
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#else
#include "postgres.h"
#endif

#include "base64url.h"

static const char Base64UrlAlphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a base64url character, or -1. */
static inline int
Base64UrlValue(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Encode len bytes of src into dst, which must hold
 * Base64UrlEncodedLength(len) bytes.  No terminator is written.
 * Returns the number of characters written.
 */
size_t
Base64UrlEncode(const unsigned char *src, size_t len, char *dst)
{
	size_t i = 0;
	char  *p = dst;

	for (; i + 3 <= len; i += 3)
	{
		unsigned int v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];

		*p++ = Base64UrlAlphabet[(v >> 18) & 63];
		*p++ = Base64UrlAlphabet[(v >> 12) & 63];
		*p++ = Base64UrlAlphabet[(v >> 6) & 63];
		*p++ = Base64UrlAlphabet[v & 63];
	}
	if (len - i == 1)
	{
		unsigned int v = src[i] << 16;

		*p++ = Base64UrlAlphabet[(v >> 18) & 63];
		*p++ = Base64UrlAlphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		unsigned int v = (src[i] << 16) | (src[i + 1] << 8);

		*p++ = Base64UrlAlphabet[(v >> 18) & 63];
		*p++ = Base64UrlAlphabet[(v >> 12) & 63];
		*p++ = Base64UrlAlphabet[(v >> 6) & 63];
	}
	return (size_t) (p - dst);
}

/*
 * Decode len characters of src into dst, which must hold
 * Base64UrlDecodedMax(len) bytes.  Returns false, with dst in an
 * unspecified state, unless src is the canonical unpadded base64url
 * encoding of some byte string.
 */
bool
Base64UrlDecode(const char *src, size_t len, unsigned char *dst,
				size_t *dst_len)
{
	size_t i = 0;
	size_t n = 0;
	size_t rest = len % 4;

	/* One leftover character carries 6 bits: not a whole byte */
	if (rest == 1)
		return false;

	for (; i + 4 <= len; i += 4)
	{
		int a = Base64UrlValue((unsigned char) src[i]);
		int b = Base64UrlValue((unsigned char) src[i + 1]);
		int c = Base64UrlValue((unsigned char) src[i + 2]);
		int d = Base64UrlValue((unsigned char) src[i + 3]);

		if ((a | b | c | d) < 0)
			return false;
		dst[n++] = (unsigned char) ((a << 2) | (b >> 4));
		dst[n++] = (unsigned char) (((b & 15) << 4) | (c >> 2));
		dst[n++] = (unsigned char) (((c & 3) << 6) | d);
	}
	if (rest == 2)
	{
		int a = Base64UrlValue((unsigned char) src[i]);
		int b = Base64UrlValue((unsigned char) src[i + 1]);

		/* the low 4 bits of b are padding and must be zero */
		if ((a | b) < 0 || (b & 15) != 0)
			return false;
		dst[n++] = (unsigned char) ((a << 2) | (b >> 4));
	}
	else if (rest == 3)
	{
		int a = Base64UrlValue((unsigned char) src[i]);
		int b = Base64UrlValue((unsigned char) src[i + 1]);
		int c = Base64UrlValue((unsigned char) src[i + 2]);

		/* the low 2 bits of c are padding and must be zero */
		if ((a | b | c) < 0 || (c & 3) != 0)
			return false;
		dst[n++] = (unsigned char) ((a << 2) | (b >> 4));
		dst[n++] = (unsigned char) (((b & 15) << 4) | (c >> 2));
	}
	*dst_len = n;
	return true;
}

/*
 * Split a compact JWS into its three segments: exactly two dots, every
 * byte from the base64url alphabet, no segment empty (an empty signature
 * would be an unsecured JWS).  Decoding is left to the caller.
 */
JwsSplitResult
JwsSplitCompact(const char *token, size_t len, JwsSegments *out)
{
	const char *dots[2];
	int			ndots = 0;
	size_t		i;

	if (len > JWS_MAX_TOKEN_BYTES)
		return JWS_SPLIT_TOO_LONG;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) token[i];

		if (c == '.')
		{
			if (ndots == 2)
				return JWS_SPLIT_SEGMENT_COUNT;
			dots[ndots++] = token + i;
		}
		else if (Base64UrlValue(c) < 0)
			return JWS_SPLIT_BAD_CHAR;
	}
	if (ndots != 2)
		return JWS_SPLIT_SEGMENT_COUNT;

	out->header = token;
	out->header_len = (size_t) (dots[0] - token);
	out->payload = dots[0] + 1;
	out->payload_len = (size_t) (dots[1] - out->payload);
	out->signature = dots[1] + 1;
	out->signature_len = (size_t) (token + len - out->signature);

	if (out->header_len == 0 || out->payload_len == 0 ||
		out->signature_len == 0)
		return JWS_SPLIT_EMPTY_SEGMENT;
	return JWS_SPLIT_OK;
}
