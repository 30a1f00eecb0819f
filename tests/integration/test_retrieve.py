#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Retrieval through popgate: STAT/LIST/UIDL consistency, RETR and TOP with a
strict client, poplib, curl, fetchmail and mpop, pipelining, login errors,
bad arguments and the maildrop lock.

Expected bytes are what the upstream returns for UID FETCH BODY.PEEK[],
with a CRLF added when the message does not end in a newline
(doc/pop3-conformance.md 3.4, 10.1).
"""

import os
import poplib
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import clients  # noqa: E402
import harness  # noqa: E402
import mailseed  # noqa: E402
from harness import POP3Strict, dovecot_mode, expected_top, pop3_form  # noqa: E402

FIX = None
SRV = None
ITEMS = None        # [{'name', 'uid', 'raw', 'stored'}] in POP3 order
UIDVALIDITY = None
USER, PASSWORD = 'alice', 'secret'
HUGE = 10 ** 9


def setUpModule():
    global FIX, SRV, ITEMS, UIDVALIDITY
    # pop3_lock_session only matters in dovecot mode (the IN-USE test).
    FIX = harness.setup_module(extra_conf='pop3_lock_session = yes')
    imap = FIX.imap(USER)
    try:
        ITEMS = mailseed.seed(imap)
        typ, data = imap.status('INBOX', '(UIDVALIDITY)')
        UIDVALIDITY = int(re.search(rb'UIDVALIDITY (\d+)', data[0]).group(1))
    finally:
        imap.logout()
    SRV = FIX.pop3_server()


def session():
    c = POP3Strict(SRV.port)
    c.login(USER, PASSWORD)
    return c


def quit_session(c):
    try:
        st = c.quit()
        if not st.startswith('+OK'):
            raise AssertionError('QUIT: %r' % st)
        if not c.expect_eof(5):
            raise AssertionError('no EOF within 5s after QUIT')
    finally:
        c.close()


def expected_size(item):
    """LIST size: the unstuffed RETR octets.  Dovecot's own POP3 leaves the
    CRLF it appends to a message without a final newline out of the size
    (known deviation, doc/pop3-conformance.md 3.4); popgate counts it."""
    n = len(pop3_form(item['stored']))
    if dovecot_mode() and not item['stored'].endswith(b'\n'):
        n -= 2
    return n


class Retrieve(clients.ClientChecks, unittest.TestCase):
    maxDiff = 2000

    # -- the listing --------------------------------------------------------
    def test_stat_list_uidl_consistent(self):
        c = session()
        try:
            count, octets = c.stat()
            listing = c.list()
            uidls = c.uidl()
            self.assertEqual(count, len(ITEMS))
            self.assertEqual([n for n, _ in listing], list(range(1, len(ITEMS) + 1)))
            self.assertEqual(octets, sum(s for _, s in listing),
                             'STAT octets == sum of LIST sizes')
            for (n, size), item in zip(listing, ITEMS):
                self.assertEqual(size, expected_size(item),
                                 'LIST size of %d (%s)' % (n, item['name']))
                self.assertEqual(c.list_one(n), (n, size), 'LIST %d' % n)
            self.assertEqual([n for n, _ in uidls], list(range(1, len(ITEMS) + 1)))
            ids = [u for _, u in uidls]
            self.assertEqual(len(set(ids)), len(ids), 'UIDLs unique')
            for (n, uid), item in zip(uidls, ITEMS):
                self.assertRegex(uid, r'^[\x21-\x7e]{1,70}$')
                # default template {uid:08x}{uidvalidity:08x} = Dovecot %08Xu%08Xv
                self.assertEqual(uid, '%08x%08x' % (item['uid'], UIDVALIDITY),
                                 'UIDL of %d (%s)' % (n, item['name']))
                self.assertEqual(c.uidl_one(n), (n, uid), 'UIDL %d' % n)
            # second listing in the same session is identical (10.4)
            self.assertEqual(c.list(), listing)
            self.assertEqual(c.stat(), (count, octets))
        finally:
            quit_session(c)

    def test_no_such_message(self):
        c = session()
        try:
            n = len(ITEMS) + 1
            for cmd in ('LIST %d' % n, 'UIDL %d' % n, 'RETR %d' % n, 'TOP %d 0' % n,
                        'DELE %d' % n, 'LIST 0', 'UIDL 0', 'TOP 0 0'):
                st = c.cmd(cmd)
                self.assertTrue(st.startswith('-ERR'), '%s -> %r' % (cmd, st))
            self.assertEqual(c.stat()[0], len(ITEMS))
        finally:
            quit_session(c)

    # -- RETR -----------------------------------------------------------
    def test_retr_strict_client(self):
        c = session()
        try:
            for n, item in enumerate(ITEMS, 1):
                st, data = c.multi('RETR %d' % n)
                self.assertTrue(st.startswith('+OK'), 'RETR %d: %r' % (n, st))
                self.assertIsNotNone(data)
                want = pop3_form(item['stored'])
                self.assertBytesEqual(data, want, 'RETR %d (%s)' % (n, item['name']))
                self.assertTrue(c.last_raw.endswith(b'\r\n.\r\n') or c.last_raw == b'.\r\n')
                m = re.match(r'^\+OK (\d+) octets', st)
                if m and not (dovecot_mode() and not item['stored'].endswith(b'\n')):
                    self.assertEqual(int(m.group(1)), len(data),
                                     'octet count in %r (conformance 9.7)' % st)
                self.assertEqual(c.list_one(n)[1], expected_size(item),
                                 'LIST %d vs RETR octets' % n)
            # stuffing on the wire for the dot fixture (conformance 3.2)
            k = [i['name'] for i in ITEMS].index('dot-torture') + 1
            c.retr(k)
            self.assertIn(b'\r\n\r\n..\r\nfirst line', c.last_raw)
            self.assertIn(b'\r\n...\r\n..foo\r\n .\r\n.. leading', c.last_raw)
            self.assertTrue(c.last_raw.endswith(b'\r\ntext\r\n..\r\n.\r\n'), c.last_raw[-30:])
        finally:
            quit_session(c)

    def test_retr_poplib(self):
        old = poplib._MAXLINE
        poplib._MAXLINE = 1 << 20
        p = poplib.POP3('127.0.0.1', SRV.port, timeout=harness.SOCKET_TIMEOUT)
        try:
            p.user(USER)
            p.pass_(PASSWORD)
            self.assertEqual(p.stat()[0], len(ITEMS))
            for n, item in enumerate(ITEMS, 1):
                resp, lines, octets = p.retr(n)
                self.assertTrue(resp.startswith(b'+OK'))
                data = b''.join(l + b'\r\n' for l in lines)
                self.assertBytesEqual(data, pop3_form(item['stored']),
                                      'poplib RETR %d (%s)' % (n, item['name']))
            uidls = p.uidl()[1]
            self.assertEqual(len(uidls), len(ITEMS))
            self.assertTrue(p.quit().startswith(b'+OK'))
        finally:
            poplib._MAXLINE = old
            p.close()

    # -- TOP ------------------------------------------------------------
    def test_top(self):
        c = session()
        try:
            for n, item in enumerate(ITEMS, 1):
                full = c.retr(n)
                for k in (0, 1, 5, HUGE):
                    data = c.top(n, k)
                    what = 'TOP %d %d (%s)' % (n, k, item['name'])
                    self.assertTrue(full.startswith(data), what + ' is not a prefix of RETR')
                    self.assertBytesEqual(data, expected_top(item['stored'], k), what)
                    if k == HUGE:
                        self.assertBytesEqual(data, full, what + ' == RETR')
                if item['name'] != 'header-only':
                    self.assertTrue(c.top(n, 0).endswith(b'\r\n\r\n'),
                                    'TOP %d 0 ends after the blank line' % n)
            for cmd in ('TOP 1', 'TOP 1 x', 'TOP 1 -1', 'TOP x 0'):
                st = c.cmd(cmd)
                self.assertTrue(st.startswith('-ERR'), '%s -> %r' % (cmd, st))
        finally:
            quit_session(c)

    # -- curl -----------------------------------------------------------
    def curl(self, path, *extra):
        return self.curl_ok('pop3://127.0.0.1:%d/%s' % (SRV.port, path), USER, PASSWORD,
                            *extra)[0]

    def test_curl_retr(self):
        # curl removes the stuffing and the terminator: its output is the data.
        for n, item in enumerate(ITEMS, 1):
            out = self.curl(str(n))
            self.assertBytesEqual(out, pop3_form(item['stored']),
                                  'curl pop3://.../%d (%s)' % (n, item['name']))

    def test_curl_list_and_uidl(self):
        c = session()
        try:
            _, list_data = c.multi('LIST')
            _, uidl_data = c.multi('UIDL')
        finally:
            quit_session(c)
        self.assertBytesEqual(self.curl(''), list_data, 'curl LIST')
        self.assertBytesEqual(self.curl('', '-X', 'UIDL'), uidl_data, 'curl -X UIDL')
        one = self.curl('', '-X', 'UIDL 2', '-I')
        self.assertNotIn(b'.\r\n', one)

    # -- fetchmail and mpop -------------------------------------------------
    def test_fetchmail_keep_then_nothing_new(self):
        fm = clients.Fetchmail(FIX.subdir('fetchmail'), '127.0.0.1', SRV.port, USER, PASSWORD,
                               "sslproto ''")
        code, text = fm.run()
        self.assertEqual(code, 0, 'fetchmail first run: exit %d\n%s' % (code, text[-2000:]))
        files = fm.delivered()
        self.assertEqual(len(files), len(ITEMS), text[-2000:])
        self.check_delivered(files, 'fetchmail', ITEMS)
        # second run: keep + uidl, nothing new (exit 1 = PS_NOMAIL)
        code, text = fm.run()
        self.assertIn(code, (0, 1), 'fetchmail second run: exit %d\n%s' % (code, text[-2000:]))
        self.assertEqual(sorted(fm.delivered()), sorted(files),
                         'fetchmail downloaded again on the second run\n' + text[-2000:])

    def test_mpop_keep_then_nothing_new(self):
        mp = clients.Mpop(FIX.subdir('mpop'), '127.0.0.1', SRV.port, USER, PASSWORD)
        code, text = mp.run()
        self.assertEqual(code, 0, 'mpop first run: exit %d\n%s' % (code, text[-2000:]))
        files = mp.delivered()
        self.assertEqual(len(files), len(ITEMS), text[-2000:])
        self.check_delivered(files, 'mpop', ITEMS)
        code, text = mp.run()
        self.assertEqual(code, 0, 'mpop second run: exit %d\n%s' % (code, text[-2000:]))
        self.assertEqual(mp.delivered(), files, 'mpop downloaded again\n' + text[-2000:])

    # -- pipelining -------------------------------------------------------
    def test_pipelining(self):
        c = session()
        try:
            count, octets = c.stat()
            _, list_data = c.multi('LIST')
            _, uidl_data = c.multi('UIDL')
            c.send('STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 0\r\nDELE 1\r\nNOOP\r\nRSET\r\nSTAT\r\n')
            self.assertEqual(c.status(), '+OK %d %d' % (count, octets), 'reply 1 (STAT)')
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'reply 2 (LIST): %r' % st)
            self.assertEqual(c.read_data(), list_data)
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'reply 3 (UIDL): %r' % st)
            self.assertEqual(c.read_data(), uidl_data)
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'reply 4 (RETR 1): %r' % st)
            self.assertEqual(c.read_data(), pop3_form(ITEMS[0]['stored']))
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'reply 5 (TOP 2 0): %r' % st)
            self.assertEqual(c.read_data(), expected_top(ITEMS[1]['stored'], 0))
            for i, cmd in ((6, 'DELE 1'), (7, 'NOOP'), (8, 'RSET')):
                st = c.status()
                self.assertTrue(st.startswith('+OK'), 'reply %d (%s): %r' % (i, cmd, st))
            self.assertEqual(c.status(), '+OK %d %d' % (count, octets), 'reply 9 (STAT)')
            self.assertEqual(c.pending(), b'', 'extra bytes after 9 replies')
        finally:
            quit_session(c)

    # -- authentication and errors -----------------------------------------
    def test_wrong_password(self):
        c = POP3Strict(SRV.port)
        try:
            self.assertTrue(c.cmd('USER %s' % USER).startswith('+OK'))
            st = c.cmd('PASS wrong-password')
            self.assertTrue(st.startswith('-ERR [AUTH]'), st)
        finally:
            c.close()
        c = POP3Strict(SRV.port)
        try:
            self.assertTrue(c.cmd('USER nosuchuser').startswith(('+OK', '-ERR')))
            st = c.cmd('PASS whatever')
            self.assertTrue(st.startswith('-ERR'), st)
            self.assertNotIn('IN-USE', st)
        finally:
            c.close()

    def test_bad_arguments_keep_session(self):
        c = session()
        try:
            count = c.stat()[0]
            bad = ['RETR 0', 'RETR abc', 'LIST -1', 'STAT x', 'RETR', 'DELE x',
                   'UIDL -3', 'RETR %d' % (count + 1), 'LIST 1 2', 'RETR 99999999999999999999']
            for cmd in bad:
                st = c.cmd(cmd)
                if cmd == 'STAT x' and dovecot_mode():
                    # Dovecot ignores arguments to STAT; popgate must not.
                    self.assertTrue(st.startswith('+OK'), st)
                    continue
                self.assertTrue(st.startswith('-ERR'), '%s -> %r' % (cmd, st))
            self.assertEqual(c.stat()[0], count, 'session still usable')
            self.assertTrue(c.cmd('NOOP').startswith('+OK'))
            self.assertEqual(c.retr(1), pop3_form(ITEMS[0]['stored']))
        finally:
            quit_session(c)

    def test_second_session_in_use(self):
        a = session()
        try:
            b = POP3Strict(SRV.port, timeout=30)
            try:
                self.assertTrue(b.cmd('USER %s' % USER).startswith('+OK'))
                st = b.cmd('PASS %s' % PASSWORD)
                self.assertTrue(st.startswith('-ERR [IN-USE]'), st)
            finally:
                b.close()
            w = POP3Strict(SRV.port)
            try:
                self.assertTrue(w.cmd('USER %s' % USER).startswith('+OK'))
                st = w.cmd('PASS wrong-password')
                self.assertTrue(st.startswith('-ERR [AUTH]'),
                                'wrong password must give [AUTH], never [IN-USE]: %r' % st)
            finally:
                w.close()
            self.assertEqual(a.stat()[0], len(ITEMS), 'first session unaffected')
        finally:
            quit_session(a)
        # lock released by QUIT: a new session gets in straight away
        c = session()
        quit_session(c)


if __name__ == '__main__':
    harness.main()
