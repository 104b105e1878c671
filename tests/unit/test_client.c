#include "unit.h"

#include <stdlib.h>

#include "client.h"

static const char *
resolve(const char *peer, const char *xff, const char *trusted)
{
	static char	  out[CLIENT_ADDR_LEN];
	struct cidr	 *list;
	struct ipaddr p;
	char		  err[128];
	int			  n = cidr_list_parse(trusted, &list, err, sizeof(err));

	if (n < 0 || !ipaddr_parse(peer, &p))
		return "setup-error";
	client_resolve(&p, xff, list, n, out, sizeof(out));
	free(list);
	return out;
}

void
test_client(void)
{
	struct cidr	  c;
	struct ipaddr a;
	struct cidr	 *list;
	char		  err[128];

	/* CIDR parsing and matching */
	CHECK(cidr_parse("10.0.0.0/8", &c));
	CHECK(ipaddr_parse("10.200.3.4", &a) && cidr_contains(&c, &a));
	CHECK(ipaddr_parse("11.0.0.1", &a) && !cidr_contains(&c, &a));
	CHECK(cidr_parse("10.1.2.3/8", &c)); /* host bits cleared */
	CHECK(ipaddr_parse("10.9.9.9", &a) && cidr_contains(&c, &a));
	CHECK(cidr_parse("fd00::/8", &c));
	CHECK(ipaddr_parse("fd12::1", &a) && cidr_contains(&c, &a));
	CHECK(ipaddr_parse("fe80::1", &a) && !cidr_contains(&c, &a));
	CHECK(cidr_parse("0.0.0.0/0", &c));
	CHECK(ipaddr_parse("8.8.8.8", &a) && cidr_contains(&c, &a));
	CHECK(ipaddr_parse("::1", &a) && !cidr_contains(&c, &a));
	CHECK(cidr_parse("192.168.1.7", &c));
	CHECK(ipaddr_parse("192.168.1.7", &a) && cidr_contains(&c, &a));
	CHECK(ipaddr_parse("192.168.1.8", &a) && !cidr_contains(&c, &a));
	/* a v4-mapped v6 peer (dual-stack socket) is the v4 address */
	CHECK(ipaddr_parse("::ffff:192.168.1.7", &a) && cidr_contains(&c, &a));
	CHECK(!cidr_parse("10.0.0.0/33", &c));
	CHECK(!cidr_parse("::/129", &c));
	CHECK(!cidr_parse("10.0.0.0/", &c));
	CHECK(!cidr_parse("10.0.0.0/8x", &c));
	CHECK(!cidr_parse("10.0.0", &c));
	CHECK(!cidr_parse("host.example", &c));
	CHECK(cidr_list_parse("10.0.0.0/8, ::1 ,fd00::/8", &list, err,
						  sizeof(err)) == 3);
	free(list);
	CHECK(cidr_list_parse("10.0.0.0/8,bogus", &list, err, sizeof(err)) == -1);
	CHECK(cidr_list_parse("", &list, err, sizeof(err)) == 0);

	/* X-Forwarded-For */
	CHECK_STR(resolve("203.0.113.9", NULL, ""), "203.0.113.9");
	/* no trusted proxies: the header is ignored */
	CHECK_STR(resolve("203.0.113.9", "1.2.3.4", ""), "203.0.113.9");
	/* untrusted peer: ignored */
	CHECK_STR(resolve("203.0.113.9", "1.2.3.4", "10.0.0.0/8"), "203.0.113.9");
	/* trusted peer: the rightmost hop */
	CHECK_STR(resolve("10.0.0.2", "1.2.3.4", "10.0.0.0/8"), "1.2.3.4");
	/* a client-supplied left part cannot win */
	CHECK_STR(resolve("10.0.0.2", "6.6.6.6, 1.2.3.4", "10.0.0.0/8"),
			  "1.2.3.4");
	/* trusted hops are skipped from the right */
	CHECK_STR(resolve("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.5", "10.0.0.0/8"),
			  "1.2.3.4");
	/* all trusted: the leftmost */
	CHECK_STR(resolve("10.0.0.2", "10.0.0.7,10.0.0.5", "10.0.0.0/8"),
			  "10.0.0.7");
	/* garbage ends the walk at the last trusted hop */
	CHECK_STR(resolve("10.0.0.2", "1.2.3.4, junk, 10.0.0.5", "10.0.0.0/8"),
			  "10.0.0.5");
	CHECK_STR(resolve("10.0.0.2", "junk", "10.0.0.0/8"), "10.0.0.2");
	CHECK_STR(resolve("10.0.0.2", "", "10.0.0.0/8"), "10.0.0.2");
	/* IPv6, normalised as text */
	CHECK_STR(resolve("::1", "2001:DB8::0:1", "::1"), "2001:db8::1");
	CHECK_STR(resolve("fd00::5", "2001:db8::7, fd00::9", "fd00::/8"),
			  "2001:db8::7");
	CHECK_STR(resolve("::ffff:10.0.0.2", "198.51.100.1", "10.0.0.0/8"),
			  "198.51.100.1");
	CHECK_STR(resolve("::ffff:127.0.0.1", NULL, ""), "127.0.0.1");
}
