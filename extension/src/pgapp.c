/*
 * pgapp.c: module entry point.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "compat.h"
#include "pgapp.h"

PG_MODULE_MAGIC;

void _PG_init(void);

void
_PG_init(void)
{
	KeysInit();
	IdentityInit();
	DispatchInit();
	TracesInit();
}

/* api.version() returns text */
PG_FUNCTION_INFO_V1(version);
Datum
version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(PGAPP_VERSION));
}
