"""The past-experiments half of `CompareController`: the list, a new experiment (or one from the open chat's last
question), reopening a stored one with its answers and replays, deleting. A mixin, so compare_controller.py keeps
the run, the diff, Continue and export."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from ..store.chats import StoreWriteError
from .compare_page import IDLE_STATUS
from .presets import THINKING_PRESET


class ExperimentListMixin:
    """Needs the controller's `page`, `chat`, `store`, `experiments`, `experiment`, `variants`, `request_id`,
    `_context`, `_conversation_id`, `show_page`, `show_diff`, `_status_line` and `_update_buttons`."""

    # -- experiments ----------------------------------------------------------------------------------------------
    def refresh_list(self) -> None:
        """Refill the past experiments (newest first)."""
        self.page.set_experiments(self.experiments.experiments(), self.experiment.id if self.experiment else None)

    def open_from_chat(self) -> None:
        """"Compare…" from a chat: a new experiment with the open chat's last question (its earlier turns as context),
        every column reset to ask it the chat's way (see `_columns_from_chat`); the Compare page is shown."""
        if self.request_id is not None:  # a batch is running: just show it
            self.show_page()
            return
        self.new_experiment()
        chat = self.chat
        conv = self.store.conversation(chat.conversation_id) if chat.conversation_id is not None else None
        if conv is not None:
            messages = self.store.messages(conv.id)
            last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
            if last_user is not None:
                self._context = [{"role": m.role, "content": m.text} for m in messages[:last_user] if m.text.strip()]
                self._conversation_id = conv.id
                self.page.prompt.setPlainText(messages[last_user].text)
                earlier = f" with its {len(self._context)} earlier turns as context" if self._context else ""
                shown = f"From the chat “{conv.title}”{earlier}: Continue puts the chosen answer there."
                self.page.context_label.setText(shown)
                self.page.context_label.setVisible(True)
        if conv is not None:
            self._columns_from_chat(conv.system_prompt, conv.thinking)
        else:  # a chat not saved yet: what its page is set to
            self._columns_from_chat(chat.page.system_prompt.text(), chat.page.thinking.isChecked())
        self.show_page()
        self.page.prompt.setFocus()

    def _columns_from_chat(self, system_prompt: str, thinking: bool) -> None:
        """Every column asks the question as the chat does: its system prompt, its preset ("Thinking on" for a
        thinking chat, else the model defaults), no question of its own, and seeds 1–4 so the columns still differ;
        nothing of an earlier experiment's columns stays."""
        preset = THINKING_PRESET if thinking else "defaults"
        for column in self.page.columns:
            column.seed.setValue(column.index + 1)
            column.preset.setCurrentIndex(column.preset.findData(preset))
            column.system_prompt.setText(system_prompt)
            column.prompt.clear()

    def new_experiment(self) -> None:
        """Clear the page for a new experiment: the columns keep their seed, preset and system prompt, but not a
        question of their own (it varied the previous prompt)."""
        if self.request_id is not None:
            return
        self.experiment, self.variants = None, []
        self._context, self._conversation_id = [], None
        self.page.context_label.setVisible(False)
        self.page.prompt.clear()
        for column in self.page.columns:
            column.prompt.clear()
            column.clear()
        self.page.experiments.clearSelection()
        self.page.status.setText(IDLE_STATUS)
        self.show_diff()
        self._update_buttons()

    def open_experiment(self, experiment_id: int) -> None:
        """Reopen a stored experiment: its prompt, each column's definition, answer and replay."""
        if self.request_id is not None:
            return
        try:
            experiment = self.experiments.experiment(experiment_id)
        except KeyError:
            self.refresh_list()
            return
        self.experiment, self.variants = experiment, self.experiments.variants(experiment_id)
        self._context, self._conversation_id = experiment.context, experiment.conversation_id
        self.page.prompt.setPlainText(experiment.prompt)
        self.page.context_label.setVisible(bool(experiment.context))
        self.page.context_label.setText(f"With {len(experiment.context)} earlier chat turns as context.")
        self.page.column_count.setValue(max(1, len(self.variants)))
        for variant, column in zip(self.variants, self.page.columns):
            column.set_spec(variant.spec)
            column.set_replay(self.experiments.frames(variant.id))
            column.finish(variant.text, self._status_line(variant.status, variant.stats),
                          can_continue=variant.status in ("done", "cancelled") and bool(variant.text),
                          thought=variant.thinking)
        for column in self.page.columns[len(self.variants):]:
            column.clear()
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(experiment.created_at))
        self.page.status.setText(f"Experiment from {when} · model {experiment.model}")
        self.show_diff()
        self._update_buttons()

    def delete_current(self) -> None:
        """Delete the selected experiment after a confirmation."""
        item = self.page.experiments.currentItem()
        if item is None or self.request_id is not None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Delete experiment", f"Delete “{item.text()}”?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self.page)
        box.setObjectName("deleteExperimentDialog")
        box.setTextFormat(Qt.TextFormat.PlainText)
        experiment_id = int(item.data(Qt.ItemDataRole.UserRole))
        box.accepted.connect(lambda: self._delete(experiment_id))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _delete(self, experiment_id: int) -> None:
        try:
            self.experiments.delete(experiment_id)
        except StoreWriteError as exc:
            self.page.status.setText(str(exc))
            return
        if self.experiment is not None and self.experiment.id == experiment_id:
            self.new_experiment()
        self.refresh_list()
