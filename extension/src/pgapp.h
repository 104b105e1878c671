/*
 * pgapp.h: module initialisation hooks called by _PG_init.
 */
#ifndef PGAPP_H
#define PGAPP_H

extern void KeysInit(void);
extern void IdentityInit(void);
extern void DispatchInit(void);
extern void TracesInit(void);

#endif /* PGAPP_H */
