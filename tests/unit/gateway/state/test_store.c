/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - gateway/state/store on SQLite: records written come back
 * in batches and in order, upserts, UIDVALIDITY replaces (atomic, and
 * given up cleanly), forget, persistence across a close, and the ways a
 * store says no: a read-only file, a newer schema, a full queue, a close
 * with requests outstanding, a cancel, a bad argument.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

struct t_env {
	uv_loop_t		 loop;
	struct store		*s;
	struct store_client	*c;
	char			 dir[64];
	char			 db[96];
};

static const struct store_key t_key = { "up", "user@example.org", "INBOX" };

/* ---- set-up ---- */

static void
t_open(struct t_env *t, unsigned int max_requests, unsigned int busy_ms)
{
	struct store_settings	set = { "sqlite", t->dir, max_requests,
	    busy_ms };
	char			err[256];

	t->s = store_new(&set, err, sizeof(err));
	assert_non_null(t->s);
	t->c = store_client_new(t->s, &t->loop);
	assert_non_null(t->c);
}

static void
t_close(struct t_env *t)
{
	store_client_close(t->c);
	store_close(t->s);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	t->c = NULL;
	t->s = NULL;
}

static int
t_setup(void **state)
{
	struct t_env	*t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/popgate-store-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/popgate.db", t->dir);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	*state = t;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_env	*t = *state;
	char		 path[128];
	const char	*sfx[] = { "", "-wal", "-shm", "-journal" };
	size_t		 i;

	if (t->s != NULL)
		t_close(t);
	uv_loop_close(&t->loop);
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", t->db, sfx[i]);
		unlink(path);
	}
	rmdir(t->dir);
	free(t);
	return 0;
}

/* ---- requests, run to their end ---- */

struct t_wait {
	bool			done;
	int			calls;
	enum store_result	r;
	struct store_mailbox	mb;
	struct store_record	*got;	/* a read's records */
	size_t			ngot, batches, stop_after;
	const struct store_record *src;	/* a write's */
	size_t			nsrc, pos;
	long			fail_at;	/* fill gives up here */
	struct store_client	*forget_on_batch;
	struct t_wait		*forgot;
};

static void
t_done(void *arg, enum store_result r)
{
	struct t_wait	*w = arg;

	w->done = true;
	w->calls++;
	w->r = r;
}

static void
t_got(void *arg, enum store_result r, const struct store_mailbox *mb)
{
	struct t_wait	*w = arg;

	if (mb != NULL)
		w->mb = *mb;
	t_done(w, r);
}

static bool
t_batch(void *arg, const struct store_record *recs, size_t n)
{
	struct t_wait	*w = arg;

	assert_true(n > 0 && n <= STORE_BATCH_MAX);
	w->got = realloc(w->got, (w->ngot + n) * sizeof(*recs));
	assert_non_null(w->got);
	memcpy(w->got + w->ngot, recs, n * sizeof(*recs));
	w->ngot += n;
	if (w->forget_on_batch != NULL) {
		assert_int_equal(store_forget(w->forget_on_batch, &t_key,
		    t_done, w->forgot, NULL), STORE_PENDING);
		w->forget_on_batch = NULL;
	}
	return ++w->batches != w->stop_after;
}

static long
t_fill(void *arg, struct store_record *recs, size_t max)
{
	struct t_wait	*w = arg;
	size_t		 n = w->nsrc - w->pos < max ? w->nsrc - w->pos : max;

	if (w->fail_at != 0 && w->pos >= (size_t)w->fail_at)
		return -1;
	memcpy(recs, w->src + w->pos, n * sizeof(*recs));
	w->pos += n;
	return (long)n;
}

static void
t_run(struct t_env *t, struct t_wait *w)
{
	while (!w->done)
		uv_run(&t->loop, UV_RUN_ONCE);
}

static enum store_result
t_ping(struct t_env *t)
{
	struct t_wait	w = { 0 };

	assert_int_equal(store_ping(t->c, t_done, &w, NULL), STORE_PENDING);
	t_run(t, &w);
	return w.r;
}

static enum store_result
t_get(struct t_env *t, struct store_mailbox *mb)
{
	struct t_wait	w = { 0 };

	assert_int_equal(store_get(t->c, &t_key, t_got, &w, NULL),
	    STORE_PENDING);
	t_run(t, &w);
	*mb = w.mb;
	return w.r;
}

static enum store_result
t_write(struct t_env *t, uint32_t uidvalidity, enum store_write_mode mode,
    const struct store_record *recs, size_t n, long fail_at)
{
	struct t_wait	w = { 0 };

	w.src = recs;
	w.nsrc = n;
	w.fail_at = fail_at;
	assert_int_equal(store_write(t->c, &t_key, uidvalidity, mode, t_fill,
	    t_done, &w, NULL), STORE_PENDING);
	t_run(t, &w);
	assert_int_equal(w.calls, 1);
	return w.r;
}

/* Reads into *got (the caller frees it). */
static enum store_result
t_read(struct t_env *t, uint32_t uidvalidity, enum store_order order,
    struct store_record **got, size_t *n, size_t *batches)
{
	struct t_wait	w = { 0 };

	assert_int_equal(store_read(t->c, &t_key, uidvalidity, order, t_batch,
	    t_done, &w, NULL), STORE_PENDING);
	t_run(t, &w);
	assert_int_equal(w.calls, 1);
	*got = w.got;
	*n = w.ngot;
	if (batches != NULL)
		*batches = w.batches;
	return w.r;
}

/* Records uid first .. first + n - 1; fingerprints in another order than
 * UIDs, and every seventh one a duplicate of its neighbour's. */
static struct store_record *
t_records(uint32_t first, size_t n, const char *uidl_prefix)
{
	struct store_record	*r = calloc(n, sizeof(*r));
	size_t			 i;
	uint32_t		 h;

	assert_non_null(r);
	for (i = 0; i < n; i++) {
		r[i].uid = first + (uint32_t)i;
		r[i].size = 1000 + r[i].uid * 3;
		r[i].ends_eol = r[i].uid % 2 == 0;
		h = (r[i].uid - r[i].uid % 7 / 6) * 2654435761u;
		memcpy(r[i].fingerprint, &h, sizeof(h));
		r[i].fingerprint[15] = (uint8_t)(h >> 24);
		snprintf(r[i].uidl, sizeof(r[i].uidl), "%s%u", uidl_prefix,
		    r[i].uid);
	}
	return r;
}

static void
t_same(const struct store_record *a, const struct store_record *b)
{
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->ends_eol, b->ends_eol);
	assert_memory_equal(a->fingerprint, b->fingerprint,
	    STORE_FINGERPRINT_OCTETS);
	assert_string_equal(a->uidl, b->uidl);
}

static int
t_user_version(const char *db)
{
	sqlite3		*h;
	sqlite3_stmt	*st;
	int		 v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* ---- the tests ---- */

/* 3,000 records come back whole, in UID order, in batches of at most
 * STORE_BATCH_MAX; the new database is at the current schema. */
static void
test_write_read(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*recs = t_records(1, 3000, "old-"), *got;
	struct store_mailbox	 mb;
	size_t			 n, batches, i;

	t_open(t, 0, 0);
	assert_int_equal(t_ping(t), STORE_OK);
	assert_int_equal(t_get(t, &mb), STORE_NOT_FOUND);
	assert_int_equal(t_write(t, 1234, STORE_WRITE_UPSERT, recs, 3000, 0),
	    STORE_OK);
	assert_int_equal(t_get(t, &mb), STORE_OK);
	assert_int_equal(mb.uidvalidity, 1234);
	assert_int_equal(mb.records, 3000);
	assert_int_equal(t_read(t, 1234, STORE_ORDER_UID, &got, &n, &batches),
	    STORE_OK);
	assert_int_equal(n, 3000);
	assert_int_equal(batches, 3);
	for (i = 0; i < n; i++)
		t_same(&got[i], &recs[i]);
	free(got);
	/* Under another UIDVALIDITY there is nothing to read. */
	assert_int_equal(t_read(t, 1235, STORE_ORDER_UID, &got, &n, NULL),
	    STORE_CHANGED);
	assert_int_equal(n, 0);
	free(got);
	t_close(t);
	assert_int_equal(t_user_version(t->db), 1);
	free(recs);
}

/* An upsert replaces records of the same UID and adds the others; a
 * remove drops the UIDs given; neither writes under another UIDVALIDITY. */
static void
test_upsert_remove(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*a = t_records(1, 10, "a-");
	struct store_record	*b = t_records(6, 10, "b-"), *got;
	struct store_record	 gone[3];
	struct store_mailbox	 mb;
	size_t			 n, i;

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 7, STORE_WRITE_UPSERT, a, 10, 0),
	    STORE_OK);
	assert_int_equal(t_write(t, 7, STORE_WRITE_UPSERT, b, 10, 0),
	    STORE_OK);
	assert_int_equal(t_write(t, 8, STORE_WRITE_UPSERT, a, 10, 0),
	    STORE_CHANGED);
	assert_int_equal(t_read(t, 7, STORE_ORDER_UID, &got, &n, NULL),
	    STORE_OK);
	assert_int_equal(n, 15);
	for (i = 0; i < n; i++)
		t_same(&got[i], i < 5 ? &a[i] : &b[i - 5]);
	free(got);
	memset(gone, 0, sizeof(gone));
	gone[0].uid = 1;
	gone[1].uid = 8;
	gone[2].uid = 99;		/* never stored: no harm */
	assert_int_equal(t_write(t, 8, STORE_WRITE_REMOVE, gone, 3, 0),
	    STORE_CHANGED);
	assert_int_equal(t_write(t, 7, STORE_WRITE_REMOVE, gone, 3, 0),
	    STORE_OK);
	assert_int_equal(t_get(t, &mb), STORE_OK);
	assert_int_equal(mb.records, 13);
	free(a);
	free(b);
}

/* A UIDVALIDITY change: the old records come by fingerprint; the new
 * ones replace them in one step; a replace given up leaves them. */
static void
test_replace(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*old = t_records(1, 2000, "old-");
	struct store_record	*new = t_records(5001, 1500, "new-"), *got;
	struct store_mailbox	 mb;
	size_t			 n, i;
	int			 c;

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 7, STORE_WRITE_UPSERT, old, 2000, 0),
	    STORE_OK);
	assert_int_equal(t_read(t, 7, STORE_ORDER_FINGERPRINT, &got, &n,
	    NULL), STORE_OK);
	assert_int_equal(n, 2000);
	for (i = 1; i < n; i++) {
		c = memcmp(got[i - 1].fingerprint, got[i].fingerprint,
		    STORE_FINGERPRINT_OCTETS);
		assert_true(c < 0 || (c == 0 && got[i - 1].uid < got[i].uid));
	}
	free(got);
	/* Given up after the first batch: still the old record. */
	assert_int_equal(t_write(t, 8, STORE_WRITE_REPLACE, new, 1500,
	    STORE_BATCH_MAX), STORE_CANCELLED);
	assert_int_equal(t_get(t, &mb), STORE_OK);
	assert_int_equal(mb.uidvalidity, 7);
	assert_int_equal(mb.records, 2000);
	assert_int_equal(t_write(t, 8, STORE_WRITE_REPLACE, new, 1500, 0),
	    STORE_OK);
	assert_int_equal(t_get(t, &mb), STORE_OK);
	assert_int_equal(mb.uidvalidity, 8);
	assert_int_equal(mb.records, 1500);
	assert_int_equal(t_read(t, 7, STORE_ORDER_UID, &got, &n, NULL),
	    STORE_CHANGED);
	free(got);
	assert_int_equal(t_read(t, 8, STORE_ORDER_UID, &got, &n, NULL),
	    STORE_OK);
	assert_int_equal(n, 1500);
	for (i = 0; i < n; i++)
		t_same(&got[i], &new[i]);
	free(got);
	free(old);
	free(new);
}

static void
test_forget(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 5, "x");
	struct store_mailbox	 mb;
	struct t_wait		 w = { 0 };

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 3, STORE_WRITE_UPSERT, r, 5, 0), STORE_OK);
	assert_int_equal(store_forget(t->c, &t_key, t_done, &w, NULL),
	    STORE_PENDING);
	t_run(t, &w);
	assert_int_equal(w.r, STORE_OK);
	assert_int_equal(t_get(t, &mb), STORE_NOT_FOUND);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_forget(t->c, &t_key, t_done, &w, NULL),
	    STORE_PENDING);
	t_run(t, &w);
	assert_int_equal(w.r, STORE_OK);
	/* Forgotten means a new UIDVALIDITY is welcome. */
	assert_int_equal(t_write(t, 4, STORE_WRITE_UPSERT, r, 5, 0), STORE_OK);
	free(r);
}

static void
test_persist(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(10, 1100, "p-"), *got;
	size_t			 n, i;

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 99, STORE_WRITE_UPSERT, r, 1100, 0),
	    STORE_OK);
	t_close(t);
	t_open(t, 0, 0);
	assert_int_equal(t_read(t, 99, STORE_ORDER_UID, &got, &n, NULL),
	    STORE_OK);
	assert_int_equal(n, 1100);
	for (i = 0; i < n; i++)
		t_same(&got[i], &r[i]);
	free(got);
	free(r);
}

/* A read stopped by its batch callback ends CANCELLED, after one batch. */
static void
test_read_stopped(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 2100, "s-");
	struct t_wait		 w = { 0 };

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 5, STORE_WRITE_UPSERT, r, 2100, 0),
	    STORE_OK);
	w.stop_after = 1;
	assert_int_equal(store_read(t->c, &t_key, 5, STORE_ORDER_UID, t_batch,
	    t_done, &w, NULL), STORE_PENDING);
	t_run(t, &w);
	assert_int_equal(w.r, STORE_CANCELLED);
	assert_int_equal(w.batches, 1);
	free(w.got);
	free(r);
}

/* A record forgotten between two batches of a read: the read ends with
 * CHANGED, after giving what it had (which the caller must drop). */
static void
test_read_changed(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 2100, "g-");
	struct t_wait		 w = { 0 }, forgot = { 0 };

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 5, STORE_WRITE_UPSERT, r, 2100, 0),
	    STORE_OK);
	w.forget_on_batch = t->c;
	w.forgot = &forgot;
	assert_int_equal(store_read(t->c, &t_key, 5, STORE_ORDER_UID, t_batch,
	    t_done, &w, NULL), STORE_PENDING);
	t_run(t, &w);
	t_run(t, &forgot);
	assert_int_equal(forgot.r, STORE_OK);
	assert_int_equal(w.r, STORE_CHANGED);
	assert_int_equal(w.batches, 1);
	assert_int_equal(w.calls, 1);
	free(w.got);
	free(r);
}

/* The child's side of test_read_only: 0 if the store said FAILED. Run
 * as nobody when the test runs as root, whom no mode stops. */
static int
t_read_only_child(struct t_env *t)
{
	struct store_settings	 set = { "sqlite", t->dir, 0, 0 };
	struct store_client	*c;
	struct store		*s;
	struct t_wait		 w = { 0 };
	uv_loop_t		 loop;
	char			 err[256];
	int			 ok;

	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
		return 2;
	if (uv_loop_init(&loop) != 0 ||
	    (s = store_new(&set, err, sizeof(err))) == NULL ||
	    (c = store_client_new(s, &loop)) == NULL)
		return 3;
	if (store_get(c, &t_key, t_got, &w, NULL) != STORE_PENDING)
		return 4;
	while (!w.done)
		uv_run(&loop, UV_RUN_ONCE);
	ok = w.r == STORE_FAILED ? 0 : 5;
	store_client_close(c);
	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return ok;
}

/* A database file popgate may not write: every request fails, none
 * crashes, none answers from it. */
static void
test_read_only(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 3, "ro-");
	pid_t			 pid;
	int			 status;

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 1, STORE_WRITE_UPSERT, r, 3, 0), STORE_OK);
	t_close(t);
	free(r);
	assert_int_equal(chmod(t->db, 0444), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(t->dir, 65534, 65534), 0);
		assert_int_equal(chown(t->db, 65534, 65534), 0);
	}
	assert_true((pid = fork()) >= 0);
	if (pid == 0)
		_exit(t_read_only_child(t));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
t_sql(const char *db, const char *sql)
{
	sqlite3	*h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* A database of a later popgate is refused, and left alone. */
static void
test_newer_schema(void **state)
{
	struct t_env		*t = *state;
	struct store_mailbox	 mb;
	struct store_stats	 st;

	t_sql(t->db, "CREATE TABLE later (x); PRAGMA user_version = 99");
	t_open(t, 0, 0);
	assert_int_equal(t_ping(t), STORE_SCHEMA);
	assert_int_equal(t_get(t, &mb), STORE_SCHEMA);
	store_get_stats(t->s, &st);
	assert_int_equal(st.failed, 2);
	assert_non_null(strstr(st.last_error, "newer"));
	t_close(t);
	assert_int_equal(t_user_version(t->db), 99);
}

/* A store that failed to open tries again, at most once a second, and
 * works once the cause is gone, without a restart. */
static void
test_reopen(void **state)
{
	struct t_env	*t = *state;

	t_sql(t->db, "PRAGMA user_version = 99");
	t_open(t, 0, 0);
	assert_int_equal(t_ping(t), STORE_SCHEMA);
	t_sql(t->db, "PRAGMA user_version = 0");
	usleep((STORE_REOPEN_INTERVAL_MS + 100) * 1000);
	assert_int_equal(t_ping(t), STORE_OK);
	t_close(t);
	assert_int_equal(t_user_version(t->db), 1);
}

/* An empty file, and a version-0 database, are brought to the schema. */
static void
test_migrate_old(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 3, "m-");
	struct store_mailbox	 mb;
	FILE			*f;

	assert_non_null(f = fopen(t->db, "w"));
	fclose(f);
	t_open(t, 0, 0);
	assert_int_equal(t_ping(t), STORE_OK);
	t_close(t);
	assert_int_equal(t_user_version(t->db), 1);
	unlink(t->db);
	t_sql(t->db, "CREATE TABLE unrelated (x)");
	assert_int_equal(t_user_version(t->db), 0);
	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 2, STORE_WRITE_UPSERT, r, 3, 0), STORE_OK);
	assert_int_equal(t_get(t, &mb), STORE_OK);
	assert_int_equal(mb.records, 3);
	t_close(t);
	assert_int_equal(t_user_version(t->db), 1);
	free(r);
}

/* A full store says BUSY at once, without a callback. */
static void
test_full(void **state)
{
	struct t_env		*t = *state;
	struct t_wait		 w[4];
	struct t_wait		 extra = { 0 };
	struct store_stats	 st;
	int			 i;

	memset(w, 0, sizeof(w));
	t_open(t, 4, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(store_ping(t->c, t_done, &w[i], NULL),
		    STORE_PENDING);
	assert_int_equal(store_ping(t->c, t_done, &extra, NULL), STORE_BUSY);
	assert_int_equal(store_get(t->c, &t_key, t_got, &extra, NULL),
	    STORE_BUSY);
	for (i = 0; i < 4; i++)
		t_run(t, &w[i]);
	assert_int_equal(extra.calls, 0);
	store_get_stats(t->s, &st);
	assert_int_equal(st.busy, 2);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(t_ping(t), STORE_OK);
}

/* Closing the store while its thread waits for another process's lock:
 * the wait ends at once, what was queued ends CANCELLED, each callback
 * comes exactly once, and later requests are refused. */
static void
test_close_outstanding(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 3, "c-");
	struct t_wait		 w[6];
	sqlite3			*h;
	uint64_t		 t0;
	int			 i, cancelled = 0;

	memset(w, 0, sizeof(w));
	t_open(t, 0, 60000);
	assert_int_equal(t_ping(t), STORE_OK);
	assert_int_equal(sqlite3_open(t->db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	for (i = 0; i < 6; i++) {
		w[i].src = r;
		w[i].nsrc = 3;
		assert_int_equal(store_write(t->c, &t_key, 1,
		    STORE_WRITE_UPSERT, t_fill, t_done, &w[i], NULL),
		    STORE_PENDING);
	}
	usleep(50 * 1000);	/* the thread is in the lock's wait */
	t0 = uv_hrtime();
	store_close(t->s);
	assert_true(uv_hrtime() - t0 < 10ull * 1000 * 1000 * 1000);
	for (i = 0; i < 6; i++) {
		t_run(t, &w[i]);
		assert_int_equal(w[i].calls, 1);
		assert_true(w[i].r == STORE_CANCELLED ||
		    w[i].r == STORE_FAILED);
		cancelled += w[i].r == STORE_CANCELLED;
	}
	assert_true(cancelled >= 5);
	assert_int_equal(t_user_version(t->db), 1);
	assert_int_equal(store_ping(t->c, t_done, &w[0], NULL),
	    STORE_CANCELLED);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(h);
	store_client_close(t->c);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	t->s = NULL;
	t->c = NULL;
	free(r);
}

/* A cancelled request never calls back; a closed client's neither. */
static void
test_cancel(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 2000, "k-");
	struct store_req	*req;
	struct store_client	*c2;
	struct store_stats	 st;
	struct t_wait		 w = { 0 }, w2 = { 0 };

	t_open(t, 0, 0);
	assert_int_equal(t_write(t, 5, STORE_WRITE_UPSERT, r, 2000, 0),
	    STORE_OK);
	assert_int_equal(store_read(t->c, &t_key, 5, STORE_ORDER_UID, t_batch,
	    t_done, &w, &req), STORE_PENDING);
	store_cancel(req);
	/* Answers come in order: after this one, none is left for the read. */
	assert_int_equal(t_ping(t), STORE_OK);
	assert_int_equal(w.calls, 0);
	assert_int_equal(w.batches, 0);
	c2 = store_client_new(t->s, &t->loop);
	assert_non_null(c2);
	assert_int_equal(store_read(c2, &t_key, 5, STORE_ORDER_UID, t_batch,
	    t_done, &w2, NULL), STORE_PENDING);
	store_client_close(c2);
	assert_int_equal(t_ping(t), STORE_OK);
	uv_run(&t->loop, UV_RUN_NOWAIT);
	assert_int_equal(w2.calls, 0);
	store_get_stats(t->s, &st);
	assert_int_equal(st.in_flight, 0);
	free(w.got);
	free(w2.got);
	free(r);
}

/* What the store refuses to keep. */
static void
test_invalid(void **state)
{
	struct t_env		*t = *state;
	struct store_record	*r = t_records(1, 3, "i-");
	struct store_key	 k = t_key;
	struct t_wait		 w = { 0 };
	char			 longname[STORE_KEY_MAX_OCTETS + 2];

	t_open(t, 0, 0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	k.mailbox = longname;
	assert_int_equal(store_get(t->c, &k, t_got, &w, NULL), STORE_INVALID);
	assert_int_equal(store_write(t->c, &t_key, 0, STORE_WRITE_UPSERT,
	    t_fill, t_done, &w, NULL), STORE_INVALID);
	r[1].uid = 0;
	assert_int_equal(t_write(t, 1, STORE_WRITE_UPSERT, r, 3, 0),
	    STORE_INVALID);
	r[1].uid = 2;
	memset(r[2].uidl, 'x', sizeof(r[2].uidl));
	assert_int_equal(t_write(t, 1, STORE_WRITE_UPSERT, r, 3, 0),
	    STORE_INVALID);
	assert_int_equal(w.calls, 0);
	free(r);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_write_read),
		T(test_upsert_remove),
		T(test_replace),
		T(test_forget),
		T(test_persist),
		T(test_read_stopped),
		T(test_read_changed),
		T(test_read_only),
		T(test_newer_schema),
		T(test_reopen),
		T(test_migrate_old),
		T(test_full),
		T(test_close_outstanding),
		T(test_cancel),
		T(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
