/* SPDX-License-Identifier: MIT */
/*
 * atomic_file.h - replace a small file whole, durably: readers see the old
 * contents or the new, never a part, even across a crash.
 */
#ifndef POPGATE_ATOMIC_FILE_H
#define POPGATE_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Writes data to a temporary file in path's directory with mode, fsyncs
 * it, renames it over path and fsyncs the directory. Run as root (the
 * admin commands), the new file keeps the owner and group of the file it
 * replaces, or takes the directory's: the daemon, running as its own
 * user, must still read it; otherwise it keeps the old group if it can.
 * Returns 0, or -1 with the reason in why. Blocking: not on a loop.
 */
int	atomic_file_replace(const char *path, const void *data, size_t len,
	    mode_t mode, char *why, size_t whylen);

#endif
