/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the store on embedded SQLite: state_directory/popgate.db
 * in WAL mode (synchronous=NORMAL: a power cut may lose the last
 * transactions, never the file's consistency; a lost record is learned
 * again). It runs on the store thread (store_thread.c), which owns the
 * one connection: each request is one transaction.
 *
 * The schema carries its version in PRAGMA user_version. Opening moves an
 * older database forward, one migration a step, each in its transaction;
 * a newer one is refused (STORE_SCHEMA): this popgate cannot know what a
 * later one keeps there.
 *
 * Generations: a mailbox's live records are those of its generation
 * `gen`. A replace writes the new records under a fresh generation
 * (`staging`), where readers do not look, and its commit deletes the old
 * generation and makes the new one live in one transaction. Rows of a
 * replace that never finished (a crash, a cancel) are deleted by the next
 * replace of the mailbox, or by its forget.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define SQ_SCHEMA_VERSION	1
#define SQ_BUSY_STEP_MS		5

/* Forward migrations: sq_migrations[v] takes a database from version v
 * to v + 1. Version 0 is a new, empty database. */
static const char *const sq_migrations[SQ_SCHEMA_VERSION] = {
	/* 0 -> 1 */
	"CREATE TABLE mailbox ("
	" id INTEGER PRIMARY KEY,"
	" upstream TEXT NOT NULL, identity TEXT NOT NULL, name TEXT NOT NULL,"
	" uidvalidity INTEGER NOT NULL,"	/* 0: none yet */
	" gen INTEGER NOT NULL,"		/* the live generation */
	" staging INTEGER NOT NULL,"		/* a replace's, or 0 */
	" next_gen INTEGER NOT NULL,"
	" UNIQUE (upstream, identity, name));"
	"CREATE TABLE message ("
	" mailbox INTEGER NOT NULL, gen INTEGER NOT NULL,"
	" uid INTEGER NOT NULL, size INTEGER NOT NULL,"
	" ends_eol INTEGER NOT NULL, fingerprint BLOB NOT NULL,"
	" uidl TEXT NOT NULL,"
	" PRIMARY KEY (mailbox, gen, uid)) WITHOUT ROWID;"
	"CREATE INDEX message_fingerprint ON message"
	" (mailbox, gen, fingerprint, uid);",
};

enum sq_stmt {
	SQ_MB_GET,
	SQ_MB_NEW,
	SQ_MB_SET,
	SQ_MB_DEL,
	SQ_MSG_COUNT,
	SQ_MSG_PUT,
	SQ_MSG_DEL,
	SQ_MSG_DEL_GEN,
	SQ_MSG_DEL_OTHERS,
	SQ_MSG_DEL_ALL,
	SQ_READ_UID,
	SQ_READ_FP,
	SQ_NSTMT
};

static const char *const sq_sql[SQ_NSTMT] = {
	[SQ_MB_GET] = "SELECT id, uidvalidity, gen, staging, next_gen"
	    " FROM mailbox WHERE upstream = ?1 AND identity = ?2 AND name = ?3",
	[SQ_MB_NEW] = "INSERT INTO mailbox (upstream, identity, name,"
	    " uidvalidity, gen, staging, next_gen)"
	    " VALUES (?1, ?2, ?3, ?4, 1, 0, 2)",
	[SQ_MB_SET] = "UPDATE mailbox SET uidvalidity = ?2, gen = ?3,"
	    " staging = ?4, next_gen = ?5 WHERE id = ?1",
	[SQ_MB_DEL] = "DELETE FROM mailbox WHERE id = ?1",
	[SQ_MSG_COUNT] = "SELECT count(*) FROM message"
	    " WHERE mailbox = ?1 AND gen = ?2",
	[SQ_MSG_PUT] = "INSERT OR REPLACE INTO message (mailbox, gen, uid,"
	    " size, ends_eol, fingerprint, uidl)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQ_MSG_DEL] = "DELETE FROM message"
	    " WHERE mailbox = ?1 AND gen = ?2 AND uid = ?3",
	[SQ_MSG_DEL_GEN] = "DELETE FROM message WHERE mailbox = ?1 AND gen = ?2",
	[SQ_MSG_DEL_OTHERS] = "DELETE FROM message"
	    " WHERE mailbox = ?1 AND gen <> ?2",
	[SQ_MSG_DEL_ALL] = "DELETE FROM message WHERE mailbox = ?1",
	[SQ_READ_UID] = "SELECT uid, size, ends_eol, fingerprint, uidl"
	    " FROM message WHERE mailbox = ?1 AND gen = ?2 AND uid > ?3"
	    " ORDER BY uid LIMIT ?4",
	[SQ_READ_FP] = "SELECT uid, size, ends_eol, fingerprint, uidl"
	    " FROM message WHERE mailbox = ?1 AND gen = ?2"
	    " AND (fingerprint, uid) > (?3, ?5)"
	    " ORDER BY fingerprint, uid LIMIT ?4",
};

/* The store thread's own. */
struct sq_engine {
	struct store		*store;
	const bool		*stopping;	/* store_thread.c's */
	sqlite3			*db;
	sqlite3_stmt		*stmt[SQ_NSTMT];
	enum store_result	 open_result;
	char			 open_detail[STORE_MAX_DETAIL];
	uint64_t		 open_tried_ms;
	bool			 failed;	/* a step failed: roll back */
	int			 errcode;	/* the first failure's */
	char			 path[4096 + 16];
};

/* A mailbox row. */
struct sq_mailbox {
	int64_t		id;
	uint32_t	uidvalidity;
	int64_t		gen;
	int64_t		staging;
	int64_t		next_gen;
};

static uint64_t
sq_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the database, on the thread ---- */

/* Waits for another process's lock in short sleeps, so that a store
 * being closed stops waiting at once. */
static int
sq_busy(void *arg, int count)
{
	struct sq_engine	*e = arg;
	struct timespec		 ts = { 0, SQ_BUSY_STEP_MS * 1000000L };

	if (__atomic_load_n(e->stopping, __ATOMIC_ACQUIRE) ||
	    (unsigned int)count * SQ_BUSY_STEP_MS >= e->store->busy_timeout_ms)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

static void
sq_close_db(struct sq_engine *e)
{
	int	i;

	for (i = 0; i < SQ_NSTMT; i++) {
		sqlite3_finalize(e->stmt[i]);
		e->stmt[i] = NULL;
	}
	sqlite3_close(e->db);
	e->db = NULL;
}

static int
sq_exec(struct sq_engine *e, const char *sql)
{
	if (sqlite3_exec(e->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(e->open_detail, sizeof(e->open_detail), "popgate.db: %s", sqlite3_errmsg(e->db));
	return -1;
}

static int
sq_user_version(struct sq_engine *e, int *v)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(e->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return *v < 0 ? -1 : 0;
}

/* Moves the schema from version v to the current one, a step at a time. */
static enum store_result
sq_migrate(struct sq_engine *e)
{
	char	sql[64];
	int	v;

	if (sq_user_version(e, &v) != 0) {
		snprintf(e->open_detail, sizeof(e->open_detail),
		    "popgate.db: cannot read the schema version: %s", sqlite3_errmsg(e->db));
		return STORE_FAILED;
	}
	if (v > SQ_SCHEMA_VERSION) {
		snprintf(e->open_detail, sizeof(e->open_detail),
		    "popgate.db: schema version %d is newer than this"
		    " popgate's %d", v, SQ_SCHEMA_VERSION);
		return STORE_SCHEMA;
	}
	for (; v < SQ_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sq_exec(e, "BEGIN IMMEDIATE") != 0)
			return STORE_FAILED;
		if (sq_exec(e, sq_migrations[v]) != 0 || sq_exec(e, sql) != 0 ||
		    sq_exec(e, "COMMIT") != 0) {
			sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
			return STORE_FAILED;
		}
	}
	return STORE_OK;
}

static enum store_result
sq_open_db(struct sq_engine *e)
{
	enum store_result	r;
	int			i;

	if (sqlite3_open_v2(e->path, &e->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(e->open_detail, sizeof(e->open_detail),
		    "popgate.db: cannot open: %s", e->db != NULL ?
		    sqlite3_errmsg(e->db) : "out of memory");
		return STORE_FAILED;
	}
	/* A file SQLite could open for reading only: every write would
	 * fail later, one session at a time. Refuse it here, once. */
	if (sqlite3_db_readonly(e->db, "main") != 0) {
		snprintf(e->open_detail, sizeof(e->open_detail),
		    "popgate.db: read-only");
		return STORE_FAILED;
	}
	sqlite3_busy_handler(e->db, sq_busy, e);
	if ((r = sq_migrate(e)) != STORE_OK)
		return r;
	if (sq_exec(e, "PRAGMA journal_mode = WAL") != 0 ||
	    sq_exec(e, "PRAGMA synchronous = NORMAL") != 0)
		return STORE_FAILED;
	for (i = 0; i < SQ_NSTMT; i++)
		if (sqlite3_prepare_v3(e->db, sq_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &e->stmt[i], NULL) != SQLITE_OK) {
			snprintf(e->open_detail, sizeof(e->open_detail),
			    "popgate.db: %s", sqlite3_errmsg(e->db));
			return STORE_FAILED;
		}
	return STORE_OK;
}

/* true if the database is open; tries to open it when it is not and the
 * last try is old enough. */
static bool
sq_ready(struct sq_engine *e, struct store_req *req)
{
	uint64_t	now;

	if (e->db != NULL && e->open_result == STORE_OK)
		return true;
	now = sq_now_ms();
	if (e->open_tried_ms == 0 ||
	    now - e->open_tried_ms >= STORE_REOPEN_INTERVAL_MS) {
		e->open_tried_ms = now;
		e->open_detail[0] = '\0';
		e->open_result = sq_open_db(e);
		if (e->open_result != STORE_OK && e->db != NULL)
			sq_close_db(e);
	}
	if (e->open_result == STORE_OK)
		return true;
	req->result = e->open_result;
	snprintf(req->detail, sizeof(req->detail), "%s", e->open_detail);
	return false;
}

/* A reset statement, bound to nothing yet. */
static sqlite3_stmt *
sq_stmt(struct sq_engine *e, enum sq_stmt i)
{
	sqlite3_reset(e->stmt[i]);
	sqlite3_clear_bindings(e->stmt[i]);
	return e->stmt[i];
}

/* One step; SQLITE_ROW or SQLITE_DONE, or the failure noted in req. */
static int
sq_step(struct sq_engine *e, struct store_req *req, sqlite3_stmt *st)
{
	int	rc = sqlite3_step(st);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	if (!e->failed)
		snprintf(req->detail, sizeof(req->detail), "popgate.db: %s", sqlite3_errmsg(e->db));
	e->failed = true;
	sqlite3_reset(st);
	return rc;
}

/* Runs a statement to its end; -1 if it failed. */
static int
sq_run_stmt(struct sq_engine *e, struct store_req *req, sqlite3_stmt *st)
{
	return sq_step(e, req, st) == SQLITE_DONE ? 0 : -1;
}

static int
sq_txn(struct sq_engine *e, struct store_req *req, const char *sql)
{
	if (sqlite3_exec(e->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	if (!e->failed)
		snprintf(req->detail, sizeof(req->detail), "popgate.db: %s", sqlite3_errmsg(e->db));
	e->failed = true;
	return -1;
}

static void
sq_bind_key(sqlite3_stmt *st, const struct store_req *req)
{
	sqlite3_bind_text(st, 1, req->upstream, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, req->identity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, req->mailbox, -1, SQLITE_STATIC);
}

/* The mailbox of req: 1 found, 0 none, -1 failed. */
static int
sq_mailbox(struct sq_engine *e, struct store_req *req, struct sq_mailbox *mb)
{
	sqlite3_stmt	*st = sq_stmt(e, SQ_MB_GET);
	int		 rc;

	sq_bind_key(st, req);
	if ((rc = sq_step(e, req, st)) != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -1;
	mb->id = sqlite3_column_int64(st, 0);
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
	mb->gen = sqlite3_column_int64(st, 2);
	mb->staging = sqlite3_column_int64(st, 3);
	mb->next_gen = sqlite3_column_int64(st, 4);
	sqlite3_reset(st);
	return 1;
}

static int
sq_mailbox_set(struct sq_engine *e, struct store_req *req,
    const struct sq_mailbox *mb)
{
	sqlite3_stmt	*st = sq_stmt(e, SQ_MB_SET);

	sqlite3_bind_int64(st, 1, mb->id);
	sqlite3_bind_int64(st, 2, mb->uidvalidity);
	sqlite3_bind_int64(st, 3, mb->gen);
	sqlite3_bind_int64(st, 4, mb->staging);
	sqlite3_bind_int64(st, 5, mb->next_gen);
	return sq_run_stmt(e, req, st);
}

/* The mailbox of req, made (with no UIDVALIDITY yet) if it was not. */
static int
sq_mailbox_make(struct sq_engine *e, struct store_req *req,
    struct sq_mailbox *mb)
{
	sqlite3_stmt	*st;
	int		 found;

	if ((found = sq_mailbox(e, req, mb)) != 0)
		return found < 0 ? -1 : 0;
	st = sq_stmt(e, SQ_MB_NEW);
	sq_bind_key(st, req);
	sqlite3_bind_int64(st, 4, 0);
	if (sq_run_stmt(e, req, st) != 0)
		return -1;
	return sq_mailbox(e, req, mb) == 1 ? 0 : -1;
}

/* Deletes the messages of mb: of generation gen, of all generations but
 * gen (others), or all of them (gen 0). */
static int
sq_delete(struct sq_engine *e, struct store_req *req,
    const struct sq_mailbox *mb, int64_t gen, bool others)
{
	sqlite3_stmt	*st;

	st = sq_stmt(e, gen == 0 ? SQ_MSG_DEL_ALL : others ?
	    SQ_MSG_DEL_OTHERS : SQ_MSG_DEL_GEN);
	sqlite3_bind_int64(st, 1, mb->id);
	if (gen != 0)
		sqlite3_bind_int64(st, 2, gen);
	return sq_run_stmt(e, req, st);
}

/* ---- the operations, each one transaction ---- */

static enum store_result
sq_op_get(struct sq_engine *e, struct store_req *req)
{
	struct sq_mailbox	 mb;
	sqlite3_stmt		*st;
	int			 found;

	if ((found = sq_mailbox(e, req, &mb)) <= 0 || mb.uidvalidity == 0)
		return found < 0 ? STORE_FAILED : STORE_NOT_FOUND;
	st = sq_stmt(e, SQ_MSG_COUNT);
	sqlite3_bind_int64(st, 1, mb.id);
	sqlite3_bind_int64(st, 2, mb.gen);
	if (sq_step(e, req, st) != SQLITE_ROW)
		return STORE_FAILED;
	req->mb.uidvalidity = mb.uidvalidity;
	req->mb.records = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return STORE_OK;
}

static void
sq_column_record(sqlite3_stmt *st, struct store_record *rec)
{
	const void	*fp = sqlite3_column_blob(st, 3);
	const char	*uidl = (const char *)sqlite3_column_text(st, 4);
	int		 fplen = sqlite3_column_bytes(st, 3);

	memset(rec, 0, sizeof(*rec));
	rec->uid = (uint32_t)sqlite3_column_int64(st, 0);
	rec->size = (uint64_t)sqlite3_column_int64(st, 1);
	rec->ends_eol = sqlite3_column_int(st, 2) != 0;
	if (fp != NULL && fplen == STORE_FINGERPRINT_OCTETS)
		memcpy(rec->fingerprint, fp, STORE_FINGERPRINT_OCTETS);
	if (uidl != NULL)
		snprintf(rec->uidl, sizeof(rec->uidl), "%s", uidl);
}

/* The next batch after the cursor, under the generation the read began
 * on: a replace or a forget in between ends the read with CHANGED. */
static enum store_result
sq_op_read(struct sq_engine *e, struct store_req *req)
{
	struct sq_mailbox	 mb;
	sqlite3_stmt		*st;
	int			 found, rc;
	bool			 fp = req->order == STORE_ORDER_FINGERPRINT;

	req->n = 0;
	if ((found = sq_mailbox(e, req, &mb)) < 0)
		return STORE_FAILED;
	if (!req->have_cursor) {
		if (found == 0 || mb.uidvalidity == 0)
			return STORE_NOT_FOUND;
		if (mb.uidvalidity != req->uidvalidity)
			return STORE_CHANGED;
		req->gen = mb.gen;
	} else if (found == 0 || mb.gen != req->gen ||
	    mb.uidvalidity != req->uidvalidity)
		return STORE_CHANGED;
	st = sq_stmt(e, fp ? SQ_READ_FP : SQ_READ_UID);
	sqlite3_bind_int64(st, 1, mb.id);
	sqlite3_bind_int64(st, 2, mb.gen);
	if (fp) {
		sqlite3_bind_blob(st, 3, req->cursor_fp, req->have_cursor ?
		    STORE_FINGERPRINT_OCTETS : 0, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, req->have_cursor ?
		    (sqlite3_int64)req->cursor_uid : -1);
	} else
		sqlite3_bind_int64(st, 3, req->have_cursor ?
		    (sqlite3_int64)req->cursor_uid : -1);
	sqlite3_bind_int(st, 4, STORE_BATCH_MAX);
	while ((rc = sq_step(e, req, st)) == SQLITE_ROW &&
	    req->n < STORE_BATCH_MAX)
		sq_column_record(st, &req->recs[req->n++]);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? STORE_OK : STORE_FAILED;
}

/* A write's checks. An upsert may give a new mailbox its UIDVALIDITY; a
 * replace stages a fresh generation, dropping any a lost replace left. */
static enum store_result
sq_op_begin(struct sq_engine *e, struct store_req *req)
{
	struct sq_mailbox	mb;
	int			found;

	if (req->mode == STORE_WRITE_REMOVE) {
		if ((found = sq_mailbox(e, req, &mb)) <= 0)
			return found < 0 ? STORE_FAILED : STORE_NOT_FOUND;
		if (mb.uidvalidity != req->uidvalidity)
			return STORE_CHANGED;
		req->gen = mb.gen;
		return STORE_OK;
	}
	if (sq_mailbox_make(e, req, &mb) != 0)
		return STORE_FAILED;
	if (req->mode == STORE_WRITE_UPSERT) {
		if (mb.uidvalidity == 0) {
			mb.uidvalidity = req->uidvalidity;
			if (sq_mailbox_set(e, req, &mb) != 0)
				return STORE_FAILED;
		} else if (mb.uidvalidity != req->uidvalidity)
			return STORE_CHANGED;
		req->gen = mb.gen;
		return STORE_OK;
	}
	if (sq_delete(e, req, &mb, mb.gen, true) != 0)
		return STORE_FAILED;
	mb.staging = mb.next_gen++;
	if (sq_mailbox_set(e, req, &mb) != 0)
		return STORE_FAILED;
	req->gen = mb.staging;
	return STORE_OK;
}

static int
sq_put_record(struct sq_engine *e, struct store_req *req, int64_t id,
    const struct store_record *rec)
{
	sqlite3_stmt	*st;

	if (req->mode == STORE_WRITE_REMOVE) {
		st = sq_stmt(e, SQ_MSG_DEL);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, req->gen);
		sqlite3_bind_int64(st, 3, rec->uid);
		return sq_run_stmt(e, req, st);
	}
	st = sq_stmt(e, SQ_MSG_PUT);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, req->gen);
	sqlite3_bind_int64(st, 3, rec->uid);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rec->size);
	sqlite3_bind_int(st, 5, rec->ends_eol);
	sqlite3_bind_blob(st, 6, rec->fingerprint, STORE_FINGERPRINT_OCTETS,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 7, rec->uidl, -1, SQLITE_STATIC);
	return sq_run_stmt(e, req, st);
}

/* A batch, into the generation begin chose, if it is still the one. */
static enum store_result
sq_op_put(struct sq_engine *e, struct store_req *req)
{
	struct sq_mailbox	mb;
	size_t			i;
	int			found;

	if ((found = sq_mailbox(e, req, &mb)) < 0)
		return STORE_FAILED;
	if (found == 0 || (req->mode == STORE_WRITE_REPLACE ?
	    mb.staging != req->gen : mb.gen != req->gen ||
	    mb.uidvalidity != req->uidvalidity))
		return STORE_CHANGED;
	for (i = 0; i < req->n; i++)
		if (sq_put_record(e, req, mb.id, &req->recs[i]) != 0)
			return STORE_FAILED;
	return STORE_OK;
}

static enum store_result
sq_op_commit(struct sq_engine *e, struct store_req *req)
{
	struct sq_mailbox	mb;
	int			found;

	if ((found = sq_mailbox(e, req, &mb)) <= 0 || mb.staging != req->gen)
		return found < 0 ? STORE_FAILED : STORE_CHANGED;
	if (sq_delete(e, req, &mb, mb.staging, true) != 0)
		return STORE_FAILED;
	mb.uidvalidity = req->uidvalidity;
	mb.gen = mb.staging;
	mb.staging = 0;
	return sq_mailbox_set(e, req, &mb) != 0 ? STORE_FAILED : STORE_OK;
}

static enum store_result
sq_op_abort(struct sq_engine *e, struct store_req *req)
{
	struct sq_mailbox	mb;
	int			found;

	if ((found = sq_mailbox(e, req, &mb)) <= 0 || mb.staging != req->gen)
		return found < 0 ? STORE_FAILED : STORE_OK;
	if (sq_delete(e, req, &mb, mb.staging, false) != 0)
		return STORE_FAILED;
	mb.staging = 0;
	return sq_mailbox_set(e, req, &mb) != 0 ? STORE_FAILED : STORE_OK;
}

static enum store_result
sq_op_forget(struct sq_engine *e, struct store_req *req)
{
	struct sq_mailbox	 mb;
	sqlite3_stmt		*st;
	int			 found;

	if ((found = sq_mailbox(e, req, &mb)) <= 0)
		return found < 0 ? STORE_FAILED : STORE_OK;
	if (sq_delete(e, req, &mb, 0, false) != 0)
		return STORE_FAILED;
	st = sq_stmt(e, SQ_MB_DEL);
	sqlite3_bind_int64(st, 1, mb.id);
	return sq_run_stmt(e, req, st) != 0 ? STORE_FAILED : STORE_OK;
}

static enum store_result
sq_op(struct sq_engine *e, struct store_req *req)
{
	switch (req->op) {
	case STORE_OP_GET:	return sq_op_get(e, req);
	case STORE_OP_READ:	return sq_op_read(e, req);
	case STORE_OP_BEGIN:	return sq_op_begin(e, req);
	case STORE_OP_PUT:	return sq_op_put(e, req);
	case STORE_OP_COMMIT:	return sq_op_commit(e, req);
	case STORE_OP_ABORT:	return sq_op_abort(e, req);
	case STORE_OP_FORGET:	return sq_op_forget(e, req);
	default:		return STORE_INVALID;
	}
}

/* Runs req in one transaction: a write one takes the write lock first,
 * so that its checks and its writes see the same database. */
static void
sq_run(void *arg, struct store_req *req)
{
	struct sq_engine	*e = arg;
	enum store_result	 r;
	bool			 write;

	if (!sq_ready(e, req))
		return;
	if (req->op == STORE_OP_PING) {
		req->result = STORE_OK;
		return;
	}
	write = req->op != STORE_OP_GET && req->op != STORE_OP_READ;
	e->failed = false;
	if (sq_txn(e, req, write ? "BEGIN IMMEDIATE" : "BEGIN") != 0)
		r = STORE_FAILED;
	else
		r = sq_op(e, req);
	if (e->failed)
		r = STORE_FAILED;
	if (r == STORE_OK && sq_txn(e, req, "COMMIT") != 0)
		r = STORE_FAILED;
	if (r != STORE_OK)
		sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
	req->result = r;
	/* A lost file, a full disk, a corrupt page: start over with a new
	 * open (after STORE_REOPEN_INTERVAL_MS); a lock held too long by
	 * another process is only a busy moment. */
	if (e->failed && (e->errcode & 0xff) != SQLITE_BUSY &&
	    (e->errcode & 0xff) != SQLITE_LOCKED) {
		sq_close_db(e);
		e->open_result = STORE_FAILED;
		snprintf(e->open_detail, sizeof(e->open_detail), "%s",
		    req->detail);
	}
}

static void *
sq_new(struct store *s, const bool *stopping, char *err, size_t errlen)
{
	struct sq_engine	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->store = s;
	e->stopping = stopping;
	snprintf(e->path, sizeof(e->path), "%s/popgate.db", s->directory);
	return e;
}

static void
sq_free(void *arg)
{
	struct sq_engine	*e = arg;

	if (e == NULL)
		return;
	if (e->db != NULL)
		sq_close_db(e);
	free(e);
}

const struct store_blocking store_sqlite_blocking = {
	.new = sq_new,
	.run = sq_run,
	.free = sq_free,
};
