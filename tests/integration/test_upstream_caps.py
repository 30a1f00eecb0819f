#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SASL mechanisms kept per upstream. Two [upstream] sections behind
[routes], each a scripted IMAP server (tests/support/fake_imapd.py) that
offers other mechanisms: "x" XOAUTH2 and OAUTHBEARER, "o" OAUTHBEARER only.

* the start-up probe reads both upstreams;
* CAPA (and a bare AUTH) list only what every route can relay (PLAIN,
  LOGIN, OAUTHBEARER), whichever upstream a login read last;
* AUTH XOAUTH2 for a user routed to x is relayed to x as XOAUTH2 even right
  after a login to o; for a user routed to o it is refused, and o never
  sees an AUTHENTICATE; OAUTHBEARER reaches each user's own upstream;
* a reload that points o at another server probes it (and only it), and
  CAPA follows what the new server offers.

popgate runs two workers, so the sessions of one test may land on
different loops: the cache is one for the process.
"""

import base64
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402
from harness import POP3Strict, pop3_form  # noqa: E402

X_USER, O_USER = 'xuser@x.example', 'ouser@o.example'
PASSWORDS = {X_USER: 'Caps-X-Pw-31', O_USER: 'Caps-O-Pw-47'}
TOKENS = {X_USER: 'tok-x-0123456789', O_USER: 'tok-o-9876543210'}
CAPS = {
    'x': 'IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER',
    'o': 'IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=OAUTHBEARER',
}
# What CAPA may list: the mechanisms every route can relay.
COMMON = ['PLAIN', 'LOGIN', 'OAUTHBEARER']

FIX = None
FAKES = {}          # upstream name -> FakeImapd
ROUTED = {X_USER: 'x', O_USER: 'o'}


def corpus(tag):
    return [raw for _, raw in mailseed.simple_corpus(2, tag)]


def reset_fakes():
    """Fresh mailboxes and logs; the capabilities as the test wants."""
    for name, fake in FAKES.items():
        fake.reset(corpus(name))
        fake.faults['caps_pre'] = CAPS[name]


def setUpModule():
    global FIX
    FIX = harness.setup_module(dovecot=False)
    for name, user in (('x', X_USER), ('o', O_USER)):
        fake = FakeImapd(users={user: PASSWORDS[user]}, messages=corpus(name),
                         tokens={TOKENS[user]: user})
        unittest.addModuleCleanup(fake.stop)
        fake.start()
        FAKES[name] = fake
    reset_fakes()


def probed(pg):
    """The upstreams whose start-up probe popgate has logged."""
    return {e.get('upstream') for e in harness.log_events(pg.log_text(), 'upstream-probe')}


def conf(o_port):
    """Two workers, x.example routed to x, o.example to o (at o_port)."""
    return harness.popgate_conf([
        ('global', {'workers': 2}),
        ('listener pop3', {'address': '127.0.0.1:{port}'}),
        ('upstream', {'command_timeout': 5}),   # for every upstream
        ('upstream x', {'url': 'imap://127.0.0.1:%d' % FAKES['x'].port}),
        ('upstream o', {'url': 'imap://127.0.0.1:%d' % o_port}),
        ('routes', {'x.example': 'x', 'o.example': 'o'}),
        ('session', {'auth_failure_delay': '0ms'}),
    ])


def gateway():
    """popgate in front of x and o; returns once the start-up probe of
    both upstreams is logged (or, so that the tests say what is wrong,
    after 10 s without)."""
    pg = FIX.pop3_server(config_text=conf(FAKES['o'].port),
                         upstream_port=FAKES['x'].port)
    harness.wait_until(lambda: probed(pg) >= {'x', 'o'}, 10)
    return pg


def bearer(mech, user, token):
    """The base64 client message of XOAUTH2 (Google's form) or
    OAUTHBEARER (RFC 7628) for user and token."""
    if mech == 'XOAUTH2':
        raw = 'user=%s\x01auth=Bearer %s\x01\x01' % (user, token)
    else:
        raw = 'n,a=%s,\x01host=localhost\x01port=110\x01auth=Bearer %s\x01\x01' \
            % (user, token)
    return base64.b64encode(raw.encode()).decode()


class CapsCase(unittest.TestCase):
    pg = None

    def setUp(self):
        reset_fakes()

    def client(self):
        c = POP3Strict(self.pg.port)
        self.addCleanup(c.close)
        return c

    def sasl_line(self):
        """The mechanisms of CAPA's SASL line, in order."""
        st, data = self.client().multi('CAPA')
        self.assertTrue(st.startswith('+OK'), st)
        lines = [l for l in data.decode().split('\r\n') if l.startswith('SASL ')]
        self.assertEqual(len(lines), 1, data)
        return lines[0].split()[1:]

    def password_login(self, user):
        """A USER/PASS session for user: its upstream's list is read last."""
        c = self.client()
        c.login(user, PASSWORDS[user])
        self.assertTrue(c.quit().startswith('+OK'))

    def auth(self, mech, user):
        c = self.client()
        return c, c.cmd('AUTH %s %s' % (mech, bearer(mech, user, TOKENS[user])))

    def authenticates(self, name):
        return [l for l in FAKES[name].commands() if l.startswith('AUTHENTICATE')]


@harness.skip_unless_popgate('popgate upstream capability cache')
class StartupProbe(CapsCase):
    """Before any login: what the probe of both upstreams taught."""

    @classmethod
    def setUpClass(cls):
        cls.pg = gateway()

    def test_capa_and_auth_list_after_probe(self):
        self.assertEqual(probed(self.pg), {'x', 'o'}, self.pg.log_tail())
        self.assertEqual(self.sasl_line(), COMMON)
        st, data = self.client().multi('AUTH')
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual([l for l in data.decode().split('\r\n') if l], COMMON)
        for e in harness.log_events(self.pg.log_text(), 'upstream-probe'):
            want = 'yes' if e['upstream'] == 'x' else 'no'
            self.assertEqual((e['result'], e['xoauth2'], e['oauthbearer']),
                             ('ok', want, 'yes'), e)


@harness.skip_unless_popgate('popgate upstream capability cache')
class PerUpstream(CapsCase):
    """After logins to either upstream, in either order."""

    @classmethod
    def setUpClass(cls):
        cls.pg = gateway()

    def test_capa_whichever_upstream_was_read_last(self):
        for user in (X_USER, O_USER, X_USER):
            with self.subTest(last=ROUTED[user]):
                self.password_login(user)
                self.assertEqual(self.sasl_line(), COMMON)

    def test_xoauth2_relayed_to_x_after_a_login_to_o(self):
        self.password_login(O_USER)
        c, st = self.auth('XOAUTH2', X_USER)
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual(c.retr(1), pop3_form(corpus('x')[0]))
        self.assertTrue(c.quit().startswith('+OK'))
        auths = FAKES['x'].auths
        self.assertEqual([(a['mech'], a['user'], a['ok']) for a in auths],
                         [('XOAUTH2', X_USER, True)])
        self.assertEqual(self.authenticates('o'), [])

    def test_xoauth2_refused_for_a_user_routed_to_o(self):
        self.password_login(X_USER)
        _, st = self.auth('XOAUTH2', O_USER)
        self.assertTrue(st.startswith('-ERR [AUTH]'), st)
        self.assertEqual(self.authenticates('o'), [])
        self.assertEqual(FAKES['o'].auths, [])
        self.assertEqual(FAKES['x'].auths, [])
        fails = [e for e in harness.log_events(self.pg.log_text(), 'login')
                 if e.get('user') == O_USER and e.get('result') != 'ok']
        self.assertTrue(fails, self.pg.log_tail())
        self.assertEqual(fails[-1].get('upstream'), 'o', fails[-1])
        self.assertIn('upstream does not offer AUTH=XOAUTH2', fails[-1]['_line'])

    def test_oauthbearer_reaches_each_users_upstream(self):
        for user, other in ((X_USER, O_USER), (O_USER, X_USER)):
            with self.subTest(user=user):
                reset_fakes()
                # The other upstream is the one read last.
                self.password_login(other)
                c, st = self.auth('OAUTHBEARER', user)
                self.assertTrue(st.startswith('+OK'), st)
                self.assertEqual(c.stat()[0], 2)
                self.assertTrue(c.quit().startswith('+OK'))
                mine, theirs = FAKES[ROUTED[user]], FAKES[ROUTED[other]]
                self.assertEqual([(a['mech'], a['user'], a['ok']) for a in mine.auths],
                                 [('OAUTHBEARER', user, True)])
                self.assertEqual(theirs.auths, [])


@harness.skip_unless_popgate('popgate upstream capability cache')
class Reload(CapsCase):
    """A reload that points o at another server: what the old one offered
    is not kept for the new one, which is probed."""

    @classmethod
    def setUpClass(cls):
        cls.pg = gateway()

    def test_reload_reads_the_new_server_of_o(self):
        o2 = FakeImapd(users={O_USER: PASSWORDS[O_USER]}, messages=corpus('o2'),
                       tokens={TOKENS[O_USER]: O_USER})
        self.addCleanup(o2.stop)
        o2.start()
        o2.faults['caps_pre'] = CAPS['x']
        self.assertEqual(self.sasl_line(), COMMON)
        mark = len(self.pg.log_text())
        with open(self.pg.conf_path, 'w') as f:
            f.write(conf(o2.port).replace('{port}', str(self.pg.port)))
        self.pg.proc.send_signal(signal.SIGHUP)

        def new_probes():
            return harness.log_events(self.pg.log_text()[mark:], 'upstream-probe')
        self.assertTrue(harness.wait_until(
            lambda: any(e['upstream'] == 'o' for e in new_probes()), 10),
            self.pg.log_tail())
        # Only o moved: x is known and not asked again.
        self.assertEqual([e['upstream'] for e in new_probes()], ['o'])
        # Each worker switches on its own loop: wait for both.
        both = ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER']
        self.assertTrue(harness.wait_until(
            lambda: all(self.sasl_line() == both for _ in range(4)), 10),
            self.pg.log_tail())
        c, st = self.auth('XOAUTH2', O_USER)
        self.assertTrue(st.startswith('+OK'), st)
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertEqual([(a['mech'], a['user'], a['ok']) for a in o2.auths],
                         [('XOAUTH2', O_USER, True)])
        self.assertEqual(FAKES['o'].auths, [])


if __name__ == '__main__':
    harness.main()
