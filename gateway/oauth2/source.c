/* SPDX-License-Identifier: MIT */
/*
 * source.c - one source's refresh: started when a waiter wants a token
 * and no back-off forbids it, ended by success (cache the token, hand it
 * to the waiters) or failure (back off, fail the waiters). The READ, HTTP
 * and COMMAND steps are in refresh_file.c, token_endpoint.c and
 * command.c; oauth2_int.h tells the whole cycle.
 */
#include "oauth2_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* A token is not handed out in its last seconds: the session still has
 * to reach the upstream with it. */
#define OAUTH2_GUARD_MS			5000

uint64_t
oauth2_now_ms(void)
{
	return uv_hrtime() / 1000000;
}

const char *
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

/* Seconds, rounded up, for "retry in N s". */
unsigned long
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

unsigned int
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

/* ---- refreshes ---- */

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
void
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
void
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
void
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
void
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
