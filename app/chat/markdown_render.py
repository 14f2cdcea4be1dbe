"""Markdown → the HTML subset QTextBrowser renders: prose through Qt's own markdown reader, fenced code blocks
through a small keyword highlighter, each with a "copy code" link.

Model output is data, never markup: raw HTML is shown as text (Qt's reader runs with `MarkdownNoHTML`), images
become a text placeholder (nothing is loaded), and every link the text makes — `[a](b)`, `<b>`, bare URLs — gets
a fresh random href registered in the returned `targets`. The view acts only on hrefs it finds in `targets`, so
text can neither forge one of the app's own actions nor reach a URL without the view's confirmation.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtGui import QBrush, QColor, QTextCharFormat, QTextCursor, QTextDocument

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


ACTION_SCHEME = "dd-action"
LINK_COLOR = "#7dd3fc"
_FEATURES = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)


def new_href() -> str:
    """An href no text can predict: `dd-action:` + 128 random bits, made after the text it is used in exists."""
    return f"{ACTION_SCHEME}:{secrets.token_hex(16)}"


@dataclass(frozen=True)
class LinkTarget:
    """A link found in model text: where it points and what its text says (shown before anything opens)."""

    url: str
    text: str


@dataclass(frozen=True)
class CodeTarget:
    """The "Copy code" link of code block `index`."""

    index: int


@dataclass
class Rendered:
    """One message's HTML, its code blocks, and what each of its hrefs means."""

    html: str
    codes: list[str] = field(default_factory=list)
    targets: dict[str, LinkTarget | CodeTarget] = field(default_factory=dict)


def _neutralise(doc: QTextDocument, make_href: Callable[[], str], targets: dict) -> None:
    """Give every anchor a registered random href and turn every image into a text placeholder."""
    found: list[tuple[int, int, str, str, QTextCharFormat | None]] = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            fmt = frag.charFormat()
            if fmt.isImageFormat():
                found.append((frag.position(), frag.length(), fmt.toImageFormat().name(), "", None))
            elif fmt.isAnchor() and fmt.anchorHref():
                found.append((frag.position(), frag.length(), fmt.anchorHref(), frag.text(), fmt))
            it += 1
        block = block.next()
    for position, length, target, text, fmt in reversed(found):  # from the end: positions stay valid
        cursor = QTextCursor(doc)
        cursor.setPosition(position)
        cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
        if fmt is None:  # an image: nothing is loaded, its address is shown as text
            plain = QTextCharFormat()
            plain.setForeground(QBrush(QColor("#8b93a7")))
            cursor.insertText(f"[image not shown: {printable(target) or 'no address'}]", plain)
            continue
        href = make_href()
        targets[href] = LinkTarget(target, text)
        fmt.setAnchor(True)
        fmt.setAnchorHref(href)
        fmt.setToolTip(printable(target))
        fmt.setForeground(QBrush(QColor(LINK_COLOR)))
        cursor.setCharFormat(fmt)


def printable(text: str) -> str:
    """`text` with control, format and direction-changing characters shown as `\\uXXXX` (for dialogs, tips)."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def markdown_fragment(
    text: str, make_href: Callable[[], str] = new_href, targets: dict | None = None
) -> str:
    """Prose markdown as an HTML fragment (the body of Qt's own rendering); raw HTML in `text` stays text, links
    get registered random hrefs (added to `targets`) and images become placeholders."""
    doc = QTextDocument()
    doc.setMarkdown(text, _FEATURES)
    _neutralise(doc, make_href, targets if targets is not None else {})
    full = doc.toHtml()
    start = full.find("<body")
    start = full.find(">", start) + 1 if start >= 0 else 0
    end = full.rfind("</body>")
    return full[start : end if end >= 0 else len(full)]


def render_markdown(text: str, make_href: Callable[[], str] = new_href) -> Rendered:
    """Model (or user) markdown as HTML: prose via Qt, code blocks highlighted, each with a "Copy code" link.
    Every href in the HTML comes from `make_href` and is explained in `Rendered.targets`."""
    chunks: list[str] = []
    codes: list[str] = []
    targets: dict[str, LinkTarget | CodeTarget] = {}
    for kind, lang, body in split_fences(text):
        if kind == "text":
            if body.strip():
                chunks.append(markdown_fragment(body, make_href, targets))
            continue
        n = len(codes)
        codes.append(body)
        href = make_href()
        targets[href] = CodeTarget(n)
        label = html.escape(lang or "code")
        chunks.append(
            f'<table width="100%" cellspacing="0" cellpadding="8" style="background:{CODE_BG};margin:4px 0">'
            f'<tr><td><span style="color:#8b93a7;font-size:small">{label}</span>&nbsp;&nbsp;'
            f'<a href="{html.escape(href)}" style="color:{LINK_COLOR};font-size:small">Copy code</a>'
            f'<pre style="font-family:monospace;margin:4px 0 0 0">{highlight_code(body)}</pre></td></tr></table>'
        )
    return Rendered("".join(chunks), codes, targets)
