# SPDX-License-Identifier: MIT
"""A local OAuth2 authorization server on loopback for the tests.

One HTTP server on 127.0.0.1 (Python stdlib only) with the endpoints a mail
client and Dovecot's oauth2 passdb need:

    POST /token        RFC 6749 token endpoint: grant_type refresh_token,
                       client_credentials and RFC 8628
                       urn:ietf:params:oauth:grant-type:device_code
    POST /devicecode   RFC 8628 device authorization endpoint
    POST /introspect   RFC 7662 introspection, as Dovecot asks for it
                       (introspection_mode = post: token=... in a form
                       body); GET with "Authorization: Bearer TOKEN"
                       (introspection_mode = auth) is answered too
    GET  /device       the verification_uri: a plain text page, nothing
                       more (approve with device_user or approve_device())

Request bodies are application/x-www-form-urlencoded; a client
authenticates with client_id/client_secret form fields (client_secret_post)
or HTTP Basic (client_secret_basic).  Responses are JSON; errors are
{"error": ..., "error_description": ...} with status 400, or 401 for
invalid_client.  Anything else is 404, a body over 64 KiB is 413.  Every
connection is closed after its response (HTTP/1.0), so down() stops all
service at once.

    srv = OAuth2Server(lifetime=60).start()
    srv.add_client('popgate', 'client-secret')
    rt = srv.issue_refresh_token('popgate', 'alice')
    ... POST srv.token_url grant_type=refresh_token&refresh_token=rt ...
    srv.refreshes('alice')            # -> 1
    dc = Dovecot(dir, oauth2_introspection_port=srv.port)
    srv.stop()

Tokens: access tokens "at-...", refresh tokens "rt-...", device codes
"dc-...", each from secrets.token_urlsafe and never reused.  With rotate
(the default) a refresh_token grant returns a new refresh token and the one
presented becomes invalid (invalid_grant if used again; the rest of its
family stays valid).  Scopes are not enforced: a grant returns the scope
asked for, else the one the refresh token (or client) was issued with.

Knobs, read for every request so a test can change them at any time:
lifetime (access-token seconds, float), rotate, device_pending_polls,
device_user, delay (seconds before a /token answer), device_code_lifetime
(600) and device_interval (1).  fail_next(n, status) makes the next n
/token requests fail.  down() closes the listening socket (connections are
refused, state is kept) and up() listens again on the same port.

All state is behind one lock; the counters and logs (refreshes(),
cc_grants(), device_grants(), token_requests(), introspections(), ...) can
be read from any thread.  Nothing is logged to stderr.
"""

import base64
import json
import math
import secrets
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote

MAX_BODY = 64 * 1024
DRAIN_LIMIT = 4 * 1024 * 1024   # an oversized body is read (and dropped) up to this
DEFAULT_SCOPE = 'mail'
DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'     # RFC 8628 sec. 6.1
HANDLER_TIMEOUT = 10.0
UP_TIMEOUT = 5.0


class OAuth2Error(Exception):
    """An OAuth2 error response: status, error code and description."""

    def __init__(self, status, error, description):
        super().__init__('%s: %s' % (error, description))
        self.status = status
        self.error = error
        self.description = description


class _BodyTooLarge(Exception):
    pass


class _HTTPServer(ThreadingHTTPServer):
    """One listening socket of an OAuth2Server; `oauth` is the owner."""

    daemon_threads = True
    block_on_close = False      # stop() must not wait for a delayed answer
    allow_reuse_address = True  # SO_REUSEADDR: up() rebinds the same port

    def __init__(self, addr, oauth):
        self.oauth = oauth
        super().__init__(addr, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind() would ask the resolver for getfqdn().
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _Handler(BaseHTTPRequestHandler):
    """Parses the request and hands it to OAuth2Server._dispatch()."""

    protocol_version = 'HTTP/1.0'
    server_version = 'popgate-test-oauth2/1'
    timeout = HANDLER_TIMEOUT

    def log_message(self, *args):
        pass

    def _read_body(self):
        """The request body (bytes); _BodyTooLarge over MAX_BODY."""
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            return self._read_chunked()
        try:
            n = int(self.headers.get('Content-Length', '0') or '0')
        except ValueError:
            n = 0
        if n < 0:
            n = 0
        if n > MAX_BODY:
            self._drain(n)
            raise _BodyTooLarge()
        return self.rfile.read(n)

    def _read_chunked(self):
        body = b''
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b';', 1)[0].strip() or b'0', 16)
            except ValueError:
                size = 0
            if size == 0:
                while self.rfile.readline(1024) not in (b'\r\n', b'\n', b''):
                    pass
                return body
            if len(body) + size > MAX_BODY:
                raise _BodyTooLarge()
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _drain(self, n):
        """Read and drop up to n octets, so that closing the connection
        does not reset it before the client has read the answer."""
        left = min(n, DRAIN_LIMIT)
        try:
            self.connection.settimeout(1.0)
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _handle(self, method):
        path = self.path.split('?', 1)[0]
        try:
            body = self._read_body() if method == 'POST' else b''
        except _BodyTooLarge:
            self.send_json(413, {'error': 'invalid_request',
                                 'error_description': 'request body larger than %d octets'
                                 % MAX_BODY})
            return
        self.server.oauth._dispatch(self, method, path, body)

    def do_POST(self):
        self._handle('POST')

    def do_GET(self):
        self._handle('GET')

    def do_PUT(self):
        self._handle('PUT')

    def do_DELETE(self):
        self._handle('DELETE')

    def do_HEAD(self):
        self.send_response(404)
        self.send_header('Content-Length', '0')
        self.send_header('Connection', 'close')
        self.end_headers()

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode('utf-8')
        self.send_bytes(status, body, 'application/json', headers)

    def send_bytes(self, status, body, ctype, headers=()):
        try:
            self.send_response(status)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.send_header('Pragma', 'no-cache')
            self.send_header('Connection', 'close')
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass    # the client went away; nothing to tell it


class OAuth2Server:
    """The authorization server (see the module docstring)."""

    def __init__(self, lifetime=3600, rotate=True, device_pending_polls=1, port=0):
        self.lifetime = lifetime
        self.rotate = rotate
        self.device_pending_polls = device_pending_polls
        self.device_user = None
        self.delay = 0.0
        self.device_code_lifetime = 600
        self.device_interval = 1
        self.port = port
        self._lock = threading.Lock()
        self._clients = {}          # client_id -> dict(secret, cc_user)
        self._refresh = {}          # live refresh token -> dict(client_id, user, scope)
        self._rotated = {}          # rotated or revoked refresh token -> its record
        # access token -> dict(user, client_id, scope, deadline, exp, revoked)
        self._access = {}
        # device code -> dict(client_id, scope, user_code, deadline, polls, user, used)
        self._devices = {}
        self._user_codes = {}       # user code -> device code
        self._fail = []             # statuses of the next failing /token requests
        self._requests = []         # token_requests()
        self._introspections = 0
        self._httpd = None
        self._thread = None
        self._stopped = False
        self._started = False

    # -- lifecycle -------------------------------------------------------
    def start(self):
        """Listen on 127.0.0.1:port (0: a free port) and serve; sets port."""
        if self._started:
            raise RuntimeError('OAuth2Server already started')
        self._started = True
        self._listen()
        return self

    def _listen(self):
        deadline = time.monotonic() + UP_TIMEOUT
        while True:
            try:
                httpd = _HTTPServer(('127.0.0.1', self.port), self)
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.port = httpd.server_address[1]
        t = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05},
                             name='oauth2-server-%d' % self.port, daemon=True)
        t.start()
        self._httpd, self._thread = httpd, t

    def down(self):
        """Close the listening socket: new connections are refused until
        up().  Tokens, clients and counters are kept.  Requests already
        accepted are still answered."""
        httpd, self._httpd = self._httpd, None
        thread, self._thread = self._thread, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(5)

    def up(self):
        """Listen again on the same port (SO_REUSEADDR), with the same state."""
        if self._stopped:
            raise RuntimeError('OAuth2Server was stopped')
        if not self._started:
            raise RuntimeError('OAuth2Server was never started')
        if self._httpd is None:
            self._listen()

    def stop(self):
        """Shut down for good (idempotent)."""
        self._stopped = True
        self.down()

    def running(self):
        """True while the port accepts connections."""
        return self._httpd is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    @property
    def token_url(self):
        return self.url + '/token'

    @property
    def device_url(self):
        return self.url + '/devicecode'

    @property
    def introspect_url(self):
        return self.url + '/introspect'

    # -- set-up by tests -------------------------------------------------
    def add_client(self, client_id, client_secret=None, cc_user=None):
        """Register (or replace) a client.  client_secret None: a public
        client; cc_user: the user its client_credentials tokens act for."""
        with self._lock:
            self._clients[client_id] = {'secret': client_secret, 'cc_user': cc_user}

    def issue_refresh_token(self, client_id, user, scope=None):
        """A live refresh token of client_id for user, as if the user had
        consented; scope defaults to DEFAULT_SCOPE."""
        with self._lock:
            if client_id not in self._clients:
                raise KeyError('unknown client %r (add_client() first)' % client_id)
            return self._new_refresh(client_id, user, scope or DEFAULT_SCOPE)

    def approve_device(self, user_code, user):
        """The user approves the device code shown as user_code (case and
        the dash do not matter).  KeyError for an unknown code."""
        key = self._norm_user_code(user_code)
        with self._lock:
            dc = self._user_codes.get(key)
            if dc is None or dc not in self._devices:
                raise KeyError('unknown user code %r' % user_code)
            self._devices[dc]['user'] = user

    def revoke_access(self, user=None):
        """Every live access token (of user, or all) becomes inactive;
        returns how many."""
        n = 0
        with self._lock:
            for token, rec in self._access.items():
                if self._live_access(token) and (user is None or rec['user'] == user):
                    rec['revoked'] = True
                    n += 1
        return n

    def revoke_refresh(self, user=None):
        """Every live refresh token (of user, or all) becomes invalid (a
        later grant gets invalid_grant); returns how many."""
        with self._lock:
            gone = [rt for rt, rec in self._refresh.items()
                    if user is None or rec['user'] == user]
            for rt in gone:
                self._rotated[rt] = self._refresh.pop(rt)
        return len(gone)

    def fail_next(self, n, status=503):
        """The next n /token requests are answered with status and
        {"error": "temporarily_unavailable"}."""
        with self._lock:
            self._fail += [status] * n

    # -- counters and logs -----------------------------------------------
    def _count(self, pred):
        with self._lock:
            return sum(1 for r in self._requests if r['ok'] and pred(r))

    def refreshes(self, user=None):
        """Successful refresh_token grants (of user, or all)."""
        return self._count(lambda r: r['grant_type'] == 'refresh_token'
                           and (user is None or r['user'] == user))

    def cc_grants(self, client_id=None):
        """Successful client_credentials grants (of client_id, or all)."""
        return self._count(lambda r: r['grant_type'] == 'client_credentials'
                           and (client_id is None or r['client_id'] == client_id))

    def device_grants(self):
        """Successful device_code grants (tokens issued)."""
        return self._count(lambda r: r['grant_type'] == DEVICE_GRANT)

    def token_requests(self):
        """Every /token request so far, oldest first, as dicts (grant_type,
        client_id, user, ok, status, error); copies."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def current_refresh_token(self, client_id, user):
        """The newest live refresh token of client_id for user, or None."""
        with self._lock:
            for rt in reversed(list(self._refresh)):
                rec = self._refresh[rt]
                if rec['client_id'] == client_id and rec['user'] == user:
                    return rt
        return None

    def issued_tokens(self):
        """Every access token, refresh token and device code this server
        ever handed out (for log hygiene checks)."""
        with self._lock:
            return (set(self._access) | set(self._refresh) | set(self._rotated)
                    | set(self._devices))

    def introspections(self):
        """/introspect requests so far (active or not)."""
        with self._lock:
            return self._introspections

    def access_token_user(self, token):
        """The user of a live access token; None if unknown, expired or
        revoked."""
        with self._lock:
            rec = self._live_access(token)
            return rec['user'] if rec else None

    # -- internals (called with the lock held unless said otherwise) ------
    def _new_refresh(self, client_id, user, scope):
        rt = 'rt-' + secrets.token_urlsafe(32)
        self._refresh[rt] = {'client_id': client_id, 'user': user, 'scope': scope}
        return rt

    def _new_access(self, client_id, user, scope):
        at = 'at-' + secrets.token_urlsafe(32)
        lifetime = float(self.lifetime)
        self._access[at] = {'client_id': client_id, 'user': user, 'scope': scope,
                            'deadline': time.monotonic() + lifetime,
                            'exp': int(time.time() + lifetime), 'revoked': False}
        return at, max(0, int(math.ceil(lifetime)))

    def _live_access(self, token):
        rec = self._access.get(token)
        if rec is None or rec['revoked'] or time.monotonic() >= rec['deadline']:
            return None
        return rec

    @staticmethod
    def _norm_user_code(code):
        return ''.join(c for c in str(code).upper() if c.isalnum())

    @staticmethod
    def _form(body):
        """The form fields of body as {name: value}; OAuth2Error for a
        repeated parameter or an undecodable body."""
        try:
            text = body.decode('utf-8')
            fields = parse_qs(text, keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise OAuth2Error(400, 'invalid_request', 'body is not a UTF-8 form')
        form = {}
        for k, v in fields.items():
            if len(v) != 1:
                raise OAuth2Error(400, 'invalid_request', 'parameter %s repeated' % k)
            form[k] = v[0]
        return form

    def _authenticate(self, handler, form):
        """The client_id of the authenticated client (lock held)."""
        basic = None
        auth = handler.headers.get('Authorization', '')
        if auth[:6].lower() == 'basic ':
            try:
                raw = base64.b64decode(auth[6:].strip(), validate=True).decode('utf-8')
                cid, sep, secret = raw.partition(':')
                if not sep:
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                raise OAuth2Error(401, 'invalid_client', 'malformed Basic credentials')
            # RFC 6749 sec. 2.3.1: both parts are form-urlencoded first.
            basic = (unquote(cid.replace('+', ' ')), unquote(secret.replace('+', ' ')))
        if basic is not None:
            if form.get('client_secret') is not None:
                raise OAuth2Error(400, 'invalid_request',
                                  'more than one client authentication method')
            if form.get('client_id') not in (None, basic[0]):
                raise OAuth2Error(400, 'invalid_request',
                                  'client_id differs from the Basic credentials')
            client_id, secret = basic
        else:
            client_id, secret = form.get('client_id'), form.get('client_secret')
        if not client_id:
            raise OAuth2Error(401, 'invalid_client', 'no client_id')
        client = self._clients.get(client_id)
        if client is None:
            raise OAuth2Error(401, 'invalid_client', 'unknown client')
        if client['secret'] is not None and not (
                secret is not None and secrets.compare_digest(
                    secret.encode('utf-8'), client['secret'].encode('utf-8'))):
            raise OAuth2Error(401, 'invalid_client', 'client authentication failed')
        return client_id

    def _dispatch(self, handler, method, path, body):
        """Not under the lock: the /token delay must not hold it."""
        try:
            if method == 'POST' and path == '/token':
                self._token(handler, body)
            elif method == 'POST' and path == '/devicecode':
                handler.send_json(200, self._devicecode(handler, body))
            elif path == '/introspect' and method in ('POST', 'GET'):
                handler.send_json(200, self._introspect(handler, method, body))
            elif method == 'GET' and path == '/device':
                handler.send_bytes(200, b'popgate test authorization server: '
                                   b'enter the user code here\n', 'text/plain')
            else:
                handler.send_json(404, {'error': 'not_found',
                                        'error_description': 'no such endpoint'})
        except OAuth2Error as e:
            headers = [('WWW-Authenticate', 'Basic realm="oauth2"')] if e.status == 401 else []
            handler.send_json(e.status, {'error': e.error,
                                         'error_description': e.description}, headers)

    def _token(self, handler, body):
        with self._lock:
            fail = self._fail.pop(0) if self._fail else None
        delay = float(self.delay or 0)
        if delay > 0:
            time.sleep(delay)
        entry = {'grant_type': None, 'client_id': None, 'user': None,
                 'ok': False, 'status': None, 'error': None}
        try:
            try:
                form = self._form(body)
            except OAuth2Error:
                if fail is None:
                    raise
                form = {}
            entry['grant_type'] = form.get('grant_type')
            entry['client_id'] = form.get('client_id')
            if fail is not None:
                raise OAuth2Error(fail, 'temporarily_unavailable',
                                  'injected failure (fail_next)')
            with self._lock:
                client_id = self._authenticate(handler, form)
                entry['client_id'] = client_id
                grant = form.get('grant_type')
                if not grant:
                    raise OAuth2Error(400, 'invalid_request', 'no grant_type')
                if grant == 'refresh_token':
                    result = self._grant_refresh(client_id, form, entry)
                elif grant == 'client_credentials':
                    result = self._grant_cc(client_id, form, entry)
                elif grant == DEVICE_GRANT:
                    result = self._grant_device(client_id, form, entry)
                else:
                    raise OAuth2Error(400, 'unsupported_grant_type',
                                      'grant_type %s not supported' % grant)
                entry.update(ok=True, status=200)
                self._requests.append(entry)
        except OAuth2Error as e:
            entry.update(ok=False, status=e.status, error=e.error)
            with self._lock:
                self._requests.append(entry)
            raise
        handler.send_json(200, result)

    def _tokens(self, client_id, user, scope, refresh_token=None):
        at, expires_in = self._new_access(client_id, user, scope)
        out = {'access_token': at, 'token_type': 'Bearer', 'expires_in': expires_in,
               'scope': scope}
        if refresh_token is not None:
            out['refresh_token'] = refresh_token
        return out

    def _grant_refresh(self, client_id, form, entry):
        rt = form.get('refresh_token')
        if not rt:
            raise OAuth2Error(400, 'invalid_request', 'no refresh_token')
        rec = self._refresh.get(rt)
        if rec is None:
            old = self._rotated.get(rt)
            if old is not None:
                entry['user'] = old['user']
            raise OAuth2Error(400, 'invalid_grant',
                              'refresh token already used' if old is not None
                              else 'unknown refresh token')
        entry['user'] = rec['user']
        if rec['client_id'] != client_id:
            raise OAuth2Error(400, 'invalid_grant', 'refresh token of another client')
        scope = form.get('scope') or rec['scope']
        if self.rotate:
            self._rotated[rt] = self._refresh.pop(rt)
            rt = self._new_refresh(client_id, rec['user'], rec['scope'])
        return self._tokens(client_id, rec['user'], scope, rt)

    def _grant_cc(self, client_id, form, entry):
        client = self._clients[client_id]
        if client['secret'] is None:
            raise OAuth2Error(400, 'unauthorized_client',
                              'a public client cannot use client_credentials')
        user = client['cc_user']
        if user is None:
            raise OAuth2Error(400, 'unauthorized_client',
                              'client has no client_credentials user')
        entry['user'] = user
        return self._tokens(client_id, user, form.get('scope') or DEFAULT_SCOPE)

    def _grant_device(self, client_id, form, entry):
        code = form.get('device_code')
        if not code:
            raise OAuth2Error(400, 'invalid_request', 'no device_code')
        rec = self._devices.get(code)
        if rec is None or rec['used'] or rec['client_id'] != client_id:
            raise OAuth2Error(400, 'invalid_grant', 'unknown device code')
        if time.monotonic() >= rec['deadline']:
            raise OAuth2Error(400, 'expired_token', 'device code expired')
        rec['polls'] += 1
        if rec['user'] is None and rec['polls'] > self.device_pending_polls \
                and self.device_user is not None:
            rec['user'] = self.device_user
        if rec['polls'] <= self.device_pending_polls or rec['user'] is None:
            raise OAuth2Error(400, 'authorization_pending', 'the user has not approved yet')
        rec['used'] = True
        entry['user'] = rec['user']
        rt = self._new_refresh(client_id, rec['user'], rec['scope'])
        return self._tokens(client_id, rec['user'], rec['scope'], rt)

    def _devicecode(self, handler, body):
        form = self._form(body)
        with self._lock:
            client_id = self._authenticate(handler, form)
            code = 'dc-' + secrets.token_urlsafe(32)
            while True:
                uc = ''.join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
                if uc not in self._user_codes:
                    break
            lifetime = int(self.device_code_lifetime)
            self._devices[code] = {'client_id': client_id,
                                   'scope': form.get('scope') or DEFAULT_SCOPE,
                                   'user_code': uc, 'polls': 0, 'user': None,
                                   'used': False,
                                   'deadline': time.monotonic() + lifetime}
            self._user_codes[uc] = code
        shown = uc[:4] + '-' + uc[4:]
        return {'device_code': code, 'user_code': shown,
                'verification_uri': self.url + '/device',
                'verification_uri_complete': self.url + '/device?user_code=' + quote(shown),
                'expires_in': lifetime, 'interval': int(self.device_interval)}

    def _introspect(self, handler, method, body):
        token = None
        if method == 'POST':
            token = self._form(body).get('token')
        auth = handler.headers.get('Authorization', '')
        if token is None and auth[:7].lower() == 'bearer ':
            token = auth[7:].strip()
        with self._lock:
            self._introspections += 1
            rec = self._live_access(token) if token else None
            if rec is None:
                return {'active': False}
            return {'active': True, 'username': rec['user'], 'scope': rec['scope'],
                    'exp': rec['exp'], 'token_type': 'Bearer',
                    'client_id': rec['client_id']}


def refused(port, timeout=2.0):
    """True if a TCP connect to 127.0.0.1:port is refused."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
