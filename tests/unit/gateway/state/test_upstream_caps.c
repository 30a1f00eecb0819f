/* SPDX-License-Identifier: MIT */
/*
 * test_upstream_caps.c - gateway/upstream_caps: mechanisms kept per
 * upstream (a later read of one does not change another), forgotten when
 * a reload puts another URL at the same index, and the CAPA/AUTH rule
 * over the upstreams that [routes] can reach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "config.h"
#include "sasl.h"
#include "upstream_caps.h"

#define XO	(1u << SASL_MECH_XOAUTH2)
#define OB	(1u << SASL_MECH_OAUTHBEARER)
#define PW	((1u << SASL_MECH_PLAIN) | (1u << SASL_MECH_LOGIN))

static struct config	*test_cfg;
static struct upstream_caps *test_caps;

static void
test_set(const char *section, const char *key, const char *value)
{
	char	err[256];

	err[0] = '\0';
	assert_int_equal(config_set(test_cfg, section, key, value, err,
	    sizeof(err)), 0);
}

/* Three upstreams: a and b reached by [routes], c by none. */
static int
test_setup(void **state)
{
	(void)state;
	test_cfg = calloc(1, sizeof(*test_cfg));
	assert_non_null(test_cfg);
	config_defaults(test_cfg);
	test_set("upstream a", "url", "imap://127.0.0.1:1143");
	test_set("upstream b", "url", "imap://127.0.0.1:2143");
	test_set("upstream c", "url", "imap://127.0.0.1:3143");
	test_set("routes", "a.example", "a");
	test_set("routes", "*", "b");
	test_caps = upstream_caps_new();
	assert_non_null(test_caps);
	return 0;
}

static int
test_teardown(void **state)
{
	(void)state;
	free(test_cfg);
	upstream_caps_free(test_caps);
	return 0;
}

static void
test_per_upstream(void **state)
{
	(void)state;
	assert_int_equal(upstream_caps_get(test_caps, test_cfg, 0), 0);
	upstream_caps_set(test_caps, test_cfg, 0, XO | PW);
	upstream_caps_set(test_caps, test_cfg, 1, OB);
	/* The second read did not overwrite the first. */
	assert_int_equal(upstream_caps_get(test_caps, test_cfg, 0),
	    UPSTREAM_CAPS_KNOWN | XO | PW);
	assert_int_equal(upstream_caps_get(test_caps, test_cfg, 1),
	    UPSTREAM_CAPS_KNOWN | OB);
	assert_int_equal(upstream_caps_get(test_caps, test_cfg, 2), 0);
	/* Out of range: ignored, unknown. */
	upstream_caps_set(test_caps, test_cfg, CONFIG_MAX_UPSTREAMS - 1, XO);
	assert_int_equal(upstream_caps_get(test_caps, test_cfg,
	    CONFIG_MAX_UPSTREAMS - 1), 0);
}

static void
test_reload_other_url(void **state)
{
	(void)state;
	upstream_caps_set(test_caps, test_cfg, 1, OB | PW);
	test_set("upstream b", "url", "imap://127.0.0.1:4143");
	assert_int_equal(upstream_caps_get(test_caps, test_cfg, 1), 0);
	upstream_caps_set(test_caps, test_cfg, 1, XO);
	assert_int_equal(upstream_caps_get(test_caps, test_cfg, 1),
	    UPSTREAM_CAPS_KNOWN | XO);
}

static void
test_relayable(void **state)
{
	struct config	*c = test_cfg;

	(void)state;
	assert_int_equal(upstream_caps_relayable(c), 0x3);
	test_set("upstream b", "passthrough", "no");
	assert_int_equal(upstream_caps_relayable(c), 0x1);
	/* Without [routes], only "default". */
	c->nroutes = 0;
	assert_int_equal(upstream_caps_relayable(c), 0);
	test_set("upstream", "url", "imap://127.0.0.1:5143");
	assert_int_equal(upstream_caps_relayable(c), 1u << 3);
}

static void
test_sasl_rule(void **state)
{
	unsigned int	listed, accepted;

	(void)state;
	/* Nothing read yet: passwords only. */
	upstream_caps_sasl(test_caps, test_cfg, 0x3, &listed, &accepted);
	assert_int_equal(listed, PW);
	assert_int_equal(accepted, PW);
	/* One known: its bearer mechanism is taken, not listed. */
	upstream_caps_set(test_caps, test_cfg, 0, XO | OB | PW);
	upstream_caps_sasl(test_caps, test_cfg, 0x3, &listed, &accepted);
	assert_int_equal(listed, PW);
	assert_int_equal(accepted, PW | XO | OB);
	/* Both known: the common one is listed, the other only taken. */
	upstream_caps_set(test_caps, test_cfg, 1, OB);
	upstream_caps_sasl(test_caps, test_cfg, 0x3, &listed, &accepted);
	assert_int_equal(listed, PW | OB);
	assert_int_equal(accepted, PW | OB | XO);
	/* c has no route: what it offers changes nothing. */
	upstream_caps_set(test_caps, test_cfg, 2, 0);
	upstream_caps_sasl(test_caps, test_cfg, 0x3, &listed, &accepted);
	assert_int_equal(listed, PW | OB);
	/* Every route known to take no password: no PLAIN or LOGIN. */
	upstream_caps_set(test_caps, test_cfg, 0, XO);
	upstream_caps_sasl(test_caps, test_cfg, 0x3, &listed, &accepted);
	assert_int_equal(listed, 0);
	assert_int_equal(accepted, XO | OB);
	/* One upstream: exactly its mechanisms. */
	upstream_caps_sasl(test_caps, test_cfg, 0x2, &listed, &accepted);
	assert_int_equal(listed, OB);
	assert_int_equal(accepted, OB);
	/* No route takes pass-through logins: device accounts still log
	 * in with a password; no bearer mechanism can be relayed. */
	upstream_caps_sasl(test_caps, test_cfg, 0, &listed, &accepted);
	assert_int_equal(listed, PW);
	assert_int_equal(accepted, PW);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_per_upstream, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_reload_other_url,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_relayable, test_setup,
		    test_teardown),
		cmocka_unit_test_setup_teardown(test_sasl_rule, test_setup,
		    test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
