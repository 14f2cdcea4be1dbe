"""Helpers for app tests: open the real window around a model, ask a question through the composer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from app.shell.desktop import Desktop, create_desktop
from app.store.app_settings import AppSettings

TEST_CANVAS = 64


class OpenedUrls(QObject):
    """Stands in for the desktop's browser and file manager: Qt calls it instead of launching anything."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


@contextmanager
def opened_urls(*schemes: str) -> Iterator[OpenedUrls]:
    """URLs of these schemes the app asks the desktop to open are recorded (QDesktopServices.setUrlHandler, Qt's
    own hook) while the block runs."""
    handler = OpenedUrls()
    for scheme in schemes:
        QDesktopServices.setUrlHandler(scheme, handler, "open")
    try:
        yield handler
    finally:
        for scheme in schemes:
            QDesktopServices.unsetUrlHandler(scheme)


def open_desktop(qtbot, em, store_path, *, max_new_tokens: int = 2 * TEST_CANVAS, steps: int = 3) -> Desktop:
    """The real window with `em` loaded and small sampler settings."""
    desktop = create_desktop(store_path=store_path, settings=AppSettings(), autoload=False)
    with qtbot.waitSignal(desktop.controller.model_ready, timeout=60_000):
        desktop.worker.use_model(em, "tiny-test")
    desktop.controller.sampler = desktop.controller.sampler.with_(
        max_new_tokens=max_new_tokens, max_denoising_steps=steps
    )
    seeds = iter(range(1000, 2000))
    desktop.controller.new_seed = lambda: next(seeds)
    desktop.window.show()
    return desktop


def ask(qtbot, desktop: Desktop, text: str, timeout: int = 60_000) -> int:
    """Type `text` into the composer, press Enter, wait for the stored answer; returns its message id."""
    from PySide6.QtCore import Qt

    composer = desktop.window.findChild(type(desktop.window.chat.composer), "composer")
    composer.setPlainText(text)
    with qtbot.waitSignal(desktop.controller.answer_finished, timeout=timeout) as blocker:
        qtbot.keyClick(composer, Qt.Key.Key_Return)
    return blocker.args[0]


def anchors(view) -> list[tuple[str, str]]:
    """(text, href) of every link in a text view's document, in order — what a click can actually reach."""
    found: list[tuple[str, str]] = []
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fmt.isAnchor() and fmt.anchorHref():  # labels as read: no-break spaces are spaces
                found.append((fragment.text().replace("\xa0", " "), fmt.anchorHref()))
            it += 1
        block = block.next()
    return found


def click_link(view, href: str) -> None:
    """Click a link as the view sees it: its `anchorClicked` signal with an href found in its document."""
    from PySide6.QtCore import QUrl

    assert href in [h for _t, h in anchors(view)], f"{href!r} is not a link in the view"
    view.anchorClicked.emit(QUrl(href))


def close_startup_dialog_when_shown(shown: list[str], timeout_ms: int = 20_000) -> None:
    """From a QTimer: wait for the real "cannot start" QMessageBox, record its text in `shown`, close it."""
    import time

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    deadline = time.monotonic() + timeout_ms / 1000

    def poll() -> None:
        box = next((w for w in QApplication.topLevelWidgets()
                    if isinstance(w, QMessageBox) and w.objectName() == "startupErrorDialog" and w.isVisible()), None)
        if box is not None:
            shown.append(box.text())
            box.accept()
        elif time.monotonic() < deadline:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
