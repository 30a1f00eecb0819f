# SPDX-License-Identifier: MIT
"""The README's demo command works: tests/demo.py --once prints a whole POP3
session through popgate, ending in a clean QUIT, and cleans up after itself."""
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'support'))
import harness  # noqa: E402


class DemoTest(unittest.TestCase):
    def test_demo_session(self):
        out = subprocess.run(
            [sys.executable, os.path.join(HERE, '..', 'demo.py'), '--popgate',
             harness.POPGATE, '--once', '--port', str(harness.free_port())],
            capture_output=True, timeout=120)
        text = out.stdout.decode('utf-8', 'replace')
        self.assertEqual(out.returncode, 0, text + out.stderr.decode())
        self.assertIn('S: +OK popgate ready.', text)
        self.assertIn('C: PASS ********', text)
        self.assertNotIn('demo-password\r', text)
        self.assertRegex(text, r'S: \+OK 3 \d+')
        # RETR 2 shows the stuffed dot lines as they go over the wire.
        self.assertIn('S: ..hidden', text)
        self.assertRegex(text, r'C: QUIT\nS: \+OK')
        self.assertTrue(re.search(r'event=session-end .*user=demo reason="quit"',
                                  text), text)


if __name__ == '__main__':
    harness.main()
