/* SPDX-License-Identifier: MIT */
/*
 * config.h - popgate settings: INI file (config/ini.c) or command line -> one
 * validated, immutable struct config. No I/O besides reading the file.
 */
#ifndef POPGATE_CONFIG_H
#define POPGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "pop3_uidl.h"

#define CONFIG_MAX_LISTENERS	16
#define CONFIG_MAX_PROFILES	16
/* Networks per trusted_networks list. */
#define CONFIG_MAX_NETWORKS	32
#define CONFIG_MAX_PATH		512
#define CONFIG_MAX_NAME		64
#define CONFIG_MAX_HOST		256
#define CONFIG_MAX_MAILBOX	256
/* Errors collected per load; the rest are counted, not kept. */
#define CONFIG_MAX_ERRORS	32
#define CONFIG_MAX_ERROR_TEXT	300
/* Longest failed-login delay a config may ask for. */
#define CONFIG_MAX_AUTH_DELAY_S	300

enum config_log_level {
	CONFIG_LOG_DEBUG,
	CONFIG_LOG_INFO,
	CONFIG_LOG_WARN,
	CONFIG_LOG_ERROR,
};

enum config_upstream_tls {
	CONFIG_UPSTREAM_PLAIN,		/* imap:// */
	CONFIG_UPSTREAM_IMPLICIT,	/* imaps:// (RFC 8314: preferred) */
	CONFIG_UPSTREAM_STARTTLS,	/* imap+starttls:// (strict) */
};

enum config_listener_tls {
	CONFIG_LISTENER_TLS_NONE,
	CONFIG_LISTENER_TLS_STARTTLS,	/* STLS, RFC 2595 */
	CONFIG_LISTENER_TLS_IMPLICIT,	/* POP3S, RFC 8314 */
};

/* TLS protocol versions, in order. */
enum config_tls_version {
	CONFIG_TLS_ANY,
	CONFIG_TLS_1_0,
	CONFIG_TLS_1_1,
	CONFIG_TLS_1_2,
	CONFIG_TLS_1_3,
};

/* OAuth2 token sources ([oauth2 NAME] sections). */
#define CONFIG_MAX_OAUTH2	64
#define CONFIG_MAX_URL		512
#define CONFIG_MAX_SECRET	512

enum config_provider {
	CONFIG_PROVIDER_GENERIC,
	CONFIG_PROVIDER_MICROSOFT365,	/* Exchange Online */
	CONFIG_PROVIDER_GOOGLE,		/* Gmail, Google Workspace */
};

enum config_oauth2_grant {
	CONFIG_OAUTH2_REFRESH_TOKEN,	/* RFC 6749 sec. 6, rotated tokens kept */
	CONFIG_OAUTH2_CLIENT_CREDENTIALS, /* RFC 6749 sec. 4.4 (app-only) */
	CONFIG_OAUTH2_COMMAND,		/* an external program prints a token */
};

struct config_oauth2 {
	char			 name[CONFIG_MAX_NAME];
	enum config_oauth2_grant grant;
	enum config_provider	 provider;	/* fills in URLs and scope */
	char			 token_url[CONFIG_MAX_URL];
	char			 device_url[CONFIG_MAX_URL]; /* RFC 8628 bootstrap */
	char			 client_id[CONFIG_MAX_SECRET];
	char			 client_secret[CONFIG_MAX_SECRET]; /* "" = public */
	char			 scope[CONFIG_MAX_URL];
	/* refresh_token: where the current refresh token lives (0600,
	 * replaced atomically); default STATE_DIRECTORY/NAME.refresh */
	char			 refresh_token_file[CONFIG_MAX_PATH];
	char			 command[CONFIG_MAX_PATH];	/* COMMAND: sh -c */
	unsigned int		 command_timeout_ms;	/* default 10 s */
	unsigned int		 command_lifetime_s;	/* default 300 s */
	char			 ca_file[CONFIG_MAX_PATH]; /* "" = system CAs */
	unsigned int		 line;		/* where it was declared */
};

struct config_network {
	struct sockaddr_storage	addr;	/* family and masked address */
	unsigned int		prefix;	/* bits */
};

struct config_tls_profile {
	char			name[CONFIG_MAX_NAME];
	char			cert[CONFIG_MAX_PATH];
	char			key[CONFIG_MAX_PATH];
	enum config_tls_version	min_version;	/* default TLSv1.2 */
	enum config_tls_version	max_version;	/* ANY = newest */
	char			ciphers[CONFIG_MAX_PATH];
	char			ciphersuites[CONFIG_MAX_PATH];
	int			security_level;	/* -1 = OpenSSL's default */
	unsigned int		line;		/* where it was declared */
};

/* Upstream IMAP servers: [upstream] is the one named "default". */
#define CONFIG_MAX_UPSTREAMS	32
#define CONFIG_MAX_ROUTES	256

/* How a gateway-held OAuth2 token is presented upstream. */
enum config_bearer_mech {
	CONFIG_BEARER_AUTO,		/* XOAUTH2 (what providers document) */
	CONFIG_BEARER_XOAUTH2,
	CONFIG_BEARER_OAUTHBEARER,	/* RFC 7628 */
};

struct config_upstream {
	char			 name[CONFIG_MAX_NAME];
	enum config_provider	 provider;
	char			 url[CONFIG_MAX_HOST + 32];
	enum config_upstream_tls tls;
	char			 host[CONFIG_MAX_HOST];
	char			 port[8];
	char			 ca_file[CONFIG_MAX_PATH];
	bool			 verify;	/* default yes */
	char			 client_cert[CONFIG_MAX_PATH];
	char			 client_key[CONFIG_MAX_PATH];
	char			 mailbox[CONFIG_MAX_MAILBOX];
	enum config_bearer_mech	 bearer;
	/* The device's own POP3 credentials may be relayed (no device
	 * account): default yes, no for the provider presets (passwords
	 * are refused there anyway). */
	bool			 passthrough;
	bool			 passthrough_set;
};

/* [routes]: "user@domain = NAME", "domain = NAME" (or "@domain"),
 * "* = NAME". Exact users win over domains, domains over "*". */
struct config_route {
	char			 match[CONFIG_MAX_HOST];	/* lower case */
	bool			 is_user;
	char			 upstream[CONFIG_MAX_NAME];
};

struct config_listener {
	char			name[CONFIG_MAX_NAME];
	char			address[CONFIG_MAX_HOST + 8];	/* as written */
	struct sockaddr_storage	addr;
	socklen_t		addrlen;
	enum config_listener_tls tls;
	char			tls_profile[CONFIG_MAX_NAME];
	bool			plaintext_auth;	/* USER/PASS without TLS */
	struct config_network	trusted[CONFIG_MAX_NETWORKS];
	unsigned int		ntrusted;	/* default: loopback only */
	bool			trusted_set;
	/* PROXY protocol v1/v2 header first, only from these load balancers;
	 * the header's client address is the session's peer. */
	bool			proxy_protocol;
	struct config_network	proxy_from[CONFIG_MAX_NETWORKS];
	unsigned int		nproxy_from;
	/* APOP offered (timestamp in the greeting) when device accounts
	 * with an APOP secret exist; default yes. */
	bool			apop;
};

struct config {
	unsigned int		workers;	/* 0 = number of CPUs */
	enum config_log_level	log_level;
	bool			log_syslog;	/* log_target = syslog */
	int			log_facility;	/* syslog facility, LOG_MAIL */
	struct config_listener	listeners[CONFIG_MAX_LISTENERS];
	unsigned int		nlisteners;

	struct config_tls_profile profiles[CONFIG_MAX_PROFILES];
	unsigned int		nprofiles;

	struct config_upstream	upstreams[CONFIG_MAX_UPSTREAMS];
	unsigned int		nupstreams;
	struct config_route	routes[CONFIG_MAX_ROUTES];
	unsigned int		nroutes;
	struct config_oauth2	oauth2[CONFIG_MAX_OAUTH2];
	unsigned int		noauth2;
	/* Device accounts (config/accounts.h); "" = none. */
	char			accounts_file[CONFIG_MAX_PATH];
	/* Rotated refresh tokens live here by default. */
	char			state_directory[CONFIG_MAX_PATH];
	/* OAuth2 token sources: refresh ahead of expiry by this much; after
	 * a failure wait retry_min, doubled up to retry_max; HTTP timeout. */
	unsigned int		oauth2_refresh_margin_ms;
	unsigned int		oauth2_retry_min_ms;
	unsigned int		oauth2_retry_max_ms;
	unsigned int		oauth2_http_timeout_ms;
	bool			seen_on_retr;
	bool			fetch_ahead;	/* next small message rides along */
	char			uidl_text[POP3_UIDL_MAX_OCTETS * 2];
	struct pop3_uidl_template uidl;

	unsigned int		connect_timeout_ms;
	unsigned int		command_timeout_ms;
	unsigned int		idle_timeout_ms;	/* RFC 1939 sec. 3: >= 10 min by default */
	unsigned int		login_timeout_ms;	/* AUTHORIZATION state limit */
	unsigned int		login_max_octets;	/* commands before login */
	/* A failed login waits this long before its -ERR, doubled for each
	 * further failure from the same client address, up to the max. */
	unsigned int		auth_failure_delay_ms;
	unsigned int		auth_failure_delay_max_ms;
	unsigned int		max_sessions;		/* per process */
	unsigned int		max_sessions_per_address;	/* 0: no limit */
	unsigned int		max_connection_rate_per_address; /* per s, 0: none */
	unsigned int		drain_timeout_ms;	/* SIGTERM: busy sessions' grace */
	/* Started as root: after binding and loading keys, become this user
	 * (and group; default the user's); root stays only with allow_root. */
	char			user[CONFIG_MAX_NAME];
	char			group[CONFIG_MAX_NAME];
	bool			allow_root;
	/* Prometheus/OpenMetrics text endpoint; addrlen 0 = off. */
	struct sockaddr_storage	metrics_addr;
	socklen_t		metrics_addrlen;
	unsigned int		fetch_chunk_octets;	/* BODY.PEEK[]<o.n> size */
	unsigned int		fetch_window;		/* partial fetches in flight */
};

struct config_errors {
	unsigned int	count;
	char		text[CONFIG_MAX_ERRORS][CONFIG_MAX_ERROR_TEXT];
};

/* Records one error (printf-style); past CONFIG_MAX_ERRORS it is counted
 * only. */
void	config_errors_add(struct config_errors *errs, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Fills in every default. */
void	config_defaults(struct config *c);
/* Sets one key; section is as in the file: "global", "listener NAME",
 * "upstream NAME", "tls_profile NAME", ... Returns 0, or -EINVAL with a
 * message in err. */
int	config_set(struct config *c, const char *section, const char *key,
	    const char *value, char *err, size_t errlen);
/* Reads an INI file over the defaults already in c. Every error is recorded
 * as "FILE:LINE: message". Returns 0 or -EINVAL (errors in errs) or -errno
 * (file could not be opened; errs says so). */
int	config_load_file(struct config *c, const char *path,
	    struct config_errors *errs);
/* Cross-field checks after all keys are set. Returns 0 or -EINVAL. */
int	config_validate(struct config *c, const char *origin,
	    struct config_errors *errs);
/* Parses "ADDR/BITS" or "ADDR" (a host) into a network. Matching an
 * address against one is net/'s addr_in_network(). */
int	config_parse_network(const char *text, struct config_network *net);
const struct config_tls_profile *config_find_profile(const struct config *c,
	    const char *name);
/* Parses "HOST:PORT", "[V6]:PORT" or "*:PORT" (numeric hosts only). */
int	config_parse_address(const char *text, struct sockaddr_storage *ss,
	    socklen_t *len);
const char *config_log_level_name(enum config_log_level level);
const struct config_upstream *config_find_upstream(const struct config *c,
	    const char *name);
const struct config_oauth2 *config_find_oauth2(const struct config *c,
	    const char *name);
/*
 * The upstream for a login name: an exact [routes] user, then its domain
 * (after the last '@'), then "*"; without a [routes] section, "default".
 * NULL: no route (the login fails like a wrong password).
 */
const struct config_upstream *config_route(const struct config *c,
	    const char *user);
const char *config_provider_name(enum config_provider p);

/*
 * config/keys.c: one row per setting of every section, as Dovecot's DEF()
 * tables: its section and key, its type, where it goes (offset in the
 * struct of its scope), its range and default, and its command-line option
 * with its --help line. The table drives INI parsing, the defaults of
 * struct config and of each section as it is made, getopt and --help.
 * Section "cli" rows are the command line's own (-c, -t, -V, -h,
 * --plaintext-auth); a row of type OTHER is a second option for a key
 * another row parses (--listen-tls).
 */
enum config_key_type {
	CONFIG_KEY_OTHER,	/* not parsed: an option only */
	CONFIG_KEY_UINT,	/* unsigned int, min..max */
	CONFIG_KEY_DURATION,	/* unsigned int ms, min ms .. max s */
	CONFIG_KEY_BOOL,
	CONFIG_KEY_PATH,	/* char[max], not empty */
	CONFIG_KEY_TEXT,	/* char[max], not empty, one line */
	CONFIG_KEY_NAME,	/* char[max]: a user or group name */
	CONFIG_KEY_ENUM,	/* int, one of names */
	CONFIG_KEY_TARGET,	/* log_target: stderr or syslog */
	CONFIG_KEY_FUNC,	/* parse() does it */
};

/* Which struct a row's offset is in: struct config, or the listener,
 * upstream, TLS profile or token source its section names. */
enum config_scope {
	CONFIG_SCOPE_CONFIG,
	CONFIG_SCOPE_LISTENER,
	CONFIG_SCOPE_UPSTREAM,
	CONFIG_SCOPE_PROFILE,
	CONFIG_SCOPE_OAUTH2,
};

struct config_key_name {
	const char	*name;
	int		 value;
};

/* A custom parser: base is the struct of the row's scope, key the key as
 * written (for [routes], where the key is data). */
typedef int	(*config_key_fn)(void *base, const char *key,
		    const char *value, char *err, size_t errlen);

struct config_key {
	const char		*section;	/* its first word */
	const char		*key;		/* NULL: any key (FUNC) */
	enum config_key_type	 type;
	enum config_scope	 scope;
	size_t			 offset;	/* in the struct of scope */
	unsigned long		 min, max;	/* ranges, or the field's size */
	const struct config_key_name *names;	/* ENUM */
	bool			 nocase;	/* ENUM: names in any case */
	const char		*note;	/* after a range's error; ENUM: choices */
	const char		*def;	/* default, as written; NULL: zero */
	config_key_fn		 parse;		/* FUNC */
	/* A bool set when the file or command line gives the key (not by
	 * its default); 0: none (offset 0 is never such a flag). */
	size_t			 given;
	/* The command line: --option (and -short_opt) sets section/key to
	 * its argument, or to fixed for a flag (arg NULL). */
	const char		*option;
	char			 short_opt;
	const char		*arg;	/* in --help: "ADDR:PORT" */
	const char		*fixed;
	const char		*listener_tls;	/* listeners: tls = this */
	const char		*help;	/* --help text, lines split by \n */
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;
/* The row that parses key in a section of this first word, or NULL. */
const struct config_key *config_key_find(const char *section,
	    const char *key);
/* Sets the row's field in base (the struct of its scope). */
int	config_key_set(void *base, const struct config_key *k, const char *key,
	    const char *value, char *err, size_t errlen);
/* Sets the defaults of the rows of scope in base. */
void	config_keys_defaults(void *base, enum config_scope scope);
/* The option lines of --help, in table order. */
void	config_keys_help(FILE *fp);
/* config_set() for a command-line option: a section that needs a name
 * (tls_profile) gets "default", as [upstream] and [listener] do. */
int	config_set_option(struct config *c, const char *section,
	    const char *key, const char *value, char *err, size_t errlen);

#endif
