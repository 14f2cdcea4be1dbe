"""The look: Fusion style, a dark palette and `resources/style.qss` (one consistent theme)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def icon_path() -> Path:
    """The application icon (SVG)."""
    return RESOURCES / "icons" / "diffusion-desk.svg"


def dark_palette() -> QPalette:
    """The dark palette every widget inherits."""
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#0f172a",
        QPalette.ColorRole.WindowText: "#e2e8f0",
        QPalette.ColorRole.Base: "#0b1120",
        QPalette.ColorRole.AlternateBase: "#111827",
        QPalette.ColorRole.Text: "#e2e8f0",
        QPalette.ColorRole.Button: "#1e293b",
        QPalette.ColorRole.ButtonText: "#e2e8f0",
        QPalette.ColorRole.Highlight: "#0284c7",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#1e293b",
        QPalette.ColorRole.ToolTipText: "#e2e8f0",
        QPalette.ColorRole.PlaceholderText: "#64748b",
        QPalette.ColorRole.Link: "#7dd3fc",
    }
    for role, value in colors.items():
        p.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#475569"))
    return p


def apply_theme(app: QApplication) -> None:
    """Fusion + the dark palette + the style sheet (a missing sheet only loses the polish)."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    sheet = RESOURCES / "style.qss"
    if sheet.is_file():
        app.setStyleSheet(sheet.read_text(encoding="utf-8"))
