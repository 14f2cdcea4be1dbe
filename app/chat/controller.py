"""`ChatController`: between the window, the chat store and the engine worker.

One answer's path: composer → `send` saves the user message (committed before generation) → `_start_answer`
creates the answer row and asks the worker → frames update the canvas and the live draft → each
`CanvasDone` saves the text so far and that canvas's packed frames (one transaction) → `Done` saves the
final text, thought and stats. The worker's events about the live answer are taken by `LiveAnswerMixin`
(controller_live.py); models and settings by `ModelSettingsMixin`, per-conversation views by `ConversationViewMixin`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine import SamplerSettings

from ..shell.main_window import APP_TITLE, MainWindow
from ..store.app_settings import AppSettings
from ..store.branch import branch_conversation
from ..store.chats import ChatStore, StoreReadError, StoreWriteError
from ..store.versions import VersionStore
from ..worker import EngineWorker, ModelInfo
from .controller_live import LiveAnswer, LiveAnswerMixin
from .controller_models import ModelSettingsMixin
from .controller_views import ConversationViewMixin
from .example_prompts import examples_for
from .unsent import DraftKeeper

log = logging.getLogger(__name__)


class ChatController(ModelSettingsMixin, ConversationViewMixin, LiveAnswerMixin, QObject):
    """Owns the chat state; `answer_finished(message_id)` fires when an answer is stored for good."""

    answer_finished = Signal(int)
    model_ready = Signal(object)
    export_finished = Signal(str, str)  # path, problem ("" when written)

    def __init__(self, window: MainWindow, store: ChatStore, worker: EngineWorker, settings: AppSettings) -> None:
        super().__init__(window)
        self.window, self.store, self.worker, self.settings = window, store, worker, settings
        self.page = window.chat
        self.model: ModelInfo | None = None
        self.sampler: SamplerSettings | None = None
        self.conversation_id: int | None = None
        self.live: LiveAnswer | None = None
        self.editing_position: int | None = None
        self.selected_answer: int | None = None
        self._init_views()
        self._search = ""
        self.device = "auto"
        self.profile: str | None = None
        self.closed = False
        self.new_seed = lambda: random.randrange(2**31)  # tests replace it to make answers reproducible
        self.busy_checks: list[Callable[[], bool]] = []  # other users of the engine thread (Compare, Rewrite)
        self.rewrite: Any = None  # the RewriteController, which sets itself here (app/chat/rewrite.py)
        self.drafts = DraftKeeper(self.page.composer, store, self)
        self._wire()
        if settings.problem:
            self.page.show_banner(settings.problem)
        self.refresh_conversations()
        self.render_messages()
        self._update_buttons()

    def _wire(self) -> None:
        p, w = self.page, self.worker
        p.composer.submitted.connect(self.send)
        p.examples.chosen.connect(self.send_example)
        p.send_button.clicked.connect(self.send)
        p.stop_button.clicked.connect(self.stop)
        p.regenerate_new.triggered.connect(lambda: self.regenerate(same_seed=False))
        p.regenerate_same.triggered.connect(lambda: self.regenerate(same_seed=True))
        p.cancel_edit.clicked.connect(self.cancel_edit)
        p.messages.action_requested.connect(self._message_action)
        p.conversations.new_requested.connect(self.new_conversation)
        p.conversations.selected.connect(self.open_conversation)
        p.conversations.rename_requested.connect(self._rename)
        p.conversations.delete_requested.connect(self.delete_conversation)
        p.conversations.search_changed.connect(self._search_changed)
        p.system_prompt.editingFinished.connect(self._save_system_prompt)
        p.thinking.toggled.connect(self._save_thinking)
        self.window.new_action.triggered.connect(self.new_conversation)
        self.window.settings_action.triggered.connect(self.open_settings)
        self.window.export_action.triggered.connect(self.export_dialog)
        self.window.stop_action.triggered.connect(self.stop)
        self.window.larger_text_action.triggered.connect(lambda: self.change_text_size(+1))
        self.window.smaller_text_action.triggered.connect(lambda: self.change_text_size(-1))
        self.window.default_text_action.triggered.connect(lambda: self.change_text_size(0))
        if self.settings.text_size:
            self.page.set_text_size(self.settings.text_size)
        self.export_finished.connect(self._export_finished)
        w.set_cpu_threads(self.settings.cpu_threads or None)
        w.model_loading.connect(self._model_loading)
        w.model_loaded.connect(self._model_loaded)
        w.frame.connect(self._frame)
        w.canvas_done.connect(self._canvas_done)
        w.done.connect(self._done)
        w.error.connect(self._error)
        w.too_long.connect(self._too_long)

    # -- conversations ------------------------------------------------------------------------------------------
    def refresh_conversations(self) -> None:
        """Refill the conversation list (filtered by the search text); the window's title names the open chat (the
        task bar and window switcher tell several windows and chats apart)."""
        conversations = self.store.conversations(self._search)
        self.page.conversations.set_conversations(conversations, self.conversation_id, self.store.drafted())
        title = next((c.title for c in conversations if c.id == self.conversation_id), None)
        if self.conversation_id is None:
            self.window.setWindowTitle(APP_TITLE)
        elif title is not None:  # (filtered out by the search: the title it had stays)
            shown = "".join(ch if ch.isprintable() else " " for ch in title).strip()
            self.window.setWindowTitle(f"{shown} — {APP_TITLE}" if shown else APP_TITLE)

    def new_conversation(self, *, from_page: bool = False) -> int | None:
        """Open an empty conversation and return its id (None, with a banner, when it cannot be saved): the newest
        unused one (no messages, no system prompt, not renamed) when there is one, else a new one.
        `from_page`: the system prompt and Thinking the user set before the first message go with the new chat."""
        page = self.page
        system, thinking = (page.system_prompt.text(), page.thinking.isChecked()) if from_page else ("", False)
        try:
            # "New chat" again and again opens the one unused chat instead of piling up empty ones.
            conv = None if from_page else self.store.unused_conversation()
            if conv is not None and conv.thinking:
                self.store.set_thinking(conv.id, False)
            conv = conv or self.store.create_conversation(system_prompt=system, thinking=thinking)
        except (StoreWriteError, StoreReadError) as exc:
            self.page.show_banner(str(exc))
            return None
        self.refresh_conversations()
        self.open_conversation(conv.id)
        page.composer.setFocus()  # "New chat" → type the first message
        return conv.id

    def branch_from(self, message_id: int) -> int | None:
        """"Branch from here" on an answer: a new chat holding the conversation up to that answer (canvases and
        versions too) opens, to go on differently; the original is not touched. Returns the new chat's id."""
        try:
            conv = branch_conversation(self.store, message_id)
        except (StoreWriteError, StoreReadError, KeyError, ValueError) as exc:
            self.page.show_banner(str(exc) if not isinstance(exc, KeyError) else "That answer no longer exists.")
            return None
        self.refresh_conversations()
        self.open_conversation(conv.id)
        self.window.statusBar().showMessage(f"Branched into a new chat, “{conv.title}”: ask something else here. "
                                            "The original chat is unchanged.", 10_000)
        self.page.composer.setFocus()
        return conv.id

    def _write(self, write: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
        """A store write the user triggered: on failure (disk full, read-only, locked by another program) a banner
        says why and False comes back — the window never waits long nor crashes on it."""
        try:
            write(*args, **kwargs)
        except StoreWriteError as exc:
            self.page.show_banner(str(exc))
            return False
        return True

    def open_conversation(self, conversation_id: int) -> None:
        """Show a conversation with its own canvas, banner and status line (nothing of the previous one stays).
        When the database cannot be read (another program holds it), the open conversation stays as it was."""
        try:
            conv = self.store.conversation(conversation_id)
            messages = self.store.messages(conversation_id)
        except StoreReadError as exc:
            self.page.show_banner(str(exc))
            self.page.conversations.select(self.conversation_id)
            return
        if conversation_id != self.conversation_id:
            self._stash_banner()
            self._restore_banner(conversation_id)
            self.drafts.switch(conversation_id)  # the box shows this chat's unsent text; the one left keeps its own
        self.conversation_id = conversation_id
        self.cancel_edit()
        self.page.system_prompt.setText(conv.system_prompt)
        self.page.thinking.blockSignals(True)
        self.page.thinking.setChecked(conv.thinking)
        self.page.thinking.blockSignals(False)
        answers = [m for m in messages if m.role == "assistant"]
        self.selected_answer = None
        self._show_views_for(conversation_id, answers)
        self.render_messages(to_bottom=True)  # a chat opens at its newest message, beside its last answer's canvas
        self.refresh_conversations()
        self._update_buttons()

    def render_messages(self, *, to_bottom: bool = False) -> None:
        """Re-render the open conversation (the live answer keeps its draft); `to_bottom`: show its newest message."""
        if self.conversation_id is None:
            self.page.messages.set_messages([])
            return
        live_here = self.live is not None and self.live.conversation_id == self.conversation_id
        rewriting = self.rewrite is not None and self.rewrite.is_live_in(self.conversation_id)
        live_id = self.live.message_id if live_here else self.rewrite.active.message_id if rewriting else None
        self.page.messages.set_messages(
            self.store.messages(self.conversation_id),
            live_id=live_id,
            selected=self.selected_answer,
            versions=VersionStore(self.store).counts(self.conversation_id),
            rewrites=VersionStore(self.store).shown_rewrites(self.conversation_id),
            to_bottom=to_bottom,
        )
        if live_here:
            self.page.messages.update_live(self.live.committed, [])
        elif rewriting:
            self.rewrite.show_live()

    def _rename(self, conversation_id: int, title: str) -> None:
        self._write(self.store.rename_conversation, conversation_id, title)
        self.refresh_conversations()

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation (its running answer is cancelled first); a failed delete keeps it, with a banner."""
        if self.live is not None and self.live.conversation_id == conversation_id:
            self.worker.cancel()
            self.live = None
            self.page.canvas.end_live()  # its frames must not come back with the canvas's Live button
            self._update_buttons()
        if not self._write(self.store.delete_conversation, conversation_id):
            self.refresh_conversations()
            return
        self.drafts.forget(conversation_id)
        self._banners.pop(conversation_id, None)
        if self.conversation_id == conversation_id:
            self.conversation_id = None
            self.page.hide_banner()
            remaining = self.store.conversations()
            if remaining:
                self.open_conversation(remaining[0].id)
            else:  # a blank page: the deleted chat's system prompt and Thinking must not pass to the next one
                self.page.system_prompt.setText("")
                self.page.thinking.blockSignals(True)
                self.page.thinking.setChecked(False)
                self.page.thinking.blockSignals(False)
                self.render_messages()
                self.page.canvas.set_replay([], note="No chats left. Start a new one with “+ New chat”.")
                self._show_stats(None)
        self.refresh_conversations()
        self._update_buttons()

    def _search_changed(self, text: str) -> None:
        self._search = text
        self.refresh_conversations()

    def _save_system_prompt(self) -> bool:
        if self.conversation_id is None:
            return True
        conv = self.store.conversation(self.conversation_id)
        text = self.page.system_prompt.text()
        return conv.system_prompt == text or self._write(self.store.set_system_prompt, self.conversation_id, text)

    def _save_thinking(self, enabled: bool) -> None:
        if self.conversation_id is not None:
            self._write(self.store.set_thinking, self.conversation_id, enabled)

    # -- sending ------------------------------------------------------------------------------------------------
    def send(self) -> None:
        """Store the composer's text as a user message, then start the answer."""
        text = self.page.composer.toPlainText().strip()
        if not text:  # Send on an empty box did nothing, with no word of why
            self.window.statusBar().showMessage("Type a message in the box first, then press Send (Enter).", 5000)
            self.page.composer.setFocus()
            return
        if self.busy():  # Enter did nothing, silently, while another chat was answering
            self.window.statusBar().showMessage(self.page.send_button.toolTip(), 8000)
            return
        if self.model is None:
            self.page.show_banner("No model is loaded yet — pick one in the model list (top left).")
            return
        kept = " Your message is still in the box below."
        if self.conversation_id is None and self.new_conversation(from_page=True) is None:
            self.page.show_banner(self.page.banner.text() + kept)
            return
        if not self._save_system_prompt():
            self.page.show_banner(self.page.banner.text() + kept)
            return
        try:  # a locked or full database fails fast here: nothing is generated, the text stays in the composer
            self.store.add_user_message(self.conversation_id, text, replace_from=self.editing_position)
        except StoreWriteError as exc:
            self.page.show_banner(f"{exc}{kept}")
            return
        self.page.composer.clear()
        self.cancel_edit()
        self._start_answer(self.new_seed())

    def send_example(self, text: str) -> None:
        """An example prompt of an empty chat: sent as if typed (a draft in the box is kept for later)."""
        if self.busy() or self.model is None:
            return
        draft = self.page.composer.toPlainText()
        self.page.composer.setPlainText(text)
        self.send()
        if draft.strip() and self.page.composer.toPlainText() in ("", text):  # sent or refused: the draft comes back
            self.page.composer.setPlainText(draft)

    def regenerate(self, *, same_seed: bool) -> None:
        """Replace the last answer: same seed (compare a prompt edit fairly) or a new one."""
        if self.busy() or self.conversation_id is None or self.model is None:
            return
        messages = self.store.messages(self.conversation_id)
        if not messages:
            return
        last = messages[-1]
        seed = self.new_seed()
        if last.role == "assistant":
            if same_seed and last.seed is not None:
                seed = last.seed
            if not self._write(self.store.truncate_from, self.conversation_id, last.position):
                return
        self._start_answer(seed)

    def edit_message(self, message_id: int) -> None:
        """Put a user message back in the composer; sending replaces it and every later turn."""
        messages = self.store.messages(self.conversation_id)  # one read: the message and what follows it
        message = next((m for m in messages if m.id == message_id), None)
        if message is None:  # not a message of the open chat
            return
        self.drafts.start_edit()  # what was typed is put aside, and comes back when the edit is sent or cancelled
        self.editing_position = message.position
        self.page.composer.setPlainText(message.text)
        later = [m for m in messages if m.position > message.position]
        asked = sum(m.role == "user" for m in later)
        if asked:  # how much goes is said before Enter deletes it (there is no undo)
            later_turns = ("the question after it and its answer" if asked == 1
                           else f"the {asked} questions after it with their answers")
            note = (f"Editing an earlier message — sending replaces it and deletes {later_turns} "
                    f"({len(later) + 1} messages in all, no undo).")
        else:
            note = "Editing your last message — sending replaces it and its answer."
        self.page.edit_label.setText(note)
        self.page.edit_label.setVisible(True)
        self.page.cancel_edit.setVisible(True)
        self.page.composer.setFocus()

    def cancel_edit(self) -> None:
        """Leave edit mode; the draft that Edit & resend put aside comes back into the box."""
        self.drafts.end_edit()
        self.editing_position = None
        self.page.edit_label.setVisible(False)
        self.page.cancel_edit.setVisible(False)

    def stop(self) -> None:
        """Cancel between two steps; the committed canvases stay in the answer."""
        self.worker.cancel()

    def busy(self) -> bool:
        """Whether the engine thread is answering, comparing or rewriting for this window."""
        return self.live is not None or any(check() for check in self.busy_checks)

    def _chat_messages(self, conversation_id: int) -> list[dict[str, str]]:
        conv = self.store.conversation(conversation_id)
        chat = [{"role": "system", "content": conv.system_prompt}] if conv.system_prompt.strip() else []
        for m in self.store.messages(conversation_id):
            if m.role == "user" or m.text.strip():
                chat.append({"role": m.role, "content": m.text})
        return chat

    def _start_answer(self, seed: int) -> None:
        assert self.conversation_id is not None and self.sampler is not None and self.model is not None
        settings = self.sampler.with_(seed=seed)
        chat = self._chat_messages(self.conversation_id)
        try:
            answer = self.store.start_assistant(
                self.conversation_id, seed=seed, settings=settings.as_dict(), model=self.model.name
            )
        except StoreWriteError as exc:
            self.page.show_banner(f"{exc} Your question is saved: use Regenerate to answer it.")
            self.render_messages()
            return
        rid = self.worker.generate(self.conversation_id, chat, settings, self.page.thinking.isChecked())
        self.live = LiveAnswer(rid, self.conversation_id, answer.id, seed)
        self.selected_answer = answer.id
        self.page.canvas.begin_live()
        if self.model.canvas_note:  # e.g. a remote server that streams whole canvases only
            self.page.canvas.view.set_note(self.model.canvas_note)
        self.page.hide_banner()
        self.render_messages()
        self.refresh_conversations()
        self._update_buttons()

    def shutdown(self) -> None:
        """The window closes: an unfinished answer keeps its committed canvases; later worker events are ignored."""
        if self.live is not None:
            self.worker.cancel()
            live = self.live
            try:
                self.store.finish_assistant(live.message_id, text=live.committed, thinking="", stats=None,
                                            status="cancelled")
            except StoreWriteError as exc:  # closing: the committed canvases are already saved
                log.warning("could not mark the unfinished answer cancelled: %s", exc)
            self.live = None
        self.drafts.save()  # the unsent text of the open chat is there at the next start
        self.closed = True

    def _update_buttons(self) -> None:
        """Send/Stop follow the answer; Regenerate needs something in the open chat to answer again."""
        has_turns = self.conversation_id is not None and bool(self.store.messages(self.conversation_id))
        answering = self.live.conversation_id if self.live is not None else None
        self.page.conversations.mark_answering(answering)
        elsewhere = self.page.conversations.title_of(answering) or "another chat"
        self.page.set_busy(self.busy(), model_ready=self.model is not None, can_regenerate=has_turns,
                           answering_elsewhere=elsewhere if answering not in (None, self.conversation_id) else "")
        examples = examples_for(self.model.source) if self.model is not None else ()
        self.page.examples.set_prompts(examples)
        self.page.examples.setVisible(bool(examples) and not has_turns and not self.busy())
