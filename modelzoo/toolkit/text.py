"""Text from records (an error, a title, a card name: anyone can edit a record) made safe
for where it goes: :func:`terminal_text` before it is printed, :func:`markdown_text` before
it is written into a Markdown table or line (results.md, the README blocks). The HTML
report escapes through its template's autoescape; the CSV through ``report.cells.csv_cell``.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but newline and tab (ESC starts every terminal escape sequence), DEL, C1
# controls (0x9b is a one-byte CSI), and the bidirectional overrides that reorder what a
# reader sees (U+202A-U+202E, U+2066-U+2069).
_UNSAFE_FOR_TERMINALS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What a Markdown renderer takes as HTML: a tag, closing tag, comment, declaration or
# processing instruction ("<" then a letter, "/", "!" or "?"), or an entity ("&lt;", "&#60;").
# A lone "<" or ">" ("Acc@1 >= 75.90", "<= 2.6") stays as written.
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])|&(?=#?[A-Za-z0-9]+;)")


def terminal_text(text: Any) -> str:
    """``text`` with every control character a terminal would act on shown as an escape
    (``\\x1b``) instead: a record cannot move the cursor, recolour, retitle or clear the
    screen, or hide a line behind a carriage return. Newlines and tabs are kept."""
    return _UNSAFE_FOR_TERMINALS.sub(lambda m: _escape(m.group()), str(text))


def markdown_text(text: Any) -> str:
    """``text`` as one Markdown line that renders as the text it is: whitespace (newlines
    included) collapsed, the ``<`` or ``&`` that would start HTML (a tag, a comment, an
    entity) written as an entity, so no markup of a record reaches the page; ``|`` escaped
    (no table cell ends early); control characters shown as escapes."""
    line = " ".join(terminal_text(text).split())
    return _HTML_START.sub(lambda m: "&lt;" if m.group() == "<" else "&amp;", line).replace("|", "\\|")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xff else f"\\u{code:04x}"
