/* SPDX-License-Identifier: MIT */
/*
 * pop3_session_fixture.h - the fixture the test_pop3_*.c files share for
 * the engine of proto/pop3_session.h: a session with a buffer, commands
 * with exact reply bytes, logins. The helpers are static inline so that a
 * file using only some of them builds without unused-function warnings.
 */
#ifndef POPGATE_TEST_POP3_SESSION_FIXTURE_H
#define POPGATE_TEST_POP3_SESSION_FIXTURE_H

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "pop3_line.h"
#include "pop3_session.h"
#include "sasl.h"

/* Output buffer limit for the fixture: far above any reply here. */
#define TEST_OUT_MAX_OCTETS	(1024 * 1024)
/* doc/imap-mapping.md sec. 7.1 example UIDVALIDITY (hex 499602d2). */
#define TEST_UIDVALIDITY	1234567890u

struct fixture {
	struct pop3_session		s;
	struct pop3_options		opt;
	struct pop3_uidl_template	uidl;
	struct buf			out;
	struct pop3_step		step;
};

/* The 3-message drop used throughout: uids 5, 7, 12. */
static const struct {
	uint32_t	uid;
	uint64_t	size;
} test_msgs[] = {
	{ 5, 120 },
	{ 7, 200 },
	{ 12, 3000 },
};

static inline void
fx_init_opt(struct fixture *f, bool user_allowed, bool stls_available,
    bool tls_active)
{
	const char	*error;

	memset(f, 0, sizeof(*f));
	assert_int_equal(pop3_uidl_compile(&f->uidl,
	    POP3_UIDL_DEFAULT_TEMPLATE, &error), 0);
	f->opt.uidl = &f->uidl;
	f->opt.greeting = "popgate ready";
	f->opt.implementation = "popgate 0.1.0";
	f->opt.user_allowed = user_allowed;
	f->opt.stls_available = stls_available;
	f->opt.tls_active = tls_active;
	f->opt.pipelining = true;
	buf_init(&f->out, TEST_OUT_MAX_OCTETS);
	pop3_session_init(&f->s, &f->opt);
}

static inline void
fx_init(struct fixture *f)
{
	fx_init_opt(f, true, false, false);
}

static inline void
fx_deinit(struct fixture *f)
{
	pop3_session_deinit(&f->s);
	buf_deinit(&f->out);
}

/* Asserts that out holds exactly expected, then empties it. */
static inline void
fx_expect(struct fixture *f, const char *expected)
{
	size_t	len = strlen(expected);

	if (f->out.len != len || (len > 0 &&
	    memcmp(f->out.data, expected, len) != 0))
		fail_msg("output mismatch:\n got: \"%.*s\"\nwant: \"%s\"",
		    (int)f->out.len, f->out.data != NULL ? f->out.data : "",
		    expected);
	buf_reset(&f->out);
}

/* Runs one command line (given without CRLF; may contain NUL). */
static inline struct pop3_step
fx_cmd_len(struct fixture *f, const char *line, size_t len)
{
	char	*copy;

	/* A heap copy exactly len long, so ASan sees any overread. */
	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	memcpy(copy, line, len);
	f->step = pop3_execute(&f->s, copy, len, &f->out);
	free(copy);
	/* USER/PASS LOGIN borrows the line; do not look at it after this.
	 * An AUTH or APOP step's password is engine storage and stays
	 * valid. */
	if (f->step.mech == 0 && !f->step.apop)
		f->step.password = NULL;
	return f->step;
}

static inline struct pop3_step
fx_cmd(struct fixture *f, const char *line)
{
	return fx_cmd_len(f, line, strlen(line));
}

/* One command, answered at once, with exactly these bytes. */
static inline void
fx_reply(struct fixture *f, const char *line, const char *expected)
{
	struct pop3_step	step;

	step = fx_cmd(f, line);
	if (step.next != POP3_NEXT_READ)
		fail_msg("\"%s\": step %d, not READ", line, (int)step.next);
	fx_expect(f, expected);
}

static inline void
fx_fill_maildrop(struct pop3_maildrop *md, size_t nmsgs)
{
	size_t	i;

	pop3_maildrop_init(md, TEST_UIDVALIDITY);
	for (i = 0; i < nmsgs; i++)
		assert_int_equal(pop3_maildrop_put(md, test_msgs[i].uid,
		    test_msgs[i].size, 0), 0);
	pop3_maildrop_finish(md);
}

/* USER/PASS and a successful login with nmsgs of test_msgs. */
static inline void
fx_login(struct fixture *f, size_t nmsgs)
{
	struct pop3_maildrop	md;
	struct pop3_step	step;

	fx_reply(f, "USER alice", "+OK Send PASS.\r\n");
	step = fx_cmd(f, "PASS secret");
	assert_int_equal(step.next, POP3_NEXT_LOGIN);
	fx_expect(f, "");
	fx_fill_maildrop(&md, nmsgs);
	step = pop3_login_done(&f->s, &md, POP3_RESP_NONE, NULL, &f->out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	assert_int_equal(md.count, 0);
	assert_null(md.msgs);
	pop3_maildrop_deinit(&md);
	fx_expect(f, "+OK Logged in.\r\n");
	assert_int_equal(f->s.state, POP3_STATE_TRANSACTION);
}

static inline void
fx_init_logged_in(struct fixture *f, size_t nmsgs)
{
	fx_init(f);
	fx_login(f, nmsgs);
}

#define TEST_CAPA_AUTH \
	"+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\n" \
	"RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
#define TEST_LIST_ALL \
	"+OK 3 messages\r\n1 120\r\n2 200\r\n3 3000\r\n.\r\n"
#define TEST_UIDL_ALL \
	"+OK Unique-ID listing follows\r\n1 00000005499602d2\r\n" \
	"2 00000007499602d2\r\n3 0000000c499602d2\r\n.\r\n"
#define TEST_WRONG_STATE	"-ERR Command not valid in this state\r\n"
#define TEST_EXTRA_ARG		"-ERR Unexpected extra argument\r\n"
#define TEST_BAD_SYNTAX	\
	"-ERR Invalid syntax: one space between arguments\r\n"
#define TEST_BAD_MSN		"-ERR Invalid message number\r\n"
#define TEST_TOO_LONG		"-ERR Command line too long\r\n"
#define TEST_AUTH_LIST_HEAD	"+OK Supported mechanisms follow\r\n"
#define TEST_AUTH_UNKNOWN	"-ERR Unsupported authentication mechanism.\r\n"
#define TEST_AUTH_PLAINTEXT	"-ERR [AUTH] Plaintext authentication " \
	"disallowed on non-secure connection\r\n"
#define TEST_AUTH_CANCELLED	"-ERR Authentication cancelled.\r\n"
#define TEST_AUTH_BASE64	"-ERR Invalid base64 data in SASL response.\r\n"
#define TEST_AUTH_BAD_MSG	"-ERR [AUTH] Invalid SASL message.\r\n"
#define TEST_AUTH_BAD_USER	"-ERR [AUTH] Invalid user name.\r\n"
#define TEST_AUTH_AUTHZID	"-ERR [AUTH] Authorization identity must be " \
	"empty or equal the user name.\r\n"
#define TEST_AUTH_LONG		"-ERR SASL response too long.\r\n"

/* True if every line of sub (but STLS) appears in super. */
static inline bool
test_capa_subset(const char *sub, const char *super)
{
	const char	*line, *end;
	char		 needle[128];

	line = strstr(sub, "\r\n") + 2;		/* skip +OK */
	for (; strcmp(line, ".\r\n") != 0; line = end + 2) {
		end = strstr(line, "\r\n");
		if ((size_t)(end - line) == 4 && memcmp(line, "STLS", 4) == 0)
			continue;
		(void)snprintf(needle, sizeof(needle), "\r\n%.*s\r\n",
		    (int)(end - line), line);
		if (strstr(super, needle) == NULL)
			return false;
	}
	return true;
}


/* Every mechanism the engine knows. */
#define TEST_SASL_ALL	((1u << SASL_MECH_PLAIN) | (1u << SASL_MECH_LOGIN) | \
	(1u << SASL_MECH_XOAUTH2) | (1u << SASL_MECH_OAUTHBEARER))
#define TEST_CAPA_SASL_ALL	"SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n"
#define TEST_AUTH_LIST_ALL	TEST_AUTH_LIST_HEAD \
	"PLAIN\r\nLOGIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n"

/* The base64 of the PLAIN message "\0alice\0secret", and of LOGIN's. */
#define TEST_PLAIN_B64		"AGFsaWNlAHNlY3JldA=="
#define TEST_LOGIN_USER_B64	"YWxpY2U="		/* alice */
#define TEST_LOGIN_PASS_B64	"c2VjcmV0"		/* secret */

static inline void
fx_init_sasl(struct fixture *f, unsigned int mechs)
{
	fx_init(f);
	f->s.opt.sasl_mechs = mechs;
}

/* Runs prefix followed by the base64 of msg (len octets). */
static inline struct pop3_step
fx_cmd_b64(struct fixture *f, const char *prefix, const void *msg,
    size_t len)
{
	char	*line;
	size_t	 prefix_len = strlen(prefix), n;

	line = malloc(prefix_len + POPGATE_BASE64_ENCODED_LEN(len) + 1);
	assert_non_null(line);
	memcpy(line, prefix, prefix_len);
	n = popgate_base64_encode(msg, len, line + prefix_len);
	(void)fx_cmd_len(f, line, prefix_len + n);
	free(line);
	return f->step;
}

/* The step is an AUTH login as user with this password. */
static inline void
fx_expect_password_step(struct fixture *f, enum sasl_mech mech,
    const char *user, const char *password)
{
	assert_int_equal(f->step.next, POP3_NEXT_LOGIN);
	assert_int_equal(f->step.mech, mech);
	assert_false(f->step.apop);
	assert_string_equal(f->step.user, user);
	assert_ptr_equal(f->step.user, f->s.user);
	assert_int_equal(f->step.password_len, strlen(password));
	assert_memory_equal(f->step.password, password, strlen(password));
	assert_null(f->step.sasl_msg);
	assert_int_equal(f->step.sasl_msg_len, 0);
	assert_true(f->s.step_pending);
	fx_expect(f, "");
}

/* The step relays msg (len octets) upstream for user. */
static inline void
fx_expect_relay_step(struct fixture *f, enum sasl_mech mech,
    const char *user, const void *msg, size_t len)
{
	assert_int_equal(f->step.next, POP3_NEXT_LOGIN);
	assert_int_equal(f->step.mech, mech);
	assert_false(f->step.apop);
	assert_string_equal(f->step.user, user);
	assert_null(f->step.password);
	assert_int_equal(f->step.password_len, 0);
	assert_int_equal(f->step.sasl_msg_len, len);
	assert_memory_equal(f->step.sasl_msg, msg, len);
	assert_true(f->s.step_pending);
	fx_expect(f, "");
}

/* Completes a pending LOGIN step with a snapshot: +OK, TRANSACTION. */
static inline void
fx_login_ok(struct fixture *f)
{
	struct pop3_maildrop	md;
	struct pop3_step	step;

	fx_fill_maildrop(&md, 3);
	step = pop3_login_done(&f->s, &md, POP3_RESP_NONE, NULL, &f->out);
	assert_int_equal(step.next, POP3_NEXT_READ);
	pop3_maildrop_deinit(&md);
	fx_expect(f, "+OK Logged in.\r\n");
	assert_int_equal(f->s.state, POP3_STATE_TRANSACTION);
	assert_null(f->s.sasl.msg);
}

/* Fails a pending LOGIN step with [AUTH]. */
static inline struct pop3_step
fx_login_fail(struct fixture *f, enum pop3_resp_code code)
{
	struct pop3_step	step;

	step = pop3_login_done(&f->s, NULL, code, "Authentication failed",
	    &f->out);
	assert_null(f->s.sasl.msg);
	assert_false(f->s.step_pending);
	return step;
}

#endif
