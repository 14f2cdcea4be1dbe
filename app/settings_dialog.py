"""`SettingsDialog` (◆ settingsDialog): the sampler settings, validated by `SamplerSettings` itself."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import SamplerSettings

from .app_settings import SAMPLER_KEYS

HELP = {
    "max_new_tokens": "Longest answer, in tokens. Each canvas holds up to canvas_length tokens, so this also caps "
    "how many canvases one answer may take.",
    "max_denoising_steps": "Most denoising steps per canvas. More steps: slower, usually cleaner text. A canvas "
    "often stops earlier once it is stable and confident.",
    "entropy_bound": "How much uncertainty the sampler accepts per step: it accepts the lowest-entropy tokens whose "
    "summed entropy (minus the largest) stays under this bound. Higher = more tokens per step, faster, riskier.",
    "t_min": "Sampling temperature at the last step (the schedule falls linearly from t_max to t_min).",
    "t_max": "Sampling temperature at the first step. Must be greater than t_min.",
    "stability_threshold": "A canvas may stop once its draft has stayed unchanged for this many steps.",
    "confidence_threshold": "…and once every position's entropy is below this value.",
}
INTEGER_KEYS = {"max_new_tokens", "max_denoising_steps", "stability_threshold"}


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
    """Edits sampler settings; `accepted_settings` holds the validated result after OK."""

    def __init__(self, current: SamplerSettings, defaults: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setAccessibleName("settingsDialog")
        self.setWindowTitle("Sampler settings")
        self.setMinimumWidth(460)
        self._defaults = defaults
        self.accepted_settings: SamplerSettings | None = None
        self.fields: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for key in SAMPLER_KEYS:
            edit = QLineEdit(str(getattr(current, key)), self)
            edit.setObjectName(f"setting_{key}")
            edit.setAccessibleName(f"setting_{key}")
            edit.setToolTip(HELP[key])
            edit.textChanged.connect(self._clear_error)
            label = QLabel(key.replace("_", " "), self)
            label.setToolTip(HELP[key])
            form.addRow(label, edit)
            self.fields[key] = edit
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
        """Close only when `SamplerSettings` accepts every value; otherwise show its message."""
        try:
            self.accepted_settings = parse_settings({k: e.text() for k, e in self.fields.items()})
        except (ValueError, TypeError) as exc:
            self.error.setText(str(exc))
            return
        super().accept()
