"""`SettingsDialog` (◆ settingsDialog): the sampler settings, validated by `SamplerSettings` itself, and the CPU
thread count. Labels and messages use plain words; the engine's field names and the theory live in tooltips."""

from __future__ import annotations

import html
import math
import os
import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
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

from ..store.app_settings import LABELS, SAMPLER_KEYS

TOOLTIP_WIDTH_PX = 360
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
    """An engine message in the dialog's words: field names (`t_max`) become labels (“Temperature at …”) and
    interval notation (`in (0.0, 1000.0]`) becomes “above 0 and at most 1000”."""
    for key in sorted(LABELS, key=len, reverse=True):
        message = re.sub(rf"\b{re.escape(key)}\b", f"“{LABELS[key]}”", message)
    message = re.sub(r"“[^”]+”=", "", message).replace("(got ", "(you entered ")
    message = re.sub(r"in ([(\[])(-?[\d.e+]+), (-?[\d.e+]+)\]", _interval_words, message)
    return message[:1].upper() + message[1:]


def _interval_words(match: re.Match) -> str:
    low, high = (f"{float(x):g}" for x in match.group(2, 3))
    return f"above {low} and at most {high}" if match.group(1) == "(" else f"from {low} to {high}"


def allowed_range(key: str) -> str:
    """What `key` accepts, as the engine states it (“a whole number from 1 to 1024”), asked with a value it refuses."""
    probe = -1 if key in INTEGER_KEYS else math.nan
    try:
        SamplerSettings.from_dict({"t_min": 0.0, "t_max": 100.0, key: probe})
    except ValueError as exc:
        found = re.search(r"must be (.*?) \(got", str(exc))
        if found:
            return found.group(1)
    return "a whole number" if key in INTEGER_KEYS else "a number"


def _number(key: str, text: str) -> int | float:
    """A field's text as a number: a decimal comma (0,5) and thousands commas (1,024) read as people write them."""
    if key in INTEGER_KEYS:
        if re.fullmatch(r"\d{1,3}(,\d{3})+", text):
            text = text.replace(",", "")
        return int(text)
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    return float(text)


def parse_settings(texts: dict[str, str]) -> SamplerSettings:
    """Field texts → `SamplerSettings`; `ValueError` naming the field and its allowed range otherwise."""
    values: dict[str, Any] = {}
    for key, text in texts.items():
        text = text.strip()
        if not text:
            raise ValueError(f"{key} is empty: enter {allowed_range(key)}")
        try:
            values[key] = _number(key, text)
        except ValueError:
            raise ValueError(f"{key} must be {allowed_range(key)} (got {text!r})") from None
        if isinstance(values[key], float) and not math.isfinite(values[key]):
            raise ValueError(f"{key} must be {allowed_range(key)} (got {text!r})")
    return SamplerSettings(**values)


def failing_key(message: str) -> str | None:
    """The first field an engine message names (the field to put the cursor in)."""
    found = [(message.find(key), key) for key in SAMPLER_KEYS if re.search(rf"\b{key}\b", message)]
    return min(found)[1] if found else None


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
            tip = rich_tooltip(HELP[key], f"Its name in the server's “diffusion” options: {key}")
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
        self.threads.setToolTip(rich_tooltip(THREADS_HELP))
        self.threads.lineEdit().setToolTip(self.threads.toolTip())
        threads_label = QLabel("Processor threads (CPU)", self)
        threads_label.setToolTip(self.threads.toolTip())
        form.addRow(threads_label, self.threads)
        self.compiled = QCheckBox("Use the GPU-optimized path", self)
        self.compiled.setObjectName("setting_compiled_path")
        self.compiled.setAccessibleName("setting_compiled_path")
        self.compiled.setChecked(compiled_path)
        self.compiled.setToolTip(rich_tooltip(COMPILED_HELP, "Expert: torch.compile with CUDA graphs"))
        form.addRow("", self.compiled)
        self.error = QLabel("", self)
        self.error.setObjectName("settingsError")
        self.error.setAccessibleName("settingsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #f87171;")
        self.reset_button = QPushButton("Reset to the model's defaults", self)
        self.reset_button.setObjectName("resetDefaultsButton")
        self.reset_button.setAccessibleName("resetDefaultsButton")
        self.reset_button.setToolTip("Fill every field with the model's own defaults (its generation_config). Nothing "
                                     "changes until OK; Cancel keeps your settings as they were.")
        self.reset_button.clicked.connect(self.reset_to_defaults)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("settingsOk")
        self.ok_button.setAccessibleName("settingsOk")
        intro = QLabel("Move to a setting (Tab) or hover it for what it does. Each answer records the settings and "
                       "seed it used.", self)
        intro.setWordWrap(True)
        self.help = QLabel("", self)  # the focused setting's help: keyboard users never see a tooltip
        self.help.setObjectName("settingHelp")
        self.help.setAccessibleName("settingHelp")
        self.help.setWordWrap(True)
        self.help.setTextFormat(Qt.TextFormat.PlainText)
        self.help.setStyleSheet("color: #94a3b8;")
        self._help_for: dict[QWidget, str] = {edit: HELP[key] for key, edit in self.fields.items()}
        self._help_for.update({self.threads: THREADS_HELP, self.threads.lineEdit(): THREADS_HELP,
                               self.compiled: COMPILED_HELP})
        QApplication.instance().focusChanged.connect(self._show_help)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.help)
        layout.addWidget(self.error)
        layout.addWidget(self.reset_button)
        layout.addWidget(buttons)

    def reset_to_defaults(self) -> None:
        """Put the model's generation_config defaults back in every field."""
        for key, edit in self.fields.items():
            if key in self._defaults:
                edit.setText(str(self._defaults[key]))
        self.help.setText("The model's defaults are filled in: OK keeps them, Cancel keeps your settings as they were.")

    def _clear_error(self) -> None:
        self.error.setText("")

    def _show_help(self, _old: QWidget | None, new: QWidget | None) -> None:
        if new is not None and new in self._help_for:
            self.help.setText(self._help_for[new])

    def accept(self) -> None:
        """Close only when `SamplerSettings` accepts every value; otherwise show its message in plain words."""
        try:
            self.accepted_settings = parse_settings({k: e.text() for k, e in self.fields.items()})
        except (ValueError, TypeError) as exc:
            self.error.setText(plain_error(str(exc)))
            key = failing_key(str(exc))
            if key is not None:  # the cursor goes where the fix is, the bad text selected to type over
                self.fields[key].setFocus(Qt.FocusReason.OtherFocusReason)
                self.fields[key].selectAll()
            return
        self.accepted_cpu_threads = self.threads.value()
        self.accepted_compiled_path = self.compiled.isChecked()
        super().accept()
