/* SPDX-License-Identifier: MIT */
/*
 * log.c - key=value event lines on stderr, one write(2) each so lines from
 * several worker threads never interleave; or to syslog, where the daemon
 * name and PID come from openlog() and the level becomes the priority.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static _Atomic int log_min_level = CONFIG_LOG_INFO;
static _Atomic bool log_to_syslog;

void
log_open_syslog(int facility)
{
	openlog("popgate", LOG_PID | LOG_NDELAY, facility);
	atomic_store(&log_to_syslog, true);
}

static int
log_priority(enum config_log_level level)
{
	switch (level) {
	case CONFIG_LOG_DEBUG:
		return LOG_DEBUG;
	case CONFIG_LOG_INFO:
		return LOG_INFO;
	case CONFIG_LOG_WARN:
		return LOG_WARNING;
	case CONFIG_LOG_ERROR:
		break;
	}
	return LOG_ERR;
}

void
log_set_level(enum config_log_level level)
{
	atomic_store(&log_min_level, (int)level);
}

void
log_event(enum config_log_level level, const char *event, const char *fmt, ...)
{
	char	line[LOG_MAX_LINE_OCTETS];
	va_list	ap;
	int	n, m;
	ssize_t	w;

	bool	to_syslog = atomic_load(&log_to_syslog);

	if ((int)level < atomic_load(&log_min_level))
		return;
	if (to_syslog)
		n = snprintf(line, sizeof(line), "level=%s event=%s ",
		    config_log_level_name(level), event);
	else
		n = snprintf(line, sizeof(line), "popgate[%ld]: level=%s "
		    "event=%s ", (long)getpid(), config_log_level_name(level),
		    event);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	/* m is what would have been written: compared, not added, so a
	 * long message cannot overflow n + m. */
	n = (size_t)m >= sizeof(line) - 1 - (size_t)n ? (int)sizeof(line) - 2 :
	    n + m;
	while (n > 0 && line[n - 1] == ' ')
		n--;
	if (to_syslog) {
		line[n] = '\0';
		syslog(log_priority(level), "%s", line);
		return;
	}
	line[n++] = '\n';
	w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

char *
log_value(char *dst, size_t dstlen, const char *src)
{
	size_t	i;

	if (dstlen == 0)
		return dst;
	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++) {
		unsigned char	ch = (unsigned char)src[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '=')
			ch = '?';
		dst[i] = (char)ch;
	}
	if (i == 0 && dstlen > 1)
		dst[i++] = '-';
	dst[i] = '\0';
	return dst;
}
