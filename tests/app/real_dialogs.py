"""Real dialogs answered from a QTimer, as a user would: wait for the dialog to show, record it, then act on it
(click a button by its label). Shared by the everyday-path tests."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox


class Shown:
    """What a message box said, kept after it is gone (the app deletes its questions once answered)."""

    def __init__(self, dialog) -> None:
        self._text = dialog.text() if isinstance(dialog, QMessageBox) else ""
        self._informative = dialog.informativeText() if isinstance(dialog, QMessageBox) else ""
        self._name = dialog.objectName()

    def text(self) -> str:
        return self._text

    def informativeText(self) -> str:  # noqa: N802 - QMessageBox's name
        return self._informative

    def objectName(self) -> str:  # noqa: N802 - Qt's name
        return self._name


def answer_dialog(find, act, seen: list, timeout_s: float = 10.0) -> None:
    """From a QTimer: wait for the real dialog `find()` returns, record what it showed in `seen` (a `Shown`), then
    `act(dialog)`."""
    deadline = time.monotonic() + timeout_s

    def poll() -> None:
        dialog = find()
        if dialog is not None and dialog.isVisible():
            seen.append(Shown(dialog))
            act(dialog)
        elif time.monotonic() < deadline:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)


def message_box(object_name: str = ""):
    """A finder for the visible QMessageBox (with that objectName, when given)."""
    def find():
        return next((w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
                     and (not object_name or w.objectName() == object_name)), None)
    return find


def click_button(text: str):
    """An action that clicks the dialog's button labelled `text` (as a user would, with the mouse)."""
    def act(box: QMessageBox) -> None:
        button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
        button.click()
    return act
