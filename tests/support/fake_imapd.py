# SPDX-License-Identifier: MIT
"""A scripted fake IMAP server for the faults a real Dovecot will not commit.

It speaks just enough IMAP4rev1 for a POP3 gateway: greeting with
CAPABILITY, CAPABILITY, LOGIN, AUTHENTICATE PLAIN (with SASL-IR), SELECT /
EXAMINE, UID FETCH (UID RFC822.SIZE FLAGS BODY.PEEK[]<off.len> ...), UID
STORE, UID EXPUNGE and EXPUNGE (UIDPLUS advertised after login), UID SEARCH,
NOOP, CHECK, ID, ENABLE, UNSELECT, CLOSE, LOGOUT.  One mailbox (INBOX) shared
by all connections.

TLS (off by default): FakeImapd(tls_context=tls_server_context(cert, key))
offers STARTTLS (advertised before TLS unless caps_pre says otherwise);
with implicit_tls=True every connection starts with the handshake instead.
Bearer tokens (off by default): FakeImapd(tokens={token: user}) accepts
AUTHENTICATE XOAUTH2 and OAUTHBEARER (with or without SASL-IR) when the
capability list in force announces AUTH=<mech>; a bad token gets the error
challenge "+ <base64 JSON>", whose answer is recorded, then NO
[AUTHENTICATIONFAILED].  Every bearer attempt is appended to `auths` as a
dict (conn, mech, user, ok, ir, answer, tls).

Fault knobs live in the mutable dict `faults` and are read for every new
connection / command, so a test can change them between sessions:

    no_greeting          accept, then never send anything
    close_after_greeting send the greeting, then close
    garbage_greeting     send garbage instead of the greeting (then hang)
    greeting             text sent as the greeting instead of the usual one
    hang_on              set of commands never answered, e.g. {'LOGIN',
                         'AUTHENTICATE'}; UID commands as 'UID FETCH'
    garbage_on           set of commands answered with garbage (then hang)
    no_on                set of commands answered with a tagged NO
    reply_on             {command: text} answered with text instead, its
                         "{tag}" replaced by the command's tag
    drop_mid_literal_uid UID whose BODY[] is cut at message offset drop_at
    drop_at              (default: half the message): the literal (full or
                         partial <off.len>) that covers that offset is sent
                         up to it, then FIN; literals that do not cover it
                         (earlier chunks, size probes) are served normally
    delay                {command: seconds} before answering
    uid_last             True: FETCH responses name the UID after the other
                         items (legal: RFC 3501 fixes no order)
    foreign_body         {uid: (other_uid, from_offset)}: the BODY[] literals
                         of uid that start at or after from_offset are sent
                         labelled "UID other_uid" and carry that message's
                         octets (or 'X's), as a confused upstream would
    size_lie             {uid: delta}: RFC822.SIZE of uid is reported delta
                         octets off; the body is served as it is
    dup_body             {uid: True}: each FETCH response with a body of uid
                         is sent twice
    select_readonly      True: SELECT opens the mailbox read-only
    caps_pre / caps_post capability strings before / after login (defaults
                         CAPS_PRE / CAPS_POST); with LOGINDISABLED in
                         caps_pre, LOGIN is refused with BAD
    login_caps_code      False: no [CAPABILITY] code in the login OK, so a
                         client must ask CAPABILITY to learn caps_post
    caps_tls             capability string after STARTTLS, before login
                         (default CAPS_PRE)
    starttls_inject      bytes sent in the same write as the STARTTLS OK,
                         before the handshake (a man in the middle's
                         injection, CVE-2011-0411 class)
    starttls_hang        answer STARTTLS with OK, then never handshake
    oauth_error_json     JSON text of the bearer error challenge
    fault_on             one fault at one step of a session, e.g.
                         {'UID STORE': ('drop_after', '\\Deleted')}: see
                         fake_faults.py

Every command line received is appended to `log` as (conn_no, line) (the
LOGIN/AUTHENTICATE arguments are masked; "AUTHENTICATE MECH ***" for
mechanisms other than PLAIN).  A TLS handshake adds (conn_no, '* tls
TLSv1.3'), or '* tls failed: REASON'.
"""

import base64
import json
import re
import socket
import ssl
import threading
import time

from fake_faults import FaultSteps
from pki import limit_tls_versions

OAUTH_ERROR_JSON = '{"status":"401","schemes":"bearer","scope":"mail"}'


def tls_server_context(cert, key, minimum=None, maximum=None):
    """A server-side ssl.SSLContext for FakeImapd(tls_context=...).
    minimum/maximum: ssl.TLSVersion; below TLS 1.2 the security level is
    lowered to 0, as OpenSSL 3 needs for TLS 1.0/1.1."""
    ctx = limit_tls_versions(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), minimum, maximum)
    if maximum is not None and maximum < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
    ctx.load_cert_chain(cert, key)
    return ctx

GARBAGE = (b'\x00\xff\xfe\x80garbage\x01\x02 (((( ]]]] )\r\n'
           b'HTTP/1.1 400 Bad Request\r\n'
           b'* 1 FETCH (UID {18446744073709551616}\r\n'
           b'\x1b[31m\xc3\x28\xa0\xa1 junk junk junk\r\n')


class _Closed(Exception):
    pass


def _parse_set(text, max_value):
    """An IMAP sequence set -> predicate on int.  '*' is max_value."""
    ranges = []
    for part in text.split(','):
        if ':' in part:
            a, b = part.split(':', 1)
        else:
            a = b = part
        a = max_value if a == '*' else int(a)
        b = max_value if b == '*' else int(b)
        if a > b:
            a, b = b, a
        ranges.append((a, b))
    return lambda v: any(a <= v <= b for a, b in ranges)


class Message:
    def __init__(self, uid, raw, flags=()):
        self.uid = uid
        self.raw = bytes(raw)
        self.flags = set(flags)


def _sasl_b64decode(resp):
    """A SASL response as bytes ("=" is the empty one); ValueError or
    binascii.Error when it is not base64."""
    return base64.b64decode(resp if resp != '=' else '', validate=True)


class FakeImapd:
    live = set()
    session_class = None    # a _Session subclass; None: _Session itself

    def __init__(self, users=None, messages=(), uidvalidity=1234567, first_uid=1,
                 tls_context=None, implicit_tls=False, tokens=None):
        self.users = dict(users or {'alice': 'secret'})
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.tokens = dict(tokens or {})
        self.auths = []
        self.uidvalidity = uidvalidity
        self.lock = threading.RLock()
        self.messages = []
        self.next_uid = first_uid
        for raw in messages:
            self.add_message(raw)
        self.faults = {}
        self.log = []
        self.port = None
        self.connections = 0
        self._sock = None
        self._stop = threading.Event()
        self._threads = []
        self._conns = set()

    # -- mailbox --
    def reset(self, messages=(), uidvalidity=None, first_uid=1):
        """Replace the mailbox, clear the faults and the log."""
        with self.lock:
            self.messages = []
            self.next_uid = first_uid
            if uidvalidity is not None:
                self.uidvalidity = uidvalidity
            for raw in messages:
                self.add_message(raw)
            self.faults.clear()
            del self.log[:]
            del self.auths[:]

    def add_message(self, raw, flags=()):
        with self.lock:
            m = Message(self.next_uid, raw, flags)
            self.next_uid += 1
            self.messages.append(m)
            return m.uid

    def uids(self):
        with self.lock:
            return [m.uid for m in self.messages]

    def flags(self, uid):
        with self.lock:
            for m in self.messages:
                if m.uid == uid:
                    return set(m.flags)
        return None

    def open_connections(self):
        """Connections accepted and not closed yet."""
        return len(self._conns)

    def commands(self, conn=None):
        """Command lines received (optionally on one connection), without tags."""
        out = []
        for c, line in list(self.log):
            if conn is None or c == conn:
                parts = line.split(' ', 1)
                out.append(parts[1] if len(parts) > 1 else '')
        return out

    # -- lifecycle --
    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(('127.0.0.1', 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name='fake-imapd-accept', daemon=True)
        t.start()
        self._threads.append(t)
        FakeImapd.live.add(self)
        return self

    def stop(self):
        self._stop.set()
        FakeImapd.live.discard(self)
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        for c in list(self._conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(5)

    kill_now = stop

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
            self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn, n),
                                 name='fake-imapd-%d' % n, daemon=True)
            t.start()
            self._threads.append(t)

    # -- one connection --
    def _serve(self, conn, n):
        s = (self.session_class or _Session)(self, conn, n)
        try:
            s.run()
        except (_Closed, OSError):
            pass
        finally:
            # After STARTTLS the session talks through an SSLSocket.
            for c in {conn, s.conn}:
                self._conns.discard(c)
                try:
                    c.close()
                except OSError:
                    pass


class _Session(FaultSteps):
    garbage = GARBAGE       # what fault_on 'garbage' sends
    CAPS_PRE = 'IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN'
    CAPS_POST = 'IMAP4rev1 LITERAL+ SASL-IR UIDPLUS'

    def __init__(self, server, conn, n):
        self.srv = server
        self.conn = conn
        self.n = n
        self.buf = b''
        self.authed = False
        self.selected = False
        self.readonly = False
        self.tls = None         # protocol version once TLS is up
        self.view = []          # [Message] as this connection sees them (seq order)
        self.mute = False       # fault_on 'drop_after': answers are withheld
        self.data_fault = None  # fault_on kind the command's handler plays
        conn.settimeout(0.2)

    # -- I/O --
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if not self.mute:
            self.conn.sendall(data)

    def _recv(self):
        while not self.srv._stop.is_set():
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise _Closed()
            return chunk
        raise _Closed()

    def readline(self):
        while b'\n' not in self.buf:
            self.buf += self._recv()
            if len(self.buf) > 1 << 20:
                raise _Closed()
        line, self.buf = self.buf.split(b'\n', 1)
        return line.rstrip(b'\r')

    def read_exact(self, n):
        while len(self.buf) < n:
            self.buf += self._recv()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_command(self):
        """A full command line with literals inlined as quoted-ish text;
        returns (line_text, [literal bytes])."""
        parts = []
        literals = []
        while True:
            line = self.readline()
            m = re.search(rb'\{(\d+)(\+?)\}$', line)
            if not m:
                parts.append(line)
                break
            parts.append(line[:m.start()] + b'\x00LIT%d\x00' % len(literals))
            if not m.group(2):
                self.send('+ go ahead\r\n')
            literals.append(self.read_exact(int(m.group(1))))
        return b''.join(parts).decode('utf-8', 'replace'), literals

    def hang(self):
        """Never answer again; swallow input until EOF or server stop."""
        while True:
            self._recv()

    def start_tls(self):
        """Server side of the handshake on this connection."""
        raw = self.conn
        raw.settimeout(10)
        try:
            self.conn = self.srv.tls_context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.srv.log.append((self.n, '* tls failed: %s' % e))
            raise _Closed()
        self.srv._conns.discard(raw)
        self.srv._conns.add(self.conn)
        self.conn.settimeout(0.2)
        self.tls = self.conn.version()
        self.srv.log.append((self.n, '* tls %s' % self.tls))

    def close_gracefully(self):
        if self.tls:
            try:
                self.conn = self.conn.unwrap()      # close_notify
            except (ssl.SSLError, OSError):
                pass
        try:
            self.conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if not self.conn.recv(65536):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        raise _Closed()

    # -- tokens --
    @staticmethod
    def tokens(text, literals):
        out = []
        i = 0
        while i < len(text):
            c = text[i]
            if c == ' ':
                i += 1
            elif c == '"':
                j = i + 1
                val = ''
                while j < len(text) and text[j] != '"':
                    if text[j] == '\\' and j + 1 < len(text):
                        j += 1
                    val += text[j]
                    j += 1
                out.append(val)
                i = j + 1
            elif c == '\x00':
                j = text.index('\x00', i + 1)
                out.append(literals[int(text[i + 4:j])].decode('utf-8', 'replace'))
                i = j + 1
            elif c == '(':
                depth, j = 0, i
                while j < len(text):
                    if text[j] == '(':
                        depth += 1
                    elif text[j] == ')':
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                out.append(text[i:j + 1])
                i = j + 1
            else:
                j = i
                depth = 0
                while j < len(text) and (text[j] != ' ' or depth):
                    if text[j] == '[':
                        depth += 1
                    elif text[j] == ']':
                        depth -= 1
                    j += 1
                out.append(text[i:j])
                i = j
        return out

    # -- main loop --
    def run(self):
        f = self.srv.faults
        if self.srv.implicit_tls:
            self.start_tls()
        if f.get('no_greeting'):
            self.hang()
        greeting_fault = self.play_fault('GREETING')
        if f.get('garbage_greeting'):
            self.send(GARBAGE)
            self.hang()
        if f.get('greeting'):
            self.send(f['greeting'])
        else:
            self.send('* OK [CAPABILITY %s] fake imapd ready.\r\n' % self.caps())
        if f.get('close_after_greeting') or greeting_fault == 'drop_after':
            self.close_gracefully()
        while True:
            text, literals = self.read_command()
            toks = self.tokens(text, literals)
            if len(toks) < 2:
                self.send('* BAD missing command\r\n')
                continue
            tag, cmd = toks[0], toks[1].upper()
            args = toks[2:]
            if cmd == 'UID' and args:
                cmd = 'UID ' + args[0].upper()
                args = args[1:]
            masked = text if cmd not in ('LOGIN', 'AUTHENTICATE') else '%s %s ***' % (tag, cmd)
            if cmd == 'AUTHENTICATE' and args and args[0].upper() != 'PLAIN':
                masked = '%s %s %s ***' % (tag, cmd, args[0].upper())
            self.srv.log.append((self.n, masked))
            step, offset = self.fault_step(cmd, args)
            self.data_fault = self.play_fault(step, text, offset, args)
            f = self.srv.faults
            if cmd in f.get('hang_on', ()):
                self.hang()
            if cmd in f.get('garbage_on', ()):
                self.send(GARBAGE)
                self.hang()
            delay = f.get('delay', {}).get(cmd)
            if delay:
                time.sleep(delay)
            if cmd in f.get('no_on', ()):
                self.send('%s NO [UNAVAILABLE] fault injected\r\n' % tag)
                continue
            if cmd in f.get('reply_on', {}):
                self.send(f['reply_on'][cmd].replace('{tag}', tag))
                continue
            handler = getattr(self, 'cmd_' + cmd.replace(' ', '_').lower(), None)
            if handler is None:
                self.send('%s BAD unknown command %s\r\n' % (tag, cmd))
                continue
            try:
                handler(tag, args)
            except (ValueError, IndexError, KeyError) as e:
                self.send('%s BAD %s\r\n' % (tag, str(e).replace('\r', ' ').replace('\n', ' ')))
            if self.data_fault == 'drop_after':
                raise _Closed()

    # -- commands --
    def caps(self):
        f = self.srv.faults
        if self.authed:
            return f.get('caps_post', self.CAPS_POST)
        if self.tls and not self.srv.implicit_tls:
            return f.get('caps_tls', self.CAPS_PRE)
        pre = self.CAPS_PRE
        if self.srv.tls_context is not None and not self.srv.implicit_tls:
            pre += ' STARTTLS'
        return f.get('caps_pre', pre)

    def cmd_starttls(self, tag, args):
        if self.srv.tls_context is None or self.tls or self.authed:
            raise ValueError('STARTTLS not available')
        inject = self.srv.faults.get('starttls_inject', b'')
        if isinstance(inject, str):
            inject = inject.encode()
        self.send(('%s OK Begin TLS negotiation now\r\n' % tag).encode() + inject)
        if self.buf:
            # RFC 9051 sec. 6.2.1: a client must not pipeline past STARTTLS.
            self.srv.log.append((self.n, '* fault: client sent %d octets after '
                                 'STARTTLS' % len(self.buf)))
            raise _Closed()
        if inject:
            self.srv.log.append((self.n, '* fault: injected after STARTTLS OK'))
        if self.srv.faults.get('starttls_hang'):
            self.srv.log.append((self.n, '* fault: no TLS handshake after STARTTLS OK'))
            self.hang()
        self.start_tls()

    def cmd_capability(self, tag, args):
        self.send('* CAPABILITY %s\r\n%s OK done\r\n' % (self.caps(), tag))

    def cmd_noop(self, tag, args):
        self.send('%s OK NOOP done\r\n' % tag)

    cmd_check = cmd_noop

    def cmd_id(self, tag, args):
        self.send('* ID ("name" "fake_imapd")\r\n%s OK ID done\r\n' % tag)

    def cmd_enable(self, tag, args):
        self.send('* ENABLED\r\n%s OK ENABLE done\r\n' % tag)

    def cmd_logout(self, tag, args):
        self.send('* BYE logging out\r\n%s OK LOGOUT done\r\n' % tag)
        self.close_gracefully()

    def _login_ok(self, tag, user, password, force=False):
        if force or (self.srv.users.get(user) == password and password is not None):
            self.authed = True
            if self.srv.faults.get('login_caps_code', True):
                self.send('%s OK [CAPABILITY %s] Logged in\r\n' % (tag, self.caps()))
            else:
                self.send('%s OK Logged in\r\n' % tag)
        else:
            self.send('%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n' % tag)

    def cmd_login(self, tag, args):
        if self.authed:
            raise ValueError('already logged in')
        if 'LOGINDISABLED' in self.caps().split():
            self.send('%s BAD LOGIN is disabled\r\n' % tag)
            return
        self._login_ok(tag, args[0], args[1])

    @staticmethod
    def _bearer_parse(mech, msg):
        """(user, token) of an XOAUTH2 or OAUTHBEARER client message."""
        if mech == 'XOAUTH2':
            fields = msg.split(b'\x01')
            user = fields[0][5:] if fields[0].startswith(b'user=') else b''
            kv = fields[1:]
        else:
            gs2, _, rest = msg.partition(b'\x01')
            user = b''
            for part in gs2.split(b','):
                if part.startswith(b'a='):
                    user = part[2:].replace(b'=2C', b',').replace(b'=3D', b'=')
            kv = rest.split(b'\x01')
        token = None
        for field in kv:
            if field.startswith(b'auth=Bearer '):
                token = field[12:]
        return user.decode('utf-8', 'replace'), (token or b'').decode('utf-8', 'replace')

    def _sasl_response(self, tag, args):
        """The client's SASL response to AUTHENTICATE MECH [IR]: the initial
        response args[1], else the line answering an empty challenge; None
        (after a BAD) when the client cancels with "*"."""
        if len(args) > 1:
            resp = args[1]
        else:
            self.send('+ \r\n')
            resp = self.readline().decode()
        if resp == '*':
            self.send('%s BAD cancelled\r\n' % tag)
            return None
        return resp

    def _authenticate_bearer(self, tag, mech, args):
        if 'AUTH=%s' % mech not in self.caps().upper().split():
            self.send('%s NO [CANNOT] Unsupported authentication mechanism\r\n' % tag)
            return
        ir = len(args) > 1
        resp = self._sasl_response(tag, args)
        if resp is None:
            return
        try:
            msg = _sasl_b64decode(resp)
        except (ValueError, base64.binascii.Error):
            self.send('%s BAD bad base64\r\n' % tag)
            return
        user, token = self._bearer_parse(mech, msg)
        want = self.srv.tokens.get(token)
        ok = want is not None and (user == want or (mech == 'OAUTHBEARER' and not user))
        rec = {'conn': self.n, 'mech': mech, 'user': user, 'ok': ok, 'ir': ir,
               'answer': None, 'tls': self.tls}
        self.srv.auths.append(rec)
        if ok:
            self._login_ok(tag, want, self.srv.users.get(want, ''), force=True)
            return
        err = self.srv.faults.get('oauth_error_json', OAUTH_ERROR_JSON)
        self.send('+ %s\r\n' % base64.b64encode(err.encode()).decode())
        rec['answer'] = self.readline().decode('utf-8', 'replace')
        self.send('%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n' % tag)

    def cmd_authenticate(self, tag, args):
        if self.authed:
            raise ValueError('already logged in')
        mech = args[0].upper()
        if mech in ('XOAUTH2', 'OAUTHBEARER') and self.srv.tokens:
            self._authenticate_bearer(tag, mech, args)
            return
        if mech != 'PLAIN':
            raise ValueError('unsupported')
        ir = self._sasl_response(tag, args)
        if ir is None:
            return
        try:
            dec = _sasl_b64decode(ir)
            _, user, password = dec.split(b'\x00', 2)
            self._login_ok(tag, user.decode('utf-8'), password.decode('utf-8'))
        except (ValueError, base64.binascii.Error):
            self.send('%s NO [AUTHENTICATIONFAILED] bad PLAIN response\r\n' % tag)

    def need_auth(self):
        if not self.authed:
            raise ValueError('not authenticated')

    def need_selected(self):
        self.need_auth()
        if not self.selected:
            raise ValueError('no mailbox selected')

    def cmd_select(self, tag, args, readonly=False):
        self.need_auth()
        if args[0].upper() != 'INBOX':
            self.send('%s NO [NONEXISTENT] Mailbox doesn\'t exist: %s\r\n' % (tag, args[0]))
            return
        with self.srv.lock:
            self.view = list(self.srv.messages)
            nxt = self.srv.next_uid
        self.selected = True
        readonly = readonly or bool(self.srv.faults.get('select_readonly'))
        self.readonly = readonly
        self.send('* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n'
                  '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok\r\n'
                  '* %d EXISTS\r\n* 0 RECENT\r\n'
                  '* OK [UIDVALIDITY %d] UIDs valid\r\n'
                  '* OK [UIDNEXT %d] Predicted next UID\r\n'
                  '%s OK [%s] %s completed\r\n'
                  % (len(self.view), self.srv.uidvalidity, nxt, tag,
                     'READ-ONLY' if readonly else 'READ-WRITE',
                     'EXAMINE' if readonly else 'SELECT'))

    def cmd_examine(self, tag, args):
        self.cmd_select(tag, args, readonly=True)

    def cmd_list(self, tag, args):
        self.need_auth()
        ref, pat = args[0], args[1]
        if pat == '':
            self.send('* LIST (\\Noselect) "/" ""\r\n')
        elif pat in ('*', '%', 'INBOX') or pat.upper() == 'INBOX':
            self.send('* LIST (\\HasNoChildren) "/" INBOX\r\n')
        self.send('%s OK List completed.\r\n' % tag)

    def cmd_unselect(self, tag, args):
        self.need_selected()
        self.selected = False
        self.send('%s OK UNSELECT done\r\n' % tag)

    def cmd_close(self, tag, args):
        self.need_selected()
        if not self.readonly:
            self._expunge(lambda m: True, announce=False)
        self.selected = False
        self.send('%s OK CLOSE done\r\n' % tag)

    def _by_uid_set(self, text):
        maxuid = max([m.uid for m in self.view] or [0])
        pred = _parse_set(text, maxuid)
        return [(i + 1, m) for i, m in enumerate(self.view) if pred(m.uid)]

    @staticmethod
    def _flag_text(m):
        return '(%s)' % ' '.join(sorted(m.flags))

    def cmd_uid_fetch(self, tag, args):
        self.need_selected()
        items_text = ' '.join(args[1:]).strip()
        if items_text.startswith('(') and items_text.endswith(')'):
            items_text = items_text[1:-1]
        items = re.findall(r'BODY(?:\.PEEK)?\[[^\]]*\](?:<\d+(?:\.\d+)?>)?|[A-Za-z0-9.]+',
                           items_text)
        if not items:
            raise ValueError('no fetch items')
        drop_uid = self.srv.faults.get('drop_mid_literal_uid')
        uid_last = self.srv.faults.get('uid_last', False)
        for seq, m in self._by_uid_set(args[0]):
            with self.srv.lock:
                alive = m in self.srv.messages
            if not alive:
                continue
            label_uid = m.uid
            if self.data_fault == 'wrong_uid':
                others = [x.uid for x in self.view if x.uid != m.uid]
                label_uid = others[0] if others else m.uid + 1000
            # out[1] is the UID item, filled in at the end; every other
            # item starts with a space, cut from the first one then.
            out = [b'* %d FETCH (' % seq, b'' if uid_last else b'UID %d' % m.uid]
            for it in items:
                u = it.upper()
                if u == 'UID':
                    continue
                if u in ('RFC822.SIZE',):
                    lie = self.srv.faults.get('size_lie', {}).get(m.uid, 0)
                    lie += 5000 if self.data_fault == 'wrong_size' else 0
                    if lie:
                        self.srv.log.append((self.n, '* fault: size of UID %d reported '
                                             '%+d octets off' % (m.uid, lie)))
                    out.append(b' RFC822.SIZE %d' % (len(m.raw) + lie))
                elif u == 'FLAGS':
                    out.append(b' FLAGS ' + self._flag_text(m).encode())
                elif u == 'INTERNALDATE':
                    out.append(b' INTERNALDATE "03-Mar-2026 10:00:00 +0000"')
                elif u.startswith('BODY'):
                    mm = re.match(r'BODY(?:\.PEEK)?\[([^\]]*)\](?:<(\d+)(?:\.(\d+))?>)?$', u)
                    section, off, ln = mm.group(1), mm.group(2), mm.group(3)
                    data = m.raw
                    if section == 'HEADER':
                        k = data.find(b'\r\n\r\n')
                        data = data if k < 0 else data[:k + 4]
                    elif section == 'TEXT':
                        k = data.find(b'\r\n\r\n')
                        data = b'' if k < 0 else data[k + 4:]
                    elif section != '':
                        raise ValueError('unsupported section %s' % section)
                    label = 'BODY[%s]' % section
                    start = 0
                    if off is not None:
                        start = off = int(off)
                        data = data[off:] if ln is None else data[off:off + int(ln)]
                        label += '<%d>' % off
                    if self.data_fault == 'wrong_size':
                        data = data[:-1000] if len(data) > 1000 else data + b'\r\nX'
                    foreign = self.srv.faults.get('foreign_body', {}).get(m.uid)
                    if foreign is not None and section == '' and start >= foreign[1]:
                        label_uid = foreign[0]
                        other = [x for x in self.srv.messages if x.uid == foreign[0]]
                        alien = other[0].raw[start:] if other else b''
                        alien = (alien + b'X' * len(data))[:len(data)]
                        self.srv.log.append((self.n, '* fault: body of UID %d sent as UID %d'
                                             % (m.uid, foreign[0])))
                        out.append(b' ' + label.encode() + b' {%d}\r\n' % len(data))
                        out.append(alien)
                        continue
                    out.append(b' ' + label.encode() + b' {%d}\r\n' % len(data))
                    drop_at = self.srv.faults.get('drop_at', len(m.raw) // 2)
                    if drop_uid == m.uid and section == '' and \
                            start <= drop_at < start + len(data):
                        n = drop_at - start
                        self.send(b''.join(out) + data[:n])
                        self.srv.log.append((self.n, '* fault: dropped at message offset %d, '
                                             'after %d of %d literal octets'
                                             % (drop_at, n, len(data))))
                        self.close_gracefully()
                    out.append(data)
                else:
                    raise ValueError('unsupported fetch item %s' % it)
            if uid_last:
                out.append(b' UID %d' % label_uid)
                if len(out) > 2 and out[2].startswith(b' '):
                    out[2] = out[2][1:]
            else:
                out[1] = b'UID %d' % label_uid
            out.append(b')\r\n')
            self.send(b''.join(out))
            if self.srv.faults.get('dup_body', {}).get(m.uid) and any(
                    i.upper().startswith('BODY') for i in items):
                self.send(b''.join(out))
        self.send('%s OK Fetch completed.\r\n' % tag)

    def _store(self, tag, args):
        self.need_selected()
        if self.readonly:
            self.send('%s NO mailbox is read-only\r\n' % tag)
            return
        op = args[1].upper()
        flags = set(' '.join(args[2:]).strip('()').split())
        silent = op.endswith('.SILENT')
        hits = self._by_uid_set(args[0])
        with self.srv.lock:
            for seq, m in hits:
                if m not in self.srv.messages:
                    continue
                if op.startswith('+'):
                    m.flags |= flags
                elif op.startswith('-'):
                    m.flags -= flags
                else:
                    m.flags = set(flags)
                if not silent:
                    self.send('* %d FETCH (UID %d FLAGS %s)\r\n' % (seq, m.uid, self._flag_text(m)))
        self.send('%s OK Store completed.\r\n' % tag)

    def cmd_uid_store(self, tag, args):
        self._store(tag, args)

    def _expunge(self, pred, announce=True):
        with self.srv.lock:
            gone = [m for m in self.view if '\\Deleted' in m.flags and pred(m)
                    and m in self.srv.messages]
            for m in gone:
                self.srv.messages.remove(m)
        for m in sorted(gone, key=lambda x: -self.view.index(x)):
            seq = self.view.index(m) + 1
            self.view.remove(m)
            if announce:
                self.send('* %d EXPUNGE\r\n' % seq)

    def cmd_uid_expunge(self, tag, args):
        self.need_selected()
        maxuid = max([m.uid for m in self.view] or [0])
        pred = _parse_set(args[0], maxuid)
        self._expunge(lambda m: pred(m.uid))
        self.send('%s OK Expunge completed.\r\n' % tag)

    def cmd_expunge(self, tag, args):
        self.need_selected()
        self._expunge(lambda m: True)
        self.send('%s OK Expunge completed.\r\n' % tag)

    def cmd_uid_search(self, tag, args):
        self.need_selected()
        crit = [a.upper() for a in args]
        res = []
        for m in self.view:
            ok = True
            i = 0
            while i < len(crit):
                c = crit[i]
                if c == 'ALL':
                    pass
                elif c == 'DELETED':
                    ok &= '\\Deleted' in m.flags
                elif c == 'UNDELETED':
                    ok &= '\\Deleted' not in m.flags
                elif c == 'UID':
                    i += 1
                    maxuid = max([x.uid for x in self.view] or [0])
                    ok &= _parse_set(crit[i], maxuid)(m.uid)
                else:
                    raise ValueError('unsupported search key %s' % c)
                i += 1
            if ok:
                res.append(m.uid)
        self.send('* SEARCH%s\r\n%s OK Search completed.\r\n'
                  % (''.join(' %d' % u for u in res), tag))
