/*
 * fuzz_token.c: libFuzzer target for the code that reads a token before
 * any key is involved: the JWS compact split and strict base64url
 * (extension/src/base64url.c, compiled standalone).
 *
 * Besides "no crash, no overflow" (ASan, UBSan), it checks the properties
 * the verifier relies on:
 *  - a split token's segments lie inside the input, are non-empty, and
 *    with their two dots make up the whole input;
 *  - strict decoding is canonical: whatever decodes re-encodes to exactly
 *    the same characters (so no two strings carry one signature);
 *  - encode then decode is the identity.
 *
 * Build and run: tests/fuzz/build.sh token, then
 *   .pgapp/build/fuzz_token tests/fuzz/corpus/token -max_total_time=20
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"

#define FUZZ_ASSERT(cond)                                              \
	do                                                                 \
	{                                                                  \
		if (!(cond))                                                   \
		{                                                              \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, \
					__LINE__, #cond);                                  \
			abort();                                                   \
		}                                                              \
	} while (0)

/* Decode one segment strictly; when it decodes, it must be canonical. */
static void
CheckSegment(const char *seg, size_t len)
{
	/* exact-size heap buffers, so ASan sees any overrun */
	unsigned char *raw = malloc(Base64UrlDecodedMax(len));
	size_t		   raw_len = 0;

	FUZZ_ASSERT(raw != NULL);
	if (Base64UrlDecode(seg, len, raw, &raw_len))
	{
		size_t enc_len = Base64UrlEncodedLength(raw_len);
		char  *enc = malloc(enc_len + 1);

		FUZZ_ASSERT(enc != NULL);
		FUZZ_ASSERT(raw_len <= Base64UrlDecodedMax(len));
		FUZZ_ASSERT(Base64UrlEncode(raw, raw_len, enc) == enc_len);
		FUZZ_ASSERT(enc_len == len);
		FUZZ_ASSERT(memcmp(enc, seg, len) == 0);
		free(enc);
	}
	free(raw);
}

static void
CheckRoundTrip(const uint8_t *data, size_t size)
{
	size_t		   enc_len = Base64UrlEncodedLength(size);
	char		  *enc = malloc(enc_len + 1);
	unsigned char *dec = malloc(Base64UrlDecodedMax(enc_len));
	size_t		   dec_len = 0;

	FUZZ_ASSERT(enc != NULL && dec != NULL);
	FUZZ_ASSERT(Base64UrlEncode(data, size, enc) == enc_len);
	FUZZ_ASSERT(Base64UrlDecode(enc, enc_len, dec, &dec_len));
	FUZZ_ASSERT(dec_len == size);
	FUZZ_ASSERT(size == 0 || memcmp(dec, data, size) == 0);
	free(enc);
	free(dec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, no terminator: reads past it are bugs */
	char		  *token = malloc(size ? size : 1);
	JwsSegments	   seg;
	JwsSplitResult rc;

	FUZZ_ASSERT(token != NULL);
	memcpy(token, data, size);

	rc = JwsSplitCompact(token, size, &seg);
	if (size > JWS_MAX_TOKEN_BYTES)
		FUZZ_ASSERT(rc == JWS_SPLIT_TOO_LONG);
	if (rc == JWS_SPLIT_OK)
	{
		FUZZ_ASSERT(seg.header == token);
		FUZZ_ASSERT(seg.header_len > 0 && seg.payload_len > 0 &&
					seg.signature_len > 0);
		FUZZ_ASSERT(seg.header_len + seg.payload_len + seg.signature_len + 2 ==
					size);
		FUZZ_ASSERT(seg.payload == token + seg.header_len + 1);
		FUZZ_ASSERT(seg.signature == seg.payload + seg.payload_len + 1);
		FUZZ_ASSERT(token[seg.header_len] == '.' &&
					token[seg.header_len + 1 + seg.payload_len] == '.');
		CheckSegment(seg.header, seg.header_len);
		CheckSegment(seg.payload, seg.payload_len);
		CheckSegment(seg.signature, seg.signature_len);
	}

	/* the whole input as one segment, and as bytes to encode */
	CheckSegment(token, size);
	if (size <= 3 * JWS_MAX_TOKEN_BYTES)
		CheckRoundTrip(data, size);

	free(token);
	return 0;
}
