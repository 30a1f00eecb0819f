/* SPDX-License-Identifier: MIT */
/*
 * keys.c - the settings table: one row per key with its section, type,
 * place in struct config, range, default and command-line option, as
 * Dovecot's DEF() tables. It drives [global] parsing, those defaults,
 * getopt's options and --help. The other sections still have their own
 * parsers; their rows here only name a command-line option.
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
/* --help: where the text of each option starts. */
#define CONFIG_HELP_COLUMN	27

#define DEF(field)	offsetof(struct config, field)
#define SIZE(field)	sizeof(((struct config *)0)->field)

/* ENUM rows store an int. */
_Static_assert(sizeof(enum config_log_level) == sizeof(int),
    "log_level is stored as an int");

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

/* In --help order; rows without an option follow. */
const struct config_key config_keys[] = {
	{ .section = "cli", .key = "config", .option = "config",
	  .short_opt = 'c', .arg = "FILE",
	  .help = "read settings from an INI file" },
	{ .section = "cli", .key = "test", .option = "test", .short_opt = 't',
	  .help = "check the configuration and exit" },
	{ .section = "listener", .key = "address", .option = "listen",
	  .short_opt = 'l', .arg = "ADDR:PORT",
	  .help = "POP3 listener (repeatable), e.g. 127.0.0.1:110;\n"
	  "offers STLS when --cert and --key are given" },
	{ .section = "listener", .key = "address", .option = "listen-tls",
	  .arg = "ADDR:PORT", .listener_tls = "implicit",
	  .help = "POP3S listener, implicit TLS (RFC 8314)" },
	{ .section = "tls_profile default", .key = "cert", .option = "cert",
	  .arg = "FILE",
	  .help = "certificate chain (PEM) of the \"default\" profile" },
	{ .section = "tls_profile default", .key = "key", .option = "key",
	  .arg = "FILE", .help = "its private key (PEM)" },
	{ .section = "cli", .key = "plaintext_auth", .option = "plaintext-auth",
	  .fixed = "yes",
	  .help = "allow USER/PASS and AUTH PLAIN/LOGIN without TLS\n"
	  "from anywhere, not only from loopback" },
	{ .section = "upstream", .key = "url", .option = "upstream",
	  .short_opt = 'u', .arg = "URL",
	  .help = "upstream IMAP server: imaps://HOST[:993],\n"
	  "imap+starttls://HOST[:143] or imap://HOST[:143]" },
	{ .section = "upstream", .key = "ca_file", .option = "upstream-ca",
	  .arg = "FILE",
	  .help = "CA certificates (PEM) for the upstream's certificate" },
	{ .section = "global", .key = "workers", .type = CONFIG_KEY_UINT,
	  .offset = DEF(workers), .max = CONFIG_MAX_WORKERS, .def = "0",
	  .note = " (0 = CPUs)", .option = "workers", .short_opt = 'w',
	  .arg = "N", .help = "event loops (default: number of CPUs)" },
	{ .section = "upstream", .key = "mailbox", .option = "mailbox",
	  .arg = "NAME", .help = "maildrop folder (default INBOX)" },
	{ .section = "upstream", .key = "uidl_template",
	  .option = "uidl-template", .arg = "T",
	  .help = "UIDL format (default {uid:08x}{uidvalidity:08x})" },
	{ .section = "upstream", .key = "seen_on_retr", .option = "no-seen",
	  .fixed = "no", .help = "do not flag retrieved messages \\Seen" },
	{ .section = "session", .key = "idle_timeout", .option = "idle-timeout",
	  .arg = "S", .help = "POP3 autologout in seconds (default 600)" },
	{ .section = "session", .key = "login_timeout",
	  .option = "login-timeout", .arg = "S",
	  .help = "time allowed in AUTHORIZATION (default 600)" },
	{ .section = "upstream", .key = "connect_timeout",
	  .option = "connect-timeout", .arg = "S",
	  .help = "upstream connect timeout (default 30)" },
	{ .section = "upstream", .key = "command_timeout",
	  .option = "command-timeout", .arg = "S",
	  .help = "upstream command timeout (default 120)" },
	{ .section = "session", .key = "auth_failure_delay",
	  .option = "auth-failure-delay", .arg = "D",
	  .help = "delay of the first failed login's reply, doubled\n"
	  "per failure from the same address (default 2s)" },
	{ .section = "global", .key = "log_level", .type = CONFIG_KEY_ENUM,
	  .offset = DEF(log_level), .names = log_levels, .nocase = true,
	  .def = "info", .note = "debug, info, warn or error",
	  .option = "log-level", .arg = "LEVEL",
	  .help = "debug, info, warn or error (default info)" },
	{ .section = "global", .key = "user", .type = CONFIG_KEY_NAME,
	  .offset = DEF(user), .max = SIZE(user),
	  .option = "user", .arg = "NAME",
	  .help = "started as root: become NAME after binding" },
	{ .section = "global", .key = "group", .type = CONFIG_KEY_NAME,
	  .offset = DEF(group), .max = SIZE(group),
	  .option = "group", .arg = "NAME",
	  .help = "... and this group (default: NAME's group)" },
	{ .section = "global", .key = "allow_root", .type = CONFIG_KEY_BOOL,
	  .offset = DEF(allow_root), .option = "allow-root", .fixed = "yes",
	  .help = "keep running as root (not recommended)" },
	{ .section = "global", .key = "metrics_address",
	  .type = CONFIG_KEY_ADDRESS, .offset = DEF(metrics_addr), .def = "",
	  .option = "metrics", .arg = "ADDR:PORT",
	  .help = "Prometheus text endpoint (GET /metrics)" },
	{ .section = "cli", .key = "version", .option = "version",
	  .short_opt = 'V', .help = "print the version and exit" },
	{ .section = "cli", .key = "help", .option = "help", .short_opt = 'h',
	  .help = "print this help and exit" },

	{ .section = "global", .key = "max_sessions", .type = CONFIG_KEY_UINT,
	  .offset = DEF(max_sessions), .min = 1, .max = CONFIG_MAX_COUNT,
	  .def = "10000" },
	/* Above what one device or one gateway-sized NAT needs, far below
	 * what would starve everyone else. */
	{ .section = "global", .key = "max_sessions_per_address",
	  .type = CONFIG_KEY_UINT, .offset = DEF(max_sessions_per_address),
	  .max = CONFIG_MAX_COUNT, .def = "64", .note = " (0: no limit)" },
	{ .section = "global", .key = "max_connection_rate_per_address",
	  .type = CONFIG_KEY_UINT,
	  .offset = DEF(max_connection_rate_per_address),
	  .max = CONFIG_MAX_COUNT, .def = "0", .note = " (0: no limit)" },
	{ .section = "global", .key = "log_target", .type = CONFIG_KEY_TARGET,
	  .offset = DEF(log_syslog), .def = "stderr" },
	{ .section = "global", .key = "log_facility", .type = CONFIG_KEY_ENUM,
	  .offset = DEF(log_facility), .names = log_facilities, .def = "mail",
	  .note = "mail, daemon or local0..local7" },
	{ .section = "global", .key = "oauth2_refresh_margin",
	  .type = CONFIG_KEY_DURATION, .offset = DEF(oauth2_refresh_margin_ms),
	  .max = 3600, .def = "60s" },
	{ .section = "global", .key = "oauth2_retry_min",
	  .type = CONFIG_KEY_DURATION, .offset = DEF(oauth2_retry_min_ms),
	  .min = 10, .max = 3600, .def = "1s" },
	{ .section = "global", .key = "oauth2_retry_max",
	  .type = CONFIG_KEY_DURATION, .offset = DEF(oauth2_retry_max_ms),
	  .min = 10, .max = 24 * 3600, .def = "300s" },
	{ .section = "global", .key = "oauth2_http_timeout",
	  .type = CONFIG_KEY_DURATION, .offset = DEF(oauth2_http_timeout_ms),
	  .min = 100, .max = 600, .def = "15s" },
	{ .section = "global", .key = "accounts_file", .type = CONFIG_KEY_PATH,
	  .offset = DEF(accounts_file), .max = SIZE(accounts_file) },
	{ .section = "global", .key = "state_directory",
	  .type = CONFIG_KEY_PATH, .offset = DEF(state_directory),
	  .max = SIZE(state_directory), .def = "/var/lib/popgate" },
	{ .section = "global", .key = "drain_timeout",
	  .type = CONFIG_KEY_DURATION, .offset = DEF(drain_timeout_ms),
	  .max = CONFIG_MAX_TIMEOUT_S, .def = "30s" },
};

const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

const struct config_key *
config_key_find(const char *section, const char *key)
{
	size_t	i;

	for (i = 0; i < config_nkeys; i++)
		if (config_keys[i].type != CONFIG_KEY_OTHER &&
		    strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].key, key) == 0)
			return &config_keys[i];
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

static int
config_key_address(struct config *c, const char *value, char *err,
    size_t errlen)
{
	if (*value == '\0') {
		c->metrics_addrlen = 0;
		return 0;
	}
	if (config_parse_address(value, &c->metrics_addr,
	    &c->metrics_addrlen) != 0) {
		snprintf(err, errlen, "bad metrics_address \"%.80s\" "
		    "(want IP:PORT or [IPv6]:PORT)", value);
		return -EINVAL;
	}
	return 0;
}

int
config_key_set(struct config *c, const struct config_key *k,
    const char *value, char *err, size_t errlen)
{
	char		*field = (char *)c + k->offset;
	unsigned long	 v;

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
		return config_set_path(field, k->max, value, err, errlen);
	case CONFIG_KEY_NAME:
		if (strlen(value) >= k->max ||
		    strpbrk(value, " \t:/") != NULL) {
			snprintf(err, errlen, "bad %s name \"%.60s\"", k->key,
			    value);
			return -EINVAL;
		}
		snprintf(field, k->max, "%s", value);
		return 0;
	case CONFIG_KEY_ENUM:
		return config_key_enum(k, (int *)(void *)field, value, err,
		    errlen);
	case CONFIG_KEY_TARGET:
		if (strcmp(value, "stderr") == 0)
			c->log_syslog = false;
		else if (strcmp(value, "syslog") == 0)
			c->log_syslog = true;
		else {
			snprintf(err, errlen, "log_target must be stderr or "
			    "syslog");
			return -EINVAL;
		}
		return 0;
	case CONFIG_KEY_ADDRESS:
		return config_key_address(c, value, err, errlen);
	case CONFIG_KEY_OTHER:
		break;
	}
	snprintf(err, errlen, "unknown key \"%.40s\" in [%s]", k->key,
	    k->section);
	return -EINVAL;
}

void
config_keys_defaults(struct config *c)
{
	char	err[CONFIG_MAX_ERROR_TEXT];
	size_t	i;

	for (i = 0; i < config_nkeys; i++)
		if (config_keys[i].type != CONFIG_KEY_OTHER &&
		    config_keys[i].def != NULL &&
		    config_key_set(c, &config_keys[i], config_keys[i].def, err,
		    sizeof(err)) != 0)
			abort();	/* the built-in defaults must parse */
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
