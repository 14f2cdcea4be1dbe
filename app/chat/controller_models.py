"""The model and sampler-settings half of `ChatController`: loading models (and the GPU page's choice), the status
line, the settings dialog, Markdown export. A mixin, so the chat flow in controller.py stays readable."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from engine import SamplerSettings

from ..common.file_dialogs import save_dialog
from ..models.model_sources import model_label
from ..store.app_settings import DEFAULT_TEXT_SIZE, SAMPLER_KEYS, TEXT_SIZES, save_settings
from ..store.versions import VersionStore
from .cpu_status import CPU_TOOLTIP, cpu_note
from .export import (
    conversation_json,
    conversation_markdown,
    safe_file_name,
    stats_text,
    stats_tooltip,
    write_atomically,
)
from .settings_dialog import SettingsDialog

MARKDOWN_FILTER = "Markdown (*.md)"
JSON_FILTER = "JSON (*.json)"

if TYPE_CHECKING:
    from ..worker import ModelInfo


class ModelSettingsMixin:
    """Needs the controller's `window`, `page`, `store`, `worker`, `settings`, `model`, `sampler`, `live`,
    `conversation_id`, `device`, `profile`, `closed`, `model_ready`, `export_finished` and `_update_buttons`."""

    def load_model(self, source: str) -> None:
        """Load `source` in the worker thread on the chosen device."""
        self._wire_models()
        self.worker.load(source, self.device, self.profile)

    def _wire_models(self) -> None:
        """Connect the worker's load progress, notices and profile suggestions (once) and pass the compiled-path
        setting on before the first load. Lazy, because the chat controller wires its own signals."""
        if getattr(self, "_models_wired", False):
            return
        self._models_wired = True
        self.worker.set_compiled(self.settings.compiled_path)
        self.worker.load_progress.connect(self._load_progress)
        self.worker.notice.connect(self.page.show_banner)
        self.worker.profile_suggested.connect(self.offer_profile)

    def _load_progress(self, progress: object) -> None:
        """One `LoadProgress` from the worker: the bar beside the model picker shows its share and message."""
        if self.closed:
            return
        fraction = max(0.0, min(1.0, float(getattr(progress, "fraction", 0.0))))
        text = str(getattr(progress, "message", ""))
        bar = self.window.load_progress
        self.window.show_loading(text or "Loading…")
        bar.setRange(0, 1000)
        bar.setValue(int(fraction * 1000))
        bar.setFormat(f"{fraction:.0%}")
        bar.setTextVisible(True)
        bar.setToolTip(text)

    def offer_profile(self, source: str, suggestion: str, message: str) -> QMessageBox | None:
        """A load ran out of memory and the engine named a profile that fits: offer "Load as …" as one click."""
        if self.closed:
            return None
        from engine.hardware import PROFILE_LABELS

        box = QMessageBox(QMessageBox.Icon.Warning, "The model does not fit", message, parent=self.window)
        box.setObjectName("profileRetryDialog")
        box.setAccessibleName("profileRetryDialog")
        retry = box.addButton(f"Load as {PROFILE_LABELS.get(suggestion, suggestion)}",
                              QMessageBox.ButtonRole.AcceptRole)
        retry.setObjectName("profileRetryButton")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(lambda button: button is retry and self.retry_as(source, suggestion))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def retry_as(self, source: str, profile: str) -> None:
        """Load `source` again with `profile` (and keep that profile for later loads)."""
        self.profile = profile
        self.page.hide_banner()
        self.load_model(source)

    def use_gpu(self, index: int, profile: str) -> None:
        """The GPU page's choice: later loads go to that device with that profile; the current model reloads."""
        self.device = "cpu" if index < 0 else f"cuda:{index}"
        self.profile = profile or None
        if self.model is not None and self.model.source and self.live is None:
            self.load_model(self.model.source)

    def _model_loading(self, text: str) -> None:
        self._wire_models()
        self.model = None
        self.window.show_loading(text)
        self.window.load_progress.setRange(0, 0)  # busy until the next progress report
        self.window.stats_label.setText(text)
        self._update_buttons()

    def _model_loaded(self, info: ModelInfo) -> None:
        if self.closed:
            return
        self.model = info
        self.sampler = self.settings.sampler_for(info.defaults)
        if self.settings.problem:
            self.page.show_banner(self.settings.problem)
            self.settings.problem = ""
        text = info.text
        if text is not None:
            self.page.canvas.view.set_pieces(info.pieces, text.stop_ids, text.hidden_ids)
        else:
            self.page.canvas.view.set_pieces(info.pieces)
        self.page.canvas.view.warm_up(info.canvas_length)
        self.window.show_loading(None)
        if info.source and self.settings.model != info.source:
            self.settings.model = info.source
            self._save_settings()
        self._show_stats(self._open_answer_stats())
        self._update_buttons()
        self.model_ready.emit(info)

    def model_title(self) -> str:
        """The loaded model's name as the window shows it (random weights said plainly)."""
        if self.model is None:
            return "no model"
        label = model_label(self.model.source) if self.model.source else self.model.name
        return label + (" · RANDOM WEIGHTS" if self.model.is_random and "random" not in label.lower() else "")

    def _show_stats(self, stats: dict | None) -> None:
        """The status line for one answer's stats (None: the model is ready), plus a word when the CPU is the limit."""
        device = self.model.device if self.model else ""
        note = cpu_note(device, self.worker.cpu_threads()) if stats else ""
        self.window.stats_label.setText(stats_text(self.model_title(), device, stats, note))
        self.window.stats_label.setToolTip(stats_tooltip(stats) + (f"\n{CPU_TOOLTIP}" if note else ""))

    def open_settings(self) -> SettingsDialog | None:
        """The sampler settings dialog (non-blocking); saves what differs from the model's defaults."""
        if self.model is None or self.sampler is None:
            self.page.show_banner("Load a model first: sampler defaults come from the model.")
            return None
        dialog = SettingsDialog(self.sampler, self.model.defaults, self.window, cpu_threads=self.settings.cpu_threads,
                                compiled_path=self.settings.compiled_path)
        dialog.accepted.connect(lambda: self._apply_settings(dialog.accepted_settings, dialog.accepted_cpu_threads,
                                                             dialog.accepted_compiled_path))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # each open left ~26 widgets behind
        dialog.open()
        return dialog

    def _apply_settings(self, settings: SamplerSettings | None, cpu_threads: int | None = None,
                        compiled_path: bool | None = None) -> None:
        if settings is None or self.model is None:
            return
        if compiled_path is not None and compiled_path != self.settings.compiled_path:
            self.settings.compiled_path = compiled_path
            self.worker.set_compiled(compiled_path)
        if cpu_threads is not None and cpu_threads != self.settings.cpu_threads:
            self.settings.cpu_threads = cpu_threads
            self.worker.set_cpu_threads(cpu_threads or None)
        self.sampler = settings
        chosen = settings.as_dict()
        self.settings.sampler = {k: chosen[k] for k in SAMPLER_KEYS if chosen[k] != self.model.defaults.get(k)}
        self._save_settings()

    def change_text_size(self, step: int) -> None:
        """View → Larger (+1) / Smaller (−1) text, or the default (0): the messages and the message box, kept in
        the settings file."""
        current = self.settings.text_size or DEFAULT_TEXT_SIZE
        size = DEFAULT_TEXT_SIZE if step == 0 else min(max(current + step, TEXT_SIZES[0]), TEXT_SIZES[-1])
        self.page.set_text_size(size)
        limit = " (the largest)" if size == TEXT_SIZES[-1] else " (the smallest)" if size == TEXT_SIZES[0] else ""
        back = "" if size == DEFAULT_TEXT_SIZE else f"; Ctrl+0 goes back to {DEFAULT_TEXT_SIZE} pt"
        self.window.statusBar().showMessage(f"Text size {size} pt{limit}{back}", 4000)
        if size != current:
            self.settings.text_size = 0 if size == DEFAULT_TEXT_SIZE else size
            self._save_settings()

    def _save_settings(self) -> None:
        """Write the settings file; when it cannot be written (read-only, disk full) the banner says why."""
        problem = save_settings(self.settings)
        if problem:
            self.page.show_banner(f"{problem} The change applies until Diffusion Desk closes.")

    def export_dialog(self):
        """Ask where to save the open conversation, as Markdown or JSON (Documents first); returns the open dialog."""
        if self.conversation_id is None:
            self.page.show_banner("Open or start a chat first: there is nothing to export yet.")
            return None
        name = safe_file_name(self.store.conversation(self.conversation_id).title)
        dialog = save_dialog(self.window, "Export conversation", name, f"{MARKDOWN_FILTER};;{JSON_FILTER}")
        # Qt swaps the proposed name's ending itself; a name typed without one gets the chosen kind's
        dialog.filterSelected.connect(lambda chosen: dialog.setDefaultSuffix("json" if chosen == JSON_FILTER else "md"))
        dialog.fileSelected.connect(self.export_to)
        dialog.open()
        return dialog

    def export_to(self, path: str) -> None:
        """Write the current conversation atomically in a background thread — JSON when `path` ends in .json, else
        Markdown — with every version of its rewritten answers; the banner then says where it went (or why not)."""
        assert self.conversation_id is not None
        conv = self.store.conversation(self.conversation_id)
        versions = VersionStore(self.store)
        kept = {mid: (current, versions.versions(mid)) for mid, (current, _n) in versions.counts(conv.id).items()}
        write_as = conversation_json if path.lower().endswith(".json") else conversation_markdown
        text = write_as(conv, self.store.messages(self.conversation_id), kept)
        finished = self.export_finished

        def write() -> None:
            try:
                write_atomically(path, text)
            except OSError as exc:
                finished.emit(path, exc.strerror or str(exc))
            else:
                finished.emit(path, "")

        threading.Thread(target=write, name="export", daemon=True).start()

    def _export_finished(self, path: str, problem: str) -> None:
        if problem:
            self.page.show_banner(f"Could not export to {path}: {problem}. Pick another folder and try again.")
        else:
            self.page.show_banner(f"Exported this chat to {path}", kind="info")
            self.window.statusBar().showMessage(f"Exported to {path}", 8000)
