"""The Hugging Face token box on the Models page: always there, so a gated model can be prepared up front.

The token goes to the OS keyring (engine.models.tokens) from the page's thread pool; this widget only shows
where things stand and hands the pasted text over.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

TOKENS_URL = "https://huggingface.co/settings/tokens"
INTRO = (
    "Gated models (Google's DiffusionGemma among them) need a free Hugging Face access token: accept the model's "
    f"licence on its hub page, create a read token at <a href='{TOKENS_URL}'>{TOKENS_URL}</a> and paste it here. "
    "It is kept in your system keyring (for this session only where there is none), never in a file."
)


class TokenBox(QFrame):
    """◆-style names: `tokenBox`, `tokenField`, `tokenSaveButton`, `tokenStatus`. `submitted(token)` on Save."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tokenBox")
        self.setAccessibleName("Hugging Face access token")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.message = QLabel(INTRO)
        self.message.setObjectName("tokenMessage")
        self.message.setWordWrap(True)
        self.message.setOpenExternalLinks(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.message)
        line = QHBoxLayout()
        line.addWidget(QLabel("Hugging Face token"))
        self.field = QLineEdit()
        self.field.setObjectName("tokenField")
        self.field.setAccessibleName("tokenField")
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setPlaceholderText("hf_…  (only needed for gated models)")
        self.field.returnPressed.connect(self._submit)
        line.addWidget(self.field, 1)
        self.save = QPushButton("Save token")
        self.save.setObjectName("tokenSaveButton")
        self.save.setAccessibleName("tokenSaveButton")
        self.save.clicked.connect(self._submit)
        line.addWidget(self.save)
        layout.addLayout(line)
        self.status = QLabel("")
        self.status.setObjectName("tokenStatus")
        self.status.setAccessibleName("tokenStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)  # "…paste it again after restarting the app." was cut off in a narrow window
        layout.addWidget(self.status)
        self.refused_repo: str | None = None

    def _submit(self) -> None:
        token = self.field.text().strip()
        self.field.clear()
        if token:
            self.submitted.emit(token)
        else:
            self.status.setText("Paste a token first.")

    def show_refusal(self, repo_id: str, reason: str) -> None:
        """A download was refused: say why, link the licence page, and offer to save the token and retry."""
        self.refused_repo = repo_id
        url = f"https://huggingface.co/{repo_id}"
        self.message.setText(f"{html.escape(reason)}<br>Licence page: <a href='{url}'>{url}</a>")
        self.save.setText("Save token and retry")
        self.field.setFocus()

    def show_saved(self, note: str) -> None:
        """The token is stored: back to the introduction, with where it is kept."""
        self.refused_repo = None
        self.message.setText(INTRO)
        self.save.setText("Save token")
        self.status.setText(note)

    def show_status(self, source: str | None, note: str = "") -> None:
        """Where the token in use comes from (never the token itself)."""
        where = {"keyring": "A token is saved in the system keyring.", "env": "Using the HF_TOKEN variable.",
                 "session": "A token is kept for this session."}.get(source or "", "No token saved yet.")
        self.status.setText(f"{where} {note}".strip())
