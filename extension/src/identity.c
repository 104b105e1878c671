/*
 * identity.c: who the current request is, kept in backend memory.
 *
 * The authenticated user is set only here, by verifying a token (SPEC §1
 * invariant 4).  It lives in this backend's memory, never in a GUC, so no
 * SET or set_config can forge it.  A transaction-scoped identity is
 * cleared when the transaction ends (commit, abort, prepare) and is tied
 * to the local transaction id as a second guard; an identity taken inside
 * a subtransaction is rolled back with it.  A session-scoped identity (psql
 * callers who ask for it) is re-checked once per transaction, so a logout
 * or a deleted user takes effect at once; a transaction-scoped identity
 * taken over it lasts until the end of that transaction, and then the
 * session identity is in force again; one taken in a transaction or
 * subtransaction that rolls back is undone with it, and DISCARD ALL (the
 * reset of connection poolers) forgets it, so the next client of a pooled
 * connection never inherits it.  A transaction that took a session
 * identity cannot be prepared (PREPARE TRANSACTION): its rollback could not
 * undo it.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "errcodes.h"
#include "identity.h"
#include "jwt.h"
#include "pgapp.h"
#include "traces.h"

typedef struct IdentityState
{
	bool			   valid;
	bool			   session_scope;
	bool			   is_superuser;
	pg_uuid_t		   user_id;
	pg_uuid_t		   session_id;
	double			   expires; /* the token's exp, seconds since the epoch */
	LocalTransactionId lxid;	/* transaction scope: its transaction;
								 * session scope: the last check */
} IdentityState;

/* The identity of this backend; the only copy (see the file comment). */
static IdentityState current;

/* Identities replaced in this transaction, restored if it (or the
 * subtransaction that replaced them) aborts; newest first */
typedef struct SavedIdentity
{
	SubTransactionId	  subid;
	IdentityState		  prev;
	struct SavedIdentity *next;
} SavedIdentity;

static SavedIdentity *saved; /* in TopTransactionContext */

static SPIPlanPtr session_plan;

/*
 * Runs as the extension owner but is parsed with the caller's search_path:
 * every operator is schema-qualified, or a caller's own "=" placed ahead of
 * pg_catalog would run with the owner's privileges.
 */
static const char *session_query =
	"SELECT u.is_active, u.is_superuser "
	"  FROM pgapp.sessions s JOIN pgapp.users u "
	"    ON u.id OPERATOR(pg_catalog.=) s.user_id "
	" WHERE s.id OPERATOR(pg_catalog.=) $1 "
	"   AND s.user_id OPERATOR(pg_catalog.=) $2 "
	"   AND s.revoked_at IS NULL "
	"   AND s.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()";

static ProcessUtility_hook_type prev_process_utility;

static void
IdentityForget(void)
{
	memset(&current, 0, sizeof(current));
	saved = NULL;
}

/*
 * The identity left when the transaction-scoped ones end: current, then
 * the identities it replaced (saved, newest first), down to the first that
 * is a session identity or nobody.  The oldest saved one is the identity
 * the transaction started with, never a transaction-scoped one.
 */
static IdentityState
IdentitySessionUnder(void)
{
	const IdentityState *id = &current;
	const SavedIdentity *s = saved;
	IdentityState		 none;

	while (id->valid && !id->session_scope && s != NULL)
	{
		id = &s->prev;
		s = s->next;
	}
	if (id->valid && id->session_scope)
		return *id;
	memset(&none, 0, sizeof(none));
	return none;
}

/* Whether this transaction took a session identity that is still pending:
 * current and every saved one but the oldest were taken in it */
static bool
IdentitySessionTaken(void)
{
	const IdentityState *id = &current;
	const SavedIdentity *s;

	for (s = saved; s != NULL; s = s->next)
	{
		if (id->valid && id->session_scope)
			return true;
		id = &s->prev;
	}
	return false;
}

static void
IdentityXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			/*
			 * A prepared transaction's fate is decided later, by COMMIT
			 * PREPARED or ROLLBACK PREPARED, possibly in another session:
			 * nothing here could undo a session identity at its rollback.
			 */
			if (IdentitySessionTaken())
				ereport(
					ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that has taken a "
							"session identity"),
					 errdetail("ROLLBACK PREPARED could not undo the "
							   "identity taken by api.authenticate with "
							   "session => true."),
					 errhint("Take the session identity outside the "
							 "prepared transaction.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* back to the identity the transaction started with */
			while (saved != NULL)
			{
				current = saved->prev;
				saved = saved->next;
			}
			if (!current.session_scope)
				memset(&current, 0, sizeof(current));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* transaction identities end; a session identity under them
			 * (taken before or in this transaction) is in force again */
			current = IdentitySessionUnder();
			saved = NULL;
			break;
		default:
			break;
	}
}

static void
IdentitySubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	SavedIdentity *s;

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			while (saved != NULL && saved->subid == mySubid)
			{
				current = saved->prev;
				saved = saved->next;
			}
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			for (s = saved; s != NULL; s = s->next)
				if (s->subid == mySubid)
					s->subid = parentSubid;
			break;
		default:
			break;
	}
}

/*
 * DISCARD ALL resets a session for its next user (connection poolers run
 * it between clients): a session identity goes with it, before the
 * statement runs, so that it is gone even if the statement fails.
 */
static void
IdentityProcessUtility(PGAPP_PROCESS_UTILITY_ARGS)
{
	Node *stmt = pstmt->utilityStmt;

	if (IsA(stmt, DiscardStmt) &&
		((DiscardStmt *) stmt)->target == DISCARD_ALL)
		IdentityForget();
	if (prev_process_utility)
		prev_process_utility(PGAPP_PROCESS_UTILITY_PASS);
	else
		standard_ProcessUtility(PGAPP_PROCESS_UTILITY_PASS);
}

void
IdentityInit(void)
{
	RegisterXactCallback(IdentityXactCallback, NULL);
	RegisterSubXactCallback(IdentitySubXactCallback, NULL);
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = IdentityProcessUtility;
}

Oid
IdentityOwnerOid(void)
{
	return get_role_oid("pgapp_owner", false);
}

void
IdentityOwnerSpiConnect(OwnerSpi *spi)
{
	GetUserIdAndSecContext(&spi->save_userid, &spi->save_sec);
	SetUserIdAndSecContext(IdentityOwnerOid(),
						   spi->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
IdentityOwnerSpiFinish(OwnerSpi *spi)
{
	SPI_finish();
	SetUserIdAndSecContext(spi->save_userid, spi->save_sec);
}

/* A well-formed token whose session is gone: refused like a bad token */
static void
IdentityRefuse(void)
{
	ereport(ERROR, (errcode(ERRCODE_PGAPP_TOKEN_REVOKED),
					errmsg("token is no longer valid"),
					errdetail("The session is revoked or expired, or the user "
							  "no longer exists.")));
}

static bool
IdentityLooksLikeUuid(const char *s, int len)
{
	int i;

	if (len != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

/* A string claim that must hold a uuid; refuses the token otherwise */
static pg_uuid_t
IdentityUuidClaim(Jsonb *claims, const char *key)
{
	JsonbValue *v;
	char	   *s;
	pg_uuid_t  *u;

	v = getKeyJsonValueFromContainer(&claims->root, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvString ||
		!IdentityLooksLikeUuid(v->val.string.val, v->val.string.len))
		ereport(
			ERROR,
			(errcode(ERRCODE_PGAPP_JWT_CLAIMS), errmsg("invalid token claims"),
			 errdetail("The token's \"%s\" claim is missing or not a uuid.",
					   key)));
	s = pnstrdup(v->val.string.val, v->val.string.len);
	u = DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
	return *u;
}

static double
IdentityNumericClaim(Jsonb *claims, const char *key)
{
	JsonbValue *v;

	v = getKeyJsonValueFromContainer(&claims->root, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvNumeric)
		return 0;
	return DatumGetFloat8(
		DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/*
 * Check the session behind an identity, as the extension owner (the
 * caller cannot read sessions).  Fills is_superuser; raises when the
 * session is gone or the user is inactive.
 */
static void
IdentityCheckSession(IdentityState *id)
{
	OwnerSpi spi;
	Datum	 args[2];
	Oid		 argtypes[2] = {UUIDOID, UUIDOID};
	bool	 found = false;
	bool	 active = false;
	bool	 isnull;

	if ((double) time(NULL) >= id->expires)
		IdentityRefuse();

	IdentityOwnerSpiConnect(&spi);
	if (session_plan == NULL)
	{
		SPIPlanPtr plan = SPI_prepare(session_query, 2, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		session_plan = plan;
	}
	args[0] = UUIDPGetDatum(&id->session_id);
	args[1] = UUIDPGetDatum(&id->user_id);
	if (SPI_execute_plan(session_plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "session check failed");
	if (SPI_processed == 1)
	{
		found = true;
		active = DatumGetBool(SPI_getbinval(
			SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		id->is_superuser = DatumGetBool(SPI_getbinval(
			SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	IdentityOwnerSpiFinish(&spi);

	if (!found)
		IdentityRefuse();
	if (!active)
		ereport(ERROR, (errcode(ERRCODE_PGAPP_400), errmsg("Inactive user")));
}

void
IdentityAuthenticate(const char *token, size_t len, bool session)
{
	Jsonb		  *claims;
	IdentityState  id;
	SavedIdentity *s;

	memset(&id, 0, sizeof(id));
	claims = JwtVerify(token, len);
	id.user_id = IdentityUuidClaim(claims, "sub");
	id.session_id = IdentityUuidClaim(claims, "sid");
	id.expires = IdentityNumericClaim(claims, "exp");
	IdentityCheckSession(&id);

	id.valid = true;
	id.session_scope = session;
	id.lxid = PgappCurrentLxid();

	/* whatever it replaces comes back if this (sub)transaction aborts */
	s = MemoryContextAlloc(TopTransactionContext, sizeof(SavedIdentity));
	s->subid = GetCurrentSubTransactionId();
	s->prev = current;
	s->next = saved;
	saved = s;
	current = id;
}

bool
IdentityCurrent(pg_uuid_t *user_id)
{
	if (!current.valid)
		return false;
	if (current.lxid != PgappCurrentLxid())
	{
		if (!current.session_scope)
			return false; /* a stale transaction identity: the guard */
		/* a session identity: check it once per transaction */
		PG_TRY();
		{
			IdentityCheckSession(&current);
		}
		PG_CATCH();
		{
			memset(&current, 0, sizeof(current));
			PG_RE_THROW();
		}
		PG_END_TRY();
		current.lxid = PgappCurrentLxid();
	}
	if (user_id)
		*user_id = current.user_id;
	return true;
}

bool
IdentityIsSuperuser(void)
{
	return IdentityCurrent(NULL) && current.is_superuser;
}

/* api.authenticate(token text, session boolean default false) returns uuid */
PG_FUNCTION_INFO_V1(authenticate);
Datum
authenticate(PG_FUNCTION_ARGS)
{
	text	  *token = PG_GETARG_TEXT_PP(0);
	bool	   session = PG_GETARG_BOOL(1);
	pg_uuid_t *result;

	/*
	 * Membership, not privileges: a superuser has every role's privileges
	 * but is not the gateway (which refuses to run as one), and a DBA in psql
	 * may take a session identity; a NOINHERIT member of pgapp_gateway is
	 * refused as well.
	 */
	if (session && is_member_of_role_nosuper(
					   GetUserId(), get_role_oid("pgapp_gateway", false)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the gateway role cannot take a session identity"),
				 errdetail("Pooled connections must not carry an identity "
						   "from one request to the next.")));

	/* a revocation left by this session's failed call must hold now */
	TracesApply();
	IdentityAuthenticate(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
						 session);
	result = palloc(sizeof(pg_uuid_t));
	*result = current.user_id;
	PG_RETURN_UUID_P(result);
}

/* api.current_user_id() returns uuid */
PG_FUNCTION_INFO_V1(current_user_id);
Datum
current_user_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t *result = palloc(sizeof(pg_uuid_t));

	if (!IdentityCurrent(result))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(result);
}

/* pgapp.current_user_is_superuser() returns boolean */
PG_FUNCTION_INFO_V1(current_user_is_superuser);
Datum
current_user_is_superuser(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(IdentityIsSuperuser());
}

/* pgapp.current_session_id() returns uuid */
PG_FUNCTION_INFO_V1(current_session_id);
Datum
current_session_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t *result;

	if (!IdentityCurrent(NULL))
		PG_RETURN_NULL();
	result = palloc(sizeof(pg_uuid_t));
	*result = current.session_id;
	PG_RETURN_UUID_P(result);
}

/* pgapp.logout_identity() returns void: forget a session identity */
PG_FUNCTION_INFO_V1(logout_identity);
Datum
logout_identity(PG_FUNCTION_ARGS)
{
	IdentityForget();
	PG_RETURN_VOID();
}
