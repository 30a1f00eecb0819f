/* SPDX-License-Identifier: MIT */
/*
 * test_lock.c - the mailbox lock interface and its in-process
 * implementation: one holder per identity, answers at once, release and
 * cancel through lock_drop(), and two locks that know nothing of each
 * other (two instances, or a test beside the gateway).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lock.h"

struct test_req {
	struct lock_request	req;
	int			answers;
	enum lock_result	result;
};

static void
test_done(struct lock_request *req, enum lock_result result)
{
	struct test_req	*t = req->arg;

	assert_ptr_equal(&t->req, req);
	t->answers++;
	t->result = result;
}

static void
test_ask(struct lock *l, struct test_req *t, const char *identity)
{
	t->answers = 0;
	lock_request(l, &t->req, identity, NULL, test_done, t);
}

static void
test_one_holder(void **state)
{
	struct lock	*l = lock_local_new();
	struct test_req	 a = { 0 }, b = { 0 };

	(void)state;
	assert_non_null(l);
	test_ask(l, &a, "u@imap:993/INBOX");
	/* The in-process lock answers before lock_request() returns. */
	assert_int_equal(a.answers, 1);
	assert_int_equal(a.result, LOCK_GRANTED);
	assert_int_equal(a.req.state, LOCK_HELD);
	test_ask(l, &b, "u@imap:993/INBOX");
	assert_int_equal(b.answers, 1);
	assert_int_equal(b.result, LOCK_BUSY);
	assert_int_equal(b.req.state, LOCK_IDLE);
	/* Dropping a refused request releases nothing. */
	lock_drop(l, &b.req);
	test_ask(l, &b, "v@imap:993/INBOX");
	assert_int_equal(b.result, LOCK_GRANTED);
	/* Held and asked again (a login that starts over): granted, and
	 * the one hold is all there is. */
	test_ask(l, &a, "u@imap:993/INBOX");
	assert_int_equal(a.result, LOCK_GRANTED);
	assert_int_equal(a.req.state, LOCK_HELD);
	lock_drop(l, &a.req);
	assert_int_equal(a.req.state, LOCK_IDLE);
	lock_drop(l, &a.req);	/* twice: nothing happens */
	test_ask(l, &a, "u@imap:993/INBOX");
	assert_int_equal(a.result, LOCK_GRANTED);
	lock_drop(l, &a.req);
	lock_drop(l, &b.req);
	lock_free(l);
}

static void
test_instances(void **state)
{
	struct lock	*l1 = lock_local_new(), *l2 = lock_local_new();
	struct test_req	 a = { 0 }, b = { 0 };

	(void)state;
	assert_non_null(l1);
	assert_non_null(l2);
	test_ask(l1, &a, "u@imap:993/INBOX");
	test_ask(l2, &b, "u@imap:993/INBOX");
	assert_int_equal(a.result, LOCK_GRANTED);
	assert_int_equal(b.result, LOCK_GRANTED);
	/* Freed while held: the table goes with it. */
	lock_free(l1);
	lock_drop(l2, &b.req);
	lock_free(l2);
}

/* An implementation that answers later, as one across the network does:
 * lock_drop() of a waiting request cancels it, and done() never fires. */
struct test_later {
	struct lock		 lock;
	struct lock_request	*waiting;
	int			 cancels, releases;
};

static void
test_later_request(struct lock *l, struct lock_request *req)
{
	((struct test_later *)l)->waiting = req;
}

static void
test_later_cancel(struct lock *l, struct lock_request *req)
{
	struct test_later	*t = (struct test_later *)l;

	assert_ptr_equal(t->waiting, req);
	t->waiting = NULL;
	t->cancels++;
}

static void
test_later_release(struct lock *l, struct lock_request *req)
{
	(void)req;
	((struct test_later *)l)->releases++;
}

static void
test_later_free(struct lock *l)
{
	(void)l;
}

static const struct lock_ops test_later_ops = {
	.request = test_later_request,
	.cancel = test_later_cancel,
	.release = test_later_release,
	.free = test_later_free,
};

static void
test_cancel(void **state)
{
	struct test_later	 t = { .lock = { &test_later_ops } };
	struct test_req		 a = { 0 };

	(void)state;
	test_ask(&t.lock, &a, "u@imap:993/INBOX");
	assert_int_equal(a.answers, 0);
	assert_int_equal(a.req.state, LOCK_WAITING);
	lock_drop(&t.lock, &a.req);		/* the session closed */
	assert_int_equal(t.cancels, 1);
	assert_int_equal(t.releases, 0);
	assert_int_equal(a.answers, 0);
	/* An answer that crossed the cancel goes nowhere. */
	lock_answer(&a.req, LOCK_GRANTED);
	assert_int_equal(a.answers, 0);
	assert_int_equal(a.req.state, LOCK_IDLE);
	/* Asked again and answered: held, then released on drop. */
	test_ask(&t.lock, &a, "u@imap:993/INBOX");
	lock_answer(t.waiting, LOCK_GRANTED);
	assert_int_equal(a.answers, 1);
	assert_int_equal(a.req.state, LOCK_HELD);
	lock_drop(&t.lock, &a.req);
	assert_int_equal(t.cancels, 1);
	assert_int_equal(t.releases, 1);
	lock_free(&t.lock);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_holder),
		cmocka_unit_test(test_instances),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
