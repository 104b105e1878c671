#include "unit.h"

#include <stdlib.h>

#include "httpcheck.h"
#include "log.h"

static const char *
unescape(const char *in)
{
	static char out[256];

	if (unescape_strict(in, strlen(in), out) < 0)
		return NULL;
	return out;
}

static enum framing
frame(const char *cl1, const char *cl2, const char *te1, const char *te2)
{
	const char		  *cl[2], *te[2];
	int				   ncl = 0, nte = 0;
	unsigned long long len;

	if (cl1)
		cl[ncl++] = cl1;
	if (cl2)
		cl[ncl++] = cl2;
	if (te1)
		te[nte++] = te1;
	if (te2)
		te[nte++] = te2;
	return framing_check(cl, ncl, te, nte, &len);
}

void
test_httpcheck(void)
{
	unsigned long long len = 0;
	const char		  *cl[] = {" 42 "};
	char			 **origins;
	char			   line[128], *name, *value, err[128];
	int				   n;

	/* strict unescape */
	CHECK_STR(unescape("/a%40b"), "/a@b");
	CHECK_STR(unescape("/caf%C3%A9"), "/caf\xc3\xa9");
	CHECK_STR(unescape("/plain"), "/plain");
	CHECK_STR(unescape("/sp%20ace"), "/sp ace");
	CHECK_STR(unescape("/%2f"), "//");
	CHECK(unescape("/a%00b") == NULL);
	CHECK(unescape("/a%0ab") == NULL);
	CHECK(unescape("/a%0Db") == NULL);
	CHECK(unescape("/a%1fb") == NULL);
	CHECK(unescape("/a%7Fb") == NULL);
	CHECK(unescape("/a%zzb") == NULL);
	CHECK(unescape("/a%4") == NULL);
	CHECK(unescape("/a%") == NULL);
	CHECK(unescape("/a%g0") == NULL);
	CHECK(unescape("/a\tb") == NULL);
	CHECK(unescape("/%C3%28") == NULL);	   /* invalid UTF-8 */
	CHECK(unescape("/%ED%A0%80") == NULL); /* surrogate */
	CHECK(unescape("/%C0%AF") == NULL);	   /* overlong "/" */
	CHECK(unescape("/\xff") == NULL);
	/* absolute form (RFC 9112 3.2.2): where the path begins */
	CHECK_STR(absolute_form_path("http://h/a?b"), "/a?b");
	CHECK_STR(absolute_form_path("HTTPS://h:8000/a"), "/a");
	CHECK_STR(absolute_form_path("http://h?q=1"), "?q=1");
	CHECK_STR(absolute_form_path("http://user@h:1"), "");
	CHECK(absolute_form_path("/http://h/a") == NULL);
	CHECK(absolute_form_path("http:///a") == NULL);
	CHECK(absolute_form_path("http://") == NULL);
	CHECK(absolute_form_path("http://?q") == NULL);
	CHECK(absolute_form_path("ftp://h/a") == NULL);
	CHECK(absolute_form_path("http:/h/a") == NULL);
	CHECK(absolute_form_path("*") == NULL);
	CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
	CHECK(!utf8_valid("\xf0\x9f\x98", 3));

	/* framing */
	CHECK(frame(NULL, NULL, NULL, NULL) == FRAMING_NONE);
	CHECK(framing_check(cl, 1, NULL, 0, &len) == FRAMING_LENGTH && len == 42);
	CHECK(frame("0", NULL, NULL, NULL) == FRAMING_LENGTH);
	CHECK(frame("5", "5", NULL, NULL) == FRAMING_BAD);
	CHECK(frame("5", "6", NULL, NULL) == FRAMING_BAD);
	CHECK(frame("abc", NULL, NULL, NULL) == FRAMING_BAD);
	CHECK(frame("-1", NULL, NULL, NULL) == FRAMING_BAD);
	CHECK(frame("+1", NULL, NULL, NULL) == FRAMING_BAD);
	CHECK(frame("1,1", NULL, NULL, NULL) == FRAMING_BAD);
	CHECK(frame("", NULL, NULL, NULL) == FRAMING_BAD);
	CHECK(frame("99999999999999999999", NULL, NULL, NULL) == FRAMING_BAD);
	CHECK(frame(NULL, NULL, "chunked", NULL) == FRAMING_CHUNKED);
	CHECK(frame(NULL, NULL, "Chunked", NULL) == FRAMING_CHUNKED);
	CHECK(frame(NULL, NULL, "gzip", NULL) == FRAMING_BAD);
	CHECK(frame(NULL, NULL, "gzip, chunked", NULL) == FRAMING_BAD);
	CHECK(frame(NULL, NULL, "chunked, chunked", NULL) == FRAMING_BAD);
	CHECK(frame(NULL, NULL, "chunked", "chunked") == FRAMING_BAD);
	CHECK(frame(NULL, NULL, "identity", NULL) == FRAMING_BAD);
	CHECK(frame("5", NULL, "chunked", NULL) == FRAMING_BAD);

	/* CORS origins */
	n = cors_parse("[\"http://localhost:5173\", \"https://app.example.com/\"]",
				   &origins, err, sizeof(err));
	CHECK(n == 2);
	if (n == 2)
	{
		CHECK_STR(origins[0], "http://localhost:5173");
		CHECK_STR(origins[1], "https://app.example.com");
		CHECK(cors_allowed(origins, n, "http://localhost:5173"));
		CHECK(cors_allowed(origins, n, "https://app.example.com"));
		CHECK(!cors_allowed(origins, n, "https://evil.example.com"));
		CHECK(!cors_allowed(origins, n, "http://localhost:5174"));
		CHECK(!cors_allowed(origins, n, "null"));
		CHECK(!cors_allowed(origins, n, NULL));
		CHECK(!cors_allowed(origins, n, "http://localhost:5173\r\nX: y"));
		cors_free(origins, n);
	}
	n = cors_parse("http://a.example, http://b.example:8080", &origins, err,
				   sizeof(err));
	CHECK(n == 2);
	if (n > 0)
		cors_free(origins, n);
	n = cors_parse("*", &origins, err, sizeof(err));
	CHECK(n == 1);
	if (n == 1)
	{
		CHECK(cors_allowed(origins, n, "https://anything.example"));
		CHECK(!cors_allowed(origins, n, "*"));
		cors_free(origins, n);
	}
	CHECK(cors_parse("", &origins, err, sizeof(err)) == 0);
	CHECK(cors_parse("[]", &origins, err, sizeof(err)) == 0);
	CHECK(cors_parse("ftp://x", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://x/path", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("[\"http://x\"", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("localhost", &origins, err, sizeof(err)) == -1);
	/* scheme://host[:port] and nothing else */
	CHECK(cors_parse("http://a.com?x", &origins, err, sizeof(err)) == -1);
	CHECK(strstr(err, "http://a.com?x") != NULL);
	CHECK(cors_parse("http://a.com:abc", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://a.com:", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://a.com:0", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://a.com:65536", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://a.com:99999999999999999999", &origins, err,
					 sizeof(err)) == -1);
	CHECK(cors_parse("http://a.com#f", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://u@a.com", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://:80", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://[]", &origins, err, sizeof(err)) == -1);
	CHECK(cors_parse("http://[::1", &origins, err, sizeof(err)) == -1);
	n = cors_parse("http://a.com:65535, https://[::1]:8443, http://[::1], "
				   "http://my_host.local",
				   &origins, err, sizeof(err));
	CHECK(n == 4);
	if (n > 0)
	{
		CHECK(cors_allowed(origins, n, "https://[::1]:8443"));
		CHECK(!cors_allowed(origins, n, "http://a.com:65535?x"));
		cors_free(origins, n);
	}

	/* dispatcher header lines */
	strcpy(line, "WWW-Authenticate: Bearer error=\"invalid_token\"");
	CHECK(header_line_split(line, &name, &value));
	CHECK_STR(name, "WWW-Authenticate");
	CHECK_STR(value, "Bearer error=\"invalid_token\"");
	strcpy(line, "Retry-After:  30 ");
	CHECK(header_line_split(line, &name, &value));
	CHECK_STR(value, "30");
	strcpy(line, "Bad Name: x");
	CHECK(!header_line_split(line, &name, &value));
	strcpy(line, "NoColon");
	CHECK(!header_line_split(line, &name, &value));
	strcpy(line, "X-Evil: a\x01"
				 "b");
	CHECK(!header_line_split(line, &name, &value));
	CHECK(http_token("PATCH"));
	CHECK(!http_token("GE T"));
	CHECK(!http_token(""));
	CHECK(field_name_list_ok("authorization,content-type"));
	CHECK(field_name_list_ok(" Authorization , X-Trace-Id\t"));
	CHECK(field_name_list_ok("x-requested-with"));
	CHECK(!field_name_list_ok(""));
	CHECK(!field_name_list_ok(" "));
	CHECK(!field_name_list_ok("a,,b"));
	CHECK(!field_name_list_ok("a,"));
	CHECK(!field_name_list_ok(",a"));
	CHECK(!field_name_list_ok("a b"));
	CHECK(!field_name_list_ok("a;b"));
	CHECK(!field_name_list_ok("a:b"));
	CHECK(!field_name_list_ok("a\x01"));

	/* log_sanitize: control bytes and quotes replaced, long input cut with
	 * "...", and a buffer too small for the mark stays within bounds */
	{
		char small[8], tiny[4];

		memset(tiny, 'x', sizeof(tiny));
		CHECK_STR(log_sanitize(small, sizeof(small), "a\"b\n"), "a?b?");
		CHECK_STR(log_sanitize(small, sizeof(small), "abcdefghij"), "abcd...");
		CHECK_STR(log_sanitize(tiny, 3, "abcdef"), "");
		CHECK(tiny[3] == 'x');
		CHECK_STR(log_sanitize(tiny, sizeof(tiny), "abcdef"), "...");
		CHECK_STR(log_sanitize(small, sizeof(small), NULL), "-");
	}
}
