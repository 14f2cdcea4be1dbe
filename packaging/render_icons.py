"""Render `resources/icons/diffusion-desk.svg` to the PNG sizes desktops and bundles use.

Writes `resources/icons/hicolor/<N>x<N>/apps/diffusion-desk.png` (the freedesktop icon-theme layout, so the
desktop-entry installer copies the tree as is). Run again after changing the SVG:
`QT_QPA_PLATFORM=offscreen python packaging/render_icons.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path = ICONS / "diffusion-desk.svg", out_root: Path = ICONS / "hicolor") -> list[Path]:
    """One PNG per size (transparent background, antialiased); returns the paths written."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        path = out_root / f"{size}x{size}" / "apps" / "diffusion-desk.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(path), "PNG"):
            raise SystemExit(f"cannot write {path}")
        written.append(path)
    return written


if __name__ == "__main__":
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for p in render():
        print(p)
