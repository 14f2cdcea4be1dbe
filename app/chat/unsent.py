"""Unsent text is kept per chat: what is typed in the message box belongs to the open chat, comes back when that
chat is opened again (after a restart too), and is put aside — not overwritten — while Edit & resend borrows the
box. Saved a second after typing stops, when leaving the chat and when the window closes."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer

from ..store.chats import ChatStore, StoreReadError, StoreWriteError

log = logging.getLogger(__name__)

SAVE_AFTER_MS = 1000


class DraftKeeper(QObject):
    """Keeps the message box's text with its chat in the store (`drafts` table)."""

    def __init__(self, composer, store: ChatStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.composer, self.store = composer, store
        self.conversation_id: int | None = None
        self.before_edit: str | None = None  # the draft Edit & resend put aside (None: not editing)
        self._saved = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_AFTER_MS)
        self._timer.timeout.connect(self.save)
        composer.textChanged.connect(self._typed)

    def _typed(self) -> None:
        if self.before_edit is None:  # the box holds an old message being edited: that is no draft
            self._timer.start()

    def _current(self) -> str:
        return self.before_edit if self.before_edit is not None else self.composer.toPlainText()

    def save(self) -> None:
        """Write the open chat's draft now (when it changed). A locked or read-only store only logs: the text is
        still in the box and is saved at the next pause, switch or close."""
        self._timer.stop()
        text = self._current()
        if self.conversation_id is None or text == self._saved:
            return
        try:
            self.store.set_draft(self.conversation_id, text)
        except StoreWriteError as exc:
            log.warning("could not keep the draft of chat %s: %s", self.conversation_id, exc)
            return
        self._saved = text

    def switch(self, conversation_id: int | None) -> None:
        """The open chat changes: keep the one left's draft, then show the new one's. With no chat open before
        (the first start, or the last chat deleted) the box's text goes with the chat that opens."""
        if conversation_id == self.conversation_id:
            return
        had_chat = self.conversation_id is not None
        self.save()
        self.before_edit = None
        self.conversation_id = conversation_id
        if conversation_id is None:  # no chat open: the box keeps its text for the chat that opens next
            self._saved = ""
            return
        try:
            text = self.store.draft(conversation_id)
        except StoreReadError as exc:
            log.warning("could not read the draft of chat %s: %s", conversation_id, exc)
            text = ""
        self._saved = text
        if had_chat or not self.composer.toPlainText().strip():
            self._show(text)
        elif text:  # typed with no chat open, and the chat that opens has a draft of its own: keep both
            self._show(f"{self.composer.toPlainText()}\n\n{text}")

    def forget(self, conversation_id: int) -> None:
        """A chat is deleted (its stored draft goes with it): nothing is saved for it afterwards, and what is in the
        box goes on to the chat that opens next."""
        if conversation_id == self.conversation_id:
            self._timer.stop()
            self.conversation_id, self.before_edit, self._saved = None, None, ""

    def start_edit(self) -> None:
        """Edit & resend is about to put an old message in the box: put the draft aside (and save it)."""
        if self.before_edit is None:
            self.save()
            self.before_edit = self.composer.toPlainText()

    def end_edit(self) -> None:
        """Edit mode ends (sent or cancelled): the draft put aside comes back into the box."""
        if self.before_edit is None:
            return
        text, self.before_edit = self.before_edit, None
        self._show(text)

    def _show(self, text: str) -> None:
        self._timer.stop()
        self.composer.blockSignals(True)  # not typing: nothing to save
        self.composer.setPlainText(text)
        self.composer.blockSignals(False)
        self.composer.moveCursor(self.composer.textCursor().MoveOperation.End)
