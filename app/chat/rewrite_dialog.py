"""The "Rewrite selection" dialog (rewriteDialog): the selected words (plain text) and an optional instruction."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from ..common.widgets import named

INSTRUCTIONS = ["", "shorter", "longer", "more formal", "simpler", "friendlier"]
SHOWN_CHARS = 400


class RewriteDialog(QDialog):
    """Non-blocking (`open()`); `instruction()` is the chosen or typed instruction ("" for none)."""

    def __init__(self, selected: str, parent: QWidget | None = None, *, settings_note: str = "") -> None:
        super().__init__(parent)
        named(self, "rewriteDialog")
        self.setWindowTitle("Rewrite selection")
        self.setMinimumWidth(440)
        intro = QLabel("The model re-denoises only these characters; the rest of the answer stays as it is.", self)
        intro.setWordWrap(True)
        shown = selected if len(selected) <= SHOWN_CHARS else selected[:SHOWN_CHARS] + "…"
        self.selection = named(QLabel(shown, self), "rewriteSelectedText")
        self.selection.setTextFormat(Qt.TextFormat.PlainText)  # model output is data, never markup
        self.selection.setWordWrap(True)
        self.selection.setStyleSheet("background:#141b2d;padding:6px;border:1px solid #334155")
        self.instruction_box = named(QComboBox(self), "rewriteInstruction",
                                     tip="Optional: how to change it (pick one or type your own)")
        self.instruction_box.setEditable(True)
        self.instruction_box.addItems(INSTRUCTIONS)
        self.instruction_box.lineEdit().setPlaceholderText("Instruction (optional): shorter, more formal, …")
        self.instruction_box.setCurrentIndex(0)
        self.settings_note = named(QLabel(settings_note, self), "rewriteSettingsNote")
        self.settings_note.setWordWrap(True)
        self.settings_note.setStyleSheet("color:#94a3b8")
        self.settings_note.setVisible(bool(settings_note))
        buttons = QDialogButtonBox(self)
        self.rewrite_button = buttons.addButton("Rewrite", QDialogButtonBox.ButtonRole.AcceptRole)
        named(self.rewrite_button, "rewriteButton")
        self.rewrite_button.setDefault(True)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        named(cancel, "rewriteCancelButton")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.selection)
        layout.addWidget(QLabel("Instruction", self))
        layout.addWidget(self.instruction_box)
        layout.addWidget(self.settings_note)
        layout.addWidget(buttons)

    def instruction(self) -> str:
        """The instruction, trimmed ("" for none)."""
        return " ".join(self.instruction_box.currentText().split())
