/* SPDX-License-Identifier: MIT */
/*
 * oauth2.c - the token manager.
 *
 * Shared state (each source's cached token, its back-off, its waiters,
 * each client's completion queue, the source table) lives under one
 * mutex, held for a few compares and copies. Everything that takes time
 * runs on the manager's loop: HTTP requests (http_client.c), commands
 * (uv_spawn), and file reads and writes (uv_queue_work, so a slow disk
 * never stalls the loop).
 *
 * A source runs one operation at a time: READ (the refresh token file),
 * HTTP (the token endpoint), PERSIST (a rotated refresh token) or COMMAND.
 * A refresh is READ if needed, then HTTP, then PERSIST if the refresh
 * token rotated, and only then are the waiters handed the access token:
 * a new refresh token is on disk before anything uses what it bought.
 * The refresh token in memory is replaced the moment the answer arrives,
 * so the old one is never sent again.
 *
 * Sources are reference counted on the loop thread (the table and each
 * queued file job hold one); a removed source is out of the table, so
 * workers never see it, and its request or command is cancelled at once.
 */
#include "oauth2.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "http_client.h"
#include "log.h"

/* A token is not handed out in its last seconds: the session still has
 * to reach the upstream with it. */
#define OAUTH2_GUARD_MS			5000
/* Longest refresh token file read: a token, a newline, some blanks. */
#define OAUTH2_REFRESH_FILE_MAX		(OAUTH2_MAX_TOKEN + 256)
/* Longer server texts are cut in log lines. */
#define OAUTH2_LOG_TEXT			200

enum oauth2_wait_state {
	OAUTH2_WAIT_IDLE,
	OAUTH2_WAIT_QUEUED,	/* on its source's waiters */
	OAUTH2_WAIT_DONE,	/* on its client's completion queue */
};

enum oauth2_op {
	OAUTH2_OP_NONE,
	OAUTH2_OP_READ,
	OAUTH2_OP_HTTP,
	OAUTH2_OP_PERSIST,
	OAUTH2_OP_COMMAND,
};

struct oauth2_child;

struct oauth2_source {
	struct oauth2_mgr	*mgr;
	struct config_oauth2	 cfg;
	unsigned int		 refs;		/* loop thread */
	bool			 removed;
	bool			 orphan;	/* removed, request in flight */
	LIST_ENTRY(oauth2_source) orphans;	/* loop thread */

	/* Under mgr->lock. */
	char			 access[OAUTH2_MAX_TOKEN + 1];
	size_t			 access_len;	/* 0: none cached */
	uint64_t		 refresh_at_ms;	/* refresh ahead from here */
	uint64_t		 usable_until_ms;
	uint64_t		 expires_at_ms;
	bool			 has_refresh;
	bool			 wanted;	/* a refresh was asked for */
	bool			 busy;		/* an operation is under way */
	uint64_t		 refused;	/* oauth2_reject() calls */
	uint64_t		 backoff_until_ms;
	char			 fail_reason[OAUTH2_MAX_DETAIL];
	TAILQ_HEAD(, oauth2_wait) waiters;

	/* Loop thread only. */
	enum oauth2_op		 op;
	unsigned int		 gen;		/* bumped by each reconfiguring */
	unsigned int		 op_gen;	/* gen the refresh started in */
	bool			 load_only;	/* the first load of the file */
	uint64_t		 started_ms;
	unsigned int		 backoff_ms;	/* last back-off, no jitter */
	char			 refresh[OAUTH2_MAX_TOKEN + 1];
	size_t			 refresh_len;
	bool			 refresh_loaded;
	/* the last rotated token could not be written: memory has the
	 * only good copy, the file a spent one */
	bool			 persist_failed;
	char			 dead_fp[9];	/* refused refresh token */
	struct http_request	*req;
	struct oauth2_child	*child;
	struct oauth2_token_response *resp;	/* waits for PERSIST */
};

struct oauth2_client {
	struct oauth2_mgr	*mgr;
	uv_async_t		 async;
	TAILQ_HEAD(, oauth2_wait) done;		/* under mgr->lock */
	LIST_ENTRY(oauth2_client) entry;	/* under mgr->lock */
};

struct oauth2_mgr {
	uv_loop_t		*loop;
	struct oauth2_settings	 set;
	pthread_mutex_t		 lock;
	uv_async_t		 wakeup;	/* new demand */
	struct http_client	*http;
	uint64_t		 rng;

	/* Under lock; changed on the loop thread only, so that thread
	 * may read the table without it. */
	struct oauth2_source	*src[CONFIG_MAX_OAUTH2];
	unsigned int		 nsrc;
	LIST_HEAD(, oauth2_client) clients;
	bool			 closing;
	bool			 closed;	/* nothing left on its loop */

	/* Loop thread only. */
	unsigned int		 pending;	/* jobs, children, handles */
	LIST_HEAD(, oauth2_source) orphans;
	bool			 http_freed;	/* closing: HTTP client gone */
	void			(*done)(void *);
	void			*done_arg;
};

/* A file read or write on the thread pool. */
struct oauth2_job {
	uv_work_t		 work;
	struct oauth2_source	*src;
	bool			 store;
	char			 path[CONFIG_MAX_PATH];
	char			 token[OAUTH2_MAX_TOKEN + 1];
	long			 len;		/* result of a read */
	int			 result;	/* of a write */
	bool			 loose;
	char			 why[OAUTH2_MAX_DETAIL];
};

struct oauth2_child {
	struct oauth2_mgr	*mgr;
	struct oauth2_source	*src;		/* NULL once detached */
	uv_process_t		 proc;
	uv_pipe_t		 out;
	uv_pipe_t		 err;
	uv_timer_t		 timer;
	unsigned int		 open;		/* handles not closed yet */
	bool			 exited;
	bool			 out_done;
	bool			 err_done;
	bool			 finished;
	bool			 timed_out;
	bool			 overflow;
	bool			 err_cut;
	int64_t			 status;
	int			 term_signal;
	size_t			 outlen;
	size_t			 errlen;
	char			 readbuf[4096];
	char			 outbuf[OAUTH2_COMMAND_MAX_STDOUT + 1];
	char			 errbuf[OAUTH2_COMMAND_MAX_STDERR];
};

static void	oauth2_source_post(struct oauth2_source *s);
static void	oauth2_source_spawn(struct oauth2_source *s);
static void	oauth2_source_read(struct oauth2_source *s);
static void	oauth2_source_kick(struct oauth2_source *s);

static uint64_t
oauth2_now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static const char *
oauth2_grant_name(enum config_oauth2_grant g)
{
	switch (g) {
	case CONFIG_OAUTH2_REFRESH_TOKEN:
		return "refresh_token";
	case CONFIG_OAUTH2_CLIENT_CREDENTIALS:
		return "client_credentials";
	case CONFIG_OAUTH2_COMMAND:
		break;
	}
	return "command";
}

/* Under lock. */
static struct oauth2_source *
oauth2_find(struct oauth2_mgr *m, const char *name)
{
	unsigned int	i;

	for (i = 0; i < m->nsrc; i++)
		if (strcmp(m->src[i]->cfg.name, name) == 0)
			return m->src[i];
	return NULL;
}

/* Seconds, rounded up, for "retry in N s". */
static unsigned long
oauth2_seconds(uint64_t ms)
{
	return (unsigned long)((ms + 999) / 1000);
}

/* xorshift64*: jitter only, on the loop thread. */
static uint64_t
oauth2_random(struct oauth2_mgr *m)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * 0x2545f4914f6cdd1dULL;
}

/* ---- waiters (all under lock) ---- */

/* Moves w from its source to its client's completion queue. */
static void
oauth2_wait_complete(struct oauth2_source *s, struct oauth2_wait *w,
    enum oauth2_result r, const char *detail, uint64_t now)
{
	TAILQ_REMOVE(&s->waiters, w, entry);
	w->src = NULL;
	w->result = r;
	if (r == OAUTH2_READY) {
		memcpy(w->token, s->access, s->access_len);
		w->token[s->access_len] = '\0';
		w->token_len = s->access_len;
		w->expires_in = s->expires_at_ms > now ?
		    (long)((s->expires_at_ms - now) / 1000) : 0;
		w->detail[0] = '\0';
	} else {
		w->token[0] = '\0';
		w->token_len = 0;
		w->expires_in = 0;
		snprintf(w->detail, sizeof(w->detail), "%s", detail);
	}
	w->state = OAUTH2_WAIT_DONE;
	TAILQ_INSERT_TAIL(&w->client->done, w, entry);
	uv_async_send(&w->client->async);
}

static unsigned int
oauth2_complete_all(struct oauth2_source *s, enum oauth2_result r,
    const char *detail)
{
	struct oauth2_wait	*w;
	uint64_t		 now = oauth2_now_ms();
	unsigned int		 n = 0;

	while ((w = TAILQ_FIRST(&s->waiters)) != NULL) {
		oauth2_wait_complete(s, w, r, detail, now);
		n++;
	}
	return n;
}

/* ---- sources ---- */

static void
oauth2_source_release(struct oauth2_source *s)
{
	if (--s->refs > 0)
		return;
	if (s->resp != NULL) {
		oauth2_json_wipe(s->resp, sizeof(*s->resp));
		free(s->resp);
	}
	oauth2_json_wipe(s, sizeof(*s));
	free(s);
}

/*
 * Once closing and nothing is left on the loop: done(). The manager is
 * freed here if no client refers to it any more, else by the last
 * oauth2_client_close(); the lock decides which, exactly once.
 */
static void
oauth2_mgr_maybe_done(struct oauth2_mgr *m)
{
	void	(*done)(void *);
	void	*arg;
	bool	 last;

	if (!m->closing || m->pending > 0)
		return;
	done = m->done;
	arg = m->done_arg;
	pthread_mutex_lock(&m->lock);
	m->closed = true;
	last = LIST_EMPTY(&m->clients);
	pthread_mutex_unlock(&m->lock);
	/* Without last, m may be gone from here on. */
	if (done != NULL)
		done(arg);
	if (last) {
		pthread_mutex_destroy(&m->lock);
		free(m);
	}
}

/*
 * The settings changed while a refresh ran (a reload): whatever it got
 * was asked for with the old ones, so the waiters wait for a refresh
 * with the new ones instead, without a back-off. True if so.
 */
static bool
oauth2_source_stale(struct oauth2_source *s, const char *result)
{
	struct oauth2_mgr	*m = s->mgr;

	if (s->op_gen == s->gen)
		return false;
	s->op = OAUTH2_OP_NONE;
	pthread_mutex_lock(&m->lock);
	s->busy = false;
	s->wanted = !TAILQ_EMPTY(&s->waiters);
	pthread_mutex_unlock(&m->lock);
	log_info("oauth2-refresh", "source=%s grant=%s result=%s stale=yes "
	    "reason=\"settings changed meanwhile; asking again\"",
	    s->cfg.name, oauth2_grant_name(s->cfg.grant), result);
	oauth2_source_kick(s);
	return true;
}

/*
 * A refresh ended with a failure: back off, fail the waiters, log. status
 * is the HTTP status (0: none), error and description the server's (may
 * be NULL), reason the waiters' detail, note more for the log only.
 */
static void
oauth2_source_failed(struct oauth2_source *s, long status, const char *error,
    const char *description, const char *reason, const char *note,
    bool severe)
{
	struct oauth2_mgr	*m = s->mgr;
	char			 detail[OAUTH2_MAX_DETAIL];
	char			 ecode[OAUTH2_MAX_ERROR + 1];
	char			 edesc[OAUTH2_LOG_TEXT], enote[OAUTH2_LOG_TEXT];
	char			 ereason[OAUTH2_LOG_TEXT];
	unsigned int		 b, delay, n;
	uint64_t		 now = oauth2_now_ms();

	if (oauth2_source_stale(s, "failed"))
		return;
	s->op = OAUTH2_OP_NONE;
	b = s->backoff_ms == 0 ? m->set.backoff_min_ms :
	    (s->backoff_ms > m->set.backoff_max_ms / 2 ?
	    m->set.backoff_max_ms : s->backoff_ms * 2);
	s->backoff_ms = b;
	/* Up to a quarter more, so sources that failed together (one
	 * outage) do not all come back in the same millisecond. */
	delay = b + (unsigned int)(oauth2_random(m) % (b / 4 + 1));
	if (delay > m->set.backoff_max_ms)
		delay = m->set.backoff_max_ms;
	snprintf(detail, sizeof(detail), "%s, retry in %lu s", reason,
	    oauth2_seconds(delay));

	pthread_mutex_lock(&m->lock);
	s->busy = false;
	s->wanted = false;
	s->backoff_until_ms = now + delay;
	snprintf(s->fail_reason, sizeof(s->fail_reason), "%s", reason);
	n = oauth2_complete_all(s, OAUTH2_FAILED, detail);
	pthread_mutex_unlock(&m->lock);

	log_value(ecode, sizeof(ecode), error != NULL ? error : "-");
	oauth2_escape(edesc, sizeof(edesc), description != NULL ?
	    description : "", description != NULL ? strlen(description) : 0);
	oauth2_escape(enote, sizeof(enote), note != NULL ? note : "",
	    note != NULL ? strlen(note) : 0);
	/* The reason may quote the server's error code: escaped too. */
	oauth2_escape(ereason, sizeof(ereason), reason, strlen(reason));
	log_event(severe ? CONFIG_LOG_ERROR : CONFIG_LOG_WARN,
	    "oauth2-refresh", "source=%s grant=%s result=failed status=%ld "
	    "error=%s description=\"%s\" reason=\"%s\" note=\"%s\" "
	    "retry_in_ms=%u waiters=%u ms=%llu", s->cfg.name,
	    oauth2_grant_name(s->cfg.grant), status, ecode, edesc, ereason,
	    enote, delay, n, (unsigned long long)(now - s->started_ms));
}

/* A refresh succeeded: cache the token, hand it to the waiters, log. */
static void
oauth2_source_succeeded(struct oauth2_source *s, const char *token,
    size_t len, long expires_in, bool rotated, const char *persisted)
{
	struct oauth2_mgr	*m = s->mgr;
	uint64_t		 now = oauth2_now_ms(), life, margin, guard;
	unsigned int		 n;
	char			 fp[9];

	if (oauth2_source_stale(s, "ok"))
		return;
	s->op = OAUTH2_OP_NONE;
	s->backoff_ms = 0;
	life = (uint64_t)expires_in * 1000;
	margin = m->set.refresh_margin_ms;
	if (margin > life / 2)
		margin = life / 2;
	guard = margin / 2 < OAUTH2_GUARD_MS ? margin / 2 : OAUTH2_GUARD_MS;
	oauth2_fingerprint(token, len, fp);

	pthread_mutex_lock(&m->lock);
	oauth2_json_wipe(s->access, s->access_len);
	memcpy(s->access, token, len);
	s->access[len] = '\0';
	s->access_len = len;
	/* Counted from when the request left: the server's clock started
	 * no earlier. */
	s->expires_at_ms = s->started_ms + life;
	s->refresh_at_ms = s->expires_at_ms - margin;
	s->usable_until_ms = s->expires_at_ms - guard;
	s->busy = false;
	s->wanted = false;
	s->backoff_until_ms = 0;
	s->fail_reason[0] = '\0';
	/* A lifetime shorter than the fetch (a slow command, a skewed
	 * server): nobody gets a token that is already spent. */
	if (now >= s->usable_until_ms)
		n = oauth2_complete_all(s, OAUTH2_FAILED, "the token expired "
		    "before it arrived (lifetime shorter than the fetch)");
	else
		n = oauth2_complete_all(s, OAUTH2_READY, NULL);
	pthread_mutex_unlock(&m->lock);

	log_info("oauth2-refresh", "source=%s grant=%s result=ok "
	    "expires_in=%ld rotated=%s%s%s token_fp=%s waiters=%u ms=%llu",
	    s->cfg.name, oauth2_grant_name(s->cfg.grant), expires_in,
	    rotated ? "yes" : "no", persisted != NULL ? " persisted=" : "",
	    persisted != NULL ? persisted : "", fp, n,
	    (unsigned long long)(now - s->started_ms));
}

/* Starts a refresh (busy is set). */
static void
oauth2_source_start(struct oauth2_source *s, bool load_only)
{
	s->load_only = load_only;
	s->op_gen = s->gen;
	s->started_ms = oauth2_now_ms();
	switch (s->cfg.grant) {
	case CONFIG_OAUTH2_REFRESH_TOKEN:
		/*
		 * The file first, every time: an admin command (account test,
		 * bootstrap) may have rotated the token since, and a spent
		 * one must not be offered (some servers revoke the whole
		 * grant when a rotated token comes back).
		 */
		if (!s->refresh_loaded || !s->persist_failed)
			oauth2_source_read(s);
		else
			oauth2_source_post(s);
		break;
	case CONFIG_OAUTH2_CLIENT_CREDENTIALS:
		oauth2_source_post(s);
		break;
	case CONFIG_OAUTH2_COMMAND:
		oauth2_source_spawn(s);
		break;
	}
}

/* Starts a refresh if one is wanted and may run now. */
static void
oauth2_source_kick(struct oauth2_source *s)
{
	struct oauth2_mgr	*m = s->mgr;
	bool			 start = false;

	pthread_mutex_lock(&m->lock);
	if (!s->removed && !m->closing && !s->busy && s->wanted &&
	    oauth2_now_ms() >= s->backoff_until_ms) {
		s->wanted = false;
		s->busy = true;
		start = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (start)
		oauth2_source_start(s, false);
}

/* ---- refresh token files ---- */

long
oauth2_refresh_read(const char *path, char *token, size_t tokenlen,
    bool *loose, char *why, size_t whylen)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 r;
	size_t		 len = 0, a, b, i;
	long		 result = -1;
	int		 fd;

	*loose = false;
	/* O_NONBLOCK: a FIFO in its place must not hold a pool thread
	 * (and the shutdown) forever; it is refused as not regular below. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(why, whylen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((buf = malloc(OAUTH2_REFRESH_FILE_MAX + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		close(fd);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		goto done;
	}
	*loose = (st.st_mode & 077) != 0;
	while (len <= OAUTH2_REFRESH_FILE_MAX) {
		r = read(fd, buf + len, OAUTH2_REFRESH_FILE_MAX + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(why, whylen, "cannot read %s: %s", path,
			    strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > OAUTH2_REFRESH_FILE_MAX) {
		snprintf(why, whylen, "%s is too large for a refresh token",
		    path);
		goto done;
	}
	for (a = 0; a < len && (buf[a] == ' ' || buf[a] == '\t' ||
	    buf[a] == '\r' || buf[a] == '\n'); a++)
		;
	for (b = len; b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' ||
	    buf[b - 1] == '\r' || buf[b - 1] == '\n'); b--)
		;
	if (a == b) {
		snprintf(why, whylen, "%s is empty", path);
		goto done;
	}
	for (i = a; i < b; i++)
		if (buf[i] == '\n') {
			snprintf(why, whylen, "%s has more than one line",
			    path);
			goto done;
		}
	if (!oauth2_token_ok(buf + a, b - a) || b - a >= tokenlen) {
		snprintf(why, whylen, "%s does not hold a valid refresh token",
		    path);
		goto done;
	}
	memcpy(token, buf + a, b - a);
	token[b - a] = '\0';
	result = (long)(b - a);
done:
	oauth2_json_wipe(buf, OAUTH2_REFRESH_FILE_MAX + 1);
	free(buf);
	close(fd);
	return result;
}

int
oauth2_refresh_store(const char *path, const char *token, size_t len,
    char *why, size_t whylen)
{
	char	*line;
	int	 r;

	if ((line = malloc(len + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	memcpy(line, token, len);
	line[len] = '\n';
	r = atomic_file_replace(path, line, len + 1, S_IRUSR | S_IWUSR, why,
	    whylen);
	explicit_bzero(line, len + 1);
	free(line);
	return r;
}

static void
oauth2_job_run(uv_work_t *work)
{
	struct oauth2_job	*job = work->data;

	if (job->store)
		job->result = oauth2_refresh_store(job->path, job->token,
		    strlen(job->token), job->why, sizeof(job->why));
	else
		job->len = oauth2_refresh_read(job->path, job->token,
		    sizeof(job->token), &job->loose, job->why,
		    sizeof(job->why));
}

static void
oauth2_job_free(struct oauth2_job *job)
{
	oauth2_json_wipe(job, sizeof(*job));
	free(job);
}

static void oauth2_read_done(uv_work_t *work, int status);
static void oauth2_persist_done(uv_work_t *work, int status);

/* Queues a read or a write of s's file (token: what to write). */
static int
oauth2_job_queue(struct oauth2_source *s, const char *token, size_t len)
{
	struct oauth2_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return -1;
	job->work.data = job;
	job->src = s;
	job->store = token != NULL;
	snprintf(job->path, sizeof(job->path), "%s",
	    s->cfg.refresh_token_file);
	if (token != NULL) {
		memcpy(job->token, token, len);
		job->token[len] = '\0';
	}
	if (uv_queue_work(s->mgr->loop, &job->work, oauth2_job_run,
	    token != NULL ? oauth2_persist_done : oauth2_read_done) != 0) {
		oauth2_job_free(job);
		return -1;
	}
	s->refs++;
	s->mgr->pending++;
	return 0;
}

/* Common end of a job: false if its source is gone (job freed). */
static bool
oauth2_job_end(struct oauth2_job *job)
{
	struct oauth2_source	*s = job->src;
	struct oauth2_mgr	*m = s->mgr;

	m->pending--;
	if (!s->removed) {
		oauth2_source_release(s);
		return true;
	}
	oauth2_job_free(job);
	oauth2_source_release(s);
	oauth2_mgr_maybe_done(m);
	return false;
}

static void
oauth2_source_read(struct oauth2_source *s)
{
	s->op = OAUTH2_OP_READ;
	if (oauth2_job_queue(s, NULL, 0) == -1)
		oauth2_source_failed(s, 0, NULL, NULL,
		    "cannot read the refresh token file", "out of memory",
		    true);
}

static void
oauth2_read_done(uv_work_t *work, int status)
{
	struct oauth2_job	*job = work->data;
	struct oauth2_source	*s = job->src;
	struct oauth2_mgr	*m = s->mgr;
	char			 fp[9], reason[OAUTH2_MAX_DETAIL];
	bool			 more;

	(void)status;
	if (!oauth2_job_end(job))
		return;
	s->op = OAUTH2_OP_NONE;
	if (job->len < 0) {
		oauth2_source_failed(s, 0, NULL, NULL,
		    "no usable refresh token file", job->why, true);
		goto done;
	}
	if (job->loose)
		log_warn("oauth2-refresh-file", "source=%s file=%s "
		    "reason=\"readable or writable by group or others; "
		    "chmod 600 it\"", s->cfg.name, s->cfg.refresh_token_file);
	oauth2_fingerprint(job->token, (size_t)job->len, fp);
	if (strcmp(fp, s->dead_fp) == 0) {
		snprintf(reason, sizeof(reason), "refresh token refused "
		    "(invalid_grant); run popgate account bootstrap %s",
		    s->cfg.name);
		oauth2_source_failed(s, 0, NULL, NULL, reason,
		    "the file still holds the refused token", true);
		goto done;
	}
	memcpy(s->refresh, job->token, (size_t)job->len + 1);
	s->refresh_len = (size_t)job->len;
	s->refresh_loaded = true;
	pthread_mutex_lock(&m->lock);
	s->has_refresh = true;
	more = !s->load_only || s->wanted || !TAILQ_EMPTY(&s->waiters);
	if (more)
		s->wanted = false;
	else
		s->busy = false;
	pthread_mutex_unlock(&m->lock);
	if (more)
		oauth2_source_post(s);
done:
	oauth2_job_free(job);
}

static void
oauth2_persist_done(uv_work_t *work, int status)
{
	struct oauth2_job	*job = work->data;
	struct oauth2_source	*s = job->src;
	struct oauth2_token_response *tok;
	char			 why[OAUTH2_LOG_TEXT];
	bool			 ok = job->result == 0;

	(void)status;
	job->src->persist_failed = !ok;
	if (!ok) {
		oauth2_escape(why, sizeof(why), job->why, strlen(job->why));
		log_error("oauth2-refresh-store", "source=%s file=%s "
		    "result=failed reason=\"%s\" note=\"the rotated refresh "
		    "token is kept in memory only and is lost on restart; "
		    "run popgate account bootstrap %s after a restart\"",
		    job->src->cfg.name, job->src->cfg.refresh_token_file, why,
		    job->src->cfg.name);
	}
	if (!oauth2_job_end(job))
		return;
	oauth2_job_free(job);
	tok = s->resp;
	s->resp = NULL;
	oauth2_source_succeeded(s, tok->access_token, tok->access_token_len,
	    tok->expires_in, true, ok ? "yes" : "no");
	oauth2_json_wipe(tok, sizeof(*tok));
	free(tok);
}

/* ---- token endpoint ---- */

/* The refresh token was refused for good. */
static void
oauth2_source_dead(struct oauth2_source *s)
{
	oauth2_fingerprint(s->refresh, s->refresh_len, s->dead_fp);
	oauth2_json_wipe(s->refresh, sizeof(s->refresh));
	s->refresh_len = 0;
	s->refresh_loaded = false;	/* re-read: an admin may fix it */
	pthread_mutex_lock(&s->mgr->lock);
	s->has_refresh = false;
	pthread_mutex_unlock(&s->mgr->lock);
}

/* A token answer with a token in it. tok is ours to keep or free. */
static void
oauth2_source_token(struct oauth2_source *s, struct oauth2_token_response *tok)
{
	bool	rotated;

	rotated = s->cfg.grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
	    tok->refresh_token_len > 0 &&
	    (tok->refresh_token_len != s->refresh_len ||
	    memcmp(tok->refresh_token, s->refresh, s->refresh_len) != 0);
	if (!rotated) {
		oauth2_source_succeeded(s, tok->access_token,
		    tok->access_token_len, tok->expires_in, false, NULL);
		oauth2_json_wipe(tok, sizeof(*tok));
		free(tok);
		return;
	}
	/* The old refresh token is spent: never send it again. */
	memcpy(s->refresh, tok->refresh_token, tok->refresh_token_len + 1);
	s->refresh_len = tok->refresh_token_len;
	s->resp = tok;
	s->op = OAUTH2_OP_PERSIST;
	if (oauth2_job_queue(s, s->refresh, s->refresh_len) == 0)
		return;
	log_error("oauth2-refresh-store", "source=%s file=%s result=failed "
	    "reason=\"cannot queue the write\" note=\"the rotated refresh "
	    "token is kept in memory only and is lost on restart\"",
	    s->cfg.name, s->cfg.refresh_token_file);
	s->resp = NULL;
	oauth2_source_succeeded(s, tok->access_token, tok->access_token_len,
	    tok->expires_in, true, "no");
	oauth2_json_wipe(tok, sizeof(*tok));
	free(tok);
}

/*
 * The answer to a refresh of a source that was removed meanwhile (a
 * reload moved it to another file, or away): nobody waits for the access
 * token, but a rotated refresh token is the only live one of its line
 * now, so it still goes to the source's file.
 */
static void
oauth2_source_orphan(struct oauth2_source *s, long status, const char *body,
    size_t len, const char *error)
{
	struct oauth2_token_response	*tok;
	struct oauth2_error_response	 err;
	char				 why[128];

	if (error != NULL || status != 200 ||
	    (tok = malloc(sizeof(*tok))) == NULL)
		return;
	if (oauth2_json_token(body, len, tok, &err, why, sizeof(why)) ==
	    OAUTH2_JSON_TOKEN && tok->refresh_token_len > 0 &&
	    (tok->refresh_token_len != s->refresh_len ||
	    memcmp(tok->refresh_token, s->refresh, s->refresh_len) != 0)) {
		memcpy(s->refresh, tok->refresh_token,
		    tok->refresh_token_len + 1);
		s->refresh_len = tok->refresh_token_len;
		log_info("oauth2-refresh", "source=%s grant=%s result=ok "
		    "removed=yes rotated=yes note=\"the source was removed "
		    "meanwhile; its new refresh token is still saved to %s\"",
		    s->cfg.name, oauth2_grant_name(s->cfg.grant),
		    s->cfg.refresh_token_file);
		if (oauth2_job_queue(s, s->refresh, s->refresh_len) != 0)
			log_error("oauth2-refresh-store", "source=%s file=%s "
			    "result=failed reason=\"cannot queue the write\"",
			    s->cfg.name, s->cfg.refresh_token_file);
	}
	oauth2_json_wipe(tok, sizeof(*tok));
	free(tok);
}

static void
oauth2_on_http(void *arg, long status, const char *body, size_t len,
    const char *error)
{
	struct oauth2_source		*s = arg;
	struct oauth2_token_response	*tok;
	struct oauth2_error_response	 err;
	enum oauth2_json_result		 r;
	char				 why[128], reason[OAUTH2_MAX_DETAIL];
	bool				 invalid_grant;

	s->req = NULL;
	s->op = OAUTH2_OP_NONE;
	if (s->removed) {
		struct oauth2_mgr	*m = s->mgr;

		if (s->orphan) {
			s->orphan = false;
			LIST_REMOVE(s, orphans);
		}
		oauth2_source_orphan(s, status, body, len, error);
		oauth2_source_release(s);
		/* Not from inside the HTTP client's own callback. */
		if (m->closing && LIST_EMPTY(&m->orphans))
			uv_async_send(&m->wakeup);
		return;
	}
	oauth2_source_release(s);	/* the table still holds one */
	if (error != NULL) {
		oauth2_source_failed(s, status, NULL, NULL, status == 0 ?
		    "token endpoint unreachable" :
		    "bad answer from the token endpoint", error, false);
		return;
	}
	if ((tok = malloc(sizeof(*tok))) == NULL) {
		oauth2_source_failed(s, status, NULL, NULL, "out of memory",
		    NULL, true);
		return;
	}
	r = oauth2_json_token(body, len, tok, &err, why, sizeof(why));
	if (r == OAUTH2_JSON_TOKEN && status == 200) {
		oauth2_source_token(s, tok);
		return;
	}
	oauth2_json_wipe(tok, sizeof(*tok));
	free(tok);
	if (r == OAUTH2_JSON_ERROR) {
		invalid_grant = s->cfg.grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
		    strcmp(err.error, "invalid_grant") == 0;
		if (invalid_grant) {
			oauth2_source_dead(s);
			snprintf(reason, sizeof(reason), "refresh token "
			    "refused (invalid_grant); run popgate account "
			    "bootstrap %s", s->cfg.name);
		} else
			snprintf(reason, sizeof(reason), "token endpoint "
			    "refused: %s", err.error);
		oauth2_source_failed(s, status, err.error, err.description,
		    reason, invalid_grant ? "the refresh token is no longer "
		    "valid (revoked, expired or already used); get a new one "
		    "with popgate account bootstrap" : NULL, invalid_grant ||
		    strcmp(err.error, "invalid_client") == 0 ||
		    strcmp(err.error, "unauthorized_client") == 0);
		return;
	}
	if (status != 200)
		snprintf(reason, sizeof(reason), "token endpoint answered "
		    "HTTP %ld", status);
	else
		snprintf(reason, sizeof(reason), "bad answer from the token "
		    "endpoint");
	oauth2_source_failed(s, status, NULL, NULL, reason, why, false);
}

static void
oauth2_source_post(struct oauth2_source *s)
{
	struct oauth2_mgr	*m = s->mgr;
	struct oauth2_form	 f;
	const struct config_oauth2 *c = &s->cfg;
	const char		*body;
	char			 err[HTTP_MAX_ERROR];

	oauth2_form_init(&f);
	if (c->grant == CONFIG_OAUTH2_REFRESH_TOKEN) {
		oauth2_form_add(&f, "grant_type", "refresh_token");
		oauth2_form_add(&f, "refresh_token", s->refresh);
	} else
		oauth2_form_add(&f, "grant_type", "client_credentials");
	oauth2_form_add(&f, "client_id", c->client_id);
	if (c->client_secret[0] != '\0')
		oauth2_form_add(&f, "client_secret", c->client_secret);
	if (c->scope[0] != '\0')
		oauth2_form_add(&f, "scope", c->scope);
	s->op = OAUTH2_OP_HTTP;
	s->op_gen = s->gen;	/* the settings this request is made with */
	if ((body = oauth2_form_body(&f)) == NULL)
		snprintf(err, sizeof(err), "out of memory");
	else
		s->req = http_post_form(m->http, c->token_url, body,
		    c->ca_file, m->set.http_timeout_ms, oauth2_on_http, s, err,
		    sizeof(err));
	oauth2_form_free(&f);
	if (s->req == NULL)
		oauth2_source_failed(s, 0, NULL, NULL,
		    "cannot reach the token endpoint", err, true);
	else
		s->refs++;	/* a removed source may still hear back */
}

/* ---- commands ---- */

static void
oauth2_child_closed(uv_handle_t *h)
{
	struct oauth2_child	*ch = h->data;
	struct oauth2_mgr	*m = ch->mgr;

	if (--ch->open > 0)
		return;
	oauth2_json_wipe(ch, sizeof(*ch));
	free(ch);
	m->pending--;
	oauth2_mgr_maybe_done(m);
}

static void
oauth2_child_close(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, oauth2_child_closed);
}

/*
 * Kills the command and everything it started (its own process group).
 * After the shell exited, a member still holding its stdout or stderr
 * open keeps the group id from being reused, so the group is still ours
 * to kill; once both are closed too, nothing of it is left.
 */
static void
oauth2_child_kill(struct oauth2_child *ch)
{
	if (ch->proc.pid > 0 && (!ch->exited || !ch->out_done ||
	    !ch->err_done))
		uv_kill(-ch->proc.pid, SIGKILL);
}

/* True if stderr shows (part of) the token: all of it, its first 16
 * octets, or, when stderr was cut, a start of it at the very end. */
static bool
oauth2_child_leaks(const struct oauth2_child *ch, const char *token,
    size_t len)
{
	size_t	head = len < 16 ? len : 16, k;

	if (len == 0)
		return false;
	if (memmem(ch->errbuf, ch->errlen, token, head) != NULL)
		return true;
	for (k = 1; ch->err_cut && k < head && k <= ch->errlen; k++)
		if (memcmp(ch->errbuf + ch->errlen - k, token, k) == 0)
			return true;
	return false;
}

/* The command's stderr as one log line, unless it holds the token. */
static void
oauth2_child_log_stderr(struct oauth2_child *ch, const char *name,
    const char *token, size_t len, bool failed)
{
	char	text[512];
	size_t	n = ch->errlen;

	/* The final newline is no news. */
	while (n > 0 && (ch->errbuf[n - 1] == '\n' ||
	    ch->errbuf[n - 1] == '\r' || ch->errbuf[n - 1] == ' '))
		n--;
	if (n == 0)
		return;
	if (oauth2_child_leaks(ch, token, len)) {
		log_warn("oauth2-command", "source=%s stderr=withheld "
		    "reason=\"it contains the token\"", name);
		return;
	}
	oauth2_escape(text, sizeof(text), ch->errbuf, n);
	log_event(failed ? CONFIG_LOG_WARN : CONFIG_LOG_INFO,
	    "oauth2-command", "source=%s stderr=\"%s%s\"", name, text,
	    ch->err_cut ? "..." : "");
}

/* The first line of stdout that is not blank, trimmed: [*a, *b). */
static bool
oauth2_child_line(const struct oauth2_child *ch, size_t *ap, size_t *bp)
{
	const char	*o = ch->outbuf;
	size_t		 a, b, e;

	for (a = 0; a < ch->outlen; a = e + 1) {
		for (e = a; e < ch->outlen && o[e] != '\n'; e++)
			;
		b = e;
		while (a < b && (o[a] == ' ' || o[a] == '\t' || o[a] == '\r'))
			a++;
		while (b > a && (o[b - 1] == ' ' || o[b - 1] == '\t' ||
		    o[b - 1] == '\r'))
			b--;
		if (b > a) {
			*ap = a;
			*bp = b;
			return true;
		}
	}
	*ap = *bp = 0;
	return false;
}

/* The command is over (or has to be): report to the source, once. */
static void
oauth2_child_finish(struct oauth2_child *ch)
{
	struct oauth2_source	*s = ch->src;
	char			 reason[OAUTH2_MAX_DETAIL];
	size_t			 a, b;
	unsigned int		 timeout;
	bool			 line;

	if (ch->finished)
		return;
	ch->finished = true;
	uv_timer_stop(&ch->timer);
	oauth2_child_close((uv_handle_t *)&ch->timer);
	oauth2_child_close((uv_handle_t *)&ch->out);
	oauth2_child_close((uv_handle_t *)&ch->err);
	if (s == NULL)
		return;
	ch->src = NULL;
	s->child = NULL;
	s->op = OAUTH2_OP_NONE;
	timeout = s->cfg.command_timeout_ms != 0 ? s->cfg.command_timeout_ms :
	    OAUTH2_DEFAULT_COMMAND_TIMEOUT_MS;
	/* Even a failed command may have printed its token. */
	line = oauth2_child_line(ch, &a, &b);
	oauth2_child_log_stderr(ch, s->cfg.name, ch->outbuf + a, b - a,
	    !line || ch->timed_out || ch->overflow || ch->status != 0 ||
	    ch->term_signal != 0);
	if (ch->timed_out)
		snprintf(reason, sizeof(reason), "token command timed out "
		    "after %u ms", timeout);
	else if (ch->overflow)
		snprintf(reason, sizeof(reason), "token command printed more "
		    "than %d octets", OAUTH2_COMMAND_MAX_STDOUT);
	else if (ch->term_signal != 0)
		snprintf(reason, sizeof(reason), "token command killed by "
		    "signal %d", ch->term_signal);
	else if (ch->status != 0)
		snprintf(reason, sizeof(reason), "token command exited with "
		    "status %lld", (long long)ch->status);
	else if (!line)
		snprintf(reason, sizeof(reason), "token command printed no "
		    "token");
	else if (!oauth2_token_ok(ch->outbuf + a, b - a))
		snprintf(reason, sizeof(reason), "token command printed "
		    "something that is not a token");
	else {
		oauth2_source_succeeded(s, ch->outbuf + a, b - a,
		    s->cfg.command_lifetime_s != 0 ?
		    (long)s->cfg.command_lifetime_s :
		    OAUTH2_DEFAULT_COMMAND_LIFETIME_S, false, NULL);
		return;
	}
	oauth2_source_failed(s, 0, NULL, NULL, reason, NULL, false);
}

static void
oauth2_child_check(struct oauth2_child *ch)
{
	if (ch->exited && ch->out_done && ch->err_done)
		oauth2_child_finish(ch);
}

static void
oauth2_child_on_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct oauth2_child	*ch = p->data;

	ch->exited = true;
	ch->status = status;
	ch->term_signal = term_signal;
	oauth2_child_close((uv_handle_t *)p);
	oauth2_child_check(ch);
}

static void
oauth2_child_on_timeout(uv_timer_t *t)
{
	struct oauth2_child	*ch = t->data;

	ch->timed_out = true;
	oauth2_child_kill(ch);
	oauth2_child_finish(ch);
}

static void
oauth2_child_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct oauth2_child	*ch = h->data;

	(void)suggested;
	*buf = uv_buf_init(ch->readbuf, sizeof(ch->readbuf));
}

static void
oauth2_child_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct oauth2_child	*ch = stream->data;
	size_t			 n, room;

	(void)buf;
	if (nread < 0) {
		if (stream == (uv_stream_t *)&ch->out)
			ch->out_done = true;
		else
			ch->err_done = true;
		oauth2_child_close((uv_handle_t *)stream);
		oauth2_child_check(ch);
		return;
	}
	n = (size_t)nread;
	if (stream == (uv_stream_t *)&ch->out) {
		if (n > OAUTH2_COMMAND_MAX_STDOUT - ch->outlen) {
			ch->overflow = true;
			oauth2_child_kill(ch);
			oauth2_child_finish(ch);
			return;
		}
		memcpy(ch->outbuf + ch->outlen, ch->readbuf, n);
		ch->outlen += n;
	} else {
		room = sizeof(ch->errbuf) - ch->errlen;
		if (n > room) {
			ch->err_cut = true;
			n = room;
		}
		memcpy(ch->errbuf + ch->errlen, ch->readbuf, n);
		ch->errlen += n;
	}
	oauth2_json_wipe(ch->readbuf, (size_t)nread);
}

static void
oauth2_source_spawn(struct oauth2_source *s)
{
	struct oauth2_mgr	*m = s->mgr;
	struct oauth2_child	*ch;
	uv_process_options_t	 opt;
	uv_stdio_container_t	 stdio[3];
	char			*args[4];
	char			 why[128];
	unsigned int		 timeout = s->cfg.command_timeout_ms;
	int			 r;

	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		oauth2_source_failed(s, 0, NULL, NULL,
		    "cannot start the token command", "out of memory", true);
		return;
	}
	ch->mgr = m;
	uv_pipe_init(m->loop, &ch->out, 0);
	uv_pipe_init(m->loop, &ch->err, 0);
	uv_timer_init(m->loop, &ch->timer);
	ch->out.data = ch->err.data = ch->timer.data = ch;
	ch->open = 3;
	m->pending++;

	args[0] = "/bin/sh";
	args[1] = "-c";
	args[2] = s->cfg.command;
	args[3] = NULL;
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;	/* /dev/null */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&ch->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&ch->err;
	memset(&opt, 0, sizeof(opt));
	opt.file = args[0];
	opt.args = args;
	opt.exit_cb = oauth2_child_on_exit;
	opt.stdio = stdio;
	opt.stdio_count = 3;
	/* Its own session, so the timeout kills what it started too. */
	opt.flags = UV_PROCESS_DETACHED;
	r = uv_spawn(m->loop, &ch->proc, &opt);
	ch->proc.data = ch;
	ch->open++;	/* the process handle, started or not */
	if (r != 0) {
		ch->finished = true;
		oauth2_child_close((uv_handle_t *)&ch->proc);
		oauth2_child_close((uv_handle_t *)&ch->timer);
		oauth2_child_close((uv_handle_t *)&ch->out);
		oauth2_child_close((uv_handle_t *)&ch->err);
		snprintf(why, sizeof(why), "%s", uv_strerror(r));
		oauth2_source_failed(s, 0, NULL, NULL,
		    "cannot start the token command", why, true);
		return;
	}
	ch->src = s;
	s->child = ch;
	s->op = OAUTH2_OP_COMMAND;
	uv_read_start((uv_stream_t *)&ch->out, oauth2_child_alloc,
	    oauth2_child_on_read);
	uv_read_start((uv_stream_t *)&ch->err, oauth2_child_alloc,
	    oauth2_child_on_read);
	uv_timer_start(&ch->timer, oauth2_child_on_timeout, timeout != 0 ?
	    timeout : OAUTH2_DEFAULT_COMMAND_TIMEOUT_MS, 0);
}

/* ---- removal ---- */

/*
 * Stops whatever s is doing; s is already out of the table. A refresh
 * token request is left to finish unless force (shutdown): its answer may
 * rotate the refresh token, which must then be saved.
 */
static void
oauth2_source_stop(struct oauth2_source *s, bool force)
{
	struct oauth2_child	*ch;

	if (s->req != NULL && !force &&
	    s->cfg.grant == CONFIG_OAUTH2_REFRESH_TOKEN) {
		if (!s->orphan) {
			s->orphan = true;
			LIST_INSERT_HEAD(&s->mgr->orphans, s, orphans);
		}
		return;
	}
	if (s->orphan) {
		s->orphan = false;
		LIST_REMOVE(s, orphans);
	}
	if (s->req != NULL) {
		http_request_cancel(s->req);
		s->req = NULL;
		oauth2_source_release(s);	/* the request's reference */
	}
	if ((ch = s->child) != NULL) {
		s->child = NULL;
		ch->src = NULL;
		oauth2_child_kill(ch);
		oauth2_child_finish(ch);
	}
	/* READ and PERSIST jobs hold a reference and see "removed". */
	s->op = OAUTH2_OP_NONE;
}

/* ---- manager ---- */

static void	oauth2_mgr_finish_close(struct oauth2_mgr *m);

static void
oauth2_mgr_on_wakeup(uv_async_t *a)
{
	struct oauth2_mgr	*m = a->data;
	unsigned int		 i;

	/* Closing: the last refresh whose rotated token must be saved has
	 * answered. */
	if (m->closing) {
		if (LIST_EMPTY(&m->orphans))
			oauth2_mgr_finish_close(m);
		return;
	}
	/* Only this thread changes the table. */
	for (i = 0; i < m->nsrc; i++)
		oauth2_source_kick(m->src[i]);
}

struct oauth2_mgr *
oauth2_mgr_new(uv_loop_t *loop, const struct oauth2_settings *s)
{
	struct oauth2_mgr	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->loop = loop;
	if (s != NULL)
		m->set = *s;
	if (m->set.refresh_margin_ms == 0)
		m->set.refresh_margin_ms = OAUTH2_DEFAULT_MARGIN_MS;
	if (m->set.backoff_min_ms == 0)
		m->set.backoff_min_ms = OAUTH2_DEFAULT_BACKOFF_MIN_MS;
	if (m->set.backoff_max_ms == 0)
		m->set.backoff_max_ms = OAUTH2_DEFAULT_BACKOFF_MAX_MS;
	if (m->set.backoff_max_ms < m->set.backoff_min_ms)
		m->set.backoff_max_ms = m->set.backoff_min_ms;
	if (m->set.http_timeout_ms == 0)
		m->set.http_timeout_ms = OAUTH2_DEFAULT_HTTP_TIMEOUT_MS;
	m->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^
	    (uint64_t)(uintptr_t)m;
	if (m->rng == 0)
		m->rng = 1;
	LIST_INIT(&m->clients);
	LIST_INIT(&m->orphans);
	if ((m->http = http_client_new(loop)) == NULL) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	uv_async_init(loop, &m->wakeup, oauth2_mgr_on_wakeup);
	m->wakeup.data = m;
	return m;
}

static bool
oauth2_cfg_equal(const struct config_oauth2 *a, const struct config_oauth2 *b)
{
	return strcmp(a->name, b->name) == 0 && a->grant == b->grant &&
	    strcmp(a->token_url, b->token_url) == 0 &&
	    strcmp(a->device_url, b->device_url) == 0 &&
	    strcmp(a->client_id, b->client_id) == 0 &&
	    strcmp(a->client_secret, b->client_secret) == 0 &&
	    strcmp(a->scope, b->scope) == 0 &&
	    strcmp(a->refresh_token_file, b->refresh_token_file) == 0 &&
	    strcmp(a->command, b->command) == 0 &&
	    a->command_timeout_ms == b->command_timeout_ms &&
	    a->command_lifetime_s == b->command_lifetime_s &&
	    strcmp(a->ca_file, b->ca_file) == 0;
}

/* NULL if c can serve, else why not. */
static const char *
oauth2_cfg_check(const struct config_oauth2 *c, char *buf, size_t len)
{
	if (c->name[0] == '\0')
		return "no name";
	switch (c->grant) {
	case CONFIG_OAUTH2_REFRESH_TOKEN:
	case CONFIG_OAUTH2_CLIENT_CREDENTIALS:
		if (c->grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
		    c->refresh_token_file[0] == '\0')
			return "no refresh_token_file";
		if (c->client_id[0] == '\0')
			return "no client_id";
		if (c->token_url[0] == '\0')
			return "no token_url";
		if (http_url_check(c->token_url, buf, len) != 0)
			return buf;
		break;
	case CONFIG_OAUTH2_COMMAND:
		if (c->command[0] == '\0')
			return "no command";
		break;
	}
	return NULL;
}

/* Same name, and the same line of refresh tokens (one file): a changed
 * source of this kind is reconfigured in place, so that a refresh in
 * flight and its rotated refresh token are not lost. */
static bool
oauth2_cfg_same_line(const struct config_oauth2 *a,
    const struct config_oauth2 *b)
{
	return strcmp(a->name, b->name) == 0 &&
	    a->grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
	    b->grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
	    strcmp(a->refresh_token_file, b->refresh_token_file) == 0;
}

/* Under lock: new settings for s. Its cached access token and back-off
 * go; its refresh token stays unless it was asked for by another client
 * or at another endpoint (then the file is read again). */
static void
oauth2_source_reconfigure(struct oauth2_source *s,
    const struct config_oauth2 *c)
{
	bool	other = strcmp(s->cfg.client_id, c->client_id) != 0 ||
	    strcmp(s->cfg.token_url, c->token_url) != 0;

	s->cfg = *c;
	s->gen++;
	oauth2_json_wipe(s->access, s->access_len);
	s->access_len = 0;
	s->refresh_at_ms = s->usable_until_ms = s->expires_at_ms = 0;
	s->backoff_until_ms = 0;
	s->backoff_ms = 0;
	s->fail_reason[0] = '\0';
	if (other && !s->busy) {
		oauth2_json_wipe(s->refresh, sizeof(s->refresh));
		s->refresh_len = 0;
		s->refresh_loaded = false;
		s->has_refresh = false;
		s->dead_fp[0] = '\0';
	}
}

static struct oauth2_source *
oauth2_source_new(struct oauth2_mgr *m, const struct config_oauth2 *c)
{
	struct oauth2_source	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->mgr = m;
	s->cfg = *c;
	s->refs = 1;
	TAILQ_INIT(&s->waiters);
	return s;
}

int
oauth2_mgr_set_sources(struct oauth2_mgr *m, const struct config_oauth2 *v,
    unsigned int n)
{
	struct oauth2_source	*next[CONFIG_MAX_OAUTH2];
	struct oauth2_source	*gone[CONFIG_MAX_OAUTH2];
	struct oauth2_source	*old, *s;
	struct oauth2_wait	*w;
	const char		*why;
	char			 buf[HTTP_MAX_ERROR], detail[OAUTH2_MAX_DETAIL];
	unsigned int		 i, j, ngone = 0;
	bool			 keep[CONFIG_MAX_OAUTH2];
	bool			 fresh[CONFIG_MAX_OAUTH2];
	bool			 reconf[CONFIG_MAX_OAUTH2], load;

	if (m->closing)
		return -EINVAL;
	if (n > CONFIG_MAX_OAUTH2) {
		log_error("oauth2-config", "reason=\"more than %d token "
		    "sources\"", CONFIG_MAX_OAUTH2);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		why = oauth2_cfg_check(&v[i], buf, sizeof(buf));
		for (j = 0; why == NULL && j < i; j++)
			if (strcmp(v[i].name, v[j].name) == 0)
				why = "defined twice";
		if (why != NULL) {
			log_error("oauth2-config", "source=%s line=%u "
			    "reason=\"%s\"", v[i].name[0] != '\0' ? v[i].name :
			    "-", v[i].line, why);
			return -EINVAL;
		}
	}
	memset(keep, 0, sizeof(keep));
	memset(fresh, 0, sizeof(fresh));
	memset(reconf, 0, sizeof(reconf));
	for (i = 0; i < n; i++) {
		next[i] = NULL;
		for (j = 0; j < m->nsrc && next[i] == NULL; j++)
			if (oauth2_cfg_equal(&m->src[j]->cfg, &v[i])) {
				next[i] = m->src[j];
				keep[j] = true;
			}
		for (j = 0; j < m->nsrc && next[i] == NULL; j++)
			if (!keep[j] &&
			    oauth2_cfg_same_line(&m->src[j]->cfg, &v[i])) {
				next[i] = m->src[j];
				keep[j] = true;
				reconf[i] = true;
			}
		if (next[i] != NULL)
			continue;
		if ((next[i] = oauth2_source_new(m, &v[i])) == NULL) {
			for (j = 0; j < i; j++)
				if (fresh[j])
					oauth2_source_release(next[j]);
			log_error("oauth2-config", "reason=\"out of memory\"");
			return -ENOMEM;
		}
		fresh[i] = true;
	}
	for (i = 0; i < n; i++)
		next[i]->cfg.line = v[i].line;	/* not compared */

	pthread_mutex_lock(&m->lock);
	for (j = 0; j < m->nsrc; j++) {
		if (keep[j])
			continue;
		old = m->src[j];
		old->removed = true;
		gone[ngone++] = old;
		s = NULL;
		for (i = 0; i < n; i++)
			if (strcmp(next[i]->cfg.name, old->cfg.name) == 0)
				s = next[i];
		if (s != NULL) {
			/* Changed settings: the waiters wait for the new
			 * source instead. */
			while ((w = TAILQ_FIRST(&old->waiters)) != NULL) {
				TAILQ_REMOVE(&old->waiters, w, entry);
				w->src = s;
				TAILQ_INSERT_TAIL(&s->waiters, w, entry);
				s->wanted = true;
			}
		} else {
			snprintf(detail, sizeof(detail), "token source %s was "
			    "removed", old->cfg.name);
			oauth2_complete_all(old, OAUTH2_FAILED, detail);
		}
	}
	for (i = 0; i < n; i++) {
		if (reconf[i])
			oauth2_source_reconfigure(next[i], &v[i]);
		m->src[i] = next[i];
	}
	m->nsrc = n;
	pthread_mutex_unlock(&m->lock);

	for (i = 0; i < n; i++)
		if (reconf[i])
			log_info("oauth2-source", "source=%s result=changed",
			    next[i]->cfg.name);
	for (j = 0; j < ngone; j++) {
		log_info("oauth2-source", "source=%s result=removed",
		    gone[j]->cfg.name);
		oauth2_source_stop(gone[j], false);
		oauth2_source_release(gone[j]);
	}
	for (i = 0; i < n; i++) {
		s = m->src[i];
		/* A new refresh_token source reads its file now, so a
		 * missing one is logged at start, not at the first login. */
		load = false;
		pthread_mutex_lock(&m->lock);
		if (s->cfg.grant == CONFIG_OAUTH2_REFRESH_TOKEN &&
		    !s->refresh_loaded && !s->busy && !s->wanted &&
		    s->backoff_until_ms == 0) {
			s->busy = true;
			load = true;
		}
		pthread_mutex_unlock(&m->lock);
		if (load)
			oauth2_source_start(s, true);
		else
			oauth2_source_kick(s);
	}
	return 0;
}

static void
oauth2_mgr_handle_closed(uv_handle_t *h)
{
	struct oauth2_mgr	*m = h->data;

	m->pending--;
	oauth2_mgr_maybe_done(m);
}

static void
oauth2_mgr_http_closed(void *arg)
{
	struct oauth2_mgr	*m = arg;

	m->pending--;
	oauth2_mgr_maybe_done(m);
}

void
oauth2_mgr_close(struct oauth2_mgr *m, void (*done)(void *), void *arg)
{
	struct oauth2_source	*gone[CONFIG_MAX_OAUTH2];
	unsigned int		 i, n;

	if (m->closing)
		return;
	pthread_mutex_lock(&m->lock);
	m->closing = true;
	n = m->nsrc;
	for (i = 0; i < n; i++) {
		gone[i] = m->src[i];
		gone[i]->removed = true;
		oauth2_complete_all(gone[i], OAUTH2_FAILED,
		    "token manager is shutting down");
	}
	m->nsrc = 0;
	pthread_mutex_unlock(&m->lock);
	/*
	 * A refresh in flight may come back with a rotated refresh token
	 * that the server will not take back: it is let finish (bounded by
	 * the HTTP timeout) and saved, as on a reload that removes its
	 * source; everything else stops now.
	 */
	for (i = 0; i < n; i++) {
		oauth2_source_stop(gone[i], false);
		oauth2_source_release(gone[i]);
	}
	m->done = done;
	m->done_arg = arg;
	if (LIST_EMPTY(&m->orphans))
		oauth2_mgr_finish_close(m);
	else
		log_info("oauth2-shutdown", "reason=\"waiting for a refresh in "
		    "flight, to save its rotated refresh token\"");
}

static void
oauth2_mgr_finish_close(struct oauth2_mgr *m)
{
	if (m->http_freed)
		return;
	m->http_freed = true;
	m->pending += 2;
	http_client_free(m->http, oauth2_mgr_http_closed, m);
	m->http = NULL;
	uv_close((uv_handle_t *)&m->wakeup, oauth2_mgr_handle_closed);
}

/* ---- clients ---- */

static void
oauth2_client_on_async(uv_async_t *a)
{
	struct oauth2_client	*c = a->data;
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_wait	*w;
	enum oauth2_result	 r;
	oauth2_cb		*cb;
	void			*arg;

	/* One at a time: a callback may cancel a wait further on. */
	for (;;) {
		pthread_mutex_lock(&m->lock);
		if ((w = TAILQ_FIRST(&c->done)) != NULL) {
			TAILQ_REMOVE(&c->done, w, entry);
			w->state = OAUTH2_WAIT_IDLE;
		}
		pthread_mutex_unlock(&m->lock);
		if (w == NULL)
			break;
		r = w->result;
		cb = w->cb;
		arg = w->arg;
		cb(arg, r, w);
	}
}

struct oauth2_client *
oauth2_client_new(struct oauth2_mgr *m, uv_loop_t *worker_loop)
{
	struct oauth2_client	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->mgr = m;
	TAILQ_INIT(&c->done);
	if (uv_async_init(worker_loop, &c->async, oauth2_client_on_async) !=
	    0) {
		free(c);
		return NULL;
	}
	c->async.data = c;
	pthread_mutex_lock(&m->lock);
	LIST_INSERT_HEAD(&m->clients, c, entry);
	pthread_mutex_unlock(&m->lock);
	return c;
}

static void
oauth2_client_closed(uv_handle_t *h)
{
	free(h->data);
}

void
oauth2_client_close(struct oauth2_client *c)
{
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_wait	*w, *next;
	unsigned int		 i;
	bool			 last;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nsrc; i++)
		for (w = TAILQ_FIRST(&m->src[i]->waiters); w != NULL;
		    w = next) {
			next = TAILQ_NEXT(w, entry);
			if (w->client != c)
				continue;
			TAILQ_REMOVE(&m->src[i]->waiters, w, entry);
			w->state = OAUTH2_WAIT_IDLE;
			w->src = NULL;
		}
	while ((w = TAILQ_FIRST(&c->done)) != NULL) {
		TAILQ_REMOVE(&c->done, w, entry);
		w->state = OAUTH2_WAIT_IDLE;
	}
	LIST_REMOVE(c, entry);
	/* The manager finished closing while we were open: free it. */
	last = m->closed && LIST_EMPTY(&m->clients);
	pthread_mutex_unlock(&m->lock);
	uv_close((uv_handle_t *)&c->async, oauth2_client_closed);
	if (last) {
		pthread_mutex_destroy(&m->lock);
		free(m);
	}
}

enum oauth2_result
oauth2_get(struct oauth2_client *c, const char *source, struct oauth2_wait *w,
    oauth2_cb *cb, void *arg)
{
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_source	*s;
	enum oauth2_result	 r = OAUTH2_FAILED;
	uint64_t		 now = oauth2_now_ms();
	bool			 wake = false;

	oauth2_cancel(w);
	w->client = c;
	w->cb = cb;
	w->arg = arg;
	w->token[0] = '\0';
	w->token_len = 0;
	w->expires_in = 0;
	w->detail[0] = '\0';
	pthread_mutex_lock(&m->lock);
	if (m->closing) {
		snprintf(w->detail, sizeof(w->detail),
		    "token manager is shutting down");
		goto out;
	}
	if ((s = oauth2_find(m, source)) == NULL) {
		snprintf(w->detail, sizeof(w->detail),
		    "unknown token source %s", source);
		goto out;
	}
	if (s->access_len > 0 && now < s->usable_until_ms) {
		memcpy(w->token, s->access, s->access_len);
		w->token[s->access_len] = '\0';
		w->token_len = s->access_len;
		w->expires_in = s->expires_at_ms > now ?
		    (long)((s->expires_at_ms - now) / 1000) : 0;
		/* Refresh ahead, unless one runs or the source rests. */
		if (now >= s->refresh_at_ms && !s->busy && !s->wanted &&
		    now >= s->backoff_until_ms) {
			s->wanted = true;
			wake = true;
		}
		r = OAUTH2_READY;
		goto out;
	}
	if (now < s->backoff_until_ms) {
		snprintf(w->detail, sizeof(w->detail), "%.120s, retry in %lu s",
		    s->fail_reason, oauth2_seconds(s->backoff_until_ms - now));
		goto out;
	}
	w->src = s;
	w->state = OAUTH2_WAIT_QUEUED;
	TAILQ_INSERT_TAIL(&s->waiters, w, entry);
	if (!s->wanted) {
		s->wanted = true;
		wake = !s->busy;
	}
	r = OAUTH2_PENDING;
out:
	/* Sent under the lock: close cannot close the handle meanwhile. */
	if (wake)
		uv_async_send(&m->wakeup);
	pthread_mutex_unlock(&m->lock);
	return r;
}

void
oauth2_cancel(struct oauth2_wait *w)
{
	struct oauth2_mgr	*m;

	if (w->client == NULL)
		return;
	m = w->client->mgr;
	pthread_mutex_lock(&m->lock);
	if (w->state == OAUTH2_WAIT_QUEUED && w->src != NULL)
		TAILQ_REMOVE(&w->src->waiters, w, entry);
	else if (w->state == OAUTH2_WAIT_DONE)
		TAILQ_REMOVE(&w->client->done, w, entry);
	w->state = OAUTH2_WAIT_IDLE;
	w->src = NULL;
	pthread_mutex_unlock(&m->lock);
}

void
oauth2_reject(struct oauth2_client *c, const char *source, const char *token,
    size_t len)
{
	struct oauth2_mgr	*m = c->mgr;
	struct oauth2_source	*s;
	bool			 dropped = false, known;
	char			 fp[9];

	oauth2_fingerprint(token, len, fp);
	pthread_mutex_lock(&m->lock);
	known = (s = oauth2_find(m, source)) != NULL;
	if (known)
		s->refused++;
	if (known && s->access_len == len && len > 0 &&
	    memcmp(s->access, token, len) == 0) {
		oauth2_json_wipe(s->access, s->access_len);
		s->access_len = 0;
		s->refresh_at_ms = s->usable_until_ms = s->expires_at_ms = 0;
		dropped = true;
	}
	pthread_mutex_unlock(&m->lock);
	log_info("oauth2-reject", "source=%s token_fp=%s result=%s", source,
	    fp, !known ? "unknown-source" : dropped ? "dropped" : "stale");
}

int
oauth2_source_status(struct oauth2_mgr *m, const char *source,
    long *access_expires_in, bool *has_refresh, uint64_t *refused)
{
	struct oauth2_source	*s;
	uint64_t		 now = oauth2_now_ms();
	int			 r = -1;

	*access_expires_in = -1;
	*has_refresh = false;
	pthread_mutex_lock(&m->lock);
	if ((s = oauth2_find(m, source)) != NULL) {
		if (s->access_len > 0)
			*access_expires_in = now >= s->expires_at_ms ? 0 :
			    (long)((s->expires_at_ms - now) / 1000);
		*has_refresh = s->has_refresh;
		if (refused != NULL)
			*refused = s->refused;
		r = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* ---- command-line helpers ---- */

struct oauth2_once {
	bool			done;
	enum oauth2_result	result;
};

static void
oauth2_once_cb(void *arg, enum oauth2_result r, struct oauth2_wait *w)
{
	struct oauth2_once	*o = arg;

	(void)w;
	o->done = true;
	o->result = r;
}

static void
oauth2_once_closed(void *arg)
{
	*(bool *)arg = true;
}

int
oauth2_fetch_once(const struct config_oauth2 *src, char *token,
    size_t tokenlen, long *expires_in, char *err, size_t errlen)
{
	struct oauth2_once	 once = { false, OAUTH2_FAILED };
	struct oauth2_mgr	*m;
	struct oauth2_client	*c = NULL;
	struct oauth2_wait	*w;
	uv_loop_t		 loop;
	bool			 closed = false;
	int			 rc = -1;

	*expires_in = 0;
	if (tokenlen > 0)
		token[0] = '\0';
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (uv_loop_init(&loop) != 0) {
		snprintf(err, errlen, "cannot set up an event loop");
		free(w);
		return -1;
	}
	if ((m = oauth2_mgr_new(&loop, NULL)) == NULL) {
		snprintf(err, errlen, "cannot set up the token manager");
		goto out;
	}
	if (oauth2_mgr_set_sources(m, src, 1) != 0) {
		snprintf(err, errlen, "unusable settings (see the log)");
		goto close;
	}
	if ((c = oauth2_client_new(m, &loop)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto close;
	}
	once.result = oauth2_get(c, src->name, w, oauth2_once_cb, &once);
	if (once.result == OAUTH2_PENDING)
		while (!once.done)
			uv_run(&loop, UV_RUN_ONCE);
	if (once.result == OAUTH2_READY) {
		if (w->token_len >= tokenlen)
			snprintf(err, errlen, "token longer than the buffer");
		else {
			memcpy(token, w->token, w->token_len + 1);
			*expires_in = w->expires_in;
			rc = 0;
		}
	} else
		snprintf(err, errlen, "%s", w->detail);
	oauth2_client_close(c);
close:
	oauth2_mgr_close(m, oauth2_once_closed, &closed);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
out:
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	oauth2_json_wipe(w, sizeof(*w));
	free(w);
	return rc;
}

/* POSTs form to url and parses the answer as a token answer. */
static enum oauth2_json_result
oauth2_sync_token(const struct config_oauth2 *src, const char *url,
    struct oauth2_form *f, bool device, struct oauth2_token_response *tok,
    struct oauth2_device_response *dev, struct oauth2_error_response *eresp,
    long *status, char *err, size_t errlen)
{
	enum oauth2_json_result	 r;
	const char		*body = oauth2_form_body(f);
	char			*answer;
	size_t			 len;

	memset(eresp, 0, sizeof(*eresp));
	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return OAUTH2_JSON_INVALID;
	}
	if (http_post_form_sync(url, body, src->ca_file,
	    OAUTH2_DEFAULT_HTTP_TIMEOUT_MS, status, &answer, &len, err,
	    errlen) != 0)
		return OAUTH2_JSON_INVALID;
	if (device)
		r = oauth2_json_device(answer, len, dev, eresp, err, errlen);
	else
		r = oauth2_json_token(answer, len, tok, eresp, err, errlen);
	if (r == OAUTH2_JSON_TOKEN && *status != 200) {
		snprintf(err, errlen, "HTTP status %ld", *status);
		r = OAUTH2_JSON_INVALID;
	} else if (r == OAUTH2_JSON_INVALID && *status != 200)
		snprintf(err, errlen, "HTTP status %ld", *status);
	oauth2_json_wipe(answer, len);
	free(answer);
	return r;
}

static void
oauth2_sleep_s(long s)
{
	struct timespec	ts = { s, 0 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
oauth2_bootstrap_device(const struct config_oauth2 *src, FILE *out, char *err,
    size_t errlen)
{
	struct oauth2_device_response	*dev = NULL;
	struct oauth2_token_response	*tok = NULL;
	struct oauth2_error_response	 eresp;
	enum oauth2_json_result		 r;
	struct oauth2_form		 f;
	char				 why[HTTP_MAX_ERROR], fp[9];
	char				 desc[OAUTH2_LOG_TEXT];
	uint64_t			 deadline;
	long				 status, interval;
	int				 rc = -1;

	if (src->grant != CONFIG_OAUTH2_REFRESH_TOKEN) {
		snprintf(err, errlen, "source %s does not use refresh tokens",
		    src->name);
		return -1;
	}
	if (src->device_url[0] == '\0' || src->token_url[0] == '\0' ||
	    src->refresh_token_file[0] == '\0' || src->client_id[0] == '\0') {
		snprintf(err, errlen, "source %s needs device_url, token_url, "
		    "client_id and refresh_token_file", src->name);
		return -1;
	}
	if (http_url_check(src->device_url, why, sizeof(why)) != 0 ||
	    http_url_check(src->token_url, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if ((dev = malloc(sizeof(*dev))) == NULL ||
	    (tok = malloc(sizeof(*tok))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	/* RFC 8628 sec. 3.1: a confidential client authenticates here too. */
	oauth2_form_init(&f);
	oauth2_form_add(&f, "client_id", src->client_id);
	if (src->client_secret[0] != '\0')
		oauth2_form_add(&f, "client_secret", src->client_secret);
	if (src->scope[0] != '\0')
		oauth2_form_add(&f, "scope", src->scope);
	r = oauth2_sync_token(src, src->device_url, &f, true, NULL, dev,
	    &eresp, &status, why, sizeof(why));
	oauth2_form_free(&f);
	if (r != OAUTH2_JSON_TOKEN) {
		if (r == OAUTH2_JSON_ERROR)
			snprintf(err, errlen, "device authorization refused: "
			    "%s: %s", eresp.error, oauth2_escape(desc,
			    sizeof(desc), eresp.description,
			    strlen(eresp.description)));
		else
			snprintf(err, errlen, "device authorization failed: %s",
			    why);
		goto done;
	}
	fprintf(out, "To let popgate use %s, open %s\nand enter the code: %s\n",
	    src->name, dev->verification_uri, dev->user_code);
	if (dev->verification_uri_complete[0] != '\0')
		fprintf(out, "(or open %s)\n", dev->verification_uri_complete);
	fprintf(out, "The code expires in %ld s. Waiting...\n",
	    dev->expires_in);
	fflush(out);

	deadline = oauth2_now_ms() + (uint64_t)dev->expires_in * 1000;
	interval = dev->interval;
	for (;;) {
		oauth2_sleep_s(interval);
		if (oauth2_now_ms() >= deadline) {
			snprintf(err, errlen, "the code expired before it was "
			    "approved");
			goto done;
		}
		oauth2_form_init(&f);
		oauth2_form_add(&f, "grant_type",
		    "urn:ietf:params:oauth:grant-type:device_code");
		oauth2_form_add(&f, "device_code", dev->device_code);
		oauth2_form_add(&f, "client_id", src->client_id);
		if (src->client_secret[0] != '\0')
			oauth2_form_add(&f, "client_secret",
			    src->client_secret);
		r = oauth2_sync_token(src, src->token_url, &f, false, tok,
		    NULL, &eresp, &status, why, sizeof(why));
		oauth2_form_free(&f);
		if (r == OAUTH2_JSON_TOKEN)
			break;
		if (r == OAUTH2_JSON_INVALID && status == 0)
			continue;	/* network trouble: until the deadline */
		if (r == OAUTH2_JSON_ERROR &&
		    strcmp(eresp.error, "authorization_pending") == 0)
			continue;
		if (r == OAUTH2_JSON_ERROR &&
		    strcmp(eresp.error, "slow_down") == 0) {
			/* RFC 8628 sec. 3.5: 5 s more from now on. */
			if (interval < OAUTH2_MAX_INTERVAL)
				interval += 5;
			continue;
		}
		if (r == OAUTH2_JSON_ERROR)
			snprintf(err, errlen, "authorization failed: %s: %s",
			    eresp.error, oauth2_escape(desc, sizeof(desc),
			    eresp.description, strlen(eresp.description)));
		else
			snprintf(err, errlen, "authorization failed: %s", why);
		goto done;
	}
	if (tok->refresh_token_len == 0) {
		snprintf(err, errlen, "the token endpoint issued no refresh "
		    "token (does the scope ask for offline access?)");
		goto done;
	}
	if (oauth2_refresh_store(src->refresh_token_file, tok->refresh_token,
	    tok->refresh_token_len, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot store the refresh token: %s",
		    why);
		goto done;
	}
	oauth2_fingerprint(tok->refresh_token, tok->refresh_token_len, fp);
	fprintf(out, "Approved. Refresh token %s stored in %s.\n", fp,
	    src->refresh_token_file);
	fflush(out);
	rc = 0;
done:
	if (dev != NULL) {
		oauth2_json_wipe(dev, sizeof(*dev));
		free(dev);
	}
	if (tok != NULL) {
		oauth2_json_wipe(tok, sizeof(*tok));
		free(tok);
	}
	return rc;
}
