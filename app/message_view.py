"""`MessageView` (◆ messageView): the conversation as rendered markdown bubbles, with a live draft in the answer
being generated — settled tokens in normal text, still-noisy ones dimmed — updated in place (only the live
bubble's text is replaced, so long conversations stay cheap to update)."""

from __future__ import annotations

import html

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from .markdown_render import render_markdown
from .store import Message

LIVE_MARK = "\u2063\u2063live\u2063\u2063"
USER_BG = "#1e293b"
MODEL_BG = "#141b2d"
DIM = "#64748b"
LINK = "#7dd3fc"


def _link(href: str, label: str) -> str:
    return f'<a href="{href}" style="color:{LINK};text-decoration:none">{label}</a>'


def _plain(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def draft_html(committed: str, spans: list[tuple[str, bool]]) -> str:
    """Committed text, then the current canvas's draft: accepted runs normal, noisy runs dimmed."""
    parts = [_plain(committed)]
    for text, settled in spans:
        if settled:
            parts.append(_plain(text))
        else:
            parts.append(f'<span style="color:{DIM}">{_plain(text)}</span>')
    return "".join(parts) or f'<span style="color:{DIM}">…</span>'


class MessageView(QTextBrowser):
    """Emits `action_requested(action, message_id)` for copy/edit/regenerate/replay links; copies code itself."""

    action_requested = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageView")
        self.setAccessibleName("messageView")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._anchor)
        self._codes: dict[int, list[str]] = {}
        self._texts: dict[int, str] = {}
        self._expanded_thoughts: set[int] = set()
        self._rendered: dict[tuple[int, str], tuple[str, list[str]]] = {}
        self._messages: list[Message] = []
        self._live_id: int | None = None
        self._live_start = -1
        self._live_end = -1
        self._selected: int | None = None
        self.live_html = ""

    # -- whole conversation -------------------------------------------------------------------------------------
    def set_messages(self, messages: list[Message], *, live_id: int | None = None, selected: int | None = None) -> None:
        """Render every message; `live_id` names the answer being generated (its body becomes the live draft)."""
        self._messages = list(messages)
        self._live_id = live_id
        self._selected = selected
        self._codes.clear()
        self._texts = {m.id: m.text for m in messages}
        last_answer = next((m.id for m in reversed(messages) if m.role == "assistant"), None)
        bubbles = [self._bubble(m, is_last_answer=m.id == last_answer) for m in messages]
        if not bubbles:
            hint = "Start the conversation below — Enter sends, Shift+Enter adds a line."
            bubbles = [f'<p style="color:{DIM}">{hint}</p>']
        at_bottom = self._at_bottom()
        self.setHtml("".join(bubbles))
        self._live_start = self._live_end = -1
        if live_id is not None:
            found = self.document().find(LIVE_MARK)
            if not found.isNull():
                self._live_start, self._live_end = found.selectionStart(), found.selectionEnd()
                found.removeSelectedText()
                self._live_end = self._live_start
                self.update_live("", [])
        if at_bottom or live_id is not None:
            self._scroll_to_bottom()

    def _bubble(self, m: Message, *, is_last_answer: bool) -> str:
        user = m.role == "user"
        who = "You" if user else "Model"
        meta: list[str] = []
        if not user:
            if m.seed is not None:
                meta.append(f"seed {m.seed}")
            tps = (m.stats or {}).get("tokens_per_second")
            if tps:
                meta.append(f"{tps:.1f} tok/s")
            if m.status not in ("done", "generating"):
                meta.append(m.status)
        links = [_link(f"act:copy:{m.id}", "Copy")]
        if user:
            links.append(_link(f"act:edit:{m.id}", "Edit &amp; resend"))
        else:
            links.append(_link(f"act:replay:{m.id}", "Replay canvas"))
            if is_last_answer and m.id != self._live_id:
                links.append(_link(f"act:regen-new:{m.id}", "↻ New seed"))
                links.append(_link(f"act:regen-same:{m.id}", "↻ Same seed"))
        head = f"<b>{who}</b>" + (f'&nbsp;&nbsp;<span style="color:{DIM}">{" · ".join(meta)}</span>' if meta else "")
        head += "&nbsp;&nbsp;&nbsp;" + "&nbsp;&nbsp;".join(links)
        body = self._body(m)
        bg = USER_BG if user else MODEL_BG
        border = "border:1px solid #38bdf8;" if m.id == self._selected else ""
        return (
            f'<table width="100%" cellspacing="0" cellpadding="10" style="background:{bg};{border}margin-bottom:10px">'
            f"<tr><td>{head}<br>{body}</td></tr></table>"
        )

    def _body(self, m: Message) -> str:
        if m.id == self._live_id:
            return LIVE_MARK
        thought = ""
        if m.thinking:
            words = len(m.thinking.split())
            if m.id in self._expanded_thoughts:
                thought = (
                    _link(f"act:thought:{m.id}", f"▾ Thought ({words} words)")
                    + f'<div style="color:{DIM};font-style:italic;margin:4px 0 8px 12px">{_plain(m.thinking)}</div>'
                )
            else:
                thought = _link(f"act:thought:{m.id}", f"▸ Thought ({words} words) — click to show") + "<br>"
        if m.role == "user":
            return thought + _plain(m.text)
        key = (m.id, m.text)
        if key not in self._rendered:
            if len(self._rendered) > 500:  # a bounded cache: re-rendering a long chat's markdown is the slow part
                self._rendered.clear()
            self._rendered[key] = render_markdown(m.text, f"code:{m.id}")
        rendered, codes = self._rendered[key]
        self._codes[m.id] = codes
        return thought + (rendered or f'<span style="color:{DIM}">(empty answer)</span>')

    # -- live draft ---------------------------------------------------------------------------------------------
    def update_live(self, committed: str, spans: list[tuple[str, bool]]) -> None:
        """Replace the live bubble's text with the committed text plus the current draft."""
        if self._live_start < 0:
            return
        at_bottom = self._at_bottom()
        self.live_html = draft_html(committed, spans)
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._live_start)
        cursor.setPosition(self._live_end, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertHtml(self.live_html)
        self._live_end = cursor.position()
        if at_bottom:
            self._scroll_to_bottom()

    def live_text(self) -> str:
        """The live bubble's current plain text (tests)."""
        if self._live_start < 0:
            return ""
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._live_start)
        cursor.setPosition(self._live_end, QTextCursor.MoveMode.KeepAnchor)
        return cursor.selectedText().replace("\u2029", "\n")

    # -- links --------------------------------------------------------------------------------------------------
    def activate(self, href: str) -> None:
        """Follow one of the view's links (also used by tests and keyboard actions)."""
        self._anchor(QUrl(href))

    def _anchor(self, url: QUrl) -> None:
        parts = url.toString().split(":")
        if parts[0] == "code" and len(parts) == 3:
            codes = self._codes.get(int(parts[1]), [])
            if int(parts[2]) < len(codes):
                QGuiApplication.clipboard().setText(codes[int(parts[2])])
            return
        if parts[0] != "act" or len(parts) != 3:
            return
        action, mid = parts[1], int(parts[2])
        if action == "copy":
            QGuiApplication.clipboard().setText(self._texts.get(mid, ""))
        elif action == "thought":
            self._expanded_thoughts ^= {mid}
            self.set_messages(self._messages, live_id=self._live_id, selected=self._selected)
        else:
            self.action_requested.emit(action, mid)

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 8

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def plain_text(self) -> str:
        """Everything shown, as plain text (tests)."""
        return self.document().toPlainText()
