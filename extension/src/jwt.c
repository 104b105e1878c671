/*
 * jwt.c: sign and verify JSON Web Tokens (HS256/HS384/HS512).
 *
 * JSON goes through PostgreSQL's own parser: once with semantic actions
 * that refuse duplicate keys (jsonb would silently keep the last one, and
 * two parsers disagreeing about a claim is how tokens get forged) and
 * excessive nesting, then through jsonb_in for the value we return (a
 * value it refuses, such as a number beyond numeric's range, is PJ001 too).
 * HMAC is OpenSSL's one-shot HMAC(), so no handle can leak on error;
 * signatures are compared with CRYPTO_memcmp after a length check.
 *
 * Nothing here reads a GUC: no SET can change signing or verification.
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "access/xact.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "base64url.h"
#include "compat.h"
#include "jwt.h"
#include "keys.h"

/* Deeper JSON than this in a token is refused (PJ001) */
#define JWT_MAX_JSON_DEPTH 64

/* NumericDate bounds: 1970-01-01 .. 9999-12-31T23:59:59Z */
#define JWT_NUMERIC_DATE_MAX INT64CONST(253402300799)

/* Which part of the token is being parsed, for messages */
typedef enum JwtPart
{
	JWT_PART_HEADER,
	JWT_PART_PAYLOAD
} JwtPart;

static const char *const JwtPartNames[] = {"header", "payload"};

/* State of the duplicate-key check, one per parse */
typedef struct JwtJsonState
{
	List   *objects; /* stack of open objects: each a List of keys */
	int		depth;
	JwtPart part;
} JwtJsonState;

#define JwtMalformed(...)                                 \
	ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_MALFORMED), \
					errmsg("malformed token"), errdetail(__VA_ARGS__)))

static void
JwtJsonEnter(JwtJsonState *state)
{
	if (++state->depth > JWT_MAX_JSON_DEPTH)
		JwtMalformed("The token %s is nested too deeply.",
					 JwtPartNames[state->part]);
}

static PGAPP_JSON_ACTION_RESULT
JwtJsonObjectStart(void *arg)
{
	JwtJsonState *state = (JwtJsonState *) arg;

	JwtJsonEnter(state);
	state->objects = lcons(NIL, state->objects);
	return PGAPP_JSON_ACTION_OK;
}

static PGAPP_JSON_ACTION_RESULT
JwtJsonObjectEnd(void *arg)
{
	JwtJsonState *state = (JwtJsonState *) arg;

	state->depth--;
	state->objects = list_delete_first(state->objects);
	return PGAPP_JSON_ACTION_OK;
}

static PGAPP_JSON_ACTION_RESULT
JwtJsonArrayStart(void *arg)
{
	JwtJsonEnter((JwtJsonState *) arg);
	return PGAPP_JSON_ACTION_OK;
}

static PGAPP_JSON_ACTION_RESULT
JwtJsonArrayEnd(void *arg)
{
	((JwtJsonState *) arg)->depth--;
	return PGAPP_JSON_ACTION_OK;
}

/*
 * fname is de-escaped (need_escapes), so "a" and "\u0061" collide as they
 * should.  Quadratic, but a token holds at most a few hundred keys.
 */
static PGAPP_JSON_ACTION_RESULT
JwtJsonFieldStart(void *arg, char *fname, bool isnull)
{
	JwtJsonState *state = (JwtJsonState *) arg;
	List		 *keys = (List *) linitial(state->objects);
	ListCell	 *lc;

	foreach (lc, keys)
	{
		if (strcmp((const char *) lfirst(lc), fname) == 0)
			JwtMalformed("The token %s has a duplicate key.",
						 JwtPartNames[state->part]);
	}
	linitial(state->objects) = lappend(keys, fname);
	return PGAPP_JSON_ACTION_OK;
}

/*
 * jsonb_in on text pg_parse_json accepted.  It can still refuse a value,
 * a number beyond numeric's range (1e200000: 22003) above all: a data
 * exception that must fail the verification like any malformed token
 * (PJ001, so 401), not surface as itself.  Nothing runs between the catch
 * and the new error, so no subtransaction is needed; any other error is
 * re-raised as it is.
 */
static Jsonb *
JwtJsonbIn(char *json, const char *what)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	Jsonb *volatile jb = NULL;
	volatile bool refused = false;

	PG_TRY();
	{
		jb = DatumGetJsonbP(
			DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
		refused = true;
	}
	PG_END_TRY();
	if (refused)
		JwtMalformed("The token %s holds a value jsonb cannot store.", what);
	return jb;
}

/*
 * Parse decoded bytes as a JSON object with no duplicate key at any
 * level; PJ001 otherwise.
 */
static Jsonb *
JwtParseObject(const unsigned char *data, size_t len, JwtPart part)
{
	const char	   *what = JwtPartNames[part];
	char		   *json;
	JsonLexContext *lex;
	JsonSemAction	sem;
	JwtJsonState	state;
	Jsonb		   *jb;

	/* jsonb_in reads a C string, and the bytes must be valid text */
	if (memchr(data, '\0', len) != NULL ||
		!pg_verifymbstr((const char *) data, (int) len, true))
		JwtMalformed("The token %s is not valid text.", what);

	json = palloc(len + 1);
	memcpy(json, data, len);
	json[len] = '\0';

	memset(&state, 0, sizeof(state));
	state.part = part;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = JwtJsonObjectStart;
	sem.object_end = JwtJsonObjectEnd;
	sem.array_start = JwtJsonArrayStart;
	sem.array_end = JwtJsonArrayEnd;
	sem.object_field_start = JwtJsonFieldStart;

	lex =
		PgappMakeJsonLexContext(json, (int) len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		JwtMalformed("The token %s is not valid JSON.", what);

	jb = JwtJsonbIn(json, what);
	if (!JB_ROOT_IS_OBJECT(jb))
		JwtMalformed("The token %s is not a JSON object.", what);
	return jb;
}

/* Decode one segment; PJ001 unless it is canonical base64url. */
static unsigned char *
JwtDecodeSegment(const char *seg, size_t len, size_t *out_len)
{
	unsigned char *buf = palloc(Base64UrlDecodedMax(len));

	if (!Base64UrlDecode(seg, len, buf, out_len))
		JwtMalformed("A token segment is not canonical unpadded base64url.");
	return buf;
}

static JsonbValue *
JwtGetField(Jsonb *jb, const char *key)
{
	JsonbValue k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

static const EVP_MD *
JwtAlgDigest(JwtAlg alg)
{
	switch (alg)
	{
		case JWT_ALG_HS256:
			return EVP_sha256();
		case JWT_ALG_HS384:
			return EVP_sha384();
		case JWT_ALG_HS512:
			return EVP_sha512();
	}
	elog(ERROR, "unknown JWT algorithm %d", (int) alg);
	return NULL; /* keep compiler quiet */
}

/* HMAC of data with key into mac (EVP_MAX_MD_SIZE bytes); its length. */
static size_t
JwtHmac(JwtAlg alg, const unsigned char *key, size_t key_len, const char *data,
		size_t data_len, unsigned char *mac)
{
	unsigned int mac_len = 0;

	if (key_len > INT_MAX ||
		HMAC(JwtAlgDigest(alg), key, (int) key_len,
			 (const unsigned char *) data, data_len, mac, &mac_len) == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not compute HMAC")));
	return mac_len;
}

/* The statement's time as seconds since the Unix epoch */
static double
JwtNowSeconds(TimestampTz now)
{
	return (double) now / USECS_PER_SEC +
		   (double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

static Datum
JwtInt8Numeric(int64 v)
{
	return DirectFunctionCall1(int8_numeric, Int64GetDatum(v));
}

/*
 * A NumericDate claim (RFC 7519 §2) in seconds, or false when absent.
 * Range-checked as numeric first, so no value can overflow a double.
 */
static bool
JwtNumericDate(Jsonb *claims, const char *name, double *seconds)
{
	JsonbValue *v = JwtGetField(claims, name);
	Datum		n;

	if (v == NULL)
		return false;
	if (v->type != jbvNumeric)
		ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_CLAIMS),
						errmsg("invalid token claims"),
						errdetail("The claim \"%s\" is not a number.", name)));
	n = NumericGetDatum(v->val.numeric);
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, JwtInt8Numeric(0))) <
			0 ||
		DatumGetInt32(DirectFunctionCall2(
			numeric_cmp, n, JwtInt8Numeric(JWT_NUMERIC_DATE_MAX))) > 0)
		ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_CLAIMS),
						errmsg("invalid token claims"),
						errdetail("The claim \"%s\" is out of range.", name)));
	*seconds = DatumGetFloat8(DirectFunctionCall1(numeric_float8, n));
	return true;
}

static void
JwtCheckClaims(Jsonb *claims, TimestampTz now)
{
	double now_s = JwtNowSeconds(now);
	double exp;
	double nbf;
	double iat;
	bool   has_nbf;
	bool   has_iat;

	if (!JwtNumericDate(claims, "exp", &exp))
		ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_CLAIMS),
						errmsg("invalid token claims"),
						errdetail("The claim \"exp\" is missing.")));
	has_nbf = JwtNumericDate(claims, "nbf", &nbf);
	has_iat = JwtNumericDate(claims, "iat", &iat);

	if (now_s >= exp)
		ereport(ERROR,
				(errcode(ERRCODE_PGAPP_JWT_EXPIRED), errmsg("token expired")));
	if (has_nbf && nbf > now_s + JWT_LEEWAY_SECONDS)
		ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_NOT_YET_VALID),
						errmsg("token not yet valid"),
						errdetail("The claim \"nbf\" is in the future.")));
	if (has_iat && iat > now_s + JWT_LEEWAY_SECONDS)
		ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_NOT_YET_VALID),
						errmsg("token not yet valid"),
						errdetail("The claim \"iat\" is in the future.")));
}

/* The header's checks that need no key; returns the algorithm it names. */
static JwtAlg
JwtCheckHeader(Jsonb *header, const char **kid, size_t *kid_len)
{
	JsonbValue *v;
	JwtAlg		alg;

	v = JwtGetField(header, "alg");
	if (v == NULL || v->type != jbvString ||
		!JwtAlgFromName(v->val.string.val, v->val.string.len, &alg))
		ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_ALGORITHM),
						errmsg("token algorithm not allowed"),
						errdetail("Only HS256, HS384 and HS512 are accepted, "
								  "and only with their own keys.")));

	if (JwtGetField(header, "crit") != NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_PGAPP_JWT_CRITICAL),
			 errmsg("unsupported critical token header"),
			 errdetail(
				 "No critical header parameter (\"crit\") is supported.")));

	v = JwtGetField(header, "typ");
	if (v != NULL && (v->type != jbvString || v->val.string.len != 3 ||
					  pg_strncasecmp(v->val.string.val, "JWT", 3) != 0))
		JwtMalformed("The token type (\"typ\") is not \"JWT\".");

	v = JwtGetField(header, "kid");
	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_PGAPP_JWT_UNKNOWN_KEY),
				 errmsg("unknown token key"),
				 errdetail("The token header has no key id (\"kid\").")));
	*kid = v->val.string.val;
	*kid_len = v->val.string.len;
	return alg;
}

Jsonb *
JwtVerify(const char *token, size_t len)
{
	JwsSegments		 seg;
	unsigned char	*header_raw;
	unsigned char	*payload_raw;
	unsigned char	*sig;
	size_t			 header_len;
	size_t			 payload_len;
	size_t			 sig_len;
	Jsonb			*header;
	Jsonb			*claims;
	JwtAlg			 alg;
	const char		*kid;
	size_t			 kid_len;
	const KeysEntry *key;
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	size_t			 mac_len;
	TimestampTz		 now = GetCurrentStatementStartTimestamp();

	switch (JwsSplitCompact(token, len, &seg))
	{
		case JWS_SPLIT_OK:
			break;
		case JWS_SPLIT_TOO_LONG:
			JwtMalformed("The token is longer than %d bytes.",
						 JWS_MAX_TOKEN_BYTES);
			break;
		case JWS_SPLIT_BAD_CHAR:
			JwtMalformed(
				"The token contains a character outside base64url and \".\".");
			break;
		case JWS_SPLIT_SEGMENT_COUNT:
			JwtMalformed("The token does not have exactly three segments.");
			break;
		case JWS_SPLIT_EMPTY_SEGMENT:
			JwtMalformed("The token has an empty segment.");
			break;
	}

	header_raw = JwtDecodeSegment(seg.header, seg.header_len, &header_len);
	payload_raw = JwtDecodeSegment(seg.payload, seg.payload_len, &payload_len);
	sig = JwtDecodeSegment(seg.signature, seg.signature_len, &sig_len);

	header = JwtParseObject(header_raw, header_len, JWT_PART_HEADER);
	alg = JwtCheckHeader(header, &kid, &kid_len);

	/* the key decides the algorithm; the header only has to agree */
	key = KeysLookup(kid, kid_len, now);
	if (key == NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_PGAPP_JWT_UNKNOWN_KEY),
			 errmsg("unknown token key"),
			 errdetail("No live key in the keyring has the token's key id.")));
	if (key->alg != alg)
		ereport(
			ERROR,
			(errcode(ERRCODE_PGAPP_JWT_ALGORITHM),
			 errmsg("token algorithm not allowed"),
			 errdetail("The token's algorithm is not its key's algorithm.")));

	/* signing input: the first two segments as sent, with their dot */
	mac_len = JwtHmac(key->alg, key->secret, key->secret_len, token,
					  seg.header_len + 1 + seg.payload_len, mac);
	if (sig_len != mac_len || CRYPTO_memcmp(mac, sig, mac_len) != 0)
		ereport(ERROR, (errcode(ERRCODE_PGAPP_JWT_SIGNATURE),
						errmsg("invalid token signature")));

	claims = JwtParseObject(payload_raw, payload_len, JWT_PART_PAYLOAD);
	JwtCheckClaims(claims, now);
	return claims;
}

/* Append base64url(data) to buf */
static void
JwtAppendBase64Url(StringInfo buf, const unsigned char *data, size_t len)
{
	size_t n = Base64UrlEncodedLength(len);

	enlargeStringInfo(buf, (int) n + 1);
	Base64UrlEncode(data, len, buf->data + buf->len);
	buf->len += (int) n;
	buf->data[buf->len] = '\0';
}

text *
JwtSign(Jsonb *claims)
{
	JsonbValue		*exp;
	char			*payload;
	StringInfoData	 header;
	StringInfoData	 token;
	const KeysEntry *key;
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	size_t			 mac_len;

	if (!JB_ROOT_IS_OBJECT(claims))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("token claims must be a JSON object")));
	exp = JwtGetField(claims, "exp");
	if (exp == NULL || exp->type != jbvNumeric)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("token claims must have a numeric \"exp\"")));
	payload = JsonbToCString(NULL, &claims->root, VARSIZE(claims));

	key = KeysSigningKey();
	if (key == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("no signing key"),
						errhint("Add one with pgapp.key_add() or set "
								"SECRET_KEY and apply the environment.")));

	/* no catalog access from here on: key points into the cache */
	initStringInfo(&header);
	appendStringInfo(&header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":",
					 JwtAlgName(key->alg));
	escape_json(&header, key->kid);
	appendStringInfoChar(&header, '}');

	initStringInfo(&token);
	JwtAppendBase64Url(&token, (unsigned char *) header.data, header.len);
	appendStringInfoChar(&token, '.');
	JwtAppendBase64Url(&token, (unsigned char *) payload, strlen(payload));
	mac_len = JwtHmac(key->alg, key->secret, key->secret_len, token.data,
					  token.len, mac);
	appendStringInfoChar(&token, '.');
	JwtAppendBase64Url(&token, mac, mac_len);

	if (token.len > JWS_MAX_TOKEN_BYTES)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("token would be longer than %d bytes",
							   JWS_MAX_TOKEN_BYTES)));
	return cstring_to_text_with_len(token.data, token.len);
}

/* api.jwt_verify(token text) returns jsonb */
PG_FUNCTION_INFO_V1(jwt_verify);
Datum
jwt_verify(PG_FUNCTION_ARGS)
{
	text *token = PG_GETARG_TEXT_PP(0);

	PG_RETURN_JSONB_P(JwtVerify(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token)));
}

/* pgapp.jwt_sign(claims jsonb) returns text */
PG_FUNCTION_INFO_V1(jwt_sign);
Datum
jwt_sign(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(JwtSign(PG_GETARG_JSONB_P(0)));
}

/*
 * pgapp.jwt_hmac(data text, key bytea, algorithm text) returns text
 *
 * base64url(HMAC(key, data)): the signature core that JwtSign and
 * JwtVerify use, exposed so tests can check it against published vectors
 * (RFC 7515 A.1 has no kid, so it cannot go through JwtVerify).
 */
PG_FUNCTION_INFO_V1(jwt_hmac);
Datum
jwt_hmac(PG_FUNCTION_ARGS)
{
	text		  *data = PG_GETARG_TEXT_PP(0);
	bytea		  *key = PG_GETARG_BYTEA_PP(1);
	text		  *alg_name = PG_GETARG_TEXT_PP(2);
	JwtAlg		   alg;
	unsigned char  mac[EVP_MAX_MD_SIZE];
	size_t		   mac_len;
	StringInfoData out;

	if (!JwtAlgFromName(VARDATA_ANY(alg_name), VARSIZE_ANY_EXHDR(alg_name),
						&alg))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unsupported signing algorithm"),
						errhint("Use HS256, HS384 or HS512.")));
	mac_len = JwtHmac(alg, (unsigned char *) VARDATA_ANY(key),
					  VARSIZE_ANY_EXHDR(key), VARDATA_ANY(data),
					  VARSIZE_ANY_EXHDR(data), mac);
	initStringInfo(&out);
	JwtAppendBase64Url(&out, mac, mac_len);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
