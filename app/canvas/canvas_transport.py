"""The canvas panel's controls: the replay scrubber (◆ canvasScrubber) with its label, the transport buttons
(previous canvas, step back, Play/Pause, step forward, next canvas), the speed in steps per second, Live, the
legend and "Save animation…". Widgets only: `CanvasPanel` decides what they do."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..common.widgets import named
from .canvas_story import LEGEND

SPEEDS = (2, 4, 8, 16, 32, 60)  # steps per second
DEFAULT_SPEED = 8  # a 16-step canvas (plus its random start) plays in about two seconds




def legend_html() -> str:
    """Every colour and symbol the canvas uses, in plain words."""
    items = []
    for fill, text, sample, words in LEGEND:
        style = f"color:{text};background-color:{fill}" if fill else f"color:{text}"
        swatch = f'<span style="{style};font-weight:bold">&nbsp;{html.escape(sample)}&nbsp;</span>'
        items.append(f"{swatch}&nbsp;{html.escape(words)}")
    return " &nbsp; ".join(items)


class Transport(QWidget):
    """The rows under the canvas."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scrubber = named(QSlider(Qt.Orientation.Horizontal, self), "canvasScrubber",
                               tip="Replay every step of every canvas of the selected answer")
        self.scrubber.setEnabled(False)
        self.position_label = named(QLabel("", self), "scrubberLabel", tip="The step shown, as in the canvas header")
        self.position_label.setMinimumWidth(150)
        self.previous_canvas = self._tool("«", "previousCanvasButton", "Previous canvas (Up)")
        self.step_back = self._tool("‹", "stepBackButton", "One step back (Left)")
        self.play_button = named(
            QPushButton("▶ Play", self), "playButton",
            tip="Play the steps at the chosen speed; new answers then play in slow motion (Space)",
        )
        self.play_button.setCheckable(True)
        self.step_forward = self._tool("›", "stepForwardButton", "One step forward (Right)")
        self.next_canvas = self._tool("»", "nextCanvasButton", "Next canvas (Down)")
        self.speed = named(QComboBox(self), "canvasSpeed", tip="Replay speed in denoising steps per second")
        for value in SPEEDS:
            self.speed.addItem(f"{value} steps/s", value)
        self.speed.setCurrentIndex(SPEEDS.index(DEFAULT_SPEED))
        self.live_button = named(QPushButton("Live", self), "liveButton",
                                  tip="Follow the answer being generated at full speed")
        self.live_button.setCheckable(True)
        self.save_button = named(QPushButton("Save animation…", self), "saveAnimationButton",
                                  tip="Save every step of this answer as an animated GIF or PNG to share")
        self.save_button.setEnabled(False)
        self.status = named(QLabel("", self), "canvasStatus", tip="")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # quotes file paths: never markup
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setVisible(False)
        self.legend = named(QLabel(legend_html(), self), "canvasLegend",
                            tip="What the canvas's colours and symbols mean")
        self.legend.setStyleSheet("color: #94a3b8; padding: 0 8px;")
        self.legend.setWordWrap(True)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        scrub_row = QHBoxLayout()
        scrub_row.setContentsMargins(8, 0, 8, 0)
        scrub_row.addWidget(self.scrubber, 1)
        scrub_row.addWidget(self.position_label)
        scrub_row.addWidget(self.save_button)  # here, not with the buttons: the panel stays narrow enough to give way
        buttons = QHBoxLayout()
        buttons.setContentsMargins(8, 0, 8, 0)
        for widget in (self.previous_canvas, self.step_back, self.play_button, self.step_forward, self.next_canvas,
                       self.speed, self.live_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        status_row = QHBoxLayout()
        status_row.setContentsMargins(8, 0, 8, 4)
        status_row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.legend)
        layout.addLayout(scrub_row)
        layout.addLayout(buttons)
        layout.addLayout(status_row)

    def _tool(self, text: str, name: str, tip: str) -> QToolButton:
        button = named(QToolButton(self), name, tip=tip)
        button.setText(text)
        return button

    @property
    def steps_per_second(self) -> int:
        """The chosen replay speed."""
        return int(self.speed.currentData())

    def show_status(self, text: str) -> None:
        """A one-line confirmation or problem under the buttons ("" hides it)."""
        self.status.setText(text)
        self.status.setVisible(bool(text))
