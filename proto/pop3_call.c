/* SPDX-License-Identifier: MIT */
/*
 * pop3_call.c - the context of one pop3_execute() call: strict argument
 * parsing, reply lines (sanitised, 512 octets at most), RFC 3206 / RFC 2449
 * response codes, the steps handed back and output overflow. Pure.
 */
#include "pop3_session_int.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	unsigned int	min;
	unsigned int	max;
} pop3_arity[] = {
	[POP3_ARGS_NONE]	 = { 0, 0 },
	[POP3_ARGS_OPTIONAL_ONE] = { 0, 1 },
	[POP3_ARGS_ONE]		 = { 1, 1 },
	[POP3_ARGS_TWO]		 = { 2, 2 },
	[POP3_ARGS_UP_TO_TWO]	 = { 0, 2 },
	[POP3_ARGS_REST]	 = { 1, 1 },
};
_Static_assert(sizeof(pop3_arity) / sizeof(pop3_arity[0]) == POP3_ARGS_COUNT,
    "every argument shape needs an arity");

static const char *const pop3_resp_code_names[] = {
	[POP3_RESP_NONE]	= "",
	[POP3_RESP_AUTH]	= "AUTH",	/* RFC 3206 sec. 5 */
	[POP3_RESP_SYS_TEMP]	= "SYS/TEMP",	/* RFC 3206 sec. 4 */
	[POP3_RESP_SYS_PERM]	= "SYS/PERM",	/* RFC 3206 sec. 4 */
	[POP3_RESP_IN_USE]	= "IN-USE",	/* RFC 2449 sec. 8.1.2 */
};
_Static_assert(sizeof(pop3_resp_code_names) /
    sizeof(pop3_resp_code_names[0]) == POP3_RESP_COUNT,
    "every response code needs a name");

const char *
pop3_resp_code_name(enum pop3_resp_code code)
{
	if ((unsigned int)code >= POP3_RESP_COUNT)
		return "";
	return pop3_resp_code_names[code];
}

/*
 * Copies text into dst (room octets, no NUL) as POP3 response text: printable
 * ASCII only (RFC 6856 sec. 2.1 without UTF8; no CR/LF injection), never
 * starting with '[' (RFC 2449 sec. 8: that would be read as a response code)
 * nor with a space. drop_lt also drops '<' (greeting: only the APOP
 * timestamp may have one).
 */
size_t
pop3_sanitize(char *dst, size_t room, const char *text, bool drop_lt)
{
	size_t	len = 0;
	char	c;

	if (text == NULL)
		return 0;
	for (; (c = *text) != '\0' && len < room; text++) {
		if (c < 0x20 || c > 0x7e || (drop_lt && c == '<'))
			continue;
		if (len == 0 && (c == ' ' || c == '['))
			continue;
		dst[len++] = c;
	}
	while (len > 0 && dst[len - 1] == ' ')
		len--;
	return len;
}

/* Appends head, then " " and the sanitised text if any, then CRLF. */
static int
pop3_append_text_line(struct buf *out, const char *head, const char *text)
{
	char	line[POP3_MAX_REPLY_OCTETS];
	size_t	len, text_len;

	len = strlen(head);
	assert(len + 1 < POP3_MAX_REPLY_TEXT);
	memcpy(line, head, len);
	text_len = pop3_sanitize(line + len + 1, POP3_MAX_REPLY_TEXT - len - 1,
	    text, false);
	if (text_len > 0) {
		line[len] = ' ';
		len += 1 + text_len;
	}
	line[len++] = '\r';
	line[len++] = '\n';
	return buf_append(out, line, len);
}

int
pop3_append_err(struct buf *out, enum pop3_resp_code code, const char *text)
{
	char	head[sizeof("-ERR [SYS/TEMP]")];

	if (code == POP3_RESP_NONE || (unsigned int)code >= POP3_RESP_COUNT)
		return pop3_append_text_line(out, "-ERR", text);
	(void)snprintf(head, sizeof(head), "-ERR [%s]",
	    pop3_resp_code_name(code));
	return pop3_append_text_line(out, head, text);
}

void
pop3_reply_err(struct buf *out, enum pop3_resp_code code, const char *text)
{
	(void)pop3_append_err(out, code, text);
}

/* Appends one formatted line plus CRLF; our formats never near 510. */
static int POP3_PRINTF(2, 0)
pop3_append_vline(struct buf *out, const char *fmt, va_list ap)
{
	char	line[POP3_MAX_REPLY_OCTETS + 1];
	int	n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	assert(n >= 0 && n <= POP3_MAX_REPLY_TEXT);
	line[n] = '\r';
	line[n + 1] = '\n';
	return buf_append(out, line, (size_t)n + 2);
}

int
pop3_append_line(struct buf *out, const char *fmt, ...)
{
	va_list	ap;
	int	error;

	va_start(ap, fmt);
	error = pop3_append_vline(out, fmt, ap);
	va_end(ap);
	return error;
}

/* Removes a partial reply: struct buf is transparent and len only shrinks. */
void
pop3_rollback(struct buf *out, size_t mark)
{
	assert(mark <= out->len);
	out->len = mark;
}

struct pop3_step
pop3_step_close(const char *reason)
{
	struct pop3_step	step;

	memset(&step, 0, sizeof(step));
	step.next = POP3_NEXT_CLOSE;
	step.reason = reason;
	return step;
}

struct pop3_step
pop3_step_read(void)
{
	struct pop3_step	step;

	memset(&step, 0, sizeof(step));
	step.next = POP3_NEXT_READ;
	return step;
}

/* out refused a reply: drop the partial reply, try one last line, close. */
struct pop3_step
pop3_overflow(struct pop3_session *s, struct buf *out, size_t mark)
{
	pop3_sasl_end(s);
	pop3_apop_wipe(s);
	pop3_rollback(out, mark);
	(void)pop3_append_err(out, POP3_RESP_SYS_TEMP, POP3_TEXT_OVERFLOW);
	s->state = POP3_STATE_CLOSED;
	s->step_pending = false;
	s->retrieve_started = false;
	return pop3_step_close("output overflow");
}

/* One line of a reply (status or data); the first failure sticks. */
void
pop3_say(struct pop3_call *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->error != 0)
		return;
	va_start(ap, fmt);
	c->error = pop3_append_vline(c->out, fmt, ap);
	va_end(ap);
}

void
pop3_err(struct pop3_call *c, enum pop3_resp_code code, const char *text)
{
	c->failed = true;
	if (c->error == 0)
		c->error = pop3_append_err(c->out, code, text);
}

/* RFC 1939 sec. 3/4: base-10 digits only; no sign; no wrap-around. */
bool
pop3_parse_u32(const char *arg, size_t len, uint32_t *value_out)
{
	uint64_t	value = 0;
	size_t		i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return false;
		value = value * 10 + (uint64_t)(arg[i] - '0');
		if (value > UINT32_MAX)
			return false;
	}
	*value_out = (uint32_t)value;
	return true;
}

/*
 * Looks up argument argi as a message number that names a message not marked
 * deleted (RFC 1939 sec. 5). Replies -ERR and returns NULL otherwise.
 */
struct pop3_msg *
pop3_arg_msg(struct pop3_call *c, unsigned int argi, uint32_t *msn_out)
{
	struct pop3_msg	*m;
	uint32_t	 msn;

	if (!pop3_parse_u32(c->argv[argi], c->arglen[argi], &msn) ||
	    msn == 0) {
		pop3_err(c, POP3_RESP_NONE, "Invalid message number");
		return NULL;
	}
	m = pop3_maildrop_by_msn(&c->s->maildrop, msn);
	if (m == NULL) {
		pop3_err(c, POP3_RESP_NONE, "No such message");
		return NULL;
	}
	if (m->flags & POP3_MSG_MARKED) {
		pop3_err(c, POP3_RESP_NONE, "Message is deleted");
		return NULL;
	}
	*msn_out = msn;
	return m;
}

/*
 * Splits " arg1 arg2" (what follows the keyword) by single spaces (RFC 2449
 * sec. 3: keyword *(SP param)). Empty arguments (double or trailing spaces)
 * are an error, so "LIST  1" can never mean LIST (conformance 2.12).
 */
bool
pop3_parse_args(struct pop3_call *c, enum pop3_args shape, const char *p,
    size_t len)
{
	const char	*space;
	size_t		 arg_len;

	if (shape == POP3_ARGS_REST) {
		/* The whole rest, spaces included; may be empty ("PASS "). */
		if (len == 0) {
			pop3_err(c, POP3_RESP_NONE, "Missing argument");
			return false;
		}
		c->argv[0] = p + 1;
		c->arglen[0] = len - 1;
		c->argc = 1;
		return true;
	}
	while (len > 0) {
		p++;		/* the separating space */
		len--;
		space = memchr(p, ' ', len);
		arg_len = space != NULL ? (size_t)(space - p) : len;
		if (arg_len == 0) {
			pop3_err(c, POP3_RESP_NONE,
			    "Invalid syntax: one space between arguments");
			return false;
		}
		if (c->argc == pop3_arity[shape].max) {
			pop3_err(c, POP3_RESP_NONE,
			    "Unexpected extra argument");
			return false;
		}
		c->argv[c->argc] = p;
		c->arglen[c->argc++] = arg_len;
		p += arg_len;
		len -= arg_len;
	}
	if (c->argc < pop3_arity[shape].min) {
		pop3_err(c, POP3_RESP_NONE, "Missing argument");
		return false;
	}
	return true;
}
