"""The model and sampler-settings half of `ChatController`: loading models (and the GPU page's choice), the status
line, the settings dialog, Markdown export. A mixin, so the chat flow in controller.py stays readable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from engine import SamplerSettings

from .app_settings import SAMPLER_KEYS, save_settings
from .export import conversation_markdown, safe_file_name, stats_text, write_atomically
from .model_sources import model_label
from .settings_dialog import SettingsDialog

if TYPE_CHECKING:
    from .worker import ModelInfo


class ModelSettingsMixin:
    """Needs the controller's `window`, `page`, `store`, `worker`, `settings`, `model`, `sampler`, `live`,
    `conversation_id`, `device`, `profile`, `closed`, `model_ready` and `_update_buttons`."""

    def load_model(self, source: str) -> None:
        """Load `source` in the worker thread on the chosen device."""
        self.worker.load(source, self.device, self.profile)

    def use_gpu(self, index: int, profile: str) -> None:
        """The GPU page's choice: later loads go to that device with that profile; the current model reloads."""
        self.device = "cpu" if index < 0 else f"cuda:{index}"
        self.profile = profile or None
        if self.model is not None and self.model.source and self.live is None:
            self.load_model(self.model.source)

    def _model_loading(self, text: str) -> None:
        self.model = None
        self.window.show_loading(text)
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
        self._show_stats(None)
        self._update_buttons()
        self.model_ready.emit(info)

    def model_title(self) -> str:
        """The loaded model's name as the window shows it (random weights said plainly)."""
        if self.model is None:
            return "no model"
        label = model_label(self.model.source) if self.model.source else self.model.name
        return label + (" · RANDOM WEIGHTS" if self.model.is_random and "random" not in label.lower() else "")

    def _show_stats(self, stats: dict | None) -> None:
        device = self.model.device if self.model else ""
        self.window.stats_label.setText(stats_text(self.model_title(), device, stats))

    def open_settings(self) -> SettingsDialog | None:
        """The sampler settings dialog (non-blocking); saves what differs from the model's defaults."""
        if self.model is None or self.sampler is None:
            self.page.show_banner("Load a model first: sampler defaults come from the model.")
            return None
        dialog = SettingsDialog(self.sampler, self.model.defaults, self.window)
        dialog.accepted.connect(lambda: self._apply_settings(dialog.accepted_settings))
        dialog.open()
        return dialog

    def _apply_settings(self, settings: SamplerSettings | None) -> None:
        if settings is None or self.model is None:
            return
        self.sampler = settings
        chosen = settings.as_dict()
        self.settings.sampler = {k: chosen[k] for k in SAMPLER_KEYS if chosen[k] != self.model.defaults.get(k)}
        self._save_settings()

    def _save_settings(self) -> None:
        """Write the settings file; when it cannot be written (read-only, disk full) the banner says why."""
        problem = save_settings(self.settings)
        if problem:
            self.page.show_banner(f"{problem} The change applies until Diffusion Desk closes.")

    def export_dialog(self) -> None:
        """Ask for a file name and export the open conversation as Markdown."""
        if self.conversation_id is None:
            return
        name = safe_file_name(self.store.conversation(self.conversation_id).title)
        path, _ = QFileDialog.getSaveFileName(self.window, "Export conversation", name, "Markdown (*.md)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        """Write the current conversation as Markdown, atomically."""
        assert self.conversation_id is not None
        conv = self.store.conversation(self.conversation_id)
        write_atomically(path, conversation_markdown(conv, self.store.messages(self.conversation_id)))
