/* SPDX-License-Identifier: MIT */
/*
 * pop3_session_int.h - what the parts of the POP3 engine share; not an
 * interface (that is pop3_session.h). The engine is split by state, as
 * popa3d splits pop_auth.c from pop_trans.c:
 *   pop3_call.c     one call's context: arguments, replies, RFC 3206 codes
 *   pop3_auth.c     AUTHORIZATION: USER, PASS, APOP, AUTH and SASL, STLS
 *   pop3_trans.c    TRANSACTION and the UPDATE commit's reply
 *   pop3_session.c  the engine: command table, CAPA, QUIT, pop3_execute()
 */
#ifndef POPGATE_POP3_SESSION_INT_H
#define POPGATE_POP3_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pop3_maildrop.h"
#include "pop3_session.h"

#define POP3_PRINTF(fmt, args)	__attribute__((format(printf, fmt, args)))

/* RFC 2449 sec. 4: 512 octets per line including CRLF, so 510 of text. */
#define POP3_MAX_REPLY_TEXT	(POP3_MAX_REPLY_OCTETS - 2)
/* Most arguments any command takes: TOP msg n, AUTH mech initial-response. */
#define POP3_MAX_ARGS		2
/* RFC 1939 sec. 3 / RFC 2449 sec. 3: keywords are 3 or 4 characters. */
#define POP3_MAX_KEYWORD	4

#define POP3_IN_AUTH	(1u << POP3_STATE_AUTHORIZATION)
#define POP3_IN_TRANS	(1u << POP3_STATE_TRANSACTION)
#define POP3_IN_BOTH	(POP3_IN_AUTH | POP3_IN_TRANS)

/* Room for the reply text about a message expunged upstream. */
#define POP3_GONE_TEXT_OCTETS	\
	sizeof("Message 4294967295 was expunged by another client")

#define POP3_TEXT_GREETING	"POP3 server ready."
#define POP3_TEXT_OVERFLOW	"Output buffer full, closing."
#define POP3_TEXT_TOO_MANY_BAD	"Too many bad commands, closing."
#define POP3_TEXT_TOO_LONG	"Command line too long"
#define POP3_TEXT_BAD_OCTET	"Invalid octet in command"
/* AUTH replies; the wording follows Dovecot's where it has one. */
#define POP3_TEXT_AUTH_LIST	"Supported mechanisms follow"
#define POP3_TEXT_AUTH_UNKNOWN	"Unsupported authentication mechanism."
#define POP3_TEXT_AUTH_CANCEL	"Authentication cancelled."
#define POP3_TEXT_AUTH_BASE64	"Invalid base64 data in SASL response."
#define POP3_TEXT_AUTH_LONG	"SASL response too long."
#define POP3_TEXT_AUTH_NOMEM	"Out of memory, try again later."
#define POP3_TEXT_AUTH_AUTHZID	\
	"Authorization identity must be empty or equal the user name."
#define POP3_TEXT_AUTH_FAILURES	"too many authentication failures"

enum pop3_args {
	POP3_ARGS_NONE,		/* STAT */
	POP3_ARGS_OPTIONAL_ONE,	/* LIST, LIST 3 */
	POP3_ARGS_ONE,		/* DELE 3 */
	POP3_ARGS_TWO,		/* TOP 3 10 */
	POP3_ARGS_UP_TO_TWO,	/* AUTH; AUTH mech; AUTH mech response */
	POP3_ARGS_REST,		/* PASS: spaces kept (RFC 1939 sec. 7) */
	POP3_ARGS_COUNT,
};

/* One pop3_execute() call: the parsed line and what the handler did. */
struct pop3_call {
	struct pop3_session	*s;
	struct buf		*out;
	struct pop3_step	 step;
	char			*line;		/* the caller's, writable */
	const char		*argv[POP3_MAX_ARGS];	/* no NUL */
	size_t			 arglen[POP3_MAX_ARGS];
	unsigned int		 argc;
	int			 error;		/* first buf error */
	bool			 failed;	/* the reply was -ERR */
	bool			 challenged;	/* the reply was "+ ..." */
};

typedef void pop3_command_fn(struct pop3_call *);

/* pop3_call.c: replies and steps. */
size_t	pop3_sanitize(char *dst, size_t room, const char *text, bool drop_lt);
int	pop3_append_err(struct buf *out, enum pop3_resp_code code,
	    const char *text);
int	pop3_append_line(struct buf *out, const char *fmt, ...)
	    POP3_PRINTF(2, 3);
void	pop3_rollback(struct buf *out, size_t mark);
struct pop3_step pop3_step_close(const char *reason);
struct pop3_step pop3_step_read(void);
struct pop3_step pop3_overflow(struct pop3_session *s, struct buf *out,
	    size_t mark);
void	pop3_say(struct pop3_call *c, const char *fmt, ...) POP3_PRINTF(2, 3);
void	pop3_err(struct pop3_call *c, enum pop3_resp_code code,
	    const char *text);
/* pop3_call.c: arguments. */
bool	pop3_parse_u32(const char *arg, size_t len, uint32_t *value_out);
struct pop3_msg *pop3_arg_msg(struct pop3_call *c, unsigned int argi,
	    uint32_t *msn_out);
bool	pop3_parse_args(struct pop3_call *c, enum pop3_args shape,
	    const char *p, size_t len);

/* pop3_auth.c: AUTHORIZATION state and its secrets. */
void	pop3_sasl_end(struct pop3_session *s);
void	pop3_apop_wipe(struct pop3_session *s);
void	pop3_forget_user(struct pop3_session *s);
const char *pop3_apop_timestamp(const struct pop3_session *s);
bool	pop3_sasl_offered(const struct pop3_session *s, enum sasl_mech mech);
void	pop3_sasl_abort(struct pop3_call *c, enum pop3_resp_code code,
	    const char *text);
void	pop3_sasl_respond(struct pop3_call *c, char *text, size_t len,
	    bool initial);
pop3_command_fn	pop3_cmd_user, pop3_cmd_pass, pop3_cmd_apop, pop3_cmd_auth,
		pop3_cmd_stls;

/* pop3_trans.c: TRANSACTION state. */
pop3_command_fn	pop3_cmd_stat, pop3_cmd_list, pop3_cmd_uidl, pop3_cmd_retr,
		pop3_cmd_top, pop3_cmd_dele, pop3_cmd_rset, pop3_cmd_noop;

#endif
