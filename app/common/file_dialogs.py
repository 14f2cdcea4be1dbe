"""File dialogs that look right everywhere: Qt's own dialog with visible toolbar icons, opening in Documents.

Under Xvfb, offscreen and desktops without a platform file dialog, Qt's widget dialog shows its toolbar (back,
forward, up, new folder, list, details) blank: the theme's tool-button padding leaves the icons no room, and Qt's
own icons are dark on the dark theme. Here the buttons get room and icons drawn in the palette's text colour.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtGui import QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QFileDialog, QSplitter, QToolButton, QTreeView, QWidget

# the theme pads tool buttons for text (6 px × 14 px), which leaves the dialog's small icon buttons no room at all
TOOLBAR_STYLE = "QToolButton { padding: 2px; min-width: 24px; min-height: 24px; }"
GLYPHS = {
    "backButton": ("←", "Back"),
    "forwardButton": ("→", "Forward"),
    "toParentButton": ("↑", "Up one folder"),
    "newFolderButton": ("+", "New folder"),
    "listModeButton": ("☰", "List view"),
    "detailModeButton": ("▤", "Detail view"),
}


def documents_folder() -> Path:
    """The user's documents folder (made when the system names one that does not exist yet), else their home."""
    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if found:
        try:
            Path(found).mkdir(parents=True, exist_ok=True)
            return Path(found)
        except OSError:
            pass
    return Path.home()


def glyph_icon(glyph: str, widget: QWidget, size: int = 32) -> QIcon:
    """An icon of one character in the widget's text colour (light on the dark theme)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    font = QFont(widget.font())
    font.setPixelSize(int(size * 0.75))
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(widget.palette().buttonText().color())
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, glyph)
    painter.end()
    return QIcon(pixmap)


def save_dialog(parent: QWidget | None, title: str, file_name: str, name_filter: str,
                object_name: str = "saveFileDialog") -> QFileDialog:
    """A non-blocking "save as" dialog (open it with `.open()` or `.exec()`) starting in Documents; the default
    suffix is the first filter's."""
    dialog = QFileDialog(parent, title, str(documents_folder() / file_name), name_filter)
    dialog.setObjectName(object_name)
    dialog.setAccessibleName(object_name)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)  # the same, readable dialog on every desktop
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setDefaultSuffix(name_filter.split(";;")[0].rpartition("*.")[2].rstrip(")") or "")
    dress(dialog)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # each export left a whole file dialog behind
    return dialog


def dress(dialog: QFileDialog) -> None:
    """Qt's own (non-native) file dialog made readable: toolbar icons drawn and named (the dark theme left them
    blank), and a size at which the side bar and the Date column are not cut off (within the screen)."""
    dialog.setStyleSheet(TOOLBAR_STYLE)
    for button in dialog.findChildren(QToolButton):
        glyph = GLYPHS.get(button.objectName())
        if glyph is not None:
            button.setIcon(glyph_icon(glyph[0], button))
            button.setToolTip(glyph[1])
    screen = dialog.screen().availableGeometry()
    dialog.resize(min(820, screen.width() - 40), min(520, screen.height() - 80))
    splitter = dialog.findChild(QSplitter, "splitter")
    if splitter is not None:  # the places side bar wide enough for "Computer"
        splitter.setSizes([170, max(dialog.width() - 170, 1)])
    details = dialog.findChild(QTreeView, "treeView")
    if details is not None:  # the Date Modified column wide enough for a date and time
        details.header().resizeSection(3, 170)
