"""Drawing one canvas frame as a grid of cells, on any paint device: the live view, the film strip, the animation.

`CellPainter` owns the id→piece table, the symbols for special ids and a per-size cache of prepared texts, so a
repaint is one fill and one static text per cell. Each painter is used by one thread at a time (the animation
export makes its own), which is what Qt allows for painting on a `QImage` off the GUI thread.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QStaticText

from engine.events import Frame

from .canvas_story import CHANGED, COLORS, SYMBOLS, TILE_COLORS, CellState, changed_cells, display_piece

FILLS = {state: QColor(fill) if fill else None for state, (fill, _text) in COLORS.items()}
TILE_FILLS = {state: QColor(fill) if fill else None for state, fill in TILE_COLORS.items()}  # cells too small for text
TEXTS = {state: QColor(text) for state, (_fill, text) in COLORS.items()}
CHANGED_PEN_COLOR = QColor(CHANGED)


def grid_shape(length: int) -> tuple[int, int]:
    """(columns, rows): 16×16 for 256, the nearest square-ish grid otherwise."""
    cols = max(1, math.ceil(math.sqrt(max(1, length))))
    return cols, max(1, math.ceil(length / cols))


def cell_font() -> QFont:
    """The monospace font of the cells."""
    font = QFont()
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFamilies(["JetBrains Mono", "DejaVu Sans Mono", "Menlo", "Consolas", "monospace"])
    return font


class CellPainter:
    """Paints a frame's cells in a rectangle; `label(tid)` is the text a cell shows for an id."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.stop_ids: frozenset[int] = frozenset()
        self.hidden_ids: frozenset[int] = frozenset()
        self._base_font = cell_font()
        self._font = QFont(self._base_font)
        self._metrics = QFontMetrics(self._font)
        self._key: tuple = ()
        self._cache: dict[int, QStaticText] = {}
        self._text_width = 4

    def set_pieces(self, pieces: list[str], stop_ids: frozenset[int] = frozenset(),
                   hidden_ids: frozenset[int] = frozenset()) -> None:
        """The model's id→piece table and its end-of-answer and hidden ids."""
        self.pieces, self.stop_ids, self.hidden_ids = pieces, frozenset(stop_ids), frozenset(hidden_ids)
        self._key = ()

    @property
    def has_pieces(self) -> bool:
        """Whether ids can be shown as text (False while a model is still loading)."""
        return bool(self.pieces)

    def piece(self, tid: int) -> str | None:
        """The raw piece of an id, or None when the table does not know it."""
        return self.pieces[tid] if 0 <= tid < len(self.pieces) else None

    def label(self, tid: int) -> str:
        """What a cell shows for `tid`: a symbol for special ids, the piece with whitespace made visible, or ""
        when the piece is not known (never a raw id)."""
        if tid in self.stop_ids:
            return SYMBOLS["end"]
        if tid in self.hidden_ids:
            return SYMBOLS["special"]
        piece = self.piece(tid)
        return "" if piece is None else display_piece(piece)

    def paint(self, p: QPainter, rect: QRectF, frame: Frame, states: list[CellState],
              previous: Frame | None = None, *, outline_changes: bool = True) -> None:
        """Fill every cell by its state, outline the cells that changed since `previous`, then draw the texts."""
        length = len(frame.draft)
        cols, rows = grid_shape(length)
        w, h = rect.width() / cols, rect.height() / rows
        if w <= 1 or h <= 1:
            return
        self._prepare(w, h)
        p.setPen(Qt.PenStyle.NoPen)
        tiny = h < 7  # film-strip tiles: no text, so the fill alone tells the state
        fills, gap = (TILE_FILLS, 0.5) if tiny else (FILLS, 1.0)
        origins: list[tuple[float, float]] = []
        for i, state in enumerate(states):
            r, c = divmod(i, cols)
            x, y = rect.left() + c * w, rect.top() + r * h
            origins.append((x, y))
            fill = fills[state]
            if fill is not None:
                p.fillRect(QRectF(x + gap, y + gap, w - 2 * gap, h - 2 * gap), fill)
            elif state == CellState.PADDING and not tiny:
                p.fillRect(QRectF(x + w / 2 - 1, y + h / 2 - 1, 2, 2), TEXTS[state])
        if outline_changes and previous is not None:
            pen = QPen(CHANGED_PEN_COLOR)
            pen.setWidthF(1.5)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            for i, changed in enumerate(changed_cells(previous, frame, states)):
                if changed:
                    x, y = origins[i]
                    p.drawRect(QRectF(x + 1.5, y + 1.5, w - 3, h - 3))
        if not self.has_pieces or tiny:
            return
        p.setFont(self._font)
        for state in CellState:
            if state == CellState.PADDING:
                continue
            p.setPen(TEXTS[state])
            for i, s in enumerate(states):
                if s != state:
                    continue
                text = self._static(frame.draft[i])
                size = text.size()
                x, y = origins[i]
                p.drawStaticText(QPointF(x + (w - size.width()) / 2, y + (h - size.height()) / 2), text)

    def _prepare(self, w: float, h: float) -> None:
        key = (int(w), int(h), id(self.pieces))
        if key == self._key:
            return
        self._key = key
        self._cache = {}
        self._font = QFont(self._base_font)
        self._font.setPixelSize(max(7, min(15, int(h * 0.55))))
        self._metrics = QFontMetrics(self._font)
        self._text_width = max(4, int(w) - 4)

    def _static(self, tid: int) -> QStaticText:
        text = self._cache.get(tid)
        if text is None:
            shown = self._metrics.elidedText(self.label(tid), Qt.TextElideMode.ElideRight, self._text_width)
            text = QStaticText(shown)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.prepare(font=self._font)
            self._cache[tid] = text
        return text
