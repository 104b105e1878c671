/*
 * keys.c: the per-backend cache of the signing keyring.
 *
 * Staleness: a statement-level trigger on pgapp.signing_keys (any INSERT,
 * UPDATE, DELETE or TRUNCATE) calls pgapp.relcache_invalidate() (dispatch.c),
 * which queues a relcache invalidation of the table.  It reaches this backend
 * at the next command (same transaction) and every other backend at their next
 * transaction start; our relcache callback then wipes the cached secrets
 * and bumps a counter, and the next lookup reloads.  A reload that raced
 * with an invalidation is used once and reloaded at the next lookup.
 *
 * Snapshots: the load runs SPI in non-read-only mode, which takes a fresh
 * snapshot after locking the table, so in READ COMMITTED it sees every
 * change whose invalidation we have processed.  Under REPEATABLE READ or
 * SERIALIZABLE the transaction snapshot may predate such a change, so a
 * cache loaded there is trusted for that transaction only.
 *
 * Privileges: the keyring is readable by its owner only, while the
 * verifier runs as whoever calls it (the gateway's role, a psql caller),
 * so the load switches to the table owner for the one query, the way
 * PostgreSQL's RI triggers do (SECURITY_RESTRICTED_OPERATION).
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "keys.h"
#include "pgapp.h"

#define KEYS_LOAD_QUERY                                      \
	"SELECT kid, algorithm, secret, created_at, retired_at " \
	"FROM pgapp.signing_keys"

/*
 * The cache.  Global because it is per backend by nature; only this file
 * touches it.
 */
static MemoryContext KeysContext = NULL; /* holds entries and secrets */
static KeysEntry	*KeysEntries = NULL;
static int			 KeysCount = 0;
static bool			 KeysLoaded = false;
static Oid	  KeysRelid = InvalidOid; /* pgapp.signing_keys, once known */
static uint64 KeysInvalCounter = 0;	  /* bumped by each invalidation */
static uint64 KeysLoadedCounter = 0;  /* KeysInvalCounter at last load */
static LocalTransactionId KeysLoadedLxid = InvalidLocalTransactionId;

static const char *const JwtAlgNames[] = {"HS256", "HS384", "HS512"};

bool
JwtAlgFromName(const char *name, size_t len, JwtAlg *alg)
{
	int i;

	for (i = 0; i < lengthof(JwtAlgNames); i++)
	{
		if (len == strlen(JwtAlgNames[i]) &&
			memcmp(name, JwtAlgNames[i], len) == 0)
		{
			*alg = (JwtAlg) i;
			return true;
		}
	}
	return false;
}

const char *
JwtAlgName(JwtAlg alg)
{
	Assert(alg >= 0 && alg < lengthof(JwtAlgNames));
	return JwtAlgNames[alg];
}

/* Overwrite the secrets of entries[0..count) before their memory is freed. */
static void
KeysWipe(KeysEntry *entries, int count)
{
	int i;

	for (i = 0; i < count; i++)
	{
		if (entries[i].secret != NULL)
			explicit_bzero(entries[i].secret, entries[i].secret_len);
	}
}

/* Overwrite the contents of a varlena (in line, possibly compressed), not
 * its header */
static void
KeysWipeVarlena(struct varlena *v)
{
	if (VARATT_IS_EXTERNAL(v))
		return; /* a TOAST pointer: nothing secret in it */
	if (VARATT_IS_SHORT(v))
		explicit_bzero(VARDATA_SHORT(v), VARSIZE_SHORT(v) - VARHDRSZ_SHORT);
	else
		explicit_bzero(VARDATA(v), VARSIZE(v) - VARHDRSZ);
}

/* Drop the cache, wiping its secrets. */
static void
KeysDiscard(void)
{
	if (KeysContext != NULL)
	{
		KeysWipe(KeysEntries, KeysCount);
		MemoryContextDelete(KeysContext);
		KeysContext = NULL;
	}
	KeysEntries = NULL;
	KeysCount = 0;
	KeysLoaded = false;
}

/*
 * Relcache invalidation callback.  InvalidOid means "everything" (for
 * example after a sinval queue overflow).  Wiping here is safe: no caller
 * holds a KeysEntry across invalidation processing (see keys.h), and a
 * load in progress fills its own context, not KeysContext.
 */
static void
KeysRelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == KeysRelid)
	{
		KeysInvalCounter++;
		KeysDiscard();
	}
}

static Oid
KeysRelationOwner(Oid relid)
{
	HeapTuple tuple;
	Oid		  owner;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* Copy one SPI row into entry (allocated in cxt); false to skip the row. */
static bool
KeysFromRow(HeapTuple row, TupleDesc desc, MemoryContext cxt, TimestampTz now,
			KeysEntry *entry)
{
	bool			isnull;
	Datum			d;
	text		   *alg_text;
	struct varlena *raw;
	struct varlena *fetched;
	bytea		   *secret;
	char		   *kid;

	d = SPI_getbinval(row, desc, 5, &isnull);
	entry->retired = !isnull;
	entry->retired_at = isnull ? 0 : DatumGetTimestampTz(d);
	/* keys retired for good are never needed again: do not keep them */
	if (entry->retired && entry->retired_at <= now)
		return false;

	d = SPI_getbinval(row, desc, 1, &isnull);
	if (isnull)
		return false;
	kid = TextDatumGetCString(d);
	entry->kid = MemoryContextStrdup(cxt, kid);
	entry->kid_len = strlen(kid);

	d = SPI_getbinval(row, desc, 2, &isnull);
	if (isnull)
		return false;
	alg_text = DatumGetTextPP(d);
	if (!JwtAlgFromName(VARDATA_ANY(alg_text), VARSIZE_ANY_EXHDR(alg_text),
						&entry->alg))
		return false; /* the table's CHECK makes this impossible */

	d = SPI_getbinval(row, desc, 4, &isnull);
	entry->created_at = isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);

	d = SPI_getbinval(row, desc, 3, &isnull);
	if (isnull)
		return false;
	/*
	 * Every copy of the secret made here dies at SPI_finish: none is left
	 * readable.  Stored in line, it is in SPI's copy of the row, compressed
	 * or not; stored out of line (TOAST), the fetch makes one more copy,
	 * compressed or not, before it is decompressed.  The TOAST table's own
	 * pages are the table's, not ours.
	 */
	raw = (struct varlena *) DatumGetPointer(d);
	fetched = VARATT_IS_EXTERNAL(raw) ? detoast_external_attr(raw) : raw;
	secret = (bytea *) pg_detoast_datum_packed(fetched);
	entry->secret_len = VARSIZE_ANY_EXHDR(secret);
	entry->secret = MemoryContextAlloc(cxt, Max(entry->secret_len, 1));
	memcpy(entry->secret, VARDATA_ANY(secret), entry->secret_len);
	explicit_bzero(VARDATA_ANY(secret), entry->secret_len);
	if ((struct varlena *) secret != fetched)
		KeysWipeVarlena(fetched); /* compressed */
	if (fetched != raw)
		pfree(fetched); /* wiped above, as secret or compressed */
	return true;
}

static void
KeysLoad(void)
{
	uint64		  counter = KeysInvalCounter;
	TimestampTz	  now = GetCurrentStatementStartTimestamp();
	Oid			  nsp;
	Oid			  relid;
	Oid			  owner;
	Oid			  save_userid;
	int			  save_sec_context;
	MemoryContext cxt;
	KeysEntry *volatile entries = NULL;
	volatile int count = 0;

	nsp = get_namespace_oid("pgapp", true);
	relid =
		OidIsValid(nsp) ? get_relname_relid("signing_keys", nsp) : InvalidOid;
	if (!OidIsValid(relid))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("pgapp keyring not found"),
			 errhint("Is the extension pgapp installed in this database?")));
	KeysRelid = relid;
	owner = KeysRelationOwner(relid);

	cxt = AllocSetContextCreate(TopMemoryContext, "pgapp keyring",
								ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		uint64 i;
		int	   ret;

		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(owner, save_sec_context |
										  SECURITY_LOCAL_USERID_CHANGE |
										  SECURITY_RESTRICTED_OPERATION);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ret = SPI_execute(KEYS_LOAD_QUERY, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));

		entries = MemoryContextAllocZero(cxt, sizeof(KeysEntry) *
												  Max(SPI_processed, 1));
		for (i = 0; i < SPI_processed; i++)
		{
			if (KeysFromRow(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, cxt,
							now, &entries[count]))
				count++;
		}
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_CATCH();
	{
		/* user id and SPI are restored by the (sub)transaction abort */
		if (entries != NULL)
			KeysWipe(entries, count);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	KeysDiscard();
	KeysContext = cxt;
	KeysEntries = entries;
	KeysCount = count;
	KeysLoaded = true;
	KeysLoadedCounter = counter;
	KeysLoadedLxid = IsolationUsesXactSnapshot() ? PgappCurrentLxid()
												 : InvalidLocalTransactionId;
}

static void
KeysEnsureLoaded(void)
{
	if (KeysLoaded && KeysLoadedCounter == KeysInvalCounter &&
		(KeysLoadedLxid == InvalidLocalTransactionId ||
		 KeysLoadedLxid == PgappCurrentLxid()))
		return;
	KeysLoad();
}

const KeysEntry *
KeysLookup(const char *kid, size_t kid_len, TimestampTz now)
{
	int i;

	KeysEnsureLoaded();
	for (i = 0; i < KeysCount; i++)
	{
		const KeysEntry *e = &KeysEntries[i];

		if (e->kid_len != kid_len || memcmp(e->kid, kid, kid_len) != 0)
			continue;
		if (e->retired && e->retired_at <= now)
			return NULL;
		return e;
	}
	return NULL;
}

const KeysEntry *
KeysSigningKey(void)
{
	const KeysEntry *best = NULL;
	int				 i;

	KeysEnsureLoaded();
	for (i = 0; i < KeysCount; i++)
	{
		const KeysEntry *e = &KeysEntries[i];

		if (e->retired)
			continue;
		if (best == NULL || e->created_at > best->created_at ||
			(e->created_at == best->created_at &&
			 strcmp(e->kid, best->kid) > 0))
			best = e;
	}
	return best;
}

void
KeysInit(void)
{
	CacheRegisterRelcacheCallback(KeysRelcacheCallback, (Datum) 0);
}
