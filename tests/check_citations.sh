#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that every citation in the code and docs resolves inside the
# repository: each *.md named exists (from the repository root or the
# citing file's folder), each "doc/X.md sec. N" or "DESIGN.md sec. N" names
# a section of that file, and each conformance item ("conformance 12.4",
# "doc/pop3-conformance.md 9.8") exists in doc/pop3-conformance.md. The
# design notes outside the repository may not be cited by their old names.
# Usage: tests/check_citations.sh [ROOT]; exits 1 with file:line: reasons.
set -eu

ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$ROOT" <<'EOF'
import bisect
import io
import os
import re
import sys
import tokenize

root = sys.argv[1]
SCAN = ['proto', 'config', 'net', 'backend', 'gateway', 'tests', 'bench',
        'README.md', 'DESIGN.md', 'doc']
SKIP_DIRS = {'corpus', '__pycache__'}
TEXT = ('.c', '.h', '.py', '.sh', '.md', '.txt', '.dict', '.cmake')

# A list of section or item numbers: "10-11", "2, 3.2, 21.6", "1.3/4.10".
NUM = r'\d+(?:\.\d+)*'
LIST = NUM + r'(?:\s*(?:-|,|/|,?\s*and)\s*' + NUM + r')*'
MD = re.compile(r'(?<![\w./:-])((?:[\w-]+/)*[\w.-]*[\w-]\.md)\b')
OLD = re.compile(r'(?<![\w/.-])(imap-mapping|pop3-conformance|'
                 r'libetpan-async|dovecot-for-tests|architecture\.md|'
                 r'style\.md|anchors\.md)')
SEC = re.compile(r'((?:doc/[\w-]+|DESIGN)\.md)\s+sec(?:tions?|s?\.)\s*('
                 + LIST + ')')
CONF_DOC = re.compile(r'doc/pop3-conformance\.md\s+(?:sections?\s+|'
                      r'items?\s+)?(' + LIST + ')')
CONF = re.compile(r'(?<![\w/-])[Cc]onformance\s+(?:items?\s+)?(' + LIST + ')')


def files():
    for top in SCAN:
        path = os.path.join(root, top)
        if os.path.isfile(path):
            yield top
            continue
        for d, dirs, names in os.walk(path):
            dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
            for n in sorted(names):
                if n.endswith(TEXT) or n == 'CMakeLists.txt':
                    yield os.path.relpath(os.path.join(d, n), root)


def c_comments(text):
    """Only the comments of C source; everything else blanked, line ends
    kept, so that code such as "m.md" is never read as a citation."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(text[i:j])
            i = j
        elif text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
        elif ch in '"\'':
            j = i + 1
            while j < n and text[j] != ch and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            out.append(re.sub(r'[^\n]', ' ', text[i:j + 1]))
            i = j + 1
        else:
            out.append(ch if ch == '\n' else ' ')
            i += 1
    return ''.join(out)


def py_text(text):
    """Comments and string literals of Python source, line ends kept."""
    keep = [re.sub(r'[^\n]', ' ', line) for line in text.split('\n')]
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.COMMENT, tokenize.STRING):
                (r0, c0), (r1, c1) = tok.start, tok.end
                lines = tok.string.split('\n')
                for k, piece in enumerate(lines):
                    row = r0 - 1 + k
                    col = c0 if k == 0 else 0
                    keep[row] = keep[row][:col] + piece + \
                        keep[row][col + len(piece):]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text
    return '\n'.join(keep)


def md_prose(text):
    """Markdown without its fenced blocks (listings, not citations)."""
    out, fenced = [], False
    for line in text.split('\n'):
        if line.startswith('```'):
            fenced = not fenced
            line = ''
        out.append('' if fenced else line)
    return '\n'.join(out)


def joined(text):
    """The text with comment and quote markers at line starts removed and
    lines joined by spaces (a citation may wrap), and a map back to lines."""
    parts, starts, off = [], [], 0
    for i, line in enumerate(text.split('\n')):
        if i > 0:
            line = re.sub(r'^\s*(?:\*|#+|//|;|>)?\s*', '', line)
        starts.append(off)
        parts.append(line)
        off += len(line) + 1
    return ' '.join(parts), starts


_sections = {}


def sections(rel):
    """Section and item numbers of a doc: "## 4." / "### 3.4" headings and
    "12.4 ..." items at the start of a line."""
    if rel not in _sections:
        found = set()
        path = os.path.join(root, rel)
        if os.path.isfile(path):
            for line in open(path, encoding='utf-8', errors='replace'):
                m = re.match(r'#+\s+(' + NUM + r')[.\s]', line) or \
                    re.match(r'(' + NUM + r')\s', line)
                if m:
                    found.add(m.group(1).rstrip('.'))
        _sections[rel] = found
    return _sections[rel]


def numbers(text):
    return re.findall(NUM, text)


errors = []


def check(rel):
    text = open(os.path.join(root, rel), encoding='utf-8',
                errors='replace').read()
    if rel.endswith(('.c', '.h')):
        text = c_comments(text)
    elif rel.endswith('.py'):
        text = py_text(text)
    elif rel.endswith('.md'):
        text = md_prose(text)
    flat, starts = joined(text)

    def err(pos, msg):
        line = bisect.bisect_right(starts, pos)
        errors.append('%s:%d: %s' % (rel, line, msg))

    for m in MD.finditer(flat):
        name = m.group(1)
        if name.startswith('/') or not (
                os.path.exists(os.path.join(root, name)) or
                os.path.exists(os.path.join(root, os.path.dirname(rel),
                                            name))):
            err(m.start(), 'cites %s, which is not in the repository' % name)
    for m in OLD.finditer(flat):
        err(m.start(), 'cites "%s": cite the note in doc/ or DESIGN.md'
            % m.group(1))
    for m in SEC.finditer(flat):
        doc, have = m.group(1), sections(m.group(1))
        for n in numbers(m.group(2)):
            if n not in have:
                err(m.start(), '%s has no section %s' % (doc, n))
    items = sections('doc/pop3-conformance.md')
    for rx in (CONF_DOC, CONF):
        for m in rx.finditer(flat):
            for n in numbers(m.group(1)):
                if n not in items:
                    err(m.start(), 'doc/pop3-conformance.md has no item %s'
                        % n)


for rel in files():
    # This script names the old notes on purpose.
    if rel != 'tests/check_citations.sh':
        check(rel)
for e in errors:
    print(e)
if errors:
    print('check_citations: %d broken citation(s)' % len(errors))
    sys.exit(1)
print('check_citations: ok')
EOF
