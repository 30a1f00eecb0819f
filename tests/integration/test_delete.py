#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Deletion safety and \\Seen through popgate (doc/pop3-conformance.md 9.8,
9.11, 9.18, 9.19, 12.1, 12.2, 12.4; doc/imap-mapping.md sec. 10-13).

Every test starts from a freshly seeded INBOX (5 small messages) and checks
the upstream state with its own IMAP connection (the "side channel").
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from harness import POP3Strict, pop3_form  # noqa: E402

FIX = None
SRV = None
USER, PASSWORD = 'alice', 'secret'
N = 5


def setUpModule():
    global FIX, SRV
    # Dovecot mode: make Dovecot's POP3 lock like popgate does.
    FIX = harness.setup_module(extra_conf='pop3_lock_session = yes')
    SRV = FIX.pop3_server()


class DeleteBase(unittest.TestCase):
    server = None   # POP3 server (SRV unless a subclass starts its own)

    def setUp(self):
        self.srv = self.server or SRV
        self.imap = FIX.imap(USER)
        self.addCleanup(self._logout)
        self.wait_unlocked()
        mailseed.clear_mailbox(self.imap)
        tag = self.id().rsplit('.', 1)[-1]
        self.items = mailseed.seed(self.imap, mailseed.simple_corpus(N, tag))
        self.uids = [i['uid'] for i in self.items]

    def _logout(self):
        try:
            self.imap.logout()
        except Exception:
            pass

    # -- helpers --
    def pop3(self):
        c = POP3Strict(self.srv.port)
        self.addCleanup(c.close)
        c.login(USER, PASSWORD)
        return c

    def quit_ok(self, c):
        st = c.quit()
        self.assertTrue(st.startswith('+OK'), 'QUIT: %r' % st)
        self.assertTrue(c.expect_eof(5), 'connection not closed within 5s of QUIT')
        c.close()

    def wait_unlocked(self, timeout=15):
        """Wait until the server has finished with any earlier session: a new
        login must get through (not [IN-USE]).  QUIT without commands
        changes nothing."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            c = POP3Strict(self.srv.port, timeout=30)
            try:
                c.ok('USER %s' % USER)
                last = c.cmd('PASS %s' % PASSWORD)
                if last.startswith('+OK'):
                    c.cmd('QUIT')
                    c.expect_eof(5)
                    return
            finally:
                c.close()
            time.sleep(0.1)
        self.fail('maildrop still locked after %ss: %r' % (timeout, last))

    def side_uids(self):
        self.imap.noop()
        return mailseed.uids(self.imap)

    def side_flags(self, uid):
        return mailseed.flags(self.imap, uid)

    def assertIntact(self, keep):
        """Exactly the messages at indexes `keep` exist, unchanged, without
        \\Deleted."""
        want = [self.uids[i] for i in keep]
        self.assertEqual(self.side_uids(), want, 'UIDs on the upstream')
        for i in keep:
            uid = self.uids[i]
            self.assertNotIn('\\Deleted', self.side_flags(uid),
                             'message %d (UID %d) flagged \\Deleted' % (i + 1, uid))
            self.assertEqual(mailseed.fetch_raw(self.imap, uid), self.items[i]['stored'],
                             'content of message %d' % (i + 1))


class Delete(DeleteBase):
    def test_a_dele_quit_removes_exactly_those(self):
        c = self.pop3()
        count, octets = c.stat()
        sizes = dict(c.list())
        before = dict(c.uidl())
        self.assertEqual(count, N)
        for n in (1, 3):
            st = c.cmd('DELE %d' % n)
            self.assertTrue(st.startswith('+OK'), 'DELE %d: %r' % (n, st))
        for cmd in ('RETR 1', 'TOP 1 0', 'LIST 1', 'UIDL 1', 'DELE 1', 'RETR 3'):
            st = c.cmd(cmd)
            self.assertTrue(st.startswith('-ERR'), '%s after DELE: %r' % (cmd, st))
        self.assertEqual(c.stat(), (N - 2, octets - sizes[1] - sizes[3]))
        self.assertEqual([n for n, _ in c.list()], [2, 4, 5])
        self.assertEqual([n for n, _ in c.uidl()], [2, 4, 5])
        # nothing reaches the upstream before QUIT (9.8)
        self.assertIntact(range(N))
        self.quit_ok(c)
        self.assertIntact([1, 3, 4])
        c = self.pop3()
        self.assertEqual(c.stat()[0], N - 2)
        self.assertEqual(c.retr(1), pop3_form(self.items[1]['stored']))
        # renumbered, but every unique-id is kept (conformance 11.6)
        self.assertEqual(c.uidl(), [(1, before[2]), (2, before[4]), (3, before[5])])
        self.quit_ok(c)

    def test_h_empty_maildrop(self):
        mailseed.clear_mailbox(self.imap)
        c = self.pop3()
        self.assertEqual(c.stat(), (0, 0))
        for cmd in ('LIST', 'UIDL'):
            st, data = c.multi(cmd)
            self.assertTrue(st.startswith('+OK'), '%s: %r' % (cmd, st))
            self.assertEqual(data, b'', '%s on an empty maildrop' % cmd)
            self.assertEqual(c.last_raw, b'.\r\n')
        for cmd in ('RETR 1', 'TOP 1 0', 'DELE 1', 'LIST 1'):
            self.assertTrue(c.cmd(cmd).startswith('-ERR'), cmd)
        self.quit_ok(c)

    def test_i_quit_in_authorization_removes_nothing(self):
        c = POP3Strict(self.srv.port)
        self.addCleanup(c.close)
        c.ok('USER %s' % USER)
        self.quit_ok(c)
        self.assertIntact(range(N))

    def test_b_drop_without_quit_removes_nothing(self):
        for how in ('close', 'reset'):
            c = self.pop3()
            for n in range(1, N + 1):
                self.assertTrue(c.cmd('DELE %d' % n).startswith('+OK'))
            self.assertEqual(c.stat(), (0, 0))
            if how == 'close':
                c.close()
            else:
                c.abort()
            self.wait_unlocked()
            time.sleep(0.3)
            self.assertIntact(range(N))

    def test_b2_quit_then_hang_up_still_commits(self):
        """RFC 1939 sec. 6: once QUIT is received the UPDATE state runs,
        whether or not the client waits for the answer."""
        for how in ('close', 'reset'):
            keep = [i for i in range(N) if self.uids[i] in self.side_uids()]
            c = self.pop3()
            gone = keep[0]
            self.assertTrue(c.cmd('DELE %d' % (keep.index(gone) + 1)).startswith('+OK'))
            c.sock.sendall(b'QUIT\r\n')
            if how == 'close':
                c.close()
            else:
                c.abort()
            # Seen from IMAP directly, not by a new POP3 login that
            # could finish a cut commit itself.
            self.assertTrue(harness.wait_until(
                lambda: self.uids[gone] not in self.side_uids(), 10),
                '%s after QUIT: UID %d still there' % (how, self.uids[gone]))
            self.assertIntact(keep[1:])

    def test_c_rset_undeletes(self):
        c = self.pop3()
        before = (c.stat(), c.list(), c.uidl())
        for n in (1, 2):
            self.assertTrue(c.cmd('DELE %d' % n).startswith('+OK'))
        self.assertEqual(c.stat()[0], N - 2)
        self.assertTrue(c.cmd('RSET').startswith('+OK'))
        self.assertEqual((c.stat(), c.list(), c.uidl()), before, 'state after RSET')
        self.assertEqual(c.retr(1), pop3_form(self.items[0]['stored']))
        self.quit_ok(c)
        self.assertIntact(range(N))

    def test_d_foreign_deleted_flag_survives(self):
        c = self.pop3()
        # another IMAP client flags message 2 \Deleted but does not expunge,
        # and new mail arrives (doc/pop3-conformance.md 12.2, the UIDPLUS trap)
        self.imap.uid('STORE', str(self.uids[1]), '+FLAGS.SILENT', r'(\Deleted)')
        new_uid = mailseed.append(self.imap, 'INBOX',
                                  mailseed.simple_corpus(1, 'late-d')[0][1])
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        self.quit_ok(c)
        self.assertEqual(self.side_uids(), self.uids[1:] + [new_uid])
        self.assertIn('\\Deleted', self.side_flags(self.uids[1]),
                      'message 2 lost the \\Deleted flag another client set')
        self.assertNotIn('\\Deleted', self.side_flags(new_uid))
        for uid in self.uids[2:]:
            self.assertNotIn('\\Deleted', self.side_flags(uid))

    def test_e_new_mail_invisible_and_survives(self):
        c = self.pop3()
        stat, listing, uidls = c.stat(), c.list(), c.uidl()
        late = mailseed.simple_corpus(1, 'late-e')[0][1]
        new_uid = mailseed.append(self.imap, 'INBOX', late)
        self.assertEqual(c.stat(), stat, 'STAT changed after new mail')
        self.assertEqual(c.list(), listing, 'LIST changed after new mail')
        self.assertEqual(c.uidl(), uidls, 'UIDL changed after new mail')
        self.assertTrue(c.cmd('RETR %d' % (N + 1)).startswith('-ERR'))
        self.assertTrue(c.cmd('DELE 1').startswith('+OK'))
        self.quit_ok(c)
        self.assertEqual(self.side_uids(), self.uids[1:] + [new_uid])
        self.assertNotIn('\\Deleted', self.side_flags(new_uid))
        c = self.pop3()
        self.assertEqual(c.stat()[0], N)
        last = c.retr(N)
        self.assertEqual(mailseed.message_id(last), mailseed.message_id(late),
                         'new mail is the highest number in the next session')
        self.quit_ok(c)

    def test_f_expunged_by_other_client(self):
        c = self.pop3()
        stat, listing, uidls = c.stat(), c.list(), c.uidl()
        self.imap.uid('STORE', str(self.uids[1]), '+FLAGS.SILENT', r'(\Deleted)')
        typ, _ = self.imap.expunge()
        self.assertEqual(typ, 'OK')
        self.assertEqual(self.side_uids(), [u for u in self.uids if u != self.uids[1]])
        st = c.cmd('RETR 2')
        self.assertTrue(st.startswith('-ERR'), 'RETR of an expunged message: %r' % st)
        # no data may follow the -ERR: the next reply must be RETR 3's +OK
        st, data = c.multi('RETR 3')
        self.assertTrue(st.startswith('+OK'), 'RETR 3 after the -ERR: %r' % st)
        self.assertEqual(data, pop3_form(self.items[2]['stored']))
        self.assertEqual(mailseed.message_id(data), mailseed.message_id(self.items[2]['raw']))
        self.assertEqual((c.stat(), c.list(), c.uidl()), (stat, listing, uidls),
                         'login-time view kept (9.18)')
        st = c.cmd('DELE 2')
        self.assertTrue(st.startswith('+OK'), 'DELE of the expunged message: %r' % st)
        self.quit_ok(c)
        self.assertIntact([0, 2, 3, 4])


class Seen(DeleteBase):
    def test_g1_retr_sets_seen_top_does_not(self):
        c = self.pop3()
        c.retr(1)
        c.top(2, 0)
        self.quit_ok(c)
        self.assertIn('\\Seen', self.side_flags(self.uids[0]), 'RETR 1 + QUIT')
        self.assertNotIn('\\Seen', self.side_flags(self.uids[1]), 'TOP 2 0 + QUIT')
        for uid in self.uids[2:]:
            self.assertNotIn('\\Seen', self.side_flags(uid))

    def test_g2_rset_clears_pending_seen(self):
        c = self.pop3()
        c.retr(3)
        self.assertTrue(c.cmd('RSET').startswith('+OK'))
        self.quit_ok(c)
        for uid in self.uids:
            self.assertNotIn('\\Seen', self.side_flags(uid), 'RETR 3, RSET, QUIT')


@harness.skip_unless_popgate('--no-seen')
class NoSeen(DeleteBase):
    @classmethod
    def setUpClass(cls):
        cls.server = FIX.pop3_server(extra_args=['--no-seen'])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_g3_no_seen_option(self):
        c = self.pop3()
        c.retr(1)
        self.quit_ok(c)
        for uid in self.uids:
            self.assertNotIn('\\Seen', self.side_flags(uid), '--no-seen: RETR 1 + QUIT')


if __name__ == '__main__':
    harness.main()
