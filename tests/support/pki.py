# SPDX-License-Identifier: MIT
"""A throwaway PKI for tests: a CA and server certificates signed by it,
made with the openssl command line into a directory of the test's own,
and limit_tls_versions() for the ssl contexts of both sides."""

import os
import subprocess
import warnings


def limit_tls_versions(ctx, minimum=None, maximum=None):
    """Set ctx.minimum_version / maximum_version (ssl.TLSVersion values;
    None leaves a bound as it is) without the DeprecationWarning Python
    gives for TLS 1.0 and 1.1."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    return ctx


def _run(args, cwd):
    subprocess.run(['openssl'] + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


class TestPKI:
    """ca_cert, ca_key; cert(name) -> (cert_path, key_path) for a server
    certificate whose subjectAltName is DNS:name (and IP:127.0.0.1 for
    'localhost'), signed by this CA; cert(name, eku='clientAuth') for a
    client certificate."""

    def __init__(self, directory, ca_name='popgate test CA'):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key = os.path.join(self.dir, 'ca.key')
        self.ca_cert = os.path.join(self.dir, 'ca.pem')
        _run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
              '-subj', '/CN=%s' % ca_name, '-keyout', self.ca_key,
              '-out', self.ca_cert,
              '-addext', 'basicConstraints=critical,CA:TRUE',
              '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], self.dir)

    def cert(self, name, eku='serverAuth'):
        key = os.path.join(self.dir, '%s.key' % name)
        csr = os.path.join(self.dir, '%s.csr' % name)
        crt = os.path.join(self.dir, '%s.pem' % name)
        ext = os.path.join(self.dir, '%s.ext' % name)
        san = 'DNS:%s' % name + (',IP:127.0.0.1' if name == 'localhost' else '')
        with open(ext, 'w') as f:
            f.write('subjectAltName=%s\nextendedKeyUsage=%s\n' % (san, eku))
        _run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=%s' % name,
              '-keyout', key, '-out', csr], self.dir)
        _run(['x509', '-req', '-in', csr, '-CA', self.ca_cert, '-CAkey',
              self.ca_key, '-CAcreateserial', '-days', '2', '-out', crt,
              '-extfile', ext], self.dir)
        return crt, key
