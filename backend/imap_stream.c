/* SPDX-License-Identifier: MIT */
/*
 * imap_stream.c - the mailstream_low driver over imap_frame.
 */
#include "imap_stream.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ssize_t
imap_stream_read(mailstream_low *low, void *dst, size_t n)
{
	size_t	got;

	got = imap_frame_read(low->data, dst, n);
	/* Never 0: libetpan takes 0 as EOF and can spin inside a literal. */
	return got == 0 ? -1 : (ssize_t)got;
}

static ssize_t
imap_stream_write(mailstream_low *low, const void *src, size_t n)
{
	(void)low;
	(void)src;
	return (ssize_t)n;
}

static int
imap_stream_close(mailstream_low *low)
{
	(void)low;
	return 0;
}

static int
imap_stream_get_fd(mailstream_low *low)
{
	(void)low;
	return -1;
}

static void
imap_stream_free_low(mailstream_low *low)
{
	free(low);
}

static mailstream_low_driver imap_stream_driver = {
	.mailstream_read = imap_stream_read,
	.mailstream_write = imap_stream_write,
	.mailstream_close = imap_stream_close,
	.mailstream_get_fd = imap_stream_get_fd,
	.mailstream_free = imap_stream_free_low,
};

mailstream *
imap_stream_new(struct imap_frame *f)
{
	mailstream_low	*low;
	mailstream	*s;

	low = mailstream_low_new(f, &imap_stream_driver);
	if (low == NULL)
		return NULL;
	s = mailstream_new(low, IMAP_STREAM_BUFFER_OCTETS);
	if (s == NULL)
		mailstream_low_free(low);
	return s;
}

void
imap_stream_free_session(mailimap *imap)
{
	mailstream	*s;

	if (imap == NULL)
		return;
	s = imap->imap_stream;
	imap->imap_stream = NULL;
	imap->imap_state = MAILIMAP_STATE_DISCONNECTED;
	if (s != NULL)
		mailstream_close(s);
	mailimap_free(imap);
}

bool
imap_stream_greeting_is_bye(const struct imap_frame *f)
{
	const char	*p = f->data + f->rd, *end = f->data + f->ready;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || *p++ != '*')
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return end - p >= 3 && strncasecmp(p, "BYE", 3) == 0;
}

/*
 * libetpan 1.9.4 parses the greeting without a parser context and crashes
 * (NULL dereference) on the first astring in it, as in a PERMANENTFLAGS or
 * BADCHARSET code. Only CAPABILITY (atoms) is of use in a greeting, so
 * every '[' of the greeting that does not open a CAPABILITY code is blanked
 * in place, wherever it stands (libetpan skips blanks and junk before the
 * status word): libetpan reads the rest as text. Returns how many.
 */
unsigned int
imap_stream_greeting_defuse(struct imap_frame *f)
{
	char		*p = f->data + f->rd, *end = f->data + f->ready;
	char		*word;
	unsigned int	 n = 0;

	while ((p = memchr(p, '[', (size_t)(end - p))) != NULL) {
		word = p + 1;
		while (word < end && (*word == ' ' || *word == '\t'))
			word++;
		if (!(end - word > 10 && strncasecmp(word, "CAPABILITY", 10) == 0 &&
		    (word[10] == ' ' || word[10] == ']'))) {
			*p = ' ';
			n++;
		}
		p++;
	}
	return n;
}

bool
imap_stream_tag_number(const char *text, size_t len, uint32_t *tag)
{
	uint32_t	v = 0;
	size_t		i;

	/* Nine digits stay below 2^31: libetpan keeps the tag in an int. */
	if (len == 0 || len > 9)
		return false;
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(text[i] - '0');
	}
	*tag = v;
	return true;
}
