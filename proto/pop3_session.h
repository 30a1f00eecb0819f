/* SPDX-License-Identifier: MIT */
/*
 * pop3_session.h - POP3 server protocol engine (RFC 1939, RFC 2449 CAPA and
 * response codes, RFC 3206, RFC 2595 STLS, RFC 5034 SASL AUTH). Pure: no
 * I/O, no clock.
 *
 * The caller feeds one command line at a time to pop3_execute(); the engine
 * appends complete reply lines to out and returns a step that tells the
 * caller what to do next. STAT, LIST, UIDL, DELE, RSET, NOOP and CAPA are
 * answered entirely here from the maildrop snapshot. Only login, message
 * bodies and the QUIT commit need the backend; each is an explicit step, and
 * the caller reports back with the matching call (LOGIN: pop3_login_done();
 * RETRIEVE: pop3_retrieve_begin() + pop3_retrieve_end(), or
 * pop3_retrieve_failed(); COMMIT: pop3_commit_done()). While one of those
 * three steps is pending (step_pending) the caller must not call
 * pop3_execute() or pop3_bad_line(). START_TLS and CLOSE need no report.
 * Every reply line is at most 512 octets including CRLF (RFC 2449 sec. 4).
 * If out refuses a reply (buf_append() fails: the caller's out max is too
 * small), the partial reply is removed, "-ERR [SYS/TEMP] ..." is tried, the
 * state becomes CLOSED and the step is CLOSE with reason "output overflow".
 *
 * AUTH (RFC 5034) runs inside the engine: it answers the "+ " challenges,
 * takes the next line given to pop3_execute() as the client's response, and
 * ends the exchange with a LOGIN step (step.mech says which mechanism) or
 * with -ERR. Before each line the caller sets its line reader's limit to
 * pop3_session_line_limit(), because a SASL response is far longer than a
 * command.
 *
 * APOP (RFC 1939 sec. 7) is offered only when the caller gives a timestamp
 * (pop3_options.apop_timestamp): the greeting then carries it, and a
 * well-formed "APOP name digest" ends in a LOGIN step (step.apop) that the
 * caller checks against its own secret for name.
 */
#ifndef POPGATE_POP3_SESSION_H
#define POPGATE_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pop3_line.h"
#include "pop3_maildrop.h"
#include "pop3_uidl.h"
#include "sasl.h"

/* RFC 2449 sec. 4: a response line is at most 512 octets including CRLF. */
#define POP3_MAX_REPLY_OCTETS	512
/* Consecutive bad commands before the session is closed (Dovecot uses 20). */
#define POP3_MAX_BAD_COMMANDS	20
/* Longest USER name kept (the command line limit bounds it anyway). */
#define POP3_MAX_USER_OCTETS	255
/*
 * Line limit including CRLF in AUTHORIZATION: "AUTH OAUTHBEARER " plus a
 * whole SASL response line plus CRLF fits (conformance 5.11). Any other
 * command there is still held to POP3_MAX_COMMAND_OCTETS by the engine.
 */
#define POP3_MAX_AUTH_LINE_OCTETS	(SASL_MAX_LINE_OCTETS + 64)
/* -ERR [AUTH] login results before the session is closed (conformance
 * 4.13; the caller adds the per-address delay). */
#define POP3_MAX_AUTH_FAILURES	3
/* RFC 1939 sec. 7: the APOP digest is an MD5 in hex. */
#define POP3_APOP_DIGEST_OCTETS	32
/* Longest APOP timestamp ("<...>") the engine puts in the greeting. */
#define POP3_APOP_MAX_TIMESTAMP_OCTETS	128

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
	POP3_STATE_CLOSED,
};

enum pop3_next {
	POP3_NEXT_READ,		/* read the next command line */
	POP3_NEXT_LOGIN,	/* authenticate + open; then pop3_login_done() */
	POP3_NEXT_RETRIEVE,	/* fetch a message; then pop3_retrieve_*() */
	POP3_NEXT_COMMIT,	/* apply deletions; then pop3_commit_done() */
	POP3_NEXT_START_TLS,	/* flush out, discard buffered input, start TLS */
	POP3_NEXT_CLOSE,	/* flush out, then close */
};

/* RFC 2449 sec. 8 / RFC 3206 extended response codes. */
enum pop3_resp_code {
	POP3_RESP_NONE,
	POP3_RESP_AUTH,		/* [AUTH] */
	POP3_RESP_SYS_TEMP,	/* [SYS/TEMP] */
	POP3_RESP_SYS_PERM,	/* [SYS/PERM] */
	POP3_RESP_IN_USE,	/* [IN-USE] */
	POP3_RESP_COUNT,
};

struct pop3_step {
	enum pop3_next	 next;
	/*
	 * LOGIN. mech is 0 for USER/PASS and APOP, else the AUTH mechanism.
	 * apop is true for APOP only. user is NUL-terminated session
	 * storage (s->user): the USER or APOP name, the PLAIN authcid, the
	 * LOGIN user name, or the user named inside an XOAUTH2 or
	 * OAUTHBEARER message (unescaped). For USER/PASS, password borrows
	 * the command line (password_len octets, no NUL; spaces and 8-bit
	 * octets kept): the caller copies it and then wipes the line. For
	 * APOP, password is NOT a password but the client's digest: the MD5
	 * of the timestamp followed by the secret, as
	 * POP3_APOP_DIGEST_OCTETS lowercase hex digits (NUL-terminated
	 * engine storage; the engine has wiped it from the line). The
	 * caller compares it with its own digest for the name and must
	 * never send it upstream as a password. For PLAIN and LOGIN it
	 * points into engine storage (no NUL octet inside). For XOAUTH2 and
	 * OAUTHBEARER password is NULL and sasl_msg holds the client's
	 * decoded message exactly as sent, to be relayed upstream as the
	 * same mechanism; otherwise sasl_msg is NULL. All of them are valid
	 * until the next call into the engine; engine storage is wiped by
	 * pop3_login_done() (or deinit).
	 */
	enum sasl_mech	 mech;
	bool		 apop;
	const char	*user;
	const char	*password;
	size_t		 password_len;
	const unsigned char *sasl_msg;
	size_t		 sasl_msg_len;
	/* RETRIEVE: message msn (uid); TOP with top_lines body lines, or RETR
	 * (is_top false, top_lines 0). */
	uint32_t	 msn;
	uint32_t	 uid;
	bool		 is_top;
	uint32_t	 top_lines;
	/* CLOSE: a short reason for the log ("quit", "too many bad commands") */
	const char	*reason;
};

struct pop3_options {
	/* borrowed; outlives the session. NULL = POP3_UIDL_DEFAULT_TEMPLATE */
	const struct pop3_uidl_template *uidl;
	/* text after "+OK "; any '<' (only the APOP timestamp may have
	 * one, conformance 1.3), control or 8-bit octet is dropped; NULL or
	 * empty = a fixed text */
	const char	*greeting;
	/*
	 * APOP (RFC 1939 sec. 7). Borrowed; outlives the session, and must
	 * not change once the greeting is sent. NULL or "" = APOP not
	 * offered ("-ERR APOP is not available"). Otherwise a msg-id made
	 * by the caller, different for every session, e.g.
	 * "<4711.1a2b3c4d5e6f@host>": '<', printable ASCII without space,
	 * '<' or '>', then '>'; 3 to POP3_APOP_MAX_TIMESTAMP_OCTETS octets.
	 * Anything else is treated as NULL. When valid, the greeting is
	 * "+OK <greeting text> <timestamp>" and APOP is accepted in
	 * AUTHORIZATION (not while a USER waits for its PASS) even when
	 * user_allowed is false: the secret never crosses the wire, so the
	 * plaintext policy (RFC 2595 sec. 2.3) does not apply to it. The
	 * caller answers the LOGIN step (step.apop) with pop3_login_done()
	 * as for USER/PASS; whether one user may use both USER/PASS and
	 * APOP (RFC 1939 sec. 13) is the caller's policy. CAPA has no APOP
	 * line (RFC 2449 sec. 6).
	 */
	const char	*apop_timestamp;
	const char	*implementation;/* CAPA IMPLEMENTATION text, NULL = none */
	bool		 user_allowed;	/* USER/PASS offered (CAPA USER) */
	bool		 stls_available;/* STLS may be offered before TLS */
	/* the connection is under TLS. The engine sets it itself when it
	 * answers STLS (the handshake either succeeds or the session ends);
	 * the caller sets it for implicit TLS, and updates user_allowed for
	 * the TLS state after the handshake. */
	bool		 tls_active;
	bool		 pipelining;	/* announce PIPELINING */
	/* (1u << enum sasl_mech) for each mechanism AUTH accepts and CAPA
	 * lists as SASL (none: no SASL line). Like user_allowed, read at
	 * each command: the caller may change both after a TLS handshake. */
	unsigned int	 sasl_mechs;
	/* Mechanisms AUTH accepts as well though neither CAPA nor a bare
	 * AUTH lists them: ones only some of the client's possible
	 * upstreams can take (known once the message names the user). */
	unsigned int	 sasl_unlisted;
};

struct pop3_counters {
	uint32_t	commands;
	uint32_t	bad_commands;	/* total -ERR for syntax/state */
	uint32_t	retr;
	uint32_t	top;
	uint32_t	dele;
};

/* The response an AUTH exchange waits for (RFC 5034 sec. 4). */
enum pop3_sasl_wait {
	POP3_SASL_WAIT_NONE,		/* none, or its LOGIN step runs */
	POP3_SASL_WAIT_MESSAGE,		/* PLAIN, XOAUTH2, OAUTHBEARER */
	POP3_SASL_WAIT_LOGIN_USER,	/* LOGIN: answer to "Username:" */
	POP3_SASL_WAIT_LOGIN_PASSWORD,	/* LOGIN: answer to "Password:" */
};

/* One AUTH exchange; all zero when none runs. */
struct pop3_sasl_exchange {
	enum sasl_mech		 mech;
	enum pop3_sasl_wait	 wait;
	/* The decoded response: secret. malloc'd only when a response
	 * arrives, sized to it, kept for the LOGIN step, then wiped and
	 * freed (pop3_login_done(), a failed exchange, deinit). */
	unsigned char		*msg;
	size_t			 msg_len;
	size_t			 msg_cap;
};

struct pop3_session {
	struct pop3_options	opt;
	enum pop3_state		state;
	struct pop3_maildrop	maildrop;	/* valid in TRANSACTION and later */
	bool			has_maildrop;
	bool			has_user;
	bool			step_pending;	/* LOGIN/RETRIEVE/COMMIT open */
	bool			retrieve_started; /* retrieve_begin() done */
	unsigned int		bad_in_a_row;
	unsigned int		auth_failures;	/* -ERR [AUTH] logins */
	char			user[POP3_MAX_USER_OCTETS + 1];
	/* An APOP LOGIN step's digest (lowercase, NUL-terminated): secret,
	 * as it allows an offline guess of the shared secret; wiped by
	 * pop3_login_done(), output overflow and deinit. */
	char			apop_digest[POP3_APOP_DIGEST_OCTETS + 1];
	struct pop3_sasl_exchange sasl;
	struct pop3_counters	count;
	struct pop3_step	pending;	/* the step being executed */
};

void	pop3_session_init(struct pop3_session *s, const struct pop3_options *opt);
/* Frees the maildrop and wipes and frees any SASL storage and APOP
 * digest. */
void	pop3_session_deinit(struct pop3_session *s);
/*
 * The limit, including CRLF, for the caller's line reader for the NEXT
 * line (pop3_line_set_max()): POP3_MAX_AUTH_LINE_OCTETS in AUTHORIZATION,
 * where an AUTH line or a SASL response may be long, otherwise
 * POP3_MAX_COMMAND_OCTETS. In AUTHORIZATION the engine itself answers any
 * other line longer than POP3_MAX_COMMAND_OCTETS - 2 octets as too long,
 * so RFC 2449 sec. 4 still holds for every other command.
 */
size_t	pop3_session_line_limit(const struct pop3_session *s);
/* Appends the greeting "+OK <greeting>\r\n", or with a valid APOP
 * timestamp "+OK <greeting> <timestamp>\r\n" (the only '<' in it). */
void	pop3_session_greeting(struct pop3_session *s, struct buf *out);
/*
 * Executes one command line (CR LF already stripped; the engine may modify
 * the bytes in place, and wipes the base64 of SASL responses and a
 * well-formed APOP digest). Appends the reply (or nothing, for steps that
 * reply later) to out. While an AUTH exchange waits for a response, the line
 * is that response, not a command. Every -ERR it answers counts as a bad
 * command; a +OK or a step resets the run, a "+ " challenge does neither.
 * The POP3_MAX_BAD_COMMANDS-th bad command in a row is answered
 * "-ERR Too many bad commands, closing." instead, and the step is CLOSE
 * ("too many bad commands"). After CLOSE, and in UPDATE, it appends nothing
 * and returns CLOSE.
 */
struct pop3_step pop3_execute(struct pop3_session *s, char *line, size_t len,
	    struct buf *out);
/* The line reader found an overlong or NUL-bearing line: answers one -ERR
 * (and ends a waiting AUTH exchange). May return POP3_NEXT_CLOSE after too
 * many bad commands. */
struct pop3_step pop3_bad_line(struct pop3_session *s, bool too_long,
	    struct buf *out);

/*
 * Login result, the same for every login (USER/PASS, APOP, AUTH). On
 * success pass the snapshot: the engine takes its contents (md is left
 * empty, deinit-safe; finish() is applied if the caller did not) and answers
 * "+OK". On failure pass md = NULL, a response code and a short fixed text
 * (never upstream text, never the password; NULL = a fixed text); the engine
 * answers "-ERR [CODE] text", forgets the USER name and stays in
 * AUTHORIZATION. The POP3_MAX_AUTH_FAILURES-th failure with code
 * POP3_RESP_AUTH is answered the same way, but then the state is CLOSED and
 * the step is CLOSE ("too many authentication failures"); other codes are
 * not counted. Either way the step's SASL storage is wiped and freed and an
 * APOP digest is wiped. Returns READ, or CLOSE.
 */
struct pop3_step pop3_login_done(struct pop3_session *s,
	    struct pop3_maildrop *md, enum pop3_resp_code code, const char *text,
	    struct buf *out);
/* RETRIEVE: the message exists and data follows: appends the "+OK" line
 * (no octet count, conformance 9.7). Returns 0, or buf_append()'s -ENOBUFS
 * or -ENOMEM: then send no data and close (the session is CLOSED). */
int	pop3_retrieve_begin(struct pop3_session *s, struct buf *out);
/* RETRIEVE finished after the data and terminator were queued. For RETR it
 * sets RETRIEVED on the message (used for \Seen). */
void	pop3_retrieve_end(struct pop3_session *s);
/* RETRIEVE failed before pop3_retrieve_begin(): appends "-ERR [CODE] text".
 * With gone = true the message is marked GONE (expunged by someone else) and
 * text NULL means "Message N was expunged by another client". Returns READ,
 * or CLOSE on output overflow. */
struct pop3_step pop3_retrieve_failed(struct pop3_session *s, bool gone,
	    enum pop3_resp_code code, const char *text, struct buf *out);
/* COMMIT result: appends "+OK ..." or "-ERR [SYS/TEMP] ..."; the next step
 * is always CLOSE (returned). */
struct pop3_step pop3_commit_done(struct pop3_session *s, bool ok,
	    struct buf *out);
/* Appends "-ERR [CODE] text" clipped to 512 octets; text is sanitised
 * (control and 8-bit octets dropped, a leading '[' removed). */
void	pop3_reply_err(struct buf *out, enum pop3_resp_code code,
	    const char *text);
/* Name of a response code without brackets ("SYS/TEMP"), or "" for NONE. */
const char *pop3_resp_code_name(enum pop3_resp_code code);

#endif
