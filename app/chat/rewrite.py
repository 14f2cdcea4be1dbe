"""`RewriteController` (issue 15): select words in an answer → "Rewrite selection…" (an optional instruction) →
`EngineWorker.rewrite` runs `engine.infill` → the span re-denoises live in the bubble (the text around it stays put)
and on the canvas → the new answer is kept as a new version (`VersionStore`), the old ones stay reachable with
‹ › and Ctrl+Z / Ctrl+Shift+Z. Stop (or an error) keeps the answer as it was: nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine import CanvasDone, Done, Frame, SamplerSettings

from ..store.chats import StoreWriteError
from ..store.versions import VersionStore
from .rewrite_dialog import RewriteDialog


@dataclass
class ActiveRewrite:
    """The rewrite being denoised."""

    request_id: int
    message_id: int
    conversation_id: int
    original: str
    span: tuple[int, int]
    instruction: str
    seed: int
    prefix: str = ""  # the answer's text before the canvas part being denoised (earlier parts already rewritten)
    suffix: str = ""  # the original text after it
    token_range: tuple[int, int] = (0, 0)
    canvas_index: int = -1
    char_end: int = 0
    canvases: list[list[Frame]] = field(default_factory=list)
    blobs: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # packed canvases, kept with the version
    last_frame: Frame | None = None


class RewriteController(QObject):
    """Owns the rewrite flow of the chat page; `rewrite_finished(message_id, outcome)` fires at its end with
    outcome "done", "unchanged" (the model wrote the same text: no new version), "cancelled" or "error"."""

    rewrite_finished = Signal(int, str)

    def __init__(self, chat: Any) -> None:
        super().__init__(chat)
        self.chat = chat
        self.versions = VersionStore(chat.store)
        self.active: ActiveRewrite | None = None
        self.dialog: RewriteDialog | None = None
        chat.busy_checks.append(lambda: self.active is not None)
        chat.rewrite = self
        view, w = chat.page.messages, chat.worker
        view.rewrite_requested.connect(self.ask)
        view.version_requested.connect(self.step_version)
        w.infill_started.connect(self._infill_started)
        w.frame.connect(self._frame)
        w.canvas_done.connect(self._canvas_done)
        w.done.connect(self._done)
        w.error.connect(self._error)

    # -- asking ---------------------------------------------------------------------------------------------------
    def ask(self, message_id: int, start: int, end: int) -> RewriteDialog | None:
        """The (non-blocking) dialog for rewriting characters start..end of an answer; Rewrite starts it."""
        if self.chat.busy() or self.chat.model is None:
            self.chat.page.show_banner("Wait for the running answer to finish (or stop it), then rewrite."
                                       if self.chat.model is not None else "Load a model first.")
            return None
        text = self.chat.store.message(message_id).text
        sampler = self.chat.sampler or SamplerSettings()
        note = f"With the current Settings: up to {sampler.max_denoising_steps} denoising steps, a new seed."
        dialog = self.dialog = RewriteDialog(text[start:end], self.chat.window, settings_note=note)
        dialog.accepted.connect(lambda: self.start(message_id, (start, end), dialog.instruction()))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()
        return dialog

    def start(self, message_id: int, span: tuple[int, int], instruction: str = "") -> bool:
        """Queue the rewrite of `span` (characters of the answer's current text); False when it cannot start."""
        chat = self.chat
        if chat.busy() or chat.model is None:
            return False
        message = chat.store.message(message_id)
        if message.role != "assistant" or not 0 <= span[0] < span[1] <= len(message.text):
            return False
        base = chat.sampler or SamplerSettings()  # the current Settings, as Regenerate uses (the dialog says so)
        seed = chat.new_seed()
        thinking = chat.store.conversation(message.conversation_id).thinking or bool(message.thinking)
        rid = chat.worker.rewrite(self._context(message), message.text, span, base.with_(seed=seed),
                                  instruction or None, enable_thinking=thinking, thought=message.thinking)
        self.active = ActiveRewrite(rid, message.id, message.conversation_id, message.text, span, instruction, seed,
                                    prefix=message.text[: span[0]], suffix=message.text[span[1]:])
        chat.selected_answer = message.id
        chat.page.canvas.begin_live()
        chat.page.hide_banner()
        chat.render_messages()
        chat._update_buttons()  # noqa: SLF001 - Send waits, Stop stops the rewrite
        return True

    def _context(self, message: Any) -> list[dict[str, str]]:
        """The conversation the answer replied to: system prompt and every turn before it."""
        conv = self.chat.store.conversation(message.conversation_id)
        chat = [{"role": "system", "content": conv.system_prompt}] if conv.system_prompt.strip() else []
        for m in self.chat.store.messages(message.conversation_id):
            if m.position >= message.position:
                break
            if m.role == "user" or m.text.strip():
                chat.append({"role": m.role, "content": m.text})
        return chat

    # -- live -----------------------------------------------------------------------------------------------------
    def is_live_in(self, conversation_id: int | None) -> bool:
        """Whether a rewrite of an answer of `conversation_id` is being denoised."""
        return self.active is not None and self.active.conversation_id == conversation_id

    def show_live(self) -> None:
        """Paint the bubble being rewritten: the text before, the span's current draft, the text after."""
        a = self.active
        if a is None:
            return
        spans: list[tuple[str, bool]] = []
        text = self.chat.model.text if self.chat.model is not None else None
        f = a.last_frame
        if f is not None and f.step > 0 and text is not None and f.canvas_index == a.canvas_index:
            lo, hi = a.token_range
            spans, _ = text.spans(f.draft[lo:hi], f.accepted[lo:hi])
        elif f is None or f.canvas_index == a.canvas_index:  # the random start: the span is being re-noised
            spans = [("…", False)]
        self.chat.page.messages.update_live(a.prefix, spans, a.suffix)

    def _mine(self, request_id: int) -> ActiveRewrite | None:
        a = self.active
        return a if a is not None and request_id == a.request_id and not self.chat.closed else None

    def _infill_started(self, request_id: int, start: Any) -> None:
        a = self._mine(request_id)
        if a is None:
            return
        if a.canvas_index >= 0:  # a later canvas: what lies between the two parts is the original text
            a.prefix += a.original[a.char_end:start.char_start]
        else:
            a.prefix = a.original[: start.char_start]
        a.canvas_index, a.token_range, a.char_end = start.canvas_index, (start.token_start, start.token_end), \
            start.char_end
        a.suffix = a.original[start.char_end:]
        a.last_frame = None
        self._paint()

    def _frame(self, request_id: int, frame: Frame) -> None:
        a = self._mine(request_id)
        if a is None:
            return
        a.last_frame = frame
        if self.chat.conversation_id == a.conversation_id:
            self.chat.page.canvas.live_frame(frame)
            self.show_live()

    def _canvas_done(self, request_id: int, done: CanvasDone, frames: list[Frame], blob: bytes) -> None:
        a = self._mine(request_id)
        if a is None:
            return
        lo, hi = a.token_range
        text = self.chat.model.text if self.chat.model is not None else None
        ids = done.token_ids[lo:hi]
        a.prefix += text.visible_text(ids)[0] if text is not None else ""
        a.suffix, a.last_frame = a.original[a.char_end:], None
        a.canvases.append(frames)
        if frames:
            a.blobs.append((done.canvas_index, len(frames), len(frames[0].draft), blob))
        if self.chat.conversation_id == a.conversation_id:
            self.chat.page.canvas.add_canvas_frames(frames)
            self.chat.page.messages.update_live(a.prefix, [], a.suffix)

    def _paint(self) -> None:
        if self.active is not None and self.chat.conversation_id == self.active.conversation_id:
            self.show_live()

    def _done(self, request_id: int, done: Done) -> None:
        a = self._mine(request_id)
        if a is None:
            return
        self.active = None
        outcome = "cancelled" if done.reason == "cancelled" else "unchanged" if done.text == a.original else "done"
        if done.reason == "cancelled":
            self.chat.banner_for(a.conversation_id, "Rewrite stopped — the answer is unchanged.")
        elif done.text == a.original:
            self.chat.banner_for(a.conversation_id, "The rewrite came out the same as before; no new version.")
        else:
            try:
                self.versions.add(a.message_id, done.text, instruction=a.instruction, span=a.span, seed=a.seed,
                                  frames=a.blobs)
            except StoreWriteError as exc:
                outcome = "error"
                self.chat.banner_for(a.conversation_id, f"{exc} The answer is unchanged.")
            except KeyError:  # the chat was deleted while its answer was being rewritten
                outcome = "error"
        self._end(a, outcome)

    def _error(self, request_id: int, message: str) -> None:
        a = self._mine(request_id)
        if a is None:
            return
        self.active = None  # the chat controller shows the message on the banner
        self._end(a, "error")

    def _end(self, a: ActiveRewrite, outcome: str) -> None:
        chat = self.chat
        chat.page.canvas.end_live()
        if chat.conversation_id == a.conversation_id:
            chat.render_messages()
        chat._update_buttons()  # noqa: SLF001
        self.rewrite_finished.emit(a.message_id, outcome)

    # -- versions -------------------------------------------------------------------------------------------------
    def step_version(self, message_id: int, delta: int) -> bool:
        """Show the previous (-1, undo) or next (+1, redo) version of a rewritten answer; False at either end."""
        if self.chat.busy():
            return False
        try:
            current, count = self.versions.current(message_id), len(self.versions.versions(message_id))
        except KeyError:
            return False
        target = current + delta
        if not 1 <= target <= count:
            return False
        try:
            self.versions.select(message_id, target)
        except (StoreWriteError, KeyError) as exc:
            self.chat.page.show_banner(str(exc))
            return False
        self.chat.render_messages()
        self.chat.show_replay(message_id)  # the canvas follows: how the version now shown was denoised
        return True
