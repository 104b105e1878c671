/*
 * perip.c — a counted set of client addresses (see perip.h): a chained
 * hash table under one mutex, an entry per address with connections.
 */
#include "perip.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define PERIP_BUCKETS 1024

struct entry
{
	struct entry *next;
	uint8_t addr[16];
	int count;
};

struct perip
{
	int limit;
	pthread_mutex_t lock;
	struct entry *buckets[PERIP_BUCKETS];
};

struct perip *
perip_create(int limit)
{
	struct perip *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->limit = limit;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void
perip_free(struct perip *t)
{
	if (t == NULL)
		return;
	for (int b = 0; b < PERIP_BUCKETS; b++)
		for (struct entry *e = t->buckets[b], *next; e != NULL; e = next)
		{
			next = e->next;
			free(e);
		}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* FNV-1a over the 16 bytes. */
static unsigned
bucket_of(const uint8_t addr[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h % PERIP_BUCKETS;
}

/* Called with the lock held. */
static struct entry **
find(struct perip *t, const uint8_t addr[16])
{
	struct entry **link = &t->buckets[bucket_of(addr)];

	while (*link != NULL && memcmp((*link)->addr, addr, 16) != 0)
		link = &(*link)->next;
	return link;
}

bool
perip_take(struct perip *t, const struct sockaddr *sa)
{
	struct ipaddr ip;
	struct entry **link, *e;
	bool ok = true;

	if (t->limit == 0)
		return true;
	if (!ipaddr_from_sockaddr(sa, &ip))
		return false;			/* not IP: nothing to count it under */
	pthread_mutex_lock(&t->lock);
	link = find(t, ip.bytes);
	if ((e = *link) == NULL)
	{
		e = calloc(1, sizeof(*e));
		if (e != NULL)
		{
			memcpy(e->addr, ip.bytes, 16);
			*link = e;
		}
	}
	if (e == NULL || e->count >= t->limit)
		ok = false;
	else
		e->count++;
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void
perip_give(struct perip *t, const struct sockaddr *sa)
{
	struct ipaddr ip;
	struct entry **link, *e;

	if (t->limit == 0 || sa == NULL || !ipaddr_from_sockaddr(sa, &ip))
		return;
	pthread_mutex_lock(&t->lock);
	link = find(t, ip.bytes);
	if ((e = *link) != NULL && --e->count <= 0)
	{
		*link = e->next;
		free(e);
	}
	pthread_mutex_unlock(&t->lock);
}
