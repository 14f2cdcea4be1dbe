"""The menu bar: every window action under File, Chat, View and Help, so each one can be found by name and reached
from the keyboard (Alt+letter or F10 — the toolbar's buttons are not on the Tab chain). Help lists every shortcut
and says which version runs and where the app keeps its files."""

from __future__ import annotations

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from .. import app_version

# Keys that belong to one widget (they work where that widget has the keyboard), listed with the window's own.
WIDGET_KEYS = (
    ("Send the message", "Enter (in the message box)"),
    ("New line in the message", "Shift+Enter"),
    ("Rewrite the selected part of an answer", "Ctrl+Shift+R (in the messages)"),
    ("Regenerate with the same or a new seed", "Alt+Down or F4 (on Regenerate)"),
    ("Rename the selected chat", "F2 (in the chat list)"),
    ("Delete the selected chat", "Delete (in the chat list)"),
    ("Step through a canvas's replay", "Left, Right, Home, End (on the canvas)"),
    ("Play or pause the replay", "Space (on the canvas)"),
    ("Previous or next canvas", "Up, Down, Page Up, Page Down (on the canvas)"),
    ("Run the comparison", "Ctrl+Enter (on Compare)"),
)


def build_menu_bar(window: QMainWindow, *, file: list, chat: list, view: list, help_: list) -> None:
    """File, Chat, View and Help with the given actions (None: a separator)."""
    bar = window.menuBar()
    bar.setObjectName("menuBar")
    for title, actions in (("&File", file), ("&Chat", chat), ("&View", view), ("&Help", help_)):
        menu = bar.addMenu(title)
        menu.setObjectName(f"{title.strip('&').lower()}Menu")
        for action in actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(what, keys) for each action that has a shortcut, then the keys of single widgets."""
    rows = []
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            rows.append((action.text().replace("&", "").rstrip("…"), keys))
    return rows + list(WIDGET_KEYS)


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts: one read-only table (non-modal, deleted when closed)."""

    def __init__(self, parent: QMainWindow, rows: list[tuple[str, str]]) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setObjectName("shortcutsTable")
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["What", "Keys"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for row, (what, keys) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(what))
            self.table.setItem(row, 1, QTableWidgetItem(keys))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 520)


def folders_text() -> str:
    """Where chats, settings, logs and models are kept (plain text: these are paths, shown as data)."""
    from engine.paths import AppDirError, app_dir, models_cache_dir

    lines = []
    for label, kind in (("Chats", "data"), ("Settings", "config"), ("Logs", "logs")):
        try:
            lines.append(f"{label}: {app_dir(kind, create=False)}")
        except AppDirError as exc:
            lines.append(f"{label}: {exc}")
    try:
        lines.append(f"Models: {models_cache_dir()}")
    except Exception as exc:  # noqa: BLE001 - an unusable folder is shown, not raised from a Help menu
        lines.append(f"Models: {exc}")
    return "\n".join(lines)


def about_box(parent: QMainWindow) -> QMessageBox:
    """Help → About: the version, Qt's and the folders, with a button that opens the chats folder (non-modal)."""
    box = QMessageBox(parent)
    box.setObjectName("aboutBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowTitle("About Diffusion Desk")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(f"Diffusion Desk {app_version()}")
    box.setInformativeText(
        "Runs DiffusionGemma block-diffusion models on your own machine: each answer is refined from noise into "
        f"text, canvas by canvas.\n\nQt for Python {pyside_version}\n\n{folders_text()}"
    )
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    open_folder = box.addButton("Open chats folder", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    open_folder.clicked.disconnect()  # keep the box open: the folder opens beside it
    open_folder.clicked.connect(lambda: open_data_folder(parent))
    box.open()
    return box


def open_data_folder(window: QMainWindow) -> bool:
    """The chats folder in the file manager; when none opens, the status bar says where it is."""
    from engine.paths import AppDirError, data_dir

    try:
        folder = data_dir()
    except AppDirError as exc:
        window.statusBar().showMessage(str(exc), 20_000)
        return False
    if QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        return True
    window.statusBar().showMessage(f"No file manager could be opened; the chats folder is {folder}", 20_000)
    return False
