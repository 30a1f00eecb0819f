# SPDX-License-Identifier: MIT
"""Seed test mail by IMAP APPEND and read it back.

APPEND sends the caller's bytes unchanged (imaplib's own append() rewrites
every CR and LF into CRLF, which would hide the bare-LF fixture from a
non-normalising upstream).  The exact bytes a POP3 client must receive are
what the upstream returns for UID FETCH BODY.PEEK[] (see
doc/dovecot-for-tests.md: Dovecot stores bare LF as CRLF, so its BODY[] is CRLF
text and RFC822.SIZE is exact).
"""

import base64
import random
import re

_APPENDUID = re.compile(rb'\[APPENDUID (\d+) (\d+)\]', re.I)


class SeedError(RuntimeError):
    pass


def _check(typ, data, what):
    if typ != 'OK':
        raise SeedError('%s failed: %s %r' % (what, typ, data))
    return data


def _select(imap, mailbox):
    if getattr(imap, '_popgate_selected', None) != mailbox or imap.state != 'SELECTED':
        _check(*imap.select(mailbox), what='SELECT %s' % mailbox)
        imap._popgate_selected = mailbox


def append(imap, mailbox, raw_bytes, flags=''):
    """APPEND raw_bytes verbatim to mailbox; return the new message's UID."""
    if not mailbox:
        mailbox = 'INBOX'
    if flags and not (flags.startswith('(') and flags.endswith(')')):
        flags = '(%s)' % flags
    before = None
    if imap.state == 'SELECTED' and getattr(imap, '_popgate_selected', None) == mailbox:
        before = set(uids(imap, mailbox))
    imap.literal = bytes(raw_bytes)
    args = [mailbox] + ([flags] if flags else [])
    typ, data = imap._simple_command('APPEND', *args)
    _check(typ, data, 'APPEND')
    for item in data or []:
        if isinstance(item, bytes):
            m = _APPENDUID.search(item)
            if m:
                return int(m.group(2))
    # No UIDPLUS: the new message has the highest UID in the mailbox.
    _select(imap, mailbox)
    all_uids = uids(imap, mailbox)
    if before is not None:
        new = sorted(set(all_uids) - before)
        if new:
            return new[-1]
    if not all_uids:
        raise SeedError('APPEND succeeded but the mailbox is empty')
    return all_uids[-1]


def uids(imap, mailbox='INBOX'):
    """All UIDs in mailbox, ascending (selects it)."""
    _select(imap, mailbox)
    data = _check(*imap.uid('SEARCH', 'ALL'), what='UID SEARCH')
    out = []
    for item in data:
        if item:
            out += [int(x) for x in item.split()]
    return sorted(out)


def _fetch_items(imap, uid, items):
    if imap.state != 'SELECTED':
        _select(imap, 'INBOX')
    return _check(*imap.uid('FETCH', str(uid), items), what='UID FETCH %s' % uid)


def fetch_raw(imap, uid):
    """The message's exact bytes: UID FETCH uid BODY.PEEK[] (current mailbox,
    INBOX if none is selected)."""
    data = _fetch_items(imap, uid, '(BODY.PEEK[])')
    for item in data:
        if isinstance(item, tuple) and re.search(rb'UID %d\b' % uid, item[0]) \
                and b'BODY[]' in item[0]:
            return item[1]
    for item in data:
        if isinstance(item, tuple) and b'BODY[]' in item[0]:
            return item[1]
    raise SeedError('no BODY[] for UID %d: %r' % (uid, data))


def flags(imap, uid):
    """The message's flags as a set of strings, e.g. {'\\Seen'}."""
    data = _fetch_items(imap, uid, '(FLAGS)')
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        # Another message's unsolicited FETCH (a flag change by another
        # session) may come along, with or without its UID: only ours counts.
        if not re.search(rb'UID %d\b' % uid, line):
            continue
        m = re.search(rb'FLAGS \(([^)]*)\)', line)
        if m:
            return set(m.group(1).decode().split())
    raise SeedError('no FLAGS for UID %d (expunged?): %r' % (uid, data))


def size(imap, uid):
    """RFC822.SIZE of the message."""
    data = _fetch_items(imap, uid, '(RFC822.SIZE)')
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes):
            m = re.search(rb'RFC822\.SIZE (\d+)', line)
            if m:
                return int(m.group(1))
    raise SeedError('no RFC822.SIZE for UID %d: %r' % (uid, data))


def clear_mailbox(imap, mailbox='INBOX'):
    """Remove every message in mailbox (STORE \\Deleted + EXPUNGE)."""
    _select(imap, mailbox)
    if uids(imap, mailbox):
        _check(*imap.uid('STORE', '1:*', '+FLAGS.SILENT', r'(\Deleted)'), what='STORE')
        _check(*imap.expunge(), what='EXPUNGE')
    if uids(imap, mailbox):
        raise SeedError('mailbox not empty after EXPUNGE')


def message_id(raw):
    """The Message-ID header value (with <>), or None."""
    m = re.search(rb'(?im)^Message-ID:[ \t]*(<[^>\r\n]*>)', raw)
    return m.group(1).decode('ascii', 'replace') if m else None


# -- the corpus ---------------------------------------------------------

def _headers(name, subject=None, extra=(), kind=b'corpus'):
    h = [
        b'Return-Path: <sender@example.org>',
        b'From: Sender <sender@example.org>',
        b'To: Alice <alice@example.org>',
        b'Subject: ' + (subject or ('popgate corpus: ' + name).encode()),
        b'Date: Tue, 03 Mar 2026 10:00:00 +0000',
        b'Message-ID: <' + name.encode() + b'.' + kind + b'@popgate.test>',
    ]
    h += list(extra)
    return h


def _msg(name, body_lines, eol=b'\r\n', final_eol=True, subject=None, extra=(),
         kind=b'corpus'):
    text = eol.join(_headers(name, subject, extra, kind)) + eol + eol
    text += eol.join(body_lines)
    if final_eol and body_lines:
        text += eol
    return text


def _base64_lines(data):
    enc = base64.b64encode(data)
    return [enc[i:i + 76] for i in range(0, len(enc), 76)]


def big_message(n_bytes, seed=1939, name=None):
    """A MIME message of about n_bytes (within a few hundred octets): a short
    text part plus a base64 attachment with 76-character lines.  Same bytes
    for the same arguments."""
    rnd = random.Random(seed)
    name = name or ('big-%d-%d' % (n_bytes, seed))
    boundary = b'=_popgate_boundary_%d' % seed
    head = _headers(name, extra=[
        b'MIME-Version: 1.0',
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"',
    ])
    pre = b'\r\n'.join(head) + b'\r\n\r\n' + b'\r\n'.join([
        b'This is a multi-part message in MIME format.',
        b'',
        b'--' + boundary,
        b'Content-Type: text/plain; charset=us-ascii',
        b'',
        b'A large attachment follows.',
        b'',
        b'--' + boundary,
        b'Content-Type: application/octet-stream; name="blob.bin"',
        b'Content-Transfer-Encoding: base64',
        b'Content-Disposition: attachment; filename="blob.bin"',
        b'',
    ]) + b'\r\n'
    post = b'--' + boundary + b'--\r\n'
    room = max(0, n_bytes - len(pre) - len(post))
    # 57 raw octets -> one 76-character line + CRLF (78 octets on the wire)
    n_raw = (room // 78) * 57
    blob = rnd.getrandbits(8 * n_raw).to_bytes(n_raw, 'little') if n_raw else b''
    lines = _base64_lines(blob)
    body = b''.join(l + b'\r\n' for l in lines)
    return pre + body + post


def standard_corpus():
    """[(name, raw_bytes)] in APPEND order.  Deterministic; each message has a
    distinct Message-ID <name.corpus@popgate.test>; no line reaches 8192
    octets (fetchmail 6.4 corrupts such lines)."""
    rnd = random.Random(20260303)
    words = [b'alpha', b'bravo', b'charlie', b'delta', b'echo', b'foxtrot',
             b'golf', b'hotel', b'india', b'juliet', b'kilo', b'lima']

    def prose(n):
        return [b' '.join(rnd.choice(words) for _ in range(rnd.randint(3, 12)))
                for _ in range(n)]

    corpus = []
    corpus.append(('plain', _msg('plain', [
        b'Hello Alice,', b'', b'this is a plain CRLF message.', b'-- ', b'Sender'])))
    corpus.append(('dot-torture', _msg('dot-torture', [
        b'.', b'first line above was a single dot', b'..', b'.foo', b' .',
        b'. leading dot and space', b'...', b'text', b'.'])))
    corpus.append(('crlf-dot-crlf', _msg('crlf-dot-crlf', [
        b'before the fake terminator', b'.', b'after the fake terminator',
        b'and again:', b'.', b'', b'.', b'end'])))
    corpus.append(('bare-lf', _msg('bare-lf', [
        b'This message uses bare LF line endings.', b'.', b'..', b'.bar',
        b'last line'], eol=b'\n')))
    corpus.append(('no-final-newline', _msg('no-final-newline', [
        b'The last line of this message', b'has no line ending at all'],
        final_eol=False)))
    corpus.append(('utf8-headers', _msg('utf8-headers', [
        'Grüße aus Köln, 日本語のテキスト, emoji \U0001F600.'.encode(),
        b'Second line.'],
        subject='Grüße – ünïcödé Subject ✓'.encode(),
        extra=['X-Real-Name: Zoë Ångström'.encode()]).replace(
            b'From: Sender <sender@example.org>',
            'From: Jörg Müller <jörg@example.org>'.encode())))
    corpus.append(('big-attachment', big_message(3 * 1024 * 1024, seed=7,
                                                 name='big-attachment')))
    corpus.append(('empty-body', b'\r\n'.join(_headers('empty-body')) + b'\r\n\r\n'))
    corpus.append(('header-only', b'\r\n'.join(_headers('header-only')) + b'\r\n'))
    corpus.append(('long-prose', _msg('long-prose', prose(200) + [
        b'x' * 998, b'.' + b'y' * 997, b'z' * 4000])))
    return corpus


def seed(imap, corpus=None, mailbox='INBOX'):
    """APPEND every message of corpus (default: standard_corpus()); return a
    list of dicts {name, uid, raw (as appended), stored (BODY.PEEK[])}."""
    corpus = standard_corpus() if corpus is None else corpus
    out = []
    for name, raw in corpus:
        uid = append(imap, mailbox, raw)
        out.append({'name': name, 'uid': uid, 'raw': raw})
    _select(imap, mailbox)
    for item in out:
        item['stored'] = fetch_raw(imap, item['uid'])
    return out


def simple_corpus(n=5, tag='m'):
    """n small plain CRLF messages, Message-ID <TAG-i.simple@popgate.test>."""
    out = []
    for i in range(1, n + 1):
        name = '%s-%d' % (tag, i)
        out.append((name, _msg(name, [b'This is message %d of %d.' % (i, n),
                                      b'.', b'Tag: ' + tag.encode(), b'Bye.'],
                             kind=b'simple')))
    return out
