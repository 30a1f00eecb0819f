/* SPDX-License-Identifier: MIT */
/*
 * pop3_session.h - POP3 server protocol engine (RFC 1939, RFC 2449 CAPA and
 * response codes, RFC 3206, RFC 2595 STLS). Pure: no I/O, no clock.
 *
 * The caller feeds one command line at a time to pop3_execute(); the engine
 * appends complete reply lines to out and returns a step that tells the
 * caller what to do next. STAT, LIST, UIDL, DELE, RSET, NOOP and CAPA are
 * answered entirely here from the maildrop snapshot. Only login, message
 * bodies and the QUIT commit need the backend; each is an explicit step, and
 * the caller reports back with the matching *_done() call. While a step other
 * than POP3_NEXT_READ is pending the caller must not call pop3_execute().
 * Every reply line is at most 512 octets including CRLF (RFC 2449 sec. 4).
 */
#ifndef POPGATE_POP3_SESSION_H
#define POPGATE_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pop3_maildrop.h"
#include "pop3_uidl.h"

/* RFC 2449 sec. 4: a response line is at most 512 octets including CRLF. */
#define POP3_MAX_REPLY_OCTETS	512
/* Consecutive bad commands before the session is closed (Dovecot uses 20). */
#define POP3_MAX_BAD_COMMANDS	20
/* Longest USER name kept (the command line limit bounds it anyway). */
#define POP3_MAX_USER_OCTETS	255

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
	/* LOGIN: both borrow the command line buffer (valid until the next
	 * pop3_execute()); the caller copies them and then wipes the line. */
	const char	*user;
	const char	*password;
	size_t		 password_len;
	/* RETRIEVE */
	uint32_t	 msn;
	uint32_t	 uid;
	bool		 is_top;
	uint32_t	 top_lines;
	/* CLOSE: a short reason for the log ("quit", "too many bad commands") */
	const char	*reason;
};

struct pop3_options {
	const struct pop3_uidl_template *uidl;	/* borrowed; outlives the session */
	const char	*greeting;	/* text after "+OK "; must not contain '<' */
	const char	*implementation;/* CAPA IMPLEMENTATION text, NULL = none */
	bool		 user_allowed;	/* USER/PASS offered (CAPA USER) */
	bool		 stls_available;/* STLS may be offered before TLS */
	bool		 tls_active;	/* the connection is already under TLS */
	bool		 pipelining;	/* announce PIPELINING */
};

struct pop3_counters {
	uint32_t	commands;
	uint32_t	bad_commands;	/* total -ERR for syntax/state */
	uint32_t	retr;
	uint32_t	top;
	uint32_t	dele;
};

struct pop3_session {
	struct pop3_options	opt;
	enum pop3_state		state;
	struct pop3_maildrop	maildrop;	/* valid in TRANSACTION and later */
	bool			has_maildrop;
	bool			has_user;
	bool			step_pending;	/* a non-READ step awaits *_done() */
	unsigned int		bad_in_a_row;
	char			user[POP3_MAX_USER_OCTETS + 1];
	struct pop3_counters	count;
	struct pop3_step	pending;	/* the step being executed */
};

void	pop3_session_init(struct pop3_session *s, const struct pop3_options *opt);
void	pop3_session_deinit(struct pop3_session *s);
/* Appends the greeting "+OK <greeting>\r\n". */
void	pop3_session_greeting(struct pop3_session *s, struct buf *out);
/*
 * Executes one command line (CR LF already stripped; the engine may modify
 * the bytes in place). Appends the reply (or nothing, for steps that reply
 * later) to out.
 */
struct pop3_step pop3_execute(struct pop3_session *s, char *line, size_t len,
	    struct buf *out);
/* The line reader found an overlong or NUL-bearing line: answers one -ERR.
 * May return POP3_NEXT_CLOSE after too many bad commands. */
struct pop3_step pop3_bad_line(struct pop3_session *s, bool too_long,
	    struct buf *out);

/*
 * Login result. On success pass the snapshot: the engine takes its contents
 * (md is left empty) and answers "+OK". On failure pass md = NULL, a response
 * code and a short fixed text (never upstream text, never the password);
 * the engine answers "-ERR [CODE] text" and stays in AUTHORIZATION.
 */
void	pop3_login_done(struct pop3_session *s, struct pop3_maildrop *md,
	    enum pop3_resp_code code, const char *text, struct buf *out);
/* RETRIEVE: the message exists and data follows: appends the "+OK" line. */
void	pop3_retrieve_begin(struct pop3_session *s, struct buf *out);
/* RETRIEVE finished after the data and terminator were queued. For RETR it
 * sets RETRIEVED on the message (used for \Seen). */
void	pop3_retrieve_end(struct pop3_session *s);
/* RETRIEVE failed before pop3_retrieve_begin(): appends "-ERR [CODE] text".
 * With gone = true the message is marked GONE (expunged by someone else). */
void	pop3_retrieve_failed(struct pop3_session *s, bool gone,
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
