/* SPDX-License-Identifier: MIT */
/*
 * keys.c - the settings table: one row per key of every section with its
 * type, place in the struct of its scope, range, default, command-line
 * option and help line, as Dovecot's DEF() tables. It drives INI parsing
 * (config_set() finds the section's struct, the row does the rest), the
 * defaults, getopt's options and --help. Keys that need more than a type
 * (an address, a URL, a route) name their parser (FUNC).
 */
#include "config.h"
#include "config_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#define CONFIG_MAX_COUNT	1000000
#define CONFIG_MAX_WORKERS	256
/* A partial fetch of 16 KiB .. 4 MiB; the framer's group limit is 8 MiB. */
#define CONFIG_MIN_CHUNK	(16 * 1024)
#define CONFIG_MAX_CHUNK	(4 * 1024 * 1024)
#define CONFIG_MAX_WINDOW	8
/* Command input allowed before login (login_max_octets); below 1 KiB
 * an ordinary login could not fit. */
#define CONFIG_MIN_LOGIN_OCTETS	1024
#define CONFIG_MAX_LOGIN_OCTETS	(16 * 1024 * 1024)
/* --help: where the text of each option starts. */
#define CONFIG_HELP_COLUMN	27

/* Where a row's value goes: the scope's struct and the field in it. */
#define SIZE(type, field)	sizeof(((type *)0)->field)
#define G(f)	.scope = CONFIG_SCOPE_CONFIG, .offset = offsetof(struct config, f)
#define L(f)	.scope = CONFIG_SCOPE_LISTENER, \
		.offset = offsetof(struct config_listener, f)
#define U(f)	.scope = CONFIG_SCOPE_UPSTREAM, \
		.offset = offsetof(struct config_upstream, f)
#define P(f)	.scope = CONFIG_SCOPE_PROFILE, \
		.offset = offsetof(struct config_tls_profile, f)
#define O(f)	.scope = CONFIG_SCOPE_OAUTH2, \
		.offset = offsetof(struct config_oauth2, f)
/* A file name or a line of text in a char array of the scope's struct. */
#define GPATH(f)	G(f), .type = CONFIG_KEY_PATH, .max = SIZE(struct config, f)
#define UPATH(f)	U(f), .type = CONFIG_KEY_PATH, \
			.max = SIZE(struct config_upstream, f)
#define PPATH(f)	P(f), .type = CONFIG_KEY_PATH, \
			.max = SIZE(struct config_tls_profile, f)
#define OPATH(f)	O(f), .type = CONFIG_KEY_PATH, \
			.max = SIZE(struct config_oauth2, f)
#define OTEXT(f)	O(f), .type = CONFIG_KEY_TEXT, \
			.max = SIZE(struct config_oauth2, f)
#define FUNC(fn)	.type = CONFIG_KEY_FUNC, .parse = fn

/* ENUM rows store an int. */
_Static_assert(sizeof(enum config_log_level) == sizeof(int) &&
    sizeof(enum config_listener_tls) == sizeof(int) &&
    sizeof(enum config_tls_version) == sizeof(int) &&
    sizeof(enum config_provider) == sizeof(int) &&
    sizeof(enum config_bearer_mech) == sizeof(int) &&
    sizeof(enum config_oauth2_grant) == sizeof(int),
    "ENUM rows are stored as an int");

static const struct config_key_name log_levels[] = {
	{ "debug", CONFIG_LOG_DEBUG }, { "info", CONFIG_LOG_INFO },
	{ "warn", CONFIG_LOG_WARN }, { "error", CONFIG_LOG_ERROR },
	{ NULL, 0 },
};

static const struct config_key_name log_facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	{ NULL, 0 },
};

static const struct config_key_name listener_tls[] = {
	{ "none", CONFIG_LISTENER_TLS_NONE },
	{ "starttls", CONFIG_LISTENER_TLS_STARTTLS },
	{ "implicit", CONFIG_LISTENER_TLS_IMPLICIT },
	{ NULL, 0 },
};

static const struct config_key_name tls_versions[] = {
	{ "TLSv1", CONFIG_TLS_1_0 }, { "TLSv1.0", CONFIG_TLS_1_0 },
	{ "TLSv1.1", CONFIG_TLS_1_1 }, { "TLSv1.2", CONFIG_TLS_1_2 },
	{ "TLSv1.3", CONFIG_TLS_1_3 },
	{ NULL, 0 },
};

static const struct config_key_name providers[] = {
	{ "generic", CONFIG_PROVIDER_GENERIC },
	{ "microsoft365", CONFIG_PROVIDER_MICROSOFT365 },
	{ "google", CONFIG_PROVIDER_GOOGLE },
	{ NULL, 0 },
};

static const struct config_key_name bearer_mechs[] = {
	{ "auto", CONFIG_BEARER_AUTO }, { "xoauth2", CONFIG_BEARER_XOAUTH2 },
	{ "oauthbearer", CONFIG_BEARER_OAUTHBEARER },
	{ NULL, 0 },
};

static const struct config_key_name grants[] = {
	{ "refresh_token", CONFIG_OAUTH2_REFRESH_TOKEN },
	{ "client_credentials", CONFIG_OAUTH2_CLIENT_CREDENTIALS },
	{ "command", CONFIG_OAUTH2_COMMAND },
	{ NULL, 0 },
};

/* The rows with an option come first, in --help order. */
const struct config_key config_keys[] = {
	{ .section = "cli", .key = "config", .option = "config",
	  .short_opt = 'c', .arg = "FILE",
	  .help = "read settings from an INI file" },
	{ .section = "cli", .key = "test", .option = "test", .short_opt = 't',
	  .help = "check the configuration and exit" },
	{ .section = "listener", .key = "address",
	  L(address), FUNC(config_listener_address),
	  .option = "listen", .short_opt = 'l', .arg = "ADDR:PORT",
	  .help = "POP3 listener (repeatable), e.g. 127.0.0.1:110;\n"
	  "offers STLS when --cert and --key are given" },
	{ .section = "listener", .key = "address", .option = "listen-tls",
	  .arg = "ADDR:PORT", .listener_tls = "implicit",
	  .help = "POP3S listener, implicit TLS (RFC 8314)" },
	{ .section = "tls_profile", .key = "cert", PPATH(cert),
	  .option = "cert", .arg = "FILE",
	  .help = "certificate chain (PEM) of the \"default\" profile" },
	{ .section = "tls_profile", .key = "key", PPATH(key),
	  .option = "key", .arg = "FILE", .help = "its private key (PEM)" },
	{ .section = "cli", .key = "plaintext_auth", .option = "plaintext-auth",
	  .fixed = "yes",
	  .help = "allow USER/PASS and AUTH PLAIN/LOGIN without TLS\n"
	  "from anywhere, not only from loopback" },
	{ .section = "upstream", .key = "url", FUNC(config_upstream_url),
	  .scope = CONFIG_SCOPE_UPSTREAM,
	  .option = "upstream", .short_opt = 'u', .arg = "URL",
	  .help = "upstream IMAP server: imaps://HOST[:993],\n"
	  "imap+starttls://HOST[:143] or imap://HOST[:143]" },
	{ .section = "upstream", .key = "ca_file", UPATH(ca_file),
	  .option = "upstream-ca", .arg = "FILE",
	  .help = "CA certificates (PEM) for the upstream's certificate" },
	{ .section = "global", .key = "workers", .type = CONFIG_KEY_UINT,
	  G(workers), .max = CONFIG_MAX_WORKERS, .def = "0",
	  .note = " (0 = CPUs)", .option = "workers", .short_opt = 'w',
	  .arg = "N", .help = "event loops (default: number of CPUs)" },
	{ .section = "upstream", .key = "mailbox",
	  FUNC(config_upstream_mailbox), .scope = CONFIG_SCOPE_UPSTREAM,
	  .def = "INBOX", .option = "mailbox", .arg = "NAME",
	  .help = "maildrop folder (default INBOX)" },
	{ .section = "upstream", .key = "uidl_template",
	  FUNC(config_uidl_template), .def = POP3_UIDL_DEFAULT_TEMPLATE,
	  .option = "uidl-template", .arg = "T",
	  .help = "UIDL format (default {uid:08x}{uidvalidity:08x})" },
	{ .section = "upstream", .key = "seen_on_retr", .type = CONFIG_KEY_BOOL,
	  G(seen_on_retr), .def = "yes", .option = "no-seen", .fixed = "no",
	  .help = "do not flag retrieved messages \\Seen" },
	/* RFC 1939 sec. 3: an autologout timer MUST be at least 10 minutes. */
	{ .section = "session", .key = "idle_timeout",
	  .type = CONFIG_KEY_DURATION, G(idle_timeout_ms), .min = 1000,
	  .max = CONFIG_MAX_TIMEOUT_S, .def = "10m",
	  .option = "idle-timeout", .arg = "S",
	  .help = "POP3 autologout in seconds (default 600)" },
	{ .section = "session", .key = "login_timeout",
	  .type = CONFIG_KEY_DURATION, G(login_timeout_ms), .min = 1000,
	  .max = CONFIG_MAX_TIMEOUT_S, .def = "10m",
	  .option = "login-timeout", .arg = "S",
	  .help = "time allowed in AUTHORIZATION (default 600)" },
	{ .section = "upstream", .key = "connect_timeout",
	  .type = CONFIG_KEY_DURATION, G(connect_timeout_ms), .min = 1000,
	  .max = CONFIG_MAX_TIMEOUT_S, .def = "30s",
	  .option = "connect-timeout", .arg = "S",
	  .help = "upstream connect timeout (default 30)" },
	{ .section = "upstream", .key = "command_timeout",
	  .type = CONFIG_KEY_DURATION, G(command_timeout_ms), .min = 1000,
	  .max = CONFIG_MAX_TIMEOUT_S, .def = "120s",
	  .option = "command-timeout", .arg = "S",
	  .help = "upstream command timeout (default 120)" },
	{ .section = "session", .key = "auth_failure_delay",
	  .type = CONFIG_KEY_DURATION, G(auth_failure_delay_ms),
	  .max = CONFIG_MAX_AUTH_DELAY_S, .def = "2s",
	  .option = "auth-failure-delay", .arg = "D",
	  .help = "delay of the first failed login's reply, doubled\n"
	  "per failure from the same address (default 2s)" },
	{ .section = "global", .key = "log_level", .type = CONFIG_KEY_ENUM,
	  G(log_level), .names = log_levels, .nocase = true,
	  .def = "info", .note = "debug, info, warn or error",
	  .option = "log-level", .arg = "LEVEL",
	  .help = "debug, info, warn or error (default info)" },
	{ .section = "global", .key = "user", .type = CONFIG_KEY_NAME,
	  G(user), .max = SIZE(struct config, user),
	  .option = "user", .arg = "NAME",
	  .help = "started as root: become NAME after binding" },
	{ .section = "global", .key = "group", .type = CONFIG_KEY_NAME,
	  G(group), .max = SIZE(struct config, group),
	  .option = "group", .arg = "NAME",
	  .help = "... and this group (default: NAME's group)" },
	{ .section = "global", .key = "allow_root", .type = CONFIG_KEY_BOOL,
	  G(allow_root), .option = "allow-root", .fixed = "yes",
	  .help = "keep running as root (not recommended)" },
	{ .section = "global", .key = "metrics_address",
	  FUNC(config_metrics_address), .def = "",
	  .option = "metrics", .arg = "ADDR:PORT",
	  .help = "Prometheus text endpoint (GET /metrics)" },
	{ .section = "cli", .key = "version", .option = "version",
	  .short_opt = 'V', .help = "print the version and exit" },
	{ .section = "cli", .key = "help", .option = "help", .short_opt = 'h',
	  .help = "print this help and exit" },

	/* [global] */
	{ .section = "global", .key = "max_sessions", .type = CONFIG_KEY_UINT,
	  G(max_sessions), .min = 1, .max = CONFIG_MAX_COUNT,
	  .def = "10000" },
	/* Above what one device or one gateway-sized NAT needs, far below
	 * what would starve everyone else. */
	{ .section = "global", .key = "max_sessions_per_address",
	  .type = CONFIG_KEY_UINT, G(max_sessions_per_address),
	  .max = CONFIG_MAX_COUNT, .def = "64", .note = " (0: no limit)" },
	{ .section = "global", .key = "max_connection_rate_per_address",
	  .type = CONFIG_KEY_UINT, G(max_connection_rate_per_address),
	  .max = CONFIG_MAX_COUNT, .def = "0", .note = " (0: no limit)" },
	{ .section = "global", .key = "log_target", .type = CONFIG_KEY_TARGET,
	  G(log_syslog), .def = "stderr" },
	{ .section = "global", .key = "log_facility", .type = CONFIG_KEY_ENUM,
	  G(log_facility), .names = log_facilities, .def = "mail",
	  .note = "mail, daemon or local0..local7" },
	{ .section = "global", .key = "oauth2_refresh_margin",
	  .type = CONFIG_KEY_DURATION, G(oauth2_refresh_margin_ms),
	  .max = 3600, .def = "60s" },
	{ .section = "global", .key = "oauth2_retry_min",
	  .type = CONFIG_KEY_DURATION, G(oauth2_retry_min_ms),
	  .min = 10, .max = 3600, .def = "1s" },
	{ .section = "global", .key = "oauth2_retry_max",
	  .type = CONFIG_KEY_DURATION, G(oauth2_retry_max_ms),
	  .min = 10, .max = 24 * 3600, .def = "300s" },
	{ .section = "global", .key = "oauth2_http_timeout",
	  .type = CONFIG_KEY_DURATION, G(oauth2_http_timeout_ms),
	  .min = 100, .max = 600, .def = "15s" },
	{ .section = "global", .key = "accounts_file", GPATH(accounts_file) },
	{ .section = "global", .key = "state_directory",
	  GPATH(state_directory), .def = "/var/lib/popgate" },
	{ .section = "global", .key = "drain_timeout",
	  .type = CONFIG_KEY_DURATION, G(drain_timeout_ms),
	  .max = CONFIG_MAX_TIMEOUT_S, .def = "30s" },

	/* [session] */
	/* A few AUTH exchanges with long tokens; not an endless stream. */
	{ .section = "session", .key = "login_max_octets",
	  .type = CONFIG_KEY_UINT, G(login_max_octets),
	  .min = CONFIG_MIN_LOGIN_OCTETS, .max = CONFIG_MAX_LOGIN_OCTETS,
	  .def = "65536", .note = " octets" },
	{ .section = "session", .key = "auth_failure_delay_max",
	  .type = CONFIG_KEY_DURATION, G(auth_failure_delay_max_ms),
	  .max = CONFIG_MAX_AUTH_DELAY_S, .def = "15s" },

	/* [listener NAME] */
	{ .section = "listener", .key = "tls", .type = CONFIG_KEY_ENUM, L(tls),
	  .names = listener_tls, .nocase = true,
	  .note = "none, starttls or implicit" },
	{ .section = "listener", .key = "tls_profile",
	  FUNC(config_listener_profile), .scope = CONFIG_SCOPE_LISTENER },
	{ .section = "listener", .key = "plaintext_auth",
	  .type = CONFIG_KEY_BOOL, L(plaintext_auth) },
	{ .section = "listener", .key = "trusted_networks",
	  FUNC(config_listener_trusted), .scope = CONFIG_SCOPE_LISTENER,
	  .given = offsetof(struct config_listener, trusted_set) },
	{ .section = "listener", .key = "proxy_protocol",
	  .type = CONFIG_KEY_BOOL, L(proxy_protocol) },
	{ .section = "listener", .key = "proxy_networks",
	  FUNC(config_listener_proxy_from), .scope = CONFIG_SCOPE_LISTENER },
	{ .section = "listener", .key = "apop", .type = CONFIG_KEY_BOOL,
	  L(apop), .def = "yes" },

	/* [upstream]: what every upstream session shares */
	{ .section = "upstream", .key = "fetch_ahead", .type = CONFIG_KEY_BOOL,
	  G(fetch_ahead), .def = "yes" },
	{ .section = "upstream", .key = "fetch_chunk", .type = CONFIG_KEY_UINT,
	  G(fetch_chunk_octets), .min = CONFIG_MIN_CHUNK,
	  .max = CONFIG_MAX_CHUNK, .def = "262144", .note = " octets" },
	{ .section = "upstream", .key = "fetch_window", .type = CONFIG_KEY_UINT,
	  G(fetch_window), .min = 1, .max = CONFIG_MAX_WINDOW, .def = "3" },
	/* [upstream NAME]: the server */
	{ .section = "upstream", .key = "provider", .type = CONFIG_KEY_ENUM,
	  U(provider), .names = providers, .nocase = true,
	  .note = "generic, microsoft365 or google" },
	{ .section = "upstream", .key = "client_cert", UPATH(client_cert) },
	{ .section = "upstream", .key = "client_key", UPATH(client_key) },
	{ .section = "upstream", .key = "verify", .type = CONFIG_KEY_BOOL,
	  U(verify), .def = "yes" },
	/* The provider presets turn it off unless it is given. */
	{ .section = "upstream", .key = "passthrough", .type = CONFIG_KEY_BOOL,
	  U(passthrough), .def = "yes",
	  .given = offsetof(struct config_upstream, passthrough_set) },
	{ .section = "upstream", .key = "sasl", .type = CONFIG_KEY_ENUM,
	  U(bearer), .names = bearer_mechs, .nocase = true,
	  .note = "auto, xoauth2 or oauthbearer" },

	/* [routes]: the key is the match, any key */
	{ .section = "routes", FUNC(config_route_set) },

	/* [tls_profile NAME]; RFC 8314 sec. 4.1: TLS 1.2 or later unless a
	 * profile opts down. */
	{ .section = "tls_profile", .key = "ciphers", PPATH(ciphers) },
	{ .section = "tls_profile", .key = "ciphersuites",
	  PPATH(ciphersuites) },
	{ .section = "tls_profile", .key = "min_version",
	  .type = CONFIG_KEY_ENUM, P(min_version), .names = tls_versions,
	  .nocase = true, .def = "TLSv1.2",
	  .note = "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3" },
	{ .section = "tls_profile", .key = "max_version",
	  .type = CONFIG_KEY_ENUM, P(max_version), .names = tls_versions,
	  .nocase = true, .note = "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3" },
	{ .section = "tls_profile", .key = "security_level",
	  .type = CONFIG_KEY_UINT, P(security_level), .max = 5 },

	/* [oauth2 NAME] */
	{ .section = "oauth2", .key = "grant", .type = CONFIG_KEY_ENUM,
	  O(grant), .names = grants,
	  .note = "refresh_token, client_credentials or command" },
	{ .section = "oauth2", .key = "provider", FUNC(config_oauth2_provider),
	  .scope = CONFIG_SCOPE_OAUTH2 },
	{ .section = "oauth2", .key = "token_url", OTEXT(token_url) },
	{ .section = "oauth2", .key = "device_url", OTEXT(device_url) },
	{ .section = "oauth2", .key = "tenant", FUNC(config_oauth2_tenant),
	  .scope = CONFIG_SCOPE_OAUTH2 },
	{ .section = "oauth2", .key = "client_id", OTEXT(client_id) },
	{ .section = "oauth2", .key = "client_secret", OTEXT(client_secret) },
	{ .section = "oauth2", .key = "client_secret_file",
	  FUNC(config_oauth2_secret_file), .scope = CONFIG_SCOPE_OAUTH2 },
	{ .section = "oauth2", .key = "scope", OTEXT(scope) },
	{ .section = "oauth2", .key = "refresh_token_file",
	  OPATH(refresh_token_file) },
	{ .section = "oauth2", .key = "command", OTEXT(command) },
	{ .section = "oauth2", .key = "command_timeout",
	  .type = CONFIG_KEY_DURATION, O(command_timeout_ms), .min = 100,
	  .max = CONFIG_MAX_COMMAND_S, .def = "10s" },
	{ .section = "oauth2", .key = "command_lifetime",
	  FUNC(config_oauth2_lifetime), .scope = CONFIG_SCOPE_OAUTH2,
	  .def = "300" },
	{ .section = "oauth2", .key = "ca_file", OPATH(ca_file) },
};

const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

const struct config_key *
config_key_find(const char *section, const char *key)
{
	const struct config_key	*k;
	size_t			 i;

	for (i = 0; i < config_nkeys; i++) {
		k = &config_keys[i];
		if (k->type != CONFIG_KEY_OTHER &&
		    strcmp(k->section, section) == 0 &&
		    (k->key == NULL || strcmp(k->key, key) == 0))
			return k;
	}
	return NULL;
}

static int
config_key_enum(const struct config_key *k, int *field, const char *value,
    char *err, size_t errlen)
{
	const struct config_key_name	*n;

	for (n = k->names; n->name != NULL; n++) {
		if ((k->nocase ? strcasecmp(value, n->name) :
		    strcmp(value, n->name)) == 0) {
			*field = n->value;
			return 0;
		}
	}
	snprintf(err, errlen, "%s must be %s", k->key, k->note);
	return -EINVAL;
}

/* Strings: a file name (config_set_path), a line of text, a user name. */
static int
config_key_string(const struct config_key *k, char *field, const char *value,
    char *err, size_t errlen)
{
	switch (k->type) {
	case CONFIG_KEY_PATH:
		return config_set_path(field, k->max, value, err, errlen);
	case CONFIG_KEY_TEXT:
		if (*value == '\0' || strlen(value) >= k->max ||
		    strpbrk(value, "\r\n") != NULL) {
			snprintf(err, errlen, "%s must be 1..%lu octets on one "
			    "line", k->key, k->max - 1);
			return -EINVAL;
		}
		break;
	default:
		if (strlen(value) >= k->max ||
		    strpbrk(value, " \t:/") != NULL) {
			snprintf(err, errlen, "bad %s name \"%.60s\"", k->key,
			    value);
			return -EINVAL;
		}
		break;
	}
	snprintf(field, k->max, "%s", value);
	return 0;
}

/* Sets the field, without marking it given (defaults come this way). */
static int
config_key_parse(void *base, const struct config_key *k, const char *key,
    const char *value, char *err, size_t errlen)
{
	char		*field = (char *)base + k->offset;
	unsigned long	 v;
	bool		 b;

	switch (k->type) {
	case CONFIG_KEY_UINT:
		if (config_parse_uint(value, k->min, k->max, &v) != 0) {
			snprintf(err, errlen, "%s must be %lu..%lu%s", k->key,
			    k->min, k->max, k->note != NULL ? k->note : "");
			return -EINVAL;
		}
		*(unsigned int *)(void *)field = (unsigned int)v;
		return 0;
	case CONFIG_KEY_DURATION:
		return config_set_duration((unsigned int *)(void *)field, value,
		    k->min, k->max, err, errlen);
	case CONFIG_KEY_BOOL:
		if (config_parse_bool(value, (bool *)(void *)field) != 0) {
			snprintf(err, errlen, "%s must be yes or no", k->key);
			return -EINVAL;
		}
		return 0;
	case CONFIG_KEY_PATH:
	case CONFIG_KEY_TEXT:
	case CONFIG_KEY_NAME:
		return config_key_string(k, field, value, err, errlen);
	case CONFIG_KEY_ENUM:
		return config_key_enum(k, (int *)(void *)field, value, err,
		    errlen);
	case CONFIG_KEY_TARGET:
		if (strcmp(value, "stderr") != 0 &&
		    strcmp(value, "syslog") != 0) {
			snprintf(err, errlen, "log_target must be stderr or "
			    "syslog");
			return -EINVAL;
		}
		b = strcmp(value, "syslog") == 0;
		memcpy(field, &b, sizeof(b));
		return 0;
	case CONFIG_KEY_FUNC:
		return k->parse(base, key, value, err, errlen);
	case CONFIG_KEY_OTHER:
		break;
	}
	snprintf(err, errlen, "unknown key \"%.40s\" in [%s]", key,
	    k->section);
	return -EINVAL;
}

int
config_key_set(void *base, const struct config_key *k, const char *key,
    const char *value, char *err, size_t errlen)
{
	int	r;

	if ((r = config_key_parse(base, k, key, value, err, errlen)) == 0 &&
	    k->given != 0)
		*(bool *)(void *)((char *)base + k->given) = true;
	return r;
}

void
config_keys_defaults(void *base, enum config_scope scope)
{
	char			 err[CONFIG_MAX_ERROR_TEXT];
	const struct config_key	*k;
	size_t			 i;

	for (i = 0; i < config_nkeys; i++) {
		k = &config_keys[i];
		if (k->type != CONFIG_KEY_OTHER && k->scope == scope &&
		    k->def != NULL && config_key_parse(base, k, k->key, k->def,
		    err, sizeof(err)) != 0)
			abort();	/* the built-in defaults must parse */
	}
}

/* "  -l, --listen ADDR:PORT   text", continued lines under the text. */
void
config_keys_help(FILE *fp)
{
	const struct config_key	*k;
	const char		*p;
	size_t			 i;
	int			 n;

	for (i = 0; i < config_nkeys; i++) {
		k = &config_keys[i];
		if (k->option == NULL)
			continue;
		if (k->short_opt != '\0')
			n = fprintf(fp, "  -%c, --%s", k->short_opt, k->option);
		else
			n = fprintf(fp, "      --%s", k->option);
		if (k->arg != NULL)
			n += fprintf(fp, " %s", k->arg);
		if (n > CONFIG_HELP_COLUMN - 2)
			n = CONFIG_HELP_COLUMN - 2;
		fprintf(fp, "%*s", CONFIG_HELP_COLUMN - n, "");
		for (p = k->help; strchr(p, '\n') != NULL;
		    p = strchr(p, '\n') + 1)
			fprintf(fp, "%.*s\n%*s", (int)(strchr(p, '\n') - p), p,
			    CONFIG_HELP_COLUMN, "");
		fprintf(fp, "%s\n", p);
	}
}
