"""The canvas view with its replay scrubber (◆ canvasScrubber): every step of every canvas of one answer."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget

from engine.events import Frame

from .canvas_view import CanvasView


class CanvasPanel(QWidget):
    """Follows the live answer, or replays the selected answer's frames when the user scrubs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasPanel")
        self.view = CanvasView(self)
        self.scrubber = QSlider(Qt.Orientation.Horizontal, self)
        self.scrubber.setObjectName("canvasScrubber")
        self.scrubber.setAccessibleName("canvasScrubber")
        self.scrubber.setToolTip("Replay every denoising step of every canvas of the selected answer")
        self.scrubber.setEnabled(False)
        self.position_label = QLabel("", self)
        self.position_label.setObjectName("scrubberLabel")
        self.position_label.setMinimumWidth(150)
        self.live_button = QPushButton("Live", self)
        self.live_button.setObjectName("liveButton")
        self.live_button.setAccessibleName("liveButton")
        self.live_button.setToolTip("Follow the answer being generated")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.clicked.connect(self.follow_live)
        self.scrubber.valueChanged.connect(self._scrubbed)

        self.legend = QLabel(
            '<span style="color:#38bdf8">■</span> accepted &nbsp; <span style="color:#64748b">■</span> still noisy'
            " &nbsp;·&nbsp; brighter = more confident &nbsp;·&nbsp; ∎ end of answer"
            " &nbsp;·&nbsp; hover a cell for details",
            self,
        )
        self.legend.setObjectName("canvasLegend")
        self.legend.setStyleSheet("color: #64748b; padding: 0 10px;")
        self.legend.setWordWrap(True)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.setContentsMargins(8, 0, 8, 4)
        row.addWidget(self.scrubber, 1)
        row.addWidget(self.position_label)
        row.addWidget(self.live_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.legend)
        layout.addLayout(row)
        self._frames: list[Frame] = []
        self._following = True

    @property
    def frames(self) -> list[Frame]:
        """The frames the scrubber can replay, in order."""
        return list(self._frames)

    def begin_live(self) -> None:
        """A new answer starts: forget the old replay and follow the new frames."""
        self._frames = []
        self._following = True
        self.view.tokens_per_forward = None
        self.live_button.setChecked(True)
        self._sync_range()
        self.view.show_frame(None)
        self.view.set_note("Waiting for the first denoising step…")

    def live_frame(self, frame: Frame) -> None:
        """A coalesced live frame: shown unless the user is scrubbing."""
        if self._following:
            self.view.show_frame(frame)
            self.position_label.setText(f"live · canvas {frame.canvas_index + 1} step {frame.step}")

    def add_canvas_frames(self, frames: list[Frame]) -> None:
        """Every frame of a finished canvas joins the replay."""
        self._frames.extend(frames)
        self._sync_range()

    def set_replay(self, canvases: list[list[Frame]], note: str = "", tokens_per_forward: float | None = None) -> None:
        """Replay a stored answer, showing its last frame."""
        self.view.tokens_per_forward = tokens_per_forward
        self._frames = [f for canvas in canvases for f in canvas]
        self._following = False
        self.live_button.setChecked(False)
        self._sync_range()
        if self._frames:
            self._show(len(self._frames) - 1)
        else:
            self.view.show_frame(None)
            self.view.set_note(note or "No frames were stored for this answer.")
            self.position_label.setText("")

    def follow_live(self) -> None:
        """Show the newest frame again and keep following the answer being generated."""
        self._following = True
        self.live_button.setChecked(True)
        if self._frames:
            self._sync_range()
            self._show(len(self._frames) - 1)

    def _sync_range(self) -> None:
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, max(0, len(self._frames) - 1))
        if self._following:
            self.scrubber.setValue(self.scrubber.maximum())
        self.scrubber.blockSignals(False)
        self.scrubber.setEnabled(bool(self._frames))

    def _scrubbed(self, index: int) -> None:
        self._following = False
        self.live_button.setChecked(False)
        self._show(index)

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self._frames):
            return
        frame = self._frames[index]
        self.scrubber.blockSignals(True)
        self.scrubber.setValue(index)
        self.scrubber.blockSignals(False)
        self.view.show_frame(frame)
        self.position_label.setText(
            f"step {index + 1}/{len(self._frames)} · canvas {frame.canvas_index + 1} step {frame.step}"
        )
