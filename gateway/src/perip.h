/*
 * perip.h — connections per client address, counted across all event
 * loops (each loop has its own libmicrohttpd daemon, whose own per-IP
 * limit would count only its share).
 */
#ifndef GW_PERIP_H
#define GW_PERIP_H

#include <stdbool.h>
#include <sys/socket.h>

struct perip;

/* limit 0: no limit (perip_take always succeeds, nothing is counted). */
struct perip *perip_create(int limit);
void perip_free(struct perip *t);
/* Count a new connection from sa; false (nothing counted) at the limit. */
bool perip_take(struct perip *t, const struct sockaddr *sa);
/* The connection from sa is closed. */
void perip_give(struct perip *t, const struct sockaddr *sa);

#endif
