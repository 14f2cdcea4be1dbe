"""Markdown → the HTML subset QTextBrowser renders: prose through Qt's own markdown reader, fenced code blocks
through a small keyword highlighter, each with a "copy code" link."""

from __future__ import annotations

import html
import re

from PySide6.QtGui import QTextDocument

CODE_BG = "#0b1220"
COLORS = {"kw": "#c792ea", "str": "#c3e88d", "com": "#697098", "num": "#f78c6c", "fn": "#82aaff"}
KEYWORDS = set(
    """and as assert async await break case catch class const continue def del elif else enum except export extends
    false final finally fn for from func function go if impl import in interface is lambda let loop match mod mut
    new nil none not null or pass pub raise return self static struct super switch this throw true try type typeof
    use var void where while with yield""".split()
)
_TOKEN = re.compile(
    r"(?P<com>#[^\n]*|//[^\n]*|/\*.*?\*/)"
    r"|(?P<str>\"\"\".*?\"\"\"|'''.*?'''|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`[^`]*`)"
    r"|(?P<num>\b\d+(?:\.\d+)?\b)"
    r"|(?P<word>\b[A-Za-z_][A-Za-z0-9_]*\b)(?P<call>\s*\()?",
    re.S,
)
_FENCE = re.compile(r"^```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^```[ \t]*$|\Z)", re.S | re.M)


def highlight_code(code: str) -> str:
    """Code as HTML with comments, strings, numbers, keywords and called names coloured."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(code):
        out.append(html.escape(code[pos : m.start()]))
        pos = m.end()
        kind = m.lastgroup
        if m.group("word") is not None:
            word = m.group("word")
            call = m.group("call") or ""
            if word.lower() in KEYWORDS:
                out.append(f'<span style="color:{COLORS["kw"]}">{word}</span>{html.escape(call)}')
            elif call:
                out.append(f'<span style="color:{COLORS["fn"]}">{word}</span>{html.escape(call)}')
            else:
                out.append(word)
            continue
        out.append(f'<span style="color:{COLORS[kind]}">{html.escape(m.group(0))}</span>')
    out.append(html.escape(code[pos:]))
    return "".join(out)


def split_fences(text: str) -> list[tuple[str, str, str]]:
    """[(kind, lang, body)] with kind "text" or "code"; an unclosed fence runs to the end (live answers)."""
    parts: list[tuple[str, str, str]] = []
    pos = 0
    for m in _FENCE.finditer(text):
        if m.start() > pos:
            parts.append(("text", "", text[pos : m.start()]))
        parts.append(("code", m.group(1), m.group(2).rstrip("\n")))
        pos = m.end()
    if pos < len(text):
        parts.append(("text", "", text[pos:]))
    return parts


def markdown_fragment(text: str) -> str:
    """Prose markdown as an HTML fragment (the body of Qt's own rendering)."""
    doc = QTextDocument()
    doc.setMarkdown(text)
    full = doc.toHtml()
    start = full.find("<body")
    start = full.find(">", start) + 1 if start >= 0 else 0
    end = full.rfind("</body>")
    return full[start : end if end >= 0 else len(full)]


def render_markdown(text: str, code_link_prefix: str) -> tuple[str, list[str]]:
    """(HTML, code blocks): code block n gets a link `<code_link_prefix>:<n>` to copy it."""
    chunks: list[str] = []
    codes: list[str] = []
    for kind, lang, body in split_fences(text):
        if kind == "text":
            if body.strip():
                chunks.append(markdown_fragment(body))
            continue
        n = len(codes)
        codes.append(body)
        label = html.escape(lang or "code")
        chunks.append(
            f'<table width="100%" cellspacing="0" cellpadding="8" style="background:{CODE_BG};margin:4px 0">'
            f'<tr><td><span style="color:#8b93a7;font-size:small">{label}</span>&nbsp;&nbsp;'
            f'<a href="{code_link_prefix}:{n}" style="color:#7dd3fc;font-size:small">Copy code</a>'
            f'<pre style="font-family:monospace;margin:4px 0 0 0">{highlight_code(body)}</pre></td></tr></table>'
        )
    return "".join(chunks), codes
