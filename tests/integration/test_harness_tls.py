# SPDX-License-Identifier: MIT
"""The TLS mode of the private Dovecot (tests/support/dovecot.py ssl=True)
that TLS tests build on: implicit TLS verifies against the test CA for
"localhost", the plain port offers STARTTLS, and a client that trusts
another CA is refused."""
import os
import socket
import ssl
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'support'))

import harness  # noqa: E402
import mailseed  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from pki import TestPKI  # noqa: E402


class DovecotTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = harness.mkdtemp()
        cls.dc = Dovecot(os.path.join(cls.root, 'dovecot'), ssl=True, pop3=False)
        cls.dc.start()

    @classmethod
    def tearDownClass(cls):
        cls.dc.stop()

    def test_implicit_tls_verifies_against_the_test_ca(self):
        m = self.dc.imap('alice')
        try:
            self.assertEqual(mailseed.append(m, 'INBOX', b'Subject: t\r\n\r\nx\r\n'), 1)
            self.assertIn(m.sock.version(), ('TLSv1.2', 'TLSv1.3'))
        finally:
            m.logout()

    def test_plain_port_offers_starttls(self):
        s = socket.create_connection(('127.0.0.1', self.dc.imap_port), timeout=10)
        try:
            self.assertIn(b'STARTTLS', s.recv(4096))
        finally:
            s.close()

    def test_other_ca_is_refused(self):
        other = TestPKI(os.path.join(self.root, 'other-ca'), ca_name='other CA')
        ctx = ssl.create_default_context(cafile=other.ca_cert)
        raw = socket.create_connection(('127.0.0.1', self.dc.imaps_port), timeout=10)
        with self.assertRaises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname='localhost')
        raw.close()


if __name__ == '__main__':
    harness.main()
