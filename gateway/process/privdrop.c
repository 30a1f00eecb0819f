/* SPDX-License-Identifier: MIT */
/*
 * privdrop.c - the configured user and group: checked at -t and start-up,
 * and become once the ports are bound and the keys loaded.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "process.h"

/* -t and start-up: the user and group must exist. */
void
privdrop_check_user(const struct config *c, const char *origin,
    struct config_errors *errs)
{
	if (c->user[0] != '\0' && getpwnam(c->user) == NULL)
		config_errors_add(errs, "%s: [global] user %s does not exist",
		    origin, c->user);
	if (c->group[0] != '\0' && getgrnam(c->group) == NULL)
		config_errors_add(errs, "%s: [global] group %s does not exist",
		    origin, c->group);
}

/*
 * Started as root, popgate binds its ports and loads its keys, then
 * becomes the configured user before any thread runs or any client
 * connects; it does not keep root unless allow_root says so.
 */
int
privdrop(const struct config *c)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (c->user[0] == '\0') {
		if (geteuid() != 0 || c->allow_root)
			return 0;
		log_error("startup", "reason=\"refusing to run as root: set "
		    "user = NAME in [global] (--user), or allow_root = yes\"");
		return -1;
	}
	pw = getpwnam(c->user);
	if (pw == NULL) {
		log_error("startup", "reason=\"unknown user %s\"", c->user);
		return -1;
	}
	gid = pw->pw_gid;
	if (c->group[0] != '\0') {
		gr = getgrnam(c->group);
		if (gr == NULL) {
			log_error("startup", "reason=\"unknown group %s\"",
			    c->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;
		log_error("startup", "reason=\"user = %s needs popgate to be "
		    "started as root\"", c->user);
		return -1;
	}
	if (initgroups(pw->pw_name, gid) != 0 || setgid(gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_error("startup", "reason=\"cannot become %s: %s\"", c->user,
		    strerror(errno));
		return -1;
	}
	/* setuid() from root changes all three ids; make sure of it. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		log_error("startup", "reason=\"root could be regained\"");
		return -1;
	}
	log_info("privileges", "user=%s uid=%u gid=%u", c->user,
	    (unsigned int)pw->pw_uid, (unsigned int)gid);
	return 0;
}

