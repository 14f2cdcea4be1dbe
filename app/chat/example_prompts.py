"""Example prompts shown in an empty chat: one click sends one. For the demo model they are prompts it answers
well (tests/engine/test_demo_model.py checks each against the checkpoint); for other models, everyday drafting
tasks."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ..common.widgets import named
from ..models.model_sources import TINY_MODEL, demo_model_available, demo_model_dir

# Each is one of the demo model's evaluated skills (resources/demo-model/README.md): phrase reversal, the help desk.
DEMO_EXAMPLES = (
    "Reverse: apple banana cherry",
    "How do I download DiffusionGemma?",
    "Which load profile for an RTX 5090?",
    "What can you do?",
)
MODEL_EXAMPLES = (
    "Explain block diffusion in three sentences.",
    "Draft a short, friendly reply declining a meeting.",
    "Write a Python function that checks a SHA-256.",
)


@lru_cache(maxsize=16)  # asked on every button update: the path check touches the disk once per source
def examples_for(source: str) -> tuple[str, ...]:
    """The example prompts for a loaded model source (none for the random tiny model: it cannot answer)."""
    if not source or source == TINY_MODEL:
        return ()
    if demo_model_available() and not source.startswith("remote:"):
        try:
            if Path(source).resolve() == demo_model_dir().resolve():
                return DEMO_EXAMPLES
        except OSError:
            pass
    return MODEL_EXAMPLES


class ExamplePrompts(QWidget):
    """A short stack of buttons under an empty chat (one per line, so a narrow chat column never widens the window);
    `chosen(text)` when one is clicked."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("examplePrompts")
        self._row = QVBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(4)
        label = QLabel("Try one of these:", self)
        label.setObjectName("examplePromptsLabel")
        self._row.addWidget(label)
        self.buttons: list[QPushButton] = []
        self._prompts: tuple[str, ...] = ()
        self.setVisible(False)

    def set_prompts(self, prompts: tuple[str, ...]) -> None:
        """Show these prompts as buttons (the same ones are kept as they are)."""
        if prompts == self._prompts:
            return
        for button in self.buttons:
            self._row.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        self._prompts = tuple(prompts)
        for i, text in enumerate(self._prompts):
            button = named(QPushButton(text.replace("&", "&&"), self), f"examplePrompt{i}", tip=f"Send “{text}”",
                           description=f"Example prompt: {text}")
            button.setStyleSheet("text-align: left; padding: 4px 10px")
            # long text is clipped, not widening the window
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, t=text: self.chosen.emit(t))
            self._row.insertWidget(1 + i, button)
            self.buttons.append(button)

    def prompts(self) -> tuple[str, ...]:
        """The prompts on show."""
        return self._prompts
