/* SPDX-License-Identifier: MIT */
/*
 * load.c - loading the configuration at start-up and -t, and again on
 * SIGHUP: the file, the command line over it, validation, certificates and
 * keys, the user, the device accounts; what a reload may not change.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "oauth2.h"
#include "process.h"
#include "tls_setup.h"
#include "worker.h"

static void	load_again_config(struct process *m);

static bool
load_is_loopback_host(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	    strcmp(host, "::1") == 0;
}

/* Loads every certificate and key once, so -t and start-up name a bad
 * file; warns about what weakens the upstream side. */
static void
load_check_tls(const struct config *c, const char *origin,
    struct config_errors *errs, bool quiet)
{
	struct tls_setup	t;
	char			err[CONFIG_MAX_ERROR_TEXT];
	unsigned int		i;

	if (tls_setup_build(&t, c, origin, err, sizeof(err)) != 0) {
		config_errors_add(errs, "%s", err);
		return;
	}
	tls_setup_free(&t);
	if (quiet)
		return;
	for (i = 0; i < c->nupstreams; i++) {
		const struct config_upstream	*u = &c->upstreams[i];

		if (u->tls != CONFIG_UPSTREAM_PLAIN && !u->verify)
			log_warn("upstream-tls-unverified", "upstream=%s "
			    "url=%s reason=\"verify = no: the upstream's "
			    "certificate and host name are not checked\"",
			    u->name, u->url);
		if (u->tls == CONFIG_UPSTREAM_PLAIN &&
		    !load_is_loopback_host(u->host))
			log_warn("upstream-plaintext", "upstream=%s url=%s "
			    "reason=\"imap:// sends passwords in the clear; use "
			    "imaps://\"", u->name, u->url);
	}
}

/*
 * The device accounts of c: the file loads (not world-readable), and every
 * account names an upstream and a token source that exist.
 */
static struct accounts *
load_accounts(const struct config *c, struct config_errors *errs)
{
	struct accounts		*a = NULL;
	size_t			 i;

	if (c->accounts_file[0] == '\0')
		return NULL;
	if (accounts_load(c->accounts_file, &a, errs) != 0)
		return NULL;
	for (i = 0; i < accounts_count(a); i++)
		account_check_refs(c, accounts_at(a, i), c->accounts_file, errs);
	auth_check_hashes(a, c->accounts_file, errs);
	if (errs->count > 0) {
		accounts_free(a);
		return NULL;
	}
	return a;
}

/*
 * Loads and checks the configuration: the file, then the command line over
 * it, validation, every certificate and key, the user, the device
 * accounts. Returns a new config_ref (one reference), or NULL with every
 * error in errs.
 */
struct config_ref *
load_config(const char *file, const struct cli_setting *set, unsigned int nset,
    struct config_errors *errs, bool quiet)
{
	const char		*origin = file != NULL ? file : "command line";
	struct config		*c;
	struct config_ref	*ref;
	struct accounts		*accounts = NULL;

	c = malloc(sizeof(*c));
	ref = calloc(1, sizeof(*ref));
	if (c == NULL || ref == NULL) {
		config_errors_add(errs, "out of memory");
		free(c);
		free(ref);
		return NULL;
	}
	config_defaults(c);
	if (file != NULL)
		config_load_file(c, file, errs);
	cli_apply(c, set, nset, errs);
	if (errs->count == 0)
		config_validate(c, origin, errs);
	if (errs->count == 0)
		load_check_tls(c, origin, errs, quiet);
	if (errs->count == 0)
		privdrop_check_user(c, origin, errs);
	if (errs->count == 0)
		accounts = load_accounts(c, errs);
	if (errs->count > 0) {
		free(c);
		free(ref);
		return NULL;
	}
	ref->config = c;
	ref->accounts = accounts;
	atomic_init(&ref->refs, 1);
	return ref;
}

/* What a reload cannot change without a restart: the sockets (bound
 * before privileges were dropped) and the worker threads. */
static const char *
load_conflict(const struct config *old, const struct config *new)
{
	unsigned int	i;

	if (old->nlisteners != new->nlisteners)
		return "the set of listeners changed; restart to apply";
	for (i = 0; i < old->nlisteners; i++) {
		if (strcmp(old->listeners[i].name, new->listeners[i].name) != 0 ||
		    old->listeners[i].addrlen != new->listeners[i].addrlen ||
		    memcmp(&old->listeners[i].addr, &new->listeners[i].addr,
		    old->listeners[i].addrlen) != 0)
			return "a listener's name or address changed; restart to "
			    "apply";
	}
	if (old->metrics_addrlen != new->metrics_addrlen ||
	    memcmp(&old->metrics_addr, &new->metrics_addr,
	    old->metrics_addrlen) != 0)
		return "metrics_address changed; restart to apply";
	return NULL;
}

/*
 * SIGHUP: load everything again; if it is valid, every worker switches to
 * it for new sessions while sessions in flight finish on the old one. If
 * not, each error is logged and nothing changes.
 */
void
load_again(struct process *m)
{
	notify_send("RELOADING=1");
	load_again_config(m);
	notify_send("READY=1");
}

static void
load_again_config(struct process *m)
{
	struct config_errors	*errs;
	struct config_ref	*ref;
	struct config		*c;
	const char		*conflict;
	unsigned int		 i;

	errs = calloc(1, sizeof(*errs));
	if (errs == NULL) {
		log_error("reload", "result=failed reason=\"out of memory\"");
		return;
	}
	ref = load_config(m->file, m->set, m->nset, errs, true);
	if (ref == NULL) {
		for (i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++)
			log_error("reload", "result=failed error=\"%s\"",
			    errs->text[i]);
		log_error("reload", "result=failed errors=%u reason=\"the "
		    "configuration is invalid; still running on the previous "
		    "one\"", errs->count);
		free(errs);
		return;
	}
	free(errs);
	c = ref->config;
	conflict = load_conflict(m->current->config, c);
	if (conflict != NULL) {
		log_error("reload", "result=failed reason=\"%s\"", conflict);
		config_ref_release(ref);
		return;
	}
	if (c->workers != m->current->config->workers ||
	    strcmp(c->user, m->current->config->user) != 0 ||
	    strcmp(c->group, m->current->config->group) != 0 ||
	    c->log_syslog != m->current->config->log_syslog ||
	    c->oauth2_refresh_margin_ms !=
	    m->current->config->oauth2_refresh_margin_ms ||
	    c->oauth2_retry_min_ms != m->current->config->oauth2_retry_min_ms ||
	    c->oauth2_retry_max_ms != m->current->config->oauth2_retry_max_ms ||
	    c->oauth2_http_timeout_ms !=
	    m->current->config->oauth2_http_timeout_ms)
		log_warn("reload", "result=partial reason=\"workers, user, "
		    "log_target and the oauth2_* timings take effect at the next "
		    "restart\"");
	if (oauth2_mgr_set_sources(m->oauth2, c->oauth2, c->noauth2) != 0) {
		log_error("reload", "result=failed reason=\"an oauth2 source is "
		    "unusable; still running on the previous configuration\"");
		config_ref_release(ref);
		return;
	}
	log_set_level(c->log_level);
	for (i = 0; i < m->nworkers; i++)
		worker_reload(&m->workers[i], ref);
	config_ref_release(m->current);
	m->current = ref;
	log_info("reload", "result=ok file=%s workers=%u accounts=%zu",
	    m->file != NULL ? m->file : "-", m->nworkers, ref->accounts != NULL ?
	    accounts_count(ref->accounts) : 0);
}

