/* SPDX-License-Identifier: MIT */
/*
 * config_int.h - value parsers shared by the files of config/ (not part of
 * the library's interface).
 */
#ifndef POPGATE_CONFIG_INT_H
#define POPGATE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Timeouts are given in seconds; this bounds them to a day. */
#define CONFIG_MAX_TIMEOUT_S	(24 * 3600)
/* Command token sources: a bound on how long the program may run. */
#define CONFIG_MAX_COMMAND_S	300

int	config_parse_uint(const char *value, unsigned long min,
	    unsigned long max, unsigned long *out);
int	config_parse_bool(const char *value, bool *out);
int	config_set_path(char *field, size_t size, const char *value, char *err,
	    size_t errlen);
int	config_set_duration(unsigned int *field_ms, const char *value,
	    unsigned long min_ms, unsigned long max_s, char *err, size_t errlen);
void	config_check_file(struct config_errors *errs, const char *origin,
	    const char *what, const char *path);

/* config/accounts_hash.c: why hash (len octets, not strong) is refused,
 * without quoting it. */
const char *accounts_hash_why(const char *hash, size_t len);

/* config/ini.c: the INI syntax, a line at most this long (CR excluded). */
#define CONFIG_INI_MAX_LINE	4096

/* Called for each key = value with the line it is on: 0, or an error in
 * err (the parser adds file and line). */
typedef int	(*config_ini_cb)(void *arg, const char *section,
		    const char *key, const char *value, unsigned int line,
		    char *err, size_t errlen);
/* Reads fp to its end; every syntax error, overlong line or error from cb
 * is recorded as "PATH:LINE: message". Returns 0 or -errno (read error,
 * no memory); the caller compares errs->count for the rest. */
int	config_ini_parse(FILE *fp, const char *path, config_ini_cb cb,
	    void *arg, struct config_errors *errs);

/* The parsers of the FUNC rows of config/keys.c (config_key_fn). */
#define CONFIG_KEY_FN(fn) \
	int fn(void *base, const char *key, const char *value, char *err, \
	    size_t errlen)
CONFIG_KEY_FN(config_metrics_address);
CONFIG_KEY_FN(config_uidl_template);
CONFIG_KEY_FN(config_listener_address);
CONFIG_KEY_FN(config_listener_profile);
CONFIG_KEY_FN(config_listener_trusted);
CONFIG_KEY_FN(config_listener_proxy_from);
CONFIG_KEY_FN(config_upstream_url);
CONFIG_KEY_FN(config_upstream_mailbox);
CONFIG_KEY_FN(config_route_set);
CONFIG_KEY_FN(config_oauth2_tenant);
CONFIG_KEY_FN(config_oauth2_provider);
CONFIG_KEY_FN(config_oauth2_secret_file);
CONFIG_KEY_FN(config_oauth2_lifetime);

/* config/upstream.c: [upstream NAME], [routes], [oauth2 NAME]. */
/* A name for a section or a reference to one: 1..size-1 octets of
 * letters, digits, '_', '.' and '-'. */
bool	config_name_ok(const char *name, size_t size);
/* The section's struct, made (with its defaults) on first use; NULL with
 * a message in err for a bad name or one too many. */
void	*config_upstream_section(struct config *c, const char *name,
	    char *err, size_t errlen);
void	*config_oauth2_section(struct config *c, const char *name, char *err,
	    size_t errlen);
void	config_validate_upstreams(struct config *c, const char *origin,
	    struct config_errors *errs);

#endif
