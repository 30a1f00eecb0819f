# SPDX-License-Identifier: MIT
"""How popgate adapts to what the upstream offers, and process-level limits,
against the scripted IMAP server (tests/support/fake_imapd.py):

* without UIDPLUS, QUIT expunges only when every \\Deleted message is ours,
  and otherwise leaves ours flagged and answers -ERR [SYS/TEMP]
  (doc/imap-mapping.md sec. 11.3; RFC 1939 sec. 6);
* LOGINDISABLED and credentials that cannot be quoted use AUTHENTICATE PLAIN,
  with and without SASL-IR (doc/imap-mapping.md sec. 3.1);
* capabilities are read again after login when the OK carries none
  (doc/imap-mapping.md sec. 3.3);
* the idle autologout closes silently and commits nothing (RFC 1939 sec. 3);
* several worker loops serve concurrent sessions.
"""

import imaplib
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402
from harness import POP3Strict  # noqa: E402

FIX = None
FAKE = None
PG = None
USERS = {
    'alice': 'secret',
    'quoted': 'has "quotes" and \\backslash',
    'utf8': 'p\u00e4ssw\u00f6rd-\u00fc',
}
USERS.update({'w%d' % i: 'pw%d' % i for i in range(8)})
UIDVALIDITY = 1700000002


def vm_rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def corpus():
    return [raw for _, raw in mailseed.simple_corpus(3, 'caps')]


def setUpModule():
    global FIX, FAKE, PG
    FIX = harness.setup_module(dovecot=False)
    FAKE = FakeImapd(users=USERS, messages=corpus(), uidvalidity=UIDVALIDITY)
    unittest.addModuleCleanup(FAKE.stop)
    FAKE.start()
    PG = FIX.pop3_server(upstream_port=FAKE.port,
                         extra_args=['--command-timeout', '5', '--workers', '2'])


@harness.skip_unless_popgate('popgate against the scripted IMAP server')
class UpstreamCapabilities(unittest.TestCase):
    def setUp(self):
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)

    def session(self, user='alice'):
        c = POP3Strict(PG.port)
        self.addCleanup(c.close)
        c.login(user, USERS[user])
        return c

    def flag_deleted_elsewhere(self, uid):
        m = imaplib.IMAP4('127.0.0.1', FAKE.port, timeout=10)
        try:
            m.login('alice', 'secret')
            m.select('INBOX')
            typ, _ = m.uid('STORE', str(uid), '+FLAGS', '(\\Deleted)')
            self.assertEqual(typ, 'OK')
        finally:
            m.logout()

    def test_no_uidplus_expunges_when_only_ours_are_flagged(self):
        FAKE.faults['caps_post'] = 'IMAP4rev1 LITERAL+ SASL-IR'
        c = self.session()
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertTrue(c.expect_eof(5))
        cmds = FAKE.commands()
        self.assertIn('UID SEARCH DELETED', cmds)
        self.assertIn('EXPUNGE', cmds)
        self.assertFalse(any(l.startswith('UID EXPUNGE') for l in cmds), cmds)
        self.assertEqual(FAKE.uids(), [2, 3])

    def test_no_uidplus_leaves_ours_flagged_beside_foreign_deleted(self):
        FAKE.faults['caps_post'] = 'IMAP4rev1 LITERAL+ SASL-IR'
        self.flag_deleted_elsewhere(2)
        c = self.session()
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        st = c.quit()
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
        self.assertTrue(c.expect_eof(5))
        cmds = FAKE.commands()
        self.assertNotIn('EXPUNGE', cmds)
        self.assertFalse(any(l.startswith('UID EXPUNGE') or l == 'CLOSE'
                             for l in cmds), cmds)
        # Nothing removed: ours stays flagged for a later expunge, the other
        # client's flag is untouched.
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        self.assertIn('\\Deleted', FAKE.flags(1))
        self.assertIn('\\Deleted', FAKE.flags(2))
        self.assertNotIn('\\Deleted', FAKE.flags(3))
        # Once the other client's flag is gone, the next login finishes
        # ours (and leaves no record behind for the next test).
        with FAKE.lock:
            [m for m in FAKE.messages if m.uid == 2][0].flags.discard('\\Deleted')
        c2 = self.session()
        self.assertEqual(c2.stat()[0], 2)
        self.assertTrue(c2.quit().startswith('+OK'))
        self.assertEqual(FAKE.uids(), [2, 3])

    def test_uidplus_expunges_exactly_ours(self):
        self.flag_deleted_elsewhere(2)
        c = self.session()
        self.assertTrue(c.cmd('DELE 3').startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'))
        cmds = FAKE.commands()
        self.assertIn('UID EXPUNGE 3', cmds)
        self.assertIn('UID SEARCH UID 3', cmds)      # verified
        self.assertNotIn('EXPUNGE', cmds)
        self.assertEqual(FAKE.uids(), [1, 2])

    def test_logindisabled_without_sasl_ir_uses_plain_continuation(self):
        FAKE.faults['caps_pre'] = 'IMAP4rev1 LOGINDISABLED AUTH=PLAIN'
        c = self.session()
        self.assertEqual(c.stat()[0], 3)
        cmds = FAKE.commands()
        # The fake logs AUTHENTICATE with its arguments masked.
        self.assertIn('AUTHENTICATE ***', cmds)
        self.assertFalse(any(l.startswith('LOGIN') for l in cmds), cmds)
        self.assertTrue(c.quit().startswith('+OK'))

    def test_logindisabled_without_plain_is_sys_perm(self):
        FAKE.faults['caps_pre'] = 'IMAP4rev1 LOGINDISABLED'
        c = POP3Strict(PG.port)
        self.addCleanup(c.close)
        c.ok('USER alice')
        st = c.cmd('PASS secret')
        self.assertTrue(st.startswith('-ERR [SYS/PERM]'), st)
        self.assertFalse(any(l.startswith('LOGIN') for l in FAKE.commands()))

    def test_quotable_password_uses_login(self):
        c = self.session('quoted')
        self.assertEqual(c.stat()[0], 3)
        self.assertTrue(any(l.startswith('LOGIN') for l in FAKE.commands()))

    def test_8bit_password_uses_authenticate_plain(self):
        c = self.session('utf8')
        self.assertEqual(c.stat()[0], 3)
        cmds = FAKE.commands()
        self.assertTrue(any(l.startswith('AUTHENTICATE') for l in cmds), cmds)
        self.assertFalse(any(l.startswith('LOGIN') for l in cmds), cmds)

    def test_capabilities_read_again_after_login(self):
        # UIDPLUS appears only after login, and the login OK has no code.
        FAKE.faults['caps_pre'] = 'IMAP4rev1 SASL-IR AUTH=PLAIN'
        FAKE.faults['caps_post'] = 'IMAP4rev1 SASL-IR UIDPLUS'
        FAKE.faults['login_caps_code'] = False
        c = self.session()
        self.assertTrue(c.cmd('DELE 2').startswith('+OK'))
        self.assertTrue(c.quit().startswith('+OK'))
        cmds = FAKE.commands()
        self.assertIn('CAPABILITY', cmds)
        self.assertIn('UID EXPUNGE 2', cmds)
        self.assertNotIn('EXPUNGE', cmds)

    def test_pipelined_retrs_while_not_reading_stay_bounded(self):
        # conformance 14.2: pipelined big replies neither deadlock nor
        # pile up in memory while the client does not read.
        big = mailseed.big_message(1024 * 1024, seed=3)
        FAKE.reset([big], uidvalidity=UIDVALIDITY)
        n = 40
        c = POP3Strict(PG.port, timeout=60)
        self.addCleanup(c.close)
        c.login('alice', 'secret')
        c.sock.sendall(b''.join(b'RETR 1\r\n' for _ in range(n)) + b'STAT\r\n')
        # Sample the RSS until popgate has stalled against the reader that
        # does not read: no new upstream command for a whole second.
        rss_kb, seen, still_since = 0, -1, time.monotonic()
        deadline = still_since + 30
        while time.monotonic() < deadline and time.monotonic() - still_since < 1.0:
            rss_kb = max(rss_kb, vm_rss_kb(PG.pid))
            if len(FAKE.commands()) != seen:
                seen, still_since = len(FAKE.commands()), time.monotonic()
            time.sleep(0.05)
        self.assertLess(time.monotonic(), deadline, 'popgate never stalled')
        # 40 MiB of replies are requested; popgate holds a few windows.
        self.assertLess(rss_kb, 48 * 1024, 'popgate RSS peaked at %d kB' % rss_kb)
        want = harness.pop3_form(big)
        for i in range(n):
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'RETR #%d: %r\n%s' % (i, st, PG.log_tail(8)))
            self.assertEqual(c.read_data(), want, 'RETR #%d' % i)
        self.assertEqual(c.status().split()[1], '1')   # STAT: one message
        self.assertTrue(c.quit().startswith('+OK'))

    def test_large_sparse_mailbox_snapshot(self):
        # Several bounded UID ranges (doc/imap-mapping.md sec. 5); the first
        # range, sent with SELECT, finds nothing below UID 5000.
        msgs = [raw for _, raw in mailseed.simple_corpus(2500, 'big')]
        FAKE.reset(msgs, uidvalidity=UIDVALIDITY, first_uid=5000)
        c = self.session()
        n, octets = c.stat()
        self.assertEqual(n, 2500)
        self.assertEqual(octets, sum(len(harness.pop3_form(m)) for m in msgs))
        st = c.cmd('UIDL 2500')
        self.assertEqual(st, '+OK 2500 %08x%08x' % (5000 + 2499, UIDVALIDITY))
        self.assertEqual(c.retr(1234), harness.pop3_form(msgs[1233]))
        ranges = [l for l in FAKE.commands() if l.startswith('UID FETCH') and
                  'RFC822.SIZE' in l]
        self.assertGreater(len(ranges), 2, ranges)
        self.assertTrue(ranges[0].startswith('UID FETCH 1:1024 '), ranges)
        self.assertTrue(c.quit().startswith('+OK'))

    def test_sequential_retr_fetches_the_next_message_along(self):
        raws = corpus()
        c = self.session()
        self.assertEqual(c.retr(1), harness.pop3_form(raws[0]))
        self.assertEqual(c.retr(2), harness.pop3_form(raws[1]))  # from memory
        self.assertTrue(c.cmd('DELE 3').startswith('+OK'))
        self.assertEqual(c.top(2, 0), harness.expected_top(raws[1], 0))
        fetches = [l for l in FAKE.commands() if 'BODY.PEEK[]' in l and
                   not l.endswith('.1)')]          # not the tail probes
        # 1 and 2 in one command; TOP 2 after RETR 2 fetches again (the
        # kept copy serves one request), as a partial; a DELE'd message is
        # not fetched ahead.
        self.assertEqual(fetches[0], 'UID FETCH 1,2 (BODY.PEEK[])', fetches)
        self.assertEqual(len(fetches), 2, fetches)
        self.assertTrue(fetches[1].startswith('UID FETCH 2 (BODY.PEEK[]<0.'),
                        fetches)
        self.assertTrue(c.quit().startswith('+OK'))

    def test_workers_serve_concurrent_sessions(self):
        results = {}

        def run(user):
            try:
                c = POP3Strict(PG.port)
                try:
                    c.login(user, USERS[user])
                    results[user] = (c.stat()[0], c.quit())
                finally:
                    c.close()
            except Exception as e:          # reported below
                results[user] = e
        threads = [threading.Thread(target=run, args=('w%d' % i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 8, results)
        for user, r in results.items():
            self.assertIsInstance(r, tuple, '%s: %r' % (user, r))
            self.assertEqual(r[0], 3)
            self.assertTrue(r[1].startswith('+OK'))
        self.assertIn('workers=2', PG.log_text())


@harness.skip_unless_popgate('idle autologout is a popgate setting')
class IdleAutologout(unittest.TestCase):
    def test_idle_session_closes_silently_and_commits_nothing(self):
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)
        pg = FIX.pop3_server(upstream_port=FAKE.port,
                             extra_args=['--idle-timeout', '2'])
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login('alice', 'secret')
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        t0 = time.monotonic()
        # RFC 1939 sec. 3: closed without a response, no UPDATE.
        self.assertTrue(c.expect_eof(10))
        self.assertGreater(time.monotonic() - t0, 1.5)
        # Once the session-end is logged, it sends the upstream nothing more.
        self.assertTrue(harness.wait_until(
            lambda: 'reason="idle timeout"' in pg.log_text(), 10), pg.log_tail())
        self.assertEqual(FAKE.uids(), [1, 2, 3])
        for uid in FAKE.uids():
            self.assertNotIn('\\Deleted', FAKE.flags(uid))
        self.assertIn('reason="idle timeout"', pg.log_text())

    def test_client_that_stops_reading_is_closed(self):
        # A reader that takes nothing for a whole idle period has stalled:
        # the session (and its upstream connection) must not wait forever.
        FAKE.reset([mailseed.big_message(3 * 1024 * 1024, seed=6)],
                   uidvalidity=UIDVALIDITY)
        pg = FIX.pop3_server(upstream_port=FAKE.port,
                             extra_args=['--idle-timeout', '1'])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.connect(('127.0.0.1', pg.port))
        s.sendall(b'USER alice\r\nPASS secret\r\nRETR 1\r\n')
        # Read nothing: after an idle period without progress it must go.
        self.assertTrue(harness.wait_until(
            lambda: 'reason="client stopped reading"' in pg.log_text(), 15), pg.log_tail())
        # What the kernel already held still arrives, then the close (a
        # session that kept waiting would make recv time out instead).
        s.settimeout(10)
        while s.recv(1 << 20):
            pass
        self.assertEqual(FAKE.uids(), [1])

    def test_reading_a_long_reply_is_not_idleness(self):
        # conformance 13.4: a client still reading is not idle, even
        # once popgate has handed the whole reply to the kernel.
        FAKE.reset([mailseed.big_message(3 * 1024 * 1024, seed=5)],
                   uidvalidity=UIDVALIDITY)
        pg = FIX.pop3_server(upstream_port=FAKE.port,
                             extra_args=['--idle-timeout', '1'])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(10)
        s.connect(('127.0.0.1', pg.port))
        s.sendall(b'USER alice\r\nPASS secret\r\nRETR 1\r\n')
        data = b''
        t0 = time.monotonic()
        while not data.endswith(b'\r\n.\r\n') and time.monotonic() - t0 < 30:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            time.sleep(0.05)        # about 3 s for the whole message
        self.assertTrue(data.endswith(b'\r\n.\r\n'), 'cut after %d octets' % len(data))
        self.assertGreater(time.monotonic() - t0, 2.0, 'the reader was not slow')
        self.assertGreater(len(data), 3 * 1024 * 1024)
        s.sendall(b'NOOP\r\n')
        self.assertEqual(s.recv(100)[:3], b'+OK')


if __name__ == '__main__':
    harness.main()
