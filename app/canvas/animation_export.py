""""Save animation": every step of an answer's canvases as an animated GIF or PNG (APNG), one frame per step.

Frames are drawn with the canvas's own painter on `QImage`s and encoded with Pillow on a worker thread (an answer
can have hundreds of steps: seconds of work the GUI thread must not wait for); the file is written to a temporary
name beside the target and renamed, so a failed export never leaves half a file. `AnimationExport.finished`
reports back on the GUI thread.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from .canvas_paint import CellPainter, grid_shape
from .canvas_story import BACKGROUND, cell_states, detail_text, position_text
from .canvas_timeline import Slot
from .film_strip import temp_beside

CELL_PX = 30
HEADER_PX = 34
FOOTER_PX = 24
MARGIN = 8
HOLD_LAST_MS = 1500
FOOTER = "grey: noise · light text: the model's guess · solid: settled · ∎ end · dots: padding"


def frame_image(painter: CellPainter, slot: Slot, cell_px: int = CELL_PX) -> QImage:
    """One step as a picture: header (where it is, how much is settled), the grid, a one-line key."""
    f = slot.frame
    cols, rows = grid_shape(len(f.draft))
    width, grid_h = MARGIN * 2 + cols * cell_px, rows * cell_px
    image = QImage(width, HEADER_PX + grid_h + FOOTER_PX + MARGIN, QImage.Format.Format_RGB32)
    image.fill(QColor(BACKGROUND))
    states = cell_states(f, painter.stop_ids, painter.hidden_ids, slot.committed)
    p = QPainter(image)
    font = QFont()
    font.setPixelSize(15)
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor("#e2e8f0"))
    header = f"{position_text(f, slot.steps)} · {detail_text(f, states, slot.committed)}"
    p.drawText(QRectF(MARGIN, 0, width - 2 * MARGIN, HEADER_PX), Qt.AlignmentFlag.AlignVCenter, header)
    painter.paint(p, QRectF(MARGIN, HEADER_PX, cols * cell_px, grid_h), f, states, slot.previous)
    font.setBold(False)
    font.setPixelSize(11)
    p.setFont(font)
    p.setPen(QColor("#94a3b8"))
    p.drawText(QRectF(MARGIN, HEADER_PX + grid_h, width - 2 * MARGIN, FOOTER_PX), Qt.AlignmentFlag.AlignVCenter,
               FOOTER)
    p.end()
    return image


def _to_pillow(image: QImage):
    from PIL import Image

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(rgb.constBits())
    return Image.frombuffer("RGB", (rgb.width(), rgb.height()), data, "raw", "RGB", rgb.bytesPerLine(), 1)


def write_animation(path: str | Path, slots: list[Slot], painter: CellPainter, steps_per_second: float) -> int:
    """Render and write the animation (GIF unless the name ends in .png: animated PNG); returns the frame count.
    Blocking: call it from a worker thread."""
    if not slots:
        raise ValueError("there are no steps to animate")
    from PIL import Image

    path = Path(path)
    kind = "PNG" if path.suffix.lower() == ".png" else "GIF"
    pictures = []
    for s in slots:  # a GIF frame is kept as its 8-bit palette picture: a third of the memory of RGB
        picture = _to_pillow(frame_image(painter, s))
        pictures.append(picture.convert("P", palette=Image.Palette.ADAPTIVE) if kind == "GIF" else picture)
    step_ms = max(20, round(1000 / max(0.1, steps_per_second)))
    durations = [step_ms] * (len(pictures) - 1) + [HOLD_LAST_MS]
    tmp = temp_beside(path)
    try:
        pictures[0].save(tmp, format=kind, save_all=True, append_images=pictures[1:], duration=durations, loop=0)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(pictures)


class AnimationExport(QObject):
    """Runs `write_animation` on a thread; `finished(path, frames, error)` arrives on the GUI thread ("" error:
    saved)."""

    finished = Signal(str, int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._busy = False
        self.finished.connect(self._finished)  # connected first: `running` is False for every later receiver

    @property
    def running(self) -> bool:
        """Whether an export is being written (until `finished` has been delivered)."""
        return self._busy

    def _finished(self, *_args: object) -> None:
        self._busy = False

    def start(self, path: str, slots: list[Slot], pieces: list[str], stop_ids: frozenset[int],
              hidden_ids: frozenset[int], steps_per_second: float) -> None:
        """Write `slots` to `path` in the background (the slots' frames are immutable; the painter is the
        thread's own)."""
        painter = CellPainter()
        painter.set_pieces(pieces, stop_ids, hidden_ids)

        def work() -> None:
            try:
                count = write_animation(path, slots, painter, steps_per_second)
            except Exception as exc:  # noqa: BLE001 - reported to the user, the window keeps running
                self.finished.emit(path, 0, str(exc) or type(exc).__name__)
            else:
                self.finished.emit(path, count, "")

        self._busy = True
        self._thread = threading.Thread(target=work, name="animation-export", daemon=True)
        self._thread.start()
