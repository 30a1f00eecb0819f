/* SPDX-License-Identifier: MIT */
/*
 * log.h - the only module that writes logs: one line per event,
 * "popgate[PID]: level=L event=E key=value ...", to stderr. Safe from any
 * thread (one write(2) per line). Never pass a password or token.
 */
#ifndef POPGATE_LOG_H
#define POPGATE_LOG_H

#include <stddef.h>

#include "config.h"

/* Longest log line; longer ones are cut. */
#define LOG_MAX_LINE_OCTETS	1024

void	log_set_level(enum config_log_level level);
/* From now on, lines go to syslog (facility: LOG_MAIL, LOG_DAEMON, ...)
 * instead of stderr. */
void	log_open_syslog(int facility);
void	log_event(enum config_log_level level, const char *event,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies src into dst as a log value: control, space, '"', '=' and 8-bit
 * octets become '?' so one value stays one token. Returns dst. */
char	*log_value(char *dst, size_t dstlen, const char *src);

#define log_debug(ev, ...)	log_event(CONFIG_LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)	log_event(CONFIG_LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)	log_event(CONFIG_LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...)	log_event(CONFIG_LOG_ERROR, ev, __VA_ARGS__)

#endif
