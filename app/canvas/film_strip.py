"""Small multiples of one canvas's steps: the `FilmStrip` widget under the canvas, and `write_film_strip`, the
same picture as a PNG (the self-test's `canvas-steps.png`).

Each tile is the whole canvas at one step, a few pixels per cell and no text, in the canvas's colours: step 0's
grey noise, the guesses lighting up, the settled cells turning solid, the padding after the end staying dark.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .canvas_paint import CellPainter, grid_shape
from .canvas_story import BACKGROUND, CHANGED, cell_states
from .canvas_timeline import Slot

TILE_LABEL_H = 14
STRIP_TILE = 52  # the widget's tile side, in pixels
PNG_CELL = 4  # pixels per cell in the PNG
PNG_COLUMNS = 8
PNG_GAP = 10
PNG_TITLE_H = 28


def tile_painter(cells: CellPainter) -> CellPainter:
    """A painter for tiles: the same end/hidden ids as `cells`, no piece table (fills only, no text), and its own
    size cache so the big view's prepared texts are not thrown away."""
    tiles = CellPainter()
    tiles.stop_ids, tiles.hidden_ids = cells.stop_ids, cells.hidden_ids
    return tiles


def paint_tile(p: QPainter, tiles: CellPainter, slot: Slot, rect: QRectF) -> None:
    """One step of a canvas as a tile: cells coloured by state, no text, no change outlines."""
    f = slot.frame
    states = cell_states(f, tiles.stop_ids, tiles.hidden_ids, slot.committed)
    tiles.paint(p, rect, f, states, outline_changes=False)


def _label(slot: Slot) -> str:
    f = slot.frame
    return "start" if f.step == 0 else f"step {f.step}"


class FilmStrip(QWidget):
    """Tiles of the shown canvas's steps in one row; the shown step is outlined; a click jumps to a step."""

    step_clicked = Signal(int)  # the position of the clicked tile within the canvas's slots

    def __init__(self, cells: CellPainter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasFilmStrip")
        self.setAccessibleName("canvasFilmStrip")
        self.setToolTip("Every step of this canvas, from the random start to the committed text: click one to show it")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._cells = cells
        self._slots: list[Slot] = []
        self._current = -1
        self.setFixedHeight(STRIP_TILE + TILE_LABEL_H + 6)

    @property
    def tile_count(self) -> int:
        """How many tiles the strip shows."""
        return len(self._slots)

    def set_slots(self, slots: list[Slot], current: int) -> None:
        """Show these steps (one canvas), `current` outlined."""
        if len(slots) != len(self._slots):
            self.resize(len(slots) * (STRIP_TILE + 4) + 4, self.height())
        self._slots, self._current = slots, current
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(len(self._slots) * (STRIP_TILE + 4) + 4, STRIP_TILE + TILE_LABEL_H + 6)

    def tile_rect(self, index: int) -> QRectF:
        """Where tile `index` is drawn."""
        return QRectF(4 + index * (STRIP_TILE + 4), 2, STRIP_TILE, STRIP_TILE)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        index = int((event.position().x() - 4) // (STRIP_TILE + 4))
        if 0 <= index < len(self._slots):
            self.step_clicked.emit(index)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(BACKGROUND))
        font = QFont(self.font())
        font.setPixelSize(10)
        tiles = tile_painter(self._cells)
        for i, slot in enumerate(self._slots):
            rect = self.tile_rect(i)
            paint_tile(p, tiles, slot, rect)
            p.setFont(font)
            if i == self._current:
                pen = QPen(QColor(CHANGED))
                pen.setWidth(2)
                p.setPen(pen)
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(rect.adjusted(-1, -1, 1, 1))
            p.setPen(QColor("#94a3b8"))
            p.drawText(QRectF(rect.left(), rect.bottom() + 1, rect.width(), TILE_LABEL_H),
                       Qt.AlignmentFlag.AlignCenter, _label(slot))
        p.end()


def film_strip_image(slots: list[Slot], cells: CellPainter, title: str = "") -> QImage:
    """The PNG picture: a title, then the tiles in rows of `PNG_COLUMNS`, each labelled with its step."""
    length = len(slots[0].frame.draft) if slots else 1
    cols_cells, rows_cells = grid_shape(length)
    tile_w, tile_h = cols_cells * PNG_CELL, rows_cells * PNG_CELL
    columns = max(1, min(PNG_COLUMNS, len(slots)))
    rows = max(1, -(-len(slots) // columns))
    width = PNG_GAP + columns * (tile_w + PNG_GAP)
    height = PNG_TITLE_H + rows * (tile_h + TILE_LABEL_H + PNG_GAP) + PNG_GAP
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(BACKGROUND))
    p = QPainter(image)
    font = QFont()
    font.setPixelSize(12)
    p.setFont(font)
    p.setPen(QColor("#e2e8f0"))
    p.drawText(QRectF(PNG_GAP, 4, width - 2 * PNG_GAP, PNG_TITLE_H - 6),
               Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
    font.setPixelSize(10)
    tiles = tile_painter(cells)
    for i, slot in enumerate(slots):
        r, c = divmod(i, columns)
        x = PNG_GAP + c * (tile_w + PNG_GAP)
        y = PNG_TITLE_H + r * (tile_h + TILE_LABEL_H + PNG_GAP)
        paint_tile(p, tiles, slot, QRectF(x, y, tile_w, tile_h))
        p.setFont(font)
        p.setPen(QColor("#94a3b8"))
        p.drawText(QRectF(x, y + tile_h, tile_w, TILE_LABEL_H), Qt.AlignmentFlag.AlignCenter, _label(slot))
    p.end()
    image.setText("Tiles", str(len(slots)))
    image.setText("Title", title)
    return image


def temp_beside(path: Path) -> str:
    """A new, empty temporary file next to `path` (same folder: the final rename is atomic), created with the
    permissions the user's umask gives any new file."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return str(tmp)


def write_film_strip(path: str | Path, slots: list[Slot], cells: CellPainter, title: str = "") -> int:
    """Write the film strip of one canvas as a PNG, atomically (temp file + rename); returns the tile count.
    Small (a few hundred kilobytes at most), so callers may run it on the GUI thread after an answer."""
    path = Path(path)
    image = film_strip_image(slots, cells, title)
    tmp = temp_beside(path)
    try:
        if not image.save(tmp, "PNG"):
            raise OSError(f"could not write {path}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(slots)
