"""`SettingsDialog` (◆ settingsDialog): the sampler settings, validated by `SamplerSettings` itself, and the CPU
thread count. Labels and messages use plain words; the engine's field names and the theory live in tooltips."""

from __future__ import annotations

import html
import os
import re
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine import SamplerSettings

from ..store.app_settings import SAMPLER_KEYS

TOOLTIP_WIDTH_PX = 360
LABELS = {
    "max_new_tokens": "Longest answer (tokens)",
    "max_denoising_steps": "Most refining steps per block",
    "entropy_bound": "Boldness per step",
    "t_min": "Temperature at the end",
    "t_max": "Temperature at the start",
    "stability_threshold": "Stop after unchanged steps",
    "confidence_threshold": "Stop when this sure",
}
HELP = {
    "max_new_tokens": "The longest answer, in tokens (word pieces). The model writes in blocks of up to 256 "
    "tokens, so this also caps how many blocks one answer may take.",
    "max_denoising_steps": "How many times, at most, the model refines one block from noise to text. More steps: "
    "slower, usually cleaner text. A block often finishes earlier once it stops changing.",
    "entropy_bound": "How much uncertainty the model accepts in one step. Higher: more words settle per step, "
    "so answers are faster but riskier. Expert: the sampler accepts the lowest-entropy tokens whose summed entropy "
    "(minus the largest) stays under this bound.",
    "t_min": "Randomness of the last refining step (0: always the likeliest word). The temperature falls "
    "evenly from the start value to this one.",
    "t_max": "Randomness of the first refining step. Must be higher than the temperature at the end.",
    "stability_threshold": "A block may finish once its text has stayed the same for this many steps.",
    "confidence_threshold": "…and once the model is at least this sure of every word (lower = stricter). Expert: "
    "every position's entropy must be below this value.",
}
THREADS_HELP = ("How many processor threads answer on the CPU. Automatic uses one fewer than the cores this "
                "computer has, so the window and other programs keep a core; more threads than free cores make "
                "answers much slower when another program is busy.")
COMPILED_HELP = ("On an NVIDIA GPU, answer through a compiled, CUDA-graph version of the model: several times faster "
                 "per step. The first load on a GPU spends a few minutes optimizing (the result is saved and reused "
                 "on later launches). Turn it off if answers look wrong or the optimizing step fails; the app then "
                 "answers on the ordinary (eager) path. No effect on the CPU.")
INTEGER_KEYS = {"max_new_tokens", "max_denoising_steps", "stability_threshold"}


def rich_tooltip(text: str, expert: str = "") -> str:
    """A tooltip that wraps at a readable width (plain text tooltips are one line, however long)."""
    body = html.escape(text)
    if expert:
        body += f"<br><span style='color:gray'>{html.escape(expert)}</span>"
    return f"<table width='{TOOLTIP_WIDTH_PX}'><tr><td>{body}</td></tr></table>"


def plain_error(message: str) -> str:
    """An engine message with its field names (`t_max`) replaced by the dialog's labels (“Temperature at …”)."""
    for key in sorted(LABELS, key=len, reverse=True):
        message = re.sub(rf"\b{re.escape(key)}\b", f"“{LABELS[key]}”", message)
    message = re.sub(r"“[^”]+”=", "", message).replace("(got ", "(you entered ")
    return message[:1].upper() + message[1:]


def parse_settings(texts: dict[str, str]) -> SamplerSettings:
    """Field texts → `SamplerSettings`; `ValueError` naming the field and its allowed range otherwise."""
    values: dict[str, Any] = {}
    for key, text in texts.items():
        text = text.strip()
        try:
            values[key] = int(text) if key in INTEGER_KEYS else float(text)
        except ValueError:
            kind = "a whole number" if key in INTEGER_KEYS else "a number"
            raise ValueError(f"{key} must be {kind} (got {text!r})") from None
    return SamplerSettings(**values)


class SettingsDialog(QDialog):
    """Edits sampler settings; `accepted_settings` and `accepted_cpu_threads` hold the result after OK."""

    def __init__(self, current: SamplerSettings, defaults: dict[str, Any], parent: QWidget | None = None,
                 *, cpu_threads: int = 0, compiled_path: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setAccessibleName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setMinimumWidth(460)
        self._defaults = defaults
        self.accepted_settings: SamplerSettings | None = None
        self.accepted_cpu_threads = cpu_threads
        self.accepted_compiled_path = compiled_path
        self.fields: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for key in SAMPLER_KEYS:
            tip = rich_tooltip(HELP[key], f"Engine setting: {key}")
            edit = QLineEdit(str(getattr(current, key)), self)
            edit.setObjectName(f"setting_{key}")
            edit.setAccessibleName(f"setting_{key}")
            edit.setToolTip(tip)
            edit.textChanged.connect(self._clear_error)
            label = QLabel(LABELS[key], self)
            label.setToolTip(tip)
            form.addRow(label, edit)
            self.fields[key] = edit
        self.threads = QSpinBox(self)
        self.threads.setObjectName("setting_cpu_threads")
        self.threads.setAccessibleName("setting_cpu_threads")
        self.threads.setRange(0, os.cpu_count() or 1)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(cpu_threads)
        self.threads.setToolTip(rich_tooltip(THREADS_HELP, "torch.set_num_threads in the engine thread"))
        self.threads.lineEdit().setToolTip(self.threads.toolTip())
        threads_label = QLabel("Processor threads (CPU)", self)
        threads_label.setToolTip(self.threads.toolTip())
        form.addRow(threads_label, self.threads)
        self.compiled = QCheckBox("Use the GPU-optimized path", self)
        self.compiled.setObjectName("setting_compiled_path")
        self.compiled.setAccessibleName("setting_compiled_path")
        self.compiled.setChecked(compiled_path)
        self.compiled.setToolTip(rich_tooltip(COMPILED_HELP, "EngineModel.enable_compiled: torch.compile, CUDA graphs"))
        form.addRow("", self.compiled)
        self.error = QLabel("", self)
        self.error.setObjectName("settingsError")
        self.error.setAccessibleName("settingsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #f87171;")
        self.reset_button = QPushButton("Reset to the model's defaults", self)
        self.reset_button.setObjectName("resetDefaultsButton")
        self.reset_button.setAccessibleName("resetDefaultsButton")
        self.reset_button.clicked.connect(self.reset_to_defaults)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("settingsOk")
        self.ok_button.setAccessibleName("settingsOk")
        intro = QLabel("Hover a setting for what it does. Each answer records the settings and seed it used.", self)
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.reset_button)
        layout.addWidget(buttons)

    def reset_to_defaults(self) -> None:
        """Put the model's generation_config defaults back in every field."""
        for key, edit in self.fields.items():
            if key in self._defaults:
                edit.setText(str(self._defaults[key]))

    def _clear_error(self) -> None:
        self.error.setText("")

    def accept(self) -> None:
        """Close only when `SamplerSettings` accepts every value; otherwise show its message in plain words."""
        try:
            self.accepted_settings = parse_settings({k: e.text() for k, e in self.fields.items()})
        except (ValueError, TypeError) as exc:
            self.error.setText(plain_error(str(exc)))
            return
        self.accepted_cpu_threads = self.threads.value()
        self.accepted_compiled_path = self.compiled.isChecked()
        super().accept()
