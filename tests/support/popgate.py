# SPDX-License-Identifier: MIT
"""Start and stop the popgate binary for integration tests.

    with Popgate('/tmp/build-main/popgate', workdir, dovecot.imap_port) as pg:
        pop3 = socket.create_connection(('127.0.0.1', pg.port))

stderr (popgate's log) goes to workdir/popgate.log.  stop() signals only the
PID this object started.
"""

import os
import re
import signal
import socket
import subprocess
import time

from dovecot import free_port

START_TIMEOUT = 10.0
# Started as root (CI), popgate drops to this user after start-up.
RUN_AS_USER = 'nobody'
STOP_TIMEOUT = 10.0


class PopgateError(RuntimeError):
    pass


class Popgate:
    # Every running instance, so a watchdog can kill them all by PID.
    live = set()

    def __init__(self, binary, workdir, upstream_port, extra_args=(),
                 config_text=None, port=None):
        """config_text: run `BINARY -c workdir/popgate.conf` instead of the
        command-line form.  The caller writes listen/upstream into the text;
        the placeholders {port} and {upstream_port} are replaced (plain text
        replacement, so other braces such as a UIDL template are safe).
        port: listen port to use (default: a free one)."""
        self.binary = os.path.abspath(binary)
        self.workdir = os.path.abspath(workdir)
        self.upstream_port = upstream_port
        self.extra_args = list(extra_args)
        self.config_text = config_text
        self.port = port
        self.proc = None
        self.returncode = None
        self.log_path = os.path.join(self.workdir, 'popgate.log')
        self.conf_path = None
        self.argv = None

    def start(self):
        if self.proc is not None:
            raise PopgateError('already started')
        os.makedirs(self.workdir, exist_ok=True)
        if self.config_text is not None:
            text = self.config_text
            if self.port is None:
                if '{port}' in text:
                    self.port = free_port()
                else:
                    m = re.search(r'(?m)^\s*address\s*=\s*[^\s:]+:(\d+)', text)
                    if not m:
                        raise PopgateError('config_text has no address and no {port}')
                    self.port = int(m.group(1))
            text = text.replace('{port}', str(self.port))
            if self.upstream_port is not None:
                text = text.replace('{upstream_port}', str(self.upstream_port))
            self.conf_path = os.path.join(self.workdir, 'popgate.conf')
            with open(self.conf_path, 'w') as f:
                f.write(text)
            argv = [self.binary, '-c', self.conf_path] + self.extra_args
        else:
            if self.port is None:
                self.port = free_port()
            argv = [self.binary,
                    '--listen', '127.0.0.1:%d' % self.port,
                    '--upstream', 'imap://127.0.0.1:%d' % self.upstream_port,
                    '--workers', '1'] + self.extra_args
        if os.geteuid() == 0 and RUN_AS_USER and '--user' not in argv \
                and '--allow-root' not in argv:
            # As in production: bind, load keys, then drop root.
            argv = argv + ['--user', RUN_AS_USER]
        self.argv = argv
        log = open(self.log_path, 'ab')
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, close_fds=True,
                                         cwd=self.workdir)
        finally:
            log.close()
        Popgate.live.add(self)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._forget()
                raise PopgateError('popgate exited with status %s during start: %s\n'
                                   '--- popgate.log tail ---\n%s'
                                   % (rc, ' '.join(argv), self.log_tail()))
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise PopgateError('popgate did not accept on 127.0.0.1:%d within '
                                   '%.0fs: %s\n--- popgate.log tail ---\n%s'
                                   % (self.port, START_TIMEOUT, ' '.join(argv),
                                      self.log_tail()))
            time.sleep(0.05)

    def _forget(self):
        if self.proc is not None:
            self.returncode = self.proc.returncode
        self.proc = None
        Popgate.live.discard(self)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal our PID, wait up to timeout, then SIGKILL.  Returns the exit
        status (negative: killed by that signal) and whether it exited in
        time: (returncode, clean)."""
        proc = self.proc
        if proc is None:
            return self.returncode, True
        clean = True
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                clean = False
                proc.kill()
                proc.wait(5)
        self._forget()
        return self.returncode, clean

    def kill_now(self):
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self._forget()

    def log_text(self):
        try:
            with open(self.log_path, 'r', errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def log_tail(self, n=30):
        return '\n'.join(self.log_text().splitlines()[-n:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
