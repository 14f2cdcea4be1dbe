"""One Compare column: what the variant is (seed, preset, system prompt, edited prompt), a small live canvas with a
replay of how it formed, its answer (plain text: model output is data) and "Continue with this one"."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.events import Frame

from ..canvas.canvas_view import CanvasView
from ..canvas.frame_codec import steps_with_start
from ..common.widgets import named
from ..store.experiments import VariantSpec
from .presets import PRESETS

LETTERS = "ABCD"
REPLAY_INTERVAL_MS = 60
MAX_SEED = 2**31 - 1


class StatusLine(QLabel):
    """A one-line plain-text label that neither wraps nor widens its column: text too long for it ends in "…", and
    the whole text is its tooltip — so every column's rows stay level whatever its status says."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        """Show `text` (elided to the width) and keep all of it as the tooltip."""
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        rect = self.contentsRect()
        elided = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter = QPainter(self)
        self.style().drawItemText(painter, rect, int(self.alignment()), self.palette(), self.isEnabled(), elided,
                                  self.foregroundRole())


class VariantColumn(QFrame):
    """Widgets of one variant; the Compare controller fills and reads them."""

    continue_requested = Signal(int)  # column index

    def __init__(self, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        letter = LETTERS[index]
        named(self, f"variantColumn{letter}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"<b>{letter}</b>", self)
        self.seed = named(QSpinBox(self), f"variantSeed{letter}", tip="The random seed of this variant")
        self.seed.setRange(0, MAX_SEED)
        self.seed.setValue(index + 1)
        self.preset = named(QComboBox(self), f"variantPreset{letter}", tip="Sampler settings of this variant")
        for key, (label, _change) in PRESETS.items():
            self.preset.addItem(label, key)
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(8)
        self.system_prompt = named(QLineEdit(self), f"variantSystem{letter}", tip="System prompt of this variant")
        self.system_prompt.setPlaceholderText("System prompt (optional)")
        self.prompt = named(QLineEdit(self), f"variantPrompt{letter}",
                            tip="Ask this column something slightly different (empty: the prompt above)")
        self.prompt.setPlaceholderText("Same prompt (or edit it here)")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.title)
        seed_row.addWidget(QLabel("seed", self))
        seed_row.addWidget(self.seed, 1)
        form.addRow(seed_row)
        form.addRow("Preset", self.preset)
        form.addRow("System", self.system_prompt)
        form.addRow("Prompt", self.prompt)

        self.canvas = CanvasView(self)
        named(self.canvas, f"variantCanvas{letter}")
        self.canvas.setMinimumSize(160, 150)
        self.canvas.set_note("Run all to watch this variant form")
        self.replay = named(QSlider(Qt.Orientation.Horizontal, self), f"variantReplay{letter}",
                            tip="Replay how this variant formed, step by step")
        self.replay.setEnabled(False)
        self.play_button = named(QPushButton("▶", self), f"variantPlay{letter}", tip="Replay from the random start")
        self.play_button.setFixedWidth(40)
        self.play_button.setStyleSheet("padding: 2px")  # the theme pads buttons for words: room for the glyph
        self.play_button.setEnabled(False)
        replay_row = QHBoxLayout()
        replay_row.addWidget(self.play_button)
        replay_row.addWidget(self.replay, 1)
        self.status = named(StatusLine(self), f"variantStatus{letter}")
        self.answer = named(QPlainTextEdit(self), f"variantAnswer{letter}", tip="The answer of this variant")
        self.answer.setReadOnly(True)  # plain text: the answer is shown exactly, never as markup
        self.answer.setMinimumHeight(56)
        self.answer.setMaximumHeight(110)  # the canvas gets the height: its cells stay readable
        self.thought_button = named(QPushButton("Show thought", self), f"variantThought{letter}",
                                    tip="The model's thought before this answer (a variant with thinking on)")
        self.thought_button.setCheckable(True)
        self.thought_button.setVisible(False)
        keep_room = self.thought_button.sizePolicy()
        keep_room.setRetainSizeWhenHidden(True)  # a column with a thought lays out like the others
        self.thought_button.setSizePolicy(keep_room)
        self.thought_button.toggled.connect(self._show_thought)
        self._text, self._thought = "", ""
        self.continue_button = named(QPushButton("Continue with this one", self), f"variantContinue{letter}",
                                     tip="Put this answer into the chat and go on from it")
        self.continue_button.setEnabled(False)
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self.index))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.canvas, 5)
        layout.addLayout(replay_row)
        layout.addWidget(self.status)
        layout.addWidget(self.answer, 1)
        layout.addWidget(self.thought_button)
        layout.addWidget(self.continue_button)

        self.frames: list[Frame] = []
        self._last_of_canvas: set[int] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(REPLAY_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self.replay.valueChanged.connect(self._scrubbed)
        self.play_button.clicked.connect(self.play)

    # -- what the variant is --------------------------------------------------------------------------------------
    def set_spec(self, spec: VariantSpec) -> None:
        """Show a stored variant's definition."""
        self.seed.setValue(max(0, min(MAX_SEED, spec.seed)))
        index = self.preset.findData(spec.preset)
        self.preset.setCurrentIndex(max(0, index))
        self.system_prompt.setText(spec.system_prompt)
        self.prompt.setText(spec.prompt)

    def preset_key(self) -> str:
        return str(self.preset.currentData())

    def set_editable(self, editable: bool) -> None:
        for widget in (self.seed, self.preset, self.system_prompt, self.prompt):
            widget.setEnabled(editable)

    # -- live and replay ------------------------------------------------------------------------------------------
    def begin(self) -> None:
        """A run starts: empty answer, canvas waiting for its random start."""
        self._timer.stop()
        self.frames, self._last_of_canvas = [], set()
        self._sync_replay(0)  # no frames: disabled, its handle at the start
        self.continue_button.setEnabled(False)
        self._text, self._thought = "", ""
        self.thought_button.setChecked(False)
        self.thought_button.setVisible(False)
        self.answer.setPlainText("")
        self.status.setText("waiting for the first step…")
        self.canvas.show_frame(None)
        self.canvas.set_note("Waiting for the first denoising step…")

    def clear(self) -> None:
        """No result: an empty answer and replay, and the canvas inviting a run (a column not used by this
        experiment never shows another one's answer)."""
        self.begin()
        self.status.setText("")
        self.canvas.set_note("Run all to watch this variant form")

    def live_frame(self, frame: Frame) -> None:
        """The newest frame of this variant (coalesced) on the thumbnail."""
        self.canvas.show_frame(frame)
        if frame.step:
            self.status.setText(f"canvas {frame.canvas_index + 1} · step {frame.step}/{frame.max_steps}")

    def add_canvas(self, frames: list[Frame]) -> None:
        """A committed canvas: every step (from its random start) joins the replay."""
        steps = steps_with_start(frames)
        if not steps:
            return
        self.frames.extend(steps)
        self._last_of_canvas.add(len(self.frames) - 1)
        self.canvas.show_frame(self.frames[-1], committed=True, steps_in_canvas=len(frames))
        self._sync_replay(len(self.frames) - 1)

    def set_replay(self, canvases: list[list[Frame]]) -> None:
        """A stored variant's frames (reopened experiment), showing its last step."""
        self.begin()
        for frames in canvases:
            self.add_canvas(frames)
        if not canvases:
            self.canvas.set_note("No frames stored for this variant")

    def finish(self, text: str, status: str, *, can_continue: bool, thought: str = "") -> None:
        """The variant's final answer and a one-line status; a thought (thinking on) behind "Show thought"."""
        self._text, self._thought = text, thought.strip()
        self.thought_button.setChecked(False)
        self.thought_button.setVisible(bool(self._thought))
        self.answer.setPlainText(text)
        self.status.setText(status)
        self.continue_button.setEnabled(can_continue)

    def _show_thought(self, shown: bool) -> None:
        self.thought_button.setText("Show answer" if shown else "Show thought")
        self.answer.setPlainText(f"Thought:\n{self._thought}" if shown else self._text)

    def _sync_replay(self, index: int) -> None:
        """The replay slider spans this column's frames and shows frame `index`; usable from two frames on."""
        self.replay.blockSignals(True)
        self.replay.setRange(0, max(0, len(self.frames) - 1))
        self.replay.setValue(index)
        self.replay.blockSignals(False)
        self.replay.setEnabled(len(self.frames) > 1)
        self.play_button.setEnabled(len(self.frames) > 1)

    def _scrubbed(self, index: int) -> None:
        if 0 <= index < len(self.frames):
            frame = self.frames[index]
            self.canvas.show_frame(frame, committed=index in self._last_of_canvas)

    def play(self) -> None:
        """Replay from the first frame (the random start) to the last."""
        if len(self.frames) < 2:
            return
        self.replay.setValue(0)
        self._timer.start()

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def _tick(self) -> None:
        value = self.replay.value() + 1
        if value >= len(self.frames):
            self._timer.stop()
            return
        self.replay.setValue(value)
