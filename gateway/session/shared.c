/* SPDX-License-Identifier: MIT */
/*
 * shared.c - builds the in-process implementations of struct shared. A
 * lock or a table held elsewhere (another process, another machine) is
 * put in its place here, and nowhere in the session code.
 */
#include "shared.h"

#include <errno.h>
#include <string.h>

#include "addrlimit.h"
#include "authfail.h"
#include "lock.h"
#include "metrics.h"
#include "pending.h"
#include "upstream_caps.h"

int
shared_init(struct shared *sh, const struct config *c)
{
	memset(sh, 0, sizeof(*sh));
	sh->lock = lock_local_new();
	sh->pending = pending_new();
	sh->authfail = authfail_new();
	sh->addrlimit = addrlimit_new();
	sh->caps = upstream_caps_new();
	sh->metrics = metrics_new(c);
	if (sh->lock == NULL || sh->pending == NULL || sh->authfail == NULL ||
	    sh->addrlimit == NULL || sh->caps == NULL || sh->metrics == NULL) {
		shared_deinit(sh);
		return -ENOMEM;
	}
	return 0;
}

void
shared_deinit(struct shared *sh)
{
	lock_free(sh->lock);
	pending_destroy(sh->pending);
	authfail_free(sh->authfail);
	addrlimit_free(sh->addrlimit);
	upstream_caps_free(sh->caps);
	metrics_free(sh->metrics);
	memset(sh, 0, sizeof(*sh));
}
