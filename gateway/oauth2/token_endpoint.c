/* SPDX-License-Identifier: MIT */
/*
 * token_endpoint.c - the HTTP step of a refresh: the refresh_token or
 * client_credentials grant POSTed to the token endpoint, and its answer.
 */
#include "oauth2_int.h"

#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "log.h"

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

void
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
