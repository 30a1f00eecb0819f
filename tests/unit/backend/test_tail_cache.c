/* SPDX-License-Identifier: MIT */
/*
 * test_tail_cache.c - backend/tail_cache: known tails adjust sizes, unknown
 * ones are asked for, mailboxes and UIDVALIDITYs never mix, growth and the
 * size cap keep answers right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pop3_maildrop.h"
#include "tail_cache.h"

static void
fill(struct pop3_maildrop *md, uint32_t uidvalidity, uint32_t n)
{
	uint32_t	uid;

	pop3_maildrop_init(md, uidvalidity);
	for (uid = 1; uid <= n; uid++)
		assert_int_equal(pop3_maildrop_put(md, uid, 100, 0), 0);
	pop3_maildrop_finish(md);
}

static void
test_store_and_apply(void **state)
{
	struct pop3_maildrop	md;
	bool			need[3];
	uint64_t		box = tail_cache_mailbox_id("a@h:143/INBOX");

	(void)state;
	fill(&md, 77, 3);
	tail_cache_apply(box, &md, need);
	assert_true(need[0] && need[1] && need[2]);
	tail_cache_store(box, 77, 1, TAIL_CACHE_ENDS_LF);
	tail_cache_store(box, 77, 2, TAIL_CACHE_NEEDS_CRLF);
	pop3_maildrop_deinit(&md);

	fill(&md, 77, 3);
	tail_cache_apply(box, &md, need);
	assert_false(need[0]);
	assert_int_equal(md.msgs[0].size, 100);
	assert_false(need[1]);
	assert_int_equal(md.msgs[1].size, 102);	/* the CRLF RETR adds */
	assert_true(need[2]);
	assert_int_equal(md.msgs[2].size, 100);
	pop3_maildrop_deinit(&md);
}

static void
test_keys_do_not_mix(void **state)
{
	struct pop3_maildrop	md;
	bool			need[1];
	uint64_t		box = tail_cache_mailbox_id("b@h:143/INBOX");
	uint64_t		other = tail_cache_mailbox_id("c@h:143/INBOX");

	(void)state;
	assert_int_not_equal(box, other);
	tail_cache_store(box, 5, 1, TAIL_CACHE_NEEDS_CRLF);
	fill(&md, 6, 1);		/* new UIDVALIDITY: nothing known */
	tail_cache_apply(box, &md, need);
	assert_true(need[0]);
	pop3_maildrop_deinit(&md);
	fill(&md, 5, 1);		/* other mailbox */
	tail_cache_apply(other, &md, need);
	assert_true(need[0]);
	pop3_maildrop_deinit(&md);
}

static void
test_growth_and_cap(void **state)
{
	struct pop3_maildrop	 md;
	bool			*need;
	uint64_t		 box = tail_cache_mailbox_id("d@h:143/INBOX");
	uint32_t		 uid, n = 50000;

	(void)state;
	for (uid = 1; uid <= n; uid++)
		tail_cache_store(box, 9, uid, uid % 3 == 0 ?
		    TAIL_CACHE_NEEDS_CRLF : TAIL_CACHE_ENDS_LF);
	fill(&md, 9, n);
	need = calloc(n, sizeof(*need));
	assert_non_null(need);
	tail_cache_apply(box, &md, need);
	for (uid = 1; uid <= n; uid++) {
		assert_false(need[uid - 1]);
		assert_int_equal(md.msgs[uid - 1].size,
		    uid % 3 == 0 ? 102 : 100);
	}
	pop3_maildrop_deinit(&md);
	/* Past the cap the table starts over: answers may be lost, never
	 * wrong. */
	for (uid = 1; uid <= TAIL_CACHE_MAX_ENTRIES + 10; uid++)
		tail_cache_store(box, 10, uid, TAIL_CACHE_NEEDS_CRLF);
	fill(&md, 10, 1000);
	free(need);
	need = calloc(1000, sizeof(*need));
	tail_cache_apply(box, &md, need);
	for (uid = 1; uid <= 1000; uid++)
		assert_int_equal(md.msgs[uid - 1].size, need[uid - 1] ? 100 :
		    102);
	pop3_maildrop_deinit(&md);
	free(need);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_and_apply),
		cmocka_unit_test(test_keys_do_not_mix),
		cmocka_unit_test(test_growth_and_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
