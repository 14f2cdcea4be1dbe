"""`CanvasView` (◆ canvasView): one canvas as a grid of token pieces, from random noise (step 0) to text.

What each colour means is decided in `canvas_story` (noise grey, the model's guess in light cyan, settled cells
solid cyan, the end mark pink, padding after it a quiet dot; an amber outline marks what changed at this step);
`canvas_paint` draws it. Frames may arrive faster than the screen refreshes, so a frame only marks the view dirty
and a single-shot timer repaints at most 60 times a second — the newest frame always wins.

With the focus on the view, Left/Right step one frame, Up/Down (or Page Up/Down) jump between canvases, Home/End
go to the first/last frame and Space plays or pauses: the view only emits `navigate`, the panel acts.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QKeyEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from engine.events import Frame

from .canvas_paint import CellPainter, grid_shape
from .canvas_story import BACKGROUND, STATE_WORDS, CellState, cell_states, detail_text, position_text

__all__ = ["CanvasView", "grid_shape"]

REPAINT_INTERVAL_MS = 16
HEADER_H = 28
NOTE_TEXT = QColor("#94a3b8")
FOCUS_RING = QColor("#60a5fa")  # keyboard users see that the arrow keys now step through the canvas
LOADING_NOTE = "Loading the model… this answer's canvas appears when it is ready."
KEYS = {
    Qt.Key.Key_Left: "back", Qt.Key.Key_Right: "forward", Qt.Key.Key_Up: "previous-canvas",
    Qt.Key.Key_Down: "next-canvas", Qt.Key.Key_PageUp: "previous-canvas", Qt.Key.Key_PageDown: "next-canvas",
    Qt.Key.Key_Home: "first", Qt.Key.Key_End: "last", Qt.Key.Key_Space: "play",
}


class CanvasView(QWidget):
    """Paints the newest frame it was given; `paint_count` and `frames_received` are there for tests."""

    navigate = Signal(str)  # back, forward, previous-canvas, next-canvas, first, last, play
    pieces_changed = Signal()  # a model's piece table arrived: the film strip can draw too

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasView")
        self.setAccessibleName("canvasView")
        self.setAccessibleDescription(
            "The denoising canvas: one cell per token position. Left and Right step through the replay."
        )
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.cells = CellPainter()
        self._frame: Frame | None = None
        self._previous: Frame | None = None
        self.committed = False  # the frame on screen is the last of a committed canvas: drawn fully settled
        self.steps_in_canvas: int | None = None  # known once the canvas is committed
        self._note = "No answer yet — send a message to watch a canvas turn from noise into text."
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REPAINT_INTERVAL_MS)
        self._timer.timeout.connect(self.update)
        self.paint_count = 0
        self.frames_received = 0
        self.tokens_per_forward: float | None = None  # committed tokens per decoder forward, set by the owner

    # -- data ---------------------------------------------------------------------------------------------------
    def set_pieces(self, pieces: list[str], stop_ids: frozenset[int] = frozenset(),
                   hidden_ids: frozenset[int] = frozenset()) -> None:
        """The model's id→piece table (built in the worker thread); end-of-answer and other special ids get short
        symbols in the grid (their full piece stays in the tooltip)."""
        self.cells.set_pieces(pieces, stop_ids, hidden_ids)
        self._schedule()
        self.pieces_changed.emit()

    def warm_up(self, length: int) -> None:
        """Paint a synthetic frame off screen once, so first-use costs (fonts, Qt enum wrappers, glyph caches)
        are paid when a model loads instead of in the middle of the first answer."""
        if length <= 0:
            return
        ids = [i % max(1, len(self.cells.pieces)) for i in range(length)]
        fake = Frame(0, 1, 1, ids, ids, [i % 2 == 0 for i in range(length)], [0.5] * length, 0.0)
        saved = self._frame, self._previous, self.frames_received, self.committed, self.steps_in_canvas
        self._frame, self._previous = fake, None
        image = QImage(max(1, self.width()), max(1, self.height()), QImage.Format.Format_ARGB32_Premultiplied)
        self.render(image)
        self._frame, self._previous, self.frames_received, self.committed, self.steps_in_canvas = saved

    def set_note(self, text: str) -> None:
        """Text shown in place of a grid (no frame yet, or a message about the replay)."""
        self._note = text
        self._schedule()

    def show_frame(self, frame: Frame | None, *, committed: bool = False, steps_in_canvas: int | None = None,
                   previous: Frame | None = None) -> None:
        """Show `frame` on the next repaint tick (frames between ticks are superseded, never queued). `previous`
        (default: the frame on screen, when it is an earlier step of the same canvas) decides which cells are
        outlined as changed; `committed` draws the canvas as kept."""
        if previous is None and self._frame is not None and frame is not None:
            same = self._frame.canvas_index == frame.canvas_index and self._frame.step < frame.step
            previous = self._frame if same else None
        self._previous = previous
        self._frame = frame
        self.committed = committed
        self.steps_in_canvas = steps_in_canvas
        self.frames_received += 1
        self._schedule()

    @property
    def frame(self) -> Frame | None:
        """The frame on screen (None before the first one)."""
        return self._frame

    def states(self) -> list[CellState]:
        """The state of every cell on screen (empty without a frame)."""
        f = self._frame
        return [] if f is None else cell_states(f, self.cells.stop_ids, self.cells.hidden_ids, self.committed)

    def cell_label(self, index: int) -> str:
        """The text drawn in one cell ("" while no piece table is loaded: never a raw id)."""
        f = self._frame
        if f is None or not 0 <= index < len(f.draft) or not self.cells.has_pieces:
            return ""
        return self.cells.label(f.draft[index])

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    # -- geometry -----------------------------------------------------------------------------------------------
    def grid_rect(self) -> QRectF:
        """Where the cells are drawn."""
        return QRectF(8, HEADER_H + 4, self.width() - 16, self.height() - HEADER_H - 12)

    def cell_at(self, pos: QPoint) -> int | None:
        """The canvas position under `pos`, or None."""
        if self._frame is None:
            return None
        length = len(self._frame.draft)
        cols, rows = grid_shape(length)
        grid = self.grid_rect()
        w, h = grid.width() / cols, grid.height() / rows
        if w <= 0 or h <= 0:
            return None
        c, r = int((pos.x() - grid.left()) // w), int((pos.y() - grid.top()) // h)
        index = r * cols + c
        return index if 0 <= c < cols and 0 <= r < rows and index < length else None

    # -- words --------------------------------------------------------------------------------------------------
    def position_text(self) -> str:
        """"canvas k · step s/S": the scrubber's label says exactly this."""
        f = self._frame
        return "" if f is None else position_text(f, self.steps_in_canvas)

    def header_text(self) -> str:
        """The header line: where the frame sits, then how much of it is settled (plain words)."""
        f = self._frame
        if f is None:
            return "Canvas"
        return f"{self.position_text()} · {detail_text(f, self.states(), self.committed)}"

    def fitted_header(self, font: QFont, width: int) -> str:
        """The header as it fits in `width`: whole, else without its details, else elided."""
        metrics = QFontMetrics(font)
        for text in (self.header_text(), self.position_text() or "Canvas"):
            if metrics.horizontalAdvance(text) <= width:
                return text
        return metrics.elidedText(self.position_text(), Qt.TextElideMode.ElideRight, width)

    def header_tooltip(self) -> str:
        """Plain words first; the expert figure (tokens per decoder pass) on the second line."""
        tpf = "–" if self.tokens_per_forward is None else f"{self.tokens_per_forward:.1f}"
        return (
            "Each step the model looks at the whole canvas and keeps the cells it is sure of.\n"
            f"Expert: {tpf} tokens committed per decoder forward pass"
        )

    def cell_tooltip(self, index: int) -> str:
        """What a cell holds, in plain words; ids and entropy on the second line for experts."""
        f = self._frame
        if f is None or not 0 <= index < len(f.draft):
            return ""
        if not self.cells.has_pieces:
            return f"Position {index + 1}: {LOADING_NOTE}"
        state = self.states()[index]
        tid = f.draft[index]
        piece = self.cells.piece(tid) or ""
        if f.step == 0:
            first = f"Position {index + 1}: random noise “{piece}” — where every canvas starts"
        else:
            first = f"Position {index + 1}: “{piece}” — {STATE_WORDS[state]}"
        expert = f"Expert: token id {tid} · entropy {f.entropy[index]:.3f}"
        if f.canvas[index] != tid:
            expert += f" · the next step reads “{self.cells.piece(f.canvas[index]) or ''}” here"
        return f"{first}\n{expert}"

    # -- Qt -----------------------------------------------------------------------------------------------------
    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            if e.pos().y() < HEADER_H:
                QToolTip.showText(e.globalPos(), self.header_tooltip(), self)
                return True
            index = self.cell_at(e.pos())
            if index is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(e.globalPos(), self.cell_tooltip(index), self)
            return True
        return super().event(e)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        action = KEYS.get(Qt.Key(event.key()))
        if action is None:
            super().keyPressEvent(event)
            return
        self.navigate.emit(action)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        self.paint_count += 1
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(BACKGROUND))
        header_font = QFont(self.font())
        header_font.setBold(True)
        p.setFont(header_font)
        p.setPen(self.palette().color(self.foregroundRole()))
        width = self.width() - 20
        p.drawText(QRectF(10, 4, width, HEADER_H - 6), Qt.AlignmentFlag.AlignVCenter,
                   self.fitted_header(header_font, width))
        f = self._frame
        body = QRectF(10, HEADER_H, width, self.height() - HEADER_H - 10)
        if f is None:
            self._paint_note(p, body, self._note)
        elif not self.cells.has_pieces:  # without the model's tokens neither text nor the end mark is known
            self._paint_note(p, body, LOADING_NOTE)
        else:
            self.cells.paint(p, self.grid_rect(), f, self.states(), self._previous)
        if self.hasFocus():
            p.setPen(QPen(FOCUS_RING, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        p.end()

    def _paint_note(self, p: QPainter, rect: QRectF, text: str) -> None:
        p.setFont(self.font())
        p.setPen(NOTE_TEXT)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
