"""`MessageView` (◆ messageView): the conversation as rendered markdown bubbles, with a live draft in the answer
being generated — settled tokens in normal text, still-noisy ones dimmed — updated in place (only the live
bubble's text is replaced, so long conversations stay cheap to update).

Everything shown is data: user text and drafts are escaped, answers go through `render_markdown` (no raw HTML,
no images loaded, links re-targeted). The view's own actions (copy, edit, regenerate, …) live in `_targets`
under random hrefs made for this render, so no text can forge one; a link from an answer only opens after a
dialog that shows its full address, and only http/https can be opened at all.
"""

from __future__ import annotations

import html
import logging
import secrets
from dataclasses import dataclass

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QShowEvent,
    QTextCursor,
)
from PySide6.QtWidgets import QMenu, QMessageBox, QTextBrowser, QWidget

from ..store.chats import Message
from ..store.versions import Version
from .draft import span_style
from .link_dialog import confirm_link
from .markdown_render import CodeTarget, LinkTarget, Rendered, new_href, printable, render_markdown
from .rewrite_selection import RewriteButton, SelectionSpan, selection_span, version_links

log = logging.getLogger(__name__)

USER_BG = "#1e293b"
MODEL_BG = "#141b2d"
DIM = "#64748b"
LINK = "#7dd3fc"


@dataclass(frozen=True)
class ViewAction:
    """One of the view's own links: `action` on message `message_id`."""

    action: str
    message_id: int


def _link(href: str, label: str) -> str:
    return f'<a href="{html.escape(href)}" style="color:{LINK};text-decoration:none">{label}</a>'


def _plain(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _verbatim(text: str) -> str:
    """Typed or pasted text as written: spaces, tabs and line breaks kept (pasted code keeps its indentation)."""
    return f'<span style="white-space:pre-wrap">{html.escape(text)}</span>'


def draft_html(committed: str, spans: list[tuple[str, bool]], after: str = "") -> str:
    """Committed text, then the current canvas's draft in the canvas's colours: settled runs solid, the rest in
    the light text of the model's guess; then `after` (the kept text after a span being rewritten)."""
    parts = [_plain(committed)]
    for text, settled in spans:  # the canvas's colours (app/chat/draft.py)
        parts.append(f'<span style="{span_style(settled)}">{_plain(text)}</span>')
    parts.append(_plain(after))
    return "".join(parts) or f'<span style="color:{DIM}">…</span>'


STOPPED_EARLY = ("Stopped before the first canvas was finished, so nothing was kept (text is saved a canvas at a "
                 "time). Regenerate answers again.")


def rewrite_meta(version: Version) -> str:
    """A rewritten answer's header: what it was asked for, and its seed ("rewritten: “shorter” · seed 7")."""
    asked = version.instruction.strip()
    if len(asked) > 60:
        asked = asked[:59] + "…"
    text = f"rewritten: “{asked}”" if asked else "rewritten"
    return text + (f" · seed\u00a0{version.seed}" if version.seed is not None else "")


def _stopped_before_a_canvas(m: Message) -> bool:
    return m.role == "assistant" and not m.text and m.status in ("cancelled", "interrupted")


class MessageView(QTextBrowser):
    """Emits `action_requested(action, message_id)` for copy/edit/regenerate/replay links; copies code itself."""

    action_requested = Signal(str, int)
    rewrite_requested = Signal(int, int, int)  # answer id, character span start, end (issue 15)
    version_requested = Signal(int, int)  # answer id, -1 (undo, ‹) or +1 (redo, ›)

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
        self._rendered: dict[tuple[int, str], Rendered] = {}
        self._targets: dict[str, tuple[int, ViewAction | LinkTarget | CodeTarget]] = {}
        self._action_hrefs: dict[tuple[str, int], str] = {}
        self._live_mark = ""
        self.link_dialog: QMessageBox | None = None
        self._messages: list[Message] = []
        self._live_id: int | None = None
        self._live_start = -1
        self._live_end = -1
        self._selected: int | None = None
        self._versions: dict[int, tuple[int, int]] = {}
        self._rewrites: dict[int, Version] = {}
        self.live_html = ""
        self.rewrite_menu: QMenu | None = None
        self.rewrite_button = RewriteButton(self)
        # Kept at the newest message while the user has not scrolled up, also when the view is first laid out or
        # resized (a chat opened before the window is shown, a banner above it); set_messages keeps the place else.
        self._follow_bottom = True
        self._rendering = False
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._range_changed)

    # -- whole conversation -------------------------------------------------------------------------------------
    def set_messages(self, messages: list[Message], *, live_id: int | None = None, selected: int | None = None,
                     versions: dict[int, tuple[int, int]] | None = None,
                     rewrites: dict[int, Version] | None = None, to_bottom: bool = False) -> None:
        """Render every message; `live_id` names the answer being generated or rewritten (its body becomes the live
        draft); `versions` maps rewritten answers to (current version, count) for their ‹ k/n › links; `rewrites`
        the rewrite an answer shows (its header gives that rewrite's seed and instruction, not the original's).
        The view stays where the user scrolled to, unless it was at the newest message, an answer is live or
        `to_bottom` (a conversation just opened): then it shows the newest message."""
        self._messages = list(messages)
        self._versions = dict(versions or {})
        self._rewrites = dict(rewrites or {})
        self.rewrite_button.hide()
        self._live_id = live_id
        self._selected = selected
        self._codes.clear()
        self._targets.clear()
        self._action_hrefs.clear()
        self._live_mark = f"\u2063live-{secrets.token_hex(8)}\u2063"  # no stored text can contain it
        self._texts = {m.id: m.text for m in messages}
        last_answer = next((m.id for m in reversed(messages) if m.role == "assistant"), None)
        bubbles = [self._bubble(m, is_last_answer=m.id == last_answer) for m in messages]
        if not bubbles:
            hint = "Start the conversation below — Enter sends, Shift+Enter adds a line."
            bubbles = [f'<p style="color:{DIM}">{hint}</p>']
        follow = to_bottom or live_id is not None or self._follow_bottom or self._at_bottom()
        kept = self.verticalScrollBar().value()
        self._rendering = True
        try:
            self.setHtml("".join(bubbles))
        finally:
            self._rendering = False
        self._live_start = self._live_end = -1
        if live_id is not None:
            found = self.document().find(self._live_mark)
            if not found.isNull():
                self._live_start, self._live_end = found.selectionStart(), found.selectionEnd()
                found.removeSelectedText()
                self._live_end = self._live_start
                self.update_live("", [])
        self._follow_bottom = follow
        if follow:
            self._scroll_to_bottom()
        else:  # e.g. Replay canvas or a thought opened on an earlier answer: the view does not jump to the top
            self.verticalScrollBar().setValue(kept)

    def _bubble(self, m: Message, *, is_last_answer: bool) -> str:
        user = m.role == "user"
        who = "You" if user else "Model"
        meta: list[str] = []
        meta_links = ""
        if not user:
            if m.id in self._versions and m.id != self._live_id:
                current, count = self._versions[m.id]
                meta_links = version_links(lambda a, label: self._action(a, m.id, label), current, count)
            rewrite = self._rewrites.get(m.id)
            if rewrite is not None:  # the original's seed and speed belong to version 1
                meta.append(rewrite_meta(rewrite))
            elif m.seed is not None:
                meta.append(f"seed\u00a0{m.seed}")
            tps = (m.stats or {}).get("tokens_per_second")
            if tps and rewrite is None:
                meta.append(f"{tps:.1f}\u00a0tok\u2060/\u2060s")  # word joiners: Qt breaks after a slash
            if m.status not in ("done", "generating"):
                meta.append(m.status)
            elif (m.stats or {}).get("reason") == "length":  # cut off, not finished: say so (Settings sets the limit)
                limit = (m.settings or {}).get("max_new_tokens")
                meta.append(f"cut at the {limit}-token limit" if limit else "cut at the length limit")
        links = [self._action("copy", m.id, "Copy")]
        if user:
            links.append(self._action("edit", m.id, "Edit &amp; resend"))
        else:
            if not _stopped_before_a_canvas(m):  # nothing was committed, so no frames were stored
                links.append(self._action("replay", m.id, "Replay&nbsp;canvas"))
            if m.id != self._live_id and m.status != "generating":
                links.append(self._action("branch", m.id, "Branch&nbsp;from&nbsp;here"))
            if is_last_answer and m.id != self._live_id:
                links.append(self._action("regen-new", m.id, "↻&nbsp;New&nbsp;seed"))
                links.append(self._action("regen-same", m.id, "↻&nbsp;Same&nbsp;seed"))
        meta_html = html.escape(" · ".join(meta))
        head = f"<b>{who}</b>" + (f'&nbsp;&nbsp;<span style="color:{DIM}">{meta_html}</span>' if meta else "")
        # Ordinary spaces between the links: a narrow view wraps between them, never inside one ("Same se|ed").
        head += "&nbsp;&nbsp; " + " &nbsp;".join(links)
        body = self._body(m)
        bg = USER_BG if user else MODEL_BG
        border = "border:1px solid #38bdf8;" if m.id == self._selected else ""
        return (
            f'<table width="100%" cellspacing="0" cellpadding="10" style="background:{bg};{border}margin-bottom:10px">'
            f"<tr><td>{head}<br>{body}{meta_links}</td></tr></table>"
        )

    def _action(self, action: str, message_id: int, label: str) -> str:
        """A link to one of the view's own actions, under a fresh random href registered for this render."""
        href = new_href()
        self._targets[href] = (message_id, ViewAction(action, message_id))
        self._action_hrefs[(action, message_id)] = href
        return _link(href, label)

    def action_href(self, action: str, message_id: int) -> str | None:
        """The href that currently means `action` on `message_id` (keyboard shortcuts and tests), or None."""
        return self._action_hrefs.get((action, message_id))

    def _body(self, m: Message) -> str:
        if m.id == self._live_id:
            return self._live_mark
        thought = ""
        if m.thinking:
            words = len(m.thinking.split())
            if m.id in self._expanded_thoughts:
                thought = (
                    self._action("thought", m.id, f"▾ Thought ({words} words)")
                    + f'<div style="color:{DIM};font-style:italic;margin:4px 0 8px 12px">{_verbatim(m.thinking)}</div>'
                )
            else:
                thought = self._action("thought", m.id, f"▸ Thought ({words} words) — click to show") + "<br>"
        if m.role == "user":
            return thought + _verbatim(m.text)
        key = (m.id, m.text)
        if key not in self._rendered:
            if len(self._rendered) > 500:  # a bounded cache: re-rendering a long chat's markdown is the slow part
                self._rendered.clear()
            self._rendered[key] = render_markdown(m.text)
        rendered = self._rendered[key]
        self._codes[m.id] = rendered.codes
        self._targets.update({href: (m.id, target) for href, target in rendered.targets.items()})
        if not rendered.html:
            empty = STOPPED_EARLY if _stopped_before_a_canvas(m) else "(empty answer)"
            return thought + f'<span style="color:{DIM}">{html.escape(empty)}</span>'
        return thought + rendered.html

    # -- live draft ---------------------------------------------------------------------------------------------
    def update_live(self, committed: str, spans: list[tuple[str, bool]], after: str = "") -> None:
        """Replace the live bubble's text with the committed text plus the current draft (and `after`)."""
        if self._live_start < 0:
            return
        at_bottom = self._at_bottom()
        self.live_html = draft_html(committed, spans, after)
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
        href = url.toString()
        found = self._targets.get(href)
        if found is None:  # not a link this render made: stale, typed by hand or forged — never acted on
            log.warning("ignored a link the view did not make: %r", printable(href[:200]))
            return
        message_id, target = found
        if isinstance(target, CodeTarget):
            codes = self._codes.get(message_id, [])
            if target.index < len(codes):
                QGuiApplication.clipboard().setText(codes[target.index])
        elif isinstance(target, LinkTarget):
            self.confirm_link(target)
        elif target.action == "copy":
            QGuiApplication.clipboard().setText(self._texts.get(message_id, ""))
        elif target.action in ("version-prev", "version-next"):
            self.version_requested.emit(message_id, -1 if target.action == "version-prev" else 1)
        elif target.action == "thought":
            self._expanded_thoughts ^= {message_id}
            self.set_messages(self._messages, live_id=self._live_id, selected=self._selected,
                              versions=self._versions, rewrites=self._rewrites)
        else:
            self.action_requested.emit(target.action, message_id)

    def confirm_link(self, target: LinkTarget) -> QMessageBox:
        """Ask before leaving the app (app/chat/link_dialog.py); `link_dialog` holds the dialog while it is open."""
        box = confirm_link(self, target)
        box.finished.connect(lambda _r: setattr(self, "link_dialog", None))
        self.link_dialog = box
        box.open()
        return box

    # -- rewrite selection and versions (issue 15) ----------------------------------------------------------------
    def selection_span(self) -> SelectionSpan | None:
        """The selected characters as a span of one finished answer's text (None: no such selection)."""
        return selection_span(self.document(), self.textCursor(), self._messages, self._live_id)

    def request_rewrite(self) -> bool:
        """"Rewrite selection…": emit `rewrite_requested` for the selection (False when it is not in one answer)."""
        span = self.selection_span()
        if span is None:
            return False
        self.rewrite_requested.emit(span.message_id, span.start, span.end)
        return True

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt's name
        menu = self.build_context_menu(event.pos())
        menu.popup(event.globalPos())

    def build_context_menu(self, pos=None) -> QMenu:  # noqa: ANN001 - a QPoint, or None for the cursor's place
        """The view's context menu: Qt's own (copy, select all) plus "Rewrite selection…" and Undo/Redo rewrite."""
        menu = self.createStandardContextMenu(pos) if pos is not None else self.createStandardContextMenu()
        menu.setObjectName("messageContextMenu")
        menu.addSeparator()
        rewrite = menu.addAction("Rewrite selection…")
        rewrite.setObjectName("rewriteSelectionAction")
        rewrite.setShortcut(QKeySequence("Ctrl+Shift+R"))
        rewrite.setEnabled(self.selection_span() is not None)
        rewrite.setToolTip("Re-denoise only the selected words; the rest of the answer stays as it is")
        rewrite.triggered.connect(self.request_rewrite)
        target = self.version_target()
        if target is not None:
            current, count = self._versions[target]
            undo = menu.addAction("Undo rewrite (previous version)")
            undo.setObjectName("undoRewriteAction")
            undo.setEnabled(current > 1)
            undo.triggered.connect(lambda: self.version_requested.emit(target, -1))
            redo = menu.addAction("Redo rewrite (next version)")
            redo.setObjectName("redoRewriteAction")
            redo.setEnabled(current < count)
            redo.triggered.connect(lambda: self.version_requested.emit(target, 1))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.rewrite_menu = menu
        return menu

    def version_target(self) -> int | None:
        """The rewritten answer Undo/Redo act on: the one holding the cursor, else the selected one, else the last."""
        from .rewrite_selection import message_at

        here = message_at(self.document(), self.textCursor().position(), self._messages)
        for candidate in (here, self._selected):
            if candidate is not None and candidate in self._versions:
                return candidate
        rewritten = [m.id for m in self._messages if m.id in self._versions]
        return rewritten[-1] if rewritten else None

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        """Ctrl+Z / Ctrl+Shift+Z step a rewritten answer's versions; Ctrl+Shift+R rewrites the selection."""
        if event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
            target = self.version_target()
            if target is not None:
                self.version_requested.emit(target, -1 if event.matches(QKeySequence.StandardKey.Undo) else 1)
                return
        if event.keyCombination() == QKeySequence("Ctrl+Shift+R")[0]:
            self.request_rewrite()
            return
        super().keyPressEvent(event)

    def loadResource(self, kind: int, name: QUrl) -> object:  # noqa: N802 - Qt's name
        """Nothing shown here is fetched: no files, images or style sheets from anywhere."""
        log.warning("refused to load a resource into the message view: %r", printable(name.toString()[:200]))
        return None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Qt scrolls to the text cursor (the first message) on the first show; a chat opened before then keeps
        showing its newest message."""
        follow = self._follow_bottom
        super().showEvent(event)
        if follow:
            self._follow_bottom = True
            self._scroll_to_bottom()

    def _scrolled(self, _value: int) -> None:
        if not self._rendering:
            self._follow_bottom = self._at_bottom()

    def _range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow_bottom and not self._rendering:
            self.verticalScrollBar().setValue(maximum)

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 8

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def plain_text(self) -> str:
        """Everything shown, as plain text (tests)."""
        return self.document().toPlainText()
