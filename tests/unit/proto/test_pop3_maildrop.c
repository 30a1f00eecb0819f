/* SPDX-License-Identifier: MIT */
/*
 * test_pop3_maildrop.c - unit tests for proto/pop3_maildrop.c: upserts in
 * any order, msn <-> uid lookups, limits, GONE and STAT.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_maildrop.h"

static void
test_check_sorted(struct pop3_maildrop *md)
{
	uint32_t	idx;

	assert_true(md->is_sorted);
	for (idx = 1; idx < md->count; idx++)
		assert_true(md->msgs[idx - 1].uid < md->msgs[idx].uid);
}

static void
test_maildrop_empty(void **state)
{
	struct pop3_maildrop	md;
	uint64_t		octets = 1;
	uint32_t		count = 1;

	(void)state;
	pop3_maildrop_init(&md, 77);
	assert_int_equal(md.uidvalidity, 77);
	assert_int_equal(md.max_count, POP3_MAILDROP_MAX_MESSAGES);
	pop3_maildrop_finish(&md);
	pop3_maildrop_stat(&md, &count, &octets);
	assert_int_equal(count, 0);
	assert_int_equal(octets, 0);
	assert_null(pop3_maildrop_by_msn(&md, 0));
	assert_null(pop3_maildrop_by_msn(&md, 1));
	assert_null(pop3_maildrop_by_uid(&md, 1));
	pop3_maildrop_mark_gone(&md, 1);	/* unknown uid: no-op */
	pop3_maildrop_deinit(&md);
	pop3_maildrop_deinit(&md);
}

static void
test_maildrop_in_order(void **state)
{
	struct pop3_maildrop	 md;
	struct pop3_msg		*m;
	uint64_t		 octets;
	uint32_t		 count, uid;

	(void)state;
	pop3_maildrop_init(&md, 1);
	/* The usual case: UID FETCH 1:* answers in ascending order. */
	for (uid = 10; uid < 1010; uid++)
		assert_int_equal(pop3_maildrop_put(&md, uid, uid * 2, 0), 0);
	pop3_maildrop_finish(&md);
	test_check_sorted(&md);
	assert_int_equal(md.count, 1000);
	m = pop3_maildrop_by_msn(&md, 1);
	assert_int_equal(m->uid, 10);
	m = pop3_maildrop_by_msn(&md, 1000);
	assert_int_equal(m->uid, 1009);
	assert_null(pop3_maildrop_by_msn(&md, 1001));
	assert_ptr_equal(pop3_maildrop_by_uid(&md, 500),
	    pop3_maildrop_by_msn(&md, 491));
	assert_null(pop3_maildrop_by_uid(&md, 9));
	assert_null(pop3_maildrop_by_uid(&md, 1010));
	pop3_maildrop_stat(&md, &count, &octets);
	assert_int_equal(count, 1000);
	assert_int_equal(octets, (uint64_t)(10 + 1009) * 1000);
	pop3_maildrop_deinit(&md);
}

static void
test_maildrop_pieces_out_of_order(void **state)
{
	struct pop3_maildrop	 md;
	struct pop3_msg		*m;

	(void)state;
	pop3_maildrop_init(&md, 1);
	/* FETCH items in pieces and out of order (doc/imap-mapping.md sec. 5). */
	assert_int_equal(pop3_maildrop_put(&md, 7, 700, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 7, 0, POP3_MSG_SEEN), 0);
	assert_int_equal(pop3_maildrop_put(&md, 3, 300, 0), 0);
	assert_false(md.is_sorted);
	assert_int_equal(pop3_maildrop_put(&md, 9, 0,
	    POP3_MSG_FLAGGED_DELETED), 0);
	assert_int_equal(pop3_maildrop_put(&md, 3, 0, POP3_MSG_SEEN), 0);
	assert_int_equal(pop3_maildrop_put(&md, 9, 900, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 1, 100, 0), 0);
	/* Lookups work before finish() too. */
	assert_int_equal(pop3_maildrop_by_uid(&md, 1)->size, 100);
	pop3_maildrop_finish(&md);
	test_check_sorted(&md);
	assert_int_equal(md.count, 4);
	m = pop3_maildrop_by_msn(&md, 1);
	assert_int_equal(m->uid, 1);
	assert_int_equal(m->size, 100);
	m = pop3_maildrop_by_msn(&md, 2);
	assert_int_equal(m->uid, 3);
	assert_int_equal(m->size, 300);
	assert_int_equal(m->flags, POP3_MSG_SEEN);
	m = pop3_maildrop_by_msn(&md, 3);
	assert_int_equal(m->uid, 7);
	assert_int_equal(m->size, 700);
	assert_int_equal(m->flags, POP3_MSG_SEEN);
	m = pop3_maildrop_by_msn(&md, 4);
	assert_int_equal(m->uid, 9);
	assert_int_equal(m->size, 900);
	assert_int_equal(m->flags, POP3_MSG_FLAGGED_DELETED);
	/* finish() twice is harmless. */
	pop3_maildrop_finish(&md);
	assert_int_equal(md.count, 4);
	pop3_maildrop_deinit(&md);
}

static void
test_maildrop_update_while_sorted(void **state)
{
	struct pop3_maildrop	md;

	(void)state;
	pop3_maildrop_init(&md, 1);
	assert_int_equal(pop3_maildrop_put(&md, 1, 10, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 2, 20, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 3, 30, 0), 0);
	/* An earlier uid seen again: merged in place, still sorted. */
	assert_int_equal(pop3_maildrop_put(&md, 1, 0, POP3_MSG_SEEN), 0);
	assert_int_equal(pop3_maildrop_put(&md, 2, 25, 0), 0);
	assert_true(md.is_sorted);
	assert_int_equal(md.count, 3);
	assert_int_equal(pop3_maildrop_by_uid(&md, 1)->flags, POP3_MSG_SEEN);
	/* The larger size wins, whatever the order. */
	assert_int_equal(pop3_maildrop_by_uid(&md, 2)->size, 25);
	assert_int_equal(pop3_maildrop_put(&md, 2, 5, 0), 0);
	assert_int_equal(pop3_maildrop_by_uid(&md, 2)->size, 25);
	pop3_maildrop_deinit(&md);
}

static void
test_maildrop_reverse_order_dedupes(void **state)
{
	struct pop3_maildrop	md;
	uint32_t		uid;

	(void)state;
	pop3_maildrop_init(&md, 1);
	for (uid = 500; uid > 0; uid--)
		assert_int_equal(pop3_maildrop_put(&md, uid, uid, 0), 0);
	/* Duplicates of every uid, out of order. */
	for (uid = 500; uid > 0; uid -= 2)
		assert_int_equal(pop3_maildrop_put(&md, uid, 0,
		    POP3_MSG_SEEN), 0);
	pop3_maildrop_finish(&md);
	test_check_sorted(&md);
	assert_int_equal(md.count, 500);
	for (uid = 1; uid <= 500; uid++) {
		assert_int_equal(pop3_maildrop_by_msn(&md, uid)->uid, uid);
		assert_int_equal(pop3_maildrop_by_uid(&md, uid)->size, uid);
		assert_int_equal(pop3_maildrop_by_uid(&md, uid)->flags,
		    uid % 2 == 0 ? POP3_MSG_SEEN : 0);
	}
	pop3_maildrop_deinit(&md);
}

static void
test_maildrop_limits(void **state)
{
	struct pop3_maildrop	md;
	uint32_t		uid;

	(void)state;
	pop3_maildrop_init(&md, 1);
	assert_int_equal(pop3_maildrop_put(&md, 0, 1, 0), -EINVAL);
	md.max_count = 100;
	for (uid = 1; uid <= 100; uid++)
		assert_int_equal(pop3_maildrop_put(&md, uid, 1, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 101, 1, 0), -E2BIG);
	/* Updates of known messages still work at the limit. */
	assert_int_equal(pop3_maildrop_put(&md, 100, 2, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 50, 2, 0), 0);
	assert_true(md.is_sorted);
	assert_int_equal(md.count, 100);
	assert_true(md.cap <= md.max_count);
	pop3_maildrop_deinit(&md);
	assert_int_equal(md.count, 0);
	assert_null(md.msgs);
}

static void
test_maildrop_gone_and_stat(void **state)
{
	struct pop3_maildrop	md;
	uint64_t		octets;
	uint32_t		count;

	(void)state;
	pop3_maildrop_init(&md, 1);
	assert_int_equal(pop3_maildrop_put(&md, 4, 100, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 8, 200, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 15, 400, 0), 0);
	pop3_maildrop_finish(&md);
	pop3_maildrop_mark_gone(&md, 8);
	pop3_maildrop_mark_gone(&md, 9);
	assert_int_equal(pop3_maildrop_by_msn(&md, 2)->flags, POP3_MSG_GONE);
	assert_int_equal(pop3_maildrop_by_msn(&md, 1)->flags, 0);
	/* GONE still counts (login view, conformance 9.1); MARKED does not. */
	pop3_maildrop_stat(&md, &count, &octets);
	assert_int_equal(count, 3);
	assert_int_equal(octets, 700);
	pop3_maildrop_by_msn(&md, 3)->flags |= POP3_MSG_MARKED;
	pop3_maildrop_stat(&md, &count, &octets);
	assert_int_equal(count, 2);
	assert_int_equal(octets, 300);
	pop3_maildrop_deinit(&md);
}

static void
test_maildrop_large_sizes(void **state)
{
	struct pop3_maildrop	md;
	uint64_t		octets;
	uint32_t		count;

	(void)state;
	pop3_maildrop_init(&md, 1);
	/* Sizes past 4 GiB add up without wrapping. */
	assert_int_equal(pop3_maildrop_put(&md, 1, UINT32_MAX, 0), 0);
	assert_int_equal(pop3_maildrop_put(&md, 2, UINT32_MAX, 0), 0);
	pop3_maildrop_stat(&md, &count, &octets);
	assert_int_equal(count, 2);
	assert_true(octets == 2 * (uint64_t)UINT32_MAX);
	pop3_maildrop_deinit(&md);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_maildrop_empty),
		cmocka_unit_test(test_maildrop_in_order),
		cmocka_unit_test(test_maildrop_pieces_out_of_order),
		cmocka_unit_test(test_maildrop_update_while_sorted),
		cmocka_unit_test(test_maildrop_reverse_order_dedupes),
		cmocka_unit_test(test_maildrop_limits),
		cmocka_unit_test(test_maildrop_gone_and_stat),
		cmocka_unit_test(test_maildrop_large_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
