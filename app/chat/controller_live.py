"""The answer being generated: `LiveAnswer` holds its state, and `LiveAnswerMixin` takes the engine worker's events
about it (frames, committed canvases, the end, an error). A mixin of `ChatController`, so the chat flow in
controller.py stays readable."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine import CanvasDone, Done, Frame

from ..store.chats import NEW_CHAT_TITLE, StoreWriteError
from .settings_dialog import plain_error

TOO_LONG_NOTE = "Nothing was generated: the conversation is longer than the model's context (see the message above)."


@dataclass
class LiveAnswer:
    """The answer being generated."""

    request_id: int
    conversation_id: int
    message_id: int
    seed: int
    committed: str = ""
    canvases: list[list[Frame]] = field(default_factory=list)
    frames_seen: int = 0
    tokens: int = 0
    forwards: int = 0
    in_thought: bool = False
    last_frame: Frame | None = None


class LiveAnswerMixin:
    """Needs the controller's `window`, `page`, `store`, `model`, `live`, `closed`, `answer_finished`,
    `render_messages`, `_update_buttons`, `_show_stats`, `_is_open`, `banner_for`, `_remember_replay` and
    `_answer_failed`."""

    # -- worker events ------------------------------------------------------------------------------------------
    def _frame(self, request_id: int, frame: Frame) -> None:
        live = self.live
        if self.closed or live is None or request_id != live.request_id:
            return
        live.frames_seen += 1
        live.last_frame = frame
        if not self._is_open(live.conversation_id):
            return  # another chat is on screen: its canvas stays; this answer's frames are shown on return
        self.page.canvas.live_frame(frame)
        # step 0 is the random start: the canvas shows it as noise; the bubble waits for the model's first guess
        if self.model is not None and self.model.text and frame.step > 0:
            spans, _ = self.model.text.spans(frame.draft, frame.accepted, live.in_thought)
            self.page.messages.update_live(live.committed, spans)

    def _canvas_done(self, request_id: int, done: CanvasDone, frames: list[Frame], blob: bytes) -> None:
        live = self.live
        if self.closed or live is None or request_id != live.request_id:
            return
        text = self.model.text if self.model is not None else None
        if text is not None and (live.in_thought or text.has_thought(done.token_ids)):
            visible, live.in_thought = text.visible_text(done.token_ids, live.in_thought)
            live.committed += visible
        else:
            live.committed += done.text
        live.canvases.append(frames)
        live.tokens += len(done.token_ids)
        live.forwards += len(frames)
        here = self._is_open(live.conversation_id)
        if here:
            self.page.canvas.view.tokens_per_forward = live.tokens / max(1, live.forwards)
        length = len(frames[0].draft) if frames else 0
        try:  # the next canvas (or the end) writes the whole text so far again
            self.store.save_canvas(live.message_id, live.committed, done.canvas_index, blob, len(frames), length)
        except StoreWriteError as exc:
            self.banner_for(live.conversation_id,
                            f"{exc} The answer keeps going; it is saved again at the next canvas.")
        if here:
            self.page.canvas.add_canvas_frames(frames)
            self.page.messages.update_live(live.committed, [])

    def _done(self, request_id: int, done: Done) -> None:
        live = self.live
        if self.closed or live is None or request_id != live.request_id:
            return
        status = "cancelled" if done.reason == "cancelled" else "done"
        text = done.text if done.text or status == "done" else live.committed
        stats = {**done.stats.as_dict(), "reason": done.reason}
        saved = True
        try:
            self.store.finish_assistant(live.message_id, text=text, thinking=done.thinking, stats=stats, status=status)
        except StoreWriteError as exc:  # keep the answer on screen rather than the older stored text
            saved = False
            self.banner_for(live.conversation_id,
                            f"{exc} The answer is shown but not fully saved; copy it if you need it.")
        self._remember_replay(live.message_id, live.canvases)
        self.live = None
        self.page.canvas.end_live()  # slow motion stops at the answer's last step
        if self._is_open(live.conversation_id):
            self._show_stats(stats)
        if saved:
            self.render_messages()
        self._update_buttons()
        self.answer_finished.emit(live.message_id)

    def _too_long(self, request_id: int, message: str) -> None:
        """The conversation outgrew the model's context before anything was generated. Regenerate would fail the same
        way, so the question leaves the chat and goes back into the box (when the chat is open and the box is empty)
        to be shortened or sent in a new chat; each further try does not pile up another unanswered question."""
        live = self.live
        if self.closed or live is None or request_id != live.request_id:
            self._error(request_id, message)
            return
        self.live = None
        answer = self.store.message(live.message_id)
        question = next((m for m in reversed(self.store.messages(live.conversation_id))
                         if m.position < answer.position and m.role == "user"), None)
        composer = self.page.composer
        if question is not None and self._is_open(live.conversation_id) and not composer.toPlainText().strip():
            self._write(self.store.truncate_from, live.conversation_id, question.position)
            if question.position == 0:  # the chat is empty again: untitled, as before its first message
                self._write(self.store.rename_conversation, live.conversation_id, NEW_CHAT_TITLE)
            composer.setPlainText(question.text)
            advice = (" Your message is back in the box below: shorten it, or start a new chat (Ctrl+N) and send it "
                      "there.")
        else:
            self._write(self.store.truncate_from, live.conversation_id, answer.position)
            advice = " Start a new chat (Ctrl+N), or shorten the question with Edit & resend."
        self.page.canvas.end_live()
        self.banner_for(live.conversation_id, plain_error(message) + advice)
        if self._is_open(live.conversation_id):
            self.selected_answer = None
            self.page.canvas.set_replay([], note=TOO_LONG_NOTE)
            self._show_stats(None)
            self.render_messages()
            self.refresh_conversations()
        self._update_buttons()
        self.answer_finished.emit(live.message_id)

    def _error(self, request_id: int, message: str) -> None:
        if self.closed:
            return
        live = self.live
        if live is not None and request_id == live.request_id:
            self.live = None
            self._answer_failed(live, message)
            self.answer_finished.emit(live.message_id)
        else:
            if request_id == 0:
                self.window.show_loading(None)
            self.page.show_banner(message)
        self._update_buttons()
