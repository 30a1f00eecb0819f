# SPDX-License-Identifier: MIT
"""Real POP3 clients for the integration tests: curl, openssl s_client,
fetchmail and mpop, each run through harness.run_tool() (killed on timeout
and by the watchdog), fetchmail and mpop in a private directory, plus the
checks that compare what a client got with what the upstream stores
(ClientChecks, a unittest.TestCase mixin).

    out, err = self.curl_ok('pop3://127.0.0.1:%d/1' % port, USER, PASSWORD)
    fm = clients.Fetchmail(FIX.subdir('fetchmail'), '127.0.0.1', port,
                           USER, PASSWORD, "sslproto ''")
    code, text = fm.run()
    self.check_delivered(fm.delivered(), 'fetchmail', ITEMS)
"""

import os
import re
import shutil
import subprocess
import unittest

import harness
import mailseed
from harness import pop3_form

TOOL_TIMEOUT = 60


def require(tool):
    """Skip the calling test when `tool` is not installed (fail in CI)."""
    if not shutil.which(tool):
        harness.tool_missing(tool)


def private_dir(d):
    """Make d (a FIX.subdir()) readable by its owner only: fetchmail and
    mpop refuse a config that others can read."""
    os.chmod(d, 0o700)
    return d


# -- curl ---------------------------------------------------------------------

def curl(url, user, password, *extra, verbose=False, ipv4=False, max_time=30,
         interface=None, login_options=None, cacert=None):
    """curl -s -S URL as user:password; extra: more curl arguments (such as
    --ssl-reqd or -X UIDL).  verbose adds -v (the dialogue on stderr), ipv4
    -4; interface, login_options and cacert are curl's --interface,
    --login-options and --cacert.  Returns the CompletedProcess (argv in
    .args, stdout and stderr as bytes)."""
    argv = ['curl'] + (['-v'] if verbose else []) + (['-4'] if ipv4 else [])
    argv += ['-s', '-S', '--max-time', str(max_time)]
    if interface is not None:
        argv += ['--interface', interface]
    if login_options is not None:
        argv += ['--login-options', login_options]
    if cacert is not None:
        argv += ['--cacert', cacert]
    argv += ['-u', '%s:%s' % (user, password)] + list(extra) + [url]
    return harness.run_tool(argv, timeout=TOOL_TIMEOUT)


# -- openssl s_client ---------------------------------------------------------

def s_client(port, cafile, script, starttls=False, verify=False, extra=()):
    """openssl s_client to 127.0.0.1:port with SNI localhost and cafile,
    sending `script` (bytes); starttls: -starttls pop3; verify: fail unless
    the certificate verifies for localhost; extra: more s_client arguments.
    Returns the CompletedProcess of harness.openssl_s_client()."""
    args = ['-connect', '127.0.0.1:%d' % port]
    if starttls:
        args += ['-starttls', 'pop3']
    args += ['-servername', 'localhost', '-CAfile', cafile]
    if verify:
        args += ['-verify_return_error', '-verify_hostname', 'localhost']
    return harness.openssl_s_client(args + list(extra), script)


# -- fetchmail and mpop ---------------------------------------------------------

class _Downloader:
    """A mail client with its config in the private directory `workdir`;
    run() returns (exit status, stdout and stderr as text)."""

    argv = None
    env = None

    def __init__(self, workdir):
        self.dir = private_dir(workdir)

    def run(self):
        r = harness.run_tool(self.argv, stderr=subprocess.STDOUT, env=self.env,
                             timeout=TOOL_TIMEOUT, cwd=self.dir)
        return r.returncode, r.stdout.decode('utf-8', 'replace')

    @staticmethod
    def _write_private(path, text):
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o600)


class Fetchmail(_Downloader):
    """fetchmail polling host:port as user with `options` (fetchmailrc
    keywords, e.g. the TLS ones), keep and uidl, with proto `proto` (POP3
    or APOP); an MDA writes each message
    to a file of workdir/out.  verbose: -v (the dialogue in the output).
    Skips the test when fetchmail is not installed."""

    def __init__(self, workdir, host, port, user, password, options, verbose=False,
                 proto='POP3'):
        require('fetchmail')
        super().__init__(workdir)
        d = self.dir
        self.out = os.path.join(d, 'out')
        os.mkdir(self.out)
        deliver = os.path.join(d, 'deliver.sh')
        with open(deliver, 'w') as f:
            f.write('#!/bin/sh\nexec cat > "%s/m.$$"\n' % self.out)
        os.chmod(deliver, 0o755)
        rc = os.path.join(d, 'fetchmailrc')
        self._write_private(rc, 'set no syslog\n'
                            'set idfile "%s/ids"\n'
                            'poll %s with proto %s port %d uidl auth password\n'
                            '    user "%s" there with password "%s" is "root" here\n'
                            '    keep\n'
                            '    %s\n'
                            '    mda "%s"\n' % (d, host, proto, port, user, password,
                                                options, deliver))
        self.argv = ['fetchmail'] + (['-v'] if verbose else []) + \
            ['-f', rc, '--nodetach', '--nosyslog']
        self.env = dict(os.environ, HOME=d, FETCHMAILHOME=d)

    def delivered(self):
        """Paths of the messages delivered so far."""
        return [os.path.join(self.out, f) for f in os.listdir(self.out)]


class Mpop(_Downloader):
    """mpop of host:port as user into workdir/Maildir, keep on, with TLS
    when `ca` (its trust file) is given: implicit, or STLS if starttls.
    only_new: mpop's only_new; args: mpop arguments besides -C CONF; auth:
    mpop's auth method (user, apop, plain, ...).
    Skips the test when mpop is not installed."""

    def __init__(self, workdir, host, port, user, password, ca=None, starttls=False,
                 only_new=True, args=('--half-quiet',), auth='user'):
        require('mpop')
        super().__init__(workdir)
        d = self.dir
        self.maildir = os.path.join(d, 'Maildir')
        for sub in ('cur', 'new', 'tmp'):
            os.makedirs(os.path.join(self.maildir, sub))
        if ca is None:
            tls = 'tls off\n'
        else:
            tls = 'tls on\ntls_starttls %s\ntls_trust_file %s\n' % (
                'on' if starttls else 'off', ca)
        conf = os.path.join(d, 'mpoprc')
        self._write_private(conf, 'defaults\naccount default\nhost %s\nport %d\nauth %s\n'
                            '%suser %s\npassword %s\nkeep on\nonly_new %s\n'
                            'received_header off\ndelivery maildir %s\nuidls_file %s/uidls\n'
                            'timeout 30\n' % (host, port, auth, tls, user, password,
                                              'on' if only_new else 'off', self.maildir, d))
        self.argv = ['mpop', '-C', conf] + list(args)
        self.env = dict(os.environ, HOME=d)

    def delivered(self):
        """Paths of the messages in the Maildir (new and cur), sorted."""
        return sorted(os.path.join(self.maildir, sub, f) for sub in ('new', 'cur')
                      for f in os.listdir(os.path.join(self.maildir, sub)))


# -- checks ---------------------------------------------------------------------

def split_header_body(data):
    """(header lines without Received:, body) of an LF-ended message."""
    i = data.find(b'\n\n')
    if i < 0:
        head, body = data, b''
    else:
        head, body = data[:i + 1], data[i + 2:]
    head = re.sub(rb'\AReceived:.*\n(?:[ \t].*\n)*', b'', head)
    return head, body


class ClientChecks:
    """unittest.TestCase mixin: byte comparisons that show where two
    messages differ, curl that must succeed, and the check of what
    fetchmail or mpop delivered."""

    def assertBytesEqual(self, got, want, what):
        if got != want:
            i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                     min(len(got), len(want)))
            self.fail('%s: %d octets, expected %d; first difference at offset %d: '
                      'got %r, expected %r' % (what, len(got), len(want), i,
                                               got[max(0, i - 20):i + 40],
                                               want[max(0, i - 20):i + 40]))

    def curl_ok(self, url, user, password, *extra, **opts):
        """curl() (same arguments) that must exit 0; returns (stdout bytes,
        stderr text)."""
        r = curl(url, user, password, *extra, **opts)
        err = r.stderr.decode('utf-8', 'replace')
        self.assertEqual(r.returncode, 0, '%s: exit %d\n%s' % (' '.join(r.args), r.returncode,
                                                             err[-3000:]))
        return r.stdout, err

    def check_delivered(self, files, tool, items):
        """The messages in `files` are those of `items` (mailseed.seed()
        records), each once, header (but Received:) and body intact."""
        got = {}
        for path in files:
            with open(path, 'rb') as f:
                data = f.read()
            mid = mailseed.message_id(data)
            self.assertIsNotNone(mid, '%s delivered a message without Message-ID: %s'
                                 % (tool, path))
            self.assertNotIn(mid, got, '%s delivered %s twice' % (tool, mid))
            got[mid] = data
        want = {mailseed.message_id(i['stored']): i for i in items}
        self.assertEqual(sorted(got), sorted(want), '%s: set of Message-IDs' % tool)
        for mid, item in want.items():
            exp = pop3_form(item['stored']).replace(b'\r\n', b'\n')
            g_head, g_body = split_header_body(got[mid])
            e_head, e_body = split_header_body(exp)
            self.assertBytesEqual(g_head, e_head, '%s header of %s' % (tool, item['name']))
            self.assertBytesEqual(g_body, e_body, '%s body of %s' % (tool, item['name']))
