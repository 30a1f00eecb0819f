/* SPDX-License-Identifier: MIT */
/*
 * atomic_file.c - whole-file replacement through rename(2).
 */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
atomic_file_write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
atomic_file_owner(int fd, const char *path, const char *dir)
{
	struct stat	st;

	if (geteuid() == 0) {
		if (stat(path, &st) == -1 && stat(dir, &st) == -1)
			return -1;
		return fchown(fd, st.st_uid, st.st_gid);
	}
	/* Not root: a group we are not in cannot be kept; never mind. */
	if (stat(path, &st) == 0)
		(void)fchown(fd, (uid_t)-1, st.st_gid);
	return 0;
}

int
atomic_file_replace(const char *path, const void *data, size_t len,
    mode_t mode, char *why, size_t whylen)
{
	char		 dir[4096], tmp[4096 + 32];
	const char	*slash = strrchr(path, '/'), *base;
	int		 fd, dfd, e;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
		base = path;
	} else {
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
		base = slash + 1;
	}
	if (*base == '\0' || strlen(path) >= sizeof(dir) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base) >=
	    (int)sizeof(tmp)) {
		snprintf(why, whylen, "bad file name %s", path);
		return -1;
	}
	/* mkstemp creates the file 0600, whatever the umask. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "cannot create a file in %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode & 07777) == -1 ||
	    atomic_file_owner(fd, path, dir) == -1 ||
	    atomic_file_write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlink(tmp);
		snprintf(why, whylen, "cannot write %s: %s", tmp, strerror(e));
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		snprintf(why, whylen, "cannot replace %s: %s", path,
		    strerror(e));
		return -1;
	}
	/* The rename itself must survive a crash too. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		e = errno;
		if (dfd != -1)
			close(dfd);
		snprintf(why, whylen, "%s replaced, but syncing %s failed: %s",
		    path, dir, strerror(e));
		return -1;
	}
	close(dfd);
	return 0;
}
