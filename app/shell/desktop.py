"""Assembling the app: store, worker, window, controller and the model picker, wired together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox

from ..chat.controller import ChatController
from ..chat.rewrite import RewriteController
from ..compare.compare_controller import CompareController
from ..models.import_dialogs import choose_model_folder
from ..models.model_sources import (
    TINY_MODEL,
    TINY_TOOLTIP,
    default_model_source,
    demo_model_available,
    demo_model_dir,
    model_label,
)
from ..models.remote_source import REMOTE_LABEL, RemoteDialog, is_remote_source, remember_key, remote_source
from ..server.server_controller import ServerController
from ..store.app_settings import AppSettings, load_settings
from ..store.chats import ChatStore
from ..worker import EngineWorker
from .main_window import MainWindow

OPEN_FOLDER = "__open_folder__"
REMOTE = "__remote__"


@dataclass
class Desktop:
    """Everything one window needs; `close()` stops the worker thread and closes the store."""

    window: MainWindow
    controller: ChatController
    worker: EngineWorker
    store: ChatStore
    server: ServerController | None = None
    compare: CompareController | None = None
    rewrite: RewriteController | None = None

    def close(self) -> None:
        """Stop the server, the worker thread and close the store (the window's close hook)."""
        if self.server is not None:
            self.server.shutdown()
        if self.compare is not None:
            self.compare.shutdown()
        self.controller.shutdown()
        self.worker.shutdown()
        self.store.close()
        reporter = getattr(QApplication.instance(), "crash_reporter", None)
        if reporter is not None and reporter.notice_handler == self.window.show_notice:
            reporter.notice_handler = None


class ModelPicker:
    """◆ modelPicker: the demo model, the tiny random model, folders the user opened, models from the Models page."""

    def __init__(self, combo: QComboBox, controller: ChatController) -> None:
        self.combo, self.controller = combo, controller
        if demo_model_available():
            self.add(str(demo_model_dir()))
        self.add(TINY_MODEL)
        combo.addItem("Open a model folder…", OPEN_FOLDER)
        combo.addItem(REMOTE_LABEL, REMOTE)
        self.remote_dialog: RemoteDialog | None = None
        combo.activated.connect(self._activated)
        controller.model_ready.connect(self._show_loaded)

    def add(self, source: str) -> int:
        """The picker row for `source`, added before "Open a model folder…" when new."""
        index = self.combo.findData(source)
        if index < 0:
            open_index = self.combo.findData(OPEN_FOLDER)
            index = open_index if open_index >= 0 else self.combo.count()
            self.combo.insertItem(index, model_label(source), source)
            tip = TINY_TOOLTIP if source == TINY_MODEL else source
            self.combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        return index

    def load(self, source: str) -> None:
        """Select `source` in the picker and load it in the background."""
        self.combo.setCurrentIndex(self.add(source))
        self.controller.load_model(source)

    def load_at_start(self, source: str) -> None:
        """Load the remembered model when the window opens. A remote server that no longer answers (or refuses the
        kept key) leaves no window without a model: its banner stays and the default model loads instead."""
        self.load(source)
        if not is_remote_source(source):
            return
        worker, controller = self.controller.worker, self.controller

        def finished(*_args: object) -> None:
            worker.error.disconnect(failed)
            controller.model_ready.disconnect(finished)

        def failed(request_id: int, message: str) -> None:
            if request_id != 0:
                return
            finished()
            fallback = default_model_source()
            controller.page.show_banner(f"{message} Loaded {model_label(fallback)} instead; choose the server again "
                                        "in the model list once it answers.")
            self.load(fallback)

        worker.error.connect(failed)
        controller.model_ready.connect(finished)

    def _show_loaded(self, info: object) -> None:
        """The picker shows the model that is loaded — after a failed load too, when the one before stays."""
        source = getattr(info, "source", "")
        if source:
            self.combo.setCurrentIndex(self.add(source))

    def _restore(self) -> None:
        current = self.controller.model.source if self.controller.model else ""
        self.combo.setCurrentIndex(max(0, self.combo.findData(current)))

    def ask_remote(self) -> RemoteDialog:
        """The remote-server dialog (non-blocking); OK keeps the key (keyring) and connects in the background."""
        dialog = self.remote_dialog = RemoteDialog(self.combo.window())
        dialog.accepted.connect(lambda: self._remote_chosen(dialog.url.text(), dialog.key.text()))
        dialog.rejected.connect(self._restore)
        dialog.open()
        return dialog

    def _remote_chosen(self, url: str, key: str) -> None:
        from engine.remote import RemoteError, RemoteModel

        try:
            url = RemoteModel(url).url  # checked and normalised here; nothing is sent yet
        except RemoteError as exc:
            self._restore()
            self.controller.page.show_banner(str(exc))
            return
        remember_key(url, key.strip())
        self.load(remote_source(url))

    def _activated(self, index: int) -> None:
        source = self.combo.itemData(index)
        if source == REMOTE:
            self.ask_remote()
            return
        if source == OPEN_FOLDER:
            self.open_folder()
            return
        self.load(source)

    def open_folder(self) -> None:
        """"Open a model folder…" (the picker's row, File menu, Ctrl+O): the folder dialog, opened at home; the
        chosen folder loads, Cancel puts the picker back on the loaded model."""
        folder = choose_model_folder(self.combo.window(), "Open a DiffusionGemma model folder", "openModelFolderDialog")
        if folder:
            self.load(folder)
        else:
            self._restore()


def create_desktop(
    *,
    store_path: str | Path | None = None,
    settings: AppSettings | None = None,
    model: str | None = None,
    autoload: bool = True,
) -> Desktop:
    """Build the window and its parts. `model` overrides the remembered or default model; `autoload=False`
    leaves loading to the caller (tests hand the worker a prebuilt model with `worker.use_model`)."""
    settings = settings if settings is not None else load_settings()
    store = ChatStore(store_path)
    worker = EngineWorker()
    window = MainWindow()
    controller = ChatController(window, store, worker, settings)
    picker = ModelPicker(window.model_picker, controller)
    window.model_picker_controller = picker
    window.open_model_action.triggered.connect(picker.open_folder)
    load_requested = getattr(window.models_page, "load_requested", None)
    if load_requested is not None:
        load_requested.connect(picker.load)
        load_requested.connect(lambda _path: window.nav.setCurrentRow(0))
    report_changed = getattr(window.gpu_page, "report_changed", None)
    set_hardware = getattr(window.models_page, "set_hardware", None)
    if report_changed is not None and set_hardware is not None:
        report_changed.connect(set_hardware)
        if getattr(window.gpu_page, "report", None) is not None:
            set_hardware(window.gpu_page.report)
    gpu_selected = getattr(window.gpu_page, "gpu_selected", None)
    if gpu_selected is not None:
        gpu_selected.connect(controller.use_gpu)
    server = ServerController(window.server_page, worker, controller)
    rewrite = RewriteController(controller)
    compare = CompareController(window.compare, controller,
                                lambda: window.nav.setCurrentRow(window.pages.indexOf(window.compare)))
    window.compare_action.triggered.connect(compare.open_from_chat)
    desktop = Desktop(window, controller, worker, store, server, compare, rewrite)
    window.close_hooks.append(desktop.close)
    reporter = getattr(QApplication.instance(), "crash_reporter", None)
    if reporter is not None:  # problems the user can act on go to the window's banner, not a crash dialog
        reporter.notice_handler = window.show_notice
    conversations = store.conversations()
    if conversations:
        controller.open_conversation(conversations[0].id)
    window.chat.composer.setFocus()  # typing at start goes into the message box (once the window is active)
    if autoload:
        source = model or settings.model or default_model_source()
        remote = is_remote_source(source)
        if source != TINY_MODEL and not remote and not Path(source).exists() and source.count("/") != 1:
            source = default_model_source()
        picker.load_at_start(source)
    return desktop
