#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The local OAuth2 authorization server of tests/support/oauth2_server.py,
checked on its own and against a private Dovecot (no popgate involved; the
--popgate argument is accepted like everywhere else and not used):

* refresh_token grant: tokens come back, rotation invalidates the old
  refresh token (reuse is invalid_grant, also under concurrent reuse), the
  counters count, a wrong secret is invalid_client (401), Basic and public
  clients work;
* client_credentials: a token that introspects to the client's cc_user;
* device flow (RFC 8628): authorization_pending, then tokens after approval
  (explicit or by device_user), whose refresh token works; expiry;
* down() refuses connections, up() serves again on the same port with the
  state kept; fail_next() and delay; expired and revoked tokens introspect
  inactive; 404, 413 and the other error answers;
* Dovecot's oauth2 passdb (introspection at this server): imaplib
  AUTHENTICATE XOAUTH2 and OAUTHBEARER with a fresh access token log in,
  with an expired, revoked or another user's token (or the server down)
  they fail, and every attempt was introspected.
"""

import base64
import imaplib
import json
import os
import re
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request
from urllib.parse import urlencode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from oauth2_server import DEVICE_GRANT, OAuth2Server, refused  # noqa: E402

PASSWORD = 'OAuth-Pw-4711'
USERS = {'alice': PASSWORD, 'bob': PASSWORD}
TIMEOUT = 5

FIX = None
DC = None           # a Dovecot whose oauth2 passdb asks SRV
SRV = None          # the authorization server Dovecot uses
MESSAGES = {'alice': 2, 'bob': 1}

# Never a proxy from the environment: everything is on loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(url, fields=None, basic=None, method=None, data=None):
    """(status, JSON body or None, headers) of one request to url; fields
    are sent form-urlencoded (POST), basic is (client_id, secret)."""
    if fields is not None:
        data = urlencode(fields).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header('Content-Type', 'application/x-www-form-urlencoded')
    if basic is not None:
        req.add_header('Authorization', 'Basic ' + base64.b64encode(
            ('%s:%s' % basic).encode()).decode())
    try:
        with OPENER.open(req, timeout=TIMEOUT) as r:
            status, body, headers = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, body, headers = e.code, e.read(), e.headers
    try:
        obj = json.loads(body) if body else None
    except ValueError:
        obj = None
    return status, obj, headers


def refresh(srv, rt, client_id='conf', secret='conf-secret', **more):
    fields = {'grant_type': 'refresh_token', 'refresh_token': rt, 'client_id': client_id}
    if secret is not None:
        fields['client_secret'] = secret
    fields.update(more)
    return http(srv.token_url, fields)


def introspect(srv, token):
    status, obj, _ = http(srv.introspect_url, {'token': token})
    assert status == 200, status
    return obj


def xoauth2(user, token):
    return b'user=%s\x01auth=Bearer %s\x01\x01' % (user.encode(), token.encode())


def oauthbearer(user, token):
    return (b'n,a=%s,\x01host=127.0.0.1\x01port=143\x01auth=Bearer %s\x01\x01'
            % (user.encode(), token.encode()))


MECHS = (('XOAUTH2', xoauth2, b''), ('OAUTHBEARER', oauthbearer, b'\x01'))


def setUpModule():
    global FIX, DC, SRV
    FIX = harness.setup_module(dovecot=False)
    SRV = OAuth2Server(lifetime=300)
    unittest.addModuleCleanup(SRV.stop)
    SRV.start()
    SRV.add_client('mail', 'mail-secret')
    DC = Dovecot(os.path.join(FIX.root, 'dovecot'), users=USERS, pop3=False,
                 oauth2_introspection_port=SRV.port)
    unittest.addModuleCleanup(DC.stop)
    DC.start()
    for user, n in MESSAGES.items():
        m = DC.imap(user)
        try:
            for raw in [raw for _, raw in mailseed.simple_corpus(n, 'oauth-' + user)]:
                mailseed.append(m, 'INBOX', raw)
        finally:
            m.logout()


class ServerCase(unittest.TestCase):
    """A fresh server per test: a confidential client, a public one and a
    client_credentials client acting for alice."""

    LIFETIME = 60

    def setUp(self):
        self.srv = OAuth2Server(lifetime=self.LIFETIME)
        self.addCleanup(self.srv.stop)
        self.srv.start()
        self.srv.add_client('conf', 'conf-secret')
        self.srv.add_client('pub')
        self.srv.add_client('svc', 'svc-secret', cc_user='alice')

    def assertOAuthError(self, result, status, error):
        st, obj, headers = result
        self.assertEqual((st, (obj or {}).get('error')), (status, error), obj)
        self.assertIn('error_description', obj)
        self.assertEqual(headers.get('Content-Type'), 'application/json')


class RefreshGrant(ServerCase):
    def test_refresh_rotates_and_counts(self):
        rt0 = self.srv.issue_refresh_token('conf', 'alice')
        self.assertTrue(rt0.startswith('rt-'), rt0)
        self.assertEqual(self.srv.current_refresh_token('conf', 'alice'), rt0)
        st, tok, headers = refresh(self.srv, rt0, scope='mail')
        self.assertEqual(st, 200, tok)
        self.assertEqual(headers.get('Content-Type'), 'application/json')
        self.assertEqual(tok['token_type'], 'Bearer')
        self.assertEqual(tok['expires_in'], 60)
        self.assertEqual(tok['scope'], 'mail')
        self.assertTrue(tok['access_token'].startswith('at-'), tok)
        rt1 = tok['refresh_token']
        self.assertTrue(rt1.startswith('rt-') and rt1 != rt0, tok)
        self.assertEqual(self.srv.access_token_user(tok['access_token']), 'alice')
        self.assertEqual(self.srv.current_refresh_token('conf', 'alice'), rt1)
        # The rotated one is dead, the new one works (once).
        self.assertOAuthError(refresh(self.srv, rt0), 400, 'invalid_grant')
        st, tok2, _ = refresh(self.srv, rt1)
        self.assertEqual(st, 200, tok2)
        self.assertNotEqual(tok2['access_token'], tok['access_token'])
        self.assertOAuthError(refresh(self.srv, rt1), 400, 'invalid_grant')
        self.assertEqual(self.srv.current_refresh_token('conf', 'alice'),
                         tok2['refresh_token'])
        self.assertEqual(self.srv.refreshes('alice'), 2)
        self.assertEqual(self.srv.refreshes('bob'), 0)
        self.assertEqual(self.srv.refreshes(), 2)
        log = self.srv.token_requests()
        self.assertEqual([(r['grant_type'], r['client_id'], r['user'], r['ok'],
                           r['status'], r['error']) for r in log],
                         [('refresh_token', 'conf', 'alice', True, 200, None),
                          ('refresh_token', 'conf', 'alice', False, 400, 'invalid_grant'),
                          ('refresh_token', 'conf', 'alice', True, 200, None),
                          ('refresh_token', 'conf', 'alice', False, 400, 'invalid_grant')])

    def test_wrong_secret_is_invalid_client(self):
        rt = self.srv.issue_refresh_token('conf', 'alice')
        self.assertOAuthError(refresh(self.srv, rt, secret='wrong'), 401, 'invalid_client')
        self.assertOAuthError(refresh(self.srv, rt, secret=None), 401, 'invalid_client')
        self.assertOAuthError(refresh(self.srv, rt, client_id='nobody'), 401,
                              'invalid_client')
        st, obj, headers = http(self.srv.token_url,
                                {'grant_type': 'refresh_token', 'refresh_token': rt},
                                basic=('conf', 'wrong'))
        self.assertEqual((st, obj['error']), (401, 'invalid_client'))
        self.assertIn('Basic', headers.get('WWW-Authenticate', ''))
        # None of that used the refresh token up.
        self.assertEqual(self.srv.refreshes(), 0)
        self.assertEqual(self.srv.current_refresh_token('conf', 'alice'), rt)
        self.assertEqual([r['error'] for r in self.srv.token_requests()],
                         ['invalid_client'] * 4)
        st, tok, _ = http(self.srv.token_url,
                          {'grant_type': 'refresh_token', 'refresh_token': rt},
                          basic=('conf', 'conf-secret'))
        self.assertEqual(st, 200, tok)
        self.assertEqual(self.srv.refreshes('alice'), 1)

    def test_public_client_and_other_clients_token(self):
        rt = self.srv.issue_refresh_token('pub', 'bob')
        self.assertOAuthError(refresh(self.srv, rt), 400, 'invalid_grant')  # as 'conf'
        st, tok, _ = refresh(self.srv, rt, client_id='pub', secret=None)
        self.assertEqual(st, 200, tok)
        self.assertEqual(self.srv.access_token_user(tok['access_token']), 'bob')
        self.assertOAuthError(refresh(self.srv, 'rt-unknown'), 400, 'invalid_grant')

    def test_without_rotation_the_refresh_token_stays(self):
        self.srv.rotate = False
        rt = self.srv.issue_refresh_token('conf', 'alice')
        for _ in range(2):
            st, tok, _ = refresh(self.srv, rt)
            self.assertEqual((st, tok['refresh_token']), (200, rt))
        self.assertEqual(self.srv.refreshes('alice'), 2)

    def test_concurrent_reuse_has_one_winner(self):
        rt = self.srv.issue_refresh_token('conf', 'alice')
        results = []
        gate = threading.Barrier(8)

        def use():
            gate.wait(TIMEOUT)
            results.append(refresh(self.srv, rt)[:2])
        threads = [threading.Thread(target=use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 2)
        self.assertEqual(sorted(st for st, _ in results), [200] + [400] * 7, results)
        self.assertEqual(self.srv.refreshes(), 1)
        winner = [obj for st, obj in results if st == 200][0]
        self.assertEqual(self.srv.current_refresh_token('conf', 'alice'),
                         winner['refresh_token'])


class ClientCredentials(ServerCase):
    def test_token_introspects_to_cc_user(self):
        before = time.time()
        st, tok, _ = http(self.srv.token_url, {'grant_type': 'client_credentials',
                                               'client_id': 'svc',
                                               'client_secret': 'svc-secret',
                                               'scope': 'imap'})
        self.assertEqual(st, 200, tok)
        self.assertNotIn('refresh_token', tok)
        self.assertEqual((tok['token_type'], tok['scope']), ('Bearer', 'imap'))
        info = introspect(self.srv, tok['access_token'])
        self.assertEqual((info['active'], info['username'], info['client_id'],
                          info['scope'], info['token_type']),
                         (True, 'alice', 'svc', 'imap', 'Bearer'))
        self.assertGreaterEqual(info['exp'], int(before) + 59)
        self.assertEqual(self.srv.access_token_user(tok['access_token']), 'alice')
        self.assertEqual(self.srv.introspections(), 1)
        self.assertEqual(self.srv.cc_grants('svc'), 1)
        # Wrong secret, and a client without a cc_user, grant nothing.
        self.assertOAuthError(http(self.srv.token_url, {
            'grant_type': 'client_credentials', 'client_id': 'svc',
            'client_secret': 'nope'}), 401, 'invalid_client')
        self.assertOAuthError(http(self.srv.token_url, {
            'grant_type': 'client_credentials', 'client_id': 'conf',
            'client_secret': 'conf-secret'}), 400, 'unauthorized_client')
        self.assertEqual(self.srv.cc_grants(), 1)
        self.assertEqual(self.srv.cc_grants('conf'), 0)
        self.assertEqual(self.srv.token_requests()[0]['user'], 'alice')


class DeviceFlow(ServerCase):
    def start_device(self, client_id='pub', **auth):
        st, dev, _ = http(self.srv.device_url, dict(client_id=client_id, scope='mail', **auth))
        self.assertEqual(st, 200, dev)
        return dev

    def poll(self, dev, client_id='pub', **auth):
        return http(self.srv.token_url, dict(grant_type=DEVICE_GRANT, client_id=client_id,
                                             device_code=dev['device_code'], **auth))

    def test_pending_then_tokens_after_approval(self):
        dev = self.start_device()
        self.assertTrue(dev['device_code'].startswith('dc-'), dev)
        self.assertEqual(dev['verification_uri'], self.srv.url + '/device')
        self.assertTrue(dev['verification_uri_complete'].startswith(dev['verification_uri']))
        self.assertEqual((dev['expires_in'], dev['interval']), (600, 1))
        self.assertRegex(dev['user_code'], r'^[A-Z]{4}-[A-Z]{4}$')
        self.assertEqual(http(self.srv.url + '/device', method='GET')[0], 200)
        self.assertOAuthError(self.poll(dev), 400, 'authorization_pending')
        self.assertOAuthError(self.poll(dev), 400, 'authorization_pending')  # not approved
        self.assertEqual(self.srv.device_grants(), 0)
        self.srv.approve_device(dev['user_code'].lower(), 'bob')
        st, tok, _ = self.poll(dev)
        self.assertEqual(st, 200, tok)
        self.assertTrue(tok['refresh_token'].startswith('rt-'), tok)
        self.assertEqual(introspect(self.srv, tok['access_token'])['username'], 'bob')
        self.assertEqual(self.srv.device_grants(), 1)
        # The code is used up; the refresh token from it works.
        self.assertOAuthError(self.poll(dev), 400, 'invalid_grant')
        st, tok2, _ = refresh(self.srv, tok['refresh_token'], client_id='pub', secret=None)
        self.assertEqual(st, 200, tok2)
        self.assertEqual(self.srv.access_token_user(tok2['access_token']), 'bob')
        self.assertEqual(self.srv.refreshes('bob'), 1)
        self.assertEqual(self.srv.current_refresh_token('pub', 'bob'), tok2['refresh_token'])
        self.assertEqual(self.srv.device_grants(), 1)

    def test_device_user_auto_approves_after_pending_polls(self):
        self.srv.device_user = 'alice'
        self.srv.device_pending_polls = 2
        dev = self.start_device('conf', client_secret='conf-secret')
        secret = {'client_secret': 'conf-secret'}
        for _ in range(2):
            self.assertOAuthError(self.poll(dev, 'conf', **secret), 400,
                                  'authorization_pending')
        # Polling needs the confidential client's secret too.
        self.assertOAuthError(self.poll(dev, 'conf'), 401, 'invalid_client')
        st, tok, _ = self.poll(dev, 'conf', **secret)
        self.assertEqual(st, 200, tok)
        self.assertEqual(self.srv.access_token_user(tok['access_token']), 'alice')
        self.assertEqual(self.srv.device_grants(), 1)

    def test_unknown_and_expired_codes(self):
        self.assertOAuthError(self.poll({'device_code': 'dc-nonsense'}), 400, 'invalid_grant')
        self.srv.device_code_lifetime = 0
        dev = self.start_device()
        self.srv.approve_device(dev['user_code'], 'alice')
        self.assertOAuthError(self.poll(dev), 400, 'expired_token')
        self.assertEqual(self.srv.device_grants(), 0)


class Availability(ServerCase):
    LIFETIME = 1

    def test_down_refuses_and_up_keeps_state(self):
        rt = self.srv.issue_refresh_token('conf', 'alice')
        self.srv.lifetime = 60
        st, tok, _ = refresh(self.srv, rt)
        self.assertEqual(st, 200, tok)
        port = self.srv.port
        self.srv.down()
        self.assertTrue(refused(port))
        with self.assertRaises(urllib.error.URLError) as cm:
            refresh(self.srv, tok['refresh_token'])
        self.assertIsInstance(cm.exception.reason, ConnectionRefusedError)
        self.srv.down()     # idempotent
        self.srv.up()
        self.assertEqual(self.srv.port, port)
        self.assertFalse(refused(port))
        self.assertTrue(introspect(self.srv, tok['access_token'])['active'])
        self.assertOAuthError(refresh(self.srv, rt), 400, 'invalid_grant')
        st, tok2, _ = refresh(self.srv, tok['refresh_token'])
        self.assertEqual(st, 200, tok2)
        self.assertEqual(self.srv.refreshes('alice'), 2)
        # A second down/up cycle works as well; stop() is final.
        self.srv.down()
        self.assertTrue(refused(port))
        self.srv.up()
        self.assertEqual(refresh(self.srv, tok2['refresh_token'])[0], 200)
        self.srv.stop()
        self.srv.stop()
        self.assertTrue(refused(port))
        with self.assertRaises(RuntimeError):
            self.srv.up()

    def test_fail_next_and_delay(self):
        rt = self.srv.issue_refresh_token('conf', 'alice')
        self.srv.fail_next(2)
        self.assertOAuthError(refresh(self.srv, rt), 503, 'temporarily_unavailable')
        self.assertOAuthError(refresh(self.srv, rt), 503, 'temporarily_unavailable')
        self.srv.fail_next(1, status=500)
        self.assertOAuthError(refresh(self.srv, rt), 500, 'temporarily_unavailable')
        # The failures used nothing up.
        st, tok, _ = refresh(self.srv, rt)
        self.assertEqual(st, 200, tok)
        self.assertEqual([r['status'] for r in self.srv.token_requests()],
                         [503, 503, 500, 200])
        self.assertEqual(self.srv.refreshes(), 1)
        self.srv.delay = 0.4
        t0 = time.monotonic()
        st, tok, _ = refresh(self.srv, tok['refresh_token'])
        self.assertEqual(st, 200, tok)
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)

    def test_expired_and_revoked_tokens_introspect_inactive(self):
        # lifetime = 1 (LIFETIME)
        st, tok, _ = http(self.srv.token_url, {'grant_type': 'client_credentials',
                                               'client_id': 'svc',
                                               'client_secret': 'svc-secret'})
        self.assertEqual((st, tok['expires_in']), (200, 1))
        self.assertTrue(introspect(self.srv, tok['access_token'])['active'])
        time.sleep(1.2)
        self.assertEqual(introspect(self.srv, tok['access_token']), {'active': False})
        self.assertIsNone(self.srv.access_token_user(tok['access_token']))
        self.assertEqual(introspect(self.srv, 'at-never-issued'), {'active': False})
        # Revocation: by user, others stay live.
        self.srv.lifetime = 60
        a = self.srv.issue_refresh_token('conf', 'alice')
        b = self.srv.issue_refresh_token('conf', 'bob')
        ta, tb = refresh(self.srv, a)[1], refresh(self.srv, b)[1]
        self.assertEqual(self.srv.revoke_access('alice'), 1)
        self.assertFalse(introspect(self.srv, ta['access_token'])['active'])
        self.assertTrue(introspect(self.srv, tb['access_token'])['active'])
        self.assertEqual(self.srv.revoke_access(), 1)
        self.assertIsNone(self.srv.access_token_user(tb['access_token']))
        self.assertEqual(self.srv.introspections(), 5)

    def test_error_answers(self):
        self.assertEqual(http(self.srv.url + '/nope', {'a': 'b'})[0], 404)
        self.assertEqual(http(self.srv.token_url, method='GET')[0], 404)
        st, obj, _ = http(self.srv.token_url, data=b'x=' + b'a' * (100 * 1024))
        self.assertEqual(st, 413, obj)
        self.assertOAuthError(http(self.srv.token_url, {
            'grant_type': 'password', 'client_id': 'pub'}), 400, 'unsupported_grant_type')
        self.assertOAuthError(http(self.srv.token_url, {'client_id': 'pub'}), 400,
                              'invalid_request')
        self.assertOAuthError(http(self.srv.token_url, data=b'grant_type=refresh_token'
                                   b'&client_id=pub&client_id=pub&refresh_token=x'),
                              400, 'invalid_request')
        # Unique tokens.
        tokens = {http(self.srv.token_url, {'grant_type': 'client_credentials',
                                            'client_id': 'svc',
                                            'client_secret': 'svc-secret'})[1]['access_token']
                  for _ in range(20)}
        self.assertEqual(len(tokens), 20)


class DovecotIntrospection(unittest.TestCase):
    """Dovecot's oauth2 passdb validating this server's tokens."""

    def token(self, user='alice', lifetime=None):
        saved = SRV.lifetime
        if lifetime is not None:
            SRV.lifetime = lifetime
        try:
            st, tok, _ = refresh(SRV, SRV.issue_refresh_token('mail', user),
                                 client_id='mail', secret='mail-secret')
        finally:
            SRV.lifetime = saved
        self.assertEqual(st, 200, tok)
        return tok['access_token']

    def authenticate(self, mech, payload, ack):
        """imaplib AUTHENTICATE mech; returns (ok, number of messages in
        INBOX or the error, challenges Dovecot sent after the first)."""
        m = imaplib.IMAP4('127.0.0.1', DC.imap_port, timeout=TIMEOUT)
        challenges = []

        def answer(challenge):
            if not challenges:
                challenges.append(challenge)
                return payload
            challenges.append(challenge)
            return ack
        try:
            try:
                m.authenticate(mech, answer)
            except imaplib.IMAP4.error as e:
                return False, str(e), challenges[1:]
            typ, data = m.select('INBOX', readonly=True)
            self.assertEqual(typ, 'OK', data)
            m.logout()
            return True, int(data[0]), challenges[1:]
        finally:
            try:
                m.shutdown()
            except OSError:
                pass

    def assert_login(self, user, token):
        for mech, make, ack in MECHS:
            with self.subTest(mech=mech):
                before = SRV.introspections()
                ok, n, _ = self.authenticate(mech, make(user, token), ack)
                self.assertTrue(ok, '%s: %s\n%s' % (mech, n, DC.log_tail(10)))
                self.assertEqual(n, MESSAGES[user])
                self.assertGreater(SRV.introspections(), before)

    def assert_refused(self, user, token):
        for mech, make, ack in MECHS:
            with self.subTest(mech=mech):
                before = SRV.introspections()
                ok, err, challenges = self.authenticate(mech, make(user, token), ack)
                self.assertFalse(ok, '%s logged in with a bad token' % mech)
                self.assertIn('AUTHENTICATIONFAILED', err)
                self.assertGreater(SRV.introspections(), before)

    def test_fresh_token_logs_in(self):
        logins = len(DC.login_lines())
        self.assert_login('alice', self.token('alice'))
        self.assert_login('bob', self.token('bob'))

        def bearer_logins():
            found = []
            for line in DC.login_lines()[logins:]:
                m = re.search(r'user=<([^>]*)>.*method=(XOAUTH2|OAUTHBEARER)', line)
                if m:
                    found.append(m.groups())
            return sorted(found) if len(found) >= 4 else None
        self.assertEqual(harness.wait_until(bearer_logins, 5),
                         [('alice', 'OAUTHBEARER'), ('alice', 'XOAUTH2'),
                          ('bob', 'OAUTHBEARER'), ('bob', 'XOAUTH2')], DC.log_tail())

    def test_expired_token_fails(self):
        tok = self.token('alice', lifetime=0.3)
        self.assertTrue(harness.wait_until(lambda: SRV.access_token_user(tok) is None, 3))
        self.assert_refused('alice', tok)

    def test_revoked_token_fails(self):
        tok = self.token('bob')
        keep = self.token('alice')
        self.assertEqual(SRV.access_token_user(tok), 'bob')
        SRV.revoke_access('bob')
        self.assert_refused('bob', tok)
        self.assert_login('alice', keep)

    def test_other_users_token_fails(self):
        self.assert_refused('alice', self.token('bob'))

    def test_server_down_fails_then_up_works(self):
        tok = self.token('alice')
        SRV.down()
        try:
            for mech, make, ack in MECHS:
                ok, err, _ = self.authenticate(mech, make('alice', tok), ack)
                self.assertFalse(ok, '%s logged in with the server down' % mech)
        finally:
            SRV.up()
        self.assert_login('alice', tok)


if __name__ == '__main__':
    harness.main()
