/*
 * traces.h: traces that outlive the failed request that left them.
 */
#ifndef PGAPP_TRACES_H
#define PGAPP_TRACES_H

/* Write the queued traces in the current transaction (traces.c) */
extern void TracesApply(void);

#endif /* PGAPP_TRACES_H */
