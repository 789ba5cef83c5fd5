"""terminal_text and markdown_text: record text made safe for a terminal and for Markdown."""

from __future__ import annotations

import pytest

from modelzoo.toolkit.text import markdown_text, terminal_text


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("hidden\rshown", "hidden\\x0dshown"),
    ("\x9b31m", "\\x9b31m"),
    ("\u202egnp.exe", "\\u202egnp.exe"),
    ("\x00\x7f", "\\x00\\x7f"),
    ("two\nlines\tand a tab, ü, 中文", "two\nlines\tand a tab, ü, 中文"),
])
def test_terminal_text_shows_control_characters_as_escapes(raw, shown):
    assert terminal_text(raw) == shown


@pytest.mark.parametrize("raw, shown", [
    ("<script>alert(1)</script>", "&lt;script>alert(1)&lt;/script>"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)>"),
    ("<!-- c --> <?php ?>", "&lt;!-- c --> &lt;?php ?>"),
    ("&lt;b&gt; &#60;", "&amp;lt;b&amp;gt; &amp;#60;"),
    ("Acc@1 >= 75.90, loss <= 2.6, R&D", "Acc@1 >= 75.90, loss <= 2.6, R&D"),
    ("a|b\nc", "a\\|b c"),
    ("\x1b[31mred", "\\x1b[31mred"),
])
def test_markdown_text_neutralises_html_and_keeps_one_line(raw, shown):
    assert markdown_text(raw) == shown
