# SPDX-License-Identifier: MIT
"""A private Dovecot on loopback for integration tests and benchmarks.

Everything lives under one work directory: base_dir, state_dir, the log,
the passwd file and the maildirs.  The master runs in the foreground
(`dovecot -F -c CONF`) as a child of this process, in its own session, so
that stop() can always reap it and any straggling child by process group,
never by name.  See doc/dovecot-for-tests.md.

    with Dovecot('/tmp/x') as dc:
        imap = dc.imap('alice')
        ...

imapc mode (imapc_upstream_port set) is "Dovecot's POP3 over imapc", the
competitor to benchmark against: its POP3 (and IMAP) serve the mail of the
IMAP server at 127.0.0.1:imapc_upstream_port, with the client's credentials
passed through.

ssl=True: ssl = required with a certificate for ssl_cert_name (default
"localhost", valid for 127.0.0.1 too) signed by a fresh test CA (ca_path).

pop3s=True: the POP3 service also gets an implicit-TLS (POP3S) listener on
pop3s_port, with the same kind of certificate (ssl_cert, ssl_key, ca_path).
Without ssl=True this is "ssl = yes": the plain IMAP and POP3 ports keep
working as before (plaintext logins on loopback), so one instance can serve
plain POP3, POP3S and plain IMAP on the same maildirs.

oauth2_introspection_port=N: XOAUTH2 and OAUTHBEARER are offered besides
PLAIN and LOGIN; a bearer token is checked against an RFC 7662 style
introspection endpoint at http://127.0.0.1:N/introspect (POST), which must
answer {"active": true, "username": USER} for a good token.
"""

import imaplib
import os
import signal
import socket
import subprocess
import time

DEFAULT_USERS = {'alice': 'secret', 'bob': 'secret'}
MAIL_UID = 5000
MAIL_GID = 5000
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
SOCKET_TIMEOUT = 10.0


def free_port():
    """A currently free TCP port on 127.0.0.1 (the usual bind-0 race applies)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _make_traversable(path):
    """chmod o+x every parent of path, so dovenull/dovecot/uid 5000 can reach it."""
    path = os.path.abspath(path)
    parts = []
    while True:
        parts.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for p in parts:
        try:
            mode = os.stat(p).st_mode & 0o7777
            if mode & 0o011 != 0o011:
                os.chmod(p, mode | 0o011)
        except OSError:
            pass


def _greets(port, prefix, timeout=2.0, tls=None):
    """True if 127.0.0.1:port greets with prefix; tls: an ssl.SSLContext
    to wrap the connection in first (implicit TLS, SNI "localhost")."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
            if tls is not None:
                s = tls.wrap_socket(s, server_hostname='localhost')
            s.settimeout(timeout)
            data = b''
            while b'\n' not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return data.startswith(prefix)
    except OSError:     # ssl.SSLError is an OSError
        return False


def proc_stat_fields():
    """Yields (pid, fields after the comm field) for every process in /proc.

    fields[0] is the state, fields[1] the ppid, fields[2] the pgid."""
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                stat = f.read()
        except OSError:
            continue
        yield int(name), stat[stat.rfind(b')') + 2:].split()


def group_alive(pgid):
    """True if a process other than a zombie is in process group pgid.

    Orphaned children are reaped by PID 1, which here can take a second;
    a zombie holds no port or file, so it does not count.
    """
    for _, fields in proc_stat_fields():
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b'Z':
            return True
    return False


class DovecotError(RuntimeError):
    pass


class Dovecot:
    # Every running instance, so a watchdog can kill them all by PID.
    live = set()

    def __init__(self, workdir, users=None, imapc_upstream_port=None,
                 pop3=True, ssl=False, extra_conf=None, ssl_cert_name='localhost',
                 oauth2_introspection_port=None, pop3s=False):
        self.workdir = os.path.abspath(workdir)
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.imapc_upstream_port = imapc_upstream_port
        self.pop3 = pop3
        self.ssl = ssl
        self.ssl_cert_name = ssl_cert_name
        self.oauth2_introspection_port = oauth2_introspection_port
        self.oauth2_conf_path = os.path.join(self.workdir, 'dovecot-oauth2.conf.ext')
        self.extra_conf = extra_conf or ''
        self.imap_port = None
        self.imaps_port = None     # ssl=True: implicit TLS port
        self.ca_path = None        # ssl=True: the CA that signed the cert
        self.pop3_port = None
        self.pop3s = pop3s and pop3
        self.pop3s_port = None     # pop3s=True: implicit TLS port
        self.conf_path = os.path.join(self.workdir, 'dovecot.conf')
        self.log_path = os.path.join(self.workdir, 'dovecot.log')
        self.base_dir = os.path.join(self.workdir, 'run')
        self.state_dir = os.path.join(self.workdir, 'state')
        self.home_root = os.path.join(self.workdir, 'home')
        self.passwd_path = os.path.join(self.workdir, 'passwd')
        self.proc = None

    # -- configuration ---------------------------------------------------
    def _config(self):
        w = self.workdir
        protocols = 'imap pop3' if self.pop3 else 'imap'
        lines = [
            '# generated by tests/support/dovecot.py',
            'protocols = %s' % protocols,
            'listen = 127.0.0.1',
            'base_dir = %s' % self.base_dir,
            'state_dir = %s' % self.state_dir,
            'instance_name = popgate-test-%d' % self.imap_port,
            'log_path = %s' % self.log_path,
            'info_log_path = %s' % self.log_path,
            'debug_log_path = %s' % self.log_path,
            'ssl = required' if self.ssl else
            'ssl = yes' if self.pop3s else 'ssl = no',
            'disable_plaintext_auth = no',
            'auth_mechanisms = plain login' +
            (' xoauth2 oauthbearer' if self.oauth2_introspection_port else ''),
            'auth_failure_delay = 0',
            'auth_cache_size = 0',
            'default_login_user = dovenull',
            'default_internal_user = dovecot',
            'mail_uid = %d' % MAIL_UID,
            'mail_gid = %d' % MAIL_GID,
            'first_valid_uid = 1',
            'first_valid_gid = 1',
            'mail_max_userip_connections = 1000',
            'pop3_uidl_format = %08Xu%08Xv',
            'mail_fsync = never',
            'default_process_limit = 1000',
            'default_client_limit = 4000',
            'default_vsz_limit = 1G',
            'log_timestamp = "%Y-%m-%d %H:%M:%S "',
            'shutdown_clients = yes',
        ]
        if self.imapc_upstream_port is None:
            lines += [
                'mail_location = maildir:%s/%%u/Maildir' % self.home_root,
                'passdb {',
                '  driver = passwd-file',
                '  args = scheme=PLAIN username_format=%%u %s' % self.passwd_path,
            ]
            if self.oauth2_introspection_port:
                lines += [
                    '  mechanisms = plain login',
                    '}',
                    'passdb {',
                    '  driver = oauth2',
                    '  mechanisms = xoauth2 oauthbearer',
                    '  args = %s' % self.oauth2_conf_path,
                ]
            lines += [
                '}',
                'userdb {',
                '  driver = static',
                '  args = home=%s/%%u' % self.home_root,
                '}',
            ]
        else:
            up = self.imapc_upstream_port
            lines += [
                'mail_location = imapc:',
                'imapc_host = 127.0.0.1',
                'imapc_port = %d' % up,
                'imapc_features = rfc822.size fetch-headers',
                'passdb {',
                '  driver = imap',
                '  args = host=127.0.0.1 port=%d' % up,
                '  default_fields = userdb_imapc_user=%u userdb_imapc_password=%w',
                '}',
                'userdb {',
                '  driver = prefetch',
                '}',
            ]
        if self.ssl or self.pop3s:
            lines += [
                'ssl_cert = <%s' % self.ssl_cert,
                'ssl_key = <%s' % self.ssl_key,
                'ssl_min_protocol = TLSv1.2',
            ]
        lines += [
            'service imap-login {',
            '  inet_listener imap {',
            '    address = 127.0.0.1',
            '    port = %d' % self.imap_port,
            '  }',
            '  inet_listener imaps {',
            '    address = 127.0.0.1',
            '    port = %d' % (self.imaps_port or 0),
            '  }',
            '  service_count = 0',
            '  process_min_avail = 2',
            '  process_limit = 100',
            '  client_limit = 1000',
            '}',
            'service imap {',
            '  process_limit = 1000',
            '}',
        ]
        if self.pop3:
            lines += [
                'service pop3-login {',
                '  inet_listener pop3 {',
                '    address = 127.0.0.1',
                '    port = %d' % self.pop3_port,
                '  }',
                '  inet_listener pop3s {',
            ] + (['    address = 127.0.0.1'] if self.pop3s else []) + [
                '    port = %d' % (self.pop3s_port or 0),
                '  }',
                '  service_count = 0',
                '  process_min_avail = 2',
                '  process_limit = 100',
                '  client_limit = 1000',
                '}',
                'service pop3 {',
                '  process_limit = 1000',
                '}',
            ]
        lines += [
            'service anvil {',
            '  unix_listener anvil-auth-penalty {',
            '    mode = 0',
            '  }',
            '}',
            'service auth {',
            '  client_limit = 5000',
            '}',
            # Nothing but loopback IMAP/POP3: no doveadm/imap-urlauth TCP.
            'service doveadm {',
            '  inet_listener {',
            '    port = 0',
            '  }',
            '}',
        ]
        if self.extra_conf:
            lines.append(self.extra_conf)
        return '\n'.join(lines) + '\n'

    def _prepare_dirs(self):
        os.makedirs(self.workdir, exist_ok=True)
        _make_traversable(self.workdir)
        os.chmod(self.workdir, 0o711)
        for d in (self.base_dir, self.state_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        if self.imapc_upstream_port is None:
            os.makedirs(self.home_root, exist_ok=True)
            os.chmod(self.home_root, 0o711)
            for user in self.users:
                home = os.path.join(self.home_root, user)
                os.makedirs(home, exist_ok=True)
                os.chown(home, MAIL_UID, MAIL_GID)
                os.chmod(home, 0o700)
            with open(self.passwd_path, 'w') as f:
                for user, pw in self.users.items():
                    f.write('%s:{PLAIN}%s::::::\n' % (user, pw))
            os.chmod(self.passwd_path, 0o644)
        if self.oauth2_introspection_port:
            # doc/dovecot-for-tests.md: the active check is on by default and
            # the user name attribute defaults to "email".
            with open(self.oauth2_conf_path, 'w') as f:
                f.write('introspection_url = http://127.0.0.1:%d/introspect\n'
                        'introspection_mode = post\n'
                        'username_attribute = username\n'
                        'active_attribute = active\n'
                        'active_value = true\n'
                        'timeout_msecs = 5000\n' % self.oauth2_introspection_port)
            os.chmod(self.oauth2_conf_path, 0o644)
        with open(self.log_path, 'a'):
            pass
        os.chmod(self.log_path, 0o666)

    # -- lifecycle -------------------------------------------------------
    def start(self):
        if self.proc is not None:
            raise DovecotError('already started')
        self.imap_port = free_port()
        self.pop3_port = free_port() if self.pop3 else None
        if self.ssl:
            # ssl = required: TLS before authentication on every port;
            # the plain IMAP port offers STARTTLS, imaps is implicit TLS.
            from pki import TestPKI
            self.pki = TestPKI(os.path.join(self.workdir, 'pki'))
            self.ssl_cert, self.ssl_key = self.pki.cert(self.ssl_cert_name)
            self.ca_path = self.pki.ca_cert
            self.imaps_port = free_port()
        if self.pop3s:
            if not self.ssl:
                from pki import TestPKI
                self.pki = TestPKI(os.path.join(self.workdir, 'pki'))
                self.ssl_cert, self.ssl_key = self.pki.cert(self.ssl_cert_name)
                self.ca_path = self.pki.ca_cert
            taken = {self.imap_port, self.pop3_port, self.imaps_port}
            self.pop3s_port = free_port()
            while self.pop3s_port in taken:
                self.pop3s_port = free_port()
        while self.pop3 and self.pop3_port == self.imap_port:
            self.pop3_port = free_port()
        self._prepare_dirs()
        with open(self.conf_path, 'w') as f:
            f.write(self._config())
        self._spawn()
        return self

    def _spawn(self):
        """Run the master on the configuration written, and wait for it."""
        out = open(os.path.join(self.workdir, 'dovecot.stderr'), 'ab')
        try:
            self.proc = subprocess.Popen(
                ['dovecot', '-F', '-c', self.conf_path],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        finally:
            out.close()
        Dovecot.live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def restart(self, down=0.0):
        """Stop, stay down `down` seconds, then start again on the same
        ports, configuration and maildirs (an upstream restart)."""
        self.stop()
        time.sleep(down)
        self._spawn()

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        user = next(iter(self.users))
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DovecotError('dovecot exited with %s during start\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            ok = _greets(self.imap_port, b'* OK')
            if ok and self.pop3:
                ok = _greets(self.pop3_port, b'+OK')
            if ok and self.pop3s:
                ok = self._pop3s_greets()
            if ok:
                try:
                    self.imap(user).logout()
                    return
                except (OSError, imaplib.IMAP4.error) as e:
                    last_err = e
            time.sleep(0.05)
        raise DovecotError('dovecot not ready within %.0fs (last error: %r)\n%s'
                           % (START_TIMEOUT, last_err, self.log_tail()))

    def _pop3s_greets(self, timeout=2.0):
        import ssl as ssl_mod
        ctx = ssl_mod.create_default_context(cafile=self.ca_path)
        if self.ssl_cert_name != 'localhost':
            ctx.check_hostname = False
        return _greets(self.pop3s_port, b'+OK', timeout, tls=ctx)

    def stop(self):
        proc, self.proc = self.proc, None
        Dovecot.live.discard(self)
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the master leads its own group
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        # Children exit when the master goes (the log process lingers about
        # a second); hurry any straggler of our group along, then reap it.
        for sig, grace in ((signal.SIGTERM, 0.5), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if not group_alive(pgid):
                    return
                time.sleep(0.02)

    def kill_now(self):
        """Emergency stop for watchdogs: SIGKILL the whole process group."""
        proc, self.proc = self.proc, None
        Dovecot.live.discard(self)
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- helpers ---------------------------------------------------------
    def imap(self, user='alice'):
        """A logged-in imaplib.IMAP4 on 127.0.0.1:imap_port (INBOX not selected)."""
        if self.ssl:
            import ssl as ssl_mod
            ctx = ssl_mod.create_default_context(cafile=self.ca_path)
            if self.ssl_cert_name != 'localhost':
                # A certificate made for another name on purpose: the
                # chain is still checked, the name cannot be.
                ctx.check_hostname = False
            m = imaplib.IMAP4_SSL('localhost', self.imaps_port, ssl_context=ctx,
                                  timeout=SOCKET_TIMEOUT)
        else:
            m = imaplib.IMAP4('127.0.0.1', self.imap_port, timeout=SOCKET_TIMEOUT)
        try:
            m.login(user, self.users[user])
        except BaseException:
            try:
                m.shutdown()
            except OSError:
                pass
            raise
        return m

    def log_text(self):
        try:
            with open(self.log_path, 'r', errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def login_lines(self):
        """The imap-login "Login: user=<...>" lines of the log, oldest
        first.  Dovecot 2.3 lists the connection's properties there: "TLS"
        for a TLS connection (implicit or after STARTTLS), "secured" for
        one it trusts without TLS (loopback), and method=PLAIN, XOAUTH2..."""
        return [l for l in self.log_text().splitlines()
                if 'imap-login:' in l and ' Login: user=<' in l]

    def log_tail(self, n=40):
        text = self.log_text()
        try:
            with open(os.path.join(self.workdir, 'dovecot.stderr'), 'r',
                      errors='replace') as f:
                text += f.read()
        except OSError:
            pass
        return '\n'.join(text.splitlines()[-n:])
