"""Showing data on a terminal: control characters made visible.

Names, comments, API error messages, CSV cells and paths can come from anywhere (a
Cloudflare-dialect server, a state file written by another tool, a spreadsheet).
Printed raw, ``ESC [ ...`` or ``ESC ] ... BEL`` would drive the terminal: recolour
it, retitle the window, hide text, or rewrite what was printed before. Every
data-derived string the CLI prints for a person goes through :func:`visible`;
JSON output stays exact (the JSON encoder escapes C0 controls itself).

The rule (documented in README.md, "Security"):

- ``\\t`` ``\\n`` ``\\r`` are shown as those two characters;
- other C0 controls, DEL and C1 controls (U+0080-U+009F, which some terminals
  take as 8-bit escape sequences) as ``\\xNN``;
- Unicode format and separator characters (bidi overrides such as U+202E,
  zero-width characters, U+2028/U+2029) and lone surrogates as ``\\uNNNN``.

A backslash is left as it is: the result is for reading, not for parsing back.
"""

from __future__ import annotations

import unicodedata

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape_char(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def needs_escape(ch: str) -> bool:
    return unicodedata.category(ch) in _ESCAPED_CATEGORIES


def visible(text: object) -> str:
    """``text`` (``str()`` of it) with every control or format character shown as an escape."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():  # the common case: nothing to do (C speed)
        return s
    return "".join(_escape_char(ch) if needs_escape(ch) else ch for ch in s)
