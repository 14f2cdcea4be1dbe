"""`CanvasView` (◆ canvasView): one canvas as a grid of token pieces, sharpening from noise to text.

Each cell shows the draft (argmax) piece at its position; cells the sampler has accepted are solid, the rest
dim; colour strength follows confidence, exp(-entropy). Frames may arrive faster than the screen refreshes,
so a frame only marks the view dirty and a single-shot timer repaints at most 60 times a second — the newest
frame always wins, so the last frame of a canvas is always the one left on screen.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent, QStaticText
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from engine.events import Frame

REPAINT_INTERVAL_MS = 16
HEADER_H = 28
ACCEPTED = QColor(56, 189, 248)  # sky blue
NOISE_TEXT = QColor(120, 128, 145)
SOLID_TEXT = QColor(240, 244, 250)
LEVELS = 16


def _shades(base: QColor, low: float, high: float) -> list[QColor]:
    """`LEVELS` alpha steps of `base`, from `low` (no confidence) to `high` (certain)."""
    out = []
    for level in range(LEVELS):
        color = QColor(base)
        color.setAlphaF(low + (high - low) * (level + 0.5) / LEVELS)
        out.append(color)
    return out


ACCEPTED_SHADES = _shades(ACCEPTED, 0.25, 0.85)
NOISE_SHADES = _shades(QColor(255, 255, 255), 0.03, 0.15)


def display_piece(piece: str) -> str:
    """A piece as it reads in one cell: whitespace made visible, nothing multi-line."""
    if piece == "\n":
        return "↵"
    if piece == " ":
        return "␣"
    return piece.replace("\n", "↵").replace("\t", "⇥")


def grid_shape(length: int) -> tuple[int, int]:
    """(columns, rows): 16×16 for 256, the nearest square-ish grid otherwise."""
    cols = max(1, math.ceil(math.sqrt(max(1, length))))
    return cols, max(1, math.ceil(length / cols))


class CanvasView(QWidget):
    """Paints the newest frame it was given; `paint_count` and `frames_received` are there for tests."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasView")
        self.setAccessibleName("canvasView")
        self.setAccessibleDescription("The denoising canvas: one cell per token position")
        self.setMouseTracking(True)
        self.setMinimumSize(320, 260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._pieces: list[str] = []
        self._frame: Frame | None = None
        self._note = "No answer yet — send a message to watch a canvas denoise."
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REPAINT_INTERVAL_MS)
        self._timer.timeout.connect(self.update)
        self.paint_count = 0
        self.frames_received = 0
        self.tokens_per_forward: float | None = None  # committed tokens per decoder forward, set by the owner
        self._cell_font = QFont(self.font())
        self._cell_font.setStyleHint(QFont.StyleHint.Monospace)
        self._cell_font.setFamilies(["JetBrains Mono", "DejaVu Sans Mono", "Menlo", "Consolas", "monospace"])
        self._text_key: tuple = ()
        self._symbols: dict[int, str] = {}
        self._text_cache: dict[int, QStaticText] = {}
        self._text_font = QFont(self._cell_font)
        self._text_metrics = QFontMetrics(self._text_font)
        self._text_width = 4

    # -- data ---------------------------------------------------------------------------------------------------
    def set_pieces(self, pieces: list[str], stop_ids: frozenset[int] = frozenset(),
                   hidden_ids: frozenset[int] = frozenset()) -> None:
        """The model's id→piece table (built in the worker thread); end-of-turn and other special ids get short
        symbols in the grid (their full piece stays in the tooltip)."""
        self._pieces = pieces
        self._symbols = {tid: "◦" for tid in hidden_ids} | {tid: "∎" for tid in stop_ids}
        self._text_key = ()
        self._schedule()

    def warm_up(self, length: int) -> None:
        """Paint a synthetic frame off screen once, so first-use costs (fonts, Qt enum wrappers, glyph caches)
        are paid when a model loads instead of in the middle of the first answer."""
        if length <= 0:
            return
        ids = [i % max(1, len(self._pieces)) for i in range(length)]
        fake = Frame(0, 1, 1, ids, ids, [i % 2 == 0 for i in range(length)], [0.5] * length, 0.0)
        saved, received = self._frame, self.frames_received
        self._frame = fake
        image = QImage(max(1, self.width()), max(1, self.height()), QImage.Format.Format_ARGB32_Premultiplied)
        self.render(image)
        self._frame, self.frames_received = saved, received

    def set_note(self, text: str) -> None:
        """Text shown in place of a grid (no frame yet, or a message about the replay)."""
        self._note = text
        self._schedule()

    def show_frame(self, frame: Frame | None) -> None:
        """Show `frame` on the next repaint tick (frames between ticks are superseded, never queued)."""
        self._frame = frame
        self.frames_received += 1
        self._schedule()

    @property
    def frame(self) -> Frame | None:
        """The frame on screen (None before the first one)."""
        return self._frame

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    # -- geometry -----------------------------------------------------------------------------------------------
    def _cell_rect(self, index: int, length: int) -> QRectF:
        cols, rows = grid_shape(length)
        w = (self.width() - 16) / cols
        h = (self.height() - HEADER_H - 12) / rows
        r, c = divmod(index, cols)
        return QRectF(8 + c * w, HEADER_H + 4 + r * h, w, h)

    def cell_at(self, pos: QPoint) -> int | None:
        """The canvas position under `pos`, or None."""
        if self._frame is None:
            return None
        length = len(self._frame.draft)
        cols, rows = grid_shape(length)
        w = (self.width() - 16) / cols
        h = (self.height() - HEADER_H - 12) / rows
        if w <= 0 or h <= 0:
            return None
        c, r = int((pos.x() - 8) // w), int((pos.y() - HEADER_H - 4) // h)
        index = r * cols + c
        return index if 0 <= c < cols and 0 <= r < rows and index < length else None

    def header_text(self) -> str:
        """The header line: canvas k, step s of S, accepted count, tokens per forward."""
        f = self._frame
        if f is None:
            return "Canvas"
        tpf = "–" if self.tokens_per_forward is None else f"{self.tokens_per_forward:.1f}"
        return (
            f"canvas {f.canvas_index + 1} · step {f.step}/{f.max_steps} · accepted {f.accepted_count}/"
            f"{len(f.accepted)} · {tpf} tokens/forward"
        )

    def cell_tooltip(self, index: int) -> str:
        """Token id, piece and entropy of one cell (and the noisy id the next step sees, when it differs)."""
        f = self._frame
        if f is None or not 0 <= index < len(f.draft):
            return ""
        tid = f.draft[index]
        text = (
            f"position {index}\nid {tid}  {self._piece(tid)!r}\nentropy {f.entropy[index]:.3f}"
            f"  ·  {'accepted' if f.accepted[index] else 'still noisy'}"
        )
        if f.canvas[index] != tid:
            text += f"\nnoisy canvas id {f.canvas[index]}  {self._piece(f.canvas[index])!r}"
        return text

    def _piece(self, tid: int) -> str:
        return self._pieces[tid] if 0 <= tid < len(self._pieces) else f"#{tid}"

    # -- Qt -----------------------------------------------------------------------------------------------------
    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            index = self.cell_at(e.pos())
            if index is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(e.globalPos(), self.cell_tooltip(index), self)
            return True
        return super().event(e)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        self.paint_count += 1
        p = QPainter(self)
        header_font = QFont(self.font())
        header_font.setBold(True)
        p.setFont(header_font)
        p.setPen(self.palette().color(self.foregroundRole()))
        width = self.width() - 20
        header = QFontMetrics(header_font).elidedText(self.header_text(), Qt.TextElideMode.ElideRight, width)
        p.drawText(QRectF(10, 4, self.width() - 20, HEADER_H - 6), Qt.AlignmentFlag.AlignVCenter, header)
        f = self._frame

        if f is None:
            p.setFont(self.font())
            p.setPen(NOISE_TEXT)
            body = QRectF(10, HEADER_H, self.width() - 20, self.height() - HEADER_H - 10)
            p.drawText(body, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._note)
            p.end()
            return
        self._paint_cells(p, f)
        p.end()

    def _paint_cells(self, p: QPainter, f: Frame) -> None:
        """One filled cell and one cached static text per position: few Qt calls, no antialiasing."""
        length = len(f.draft)
        cols, rows = grid_shape(length)
        w = (self.width() - 16) / cols
        h = (self.height() - HEADER_H - 12) / rows
        self._prepare_text_cache(w, h)
        p.setFont(self._text_font)
        p.setPen(Qt.PenStyle.NoPen)
        top = HEADER_H + 4
        entropy, accepted, draft = f.entropy, f.accepted, f.draft
        cells: list[tuple[float, float, QStaticText, bool]] = []
        for i in range(length):
            r, c = divmod(i, cols)
            x, y = 8 + c * w, top + r * h
            level = min(LEVELS - 1, int(math.exp(-max(0.0, entropy[i])) * LEVELS))
            p.fillRect(QRectF(x + 1, y + 1, w - 2, h - 2), (ACCEPTED_SHADES if accepted[i] else NOISE_SHADES)[level])
            cells.append((x, y, self._static(draft[i]), accepted[i]))
        for solid in (True, False):
            p.setPen(SOLID_TEXT if solid else NOISE_TEXT)
            for x, y, text, is_accepted in cells:
                if is_accepted == solid:
                    size = text.size()
                    p.drawStaticText(QPointF(x + (w - size.width()) / 2, y + (h - size.height()) / 2), text)

    def _prepare_text_cache(self, w: float, h: float) -> None:
        key = (int(w), int(h), len(self._pieces), id(self._pieces))
        if key == self._text_key:
            return
        self._text_key = key
        self._text_cache = {}
        self._text_font = QFont(self._cell_font)
        self._text_font.setPixelSize(max(7, min(15, int(h * 0.55))))
        self._text_metrics = QFontMetrics(self._text_font)
        self._text_width = max(4, int(w) - 4)

    def _static(self, tid: int) -> QStaticText:
        text = self._text_cache.get(tid)
        if text is None:
            piece = self._symbols.get(tid) or display_piece(self._piece(tid))
            shown = self._text_metrics.elidedText(piece, Qt.TextElideMode.ElideRight, self._text_width)
            text = QStaticText(shown)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.prepare(font=self._text_font)
            self._text_cache[tid] = text
        return text
