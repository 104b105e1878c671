/*
 * traces.c: what a failed request must leave behind (SPEC §1 invariant 6).
 *
 * A failed login is counted for throttling, and a reused refresh token
 * revokes its session, although the request itself fails and its work is
 * rolled back.  Handlers queue such a trace with pgapp.trace() just before
 * raising; the queue lives in backend memory, so the rollback does not
 * touch it.  It is written:
 *
 *   - by the dispatcher, after rolling back the handler's subtransaction,
 *     in the request's transaction, which commits (HTTP);
 *   - by pgapp.traces_flush() at the start of api.login and
 *     api.refresh_token (psql callers, whose failing call aborts the whole
 *     transaction), so a session's next attempt sees its earlier failures;
 *   - when the backend exits, in a transaction of its own.
 *
 * A trace leaves the queue only once a transaction that wrote it commits:
 * written in a transaction or savepoint that then aborts, it is written
 * again later; written in a savepoint that is released, it stays written.
 * Identical traces are merged into a count, so a long run of failures
 * costs one row update per flush, not one per failure.  A transaction that
 * wrote traces cannot be prepared (PREPARE TRANSACTION): the queue could
 * not follow its later COMMIT or ROLLBACK PREPARED.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "identity.h"
#include "pgapp.h"
#include "traces.h"

/*
 * Occurrences written by one open (sub)transaction.  A trace's writes form
 * a stack, innermost (sub)transaction first: an abort drops its level, a
 * commit hands it to the parent level.
 */
typedef struct TraceWrite
{
	SubTransactionId   subid;
	int				   n;
	struct TraceWrite *outer;
} TraceWrite;

typedef struct Trace
{
	char		 *kind;
	char		 *payload; /* jsonb, as text */
	int			  count;   /* queued occurrences */
	TraceWrite	 *writes;  /* of which written by the open transaction */
	struct Trace *next;
} Trace;

/* The queue (TopMemoryContext): survives aborts, by design */
static Trace *traces;

static int
trace_written(const Trace *t)
{
	int n = 0;

	for (const TraceWrite *w = t->writes; w != NULL; w = w->outer)
		n += w->n;
	return n;
}

static void
trace_pop_write(Trace *t)
{
	TraceWrite *w = t->writes;

	t->writes = w->outer;
	pfree(w);
}

/*
 * Whether the open transaction wrote a trace.  At PREPARE TRANSACTION it
 * must not have: the queue could not know whether COMMIT PREPARED or
 * ROLLBACK PREPARED (possibly in another session) settles it, so it would
 * either lose the trace or write it twice.
 */
static bool
TracesWritten(void)
{
	for (const Trace *t = traces; t != NULL; t = t->next)
		if (t->writes != NULL)
			return true;
	return false;
}

static void
TracesXactCallback(XactEvent event, void *arg)
{
	Trace **link = &traces;

	if (event == XACT_EVENT_PRE_PREPARE && TracesWritten())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that has written the "
						"traces of failed requests"),
				 errdetail("ROLLBACK PREPARED would lose the failed logins "
						   "or refresh token revocations it recorded."),
				 errhint("Commit the transaction, or call api.login and "
						 "api.refresh_token outside a prepared "
						 "transaction.")));
	/* PREPARE itself is reached only when nothing was written */
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_PREPARE &&
		event != XACT_EVENT_ABORT)
		return;
	while (*link != NULL)
	{
		Trace *t = *link;

		if (event != XACT_EVENT_ABORT)
			t->count -= trace_written(t);
		while (t->writes != NULL)
			trace_pop_write(t);
		if (t->count > 0)
		{
			link = &t->next;
			continue;
		}
		*link = t->next;
		pfree(t->kind);
		pfree(t->payload);
		pfree(t);
	}
}

static void
TracesSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	for (Trace *t = traces; t != NULL; t = t->next)
	{
		TraceWrite *w = t->writes;

		if (w == NULL || w->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			trace_pop_write(t); /* undone: to be written again */
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			if (w->outer != NULL && w->outer->subid == parentSubid)
			{
				w->outer->n += w->n;
				trace_pop_write(t);
			}
			else
				w->subid = parentSubid;
		}
	}
}

/* Write what is still queued before the backend goes, as PostgreSQL does
 * for temporary tables (RemoveTempRelationsCallback) */
static void
TracesExitCallback(int code, Datum arg)
{
	if (traces == NULL || !OidIsValid(MyDatabaseId))
		return;
	AbortOutOfAnyTransaction();
	StartTransactionCommand();
	PG_TRY();
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		TracesApply();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();
}

void
TracesInit(void)
{
	RegisterXactCallback(TracesXactCallback, NULL);
	RegisterSubXactCallback(TracesSubXactCallback, NULL);
	before_shmem_exit(TracesExitCallback, (Datum) 0);
}

/* pgapp.trace(kind text, payload jsonb) returns void */
PG_FUNCTION_INFO_V1(trace);
Datum
trace(PG_FUNCTION_ARGS)
{
	char  *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb *payload = PG_GETARG_JSONB_P(1);
	char  *payload_text =
		JsonbToCString(NULL, &payload->root, VARSIZE(payload));
	Trace *t;

	for (t = traces; t != NULL; t = t->next)
		if (strcmp(t->kind, kind) == 0 &&
			strcmp(t->payload, payload_text) == 0)
			break;
	if (t == NULL)
	{
		t = MemoryContextAllocZero(TopMemoryContext, sizeof(Trace));
		t->kind = MemoryContextStrdup(TopMemoryContext, kind);
		t->payload = MemoryContextStrdup(TopMemoryContext, payload_text);
		t->next = traces;
		traces = t;
	}
	t->count++;
	PG_RETURN_VOID();
}

void
TracesApply(void)
{
	OwnerSpi spi;
	Oid		 argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Trace	*t;

	if (traces == NULL)
		return;

	IdentityOwnerSpiConnect(&spi);
	for (t = traces; t != NULL; t = t->next)
	{
		SubTransactionId subid = GetCurrentSubTransactionId();
		int				 pending = t->count - trace_written(t);
		Datum			 args[3];

		if (pending == 0)
			continue;
		args[0] = CStringGetTextDatum(t->kind);
		args[1] = CStringGetTextDatum(t->payload);
		args[2] = Int32GetDatum(pending);
		/* owner's rights, caller's search_path: the type is qualified */
		if (SPI_execute_with_args(
				"SELECT pgapp.trace_apply($1, $2::pg_catalog.jsonb, $3)", 3,
				argtypes, args, NULL, false, 0) < 0)
			elog(ERROR, "trace_apply failed");
		if (t->writes == NULL || t->writes->subid != subid)
		{
			TraceWrite *w =
				MemoryContextAllocZero(TopMemoryContext, sizeof(TraceWrite));

			w->subid = subid;
			w->outer = t->writes;
			t->writes = w;
		}
		t->writes->n += pending;
	}
	IdentityOwnerSpiFinish(&spi);
}

/* pgapp.traces_flush() returns void */
PG_FUNCTION_INFO_V1(traces_flush);
Datum
traces_flush(PG_FUNCTION_ARGS)
{
	TracesApply();
	PG_RETURN_VOID();
}
