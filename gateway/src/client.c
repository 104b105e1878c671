/*
 * client.c — addresses, CIDR matching and the X-Forwarded-For walk.
 */
#include "client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0,	   0,
											 0, 0, 0, 0, 0xff, 0xff};

static void
ipaddr_set_v4(struct ipaddr *out, const void *four)
{
	memcpy(out->bytes, v4_mapped_prefix, 12);
	memcpy(out->bytes + 12, four, 4);
	out->is_v4 = true;
}

static void
ipaddr_set_v6(struct ipaddr *out, const void *sixteen)
{
	memcpy(out->bytes, sixteen, 16);
	/* a v4-mapped v6 address is the v4 client behind a dual-stack socket */
	out->is_v4 = memcmp(out->bytes, v4_mapped_prefix, 12) == 0;
}

bool
ipaddr_parse(const char *text, struct ipaddr *out)
{
	unsigned char buf[16];

	if (text == NULL || strlen(text) >= CLIENT_ADDR_LEN)
		return false;
	if (inet_pton(AF_INET, text, buf) == 1)
	{
		ipaddr_set_v4(out, buf);
		return true;
	}
	if (inet_pton(AF_INET6, text, buf) == 1)
	{
		ipaddr_set_v6(out, buf);
		return true;
	}
	return false;
}

void
ipaddr_format(const struct ipaddr *a, char *buf, size_t n)
{
	if (a->is_v4)
		inet_ntop(AF_INET, a->bytes + 12, buf, (socklen_t) n);
	else
		inet_ntop(AF_INET6, a->bytes, buf, (socklen_t) n);
}

bool
ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		ipaddr_set_v4(out, &in->sin_addr);
		return true;
	}
	if (sa->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

		ipaddr_set_v6(out, &in6->sin6_addr);
		return true;
	}
	return false;
}

bool
cidr_parse(const char *text, struct cidr *out)
{
	char		addr[CLIENT_ADDR_LEN];
	const char *slash = strchr(text, '/');
	size_t		len = slash ? (size_t) (slash - text) : strlen(text);
	int			prefix;

	if (len == 0 || len >= sizeof(addr))
		return false;
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (!ipaddr_parse(addr, &out->net))
		return false;
	if (slash == NULL)
		prefix = out->net.is_v4 ? 32 : 128;
	else
	{
		const char *p = slash + 1;
		char	   *end;
		long		v;

		if (!isdigit((unsigned char) *p) || strlen(p) > 3)
			return false;
		v = strtol(p, &end, 10);
		if (*end != '\0' || v > (out->net.is_v4 ? 32 : 128))
			return false;
		prefix = (int) v;
	}
	out->prefix = out->net.is_v4 ? prefix + 96 : prefix;
	/* clear host bits so that 10.1.2.3/8 means 10.0.0.0/8 */
	for (int bit = out->prefix; bit < 128; bit++)
		out->net.bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return true;
}

bool
cidr_contains(const struct cidr *net, const struct ipaddr *a)
{
	int full = net->prefix / 8, rest = net->prefix % 8;

	if (memcmp(net->net.bytes, a->bytes, (size_t) full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net->net.bytes[full] ^ a->bytes[full]) &
			(uint8_t) (0xff00u >> rest)) == 0;
}

/* Trim spaces and tabs in place; returns the start. */
static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

int
cidr_list_parse(const char *text, struct cidr **out, char *err, size_t errlen)
{
	char		*copy, *save = NULL, *tok;
	int			 n = 0, cap = 0;
	struct cidr *list = NULL;

	*out = NULL;
	if (text == NULL)
		return 0;
	copy = strdup(text);
	if (copy == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
		 tok = strtok_r(NULL, ",", &save))
	{
		char *item = trim(tok);

		if (*item == '\0')
			continue;
		if (n == cap)
		{
			struct cidr *grown;

			cap = cap ? cap * 2 : 8;
			grown = realloc(list, (size_t) cap * sizeof(*list));
			if (grown == NULL)
			{
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			list = grown;
		}
		if (!cidr_parse(item, &list[n]))
		{
			snprintf(err, errlen, "not an IP address or CIDR: \"%.64s\"",
					 item);
			goto fail;
		}
		n++;
	}
	free(copy);
	*out = list;
	return n;
fail:
	free(copy);
	free(list);
	return -1;
}

bool
cidr_list_contains(const struct cidr *list, int n, const struct ipaddr *a)
{
	for (int i = 0; i < n; i++)
		if (cidr_contains(&list[i], a))
			return true;
	return false;
}

void
client_resolve(const struct ipaddr *peer, const char *xff,
			   const struct cidr *trusted, int ntrusted, char *out, size_t n)
{
	struct ipaddr chosen = *peer, hop;
	char		 *copy, *end;

	if (xff == NULL || ntrusted == 0 ||
		!cidr_list_contains(trusted, ntrusted, peer))
	{
		ipaddr_format(peer, out, n);
		return;
	}
	copy = strdup(xff);
	if (copy == NULL)
	{
		ipaddr_format(peer, out, n);
		return;
	}
	end = copy + strlen(copy);
	for (;;)
	{
		char *start = end, *item;

		while (start > copy && start[-1] != ',')
			start--;
		*end = '\0';
		item = trim(start);
		if (*item != '\0')
		{
			if (!ipaddr_parse(item, &hop))
				break;
			chosen = hop;
			if (!cidr_list_contains(trusted, ntrusted, &hop))
				break;
		}
		if (start == copy)
			break;
		end = start - 1;
	}
	free(copy);
	ipaddr_format(&chosen, out, n);
}
