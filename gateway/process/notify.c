/* SPDX-License-Identifier: MIT */
/*
 * notify.c - sd_notify without libsystemd: the protocol is one datagram
 * of "KEY=value" lines to the AF_UNIX socket named in $NOTIFY_SOCKET (a
 * leading '@' names an abstract socket).
 */
#include "notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* After the drain timeout: closing sessions and joining the workers. */
#define NOTIFY_STOP_MARGIN_MS	5000

static int			notify_fd = -1;
static struct sockaddr_un	notify_addr;
static socklen_t		notify_addrlen;

void
notify_init(void)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 len;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(notify_addr.sun_path))
		return;
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	/* Not for children (none are started, but keep the contract). */
	unsetenv("NOTIFY_SOCKET");
}

void
notify_send(const char *state)
{
	if (notify_fd < 0)
		return;
	(void)sendto(notify_fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_addrlen);
}

/* The unit's TimeoutStopSec may be shorter than the drain: ask for the
 * drain and a margin to exit (systemd only ever extends its limit). */
void
notify_stopping(unsigned int drain_ms)
{
	char	text[64];

	snprintf(text, sizeof(text), "STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu",
	    ((unsigned long long)drain_ms + NOTIFY_STOP_MARGIN_MS) * 1000);
	notify_send(text);
}
