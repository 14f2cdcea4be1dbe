"""`CompareController`: between the Compare page, the experiment store, the engine worker and the chat.

One run: Run all → the columns' variants are stored (a new experiment, or the open one re-run in place when its
variants are unchanged) → one batched `EngineWorker.compare` → each variant's frames go to its thumbnail (coalesced)
→ each committed canvas saves that variant's text so far and packed frames (one transaction) → each variant's
`Done` saves its answer, figures and status → when all are done the diff is shown. "Continue with this one" puts
the chosen answer into the chat (`ExperimentStore.continue_in_chat`) and opens that chat.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog

from engine import CanvasDone, Done, Frame, SamplerSettings

from ..chat.export import safe_file_name, write_atomically
from ..common.file_dialogs import save_dialog
from ..store.chats import StoreWriteError
from ..store.experiments import (
    Experiment,
    ExperimentStore,
    Variant,
    VariantSpec,
    variant_messages,
)
from .compare_experiments import ExperimentListMixin
from .compare_export import experiment_json, experiment_markdown
from .compare_page import IDLE_STATUS, ComparePage
from .presets import apply_preset, preset_thinks
from .variant_column import LETTERS
from .word_diff import diff_html, diff_summary, word_diff

log = logging.getLogger(__name__)
NEEDS_PROMPT = "Type a prompt first."


class CompareController(ExperimentListMixin, QObject):
    """Owns the Compare page's state; `run_finished(experiment_id)` fires when every variant is stored."""

    run_finished = Signal(int)
    continued = Signal(int)  # the chat message that now holds the chosen answer
    export_finished = Signal(str, str)  # path, problem ("" when written)

    def __init__(self, page: ComparePage, chat: Any, show_page: Any) -> None:
        super().__init__(page)
        self.page, self.chat, self.show_page = page, chat, show_page
        self.worker, self.store = chat.worker, chat.store
        self.experiments = ExperimentStore(chat.store)
        self.experiment: Experiment | None = None
        self.variants: list[Variant] = []
        self.request_id: int | None = None
        self.running: set[int] = set()
        self.committed: dict[int, str] = {}
        self.save_dialog: QFileDialog | None = None
        self.closed = False
        self._context: list[dict[str, str]] = []  # the earlier turns of the chat a prompt came from
        self._conversation_id: int | None = None
        chat.busy_checks.append(lambda: self.request_id is not None)
        self._wire()
        self.refresh_list()
        self._update_buttons()

    def _wire(self) -> None:
        p, w = self.page, self.worker
        p.run_button.clicked.connect(self.run_all)
        run_shortcut = QShortcut(QKeySequence("Ctrl+Return"), p)
        run_shortcut.activated.connect(self.run_all)
        p.stop_button.clicked.connect(self.stop)
        p.prompt.textChanged.connect(self._prompt_edited)
        p.new_button.clicked.connect(self.new_experiment)
        p.delete_button.clicked.connect(self.delete_current)
        p.seeds_button.clicked.connect(lambda: [c.seed.setValue(c.index + 1) for c in p.columns])
        p.experiments.currentItemChanged.connect(
            lambda item, _old: item is not None and self.open_experiment(int(item.data(Qt.ItemDataRole.UserRole))))
        p.diff_left.currentIndexChanged.connect(lambda _i: self.show_diff())
        p.diff_right.currentIndexChanged.connect(lambda _i: self.show_diff())
        p.export_markdown.triggered.connect(lambda: self.ask_export("md"))
        p.export_json.triggered.connect(lambda: self.ask_export("json"))
        for column in p.columns:
            column.continue_requested.connect(self.continue_with)
        self.export_finished.connect(self._export_finished)
        self.chat.model_ready.connect(self._model_ready)
        self.chat.answer_finished.connect(lambda _id: self._update_buttons())
        w.model_loading.connect(lambda _t: self._update_buttons())
        w.variant_frame.connect(self._frame)
        w.variant_canvas_done.connect(self._canvas_done)
        w.variant_done.connect(self._done)
        w.variant_error.connect(self._error)

    # -- running --------------------------------------------------------------------------------------------------
    def specs(self) -> list[VariantSpec]:
        """The active columns' variants, each with its full settings (the chat's settings changed by its preset)."""
        base = self.chat.sampler or SamplerSettings()
        specs = []
        for column in self.page.active_columns:
            seed = column.seed.value()
            settings = apply_preset(column.preset_key(), base, seed)
            specs.append(VariantSpec(seed, column.preset_key(), column.system_prompt.text(), column.prompt.text(),
                                     settings.as_dict()))
        return specs

    def run_all(self) -> bool:
        """Store the variants and denoise them as one batch; False (with a reason on the status line) when not."""
        prompt = self.page.prompt.toPlainText().strip()
        if self.request_id is not None or self.chat.busy():
            self.page.status.setText("Wait for the running answer to finish (or stop it) first.")
            return False
        if self.chat.model is None:
            self.page.status.setText("No model is loaded yet — pick one in the model list (top left).")
            return False
        if not prompt:
            self.page.status.setText(NEEDS_PROMPT)
            return False
        specs = self.specs()
        model = self.chat.model.name
        try:
            same = (self.experiment is not None and self.experiment.prompt == prompt
                    and [v.spec for v in self.variants] == [self._stored(s) for s in specs])
            if same:  # re-run in place: same prompt and variants, fresh results
                self.experiments.replace_variants(self.experiment.id, specs, model)
                self.experiment = self.experiments.experiment(self.experiment.id)
            else:
                self.experiment = self.experiments.create(prompt, specs, context=self._context,
                                                          conversation_id=self._conversation_id, model=model)
        except StoreWriteError as exc:
            self.page.status.setText(str(exc))
            return False
        self.variants = self.experiments.variants(self.experiment.id)
        chats = [variant_messages(self.experiment, v.spec) for v in self.variants]
        settings = [SamplerSettings.from_dict(v.spec.settings) for v in self.variants]
        self.running = set(range(len(self.variants)))
        self.committed = {i: "" for i in self.running}
        for column in self.page.columns:
            column.begin() if column in self.page.active_columns else column.clear()
        thinking = [preset_thinks(v.spec.preset) for v in self.variants]
        self.request_id = self.worker.compare(chats, settings, thinking)
        self.page.status.setText(f"Denoising {len(self.variants)} variants together…")
        self.refresh_list()
        self._update_buttons()
        self.chat._update_buttons()  # noqa: SLF001 - the chat's Send waits for the batch
        return True

    def _prompt_edited(self) -> None:
        """The "Type a prompt first." hint goes as soon as the prompt holds more than white space."""
        if self.page.status.text() == NEEDS_PROMPT and self.page.prompt.toPlainText().strip():
            self.page.status.setText(IDLE_STATUS)

    @staticmethod
    def _stored(spec: VariantSpec) -> VariantSpec:
        return VariantSpec(spec.seed, spec.preset, spec.system_prompt, spec.prompt,
                           {**spec.settings, "seed": spec.seed})

    def stop(self) -> None:
        """Stop every variant between two steps (committed canvases stay)."""
        if self.request_id is not None:
            self.worker.cancel()

    def _column(self, index: int) -> Any:
        return self.page.columns[index] if 0 <= index < len(self.page.columns) else None

    def _frame(self, request_id: int, index: int, frame: Frame) -> None:
        column = self._column(index)
        if self.closed or request_id != self.request_id or column is None:
            return
        column.live_frame(frame)
        text = self.chat.model.text if self.chat.model is not None else None
        if text is not None and frame.step > 0:  # the draft forming, as plain text under the thumbnail
            spans, _ = text.spans(frame.draft, frame.accepted)
            column.answer.setPlainText(self.committed.get(index, "") + "".join(piece for piece, _ok in spans))

    def _canvas_done(self, request_id: int, index: int, done: CanvasDone, frames: list[Frame], blob: bytes) -> None:
        column = self._column(index)
        if self.closed or request_id != self.request_id or column is None or index >= len(self.variants):
            return
        self.committed[index] = self.committed.get(index, "") + done.text
        length = len(frames[0].draft) if frames else 0
        try:
            self.experiments.save_canvas(self.variants[index].id, self.committed[index], done.canvas_index, blob,
                                         len(frames), length)
        except StoreWriteError as exc:
            self.page.status.setText(str(exc))
        column.add_canvas(frames)
        column.answer.setPlainText(self.committed[index])

    def _done(self, request_id: int, index: int, done: Done) -> None:
        column = self._column(index)
        if self.closed or request_id != self.request_id or column is None or index >= len(self.variants):
            return
        status = "cancelled" if done.reason == "cancelled" else "done"
        text = done.text if done.text or status == "done" else self.committed.get(index, "")
        stats = {**done.stats.as_dict(), "reason": done.reason}
        try:
            self.experiments.finish(self.variants[index].id, text=text, stats=stats, status=status,
                                    thinking=done.thinking)
        except StoreWriteError as exc:
            self.page.status.setText(str(exc))
        column.finish(text, self._status_line(status, stats), can_continue=bool(text), thought=done.thinking)
        self.running.discard(index)
        if not self.running:
            self._run_over("Stopped: the canvases committed before Stop are kept." if status == "cancelled"
                           else f"{len(self.variants)} variants done — pick two columns below to see what differs.")

    def _error(self, request_id: int, message: str) -> None:
        if self.closed or request_id != self.request_id:
            return
        for index in list(self.running):
            if index < len(self.variants):
                text = self.committed.get(index, "")
                try:
                    self.experiments.finish(self.variants[index].id, text=text, stats=None, status="error")
                except StoreWriteError:
                    pass
                self.page.columns[index].finish(text, "error", can_continue=False)
        self.running.clear()
        self._run_over(message)

    def _run_over(self, message: str) -> None:
        experiment_id = self.experiment.id if self.experiment else 0
        self.request_id = None
        if self.experiment is not None:
            self.variants = self.experiments.variants(self.experiment.id)
        self.page.status.setText(message)
        self.show_diff()
        self.refresh_list()
        self._update_buttons()
        self.chat._update_buttons()  # noqa: SLF001 - the chat's Send waits for the batch
        self.run_finished.emit(experiment_id)

    @staticmethod
    def _status_line(status: str, stats: dict | None) -> str:
        if not stats or not stats.get("tokens"):
            return status if status != "new" else ""
        steps = stats.get("decoder_forwards") or 0
        return f"{status} · {stats['tokens']} tokens · {steps} steps · {stats.get('tokens_per_second', 0):.1f} tok/s"

    # -- diff, continue, export -----------------------------------------------------------------------------------
    def column_text(self, index: int) -> str:
        """The answer a column shows."""
        return self.page.columns[index].answer.toPlainText()

    def show_diff(self) -> None:
        """The word-level diff between the two chosen columns (escaped; removed red, added green)."""
        left, right = self.page.diff_left.currentIndex(), self.page.diff_right.currentIndex()
        a, b = self.column_text(left), self.column_text(right)
        if not a and not b:
            self.page.diff.setHtml("")
            self.page.diff_summary.setText("Run the variants to see what differs between two columns.")
            return
        self.page.diff.setHtml(diff_html(a, b))
        self.page.diff_summary.setText(f"{LETTERS[left]} → {LETTERS[right]}: {diff_summary(word_diff(a, b))}")

    def continue_with(self, index: int) -> int | None:
        """Put column `index`'s answer into the chat (stored, with its seed, settings and frames) and open it;
        returns the chat message id."""
        if self.request_id is not None or index >= len(self.variants) or self.chat.busy():
            return None
        model = self.chat.model.name if self.chat.model else ""
        try:
            variant = self.variants[index]
            message = self.experiments.continue_in_chat(variant.id, model=model,
                                                        thinking_on=preset_thinks(variant.spec.preset))
        except (StoreWriteError, KeyError) as exc:
            self.page.status.setText(f"Could not put the answer into the chat: {exc}")
            return None
        self.experiment = self.experiments.experiment(self.variants[index].experiment_id)
        self._conversation_id = self.experiment.conversation_id
        self.chat.open_conversation(message.conversation_id)
        self.chat.show_replay(message.id)
        self.chat.render_messages()
        self.chat.window.nav.setCurrentRow(0)
        self.continued.emit(message.id)
        return message.id

    def ask_export(self, kind: str) -> QFileDialog | None:
        """The save dialog for a Markdown or JSON export of the open experiment (written atomically)."""
        if self.experiment is None:
            return None
        suffix, filters = (".md", "Markdown (*.md)") if kind == "md" else (".json", "JSON (*.json)")
        dialog = save_dialog(self.page.window(), "Export experiment", safe_file_name(self.experiment.title, suffix),
                             filters, "exportExperimentDialog")
        dialog.fileSelected.connect(lambda path: self.export(path, kind))
        dialog.finished.connect(lambda _r: setattr(self, "save_dialog", None))
        self.save_dialog = dialog
        dialog.open()
        return dialog

    def export(self, path: str, kind: str) -> None:
        """Write the open experiment to `path` as Markdown ("md") or JSON ("json"): atomically, in a background
        thread (like the chat's export); `export_finished` then says where it went or why it could not."""
        if self.experiment is None:
            return
        variants = self.experiments.variants(self.experiment.id)
        text = (experiment_markdown if kind == "md" else experiment_json)(self.experiment, variants)
        finished = self.export_finished

        def write() -> None:
            try:
                write_atomically(path, text)
            except OSError as exc:
                finished.emit(path, f"Could not write {Path(path).name}: {exc.strerror or exc}")
            else:
                finished.emit(path, "")

        threading.Thread(target=write, name="compare-export", daemon=True).start()

    def _export_finished(self, path: str, problem: str) -> None:
        self.page.status.setText(problem or f"Exported to {path}")

    # -- model and buttons ----------------------------------------------------------------------------------------
    def _model_ready(self, info: Any) -> None:
        text = getattr(info, "text", None)
        for column in self.page.columns:
            if text is not None:
                column.canvas.set_pieces(info.pieces, text.stop_ids, text.hidden_ids)
            else:
                column.canvas.set_pieces(info.pieces)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.request_id is not None
        self.page.set_busy(busy, model_ready=self.chat.model is not None and (busy or not self.chat.busy()))
        self.page.export_button.setEnabled(self.experiment is not None and not busy)
        for column, variant in zip(self.page.columns, self.variants + [None] * 4):
            if variant is None or busy:
                column.continue_button.setEnabled(False)

    def shutdown(self) -> None:
        """The window closes: a running batch is cancelled; later worker events are ignored."""
        if self.request_id is not None:
            self.worker.cancel()
        self.closed = True
