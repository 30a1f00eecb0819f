#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIGHUP reload: a long RETR in flight completes byte-exact on the old
configuration, new sessions see the new one (the UIDL template makes the
difference visible), a broken configuration is refused with its file and
line and the service keeps running on the last good one, and a change that
needs a restart (a listener's address) is refused too.

popgate-only: skipped with POPGATE_TARGET=dovecot-pop3.
"""

import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from harness import POP3Strict, pop3_form  # noqa: E402

FIX = None
PG = None
PORT = None
BIG = None
USERS = {'gina': 'R3load-pw', 'hank': 'Oth3r-pw'}
OLD_UIDL = r'^[0-9a-f]{16}$'          # {uid:08x}{uidvalidity:08x}
NEW_UIDL = r'^\d+\.\d+$'              # {uidvalidity}.{uid}


def conf(template, extra=''):
    return ('[global]\nworkers = 2\n'
            '[listener pop3]\naddress = 127.0.0.1:%d\n'
            '[upstream]\nurl = imap://127.0.0.1:%d\nuidl_template = %s\n%s'
            % (PORT, FIX.dovecot.imap_port, template, extra))


def setUpModule():
    global FIX, PG, PORT, BIG
    FIX = harness.setup_module(users=USERS)
    m = FIX.imap('gina')
    try:
        mailseed.append(m, 'INBOX', mailseed.big_message(12 * 1024 * 1024, seed=77))
        for _, raw in mailseed.simple_corpus(2, 'gina'):
            mailseed.append(m, 'INBOX', raw)
        BIG = mailseed.fetch_raw(m, mailseed.uids(m)[0])
    finally:
        m.logout()
    m = FIX.imap('hank')
    try:
        for _, raw in mailseed.simple_corpus(2, 'hank'):
            mailseed.append(m, 'INBOX', raw)
    finally:
        m.logout()
    if harness.dovecot_mode():
        return
    PORT, = harness.free_ports(1)
    PG = harness.start_configured_popgate('reload', conf('{uid:08x}{uidvalidity:08x}'),
                                          PORT)


def new_session_uidl():
    """UIDL 1 of a new session (another mailbox: gina's may be locked by
    the session in flight)."""
    c = POP3Strict(PORT)
    try:
        c.login('hank', USERS['hank'])
        return c.uidl_one(1)[1]
    finally:
        c.cmd('QUIT')
        c.close()


def reload(text, settled=None):
    """Writes the config file and sends SIGHUP; returns the log lines the
    reload produced.  settled: the UIDL pattern of the new configuration;
    the workers switch on their own loops after the reload line, so this
    waits until three new sessions in a row show it."""
    mark = len(PG.log_text())
    with open(PG.conf_path, 'w') as f:
        f.write(text)
    PG.proc.send_signal(signal.SIGHUP)
    ok = harness.wait_until(lambda: re.search(r'event=reload result=(ok|failed)',
                                              PG.log_text()[mark:]), 5)
    assert ok, 'no reload line after SIGHUP:\n' + PG.log_tail()
    if settled is not None:
        ok = harness.wait_until(lambda: all(re.match(settled, new_session_uidl())
                                            for _ in range(3)), 10)
        assert ok, 'new sessions never showed %s after the reload:\n%s' % (
            settled, PG.log_tail())
    return PG.log_text()[mark:]


@harness.skip_unless_popgate('popgate SIGHUP reload')
class Reload(unittest.TestCase):
    """Each test starts from the configuration of setUpModule, whatever
    the order the tests run in."""

    def setUp(self):
        reload(conf('{uid:08x}{uidvalidity:08x}'), settled=OLD_UIDL)

    def uidl1(self):
        return new_session_uidl()

    def test_long_retr_survives_and_new_sessions_see_the_new_config(self):
        self.assertRegex(self.uidl1(), OLD_UIDL)
        old = POP3Strict(PORT)
        self.addCleanup(old.close)
        old.login('gina', USERS['gina'])
        uidl_before = old.uidl_one(1)[1]
        # Ask for the 12 MiB message and take none of it yet: most of it
        # waits in socket buffers and in popgate while the reload happens.
        old.send(b'RETR 1\r\n')
        self.assertTrue(harness.wait_readable(old.sock, 10), 'no reply to RETR 1')
        log = reload(conf('{uidvalidity}.{uid}'))
        self.assertIn('event=reload result=ok', log)
        self.assertTrue(harness.wait_until(lambda: re.match(NEW_UIDL, self.uidl1()), 10),
                        'a new session must use the new template')
        # The old session finishes its RETR byte-exact and keeps its view.
        st = old.status()
        self.assertTrue(st.startswith('+OK'), 'RETR 1 across the reload: %r' % st)
        self.assertEqual(old.read_data(), pop3_form(BIG))
        self.assertEqual(old.uidl_one(1)[1], uidl_before)
        self.assertTrue(old.cmd('QUIT').startswith('+OK'))

    def test_broken_config_keeps_the_last_good_one(self):
        good = conf('{uidvalidity}.{uid}')
        reload(good, settled=NEW_UIDL)
        log = reload(good + 'no_such_key = 1\n')
        self.assertRegex(log, r'event=reload result=failed error="%s:\d+: unknown key'
                         % re.escape(PG.conf_path))
        self.assertIn('still running on the previous one', log)
        self.assertIsNone(PG.proc.poll(), 'popgate exited on a bad reload')
        self.assertRegex(self.uidl1(), NEW_UIDL)
        # A bad certificate path is caught too, before anything switches.
        log = reload(good + '[listener pop3]\ntls = implicit\n[tls_profile default]\n'
                     'cert = /nonexistent/cert.pem\nkey = /nonexistent/key.pem\n')
        self.assertIn('result=failed', log)
        self.assertRegex(self.uidl1(), NEW_UIDL)

    def test_listener_change_needs_a_restart(self):
        reload(conf('{uidvalidity}.{uid}'), settled=NEW_UIDL)
        other, = harness.free_ports(1)
        text = conf('{uid:08x}{uidvalidity:08x}').replace(
            '127.0.0.1:%d' % PORT, '127.0.0.1:%d' % other)
        log = reload(text)
        self.assertIn('result=failed reason="a listener', log)
        self.assertRegex(self.uidl1(), NEW_UIDL, 'the old configuration stays')


@harness.skip_unless_popgate('popgate SIGTERM drain')
class Drain(unittest.TestCase):
    """SIGTERM with a RETR in flight: the command finishes byte-exact, and
    the logged-in session may still QUIT, which commits its DELE (a printer
    that fetched a job must not print it again after a restart); the
    process exits with 0 once it is done."""

    def test_sigterm_lets_the_retr_finish_and_the_quit_commit(self):
        port, = harness.free_ports(1)
        pg = harness.start_configured_popgate(
            'drain', conf('{uid:08x}{uidvalidity:08x}').replace(
                '127.0.0.1:%d' % PORT, '127.0.0.1:%d' % port), port)
        self.addCleanup(pg.stop)
        m = FIX.imap('gina')
        try:
            kept = mailseed.uids(m)
            mailseed.append(m, 'INBOX', mailseed.simple_corpus(1, 'gina-job')[0][1])
        finally:
            m.logout()
        c = POP3Strict(port)
        self.addCleanup(c.close)
        c.login('gina', USERS['gina'])
        count = c.stat()[0]
        c.ok('DELE %d' % count)
        c.send(b'RETR 1\r\n')
        self.assertTrue(harness.wait_readable(c.sock, 10), 'no reply to RETR 1')
        pg.proc.send_signal(signal.SIGTERM)
        self.assertTrue(c.status().startswith('+OK'))
        self.assertEqual(c.read_data(), pop3_form(BIG))
        self.assertTrue(c.quit().startswith('+OK'), 'QUIT during the drain')
        self.assertTrue(harness.wait_until(lambda: pg.proc.poll() is not None, 10),
                        'popgate still running after the drain')
        self.assertEqual(pg.proc.returncode, 0, pg.log_tail())
        self.assertRegex(pg.log_text(), r'event=session-end .*user=gina reason="quit" '
                         r'.*retr=1 .*deleted=1')
        m = FIX.imap('gina')
        try:
            self.assertEqual(mailseed.uids(m), kept, 'the DELE sent before QUIT')
        finally:
            m.logout()


if __name__ == '__main__':
    harness.main()
