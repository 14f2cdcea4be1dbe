"""What the window shows for the open conversation — its canvas, banner and status line — kept per conversation,
so nothing from one chat leaks into another. A mixin of `ChatController`, beside the chat flow in controller.py.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from engine import Frame

from ..store.chats import Message
from ..store.versions import VersionStore
from .settings_dialog import plain_error

log = logging.getLogger(__name__)

REPLAYS_IN_MEMORY = 6
EMPTY_CHAT_NOTE = "No answer in this chat yet. Ask something to watch the answer form, step by step."
FAILED_NOTE = "This answer stopped with an error before its first step (the message above says why)."


class ConversationViewMixin:
    """Needs the controller's `page`, `store`, `live`, `conversation_id`, `selected_answer`, `_show_stats`,
    `render_messages`, `regenerate`, `edit_message` and `_write`."""

    def _init_views(self) -> None:
        self._replays: OrderedDict[int, list[list[Frame]]] = OrderedDict()  # a few answers' frames, newest last
        self._banners: dict[int, str] = {}  # banners of conversations not on screen, shown again on return

    # -- banner -------------------------------------------------------------------------------------------------
    def _stash_banner(self) -> None:
        """Leaving the open conversation: keep its banner (if any) for when the user comes back."""
        if self.conversation_id is None:
            return
        if self.page.banner.isVisible() and self.page.banner.property("kind") != "info":  # a passing note is not kept
            self._banners[self.conversation_id] = self.page.banner.text()
        else:
            self._banners.pop(self.conversation_id, None)

    def _restore_banner(self, conversation_id: int) -> None:
        text = self._banners.pop(conversation_id, None)
        if text:
            self.page.show_banner(text)
        else:
            self.page.hide_banner()

    def banner_for(self, conversation_id: int | None, text: str) -> None:
        """Show `text` on the banner when its conversation is open; else keep it for when it is opened."""
        if conversation_id is None or conversation_id == self.conversation_id:
            self.page.show_banner(text)
        else:
            self._banners[conversation_id] = text

    # -- canvas and status line ---------------------------------------------------------------------------------
    def _show_views_for(self, conversation_id: int, answers: list[Message]) -> None:
        """The open conversation's own canvas (live, its last answer, or an empty note) and status line."""
        live = self.live
        if live is not None and live.conversation_id == conversation_id:
            canvas = self.page.canvas
            canvas.begin_live()
            for frames in live.canvases:
                canvas.add_canvas_frames(frames)
            canvas.follow_live()
            if live.last_frame is not None:
                canvas.live_frame(live.last_frame)
            self._show_stats(None)
            return
        if answers:
            self.show_replay(answers[-1].id)
            self._show_stats(answers[-1].stats or None)
        else:
            self.page.canvas.set_replay([], note=EMPTY_CHAT_NOTE)
            self._show_stats(None)

    def _open_answer_stats(self) -> dict | None:
        """The open conversation's last answer's figures (None: no answer yet, or one is being written)."""
        if self.conversation_id is None or self.live is not None:
            return None
        answers = [m for m in self.store.messages(self.conversation_id) if m.role == "assistant"]
        return (answers[-1].stats or None) if answers else None

    def _is_open(self, conversation_id: int) -> bool:
        return conversation_id == self.conversation_id

    def _answer_failed(self, live: Any, message: str) -> None:
        """An answer that failed: what it committed is kept (status "error"); one that produced nothing leaves no
        empty bubble behind — the question stays, to answer again with Regenerate."""
        here = self._is_open(live.conversation_id)
        self.page.canvas.end_live()
        if live.committed.strip():
            self._write(self.store.finish_assistant, live.message_id, text=live.committed, thinking="", stats=None,
                        status="error")
            self._remember_replay(live.message_id, live.canvases)
            advice = " The text written before the error is kept."
        else:
            position = self.store.message(live.message_id).position
            self._write(self.store.truncate_from, live.conversation_id, position)
            advice = " Your question is kept: press Regenerate to try again."
        self.banner_for(live.conversation_id, plain_error(message) + advice)
        if here:
            self.selected_answer = None
            self.page.canvas.set_replay(live.canvases, note=FAILED_NOTE)
            self._show_stats(None)
            self.render_messages()

    # -- replay -------------------------------------------------------------------------------------------------
    def show_replay(self, message_id: int) -> None:
        """Load an answer's frames into the scrubber (memory first, then the store); a rewritten answer shows the
        frames of the version it shows now (its rewrite's canvases)."""
        versions = VersionStore(self.store)
        version = versions.current(message_id)
        self.selected_answer = message_id
        if version > 1:
            frames = versions.frames(message_id, version)
            note = "" if frames else "This version was rewritten before rewrites kept their frames: nothing to replay."
            self.page.canvas.set_replay(frames, note=note)
            return
        frames = self._replays.get(message_id)
        if frames is None:
            frames = self.store.canvas_frames(message_id)
        self._remember_replay(message_id, frames)
        stats = self.store.message(message_id).stats or {}
        self.page.canvas.set_replay(frames, tokens_per_forward=stats.get("tokens_per_forward"))

    def _remember_replay(self, message_id: int, canvases: list[list[Frame]]) -> None:
        """Keep the frames of the last few answers in memory (the store holds all of them)."""
        self._replays[message_id] = canvases
        self._replays.move_to_end(message_id)
        while len(self._replays) > REPLAYS_IN_MEMORY:
            self._replays.popitem(last=False)

    def _message_action(self, action: str, message_id: int) -> None:
        """A message link: acted on only when it names a known action on a fitting message of the open chat;
        anything else (a stale or unknown id) is logged and ignored."""
        try:
            message = self.store.message(int(message_id))
        except (KeyError, TypeError, ValueError):
            log.warning("ignored message action %r on unknown message %r", action, message_id)
            return
        if message.conversation_id != self.conversation_id:
            log.warning("ignored message action %r on message %s of another conversation", action, message_id)
            return
        if action == "edit" and message.role == "user":
            self.edit_message(message.id)
        elif action == "replay" and message.role == "assistant":
            self.show_replay(message.id)
            self.page.canvas.replay_from_start()  # "Replay canvas" plays the answer from its random start
            self.render_messages()
        elif action == "branch" and message.role == "assistant":
            self.branch_from(message.id)
        elif action in ("regen-new", "regen-same") and self._is_last_answer(message):
            self.regenerate(same_seed=action == "regen-same")
        else:
            log.warning("ignored message action %r on message %s", action, message_id)

    def _is_last_answer(self, message: Message) -> bool:
        messages = self.store.messages(message.conversation_id)
        return message.role == "assistant" and bool(messages) and messages[-1].id == message.id
