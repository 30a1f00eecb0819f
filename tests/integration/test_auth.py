#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Client-side authentication through popgate: the plaintext-auth policy
(untrusted peers get neither USER nor PLAIN/LOGIN before TLS, trusted
networks and `plaintext_auth = yes` do, and the latter is logged once per
session), SASL AUTH PLAIN and LOGIN (RFC 5034) through curl, poplib and a
strict client, malformed SASL exchanges that must leave the session usable,
the failed-login delay (per client address, doubling, capped) and the
close after the third failure, upstream outage as [SYS/TEMP], 8-bit and
quote/backslash passwords reaching Dovecot intact, and no password in the
log.

doc/pop3-conformance.md 1.9, 1.10, 4, 5, 8.4, 8.5, 17.1.

Client addresses: 127.0.0.1 is the only trusted network; other loopback
addresses (127.0.0.2, ...) play untrusted clients.  Each test that provokes
failures uses its own address, because the delay state is per address.

POPGATE_TARGET=dovecot-pop3: the SASL, malformed-exchange and 8-bit password
tests run against Dovecot's own POP3 (to prove the tests); the policy,
delay, outage and log tests are popgate-only and skip.
"""

import imaplib
import os
import poplib
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import clients  # noqa: E402
import harness  # noqa: E402
import mailseed  # noqa: E402
from dovecot import free_port  # noqa: E402
from fake_imapd import FakeImapd  # noqa: E402
from harness import POP3TLS, b64, dovecot_mode, pop3_form, sasl_plain  # noqa: E402
from pki import TestPKI  # noqa: E402

USER, PASSWORD = 'alice', 'secret'
UTF8_USER, UTF8_PASSWORD = 'umlaut', 'p\u00e4ssw\u00f6rd-\u00fc'
QUOTE_USER, QUOTE_PASSWORD = 'quoted', 'q"uo\\te d\\"'
USERS = {USER: PASSWORD, 'bob': 'secret', UTF8_USER: UTF8_PASSWORD,
         QUOTE_USER: QUOTE_PASSWORD}
WRONG = 'wr0ng-Pa55-%d' % os.getpid()   # every wrong password used here
DELAY, DELAY_MAX = 0.3, 2.0             # auth_failure_delay(_max) of the config
SLACK = 0.03                            # timer granularity allowance

FIX = None
ITEMS = {}          # user -> [{'name', 'uid', 'raw', 'stored'}]
PKI_CA = None
_gateways = harness.GatewayCache()      # 'main', 'down', 'fast' -> Gateway


def imap_plain_login(user):
    """Log in to this file's Dovecot with AUTHENTICATE PLAIN (UTF-8 bytes;
    imaplib's LOGIN cannot send 8-bit passwords)."""
    m = imaplib.IMAP4('127.0.0.1', FIX.dovecot.imap_port, timeout=harness.SOCKET_TIMEOUT)
    pw = USERS[user].encode('utf-8')
    m.authenticate('PLAIN', lambda _: b'\0' + user.encode() + b'\0' + pw)
    return m


def setUpModule():
    global FIX, PKI_CA
    FIX = harness.setup_module(users=USERS)
    for user, corpus in ((USER, mailseed.simple_corpus(3, tag='auth')),
                         (UTF8_USER, mailseed.simple_corpus(1, tag='umlaut')),
                         (QUOTE_USER, mailseed.simple_corpus(1, tag='quoted'))):
        m = imap_plain_login(user)
        try:
            ITEMS[user] = mailseed.seed(m, corpus)
        finally:
            m.logout()
    pki = TestPKI(os.path.join(FIX.root, 'popgate-pki'))
    cert, key = pki.cert('localhost')
    PKI_CA = pki.ca_cert
    FIX.tls_files = (cert, key)


class Gateway(harness.LoggedGateway):
    """policy_port: starttls, plaintext_auth = no, trusted 127.0.0.1/32;
    open_port: starttls, plaintext_auth = yes; pop3s_port: implicit TLS.
    In dovecot mode all three are Dovecot's POP3 port (plaintext allowed)."""

    def __init__(self, policy_port, open_port, pop3s_port, pg=None, default_port=None):
        super().__init__(pg)
        self.policy_port = policy_port
        self.open_port = open_port
        self.pop3s_port = pop3s_port
        self.default_port = default_port   # plaintext_auth = no, default trusted_networks


def popgate_config(upstream_port, p_policy, p_open, p_pop3s, p_default):
    cert, key = FIX.tls_files
    return harness.popgate_conf([
        ('global', dict(workers=2)),
        ('tls_profile default', harness.tls_profile(cert, key)),
        ('listener pop3', harness.listener(p_policy, 'starttls', plaintext_auth='no',
                                           trusted_networks='127.0.0.1/32')),
        ('listener open', harness.listener(p_open, 'starttls', plaintext_auth='yes',
                                           trusted_networks='127.0.0.1/32')),
        ('listener pop3s', harness.listener(p_pop3s, 'implicit')),
        ('listener deflt', harness.listener(p_default, 'starttls', plaintext_auth='no')),
        ('upstream', dict(url='imap://127.0.0.1:%d' % upstream_port)),
        ('session', dict(auth_failure_delay='%dms' % int(DELAY * 1000),
                         auth_failure_delay_max='%dms' % int(DELAY_MAX * 1000))),
    ])


_fake = []


def fake_upstream_port():
    """A FakeImapd with alice's mailbox: it answers a bad LOGIN at once,
    where Dovecot's auth process releases failures on a 500 ms tick (so its
    reply time varies between 0 and 0.5 s and would hide popgate's delay)."""
    if not _fake:
        f = FakeImapd(users={USER: PASSWORD}, messages=[i['stored'] for i in ITEMS[USER]])
        unittest.addModuleCleanup(f.stop)
        f.start()
        _fake.append(f)
    return _fake[0].port


def gateway(name='main'):
    """'main': popgate in front of this file's Dovecot; 'down': popgate whose
    upstream port is closed; 'fast': popgate in front of a FakeImapd."""
    if dovecot_mode():
        if name != 'main':
            harness.skip_in_dovecot_mode('popgate-only')
        p = FIX.dovecot.pop3_port
        return Gateway(p, p, None)

    def start():
        p_policy, p_open, p_pop3s, p_default = harness.free_ports(4)
        up = {'main': lambda: FIX.dovecot.imap_port, 'down': free_port,
              'fast': fake_upstream_port}[name]()
        pg = harness.start_configured_popgate(
            name, popgate_config(up, p_policy, p_open, p_pop3s, p_default), p_policy,
            upstream_port=up)
        return Gateway(p_policy, p_open, p_pop3s, pg, p_default)
    return _gateways.get(name, start)


def need_alias(addr):
    if not harness.loopback_alias_ok(addr):
        harness.skip('cannot bind a client socket to %s' % addr)
    return addr


class SourcePOP3(poplib.POP3):
    """poplib.POP3 from a chosen source address."""
    source = None

    def _create_socket(self, timeout):
        src = (self.source, 0) if self.source else None
        return socket.create_connection((self.host, self.port), timeout, source_address=src)


def sasl_line(capa):
    """The mechanisms of CAPA's SASL line (upper case), [] if there is none."""
    for l in capa:
        parts = l.split()
        if parts and parts[0].upper() == 'SASL':
            return [p.upper() for p in parts[1:]]
    return []


def dovecot_logins(mark, user):
    return [l for l in FIX.dovecot.log_text()[mark:].splitlines()
            if re.search(r'imap-login: Info: .*user=<%s>' % re.escape(user), l)]


class AuthTestCase(harness.WatchServers, unittest.TestCase):
    maxDiff = 2000

    def setUp(self):
        self.gw = gateway()
        super().setUp()

    def ctx(self):
        return harness.client_tls_context(PKI_CA)

    def check_mailbox(self, c, user=USER):
        """STAT and RETR 1 on a logged-in strict client match the upstream."""
        items = ITEMS[user]
        self.assertEqual(c.stat()[0], len(items), 'STAT after login as %s' % user)
        self.assertEqual(c.retr(1), pop3_form(items[0]['stored']), 'RETR 1 of %s' % user)

    def quit(self, c):
        try:
            st = c.quit()
            self.assertTrue(st.startswith('+OK'), 'QUIT: %r' % st)
        finally:
            c.close()

    def assertNoSecrets(self, *secrets):
        if self.gw.pg is None:
            return
        text = self.gw.log()
        for s in secrets:
            forms = {s}
            if isinstance(s, str) and s:
                forms.add(b64(s))
            for f in forms:
                self.assertNotIn(f, text, 'a password (or its base64) is in popgate.log')


# -- the plaintext policy --------------------------------------------------------

@harness.skip_unless_popgate('popgate listener policy')
class PlaintextPolicy(AuthTestCase):
    UNTRUSTED = '127.0.0.2'

    def test_untrusted_plaintext_refused_then_allowed_after_stls(self):
        src = need_alias(self.UNTRUSTED)
        mark, dmark = self.gw.mark(), len(FIX.dovecot.log_text())
        c = POP3TLS(self.gw.policy_port, source=src)
        try:
            capa = c.capa()
            self.assertNotIn('USER', capa, 'USER offered to an untrusted peer before TLS')
            for mech in ('PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER'):
                self.assertNotIn(mech, sasl_line(capa), 'SASL %s offered before TLS' % mech)
            self.assertIn('STLS', capa)
            st = c.cmd('USER %s' % USER)
            self.assertTrue(st.startswith('-ERR'), 'USER before TLS: %r' % st)
            self.assertNotIn('[AUTH]', st, 'USER must not carry [AUTH] (conformance 8.5)')
            st_right = c.cmd('PASS %s' % PASSWORD)
            self.assertTrue(st_right.startswith('-ERR [AUTH]'), 'PASS before TLS: %r' % st_right)
            c.cmd('USER %s' % USER)
            st_wrong = c.cmd('PASS %s' % WRONG)
            self.assertEqual(st_right, st_wrong, 'right and wrong password must get the same '
                             'reply over cleartext (conformance 1.10)')
            for cmd in ('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD), 'AUTH LOGIN'):
                st = c.cmd(cmd)
                self.assertTrue(st.startswith('-ERR [AUTH] Plaintext authentication disallowed'),
                                '%s before TLS: %r' % (cmd.split()[1], st))
            st = c.cmd('AUTH PLAIN')
            self.assertTrue(st.startswith('-ERR [AUTH]'), 'AUTH PLAIN (no IR) before TLS '
                            'must not challenge: %r' % st)
            # now TLS on the same connection: everything works
            c.stls(self.ctx())
            capa = c.capa()
            self.assertIn('USER', capa)
            self.assertIn('PLAIN', sasl_line(capa))
            self.assertIn('LOGIN', sasl_line(capa))
            c.login(USER, PASSWORD)
            self.check_mailbox(c)
        finally:
            self.quit(c)
        # the refused attempts never reached the upstream (conformance 1.10)
        # Wait for the end of the upstream session of the TLS login: any
        # earlier connection for this client would be logged before.
        harness.wait_until(lambda: re.search(r'imap\(%s\).*Disconnected' % re.escape(USER),
                                             FIX.dovecot.log_text()[dmark:]), 10)
        logins = dovecot_logins(dmark, USER)
        self.assertEqual(len(logins), 1, 'upstream saw other than exactly the TLS login:\n'
                         + '\n'.join(logins))
        sid = [e for e in self.gw.events(mark, 'session-start')
               if e.get('peer', '').startswith(src + ':')]
        self.assertEqual(len(sid), 1)
        self.assertFalse([e for e in self.gw.events(mark, 'plaintext-auth')
                          if e.get('sid') == sid[0]['sid']],
                         'plaintext-auth logged for a session that used TLS')

    def test_untrusted_auth_plain_after_stls(self):
        src = need_alias(self.UNTRUSTED)
        c = POP3TLS(self.gw.policy_port, source=src)
        try:
            c.stls(self.ctx())
            st = c.cmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD))
            self.assertTrue(st.startswith('+OK'), 'AUTH PLAIN after STLS: %r' % st)
            self.check_mailbox(c)
        finally:
            self.quit(c)

    def test_untrusted_clients_refused_without_tls(self):
        src = need_alias(self.UNTRUSTED)
        r = clients.curl('pop3://127.0.0.1:%d/1' % self.gw.policy_port, USER, PASSWORD,
                         verbose=True, max_time=20, interface=src)
        self.assertNotEqual(r.returncode, 0, 'curl logged in over cleartext from an '
                            'untrusted address: %r' % r.stdout[:200])
        self.assertEqual(r.stdout, b'')
        # curl with --ssl-reqd (STLS) from the same address gets the message
        r = clients.curl('pop3://localhost:%d/1' % self.gw.policy_port, USER, PASSWORD,
                         '--ssl-reqd', verbose=True, max_time=20, interface=src, cacert=PKI_CA)
        self.assertEqual(r.returncode, 0, 'curl --ssl-reqd from %s: exit %d %r'
                         % (src, r.returncode, r.stderr[-500:]))
        self.assertIn(b'> STLS', r.stderr)
        self.assertEqual(r.stdout, pop3_form(ITEMS[USER][0]['stored']))
        # poplib: USER refused in clear (no [AUTH] on USER), fine after stls()
        SourcePOP3.source = src
        p = None
        try:
            p = SourcePOP3('127.0.0.1', self.gw.policy_port, timeout=harness.SOCKET_TIMEOUT)
            with self.assertRaises(poplib.error_proto) as cm:
                p.user(USER)
            self.assertTrue(cm.exception.args[0].startswith(b'-ERR'), cm.exception.args)
            self.assertNotIn(b'[AUTH]', cm.exception.args[0])
            self.assertIn('STLS', p.capa())
            self.assertTrue(p.stls(self.ctx()).startswith(b'+OK'))
            p.user(USER)
            p.pass_(PASSWORD)
            self.assertEqual(p.stat()[0], len(ITEMS[USER]))
            self.assertTrue(p.quit().startswith(b'+OK'))
        finally:
            SourcePOP3.source = None
            if p is not None:
                p.close()

    def test_trusted_network_plaintext_allowed(self):
        c = POP3TLS(self.gw.policy_port, source='127.0.0.1')
        try:
            capa = c.capa()
            self.assertIn('USER', capa, 'USER not offered to a trusted peer')
            # no XOAUTH2/OAUTHBEARER: this Dovecot does not offer them
            self.assertEqual(sorted(sasl_line(capa)), ['LOGIN', 'PLAIN'], capa)
            self.assertIn('STLS', capa)
            c.login(USER, PASSWORD)
            self.check_mailbox(c)
        finally:
            self.quit(c)
        c = POP3TLS(self.gw.policy_port, source='127.0.0.1')
        try:
            st = c.cmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD))
            self.assertTrue(st.startswith('+OK'), 'AUTH PLAIN from a trusted peer: %r' % st)
        finally:
            self.quit(c)

    def test_default_trusted_networks_are_loopback(self):
        src = need_alias('127.0.0.2')
        c = POP3TLS(self.gw.default_port, source=src)
        try:
            capa = c.capa()
            self.assertIn('USER', capa, 'default trusted_networks must include 127.0.0.0/8')
            c.login(USER, PASSWORD)
            self.check_mailbox(c)
        finally:
            self.quit(c)

    def test_plaintext_auth_yes_accepted_and_logged_once_per_session(self):
        src = need_alias('127.0.0.6')
        mark = self.gw.mark()
        c = POP3TLS(self.gw.open_port, source=src)
        try:
            capa = c.capa()
            self.assertIn('USER', capa, 'plaintext_auth = yes: USER missing')
            self.assertIn('PLAIN', sasl_line(capa))
            self.assertIn('LOGIN', sasl_line(capa))
            self.assertTrue(c.cmd('USER %s' % USER).startswith('+OK'))
            st = c.cmd('PASS %s' % WRONG)
            self.assertTrue(st.startswith('-ERR [AUTH]'), st)
            st = c.cmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD))
            self.assertTrue(st.startswith('+OK'), 'AUTH PLAIN over cleartext with '
                            'plaintext_auth = yes: %r' % st)
            self.check_mailbox(c)
        finally:
            self.quit(c)
        p = None
        SourcePOP3.source = src
        try:
            p = SourcePOP3('127.0.0.1', self.gw.open_port, timeout=harness.SOCKET_TIMEOUT)
            p.user(USER)
            p.pass_(PASSWORD)
            self.assertEqual(p.stat()[0], len(ITEMS[USER]))
            p.quit()
        finally:
            SourcePOP3.source = None
            if p is not None:
                p.close()
        starts = [e for e in self.gw.events(mark, 'session-start')
                  if e.get('peer', '').startswith(src + ':')]
        self.assertEqual(len(starts), 2)
        ok = harness.wait_until(lambda: len(self.gw.events(mark, 'plaintext-auth')) >= 2, 5)
        events = self.gw.events(mark, 'plaintext-auth')
        self.assertTrue(ok, 'no plaintext-auth lines:\n' + self.gw.log()[mark:][-3000:])
        for s in starts:
            mine = [e for e in events if e.get('sid') == s.get('sid')]
            self.assertEqual(len(mine), 1, 'plaintext-auth lines for session %s: %r'
                             % (s.get('sid'), [e['_line'] for e in mine]))
            self.assertTrue(mine[0].get('peer', '').startswith(src), mine[0]['_line'])
            self.assertTrue(mine[0].get('reason'), mine[0]['_line'])
        self.assertNoSecrets(PASSWORD, WRONG, sasl_plain(USER, PASSWORD))


# -- SASL ---------------------------------------------------------------------

class Sasl(clients.ClientChecks, AuthTestCase):
    """AUTH PLAIN and LOGIN from the trusted address over cleartext, and over
    implicit TLS, through curl, poplib and the strict client."""

    def curl(self, url, options, *extra):
        return self.curl_ok(url, USER, PASSWORD, *extra, verbose=True, ipv4=True,
                            login_options=options)

    def check_login_logged(self, mark, method, count=1):
        if self.gw.pg is None:
            return
        ok = harness.wait_until(lambda: [e for e in self.gw.events(mark, 'login')
                                         if e.get('result') == 'ok'], 5)
        self.assertTrue(ok, 'no login line:\n' + self.gw.log()[mark:][-2000:])
        for e in ok:
            self.assertEqual(e.get('method'), method, e['_line'])

    def test_curl_auth_plain(self):
        mark = self.gw.mark()
        out, err = self.curl('pop3://127.0.0.1:%d/1' % self.gw.policy_port, 'AUTH=PLAIN')
        self.assertIn('> AUTH PLAIN', err)
        self.assertEqual(out, pop3_form(ITEMS[USER][0]['stored']))
        self.check_login_logged(mark, 'PLAIN')

    def test_curl_auth_login(self):
        mark = self.gw.mark()
        out, err = self.curl('pop3://127.0.0.1:%d/2' % self.gw.policy_port, 'AUTH=LOGIN')
        self.assertIn('> AUTH LOGIN', err)
        self.assertIn('< + VXNlcm5hbWU6', err)
        self.assertEqual(out, pop3_form(ITEMS[USER][1]['stored']))
        self.check_login_logged(mark, 'LOGIN')

    def test_curl_auth_any_and_over_tls(self):
        out, err = self.curl('pop3://127.0.0.1:%d/3' % self.gw.policy_port, 'AUTH=*')
        self.assertRegex(err, r'> AUTH (PLAIN|LOGIN)')
        self.assertEqual(out, pop3_form(ITEMS[USER][2]['stored']))
        if self.gw.pop3s_port is None:
            return
        mark = self.gw.mark()
        out, err = self.curl('pop3s://localhost:%d/1' % self.gw.pop3s_port, 'AUTH=LOGIN',
                             '--cacert', PKI_CA)
        self.assertIn('SSL connection using TLSv1.', err)
        self.assertIn('> AUTH LOGIN', err)
        self.assertEqual(out, pop3_form(ITEMS[USER][0]['stored']))
        self.check_login_logged(mark, 'LOGIN')

    def test_curl_wrong_password_fails(self):
        src = need_alias('127.0.0.7')
        for opt in ('AUTH=PLAIN', 'AUTH=LOGIN'):
            r = clients.curl('pop3://127.0.0.1:%d/1' % self.gw.open_port, USER, WRONG,
                             interface=src, login_options=opt)
            self.assertEqual(r.returncode, 67, '%s with a wrong password: exit %d %r'
                             % (opt, r.returncode, r.stderr[-300:]))
            self.assertEqual(r.stdout, b'')
        self.assertNoSecrets(WRONG)

    def poplib_session(self):
        old = poplib._MAXLINE
        self.addCleanup(setattr, poplib, '_MAXLINE', old)
        poplib._MAXLINE = 1 << 20
        p = poplib.POP3('127.0.0.1', self.gw.policy_port, timeout=harness.SOCKET_TIMEOUT)
        self.addCleanup(p.close)
        return p

    def poplib_check(self, p):
        self.assertEqual(p.stat()[0], len(ITEMS[USER]))
        resp, lines, octets = p.retr(1)
        self.assertEqual(b''.join(l + b'\r\n' for l in lines), pop3_form(ITEMS[USER][0]['stored']))
        self.assertTrue(p.quit().startswith(b'+OK'))

    def test_poplib_auth_plain_initial_response(self):
        p = self.poplib_session()
        resp = p._shortcmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD))
        self.assertTrue(resp.startswith(b'+OK'), resp)
        self.poplib_check(p)

    def test_poplib_auth_plain_empty_challenge(self):
        p = self.poplib_session()
        p._putcmd('AUTH PLAIN')
        line, _ = p._getline()
        self.assertEqual(line, b'+ ', 'empty challenge must be exactly "+ " (RFC 5034 sec. 4)')
        resp = p._shortcmd(sasl_plain(USER, PASSWORD))
        self.assertTrue(resp.startswith(b'+OK'), resp)
        self.poplib_check(p)

    def test_poplib_auth_login(self):
        p = self.poplib_session()
        p._putcmd('AUTH LOGIN')
        line, _ = p._getline()
        self.assertEqual(line, b'+ VXNlcm5hbWU6')
        p._putcmd(b64(USER))
        line, _ = p._getline()
        self.assertEqual(line, b'+ UGFzc3dvcmQ6')
        resp = p._shortcmd(b64(PASSWORD))
        self.assertTrue(resp.startswith(b'+OK'), resp)
        self.poplib_check(p)

    def test_auth_login_initial_response_and_lowercase(self):
        c = POP3TLS(self.gw.policy_port)
        try:
            st = c.cmd('auth login %s' % b64(USER))
            self.assertEqual(st, '+ UGFzc3dvcmQ6', 'AUTH LOGIN with the user name as IR')
            st = c.cmd(b64(PASSWORD))
            self.assertTrue(st.startswith('+OK'), st)
            self.check_mailbox(c)
            capa = c.capa()
            self.assertTrue(capa and sasl_line(capa) or dovecot_mode(),
                            'SASL line gone after login (conformance 5.2): %r' % capa)
            st = c.cmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD))
            self.assertTrue(st.startswith('-ERR'), 'AUTH in TRANSACTION: %r' % st)
        finally:
            self.quit(c)

    def test_auth_plain_lowercase_mechanism(self):
        c = POP3TLS(self.gw.policy_port)
        try:
            st = c.cmd('AUTH plain %s' % sasl_plain(USER, PASSWORD))
            self.assertTrue(st.startswith('+OK'), st)
            self.check_mailbox(c)
        finally:
            self.quit(c)

    # malformed exchanges -------------------------------------------------
    def expect_err(self, c, cmd, what, code=None):
        st = c.cmd(cmd)
        self.assertTrue(st.startswith('-ERR'), '%s: expected -ERR, got %r' % (what, st))
        if code is not None:
            self.assertTrue(st.startswith('-ERR %s' % code), '%s: %r' % (what, st))
        return st

    def expect_challenge(self, c, cmd, challenge=''):
        st = c.cmd(cmd)
        self.assertEqual(st, ('+ ' + challenge), '%s: expected a challenge' % cmd)

    def malformed_session(self, src, steps, finish):
        """steps: callables(c) each doing one malformed exchange (at most two,
        so no failure limit is reached); then finish(c) logs in properly."""
        c = POP3TLS(self.gw.open_port, source=src, timeout=20)
        try:
            for step in steps:
                step(c)
                st = c.cmd('NOOP')     # still alive, still in AUTHORIZATION
                self.assertTrue(st.startswith('-ERR'), 'NOOP in AUTHORIZATION: %r' % st)
            finish(c)
            self.check_mailbox(c)
        finally:
            self.quit(c)

    def login_plain(self, c):
        self.assertTrue(c.cmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD)).startswith('+OK'))

    def login_user(self, c):
        c.login(USER, PASSWORD)

    def login_login(self, c):
        self.expect_challenge(c, 'AUTH LOGIN', 'VXNlcm5hbWU6')
        self.expect_challenge(c, b64(USER), 'UGFzc3dvcmQ6')
        self.assertTrue(c.cmd(b64(PASSWORD)).startswith('+OK'))

    def test_malformed_sasl_cancel_and_bad_base64(self):
        src = need_alias('127.0.0.21')

        def cancel_plain(c):
            self.expect_challenge(c, 'AUTH PLAIN')
            self.expect_err(c, '*', 'AUTH PLAIN cancelled with *')

        def bad_b64_ir(c):
            for bad in ('=AAA', 'AAA=BBB', 'dGVzdA!=', 'dGVzdA'):
                self.expect_err(c, 'AUTH PLAIN %s' % bad, 'AUTH PLAIN %s' % bad)
        self.malformed_session(src, [cancel_plain, bad_b64_ir], self.login_plain)

    def test_malformed_sasl_login_cancel(self):
        src = need_alias('127.0.0.22')

        def cancel_login_user(c):
            self.expect_challenge(c, 'AUTH LOGIN', 'VXNlcm5hbWU6')
            self.expect_err(c, '*', 'AUTH LOGIN cancelled at the user name')

        def cancel_login_password(c):
            self.expect_challenge(c, 'AUTH LOGIN', 'VXNlcm5hbWU6')
            self.expect_challenge(c, b64(USER), 'UGFzc3dvcmQ6')
            self.expect_err(c, '*', 'AUTH LOGIN cancelled at the password')
        self.malformed_session(src, [cancel_login_user, cancel_login_password], self.login_user)

    def test_malformed_sasl_empty_and_unknown(self):
        src = need_alias('127.0.0.23')

        def empty_ir(c):
            self.expect_err(c, 'AUTH PLAIN =', 'AUTH PLAIN = (empty initial response)')

        def unknown(c):
            self.expect_err(c, 'AUTH FOOBAR', 'unknown mechanism')
            self.expect_err(c, 'AUTH FOOBAR %s' % b64('x'), 'unknown mechanism with IR')
        self.malformed_session(src, [empty_ir, unknown], self.login_login)

    def test_malformed_sasl_bad_continuation_and_authzid(self):
        src = need_alias('127.0.0.24')

        def bad_continuation(c):
            self.expect_challenge(c, 'AUTH PLAIN')
            self.expect_err(c, 'not base64!', 'invalid base64 continuation')

        def other_authzid(c):
            self.expect_err(c, 'AUTH PLAIN %s' % sasl_plain(USER, PASSWORD, authzid='bob'),
                            'authzid different from authcid', code='[AUTH]')
        self.malformed_session(src, [bad_continuation, other_authzid], self.login_plain)

    def test_bare_auth_lists_or_refuses(self):
        c = POP3TLS(self.gw.policy_port)
        try:
            for cmd in ('AUTH', 'AUTH '):
                st = c.cmd(cmd)
                self.assertTrue(st.startswith(('+OK', '-ERR')), '%r -> %r' % (cmd, st))
                if st.startswith('+OK'):
                    mechs = c.read_data().decode('latin-1').split()
                    self.assertIn('PLAIN', [m.upper() for m in mechs])
            self.login_plain(c)
            self.check_mailbox(c)
        finally:
            self.quit(c)


# -- failed logins -----------------------------------------------------------------

@harness.skip_unless_popgate('popgate failed-login delays')
class FailedLogins(AuthTestCase):

    def timed(self, c, cmd):
        t = time.monotonic()
        st = c.cmd(cmd)
        return st, time.monotonic() - t

    def test_delay_doubles_per_address_and_third_failure_closes(self):
        src = need_alias('127.0.0.31')
        other = need_alias('127.0.0.32')
        self.gw = gateway('fast')
        mark = self.gw.mark()
        c = POP3TLS(self.gw.open_port, source=src, timeout=20)
        times = []
        try:
            for i in range(3):
                self.assertTrue(c.cmd('USER %s' % USER).startswith('+OK'))
                st, dt = self.timed(c, 'PASS %s' % WRONG)
                times.append(dt)
                self.assertTrue(st.startswith('-ERR [AUTH]'), 'failure %d: %r' % (i + 1, st))
            self.assertTrue(c.expect_eof(5), 'connection still open after the third failed '
                            'login in one session')
        finally:
            c.close()
        self.assertGreaterEqual(times[0], DELAY - SLACK, 'first failure answered too soon: '
                                '%.3fs < %.3fs' % (times[0], DELAY))
        self.assertLess(times[0], DELAY * 2 + 0.25, 'first failure: %.3fs' % times[0])
        self.assertGreaterEqual(times[1], 2 * DELAY - SLACK,
                                'second failure not delayed twice as long: %.3fs' % times[1])
        self.assertGreater(times[1], times[0] + DELAY / 2, 'delays %r do not grow' % times)
        self.assertGreaterEqual(times[2], 4 * DELAY - SLACK, 'third failure: %r' % times)
        # the same address on a new connection, through AUTH PLAIN: the state
        # carries over, and 300ms * 2^3 is capped at 2s
        c = POP3TLS(self.gw.open_port, source=src, timeout=20)
        try:
            st, dt = self.timed(c, 'AUTH PLAIN %s' % sasl_plain(USER, WRONG))
            self.assertTrue(st.startswith('-ERR [AUTH]'), st)
            self.assertGreaterEqual(dt, DELAY_MAX - SLACK, 'fourth failure from %s on a new '
                                    'connection took %.3fs: delay state not per address'
                                    % (src, dt))
            self.assertLess(dt, DELAY_MAX + 1.0, 'fourth failure took %.3fs: not capped at '
                            '%.1fs' % (dt, DELAY_MAX))
            # a failure does not end a session before the third
            self.login_plain_ok(c)
        finally:
            self.quit(c)
        # another address starts from the beginning
        c = POP3TLS(self.gw.open_port, source=other, timeout=20)
        try:
            st, dt = self.timed(c, 'AUTH PLAIN %s' % sasl_plain(USER, WRONG))
            self.assertTrue(st.startswith('-ERR [AUTH]'), st)
            self.assertGreaterEqual(dt, DELAY - SLACK)
            self.assertLess(dt, 4 * DELAY, 'a fresh address got %.3fs: delay state is not '
                            'per address' % dt)
        finally:
            c.close()
        fails = [e for e in self.gw.events(mark, 'login') if e.get('result') == 'auth']
        self.assertGreaterEqual(len(fails), 5, [e['_line'] for e in fails])
        delays = [int(e.get('delay_ms', '-1')) for e in fails
                  if e.get('peer', '').startswith(src + ':')]
        self.assertEqual(delays, [300, 600, 1200, 2000], 'delay_ms of the failures from %s'
                         % src)
        self.assertNoSecrets(WRONG, sasl_plain(USER, WRONG))

    def login_plain_ok(self, c):
        st = c.cmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD))
        self.assertTrue(st.startswith('+OK'), 'login after a failure: %r' % st)
        self.check_mailbox(c)

    def test_failure_text(self):
        src = need_alias('127.0.0.33')
        c = POP3TLS(self.gw.open_port, source=src, timeout=20)
        try:
            c.cmd('USER %s' % USER)
            self.assertEqual(c.cmd('PASS %s' % WRONG), '-ERR [AUTH] Authentication failed.')
            c.cmd('USER nosuchuser')
            self.assertEqual(c.cmd('PASS %s' % WRONG), '-ERR [AUTH] Authentication failed.',
                             'unknown user must look like a bad password (conformance 4.12)')
        finally:
            c.close()

    def test_upstream_unreachable_is_sys_temp(self):
        gw = gateway('down')
        mark = gw.mark()
        c = POP3TLS(gw.policy_port, timeout=40)
        try:
            c.cmd('USER %s' % USER)
            st = c.cmd('PASS %s' % PASSWORD)
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), 'PASS with the upstream down: %r'
                            % st)
        finally:
            c.close()
        c = POP3TLS(gw.policy_port, timeout=40)
        try:
            st = c.cmd('AUTH PLAIN %s' % sasl_plain(USER, PASSWORD))
            self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), 'AUTH PLAIN with the upstream '
                            'down: %r' % st)
        finally:
            c.close()
        logins = gw.events(mark, 'login')
        self.assertTrue(logins, 'no login line:\n' + gw.log()[mark:][-2000:])
        for e in logins:
            self.assertEqual(e.get('result'), 'temp', e['_line'])
        self.assertNotIn(PASSWORD, gw.log())


# -- passwords with 8-bit and special characters ------------------------------------

class SpecialPasswords(AuthTestCase):

    def user_pass(self, user):
        c = POP3TLS(self.gw.policy_port)
        try:
            self.assertTrue(c.cmd('USER %s' % user).startswith('+OK'))
            c.send(b'PASS ' + USERS[user].encode('utf-8') + b'\r\n')
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'PASS %r for %s: %r' % (USERS[user], user, st))
            self.check_mailbox(c, user)
        finally:
            self.quit(c)

    def auth_plain(self, user):
        c = POP3TLS(self.gw.policy_port)
        try:
            st = c.cmd('AUTH PLAIN %s' % sasl_plain(user, USERS[user]))
            self.assertTrue(st.startswith('+OK'), 'AUTH PLAIN %r for %s: %r'
                            % (USERS[user], user, st))
            self.check_mailbox(c, user)
        finally:
            self.quit(c)

    def test_utf8_password_user_pass(self):
        self.user_pass(UTF8_USER)

    def test_utf8_password_auth_plain(self):
        self.auth_plain(UTF8_USER)

    def test_quote_backslash_password_user_pass(self):
        self.user_pass(QUOTE_USER)

    def test_quote_backslash_password_auth_plain(self):
        self.auth_plain(QUOTE_USER)

    def test_special_passwords_through_curl_and_tls(self):
        for user in (UTF8_USER, QUOTE_USER):
            r = clients.curl('pop3://127.0.0.1:%d/1' % self.gw.policy_port, user, USERS[user],
                             login_options='AUTH=LOGIN')
            self.assertEqual(r.returncode, 0, 'curl AUTH=LOGIN as %s: exit %d %r'
                             % (user, r.returncode, r.stderr[-300:]))
            self.assertEqual(r.stdout, pop3_form(ITEMS[user][0]['stored']))
        if self.gw.pop3s_port is None:
            return
        c = POP3TLS(self.gw.pop3s_port, tls=self.ctx())
        try:
            self.assertTrue(c.cmd('USER %s' % UTF8_USER).startswith('+OK'))
            c.send(b'PASS ' + UTF8_PASSWORD.encode('utf-8') + b'\r\n')
            self.assertTrue(c.status().startswith('+OK'))
            self.check_mailbox(c, UTF8_USER)
        finally:
            self.quit(c)

    def test_utf8_password_is_not_transcoded(self):
        """The Latin-1 bytes of the same password are a different password."""
        src = need_alias('127.0.0.41')
        c = POP3TLS(self.gw.open_port, source=src, timeout=20)
        try:
            self.assertTrue(c.cmd('USER %s' % UTF8_USER).startswith('+OK'))
            c.send(b'PASS ' + UTF8_PASSWORD.encode('latin-1') + b'\r\n')
            st = c.status()
            self.assertTrue(st.startswith('-ERR'), 'Latin-1 form of the password accepted: %r'
                            % st)
        finally:
            c.close()


# -- last: nothing secret in the log ------------------------------------------------

@harness.skip_unless_popgate('popgate log')
@harness.run_last
class LogHygiene(AuthTestCase):
    """Over the log of every other test of the file."""

    def test_no_password_in_log(self):
        text = self.gw.log()
        self.assertIn('event=login', text, 'the other tests did not run?')
        for user, pw in USERS.items():
            if pw == 'secret':
                self.assertNotRegex(text, r'(?<![\w-])secret(?![\w-])',
                                    'a password is in popgate.log')
            else:
                self.assertNotIn(pw, text, 'the password of %s is in popgate.log' % user)
            self.assertNotIn(sasl_plain(user, pw), text)
            self.assertNotIn(b64(pw), text)
        self.assertNotIn(WRONG, text)
        self.assertNotIn(b64(WRONG), text)


if __name__ == '__main__':
    harness.main()
