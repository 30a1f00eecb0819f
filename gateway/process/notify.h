/* SPDX-License-Identifier: MIT */
/*
 * notify.h - the service manager's readiness protocol (sd_notify): a
 * datagram to $NOTIFY_SOCKET, so a Type=notify unit knows when popgate
 * serves, reloads and stops. Without NOTIFY_SOCKET every call does nothing.
 */
#ifndef POPGATE_NOTIFY_H
#define POPGATE_NOTIFY_H

/* Reads and forgets $NOTIFY_SOCKET and opens the socket; call once at
 * start, before privileges are dropped. */
void	notify_init(void);
/* Sends one state text, e.g. "READY=1" or "RELOADING=1". */
void	notify_send(const char *state);
/* Shutdown begins: STOPPING=1 and room for a drain of drain_ms. */
void	notify_stopping(unsigned int drain_ms);

#endif
