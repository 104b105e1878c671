/* perip.c: connections per address, counted in one table for all loops. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "perip.h"
#include "unit.h"

static struct sockaddr_in
v4(const char *text)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	inet_pton(AF_INET, text, &sa.sin_addr);
	return sa;
}

static struct sockaddr_in6
v6(const char *text)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};

	inet_pton(AF_INET6, text, &sa.sin6_addr);
	return sa;
}

#define SA(x) ((const struct sockaddr *) &(x))

void
test_perip(void)
{
	struct perip *t = perip_create(2);
	struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
	struct sockaddr_in6 a6 = v6("::ffff:192.0.2.1"), c6 = v6("2001:db8::1");
	struct sockaddr un = {.sa_family = AF_UNIX};

	CHECK(t != NULL);
	/* two per address, then refused; other addresses unaffected */
	CHECK(perip_take(t, SA(a)));
	CHECK(perip_take(t, SA(a)));
	CHECK(!perip_take(t, SA(a)));
	CHECK(perip_take(t, SA(b)));
	CHECK(perip_take(t, SA(c6)));
	CHECK(perip_take(t, SA(c6)));
	CHECK(!perip_take(t, SA(c6)));
	/* the v4-mapped form of an IPv4 address is the same client */
	CHECK(!perip_take(t, SA(a6)));
	/* a closed connection frees its place, and only one */
	perip_give(t, SA(a));
	CHECK(perip_take(t, SA(a6)));
	CHECK(!perip_take(t, SA(a)));
	/* an entry that drops to zero is removed and can come back */
	perip_give(t, SA(b));
	CHECK(perip_take(t, SA(b)));
	CHECK(perip_take(t, SA(b)));
	CHECK(!perip_take(t, SA(b)));
	/* not an IP address: refused, and giving it back is harmless */
	CHECK(!perip_take(t, &un));
	perip_give(t, &un);
	perip_give(t, NULL);
	perip_free(t);

	/* limit 0: no limit */
	{
		int taken = 0;

		t = perip_create(0);
		for (int i = 0; i < 1000; i++)
			taken += perip_take(t, SA(a));
		CHECK(taken == 1000);
		perip_free(t);
	}
}
