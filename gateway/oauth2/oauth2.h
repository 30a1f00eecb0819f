/* SPDX-License-Identifier: MIT */
/*
 * oauth2.h - OAuth2 access tokens for upstream mailboxes that accept no
 * password (Microsoft 365, Google): one token manager per process, on one
 * loop, holding a token source per [oauth2 NAME] section; sessions on any
 * worker ask it for a token through their worker's client and send it
 * upstream with AUTHENTICATE XOAUTH2 or OAUTHBEARER.
 *
 * A source gets its tokens from a refresh token (kept in a file, replaced
 * atomically whenever the server rotates it), from client credentials, or
 * from a command. Tokens are fetched on demand: when none is cached, or
 * when the cached one is within the refresh margin of its expiry (it is
 * then still handed out while a new one is fetched). However many
 * sessions wait, one fetch per source is in flight. After a failure the
 * source backs off (exponentially, with jitter) and fails requests at once
 * until the back-off is over; the next request then tries again.
 *
 * Threads: the manager lives on its loop's thread. A client lives on its
 * worker's thread; oauth2_get(), oauth2_cancel() and oauth2_client_close()
 * are called there, and callbacks run there. The cache is shared under one
 * mutex. Tokens and refresh tokens never reach a log line; fingerprints
 * (oauth2_fingerprint()) may.
 */
#ifndef POPGATE_OAUTH2_H
#define POPGATE_OAUTH2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include <uv.h>

#include "config.h"
#include "oauth2_json.h"

/* Why a request failed, for the session's log line. */
#define OAUTH2_MAX_DETAIL		160

/* Defaults of struct oauth2_settings (0 there means these). */
#define OAUTH2_DEFAULT_MARGIN_MS	(60 * 1000)
#define OAUTH2_DEFAULT_BACKOFF_MIN_MS	1000
#define OAUTH2_DEFAULT_BACKOFF_MAX_MS	(300 * 1000)
#define OAUTH2_DEFAULT_HTTP_TIMEOUT_MS	(15 * 1000)
/* Command sources without their own settings. */
#define OAUTH2_DEFAULT_COMMAND_TIMEOUT_MS (10 * 1000)
#define OAUTH2_DEFAULT_COMMAND_LIFETIME_S 300
/* What a command may print: stdout is the token (more fails it),
 * stderr is logged (more is dropped). */
#define OAUTH2_COMMAND_MAX_STDOUT	(16 * 1024)
#define OAUTH2_COMMAND_MAX_STDERR	1024

struct oauth2_settings {
	/* Refresh a token this long before it expires; never more than
	 * half its lifetime. */
	unsigned int	refresh_margin_ms;
	unsigned int	backoff_min_ms;
	unsigned int	backoff_max_ms;
	unsigned int	http_timeout_ms;	/* connect + exchange */
};

enum oauth2_result {
	OAUTH2_READY,
	OAUTH2_PENDING,
	OAUTH2_FAILED,
};

struct oauth2_mgr;
struct oauth2_client;
struct oauth2_source;
struct oauth2_wait;

typedef void	oauth2_cb(void *arg, enum oauth2_result r,
		    struct oauth2_wait *w);

/*
 * One request for a token, embedded in the caller's session. Zero it
 * before its first use. The fields up to state are private; token and
 * token_len are valid after READY, detail after FAILED. It may be reused
 * for another oauth2_get() once it is not pending.
 */
struct oauth2_wait {
	struct oauth2_client	*client;
	struct oauth2_source	*src;
	oauth2_cb		*cb;
	void			*arg;
	TAILQ_ENTRY(oauth2_wait) entry;
	int			 state;
	enum oauth2_result	 result;

	char			 token[OAUTH2_MAX_TOKEN + 1];
	size_t			 token_len;
	long			 expires_in;	/* seconds left at READY */
	char			 detail[OAUTH2_MAX_DETAIL];
};

/*
 * The manager on loop (run by the caller's thread); s NULL or zeroes
 * take the defaults. NULL if out of memory or libcurl failed.
 */
struct oauth2_mgr *oauth2_mgr_new(uv_loop_t *loop,
		    const struct oauth2_settings *s);
/*
 * Sets the token sources: at start and on reload, on the manager's loop
 * thread only. A source whose settings did not change keeps its cached
 * token, refresh token and back-off. A changed one drops its cached token
 * and back-off and its waiters wait on with the new settings; a
 * refresh_token source that keeps its file keeps its refresh token too,
 * and a refresh in flight is asked again with the new settings once it
 * has saved what it got (a rotated refresh token is never lost to a
 * reload; the same holds for a source removed or moved to another file).
 * A removed source fails its waiters. Refresh token files are read in
 * the background (errors are logged). Returns 0, or -EINVAL (logged; the
 * old sources stay) for an unusable source.
 */
int		oauth2_mgr_set_sources(struct oauth2_mgr *m,
		    const struct config_oauth2 *v, unsigned int n);
/*
 * On the manager's loop thread: fails every waiter, stops requests,
 * timers and commands (killed), and calls done(arg) (may be NULL) on the
 * loop once all are gone. Clients may still be open (draining workers):
 * their gets fail from now on, and the manager's memory lives until the
 * last of them is closed.
 */
void		oauth2_mgr_close(struct oauth2_mgr *m, void (*done)(void *),
		    void *arg);

/* A worker's client, created on the worker's thread for its loop. */
struct oauth2_client *oauth2_client_new(struct oauth2_mgr *m,
		    uv_loop_t *worker_loop);
/* On its thread: cancels its pending waits (no callbacks) and frees it
 * once its loop has closed its handle. */
void		oauth2_client_close(struct oauth2_client *c);

/*
 * A token for source, on the client's thread.
 * READY: w->token holds an access token valid now (taken from the cache,
 * no thread hop; if it is within the refresh margin a refresh starts in
 * the background). PENDING: cb(arg, READY or FAILED, w) is called later
 * on the client's loop, unless oauth2_cancel(w) comes first. FAILED: an
 * unknown source, the manager shutting down, or a source backing off
 * after a failure; w->detail says why ("token endpoint unreachable, retry
 * in 4 s").
 */
enum oauth2_result oauth2_get(struct oauth2_client *c, const char *source,
		    struct oauth2_wait *w, oauth2_cb *cb, void *arg);
/* On the client's thread, in any state: cb will not be called. */
void		oauth2_cancel(struct oauth2_wait *w);
/*
 * The upstream refused this token (AUTHENTICATE failed): if it is still
 * the cached one it is dropped, so the next oauth2_get() fetches a new
 * one. Any thread.
 */
void		oauth2_reject(struct oauth2_client *c, const char *source,
		    const char *token, size_t len);
/*
 * For metrics and admin: seconds until the cached access token expires
 * (-1: none cached), whether a refresh token is held, and how many of its
 * tokens an upstream refused (oauth2_reject() calls) since the source
 * was set up; refused may be NULL. Any thread. Returns 0, or -1 for an
 * unknown source.
 */
int		oauth2_source_status(struct oauth2_mgr *m, const char *source,
		    long *access_expires_in, bool *has_refresh,
		    uint64_t *refused);

/*
 * Command-line helpers (they block; never call them on a daemon loop).
 *
 * RFC 8628 device authorization for a refresh_token source: asks
 * device_url for a code, prints where to enter it to out, polls token_url
 * until the user approved (or the code expired or was refused), and
 * stores the refresh token in refresh_token_file (0600, atomically).
 * Returns 0, or -1 with the reason in err.
 */
int		oauth2_bootstrap_device(const struct config_oauth2 *src,
		    FILE *out, char *err, size_t errlen);
/*
 * Fetches one access token from src, as the daemon would (a rotated
 * refresh token is stored the same way). Returns 0 with the token in
 * token (NUL-terminated; tokenlen > OAUTH2_MAX_TOKEN is enough) and its
 * lifetime in *expires_in, or -1 with the reason in err.
 */
int		oauth2_fetch_once(const struct config_oauth2 *src, char *token,
		    size_t tokenlen, long *expires_in, char *err,
		    size_t errlen);

/*
 * Reads a refresh token file: one line, surrounding whitespace dropped,
 * a token as oauth2_token_ok() takes it. *loose is set if the file is
 * readable or writable by group or others. Returns the token length, or
 * -1 with the reason in why. Blocking.
 */
long		oauth2_refresh_read(const char *path, char *token,
		    size_t tokenlen, bool *loose, char *why, size_t whylen);
/*
 * Replaces path with the token and a newline, durably: a 0600 temp file
 * in the same directory, fsync, rename, fsync of the directory. Returns
 * 0, or -1 with the reason in why. Blocking.
 */
int		oauth2_refresh_store(const char *path, const char *token,
		    size_t len, char *why, size_t whylen);

#endif
