/* SPDX-License-Identifier: MIT */
/*
 * session_login.c - who a POP3 login is, how it goes upstream, and how it
 * ends: the reply, the log line, the metrics and the failure delay.
 *
 * A device account (accounts_file) logs in with its local secret (USER/PASS,
 * AUTH PLAIN or LOGIN, or APOP), from its client networks only; popgate then
 * logs in to the account's upstream with the account's own credential: a
 * password, or an OAuth2 access token presented as XOAUTH2 or OAUTHBEARER.
 * Any other login is passed through, unchanged, to the upstream that the
 * routing table picks for its name. A wrong secret, a device outside its
 * networks and a name no route knows all fail the same way, after the same
 * work (one hash check) and the same delay: nothing tells them apart.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "accounts.h"
#include "auth.h"
#include "authfail.h"
#include "backend.h"
#include "bearer.h"
#include "log.h"
#include "oauth2.h"
#include "pop3_session.h"
#include "sasl.h"
#include "session.h"
#include "session_int.h"
#include "upstream_caps.h"
#include "worker.h"

/* One local secret check on the thread pool (crypt(3) is slow on purpose). */
struct session_check {
	uv_work_t		 req;
	struct session		*s;
	const struct account	*account;	/* NULL: the dummy check */
	const char		*refusal;	/* the log's reason if it fails */
	bool			 ok;
	size_t			 len;
	char			 secret[POP3_MAX_AUTH_LINE_OCTETS];
};

/*
 * Hash checks waiting for or running on libuv's thread pool, in the whole
 * process. The pool also resolves upstream names and writes refresh
 * tokens; a flood of logins must not starve those: past the cap a login
 * hears SYS/TEMP at once.
 */
#define SESSION_MAX_CHECKS	64
static atomic_uint	session_checks;

static void	session_login_device(struct session *s);

bool
account_allows(const struct account *a, const struct sockaddr *peer)
{
	if (a->nnetworks == 0)
		return true;
	return peer != NULL && session_peer_in(a->networks, a->nnetworks, peer);
}

static void
session_check_work(uv_work_t *req)
{
	struct session_check	*k = req->data;

	if (k->account != NULL)
		k->ok = auth_check_secret(k->account, k->secret, k->len);
	else
		auth_check_dummy(k->secret, k->len);
}

/* The local outcome: on to the upstream, or the AUTH failure every
 * refused login gets. */
static void
session_check_done(uv_work_t *req, int status)
{
	struct session_check	*k = req->data;
	struct session		*s = k->s;
	const char		*refusal;
	bool			 ok = status == 0 && k->ok;

	explicit_bzero(k->secret, sizeof(k->secret));
	atomic_fetch_sub(&session_checks, 1);
	s->work_alive--;
	if (s->closing) {
		free(k);
		session_free_if_unused(s);
		return;
	}
	if (k->account != NULL && ok &&
	    account_allows(k->account, (struct sockaddr *)&s->peer_addr)) {
		s->account = k->account;
		free(k);
		session_login_device(s);
		return;
	}
	refusal = k->refusal;
	free(k);
	session_login_failed(s, BACKEND_ERR_AUTH, refusal);
}

/* Runs the hash check of account (or a dummy one) off the loop. */
static void
session_check_start(struct session *s, const struct account *account,
    const char *secret, size_t len, const char *refusal)
{
	struct session_check	*k;

	if (atomic_fetch_add(&session_checks, 1) >= SESSION_MAX_CHECKS) {
		atomic_fetch_sub(&session_checks, 1);
		session_login_failed(s, BACKEND_ERR_TEMP, "too many logins "
		    "being checked at once");
		return;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL || len >= sizeof(k->secret)) {
		free(k);
		atomic_fetch_sub(&session_checks, 1);
		session_login_failed(s, BACKEND_ERR_TEMP, "out of memory");
		return;
	}
	k->req.data = k;
	k->s = s;
	k->account = account;
	k->refusal = refusal;
	k->len = len;
	memcpy(k->secret, secret, len);
	if (uv_queue_work(&s->worker->loop, &k->req, session_check_work,
	    session_check_done) != 0) {
		explicit_bzero(k->secret, sizeof(k->secret));
		free(k);
		atomic_fetch_sub(&session_checks, 1);
		session_login_failed(s, BACKEND_ERR_TEMP,
		    "thread pool refused");
		return;
	}
	s->work_alive++;
}

/*
 * Every chunk in flight may arrive while the client reads nothing, doubled
 * by LF -> CRLF and dot-stuffing, on top of the backlog that let it be
 * asked for: with large fetch_chunk values fewer go out at once, so that a
 * slow reader never meets the output cap.
 */
static void
session_fit_window(struct backend_config *bc)
{
	while (bc->window > 1 && SESSION_OUT_LOW_WATER_OCTETS +
	    2ull * bc->window * bc->chunk_octets > SESSION_OUT_MAX_OCTETS)
		bc->window--;
}

/* A new upstream client for u; false (and the reply sent) if none. */
static bool
session_client(struct session *s, const struct config_upstream *u)
{
	struct backend_config	bc;

	s->upstream = u;
	if (u->tls != CONFIG_UPSTREAM_PLAIN && !u->verify)
		log_warn("upstream-tls-unverified", "sid=%s upstream=%s url=%s",
		    s->id, u->name, u->url);
	worker_backend_config(s->gen, u, &bc);
	session_fit_window(&bc);
	s->backend = backend_new(&s->worker->loop, &bc,
	    session_backend_callbacks(), s);
	if (s->backend == NULL) {
		session_login_failed(s, BACKEND_ERR_TEMP, "out of memory");
		return false;
	}
	s->backend_alive++;
	return true;
}

/* The account's token goes upstream (bearer.c says how). */
static void
session_login_bearer(struct session *s, const char *token, size_t token_len)
{
	unsigned char	*msg;
	const char	*mech;
	size_t		 len;
	int		 r;

	if ((r = bearer_message(s->upstream, s->account->user, token,
	    token_len, &msg, &len, &mech)) != 0) {
		session_login_failed(s, r == -ENOMEM ? BACKEND_ERR_TEMP :
		    BACKEND_ERR_PERM, r == -ENOMEM ? "out of memory" :
		    "upstream user name cannot be sent in SASL");
		return;
	}
	if (session_client(s, s->upstream)) {
		s->step_pending = true;
		backend_login_sasl(s->backend, mech, s->account->user, msg,
		    len);
	}
	explicit_bzero(msg, len);
	free(msg);
}

/* No token: the device hears SYS/TEMP, the log says why. */
static void
session_login_token_failed(struct session *s, const struct oauth2_wait *w)
{
	char	detail[OAUTH2_MAX_DETAIL + 64];
	size_t	i;

	snprintf(detail, sizeof(detail), "%s: %s", s->token_retried ?
	    "upstream refused the OAuth2 token, no new one" :
	    "no OAuth2 token",
	    w->detail[0] != '\0' ? w->detail : "token source failed");
	/* It may quote the token server: one quoted log value. */
	for (i = 0; detail[i] != '\0'; i++)
		if ((unsigned char)detail[i] < 0x20 ||
		    (unsigned char)detail[i] >= 0x7f || detail[i] == '"' ||
		    detail[i] == '\\')
			detail[i] = '?';
	session_login_failed(s, BACKEND_ERR_TEMP, detail);
}

/* The login's token is in s->oauth: upstream with it. A renewed one is
 * logged, with what it replaces. */
static void
session_token_ready(struct session *s)
{
	char	fp[9];

	if (s->token_retried) {
		oauth2_fingerprint(s->oauth->token, s->oauth->token_len, fp);
		log_info("oauth2-renewed", "sid=%s user=%s source=%s "
		    "refused_fp=%s token_fp=%s reason=\"upstream refused the "
		    "token; logging in again with a new one\"", s->id, s->user,
		    s->account->token, s->token_refused_fp, fp);
	}
	session_login_bearer(s, s->oauth->token, s->oauth->token_len);
}

static void
session_token_cb(void *arg, enum oauth2_result r, struct oauth2_wait *w)
{
	struct session	*s = arg;

	if (s->closing)
		return;
	uv_timer_stop(&s->delay);
	if (r != OAUTH2_READY) {
		session_login_token_failed(s, w);
		return;
	}
	session_token_ready(s);
}

/* The token that replaces a refused one took longer than a command may. */
static void
session_token_late(uv_timer_t *t)
{
	struct session	*s = t->data;

	oauth2_cancel(s->oauth);
	session_login_failed(s, BACKEND_ERR_TEMP, "upstream refused the OAuth2 "
	    "token, no new one within command_timeout");
}

/* The device proved who it is: log in upstream as its account. */
static void
session_login_device(struct session *s)
{
	const struct account		*a = s->account;
	const struct config_upstream	*u;

	s->device = true;
	log_value(s->upstream_user, sizeof(s->upstream_user), a->user);
	u = account_upstream(s->config, a);
	if (u == NULL) {
		session_login_failed(s, BACKEND_ERR_PERM, "no upstream for the "
		    "account");
		return;
	}
	if (a->cred == ACCOUNT_CRED_PASSWORD) {
		if (session_client(s, u)) {
			s->step_pending = true;
			backend_login(s->backend, a->user, a->password,
			    strlen(a->password));
		}
		return;
	}
	s->upstream = u;
	if (s->oauth == NULL && (s->oauth = calloc(1, sizeof(*s->oauth))) ==
	    NULL) {
		session_login_failed(s, BACKEND_ERR_TEMP, "out of memory");
		return;
	}
	switch (oauth2_get(s->worker->oauth2, a->token, s->oauth,
	    session_token_cb, s)) {
	case OAUTH2_READY:
		session_token_ready(s);
		break;
	case OAUTH2_PENDING:
		s->step_pending = true;
		break;
	case OAUTH2_FAILED:
		session_login_token_failed(s, s->oauth);
		break;
	}
}

/* APOP: MD5 is cheap; the answer waits out the same failure delay. */
static void
session_login_apop(struct session *s, const struct pop3_step *step)
{
	const struct account	*a = NULL;

	if (s->gen->accounts != NULL)
		a = accounts_find(s->gen->accounts, step->user);
	if (a == NULL || !auth_check_apop(a, s->apop_ts, step->password) ||
	    !account_allows(a, (struct sockaddr *)&s->peer_addr)) {
		session_login_failed(s, BACKEND_ERR_AUTH, a == NULL ?
		    "unknown account" : "wrong APOP digest or client network");
		return;
	}
	s->account = a;
	session_login_device(s);
}

/* Who the login is, and so where it goes. */
static void
session_login_route(struct session *s, const struct pop3_step *step)
{
	const struct account		*a = NULL;
	const struct config_upstream	*u;

	s->step_pending = true;
	/* A new attempt in the same session: nothing of the last one. */
	s->device = false;
	s->token_retried = false;
	s->account = NULL;
	s->upstream = NULL;
	s->upstream_user[0] = '\0';
	if (s->oauth != NULL) {
		oauth2_cancel(s->oauth);
		explicit_bzero(s->oauth, sizeof(*s->oauth));
	}
	if (step->apop) {
		session_login_apop(s, step);
		return;
	}
	if (s->gen->accounts != NULL && step->password != NULL)
		a = accounts_find(s->gen->accounts, step->user);
	if (a != NULL) {
		session_check_start(s, a, step->password, step->password_len,
		    "wrong secret or client network");
		return;
	}
	u = config_route(s->config, step->user);
	if (u == NULL || !u->passthrough) {
		/* As slow as a device's wrong secret, when devices exist. */
		if (s->gen->accounts != NULL && step->password != NULL)
			session_check_start(s, NULL, step->password,
			    step->password_len, u == NULL ? "no route" :
			    "upstream takes no pass-through logins");
		else
			session_login_failed(s, BACKEND_ERR_AUTH, u == NULL ?
			    "no route" : "upstream takes no pass-through logins");
		return;
	}
	if (!session_client(s, u))
		return;
	if (step->mech == SASL_MECH_XOAUTH2 ||
	    step->mech == SASL_MECH_OAUTHBEARER)
		backend_login_sasl(s->backend, sasl_mech_name(step->mech),
		    step->user, step->sasl_msg, step->sasl_msg_len);
	else
		backend_login(s->backend, step->user, step->password,
		    step->password_len);
}

/*
 * The upstream refused the account's OAuth2 token before its time (revoked,
 * the password changed, a continuous access evaluation event): the token
 * goes back to its source, which fetches a new one (one fetch per source,
 * however many logins were refused at once), and the login goes upstream
 * again on a new connection, once. The wait for the token is bounded by
 * command_timeout, the new connection by its own timeouts. True if the
 * login goes on; it has then been answered or will be.
 */
static bool
session_login_retry(struct session *s, enum backend_result r)
{
	if (!s->device || r != BACKEND_ERR_AUTH || s->token_retried ||
	    s->oauth == NULL || s->oauth->token_len == 0)
		return false;
	s->token_retried = true;
	oauth2_fingerprint(s->oauth->token, s->oauth->token_len,
	    s->token_refused_fp);
	oauth2_reject(s->worker->oauth2, s->account->token, s->oauth->token,
	    s->oauth->token_len);
	explicit_bzero(s->oauth->token, sizeof(s->oauth->token));
	s->oauth->token_len = 0;
	/* Called from the client's own callback: it closes after it. */
	backend_close(s->backend, NULL);
	s->backend = NULL;
	switch (oauth2_get(s->worker->oauth2, s->account->token, s->oauth,
	    session_token_cb, s)) {
	case OAUTH2_READY:
		session_token_ready(s);
		break;
	case OAUTH2_PENDING:
		uv_timer_start(&s->delay, session_token_late,
		    s->config->command_timeout_ms, 0);
		break;
	case OAUTH2_FAILED:
		session_login_token_failed(s, s->oauth);
		break;
	}
	return true;
}

/*
 * The upstream refused a device account's own credential: the device's
 * secret was right, so it hears SYS/TEMP, not AUTH; a token goes back to
 * its source, which fetches a new one for the next login.
 */
static enum backend_result
session_login_result(struct session *s, enum backend_result r,
    const char **detail)
{
	bool	token = s->oauth != NULL && s->oauth->token_len > 0;

	if (s->device && r == BACKEND_ERR_AUTH) {
		if (token)
			oauth2_reject(s->worker->oauth2, s->account->token,
			    s->oauth->token, s->oauth->token_len);
		*detail = !token ? "upstream refused the account's "
		    "password" : s->token_retried ? "upstream refused the "
		    "account's OAuth2 token, and the renewed one too" :
		    "upstream refused the account's OAuth2 token";
		r = BACKEND_ERR_TEMP;
	}
	/* The token is not kept for the rest of the session. */
	if (token) {
		explicit_bzero(s->oauth->token, sizeof(s->oauth->token));
		s->oauth->token_len = 0;
	}
	return r;
}

/* Every login reads its upstream's list again: kept for that upstream
 * alone, so CAPA and AUTH of later sessions follow each route's own. */
void
session_login_caps(void *arg, unsigned int mechs)
{
	struct session	*s = arg;

	upstream_caps_set(s->worker->shared->caps, s->config,
	    (unsigned int)(s->upstream - s->config->upstreams), mechs);
}

void
session_login_cleanup(struct session *s)
{
	if (s->oauth != NULL) {
		oauth2_cancel(s->oauth);
		explicit_bzero(s->oauth, sizeof(*s->oauth));
		free(s->oauth);
		s->oauth = NULL;
	}
}

/* ---- the outcome: reply, log, metrics, failure delay ---- */

/* Fixed client texts: upstream text is never relayed (conformance 17.2). */
static const char *
session_login_text(enum backend_result r)
{
	switch (r) {
	case BACKEND_ERR_AUTH:
		return "Authentication failed.";
	case BACKEND_ERR_IN_USE:
		return "Mailbox is locked by another POP3 session.";
	case BACKEND_ERR_PERM:
		return "Mail service is misconfigured; contact the administrator.";
	case BACKEND_ERR_TEMP:
	case BACKEND_ERR_GONE:
	case BACKEND_OK:
	case BACKEND_RESULT_COUNT:
		break;
	}
	return "Mail service temporarily unavailable, try again later.";
}

/* The login's method: for the metrics label, and its name for the log. */
static enum metrics_method
session_login_method(const struct pop3_step *step)
{
	if (step->apop)
		return METRICS_METHOD_APOP;
	switch (step->mech) {
	case SASL_MECH_PLAIN:
		return METRICS_METHOD_PLAIN;
	case SASL_MECH_LOGIN:
		return METRICS_METHOD_LOGIN;
	case SASL_MECH_XOAUTH2:
		return METRICS_METHOD_XOAUTH2;
	case SASL_MECH_OAUTHBEARER:
		return METRICS_METHOD_OAUTHBEARER;
	}
	return METRICS_METHOD_USER;
}

static const char *
session_method_name(enum metrics_method m)
{
	static const char *const names[METRICS_METHOD_COUNT] = {
		[METRICS_METHOD_USER] = "USER",
		[METRICS_METHOD_PLAIN] = "PLAIN",
		[METRICS_METHOD_LOGIN] = "LOGIN",
		[METRICS_METHOD_XOAUTH2] = "XOAUTH2",
		[METRICS_METHOD_OAUTHBEARER] = "OAUTHBEARER",
		[METRICS_METHOD_APOP] = "APOP",
	};

	return names[m];
}

static void
session_metrics_login(struct session *s, enum backend_result r)
{
	static const enum metrics_login_result map[] = {
		[BACKEND_OK] = METRICS_LOGIN_OK,
		[BACKEND_ERR_AUTH] = METRICS_LOGIN_AUTH,
		[BACKEND_ERR_TEMP] = METRICS_LOGIN_TEMP,
		[BACKEND_ERR_PERM] = METRICS_LOGIN_PERM,
		[BACKEND_ERR_IN_USE] = METRICS_LOGIN_IN_USE,
		[BACKEND_ERR_GONE] = METRICS_LOGIN_TEMP,
	};
	_Static_assert(sizeof(map) / sizeof(map[0]) == BACKEND_RESULT_COUNT,
	    "every upstream result needs a login metric");

	metrics_login(s->worker->shared->metrics, s->method, map[r]);
}

static void
session_login_reply(struct session *s, enum backend_result result)
{
	struct pop3_step	step;

	step = pop3_login_done(&s->pop3, NULL, session_resp_code(result),
	    session_login_text(result), &s->out);
	session_handle_step(s, &step);
	session_step_done(s);
}

static void
session_delay_cb(uv_timer_t *t)
{
	struct session	*s = t->data;

	session_login_reply(s, s->delayed_result);
}

void
session_on_login(void *arg, enum backend_result result,
    struct pop3_maildrop *md, const char *detail)
{
	struct session		*s = arg;
	struct pop3_step	 step;
	const char		*version = NULL, *cipher = NULL;

	if (session_login_retry(s, result))
		return;
	result = session_login_result(s, result, &detail);
	if (result == BACKEND_OK) {
		session_metrics_login(s, result);
		authfail_clear(s->worker->shared->authfail,
		    (struct sockaddr *)&s->peer_addr);
		if (!backend_tls_info(s->backend, &version, &cipher))
			version = cipher = "-";
		log_info("login", "sid=%s peer=%s user=%s method=%s result=ok "
		    "messages=%u upstream=%s upstream_user=%s upstream_tls=%s "
		    "upstream_cipher=%s", s->id, s->peer, s->user,
		    session_method_name(s->method),
		    md->count, s->upstream->name, s->device ? s->upstream_user :
		    s->user, version, cipher);
		step = pop3_login_done(&s->pop3, md, POP3_RESP_NONE, NULL,
		    &s->out);
		session_handle_step(s, &step);
		session_step_done(s);
		return;
	}
	session_login_failed(s, result, detail);
}

void
session_login_failed(struct session *s, enum backend_result result,
    const char *detail)
{
	unsigned int	delay;

	session_metrics_login(s, result);
	/* RFC 1939 sec. 4: release the lock before rejecting. */
	session_release_lock(s);
	if (s->backend != NULL) {
		backend_close(s->backend, NULL);
		s->backend = NULL;
	}
	/* Bad credentials wait, longer for each failure from the address,
	 * so guessing is slow; the reply says nothing until then. An
	 * upstream outage is not the client's fault and answers at once. */
	delay = 0;
	if (result == BACKEND_ERR_AUTH)
		delay = authfail_record(s->worker->shared->authfail,
		    (struct sockaddr *)&s->peer_addr,
		    uv_hrtime() / 1000000, s->config->auth_failure_delay_ms,
		    s->config->auth_failure_delay_max_ms);
	log_info("login", "sid=%s peer=%s user=%s method=%s result=%s "
	    "delay_ms=%u upstream=%s reason=\"%s\"", s->id, s->peer, s->user,
	    session_method_name(s->method), backend_result_name(result), delay,
	    s->upstream != NULL ?
	    s->upstream->name : "-", detail);
	if (delay == 0) {
		session_login_reply(s, result);
		return;
	}
	s->delayed_result = result;
	uv_timer_start(&s->delay, session_delay_cb, delay, 0);
}

void
session_login_start(struct session *s, const struct pop3_step *step)
{
	log_value(s->user, sizeof(s->user), step->user);
	s->method = session_login_method(step);
	if (!step->apop && !s->plaintext_logged && s->tls == NULL) {
		/* Credentials crossed the network in the clear: say so once,
		 * and why it was allowed. */
		s->plaintext_logged = true;
		log_info("plaintext-auth", "sid=%s peer=%s listener=%s "
		    "reason=\"%s\"", s->id, s->peer, s->listener->name,
		    s->peer_trusted ? "peer in trusted_networks" :
		    "plaintext_auth = yes");
	}
	session_login_route(s, step);
}
