#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TLS and SASL pass-through on the upstream (IMAP) side
(doc/imap-mapping.md sec. 2, 3.2, 21.6, 21.15):

* imaps:// and strict imap+starttls:// to a private Dovecot with
  ssl = required: the mail arrives intact, Dovecot logged TLS logins, and
  popgate logs the upstream protocol version and cipher;
* the certificate is verified by default: a certificate for another name
  and an unknown CA give -ERR [SYS/TEMP] with the reason in the log;
  verify = no connects anyway;
* against the scripted server: STARTTLS not offered, and data injected
  after the STARTTLS OK, fail before any credential is sent; the
  capabilities read after the handshake are the ones used;
* XOAUTH2 and OAUTHBEARER relayed as themselves, with and without SASL-IR,
  with the error challenge answered as each mechanism wants; and end to
  end against Dovecot's oauth2 passdb with a local introspection endpoint;
* an upstream that only speaks TLS 1.1 is refused (TLS 1.2 minimum).
"""

import base64
import json
import os
import re
import ssl
import sys
import socket
import threading
import time
import unittest
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from fake_imapd import FakeImapd, tls_server_context  # noqa: E402
from harness import POP3Strict, pop3_form  # noqa: E402
from pki import TestPKI  # noqa: E402

PASSWORD = 'Tls-Pw-4711'
USERS = {'alice': PASSWORD, 'bob': PASSWORD}
TOKENS = {'tok-alice-0123456789': 'alice'}   # introspection and the fake
BAD_TOKEN = 'tok-revoked-9876543210'
UIDVALIDITY = 1700000007
TIMEOUT = 5

FIX = None
DC = None           # ssl = required, oauth2 passdb, cert for localhost
DC_WRONG = None     # ssl = required, cert for wrong.example
OTHER_CA = None     # a CA that signed nothing we talk to
FAKE = None         # STARTTLS-capable scripted server with bearer tokens
INTROSPECT = None
EXPECTED = {}       # uid -> BODY.PEEK[] of alice's INBOX on DC


class Introspection(BaseHTTPRequestHandler):
    """RFC 7662 style token introspection as Dovecot's oauth2 passdb asks
    for it (introspection_mode = post: token=... in a form body)."""

    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        token = parse_qs(self.rfile.read(n).decode()).get('token', [''])[0]
        user = TOKENS.get(token)
        body = json.dumps({'active': True, 'username': user} if user
                          else {'active': False}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def xoauth2(user, token):
    return base64.b64encode(b'user=%s\x01auth=Bearer %s\x01\x01'
                            % (user.encode(), token.encode())).decode()


def oauthbearer(user, token):
    return base64.b64encode(b'n,a=%s,\x01host=localhost\x01port=110\x01'
                            b'auth=Bearer %s\x01\x01'
                            % (user.encode(), token.encode())).decode()


def corpus():
    return [raw for _, raw in mailseed.simple_corpus(3, 'tls')]


def setUpModule():
    global FIX, DC, DC_WRONG, OTHER_CA, FAKE, INTROSPECT
    FIX = harness.setup_module(dovecot=False)
    INTROSPECT = ThreadingHTTPServer(('127.0.0.1', 0), Introspection)
    threading.Thread(target=INTROSPECT.serve_forever, daemon=True).start()
    unittest.addModuleCleanup(INTROSPECT.server_close)
    unittest.addModuleCleanup(INTROSPECT.shutdown)
    DC = Dovecot(os.path.join(FIX.root, 'dovecot'), users=USERS, pop3=False, ssl=True,
                 oauth2_introspection_port=INTROSPECT.server_address[1])
    unittest.addModuleCleanup(DC.stop)
    DC.start()
    DC_WRONG = Dovecot(os.path.join(FIX.root, 'dovecot-wrong'), users=USERS, pop3=False,
                       ssl=True, ssl_cert_name='wrong.example')
    unittest.addModuleCleanup(DC_WRONG.stop)
    DC_WRONG.start()
    OTHER_CA = TestPKI(os.path.join(FIX.root, 'other-ca'), ca_name='other CA')
    m = DC.imap('alice')
    try:
        for raw in corpus() + [mailseed.big_message(300 * 1024, seed=8)]:
            mailseed.append(m, 'INBOX', raw)
        for uid in mailseed.uids(m):
            EXPECTED[uid] = mailseed.fetch_raw(m, uid)
    finally:
        m.logout()
    # The fake serves the certificate Dovecot has for localhost.
    FAKE = FakeImapd(users=USERS, messages=corpus(), uidvalidity=UIDVALIDITY,
                     tls_context=tls_server_context(DC.ssl_cert, DC.ssl_key),
                     tokens=TOKENS)
    unittest.addModuleCleanup(FAKE.stop)
    FAKE.start()


def gateway(url, ca_file=None, verify=None, timeout=TIMEOUT, **upstream):
    """popgate (one worker) in front of url; returns it once its start-up
    probe of the upstream has ended, so that it is not mistaken for a
    session."""
    lines = ['[global]', 'workers = 1', '',
             '[listener pop3]', 'address = 127.0.0.1:{port}', '',
             '[upstream]', 'url = %s' % url,
             'connect_timeout = %d' % timeout, 'command_timeout = %d' % timeout]
    if ca_file is not None:
        lines.append('ca_file = %s' % ca_file)
    if verify is not None:
        lines.append('verify = %s' % verify)
    lines += ['%s = %s' % kv for kv in upstream.items()]
    lines += ['', '[session]', 'auth_failure_delay = 0ms', '']
    pg = FIX.pop3_server(config_text='\n'.join(lines),
                         upstream_port=int(url.rsplit(':', 1)[1]))
    if not harness.wait_until(lambda: 'upstream-probe' in pg.log_text(), timeout * 2 + 2):
        raise AssertionError('no upstream-probe line:\n' + pg.log_tail())
    return pg


def last_login(pg):
    """The last session "login" log line of popgate."""
    logins = harness.log_events(pg.log_text(), 'login')
    return logins[-1]['_line'] if logins else ''


@harness.skip_unless_popgate('popgate upstream TLS')
class DovecotTLS(unittest.TestCase):
    def retrieve_all(self, pg):
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login('alice', PASSWORD)
        listing = c.list()
        self.assertEqual(len(listing), len(EXPECTED))
        for (n, size), uid in zip(listing, sorted(EXPECTED)):
            want = pop3_form(EXPECTED[uid])
            self.assertEqual(size, len(want), 'LIST %d' % n)
            self.assertEqual(c.retr(n), want, 'RETR %d' % n)
        self.assertTrue(c.quit().startswith('+OK'))

    def assert_tls_login(self, pg, dovecot_logins_before):
        line = last_login(pg)
        self.assertIn('result=ok', line)
        self.assertRegex(line, r'upstream_tls=TLSv1\.[23] upstream_cipher=\S+')
        # Dovecot trusts loopback ("secured") even in cleartext: its log
        # must say TLS for the logins popgate made (the log process writes
        # a moment later).
        new = harness.wait_until(lambda: DC.login_lines()[dovecot_logins_before:], 5)
        self.assertTrue(new, DC.log_tail())
        for l in new:
            self.assertIn('user=<alice>', l)
            self.assertRegex(l, r', TLS[,:]', l)
        self.assertNotIn(PASSWORD, pg.log_text())

    def test_imaps_retrieves_intact(self):
        pg = gateway('imaps://localhost:%d' % DC.imaps_port, ca_file=DC.ca_path)
        before = len(DC.login_lines())
        self.retrieve_all(pg)
        self.assert_tls_login(pg, before)

    def test_starttls_retrieves_intact(self):
        pg = gateway('imap+starttls://localhost:%d' % DC.imap_port, ca_file=DC.ca_path)
        before = len(DC.login_lines())
        self.retrieve_all(pg)
        self.assert_tls_login(pg, before)

    def expect_sys_temp(self, pg, *log_parts):
        # bob logs in nowhere else in this file: any Dovecot login of his
        # would be one that should not have happened.
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.ok('USER bob')
        st = c.cmd('PASS %s' % PASSWORD)
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
        line = last_login(pg)
        for part in log_parts:
            self.assertIn(part, line)
        self.assertNotIn(PASSWORD, pg.log_text())
        self.assertFalse([l for l in DC_WRONG.login_lines() + DC.login_lines()
                          if 'user=<bob>' in l])

    def test_wrong_host_name_is_refused(self):
        for url in ('imaps://localhost:%d' % DC_WRONG.imaps_port,
                    'imap+starttls://localhost:%d' % DC_WRONG.imap_port):
            with self.subTest(url=url):
                pg = gateway(url, ca_file=DC_WRONG.ca_path)
                self.expect_sys_temp(pg, 'upstream TLS handshake failed',
                                     'certificate verify failed', 'hostname mismatch')

    def test_unknown_ca_is_refused(self):
        pg = gateway('imaps://localhost:%d' % DC.imaps_port, ca_file=OTHER_CA.ca_cert)
        self.expect_sys_temp(pg, 'upstream TLS handshake failed',
                             'certificate verify failed')

    def test_verify_no_connects_anyway(self):
        pg = gateway('imaps://localhost:%d' % DC_WRONG.imaps_port,
                     ca_file=OTHER_CA.ca_cert, verify='no')
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login('alice', PASSWORD)
        self.assertEqual(c.stat()[0], 0)
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertRegex(last_login(pg), r'result=ok .*upstream_tls=TLSv1\.[23]')
        # Turning verification off is said at start and again per session.
        log = pg.log_text()
        self.assertRegex(log, r'level=warn event=upstream-tls-unverified upstream=default '
                         r'url=imaps://\S+ reason="verify = no')
        self.assertRegex(log, r'level=warn event=upstream-tls-unverified sid=\S+ upstream=')


class FakeBase(unittest.TestCase):
    def setUp(self):
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)
        # Connections opened before this test (an earlier session's or a
        # start-up probe's LOGOUT may still arrive) are not its wire.
        self.first_conn = FAKE.connections + 1

    def wire(self):
        """Command lines this test's connections sent, without tags and the
        fake's notes."""
        return [l.split(' ', 1)[1] if ' ' in l else '' for n, l in list(FAKE.log)
                if n >= self.first_conn and not l.startswith('* ')]

    def assertNoCredentials(self):
        cmds = self.wire()
        self.assertFalse([l for l in cmds if l.startswith(('LOGIN', 'AUTHENTICATE'))], cmds)
        self.assertEqual(FAKE.auths, [])


@harness.skip_unless_popgate('popgate upstream STARTTLS')
class FakeStartTLS(FakeBase):
    @classmethod
    def setUpClass(cls):
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)
        cls.pg = gateway('imap+starttls://localhost:%d' % FAKE.port, ca_file=DC.ca_path)

    def pass_reply(self):
        c = POP3Strict(self.pg.port)
        self.addCleanup(c.close)
        c.ok('USER alice')
        return c, c.cmd('PASS %s' % PASSWORD)

    def test_starttls_not_offered_fails_before_credentials(self):
        FAKE.faults['caps_pre'] = 'IMAP4rev1 SASL-IR AUTH=PLAIN'
        _, st = self.pass_reply()
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
        self.assertNoCredentials()
        self.assertNotIn('STARTTLS', self.wire())
        self.assertIn('upstream does not offer STARTTLS', last_login(self.pg))

    def test_data_after_starttls_ok_fails_before_credentials(self):
        for inject in ('2 OK injected\r\n',
                       '* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n'):
            with self.subTest(inject=inject):
                FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)
                FAKE.faults['starttls_inject'] = inject
                _, st = self.pass_reply()
                self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
                self.assertIn('STARTTLS', self.wire())
                self.assertNoCredentials()
                # No handshake either: popgate closed at the OK.
                harness.wait_until(lambda: any('* tls' in l for _, l in FAKE.log), 5)
                self.assertFalse([l for _, l in FAKE.log if l.startswith('* tls TLS')],
                                 FAKE.log)
                self.assertIn('upstream sent data after STARTTLS OK', last_login(self.pg))

    def test_capabilities_after_tls_replace_those_before(self):
        # Before TLS LOGIN is disabled and PLAIN missing (a login would be
        # impossible); after TLS both are fine: LOGIN is used.
        FAKE.faults['caps_pre'] = 'IMAP4rev1 STARTTLS LOGINDISABLED'
        FAKE.faults['caps_tls'] = 'IMAP4rev1 LITERAL+'
        c, st = self.pass_reply()
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual(c.stat()[0], 3)
        self.assertEqual(c.retr(2), pop3_form(corpus()[1]))
        self.assertTrue(c.quit().startswith('+OK'))
        cmds = self.wire()
        self.assertEqual(cmds[:3], ['STARTTLS', 'CAPABILITY', 'LOGIN ***'], cmds)
        self.assertRegex(last_login(self.pg), r'upstream_tls=TLSv1\.[23]')

    def test_capabilities_before_tls_are_forgotten(self):
        # Before TLS: LOGIN allowed and SASL-IR; after TLS: LOGINDISABLED
        # and no SASL-IR, so AUTHENTICATE PLAIN waits for the "+".
        FAKE.faults['caps_pre'] = 'IMAP4rev1 STARTTLS SASL-IR AUTH=PLAIN'
        FAKE.faults['caps_tls'] = 'IMAP4rev1 LOGINDISABLED AUTH=PLAIN'
        c, st = self.pass_reply()
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual(c.stat()[0], 3)
        self.assertTrue(c.quit().startswith('+OK'))
        cmds = self.wire()
        self.assertIn('AUTHENTICATE ***', cmds)
        self.assertFalse([l for l in cmds if l.startswith('LOGIN')], cmds)


@harness.skip_unless_popgate('popgate upstream TLS timeouts')
class HandshakeTimeouts(FakeBase):
    """The connect timeout covers the implicit TLS handshake, the command
    timeout STARTTLS and its handshake."""

    def expect_timeout(self, pg):
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.ok('USER alice')
        t0 = time.monotonic()
        st = c.cmd('PASS %s' % PASSWORD)
        dt = time.monotonic() - t0
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
        self.assertGreater(dt, 0.8)
        self.assertLess(dt, 5)
        self.assertIn('upstream TLS handshake timeout', last_login(pg))
        self.assertNoCredentials()

    def test_implicit_tls_handshake_timeout(self):
        # A cleartext server that never answers the ClientHello.
        FAKE.faults['no_greeting'] = True
        self.expect_timeout(gateway('imaps://localhost:%d' % FAKE.port,
                                    ca_file=DC.ca_path, timeout=1))

    def test_starttls_handshake_timeout(self):
        FAKE.faults['starttls_hang'] = True
        self.expect_timeout(gateway('imap+starttls://localhost:%d' % FAKE.port,
                                    ca_file=DC.ca_path, timeout=1))
        self.assertIn('STARTTLS', self.wire())


@harness.skip_unless_popgate('popgate SASL relay')
class BearerRelay(FakeBase):
    """XOAUTH2 / OAUTHBEARER from the POP3 client to the scripted server."""

    CAPS = 'IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER'

    @classmethod
    def setUpClass(cls):
        FAKE.reset(corpus(), uidvalidity=UIDVALIDITY)
        FAKE.faults['caps_pre'] = cls.CAPS
        cls.pg = gateway('imap://127.0.0.1:%d' % FAKE.port)

    def setUp(self):
        super().setUp()
        self.use_caps(self.CAPS)

    def use_caps(self, caps):
        """The upstream offers caps from now on. The POP3 side offers the
        bearer mechanisms the upstream had at the last login (or start-up
        probe), so a password login teaches it the new list."""
        FAKE.faults['caps_pre'] = caps
        c = POP3Strict(self.pg.port)
        try:
            c.login('alice', PASSWORD)
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        harness.wait_until(lambda: any(l.endswith('LOGOUT') for _, l in FAKE.log), 2)
        del FAKE.log[:]
        del FAKE.auths[:]

    def auth(self, mech, msg):
        c = POP3Strict(self.pg.port)
        self.addCleanup(c.close)
        return c, c.cmd('AUTH %s %s' % (mech, msg))

    def test_xoauth2_with_sasl_ir(self):
        c, st = self.auth('XOAUTH2', xoauth2('alice', 'tok-alice-0123456789'))
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual(c.stat()[0], 3)
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertEqual(len(FAKE.auths), 1, FAKE.auths)
        a = FAKE.auths[0]
        self.assertEqual((a['mech'], a['user'], a['ok'], a['ir']),
                         ('XOAUTH2', 'alice', True, True))
        self.assertIn('AUTHENTICATE XOAUTH2 ***', self.wire())
        self.assertNotIn('tok-alice', self.pg.log_text())

    def test_oauthbearer_without_sasl_ir(self):
        self.use_caps('IMAP4rev1 AUTH=OAUTHBEARER')
        c, st = self.auth('OAUTHBEARER', oauthbearer('alice', 'tok-alice-0123456789'))
        self.assertTrue(st.startswith('+OK'), st)
        self.assertEqual(c.retr(1), pop3_form(corpus()[0]))
        self.assertTrue(c.quit().startswith('+OK'))
        a = FAKE.auths[0]
        self.assertEqual((a['mech'], a['user'], a['ok'], a['ir']),
                         ('OAUTHBEARER', 'alice', True, False))

    def test_bad_token_error_challenge_answered_per_mechanism(self):
        for mech, make, answer in (('XOAUTH2', xoauth2, ''),
                                   ('OAUTHBEARER', oauthbearer, 'AQ==')):
            with self.subTest(mech=mech):
                del FAKE.auths[:]
                _, st = self.auth(mech, make('alice', BAD_TOKEN))
                self.assertTrue(st.startswith('-ERR [AUTH]'), st)
                self.assertEqual(len(FAKE.auths), 1, FAKE.auths)
                self.assertFalse(FAKE.auths[0]['ok'])
                self.assertEqual(FAKE.auths[0]['answer'], answer)
                self.assertIn('error challenge', last_login(self.pg))
        self.assertNotIn(BAD_TOKEN, self.pg.log_text())

    def test_upstream_without_the_mechanism(self):
        # The upstream dropped XOAUTH2 since the last login: the POP3 side
        # still offers it, the relay must not try it.
        FAKE.faults['caps_pre'] = 'IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=OAUTHBEARER'
        _, st = self.auth('XOAUTH2', xoauth2('alice', 'tok-alice-0123456789'))
        self.assertTrue(st.startswith('-ERR [AUTH]'), st)
        self.assertFalse([l for l in self.wire() if l.startswith('AUTHENTICATE')],
                         self.wire())
        self.assertIn('upstream does not offer AUTH=XOAUTH2', last_login(self.pg))
        # That login read the new list: XOAUTH2 is no longer offered.
        c = POP3Strict(self.pg.port)
        self.addCleanup(c.close)
        st, capa = c.multi('CAPA')
        sasl = [l for l in capa.decode().split('\r\n') if l.startswith('SASL')]
        self.assertTrue(sasl and 'OAUTHBEARER' in sasl[0] and 'XOAUTH2' not in sasl[0],
                        capa)


@harness.skip_unless_popgate('popgate SASL relay')
class BearerDovecot(unittest.TestCase):
    """End to end: Dovecot's oauth2 passdb checks the relayed token with
    the introspection endpoint of this file, over implicit TLS."""

    @classmethod
    def setUpClass(cls):
        cls.pg = gateway('imaps://localhost:%d' % DC.imaps_port, ca_file=DC.ca_path)

    def test_xoauth2_and_oauthbearer_log_in(self):
        uid = sorted(EXPECTED)[0]
        for mech, make in (('XOAUTH2', xoauth2), ('OAUTHBEARER', oauthbearer)):
            with self.subTest(mech=mech):
                before = len(DC.login_lines())
                c = POP3Strict(self.pg.port)
                self.addCleanup(c.close)
                st = c.cmd('AUTH %s %s' % (mech, make('alice', 'tok-alice-0123456789')))
                self.assertTrue(st.startswith('+OK'), st)
                self.assertEqual(c.retr(1), pop3_form(EXPECTED[uid]))
                self.assertTrue(c.quit().startswith('+OK'))
                new = harness.wait_until(
                    lambda: [l for l in DC.login_lines()[before:]
                             if 'method=%s' % mech in l], 5)
                self.assertEqual(len(new), 1, DC.log_tail())
                self.assertIn('user=<alice>', new[0])
                self.assertRegex(new[0], r', TLS[,:]')

    def test_bad_token_is_auth(self):
        c = POP3Strict(self.pg.port)
        self.addCleanup(c.close)
        st = c.cmd('AUTH XOAUTH2 %s' % xoauth2('alice', BAD_TOKEN))
        self.assertTrue(st.startswith('-ERR [AUTH]'), st)
        self.assertNotIn(BAD_TOKEN, self.pg.log_text())


@harness.skip_unless_popgate('popgate upstream TLS')
class VersionFloor(unittest.TestCase):
    """TLS 1.2 at least towards the upstream (doc/imap-mapping.md sec. 2)."""

    def fake(self, maximum):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            ctx = tls_server_context(DC.ssl_cert, DC.ssl_key,
                                     minimum=ssl.TLSVersion.TLSv1, maximum=maximum)
        f = FakeImapd(users=USERS, messages=corpus(), uidvalidity=UIDVALIDITY,
                      implicit_tls=True, tls_context=ctx)
        self.addCleanup(f.stop)
        return f.start()

    def test_tls11_upstream_is_refused(self):
        f = self.fake(ssl.TLSVersion.TLSv1_1)
        # The fixture really speaks TLS 1.1 to a client that allows it.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(DC.ca_path)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
        with socket.create_connection(('127.0.0.1', f.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname='localhost') as s:
                self.assertEqual(s.version(), 'TLSv1.1')
        pg = gateway('imaps://localhost:%d' % f.port, ca_file=DC.ca_path)
        f.reset(corpus(), uidvalidity=UIDVALIDITY)
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.ok('USER alice')
        st = c.cmd('PASS %s' % PASSWORD)
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
        self.assertIn('upstream TLS handshake failed', last_login(pg))
        self.assertFalse([l for l in f.commands() if l.startswith('LOGIN')])

    def test_tls12_upstream_is_accepted(self):
        f = self.fake(ssl.TLSVersion.TLSv1_2)
        pg = gateway('imaps://localhost:%d' % f.port, ca_file=DC.ca_path)
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login('alice', PASSWORD)
        self.assertEqual(c.stat()[0], 3)
        self.assertTrue(c.quit().startswith('+OK'))
        self.assertIn('upstream_tls=TLSv1.2', last_login(pg))


@harness.skip_unless_popgate('popgate upstream client certificate')
class ClientCertificate(unittest.TestCase):
    """[upstream] client_cert/client_key: an upstream that requires a
    client certificate gets one; without it the login fails as TEMP."""

    def fake(self):
        ctx = tls_server_context(DC.ssl_cert, DC.ssl_key)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(DC.ca_path)
        f = FakeImapd(users=USERS, messages=corpus(), uidvalidity=UIDVALIDITY,
                      implicit_tls=True, tls_context=ctx)
        self.addCleanup(f.stop)
        return f.start()

    def test_client_certificate_presented(self):
        f = self.fake()
        cert, key = DC.pki.cert('popgate-client', eku='clientAuth')
        pg = gateway('imaps://localhost:%d' % f.port, ca_file=DC.ca_path,
                     client_cert=cert, client_key=key)
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.login('alice', PASSWORD)
        self.assertEqual(c.stat()[0], 3)
        self.assertTrue(c.quit().startswith('+OK'))

    def test_without_client_certificate_fails_temp(self):
        f = self.fake()
        pg = gateway('imaps://localhost:%d' % f.port, ca_file=DC.ca_path)
        c = POP3Strict(pg.port)
        self.addCleanup(c.close)
        c.ok('USER alice')
        st = c.cmd('PASS %s' % PASSWORD)
        self.assertTrue(st.startswith('-ERR [SYS/TEMP]'), st)
        self.assertFalse([l for l in f.commands() if l.startswith('LOGIN')])


if __name__ == '__main__':
    harness.main()
