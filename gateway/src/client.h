/*
 * client.h — who the client is: trusted-proxy networks (CIDR, v4 and v6)
 * and the X-Forwarded-For walk.  Pure functions, no I/O.
 */
#ifndef GW_CLIENT_H
#define GW_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define CLIENT_ADDR_LEN 64 /* > INET6_ADDRSTRLEN */

/* An address, always stored as 16 bytes (IPv4 as v4-mapped IPv6). */
struct ipaddr
{
	uint8_t bytes[16];
	bool	is_v4;
};

struct cidr
{
	struct ipaddr net;
	int			  prefix; /* in bits of the 128-bit form */
};

bool ipaddr_parse(const char *text, struct ipaddr *out);
void ipaddr_format(const struct ipaddr *a, char *buf, size_t n);
bool ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out);

/* "10.0.0.0/8", "::1", "fd00::/8"; false on bad syntax or prefix. */
bool cidr_parse(const char *text, struct cidr *out);
bool cidr_contains(const struct cidr *net, const struct ipaddr *a);

/*
 * Parse a comma-separated list of CIDRs.  Returns the count, or -1 with a
 * message in err.  *out is malloc'd (NULL when empty).
 */
int	 cidr_list_parse(const char *text, struct cidr **out, char *err,
					 size_t errlen);
bool cidr_list_contains(const struct cidr *list, int n,
						const struct ipaddr *a);

/*
 * The client address as text.  When the socket peer is a trusted proxy,
 * walk X-Forwarded-For (xff, may be NULL; several headers joined with
 * ",") from the right and take the first hop that is not itself trusted;
 * an unparsable hop ends the walk at the last trusted one.  A client can
 * only ever prepend, so it cannot choose its own address.
 */
void client_resolve(const struct ipaddr *peer, const char *xff,
					const struct cidr *trusted, int ntrusted, char *out,
					size_t n);

#endif
