/* SPDX-License-Identifier: MIT */
/*
 * refresh_file.c - refresh token files: reading and durably replacing
 * them, blocking, and the READ and PERSIST steps of a refresh, which run
 * those on the thread pool.
 */
#include "oauth2_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "log.h"

/* Longest refresh token file read: a token, a newline, some blanks. */
#define OAUTH2_REFRESH_FILE_MAX		(OAUTH2_MAX_TOKEN + 256)

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
int
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

void
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
