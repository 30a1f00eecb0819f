#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TLS on the POP3 side: POP3S (implicit TLS) and STLS sessions with curl,
openssl s_client, fetchmail, mpop and a strict raw client, against popgate
in front of a private Dovecot whose IMAP is reached over TLS (upstream
imaps:// and imap+starttls://).  Retrieved messages must equal IMAP
BODY.PEEK[].  Also: a TLS 1.0 session on a legacy-profile listener and its
refusal on a default-profile one, and the STLS state rules (CAPA shows STLS
only where it would work, STLS under TLS is -ERR, plaintext pipelined after
STLS is discarded, state from before STLS is forgotten).

doc/pop3-conformance.md sections 1.4-1.6, 6, 7, 17.4.

POPGATE_TARGET=dovecot-pop3: the same clients against Dovecot's own POP3
(STLS on its pop3 port, and a pop3s port this file adds), to prove the
client invocations; checks of popgate's log and popgate-only listeners skip.
"""

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import clients  # noqa: E402
import harness  # noqa: E402
import mailseed  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from fake_imapd import tls_server_context  # noqa: E402
from harness import POP3TLS, POP3Strict, dovecot_mode, pop3_form  # noqa: E402
from pki import TestPKI  # noqa: E402

USER, PASSWORD = 'alice', 'secret'
FIX = None
DC = None
ITEMS = None
PKI_CERT = PKI_KEY = PKI_CA = None
_gateways = harness.GatewayCache()     # upstream mode -> Gateway


def setUpModule():
    global FIX, DC, ITEMS, PKI_CERT, PKI_KEY, PKI_CA
    FIX = harness.setup_module(dovecot=False)
    # Its pop3s port (implicit TLS) and its STLS port prove the client
    # invocations in dovecot mode.
    DC = Dovecot(os.path.join(FIX.root, 'dovecot'), ssl=True, pop3s=True)
    FIX.dovecot = DC        # the fixture stops it and prints its log tail
    DC.start()
    corpus = mailseed.simple_corpus(2, tag='tls') + [
        c for c in mailseed.standard_corpus()
        if c[0] in ('dot-torture', 'no-final-newline', 'utf8-headers')]
    imap = DC.imap(USER)
    try:
        ITEMS = mailseed.seed(imap, corpus)
    finally:
        imap.logout()
    pki = TestPKI(os.path.join(FIX.root, 'popgate-pki'), ca_name='popgate client-side CA')
    PKI_CERT, PKI_KEY = pki.cert('localhost')
    PKI_CA = pki.ca_cert


class Gateway(harness.LoggedGateway):
    """The POP3 endpoints under test: popgate's starttls, implicit and
    legacy listeners, or Dovecot's pop3/pop3s in dovecot mode."""

    def __init__(self, stls_port, pop3s_port, legacy_port, ca, pg=None):
        super().__init__(pg)
        self.stls_port = stls_port
        self.pop3s_port = pop3s_port
        self.legacy_port = legacy_port
        self.ca = ca

    def ctx(self, **kw):
        return harness.client_tls_context(self.ca, **kw)


def popgate_config(upstream_url, stls_port, pop3s_port, legacy_port):
    return harness.popgate_conf([
        ('global', dict(workers=1)),
        ('tls_profile default', harness.tls_profile(PKI_CERT, PKI_KEY,
                                                    min_version='TLSv1.2')),
        ('tls_profile legacy', harness.tls_profile(PKI_CERT, PKI_KEY, min_version='TLSv1',
                                                   security_level=0)),
        ('listener pop3', harness.listener(stls_port, 'starttls', tls_profile='default')),
        ('listener pop3s', harness.listener(pop3s_port, 'implicit')),
        ('listener legacy', harness.listener(legacy_port, 'implicit', tls_profile='legacy')),
        ('upstream', dict(url=upstream_url, ca_file=DC.ca_path, verify='yes')),
    ])


def gateway(mode):
    """The Gateway for upstream mode 'imaps' or 'starttls' (started once);
    fails the calling test if popgate does not start."""
    if dovecot_mode():
        if mode != 'imaps':
            harness.skip_in_dovecot_mode('upstream TLS modes are popgate-only')
        return Gateway(DC.pop3_port, DC.pop3s_port, None, DC.ca_path)

    def start():
        stls_port, pop3s_port, legacy_port = harness.free_ports(3)
        url = {'imaps': 'imaps://localhost:%d' % DC.imaps_port,
               'starttls': 'imap+starttls://localhost:%d' % DC.imap_port}[mode]
        pg = harness.start_configured_popgate(
            mode, popgate_config(url, stls_port, pop3s_port, legacy_port), stls_port)
        return Gateway(stls_port, pop3s_port, legacy_port, PKI_CA, pg)
    return _gateways.get('upstream ' + mode, start)


def expected_total():
    """STAT octets: the sum of the unstuffed RETR sizes.  Dovecot's own POP3
    leaves out the CRLF it adds to a message without a final newline (known
    deviation, doc/pop3-conformance.md 3.4)."""
    n = 0
    for i in ITEMS:
        n += len(pop3_form(i['stored']))
        if dovecot_mode() and not i['stored'].endswith(b'\n'):
            n -= 2
    return n


class TLSTestCase(clients.ClientChecks, harness.WatchServers, unittest.TestCase):
    maxDiff = 2000
    UPSTREAM = 'imaps'

    def setUp(self):
        self.gw = gateway(self.UPSTREAM)
        super().setUp()

    SCRIPT = ('CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nRETR 1\r\nRETR 3\r\nQUIT\r\n'
              % (USER, PASSWORD)).encode()

    def check_s_client_session(self, r, with_greeting, retr=(1, 3), verified=True,
                               what='openssl s_client'):
        """r: an `openssl s_client` run of a script CAPA, USER, PASS, STAT,
        RETR n for n in retr, QUIT (SCRIPT by default): every reply must be
        right and nothing may follow the QUIT reply.  verified: the
        certificate chain was verified (verify return:1)."""
        err = r.stderr.decode('utf-8', 'replace')
        self.assertEqual(r.returncode, 0, '%s: exit %d\n%s' % (what, r.returncode, err[-2000:]))
        if verified:
            self.assertIn('verify return:1', err)
        c = POP3Strict.from_bytes(r.stdout, with_greeting)
        if with_greeting:
            self.assertTrue(c.greeting.startswith('+OK'), c.greeting)
        st = c.status()
        self.assertTrue(st.startswith('+OK'), 'CAPA: %r' % st)
        capa = c.read_data().decode('latin-1').split('\r\n')
        self.assertNotIn('STLS', capa, 'STLS offered under TLS')
        self.assertIn('USER', capa)
        self.assertTrue(c.status().startswith('+OK'), 'USER')
        st = c.status()
        self.assertTrue(st.startswith('+OK'), '%s PASS: %r' % (what, st))
        st = c.status()
        total = expected_total()
        self.assertEqual(st, '+OK %d %d' % (len(ITEMS), total), 'STAT')
        for n in retr:
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'RETR %d: %r' % (n, st))
            self.assertBytesEqual(c.read_data(), pop3_form(ITEMS[n - 1]['stored']),
                                  's_client RETR %d' % n)
        self.assertTrue(c.status().startswith('+OK'), 'QUIT')
        self.assertEqual(c.pending(), b'', 'bytes after the QUIT reply')

    def assertTLSLogged(self, mark, listener, tls_mode, sni='localhost', count=1,
                        version=None):
        """popgate logged, since mark, >= count sessions on `listener` with
        tls=tls_mode, and a `tls` line (version/cipher/sni) for each."""
        if self.gw.pg is None:
            return []
        found = []

        def check():
            starts = [e for e in self.gw.events(mark, 'session-start')
                      if e.get('listener') == listener]
            tls = {e.get('sid'): e for e in self.gw.events(mark, 'tls')}
            found[:] = [(s, tls.get(s.get('sid'))) for s in starts]
            return len(found) >= count and all(t is not None for _, t in found)
        harness.wait_until(check, timeout=5)
        self.assertGreaterEqual(len(found), count, 'no session-start listener=%s in the '
                                'popgate log:\n%s' % (listener, self.gw.log()[mark:][-3000:]))
        for start, t in found:
            self.assertEqual(start.get('tls'), tls_mode, start['_line'])
            self.assertIsNotNone(t, 'no "tls sid=%s" line for %s\n%s'
                                 % (start.get('sid'), start['_line'], self.gw.log()[mark:][-3000:]))
            if version is None:
                self.assertIn(t.get('version'), ('TLSv1.2', 'TLSv1.3'), t['_line'])
            else:
                self.assertEqual(t.get('version'), version, t['_line'])
            self.assertTrue(t.get('cipher') and t.get('cipher') != '-', t['_line'])
            if sni is not None:
                self.assertEqual(t.get('sni'), sni, t['_line'])
        return found


# -- the clients -------------------------------------------------------------

class ClientsMixin:
    """Every client, implicit TLS and STLS; run once per upstream mode."""

    # curl ---------------------------------------------------------------
    def curl(self, url, *extra):
        out, err = self.curl_ok(url, USER, PASSWORD, *extra, verbose=True, ipv4=True,
                                cacert=self.gw.ca)
        self.assertRegex(err, r'SSL connection using TLSv1\.[23] ',
                         'curl did not use TLS 1.2+:\n' + err[-3000:])
        return out, err

    def check_curl_every_message(self, url, listener, tls_mode, *extra):
        """curl URL/N for every message: the data equals the upstream's,
        STLS is sent exactly on the starttls listener, and popgate logs a
        TLS session on `listener` for each."""
        mark = self.gw.mark()
        what = ' '.join(('curl',) + extra)
        for n, item in enumerate(ITEMS, 1):
            out, err = self.curl('%s/%d' % (url, n), *extra)
            if tls_mode == 'starttls':
                self.assertIn('> STLS', err, '%s did not send STLS' % what)
            else:
                self.assertNotIn('> STLS', err)
            self.assertBytesEqual(out, pop3_form(item['stored']),
                                  '%s %s/%d (%s)' % (what, url, n, item['name']))
        self.assertTLSLogged(mark, listener, tls_mode, count=len(ITEMS))

    def test_curl_pop3s(self):
        self.check_curl_every_message('pop3s://localhost:%d' % self.gw.pop3s_port,
                                      'pop3s', 'implicit')

    def test_curl_stls_ssl_reqd(self):
        self.check_curl_every_message('pop3://localhost:%d' % self.gw.stls_port,
                                      'pop3', 'starttls', '--ssl-reqd')

    # openssl s_client ---------------------------------------------------
    def test_openssl_s_client_implicit(self):
        mark = self.gw.mark()
        r = clients.s_client(self.gw.pop3s_port, self.gw.ca, self.SCRIPT, verify=True)
        self.check_s_client_session(r, with_greeting=True)
        self.assertTLSLogged(mark, 'pop3s', 'implicit')

    def test_openssl_s_client_starttls(self):
        mark = self.gw.mark()
        r = clients.s_client(self.gw.stls_port, self.gw.ca, self.SCRIPT, starttls=True,
                             verify=True)
        # with -starttls the greeting and the STLS exchange are not on stdout
        self.check_s_client_session(r, with_greeting=False)
        self.assertTLSLogged(mark, 'pop3', 'starttls')

    # fetchmail and mpop ---------------------------------------------------
    def check_download(self, client, listener, tls_mode, tls_pattern, stls_line):
        """Run client (a clients.Fetchmail or clients.Mpop): it must exit 0,
        use TLS 1.2+ (tls_pattern in its output), send STLS (stls_line)
        exactly on the starttls listener and deliver every message intact;
        popgate logs its TLS session on `listener`."""
        tool = client.argv[0]
        mark = self.gw.mark()
        code, text = client.run()
        self.assertEqual(code, 0, '%s: exit %d\n%s' % (tool, code, text[-3000:]))
        self.assertRegex(text, tls_pattern, '%s did not use TLS 1.2+:\n%s' % (tool, text[-3000:]))
        files = client.delivered()
        self.assertEqual(len(files), len(ITEMS), text[-3000:])
        self.check_delivered(files, tool, ITEMS)
        if tls_mode == 'starttls':
            self.assertIn(stls_line, text, '%s did not use STLS' % tool)
        else:
            self.assertNotIn(stls_line, text)
        self.assertTLSLogged(mark, listener, tls_mode)

    def fetchmail(self, port, tls_options, listener, tls_mode):
        client = clients.Fetchmail(FIX.subdir('fetchmail'), 'localhost', port, USER, PASSWORD,
                                   tls_options + ' sslcertck sslcertfile "%s"' % self.gw.ca,
                                   verbose=True)
        self.check_download(client, listener, tls_mode, r'SSL/TLS: using protocol TLSv1\.[23]',
                            'POP3> STLS')

    def test_fetchmail_ssl(self):
        self.fetchmail(self.gw.pop3s_port, 'ssl', 'pop3s', 'implicit')

    def test_fetchmail_stls(self):
        self.fetchmail(self.gw.stls_port, 'sslproto "tls1.2+"', 'pop3', 'starttls')

    def mpop(self, port, listener, tls_mode):
        client = clients.Mpop(FIX.subdir('mpop'), 'localhost', port, USER, PASSWORD,
                              ca=self.gw.ca, starttls=(tls_mode == 'starttls'),
                              only_new=False, args=['-d'])
        self.check_download(client, listener, tls_mode, r'\(TLS1\.[23]\)', '--> STLS')

    def test_mpop_tls(self):
        self.mpop(self.gw.pop3s_port, 'pop3s', 'implicit')

    def test_mpop_starttls(self):
        self.mpop(self.gw.stls_port, 'pop3', 'starttls')

    # the upstream really was TLS ----------------------------------------
    def test_upstream_login_is_tls(self):
        log_mark = len(DC.log_text())
        c = POP3TLS(self.gw.pop3s_port, tls=self.gw.ctx())
        try:
            c.login(USER, PASSWORD)
            self.assertEqual(c.stat()[0], len(ITEMS))
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        if self.gw.pg is None:
            return
        logins = []

        def check():
            logins[:] = [l for l in DC.log_text()[log_mark:].splitlines()
                         if 'imap-login: Info: Login: user=<%s>' % USER in l]
            return logins
        harness.wait_until(check, timeout=5)
        self.assertTrue(logins, 'no IMAP login by popgate in the Dovecot log')
        for l in logins:
            self.assertRegex(l, r', TLS[,:]', 'popgate logged in upstream without TLS '
                             '(upstream %s): %s' % (self.UPSTREAM, l))


class ClientsUpstreamImaps(ClientsMixin, TLSTestCase):
    UPSTREAM = 'imaps'


class ClientsUpstreamStarttls(ClientsMixin, TLSTestCase):
    UPSTREAM = 'starttls'


# -- STLS and CAPA rules -------------------------------------------------------

class StlsRules(TLSTestCase):

    def test_capa_stls_only_before_tls_on_starttls_listener(self):
        mark = self.gw.mark()
        c = POP3TLS(self.gw.stls_port)
        try:
            self.assertIn('STLS', c.capa(), 'STLS missing before TLS on the starttls listener')
            c.stls(self.gw.ctx())
            self.assertIn(c.tls_version(), ('TLSv1.2', 'TLSv1.3'))
            capa = c.capa()
            self.assertNotIn('STLS', capa, 'STLS still offered after STLS')
            self.assertIn('USER', capa)
            st = c.cmd('STLS')
            self.assertTrue(st.startswith('-ERR'), 'STLS under TLS: %r' % st)
            c.login(USER, PASSWORD)
            self.assertNotIn('STLS', c.capa(), 'STLS offered in TRANSACTION')
            st = c.cmd('STLS')
            self.assertTrue(st.startswith('-ERR'), 'STLS in TRANSACTION: %r' % st)
            self.assertEqual(c.stat()[0], len(ITEMS), 'session usable after -ERR to STLS')
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        self.assertTLSLogged(mark, 'pop3', 'starttls')

    def test_implicit_listener_never_offers_stls(self):
        mark = self.gw.mark()
        c = POP3TLS(self.gw.pop3s_port, tls=self.gw.ctx())
        try:
            self.assertTrue(c.greeting.startswith('+OK'), c.greeting)
            self.assertIn(c.tls_version(), ('TLSv1.2', 'TLSv1.3'))
            # conformance 1.4: AUTHORIZATION first, even over TLS
            st = c.cmd('STAT')
            self.assertTrue(st.startswith('-ERR'), 'STAT before login: %r' % st)
            self.assertNotIn('STLS', c.capa(), 'STLS offered on the implicit listener')
            st = c.cmd('STLS')
            self.assertTrue(st.startswith('-ERR'), 'STLS on the implicit listener: %r' % st)
            c.login(USER, PASSWORD)
            self.assertNotIn('STLS', c.capa())
            self.assertTrue(c.quit().startswith('+OK'))
            self.assertTrue(c.expect_eof(5), 'no close after QUIT')
        finally:
            c.close()
        self.assertTLSLogged(mark, 'pop3s', 'implicit')

    def test_tls12_and_tls13_both_work(self):
        mark = self.gw.mark()
        for lo, hi, want in ((None, ssl.TLSVersion.TLSv1_2, 'TLSv1.2'),
                             (ssl.TLSVersion.TLSv1_3, None, 'TLSv1.3')):
            c = POP3TLS(self.gw.pop3s_port, tls=self.gw.ctx(minimum=lo, maximum=hi))
            try:
                self.assertEqual(c.tls_version(), want)
                c.login(USER, PASSWORD)
                self.assertEqual(c.stat()[0], len(ITEMS))
                self.assertTrue(c.quit().startswith('+OK'))
            finally:
                c.close()
        found = self.assertTLSLogged(mark, 'pop3s', 'implicit', count=2)
        if found:
            self.assertEqual(sorted(t.get('version') for _, t in found[:2]),
                             ['TLSv1.2', 'TLSv1.3'])

    @harness.skip_unless_popgate('popgate log format')
    def test_no_sni_is_logged_as_dash(self):
        mark = self.gw.mark()
        ctx = self.gw.ctx()
        ctx.check_hostname = False
        c = POP3TLS(self.gw.pop3s_port, tls=ctx, server_hostname=None)
        try:
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()
        self.assertTLSLogged(mark, 'pop3s', 'implicit', sni='-')

    @harness.skip_unless_popgate('Dovecot takes pipelined bytes after STLS as handshake '
                                 'data and drops the connection')
    def test_plaintext_pipelined_after_stls_is_discarded(self):
        c = POP3TLS(self.gw.stls_port)
        try:
            c.send('STLS\r\nCAPA\r\n')
            st = c.status()
            self.assertTrue(st.startswith('+OK'), 'STLS: %r' % st)
            # nothing may follow the +OK in plaintext (no CAPA reply in clear)
            c.start_tls(self.gw.ctx())
            got = c.silent_for(1.5)
            self.assertIs(got, True, 'the first thing read under TLS was not sent under TLS '
                          '(the pipelined plaintext CAPA was executed): %r' % (got,))
            capa = c.capa()
            self.assertNotIn('STLS', capa)
            got = c.silent_for(1.0)
            self.assertIs(got, True, 'extra bytes after one CAPA reply under TLS: %r' % (got,))
            c.login(USER, PASSWORD)
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()

    @harness.skip_unless_popgate('Dovecot keeps a USER sent before STLS')
    def test_user_before_stls_is_forgotten(self):
        c = POP3TLS(self.gw.stls_port)
        try:
            st = c.cmd('USER %s' % USER)
            self.assertTrue(st.startswith(('+OK', '-ERR')), st)
            c.stls(self.gw.ctx())
            st = c.cmd('PASS %s' % PASSWORD)
            self.assertTrue(st.startswith('-ERR'), 'PASS after STLS used a USER sent before '
                            'TLS (conformance 6.5): %r' % st)
            c.login(USER, PASSWORD)
            self.assertTrue(c.quit().startswith('+OK'))
        finally:
            c.close()

    def test_stls_then_garbage_closes(self):
        mark = self.gw.mark()
        c = POP3TLS(self.gw.stls_port)
        try:
            self.assertTrue(c.cmd('STLS').startswith('+OK'))
            c.send(b'USER alice\r\nPASS secret\r\nSTAT\r\n' + b'\x00' * 64 + b'\r\n')
            c.sock.settimeout(10)
            data = b''
            try:
                while True:
                    chunk = c.sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, socket.timeout) as e:
                if isinstance(e, socket.timeout):
                    self.fail('connection still open 10 s after a failed handshake; got %r'
                              % data[:200])
            self.assertNotIn(b'+OK', data, 'plaintext commands ran after STLS: %r' % data[:200])
        finally:
            c.close()
        if self.gw.pg is not None:
            ok = harness.wait_until(lambda: self.gw.events(mark, 'tls-failed'), timeout=5)
            self.assertTrue(ok, 'no tls-failed line after a bad handshake:\n'
                            + self.gw.log()[mark:][-2000:])
            self.assertTrue(ok[0].get('reason'), ok[0]['_line'])


@harness.skip_unless_popgate('handshake timeout of popgate')
class HandshakeTimeout(TLSTestCase):
    """A client that connects to a POP3S port and never finishes the
    handshake is closed after the handshake limit (never above
    login_timeout), with its own reason; it does not hold the slot for the
    whole login timeout as a 'client stopped reading'."""

    def test_silent_client_is_closed(self):
        port, = harness.free_ports(1)
        pg = harness.start_configured_popgate('handshake', harness.popgate_conf([
            ('global', dict(workers=1)),
            ('tls_profile default', harness.tls_profile(PKI_CERT, PKI_KEY)),
            ('listener pop3s', harness.listener(port, 'implicit')),
            ('upstream', dict(url='imaps://localhost:%d' % DC.imaps_port,
                              ca_file=DC.ca_path)),
            ('session', dict(login_timeout=2)),
        ]), port)
        mark = len(pg.log_text())
        s = socket.create_connection(('127.0.0.1', port), timeout=10)
        t0 = time.monotonic()
        try:
            # Nothing may come before the handshake (the greeting waits).
            self.assertEqual(s.recv(100), b'')
        finally:
            s.close()
        self.assertLess(time.monotonic() - t0, 8)
        ok = harness.wait_until(
            lambda: 'reason="tls handshake timeout"' in pg.log_text()[mark:], 5)
        self.assertTrue(ok, pg.log_text()[mark:][-2000:])


# -- TLS 1.0 -------------------------------------------------------------------

def _openssl_can_tls10(workdir):
    """Can the local `openssl s_client` complete a TLS 1.0 handshake with
    SECLEVEL=0?  Probed against a Python TLS 1.0 server."""
    try:
        sctx = tls_server_context(PKI_CERT, PKI_KEY, minimum=ssl.TLSVersion.TLSv1,
                                  maximum=ssl.TLSVersion.TLSv1)    # and SECLEVEL=0
    except (ssl.SSLError, ValueError) as e:
        return False, 'python ssl cannot serve TLS 1.0: %s' % e
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    result = {}

    def serve():
        ls.settimeout(15)
        try:
            c, _ = ls.accept()
            c.settimeout(15)
            s = sctx.wrap_socket(c, server_side=True)
            result['version'] = s.version()
            s.sendall(b'+OK probe\r\n')
            s.close()
        except Exception as e:  # noqa: BLE001
            result['error'] = repr(e)
        finally:
            ls.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = harness.openssl_s_client(['-connect', '127.0.0.1:%d' % port, '-tls1',
                                      '-cipher', 'DEFAULT:@SECLEVEL=0'], b'', timeout=20)
    except subprocess.TimeoutExpired:
        return False, 'openssl s_client -tls1 timed out against a local TLS 1.0 server'
    t.join(20)
    if result.get('version') == 'TLSv1' and b'+OK probe' in r.stdout:
        return True, ''
    return False, ('openssl s_client -tls1 cannot talk to a local TLS 1.0 server: %s %s'
                   % (result, r.stderr.decode('utf-8', 'replace')[-300:]))


class LegacyTLS10(TLSTestCase):
    S_CLIENT_TLS1 = ['-tls1', '-cipher', 'DEFAULT:@SECLEVEL=0']

    @classmethod
    def setUpClass(cls):
        ok, why = _openssl_can_tls10(FIX.root)
        if not ok:
            harness.skip(why)

    @harness.skip_unless_popgate('no legacy-profile listener in Dovecot')
    def test_tls10_session_on_legacy_listener(self):
        mark = self.gw.mark()
        script = ('CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n' % (USER, PASSWORD)).encode()
        r = clients.s_client(self.gw.legacy_port, self.gw.ca, script, extra=self.S_CLIENT_TLS1)
        self.check_s_client_session(r, with_greeting=True, retr=(), verified=False,
                                    what='openssl s_client -tls1')
        self.assertTLSLogged(mark, 'legacy', 'implicit', version='TLSv1')

    def test_tls10_refused_by_default_listener(self):
        mark = self.gw.mark()
        script = ('USER %s\r\nPASS %s\r\nQUIT\r\n' % (USER, PASSWORD)).encode()
        # on the implicit listener, and with STLS on the starttls listener
        for what, port, starttls in (('TLS 1.0 handshake', self.gw.pop3s_port, False),
                                     ('TLS 1.0 after STLS', self.gw.stls_port, True)):
            with self.subTest(what):
                r = clients.s_client(port, self.gw.ca, script, starttls=starttls,
                                     extra=self.S_CLIENT_TLS1)
                self.assertNotEqual(r.returncode, 0, '%s succeeded on a default-profile '
                                    'listener:\n%r' % (what, r.stdout[:300]))
                self.assertNotIn(b'+OK', r.stdout, 'POP3 after a %s on a default-profile '
                                 'listener' % what)
        if self.gw.pg is not None:
            ok = harness.wait_until(lambda: len(self.gw.events(mark, 'tls-failed')) >= 2,
                                    timeout=5)
            self.assertTrue(ok, 'expected two tls-failed lines:\n' + self.gw.log()[mark:][-2000:])
            self.assertFalse(self.gw.events(mark, 'tls'), 'a TLS 1.0 handshake was logged as '
                             'successful')


if __name__ == '__main__':
    harness.main()
