"""The canvas view with its film strip, replay controls and animation export: every step of every canvas of one
answer, from each canvas's random start to its committed text.

Three ways to watch, one at a time:
- **Live** follows the answer being generated at full speed (the newest frame that reached the window).
- **Play** (slow motion) shows one step per tick at the chosen speed. During an answer the frames queue on the
  timeline and play behind the live edge, waiting there for the model; a canvas's every step joins the timeline
  when it is committed, so slow motion shows steps that Live skipped. A new answer starts in whichever of the
  two the user chose last (slow motion at first: on a fast machine a whole answer is over in a blink).
- **Paused**: the scrubber, Left/Right (one step), Up/Down (one canvas) and the film strip move by hand.
The header and the scrubber's label are made from the same words, so they always agree.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QScrollArea, QVBoxLayout, QWidget

from engine.events import Frame

from ..common.file_dialogs import save_dialog
from .animation_export import AnimationExport
from .canvas_story import end_position
from .canvas_timeline import Slot, Timeline
from .canvas_transport import Transport
from .canvas_view import CanvasView
from .film_strip import FilmStrip, write_film_strip

LIVE, PLAY, PAUSE = "live", "play", "pause"
ANIMATION_FILTERS = "Animated GIF (*.gif);;Animated PNG (*.png)"


class CanvasPanel(QWidget):
    """Follows the live answer, plays it in slow motion, or replays a stored answer's frames."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasPanel")
        self.view = CanvasView(self)
        self.film_strip = FilmStrip(self.view.cells, self)
        strip_area = QScrollArea(self)
        strip_area.setObjectName("canvasFilmStripArea")
        strip_area.setWidget(self.film_strip)
        strip_area.setWidgetResizable(False)
        strip_area.setFixedHeight(self.film_strip.height() + 16)
        strip_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.strip_area = strip_area
        self.transport = t = Transport(self)
        self.scrubber, self.position_label, self.live_button, self.legend = (
            t.scrubber, t.position_label, t.live_button, t.legend)
        self.play_button, self.save_button = t.play_button, t.save_button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(strip_area)
        layout.addWidget(t)

        self.timeline = Timeline()  # what the scrubber shows: the live answer's, or a stored answer's
        self._live = Timeline()  # the answer being generated, kept while another answer is replayed
        self._live_index = -1
        self._index = -1
        self._mode = PAUSE
        self._new_answer_mode = PLAY
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self.exporter = AnimationExport(self)
        self.exporter.finished.connect(self._export_finished)
        self.save_dialog: QFileDialog | None = None

        self.scrubber.valueChanged.connect(self._scrubbed)
        self.live_button.clicked.connect(lambda: self.follow_live())
        self.play_button.clicked.connect(lambda: self.toggle_play())
        t.step_back.clicked.connect(lambda: self.step(-1))
        t.step_forward.clicked.connect(lambda: self.step(1))
        t.previous_canvas.clicked.connect(lambda: self.jump_canvas(-1))
        t.next_canvas.clicked.connect(lambda: self.jump_canvas(1))
        t.speed.currentIndexChanged.connect(lambda _i: self._set_interval())
        t.save_button.clicked.connect(lambda: self.ask_save_animation())
        self.view.navigate.connect(self._navigate)
        self.view.pieces_changed.connect(self._refresh_controls)
        self.film_strip.step_clicked.connect(self._strip_clicked)
        self._set_interval()
        self._refresh_controls()

    # -- what the controller calls --------------------------------------------------------------------------------
    @property
    def frames(self) -> list[Frame]:
        """The frames the scrubber can replay, in order (each canvas from its step 0 when known)."""
        return self.timeline.frames

    @property
    def mode(self) -> str:
        """"live", "play" (slow motion) or "pause"."""
        return self._mode

    def begin_live(self) -> None:
        """A new answer starts: forget the old replay; follow it live or in slow motion (the user's last choice)."""
        self._live = self.timeline = Timeline()
        self._live.reset(live=True)
        self._index = -1
        self.view.tokens_per_forward = None
        self.view.show_frame(None)
        self.view.set_note("Waiting for the first denoising step…")
        self.transport.show_status("")
        self._set_mode(self._new_answer_mode)
        self._refresh_controls()

    def live_frame(self, frame: Frame) -> None:
        """A live frame (coalesced; every step 0 arrives): shown at once when following Live, queued otherwise;
        kept aside while the user replays another answer."""
        self._live.add_live(frame)
        if self.timeline is not self._live:
            return
        if self._mode == LIVE:
            self._show(len(self.timeline) - 1)
        elif self._mode == PLAY and self._index < 0:
            self._show(0)
        self._refresh_controls()

    def add_canvas_frames(self, frames: list[Frame]) -> None:
        """Every frame of a committed canvas joins the replay (replacing the live frames seen of it)."""
        if self.timeline is not self._live:
            self._live.commit(frames)
            return
        shown = self._shown_key()
        self.timeline.commit(frames)
        if self._mode == LIVE:
            self._show(len(self.timeline) - 1)
        elif shown is not None:
            self._index = self.timeline.index_of(*shown)
            self._sync_scrubber()
        self._refresh_controls()

    def end_live(self) -> None:
        """The answer being generated ended (done, stopped or failed): slow motion stops at its last step."""
        self._live.live = False
        self._refresh_controls()

    def set_replay(self, canvases: list[list[Frame]], note: str = "", tokens_per_forward: float | None = None) -> None:
        """Replay a stored answer, showing its committed last frame."""
        self.view.tokens_per_forward = tokens_per_forward
        if self.timeline is self._live:
            self._live_index = self._index
        self.timeline = Timeline()
        self.timeline.set_canvases(canvases)
        self._set_mode(PAUSE)
        self.transport.show_status("")
        if len(self.timeline):
            self._show(len(self.timeline) - 1)
        else:
            self._index = -1
            self.view.show_frame(None)
            self.view.set_note(note or "No frames were stored for this answer.")
            self.position_label.setText("")
            self.film_strip.set_slots([], -1)
        self._refresh_controls()

    def follow_live(self) -> None:
        """Show the newest frame and keep following the answer being generated at full speed."""
        self._new_answer_mode = LIVE
        self._back_to_live()
        self._set_mode(LIVE)
        if len(self.timeline):
            self._show(len(self.timeline) - 1)
        self._refresh_controls()

    def _back_to_live(self) -> None:
        """Show the answer being generated again (after replaying another one while it ran)."""
        if self.timeline is not self._live and self._live.live:
            self.timeline = self._live
            self._index = min(self._live_index, len(self.timeline) - 1)

    def replay_from_start(self) -> None:
        """Play the shown answer from its first step ("Replay canvas" in the answer bubble)."""
        if len(self.timeline):
            self._show(0)
        self.play()

    # -- playing ------------------------------------------------------------------------------------------------
    def play(self) -> None:
        """Play from the shown step (from the start when at the end of a finished answer) at the chosen speed."""
        self._new_answer_mode = PLAY
        if len(self.timeline) and self._index >= len(self.timeline) - 1 and self._answer_over():
            self._show(0)
        self._set_mode(PLAY)
        self._refresh_controls()

    def pause(self) -> None:
        """Stop on the shown step."""
        self._set_mode(PAUSE)
        self._refresh_controls()

    def toggle_play(self) -> None:
        """Play when paused or live; pause when playing."""
        self.pause() if self._mode == PLAY else self.play()

    def step(self, delta: int) -> None:
        """Pause and move `delta` steps (across canvases)."""
        self.pause()
        if len(self.timeline):
            self._show(max(0, min(len(self.timeline) - 1, self._index + delta)))

    def jump_canvas(self, delta: int) -> None:
        """Pause and show the first step of the previous (-1) or next (+1) canvas."""
        self.pause()
        if not len(self.timeline):
            return
        first, last = self.timeline.canvas_bounds(max(0, self._index))
        if delta < 0:
            target = self.timeline.canvas_bounds(first - 1)[0] if first > 0 else 0
        else:
            target = last + 1 if last + 1 < len(self.timeline) else last
        self._show(target)

    def _tick(self) -> None:
        if self._index < len(self.timeline) - 1:
            self._show(self._index + 1)
        elif self._answer_over():
            self.pause()

    def _answer_over(self) -> bool:
        """No more frames will come: not live, or the last committed canvas holds the end of the answer."""
        if not self.timeline.live:
            return True
        if not len(self.timeline):
            return False
        last = self.timeline.slot(len(self.timeline) - 1)
        return last.committed and end_position(last.frame, self.view.cells.stop_ids) is not None

    def _set_mode(self, mode: str) -> None:
        self._mode = mode
        if mode == PLAY:
            self._timer.start()
        else:
            self._timer.stop()

    def _set_interval(self) -> None:
        self._timer.setInterval(max(15, round(1000 / self.transport.steps_per_second)))

    # -- showing ------------------------------------------------------------------------------------------------
    def _shown_key(self) -> tuple[int, int] | None:
        if not 0 <= self._index < len(self.timeline):
            return None
        f = self.timeline.slot(self._index).frame
        return f.canvas_index, f.step

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self.timeline):
            return
        self._index = index
        slot = self.timeline.slot(index)
        self.view.show_frame(slot.frame, committed=slot.committed, steps_in_canvas=slot.steps, previous=slot.previous)
        self._sync_scrubber()
        first, _last = self.timeline.canvas_bounds(index)
        self.film_strip.set_slots(self.timeline.canvas_slots(slot.frame.canvas_index), index - first)
        self._scroll_strip()
        # A strip that just grew (another answer, a chat just opened) has its new scroll range only after the
        # layout pass: scroll again then, or the strip stays at "start" while a late step is shown.
        QTimer.singleShot(0, self._scroll_strip)

    def _scroll_strip(self) -> None:
        """Scroll the film strip so the tile of the step shown is in view."""
        if not 0 <= self._index < len(self.timeline):
            return
        first, _last = self.timeline.canvas_bounds(self._index)
        rect = self.film_strip.tile_rect(self._index - first)
        self.strip_area.ensureVisible(int(rect.center().x()), int(rect.center().y()), 40, 0)

    def _sync_scrubber(self) -> None:
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, max(0, len(self.timeline) - 1))
        self.scrubber.setValue(max(0, self._index))
        self.scrubber.blockSignals(False)
        self.scrubber.setEnabled(bool(len(self.timeline)))
        self.position_label.setText(self.view.position_text() if self._index >= 0 else "")

    def _refresh_controls(self) -> None:
        self._sync_scrubber()
        has = bool(len(self.timeline))
        hidden = self.strip_area.isHidden()
        self.strip_area.setVisible(has and self.view.cells.has_pieces)
        if hidden and not self.strip_area.isHidden():  # shown only now (the model's pieces came after the answer)
            QTimer.singleShot(0, self._scroll_strip)
        t = self.transport
        for button in (t.previous_canvas, t.step_back, t.step_forward, t.next_canvas, t.play_button):
            button.setEnabled(has or (self._mode == PLAY and self.timeline.live))
        playing = self._mode == PLAY
        t.play_button.setChecked(playing)
        t.play_button.setText("‖ Pause" if playing else "▶ Play")
        self.live_button.setChecked(self._mode == LIVE)
        self.save_button.setEnabled(has and not self.exporter.running)

    def _scrubbed(self, index: int) -> None:
        self.pause()
        self._show(index)

    def _navigate(self, action: str) -> None:
        if action in ("back", "forward"):
            self.step(-1 if action == "back" else 1)
        elif action in ("previous-canvas", "next-canvas"):
            self.jump_canvas(-1 if action == "previous-canvas" else 1)
        elif action == "play":
            self.toggle_play()
        elif len(self.timeline):
            self.pause()
            self._show(0 if action == "first" else len(self.timeline) - 1)

    def _strip_clicked(self, position: int) -> None:
        if self._index < 0:
            return
        first, _last = self.timeline.canvas_bounds(self._index)
        self.pause()
        self._show(first + position)

    # -- film strip and animation files ---------------------------------------------------------------------------
    def canvas_slots(self, canvas_index: int = 0) -> list[Slot]:
        """Every step of one canvas on the timeline (its film strip)."""
        return self.timeline.canvas_slots(canvas_index)

    def write_film_strip(self, path: str | Path, canvas_index: int = 0) -> int:
        """Write the film strip of one canvas as a PNG; returns its tile count (0: nothing written)."""
        slots = self.canvas_slots(canvas_index)
        if not slots:
            return 0
        title = f"Canvas {canvas_index + 1}: from the random start to the committed text, one tile per step"
        return write_film_strip(path, slots, self.view.cells, title)

    def ask_save_animation(self) -> QFileDialog | None:
        """Open the save dialog (in the documents folder); choosing a file starts the export."""
        if not len(self.timeline):
            return None
        dialog = save_dialog(self, "Save animation", "diffusion-desk-answer.gif", ANIMATION_FILTERS,
                             object_name="saveAnimationDialog")
        dialog.fileSelected.connect(self.export_animation)
        dialog.finished.connect(lambda _result: setattr(self, "save_dialog", None))  # it is deleted once closed
        self.save_dialog = dialog
        dialog.open()
        return dialog

    def export_animation(self, path: str) -> None:
        """Write every step of the shown answer to `path` on a worker thread; the status line confirms."""
        slots = [self.timeline.slot(i) for i in range(len(self.timeline))]
        if not slots or self.exporter.running:
            return
        cells = self.view.cells
        self.transport.show_status(f"Saving the animation ({len(slots)} frames)…")
        self.exporter.start(path, slots, cells.pieces, cells.stop_ids, cells.hidden_ids,
                            self.transport.steps_per_second)
        self._refresh_controls()

    def _export_finished(self, path: str, frames: int, error: str) -> None:
        if error:
            self.transport.show_status(f"Could not save the animation: {error}")
        else:
            self.transport.show_status(f"Saved the animation ({frames} frames, one per step) to {path}")
        self._refresh_controls()
