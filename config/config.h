/* SPDX-License-Identifier: MIT */
/*
 * config.h - popgate settings: INI file (inih) or command line -> one
 * validated, immutable struct config. No I/O besides reading the file.
 */
#ifndef POPGATE_CONFIG_H
#define POPGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pop3_uidl.h"

#define CONFIG_MAX_LISTENERS	16
#define CONFIG_MAX_NAME		64
#define CONFIG_MAX_HOST		256
#define CONFIG_MAX_MAILBOX	256
/* Errors collected per load; the rest are counted, not kept. */
#define CONFIG_MAX_ERRORS	32
#define CONFIG_MAX_ERROR_TEXT	300

enum config_log_level {
	CONFIG_LOG_DEBUG,
	CONFIG_LOG_INFO,
	CONFIG_LOG_WARN,
	CONFIG_LOG_ERROR,
};

enum config_upstream_tls {
	CONFIG_UPSTREAM_PLAIN,		/* imap:// */
};

struct config_listener {
	char			name[CONFIG_MAX_NAME];
	char			address[CONFIG_MAX_HOST + 8];	/* as written */
	struct sockaddr_storage	addr;
	socklen_t		addrlen;
};

struct config {
	unsigned int		workers;	/* 0 = number of CPUs */
	enum config_log_level	log_level;
	struct config_listener	listeners[CONFIG_MAX_LISTENERS];
	unsigned int		nlisteners;

	char			upstream_url[CONFIG_MAX_HOST + 32];
	enum config_upstream_tls upstream_tls;
	char			upstream_host[CONFIG_MAX_HOST];
	char			upstream_port[8];
	char			mailbox[CONFIG_MAX_MAILBOX];
	bool			seen_on_retr;
	bool			fetch_ahead;	/* next small message rides along */
	char			uidl_text[POP3_UIDL_MAX_OCTETS * 2];
	struct pop3_uidl_template uidl;

	unsigned int		connect_timeout_ms;
	unsigned int		command_timeout_ms;
	unsigned int		idle_timeout_ms;	/* RFC 1939 sec. 3: >= 10 min by default */
	unsigned int		login_timeout_ms;	/* AUTHORIZATION state limit */
	unsigned int		max_sessions;		/* per worker loop */
	unsigned int		fetch_chunk_octets;	/* BODY.PEEK[]<o.n> size */
	unsigned int		fetch_window;		/* partial fetches in flight */
};

struct config_errors {
	unsigned int	count;
	char		text[CONFIG_MAX_ERRORS][CONFIG_MAX_ERROR_TEXT];
};

/* Fills in every default. */
void	config_defaults(struct config *c);
/* Sets one key; section is "global", "listener NAME", "upstream" or
 * "session". Returns 0, or -EINVAL with a message in err. */
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
/* Parses "HOST:PORT", "[V6]:PORT" or "*:PORT" (numeric hosts only). */
int	config_parse_address(const char *text, struct sockaddr_storage *ss,
	    socklen_t *len);
const char *config_log_level_name(enum config_log_level level);

#endif
