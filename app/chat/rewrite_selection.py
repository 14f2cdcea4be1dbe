"""Where a selection in the message view lies in an answer's text (issue 15, Rewrite selection), and the ‹ k/n ›
version links of a rewritten answer.

Each message is one top-level table of the view's document, in order, so the table that holds a position names
the message. An answer is shown as rendered Markdown, so the selected characters are looked up in the answer's
stored text; when they occur more than once, the occurrence nearest the selection's place in the bubble wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QPushButton, QTextBrowser

from ..common.widgets import named
from ..store.chats import Message

SEPARATORS = {"\u2029": "\n", "\u2028": "\n", "\xa0": " "}


@dataclass(frozen=True)
class SelectionSpan:
    """Characters `start`..`end` of answer `message_id`'s text, and the selected text itself."""

    message_id: int
    start: int
    end: int
    text: str


def _plain(text: str) -> str:
    for old, new in SEPARATORS.items():
        text = text.replace(old, new)
    return text


def _bubble(document: QTextDocument, position: int) -> tuple[int, int, int] | None:
    """(index of the top-level table holding `position`, its first position, its last position)."""
    root = document.rootFrame()
    for index, frame in enumerate(root.childFrames()):
        if frame.firstPosition() <= position <= frame.lastPosition():
            return index, frame.firstPosition(), frame.lastPosition()
    return None


def message_at(document: QTextDocument, position: int, messages: list[Message]) -> int | None:
    """The id of the message whose bubble holds `position` (None outside every bubble)."""
    found = _bubble(document, position)
    if found is None or found[0] >= len(messages):
        return None
    return messages[found[0]].id


def selection_span(document: QTextDocument, cursor: QTextCursor, messages: list[Message],
                   live_id: int | None) -> SelectionSpan | None:
    """The selection as a span of one finished answer's text, or None (nothing selected, across bubbles, in a
    question or an answer being written, or text that is not in the answer as stored)."""
    if not cursor.hasSelection():
        return None
    start, end = cursor.selectionStart(), cursor.selectionEnd()
    first, last = _bubble(document, start), _bubble(document, max(start, end - 1))
    if first is None or last is None or first[0] != last[0] or first[0] >= len(messages):
        return None
    message = messages[first[0]]
    if message.role != "assistant" or message.id == live_id or message.status == "generating":
        return None
    selected = _plain(cursor.selectedText())
    core = selected.strip()
    if not core:
        return None
    lead = len(selected) - len(selected.lstrip())
    hits = _occurrences(message.text, core)
    if not hits:
        return None
    bubble_start, bubble_end = first[1], first[2]
    where = (start + lead - bubble_start) / max(1, bubble_end - bubble_start)
    best = min(hits, key=lambda i: abs(i / max(1, len(message.text)) - where))
    return SelectionSpan(message.id, best, best + len(core), core)


def _occurrences(text: str, part: str) -> list[int]:
    found, at = [], text.find(part)
    while at >= 0:
        found.append(at)
        at = text.find(part, at + 1)
    return found


def version_links(link: Callable[[str, str], str], current: int, count: int) -> str:
    """The versions row under a rewritten answer: "‹ previous   version 2/3   next ›", the arrows as the view's own
    links (`link(action, label)` makes one); an arrow that leads nowhere is shown dim, not as a link."""
    dim = '<span style="color:#475569">{}</span>'
    back = link("version-prev", "‹&nbsp;previous") if current > 1 else dim.format("‹&nbsp;previous")
    forward = link("version-next", "next&nbsp;›") if current < count else dim.format("next&nbsp;›")
    where = f'<span style="color:#94a3b8">version&nbsp;{current}/{count}</span>'
    tip = '<span style="color:#64748b">(Ctrl+Z / Ctrl+Shift+Z)</span>'
    return f'<p style="margin-top:6px">{back}&nbsp;&nbsp;&nbsp;{where}&nbsp;&nbsp;&nbsp;{forward}&nbsp;&nbsp;{tip}</p>'


class RewriteButton(QPushButton):
    """"✎ Rewrite selection…" floating just under a selection inside one finished answer (hidden otherwise); it
    sits on the view's viewport, so pressing it keeps the selection."""

    def __init__(self, view: QTextBrowser) -> None:
        super().__init__("✎ Rewrite selection…", view.viewport())
        named(self, "rewriteSelectionButton", tip="Re-denoise only the selected words (Ctrl+Shift+R)")
        self.view = view
        self.hide()
        self.clicked.connect(view.request_rewrite)
        view.selectionChanged.connect(self.follow)
        view.verticalScrollBar().valueChanged.connect(self.follow)

    def follow(self) -> None:
        """Show the button under the end of a rewritable selection, or hide it."""
        if self.view.selection_span() is None:
            self.hide()
            return
        self.adjustSize()
        rect = self.view.cursorRect(self.view.textCursor())
        port = self.view.viewport()
        x = max(4, min(rect.left() - self.width() // 2, port.width() - self.width() - 4))
        y = rect.bottom() + 6
        if y + self.height() > port.height():
            y = max(4, rect.top() - self.height() - 6)
        self.move(x, y)
        self.show()
        self.raise_()
