/* SPDX-License-Identifier: MIT */
/*
 * fd_reuse.c - the descriptor-number reuse that tests/tsan.supp hides,
 * made on purpose: the main thread opens a socket, registers it with
 * epoll and closes it behind ThreadSanitizer's back (as an uninstrumented
 * library may), then a second thread gets the same number from mkstemp()
 * and closes it. ThreadSanitizer reports that close() as racing with the
 * socket's creation, though the kernel hands a number out only once at a
 * time. tests/run.sh runs this without and with the suppressions: one
 * report without, none with, so a suppression line that stopped matching
 * (as "race_top:^close$" never did: the frame's function is the
 * interceptor) fails the stage instead of hiding nothing.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *
fd_reuse_second(void *arg)
{
	char	path[] = "/tmp/popgate-tsan-XXXXXX";
	int	fd;

	(void)arg;
	usleep(100000);		/* not a happens-before edge for TSan */
	if ((fd = mkstemp(path)) < 0)
		return NULL;
	unlink(path);
	close(fd);
	return NULL;
}

int
main(void)
{
	struct epoll_event	ev = { .events = EPOLLIN };
	pthread_t		t;
	int			ep, s;

	if ((ep = epoll_create1(0)) < 0 ||
	    pthread_create(&t, NULL, fd_reuse_second, NULL) != 0)
		return 2;
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	syscall(SYS_close, s);
	pthread_join(t, NULL);
	close(ep);
	return 0;
}
