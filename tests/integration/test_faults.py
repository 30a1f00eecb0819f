#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Upstream faults that a real Dovecot will not commit, played by
tests/support/fake_imapd.py (doc/imap-mapping.md sec. 8, 15, 17;
doc/pop3-conformance.md 12.3, 12.4, 12.8).

popgate runs with --command-timeout 3 --connect-timeout 3 in front of the
fake server.  Each test resets the fake mailbox and its fault knobs.

With POPGATE_TARGET=dovecot-pop3 only the fake server's own checks run: with
imaplib, and with Dovecot's POP3 over imapc reading the fake server (a real
IMAP client that must get on with it).
"""

import imaplib
import os
import poplib
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from dovecot import Dovecot, free_port  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402
from harness import ConnectionClosed, POP3Strict, dovecot_mode, pop3_form  # noqa: E402

FIX = None
FAKE = None
PG = None
USER, PASSWORD = 'alice', 'secret'
COMMAND_TIMEOUT = 3
SLACK = 4           # seconds allowed beyond the configured timeout
UIDVALIDITY = 1700000001


def corpus():
    return [mailseed.simple_corpus(1, 'fault')[0][1],
            mailseed.big_message(600 * 1024, seed=11, name='fault-big'),
            mailseed.standard_corpus()[1][1]]       # dot-torture


def setUpModule():
    global FIX, FAKE, PG
    FIX = harness.setup_module(dovecot=False)
    FAKE = FakeImapd(users={USER: PASSWORD}, messages=corpus(), uidvalidity=UIDVALIDITY)
    unittest.addModuleCleanup(FAKE.stop)
    FAKE.start()
    if not dovecot_mode():
        PG = FIX.pop3_server(upstream_port=FAKE.port, extra_args=[
            '--command-timeout', str(COMMAND_TIMEOUT), '--connect-timeout', str(COMMAND_TIMEOUT)])


class FakeBase(unittest.TestCase):
    def setUp(self):
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)

    def login_expect(self, prefix, password=PASSWORD, max_seconds=None):
        """USER/PASS against popgate; assert the PASS reply starts with prefix
        and arrives within max_seconds; return (reply, seconds)."""
        c = POP3Strict(PG.port, timeout=COMMAND_TIMEOUT * 4 + 10)
        self.addCleanup(c.close)
        c.ok('USER %s' % USER)
        t0 = time.monotonic()
        st = c.cmd('PASS %s' % password)
        dt = time.monotonic() - t0
        self.assertTrue(st.startswith(prefix), 'PASS: expected %r..., got %r' % (prefix, st))
        if max_seconds is not None:
            self.assertLess(dt, max_seconds, 'PASS answered after %.1fs' % dt)
        return c, st, dt

    def assert_serves_again(self):
        """popgate is alive and a clean session works (lock released)."""
        self.assertTrue(PG.running(), 'popgate exited; log tail:\n' + PG.log_tail())
        FAKE.faults.clear()
        c = POP3Strict(PG.port)
        try:
            c.login(USER, PASSWORD)
            self.assertEqual(c.stat()[0], len(FAKE.uids()))
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()

    def assert_no_flags_set(self, *uids):
        for line in FAKE.commands():
            self.assertNotRegex(line, r'(?i)^UID STORE\b', line)
        for uid in uids:
            self.assertEqual(FAKE.flags(uid), set(), 'flags set on UID %d' % uid)

    def assert_cut_before_terminator(self, c, raw):
        """+OK was sent: the data must be a prefix of the message and the
        connection must close without the terminator."""
        with self.assertRaises(ConnectionClosed) as cm:
            c.read_data()
        partial = cm.exception.partial
        self.assertFalse(partial.endswith(b'\r\n.\r\n'), 'terminator after bad data')
        wire = b'\r\n'.join(b'.' + l if l.startswith(b'.') else l
                             for l in pop3_form(raw).split(b'\r\n'))
        self.assertTrue(wire.startswith(partial),
                        'data that is not a prefix of the message was sent: %r vs %r'
                        % (partial[-60:], wire[:len(partial)][-60:]))
        return partial

    def assert_nothing_written(self):
        for line in FAKE.commands():
            self.assertNotRegex(line, r'(?i)^(UID EXPUNGE|EXPUNGE|CLOSE)\b', line)
            self.assertNotIn('\\Deleted', line)
        for uid in FAKE.uids():
            self.assertNotIn('\\Deleted', FAKE.flags(uid))


class FakeServerSelfTest(FakeBase):
    """The fake speaks enough IMAP for real clients (runs in both modes)."""

    def test_imaplib_session(self):
        m = imaplib.IMAP4('127.0.0.1', FAKE.port, timeout=10)
        try:
            self.assertIn('AUTH=PLAIN', m.capabilities)
            m.login(USER, PASSWORD)
            typ, data = m.select('INBOX')
            self.assertEqual((typ, data), ('OK', [b'3']))
            self.assertEqual(mailseed.uids(m), [1, 2, 3])
            for uid, raw in zip((1, 2, 3), corpus()):
                self.assertEqual(mailseed.fetch_raw(m, uid), raw)
                self.assertEqual(mailseed.size(m, uid), len(raw))
            typ, data = m.uid('FETCH', '2', '(BODY.PEEK[]<100.50>)')
            self.assertEqual(data[0][1], corpus()[1][100:150])
            self.assertIn(b'BODY[]<100> {50}', data[0][0])
            m.uid('STORE', '1', '+FLAGS.SILENT', r'(\Deleted)')
            m.uid('STORE', '2', '+FLAGS.SILENT', r'(\Deleted)')
            typ, data = m.uid('EXPUNGE', '1')
            self.assertEqual(typ, 'OK')
            self.assertEqual(FAKE.uids(), [2, 3], 'UID EXPUNGE removes only the set')
            self.assertEqual(FAKE.flags(2), {'\\Deleted'})
        finally:
            m.logout()

    def test_imaplib_sees_faults(self):
        FAKE.faults['close_after_greeting'] = True
        with self.assertRaises((imaplib.IMAP4.abort, OSError)):
            m = imaplib.IMAP4('127.0.0.1', FAKE.port, timeout=5)   # sends CAPABILITY
            m.login(USER, PASSWORD)
        FAKE.faults.clear()
        FAKE.faults['drop_mid_literal_uid'] = 2
        m = imaplib.IMAP4('127.0.0.1', FAKE.port, timeout=5)
        m.login(USER, PASSWORD)
        m.select('INBOX')
        with self.assertRaises((imaplib.IMAP4.abort, OSError)):
            m.uid('FETCH', '2', '(BODY.PEEK[])')
        m.shutdown()
        self.assertTrue(any('dropped at' in l for l in FAKE.commands()))
        FAKE.faults.clear()
        FAKE.faults['hang_on'] = {'LOGIN'}
        m = imaplib.IMAP4('127.0.0.1', FAKE.port, timeout=1)
        with self.assertRaises((socket.timeout, imaplib.IMAP4.abort, OSError)):
            m.login(USER, PASSWORD)
        m.shutdown()

    def test_dovecot_imapc_reads_fake(self):
        """Dovecot's own IMAP client gets a normal POP3 session out of it."""
        dc = Dovecot(FIX.subdir('imapc'), users={USER: PASSWORD},
                     imapc_upstream_port=FAKE.port)
        dc.start()
        self.addCleanup(dc.stop)
        old = poplib._MAXLINE
        poplib._MAXLINE = 1 << 20
        self.addCleanup(setattr, poplib, '_MAXLINE', old)
        p = poplib.POP3('127.0.0.1', dc.pop3_port, timeout=20)
        try:
            p.user(USER)
            p.pass_(PASSWORD)
            self.assertEqual(p.stat()[0], 3)
            uidls = [l.split()[1].decode() for l in p.uidl()[1]]
            self.assertEqual(uidls, ['%08x%08x' % (u, UIDVALIDITY) for u in (1, 2, 3)])
            for n, raw in enumerate(corpus(), 1):
                lines = p.retr(n)[1]
                self.assertEqual(b''.join(l + b'\r\n' for l in lines), pop3_form(raw))
            p.dele(1)
            p.quit()
        finally:
            p.close()
        self.assertEqual(FAKE.uids(), [2, 3])


@harness.skip_unless_popgate('popgate against the fake IMAP server')
class Faults(FakeBase):
    def test_healthy_session(self):
        c, st, dt = self.login_expect('+OK')
        raws = corpus()
        self.assertEqual(c.stat(), (3, sum(len(pop3_form(r)) for r in raws)))
        self.assertEqual([u for _, u in c.uidl()],
                         ['%08x%08x' % (u, UIDVALIDITY) for u in (1, 2, 3)])
        for n, raw in enumerate(raws, 1):
            self.assertEqual(c.retr(n), pop3_form(raw), 'RETR %d' % n)
        self.assertEqual(c.top(3, 1), harness.expected_top(raws[2], 1))
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertTrue(c.expect_eof(5))
        self.assertEqual(FAKE.uids(), [2, 3])
        cmds = FAKE.commands()
        self.assertTrue(any(re.match(r'(?i)^UID EXPUNGE 1$', l) for l in cmds), cmds)
        self.assertFalse(any(re.match(r'(?i)^(EXPUNGE|CLOSE)$', l) for l in cmds), cmds)
        self.assertEqual(FAKE.flags(2), {'\\Seen'})

    def test_backend_drops_mid_retr(self):
        # cut at 70% of the 600 KiB message: past the first chunk of a
        # chunked fetch (popgate: 256 KiB), so +OK and data are on the way
        big = corpus()[1]
        FAKE.faults['drop_mid_literal_uid'] = 2
        FAKE.faults['drop_at'] = len(big) * 7 // 10
        c, st, dt = self.login_expect('+OK')
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        st = c.cmd('RETR 2')
        self.assertTrue(st.startswith('+OK'), 'RETR 2: %r' % st)
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        with self.assertRaises(ConnectionClosed) as cm:
            c.read_data()
        partial = cm.exception.partial
        self.assertFalse(partial.endswith(b'\r\n.\r\n'), 'terminator after a truncated message')
        self.assertGreater(len(partial), 0, 'no data before the close')
        self.assertLess(len(partial), len(pop3_form(big)))
        self.assertTrue(pop3_form(big).startswith(partial),
                        'the partial data is not a prefix of the message')
        self.assertTrue(any('dropped at' in l for l in FAKE.commands()))
        self.assert_nothing_written()
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        self.assert_serves_again()

    def test_body_of_another_uid_is_dropped(self):
        """UID FETCH 1 answered with UID 3's body: not one octet of it
        reaches the client, RETR 1 is -ERR [SYS/TEMP], no flag is set."""
        raws = corpus()
        FAKE.faults['foreign_body'] = {1: (3, 0)}
        c, st, dt = self.login_expect('+OK')
        st = c.cmd('RETR 1')
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), 'RETR 1: %r' % st)
        self.assertTrue(any('sent as UID 3' in l for l in FAKE.commands()))
        FAKE.faults['foreign_body'] = {3: (1, 0)}
        st = c.cmd('TOP 3 1')
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), 'TOP 3 1: %r' % st)
        FAKE.faults.clear()
        self.assertEqual(c.retr(3), pop3_form(raws[2]), 'the session goes on')
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertNotIn('\\Seen', FAKE.flags(1))
        self.assertIn('\\Seen', FAKE.flags(3))
        self.assertRegex(PG.log_text(), r'upstream-body-dropped .*uid=1 got_uid=3')
        self.assert_serves_again()

    def test_chunk_of_another_uid_cuts_the_transfer(self):
        """The 600 KiB message's first chunk is right, a later one comes
        labelled with another UID: the client gets a prefix of the right
        message and a close, never the other octets or a terminator."""
        big = corpus()[1]
        FAKE.faults['foreign_body'] = {2: (3, 256 * 1024)}
        c, st, dt = self.login_expect('+OK')
        st = c.cmd('RETR 2')
        self.assertTrue(st.startswith('+OK'), 'RETR 2: %r' % st)
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        partial = self.assert_cut_before_terminator(c, big)
        self.assertLess(len(partial), len(pop3_form(big)))
        c.close()
        self.assert_no_flags_set(1, 2, 3)
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        self.assert_serves_again()

    def test_uid_after_the_body_is_fine(self):
        """RFC 3501 fixes no order of FETCH items: the UID may follow the
        literal, and every message still arrives byte for byte."""
        FAKE.faults['uid_last'] = True
        c, st, dt = self.login_expect('+OK')
        for n, raw in enumerate(corpus(), 1):
            self.assertEqual(c.retr(n), pop3_form(raw), 'RETR %d' % n)
        self.assertEqual(c.top(3, 1), harness.expected_top(corpus()[2], 1))
        self.assertTrue(c.quit().startswith('+OK'))

    def size_lie(self, n, delta):
        raw = corpus()[n - 1]
        FAKE.faults['size_lie'] = {n: delta}
        c, st, dt = self.login_expect('+OK')
        listed = dict(c.list())[n]
        self.assertNotEqual(listed, len(pop3_form(raw)), 'the lie did not reach LIST')
        st = c.cmd('RETR %d' % n)
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        if st.startswith('+OK'):
            self.assert_cut_before_terminator(c, raw)
        else:
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), 'RETR %d: %r' % (n, st))
        c.close()
        self.assert_no_flags_set(1, 2, 3)
        self.assertRegex(PG.log_text(), r'retrieve-aborted .*LIST announced %d' % listed)
        self.assert_serves_again()

    def test_message_longer_than_listed(self):
        self.size_lie(1, -7)

    def test_message_shorter_than_listed(self):
        self.size_lie(1, 9)

    def test_big_message_longer_than_listed(self):
        self.size_lie(2, -3000)

    def test_big_message_shorter_than_listed(self):
        self.size_lie(2, 5000)

    def test_backend_drops_at_start_of_retr(self):
        """Cut 1000 octets into the message: either a clean -ERR [SYS/TEMP]
        (nothing was promised yet) or +OK, partial data and a close - never
        a terminator after a truncated message."""
        big = corpus()[1]
        FAKE.faults['drop_mid_literal_uid'] = 2
        FAKE.faults['drop_at'] = 1000
        c, st, dt = self.login_expect('+OK')
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        st = c.cmd('RETR 2')
        if st.startswith('+OK'):
            with self.assertRaises(ConnectionClosed) as cm:
                c.read_data()
            self.assertTrue(pop3_form(big).startswith(cm.exception.partial))
        else:
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), 'RETR 2: %r' % st)
            try:
                c.cmd('NOOP')       # the session may go on or be closed
            except ConnectionClosed:
                pass
        c.close()
        self.assert_nothing_written()
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        self.assert_serves_again()

    def test_backend_hangs_at_login(self):
        FAKE.faults['hang_on'] = {'LOGIN', 'AUTHENTICATE'}
        self.login_expect('-ERR [SYS/TEMP]', max_seconds=COMMAND_TIMEOUT + SLACK)
        self.assert_serves_again()

    def test_backend_never_greets(self):
        FAKE.faults['no_greeting'] = True
        self.login_expect('-ERR [SYS/TEMP]', max_seconds=COMMAND_TIMEOUT + SLACK)
        self.assert_serves_again()

    def test_backend_closes_after_greeting(self):
        FAKE.faults['close_after_greeting'] = True
        self.login_expect('-ERR [SYS/TEMP]', max_seconds=SLACK)
        self.assert_serves_again()

    def test_backend_port_closed(self):
        port = free_port()      # nothing listens there
        pg = FIX.pop3_server(upstream_port=port, extra_args=[
            '--command-timeout', str(COMMAND_TIMEOUT),
            '--connect-timeout', str(COMMAND_TIMEOUT)])
        try:
            c = POP3Strict(pg.port, timeout=COMMAND_TIMEOUT * 3 + 10)
            try:
                c.ok('USER %s' % USER)
                t0 = time.monotonic()
                st = c.cmd('PASS %s' % PASSWORD)
                self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
                self.assertLess(time.monotonic() - t0, COMMAND_TIMEOUT + SLACK)
            finally:
                c.close()
            self.assertTrue(pg.running(), 'popgate exited:\n' + pg.log_tail())
        finally:
            pg.stop()

    def _garbage(self, **faults):
        FAKE.faults.update(faults)
        self.login_expect('-ERR [SYS/TEMP]', max_seconds=COMMAND_TIMEOUT + SLACK)
        self.assert_serves_again()

    def test_backend_garbage_greeting(self):
        self._garbage(garbage_greeting=True)

    def test_backend_garbage_after_login(self):
        self._garbage(garbage_on={'SELECT', 'EXAMINE'})

    def test_backend_garbage_in_snapshot(self):
        self._garbage(garbage_on={'UID FETCH'})

    def test_backend_permanentflags_hole(self):
        # libetpan 1.9.4 crashes on this list; popgate must refuse it.
        self._garbage(reply_on={'SELECT': '* OK [PERMANENTFLAGS (\r\n'
                                          '{tag} OK [READ-WRITE] done\r\n'})
        self.assertIn('PERMANENTFLAGS list malformed', PG.log_tail())

    def test_backend_greeting_codes_defused(self):
        # libetpan 1.9.4 crashes on an astring in a greeting code; popgate
        # reads such a greeting as text and carries on.
        for code in ('[PERMANENTFLAGS (\\Seen $Junk)]', '[BADCHARSET (UTF-8)]',
                     '[ [PERMANENTFLAGS (a]'):
            FAKE.faults['greeting'] = '* OK %s fake ready\r\n' % code
            c, st, dt = self.login_expect('+OK')
            self.assertEqual(c.stat()[0], len(FAKE.uids()))
            c.quit()
        self.assert_serves_again()

    def test_backend_garbage_in_retr(self):
        c, st, dt = self.login_expect('+OK')
        FAKE.faults['garbage_on'] = {'UID FETCH'}
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        try:
            st = c.cmd('RETR 1')
        except ConnectionClosed:
            st = None       # closing the session is acceptable too
        if st is not None:
            self.assertTrue(st.startswith('-ERR'), 'RETR 1 with garbage upstream: %r' % st)
        self.assert_nothing_written()
        c.close()
        self.assert_serves_again()

    def test_backend_login_rejected(self):
        self.login_expect('-ERR [AUTH]', password='not-the-password', max_seconds=SLACK)

    def test_backend_expunge_fails(self):
        FAKE.faults['no_on'] = {'UID EXPUNGE'}
        c, st, dt = self.login_expect('+OK')
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        st = c.quit()
        self.assertTrue(st.startswith('-ERR'), 'QUIT with failed expunge must be -ERR '
                        '(RFC 1939 sec. 6, conformance 12.3): %r' % st)
        self.assertTrue(c.expect_eof(5), 'connection not closed after QUIT')
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        self.assert_serves_again()



@harness.skip_unless_popgate('popgate against the fake IMAP server')
class CommitResume(FakeBase):
    """A QUIT cut between UID STORE \\Deleted and the expunge leaves our
    messages flagged; the mailbox's next login finishes exactly those,
    under the same UIDVALIDITY, before it lists anything."""

    def cut_commit(self, cut_on):
        c, st, dt = self.login_expect('+OK')
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        FAKE.faults['garbage_on'] = {cut_on}
        try:
            st = c.cmd('QUIT')
        except ConnectionClosed:
            st = '(closed)'
        c.close()
        self.assertFalse(st.startswith('+OK'), 'QUIT: %r' % st)
        del FAKE.faults['garbage_on']
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        self.assertIn('\\Deleted', FAKE.flags(1), 'the cut came before the STORE')

    def next_login(self):
        n0 = len(FAKE.log)
        c, st, dt = self.login_expect('+OK')
        stat = c.stat()[0]
        uidls = [u for _, u in c.uidl()]
        self.assertTrue(c.quit().startswith('+OK'))
        c.close()
        return stat, uidls, [l for n, l in FAKE.log[n0:]]

    def assert_resumed(self, result, dele):
        self.assertTrue(harness.wait_until(
            lambda: re.search(r'commit-resumed .*result=%s dele=%d' % (result, dele),
                              PG.log_text()), 10), PG.log_tail())

    def test_cut_before_uid_expunge_is_finished(self):
        other = [m for m in FAKE.messages if m.uid == 3][0]
        other.flags.add('\\Deleted')     # someone else's, never ours to expunge
        self.cut_commit('UID EXPUNGE')
        stat, uidls, cmds = self.next_login()
        self.assertEqual(stat, 2, 'the cut deletion was listed again')
        self.assertNotIn('%08x%08x' % (1, UIDVALIDITY), uidls)
        self.assertTrue(any(re.match(r'(?i)^\S+ UID EXPUNGE 1$', l) for l in cmds), cmds)
        self.assertFalse(any(re.match(r'(?i)^\S+ (EXPUNGE|CLOSE)$', l) for l in cmds), cmds)
        self.assertEqual(FAKE.uids(), [2, 3])
        self.assertIn('\\Deleted', FAKE.flags(3), 'another client\'s flag was touched')
        self.assert_resumed('ok', 1)
        # Done once: the third login has nothing left to finish.
        n = PG.log_text().count('commit-resumed')
        self.next_login()
        self.assertEqual(PG.log_text().count('commit-resumed'), n)

    def test_without_uidplus_stale_flags_do_not_block(self):
        FAKE.faults['caps_post'] = 'IMAP4rev1 LITERAL+ SASL-IR'
        self.cut_commit('EXPUNGE')
        FAKE.faults['caps_post'] = 'IMAP4rev1 LITERAL+ SASL-IR'
        stat, uidls, cmds = self.next_login()
        self.assertEqual(stat, 2, 'the cut deletion was listed again')
        self.assertTrue(any(re.match(r'(?i)^\S+ UID SEARCH DELETED$', l) for l in cmds), cmds)
        self.assertEqual(FAKE.uids(), [2, 3])
        self.assert_resumed('ok', 1)
        # The next commit of the mailbox works again.
        c, st, dt = self.login_expect('+OK')
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertEqual(FAKE.uids(), [3])

    def test_new_uidvalidity_touches_nothing(self):
        self.cut_commit('UID EXPUNGE')
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY + 1)
        stat, uidls, cmds = self.next_login()
        self.assertEqual(stat, 3)
        self.assertFalse(any(re.search(r'(?i)STORE|EXPUNGE', l) for l in cmds), cmds)
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        self.assert_resumed('stale', 1)


@harness.skip_unless_popgate('popgate against the fake IMAP server')
class BodyAndCommitEdges(FakeBase):
    """Cases a review of the body matching and the resumed commit found."""

    def test_top_with_a_foreign_later_chunk_is_cut(self):
        raw = corpus()[1]
        FAKE.faults['foreign_body'] = {2: (3, 32768)}
        c, st, dt = self.login_expect('+OK')
        st = c.cmd('TOP 2 3000')
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        if st.startswith('+OK'):
            self.assert_cut_before_terminator(c, raw)
        else:
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), 'TOP: %r' % st)
        c.close()
        self.assert_serves_again()

    def test_a_repeated_fetch_response_is_not_sent_twice(self):
        raws = corpus()
        FAKE.faults['dup_body'] = {1: True, 3: True}
        c, st, dt = self.login_expect('+OK')
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        for cmd, raw in (('TOP 1 100000', raws[0]), ('RETR 3', raws[2])):
            st = c.cmd(cmd)
            if st.startswith('+OK'):
                self.assert_cut_before_terminator(c, raw)
                c.close()
                c, st, dt = self.login_expect('+OK')
                c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
            else:
                self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), '%s: %r' % (cmd, st))
        c.close()
        self.assert_serves_again()

    def test_resume_on_a_read_only_mailbox_does_not_hang(self):
        # A cut commit leaves a record; then the mailbox opens read-only
        # and the login OK carries no capabilities (CAPABILITY follows).
        c, st, dt = self.login_expect('+OK')
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        c.settimeout(COMMAND_TIMEOUT + SLACK + 5)
        FAKE.faults['garbage_on'] = {'UID EXPUNGE'}
        try:
            c.cmd('QUIT')
        except ConnectionClosed:
            pass
        c.close()
        FAKE.faults.clear()
        FAKE.faults['select_readonly'] = True
        FAKE.faults['login_caps_code'] = False
        c, st, dt = self.login_expect('+OK', max_seconds=COMMAND_TIMEOUT + SLACK)
        self.assertTrue(c.quit().startswith('+OK'))
        c.close()
        self.assertRegex(PG.log_text(), r'commit-resumed .*result=incomplete')
        FAKE.faults.clear()
        self.assert_serves_again()      # and the resume finishes now
        self.assertEqual(FAKE.uids(), [2, 3])

    def test_second_signal_ends_a_commit_of_a_client_that_left(self):
        pg = FIX.pop3_server(upstream_port=FAKE.port, extra_args=[
            '--command-timeout', '30', '--connect-timeout', '3'])
        FAKE.faults['hang_on'] = {'UID EXPUNGE'}
        c = POP3Strict(pg.port, timeout=10)
        c.login(USER, PASSWORD)
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        c.sock.sendall(b'QUIT\r\n')
        self.assertTrue(harness.wait_until(
            lambda: any(re.match(r'(?i)^UID EXPUNGE', l) for l in FAKE.commands()), 10))
        c.close()
        self.assertTrue(harness.wait_until(
            lambda: 'session-end' in pg.log_text(), 10), pg.log_tail())
        t0 = time.monotonic()
        os.kill(pg.pid, signal.SIGTERM)
        self.assertTrue(harness.wait_until(lambda: 'event=shutdown' in pg.log_text(), 5))
        rc, clean = pg.stop(sig=signal.SIGTERM, timeout=10)
        self.assertTrue(clean)
        self.assertLess(time.monotonic() - t0, 10, 'the commit held the process')
        self.assertEqual(rc, 0)

if __name__ == '__main__':
    harness.main()
