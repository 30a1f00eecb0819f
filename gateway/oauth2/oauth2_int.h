/* SPDX-License-Identifier: MIT */
/*
 * oauth2_int.h - what the parts of the token manager share: the manager,
 * its sources and clients, and the calls between the files of oauth2/.
 *
 * Shared state (each source's cached token, its back-off, its waiters,
 * each client's completion queue, the source table) lives under one
 * mutex, held for a few compares and copies. Everything that takes time
 * runs on the manager's loop: HTTP requests (token_endpoint.c over
 * http_client.c), commands (command.c, uv_spawn), and file reads and
 * writes (refresh_file.c, uv_queue_work, so a slow disk never stalls the
 * loop).
 *
 * A source runs one operation at a time: READ (the refresh token file),
 * HTTP (the token endpoint), PERSIST (a rotated refresh token) or COMMAND.
 * A refresh is READ if needed, then HTTP, then PERSIST if the refresh
 * token rotated, and only then are the waiters handed the access token:
 * a new refresh token is on disk before anything uses what it bought.
 * The refresh token in memory is replaced the moment the answer arrives,
 * so the old one is never sent again.
 *
 * Sources are reference counted on the loop thread (the table and each
 * queued file job hold one); a removed source is out of the table, so
 * workers never see it, and its request or command is cancelled at once.
 */
#ifndef POPGATE_OAUTH2_INT_H
#define POPGATE_OAUTH2_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <uv.h>

#include "oauth2.h"

/* Longer server texts are cut in log lines. */
#define OAUTH2_LOG_TEXT			200

enum oauth2_wait_state {
	OAUTH2_WAIT_IDLE,
	OAUTH2_WAIT_QUEUED,	/* on its source's waiters */
	OAUTH2_WAIT_DONE,	/* on its client's completion queue */
};

enum oauth2_op {
	OAUTH2_OP_NONE,
	OAUTH2_OP_READ,
	OAUTH2_OP_HTTP,
	OAUTH2_OP_PERSIST,
	OAUTH2_OP_COMMAND,
};

struct oauth2_child;

struct oauth2_source {
	struct oauth2_mgr	*mgr;
	struct config_oauth2	 cfg;
	unsigned int		 refs;		/* loop thread */
	bool			 removed;
	bool			 orphan;	/* removed, request in flight */
	LIST_ENTRY(oauth2_source) orphans;	/* loop thread */

	/* Under mgr->lock. */
	char			 access[OAUTH2_MAX_TOKEN + 1];
	size_t			 access_len;	/* 0: none cached */
	uint64_t		 refresh_at_ms;	/* refresh ahead from here */
	uint64_t		 usable_until_ms;
	uint64_t		 expires_at_ms;
	bool			 has_refresh;
	bool			 wanted;	/* a refresh was asked for */
	bool			 busy;		/* an operation is under way */
	uint64_t		 refused;	/* oauth2_reject() calls */
	uint64_t		 backoff_until_ms;
	char			 fail_reason[OAUTH2_MAX_DETAIL];
	TAILQ_HEAD(, oauth2_wait) waiters;

	/* Loop thread only. */
	enum oauth2_op		 op;
	unsigned int		 gen;		/* bumped by each reconfiguring */
	unsigned int		 op_gen;	/* gen the refresh started in */
	bool			 load_only;	/* the first load of the file */
	uint64_t		 started_ms;
	unsigned int		 backoff_ms;	/* last back-off, no jitter */
	char			 refresh[OAUTH2_MAX_TOKEN + 1];
	size_t			 refresh_len;
	bool			 refresh_loaded;
	/* the last rotated token could not be written: memory has the
	 * only good copy, the file a spent one */
	bool			 persist_failed;
	char			 dead_fp[9];	/* refused refresh token */
	struct http_request	*req;
	struct oauth2_child	*child;
	struct oauth2_token_response *resp;	/* waits for PERSIST */
};

struct oauth2_client {
	struct oauth2_mgr	*mgr;
	uv_async_t		 async;
	TAILQ_HEAD(, oauth2_wait) done;		/* under mgr->lock */
	LIST_ENTRY(oauth2_client) entry;	/* under mgr->lock */
};

struct oauth2_mgr {
	uv_loop_t		*loop;
	struct oauth2_settings	 set;
	pthread_mutex_t		 lock;
	uv_async_t		 wakeup;	/* new demand */
	struct http_client	*http;
	uint64_t		 rng;

	/* Under lock; changed on the loop thread only, so that thread
	 * may read the table without it. */
	struct oauth2_source	*src[CONFIG_MAX_OAUTH2];
	unsigned int		 nsrc;
	LIST_HEAD(, oauth2_client) clients;
	bool			 closing;
	bool			 closed;	/* nothing left on its loop */

	/* Loop thread only. */
	unsigned int		 pending;	/* jobs, children, handles */
	LIST_HEAD(, oauth2_source) orphans;
	bool			 http_freed;	/* closing: HTTP client gone */
	void			(*done)(void *);
	void			*done_arg;
};

/* source.c: one source's refresh, its waiters and its back-off. */
uint64_t	oauth2_now_ms(void);
const char	*oauth2_grant_name(enum config_oauth2_grant g);
unsigned long	oauth2_seconds(uint64_t ms);
unsigned int	oauth2_complete_all(struct oauth2_source *s,
		    enum oauth2_result r, const char *detail);
void		oauth2_source_failed(struct oauth2_source *s, long status,
		    const char *error, const char *description,
		    const char *reason, const char *note, bool severe);
void		oauth2_source_succeeded(struct oauth2_source *s,
		    const char *token, size_t len, long expires_in,
		    bool rotated, const char *persisted);
void		oauth2_source_start(struct oauth2_source *s, bool load_only);
void		oauth2_source_kick(struct oauth2_source *s);

/* manager.c: the table and the manager's life. */
struct oauth2_source *oauth2_find(struct oauth2_mgr *m, const char *name);
void		oauth2_source_release(struct oauth2_source *s);
void		oauth2_mgr_maybe_done(struct oauth2_mgr *m);

/* refresh_file.c: READ and PERSIST on the thread pool. */
void		oauth2_source_read(struct oauth2_source *s);
int		oauth2_job_queue(struct oauth2_source *s, const char *token,
		    size_t len);

/* token_endpoint.c: HTTP. */
void		oauth2_source_post(struct oauth2_source *s);

/* command.c: COMMAND. */
void		oauth2_source_spawn(struct oauth2_source *s);
void		oauth2_command_stop(struct oauth2_source *s);

#endif
