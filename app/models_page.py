"""The Models page (◆ `modelManager`): catalogue and local models, downloads with live progress, verify, delete,
import, the hub token, and "Load this model".

Every disk or network call (listing, pull, verify, delete, import, keyring) runs on the page's own `QThreadPool`;
results reach the GUI thread as queued signals through `_Bridge`, so the GUI thread never waits on I/O.
Imports `engine.models` only (no torch, no transformers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.models import (
    AuthRequiredError,
    CatalogueEntry,
    DownloadCancelled,
    InvalidNameError,
    LocalModel,
    PullProgress,
    delete_model,
    import_folder,
    list_local_models,
    load_catalogue,
    parse_model_id,
    pull,
    save_token,
    verify_model,
)
from engine.models.units import human_bytes, human_eta
from engine.paths import demo_model_dir

BUSY_TEXT = {"pull": "Downloading…", "verify": "Verifying…", "delete": "Deleting…"}
BADGE_COLOURS = {"green": "#1b7f3b", "yellow": "#9a6a00", "red": "#b3261e", "grey": "#666666"}
STATUS_TEXT = {
    "ready": "Ready",
    "partial": "Partly downloaded — resume to finish",
    "unverified": "Downloaded, not verified yet",
    "corrupt": "Verification failed",
    "not downloaded": "Not downloaded",
}


def _name(widget: QWidget, name: str, accessible: str | None = None) -> QWidget:
    widget.setObjectName(name)
    widget.setAccessibleName(accessible or name)
    return widget


class _Bridge(QObject):
    """Carries worker-thread results to the GUI thread (queued: the bridge lives in the GUI thread)."""

    progress = Signal(str, object)
    done = Signal(str, str, object)


class _Job(QRunnable):
    """Runs `fn(report)` on the pool; delivers the result, or the exception, as `done(model_id, kind, value)`."""

    def __init__(self, bridge: _Bridge, model_id: str, kind: str, fn: Callable[[Callable], Any]) -> None:
        super().__init__()
        self.bridge, self.model_id, self.kind, self.fn = bridge, model_id, kind, fn

    def _emit(self, signal: Any, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the page was deleted while the job ran

    def run(self) -> None:
        def report(value: Any) -> None:
            self._emit(self.bridge.progress, self.model_id, value)

        try:
            result = self.fn(report)
        except Exception as exc:  # noqa: BLE001 - shown on the page, never raised into Qt
            result = exc
        self._emit(self.bridge.done, self.model_id, self.kind, result)


class ModelRow(QFrame):
    """One model: name, status, progress with speed and ETA, and its actions."""

    def __init__(self, model_id: str, title: str, detail: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _name(self, "modelRow", f"Model {model_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.model_id = model_id
        self.local: LocalModel | None = None
        self.entry: CatalogueEntry | None = None
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel(f"<b>{title}</b> <span style='color:gray'>{model_id}</span>")
        top.addWidget(self.title, 1)
        self.badge = _name(QLabel(), "fitBadge", f"How {model_id} fits the selected GPU")
        self.badge.hide()
        top.addWidget(self.badge)
        self.status = _name(QLabel(), "modelStatus", f"Status of {model_id}")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # problems may quote file names from the hub
        top.addWidget(self.status)
        layout.addLayout(top)
        self.detail = QLabel(detail)
        self.detail.setWordWrap(True)
        layout.addWidget(self.detail)
        self.progress = _name(QProgressBar(), "modelProgress", f"Download progress of {model_id}")
        self.progress.setRange(0, 1000)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.rate = _name(QLabel(), "modelRate", f"Speed and time left for {model_id}")
        self.rate.setTextFormat(Qt.TextFormat.PlainText)
        self.rate.hide()
        layout.addWidget(self.rate)
        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel")
        self.verify_button = QPushButton("Verify")
        self.delete_button = QPushButton("Delete…")
        self.open_button = QPushButton("Open folder")
        self.load_button = QPushButton("Load this model")
        for button, name in ((self.download_button, "downloadButton"), (self.cancel_button, "cancelButton"),
                             (self.verify_button, "verifyButton"), (self.delete_button, "deleteButton"),
                             (self.open_button, "openFolderButton"), (self.load_button, "loadModelButton")):
            _name(button, name, f"{button.text().rstrip('…')} {model_id}")
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.busy: str | None = None
        self.demo_available = False
        self.show_state("not downloaded", [])

    def show_state(self, status: str, problems: list[str]) -> None:
        """Update the status text and which actions make sense; never offers "Load" unless ready."""
        unsupported = self.entry is not None and not self.entry.supported
        embedded = self.entry is not None and self.entry.embedded
        text = "Ships with the app" if embedded else STATUS_TEXT.get(status, status)
        if embedded and not self.demo_available:
            text = "Not in this build"
        if unsupported and status == "not downloaded":
            text = "Not yet supported"
        if problems and status != "ready":
            text += f": {problems[0]}"
        busy = self.busy is not None
        self.status.setText(BUSY_TEXT.get(self.busy or "", text))
        self.state = ("ready" if self.demo_available else "not downloaded") if embedded else status
        on_disk = status != "not downloaded" and not embedded
        self.download_button.setText("Resume" if status == "partial" else "Download")
        can_fetch = status in ("not downloaded", "partial", "corrupt")
        self.download_button.setVisible(not embedded and not busy and can_fetch)
        self.download_button.setEnabled(not busy and not unsupported and not self.model_id.startswith("local/"))
        self.cancel_button.setVisible(busy and self.busy == "pull")
        self.verify_button.setVisible(on_disk)
        self.verify_button.setEnabled(not busy)
        self.delete_button.setVisible(on_disk)
        self.delete_button.setEnabled(not busy)
        self.open_button.setVisible(on_disk or self.state == "ready")
        self.load_button.setVisible(self.state == "ready")
        self.load_button.setEnabled(not busy and self.state == "ready" and (not unsupported or embedded))
        if not busy:
            self.progress.hide()
            self.rate.hide()

    def show_badge(self, colour: str, text: str, detail: str) -> None:
        self.badge.setText(f"<span style='color:{BADGE_COLOURS.get(colour, '#666')}'>● {text}</span>")
        self.badge.setToolTip(detail)
        self.badge.show()

    def show_progress(self, p: PullProgress) -> None:
        frac = p.done / p.total if p.total else 0.0
        self.progress.show()
        self.rate.show()
        self.progress.setValue(int(frac * 1000))
        self.progress.setFormat(f"{frac * 100:.1f}%  {human_bytes(p.done)} of {human_bytes(p.total)}")
        if p.phase == "verifying":
            self.rate.setText(f"Verifying {p.filename}…")
        elif p.phase == "checking":
            self.rate.setText("Asking the hub for the file list…")
        else:
            file_pct = f" {100 * p.file_done / p.file_total:.0f}%" if p.file_total else ""
            self.rate.setText(f"{human_bytes(p.speed_bps)}/s · {human_eta(p.eta_s)} left · {p.filename}{file_pct}"
                              + (f"\n{p.note}" if p.note else ""))


class ModelManagerPage(QWidget):
    """◆ `modelManager`. `load_requested(path)` carries a verified model folder for `EngineModel.from_pretrained`."""

    load_requested = Signal(str)
    progress_changed = Signal(str, object)
    job_finished = Signal(str, str, bool)
    listing_changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, catalogue: list[CatalogueEntry] | None = None) -> None:
        super().__init__(parent)
        _name(self, "modelManager", "Model manager: download, verify, import and delete models")
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(4)
        self._bridge = _Bridge(self)
        self._bridge.progress.connect(self._on_progress)
        self._bridge.done.connect(self._on_done)
        self._cancels: dict[str, threading.Event] = {}
        self.rows: dict[str, ModelRow] = {}
        self.auth_repo: str | None = None

        outer = QVBoxLayout(self)
        head = QHBoxLayout()
        head.addWidget(QLabel("<h2>Models</h2>"))
        head.addStretch(1)
        self.repo_input = _name(QLineEdit(), "repoInput", "Hub repository to download (org/name)")
        self.repo_input.setPlaceholderText("org/name on the Hugging Face hub")
        self.repo_input.setMinimumWidth(320)
        self.repo_input.returnPressed.connect(lambda: self.pull(self.repo_input.text().strip()))
        head.addWidget(self.repo_input)
        pull_button = _name(QPushButton("Download"), "repoDownloadButton", "Download the repository typed")
        pull_button.clicked.connect(lambda: self.pull(self.repo_input.text().strip()))
        head.addWidget(pull_button)
        import_button = _name(QPushButton("Import folder…"), "importButton", "Import a model folder")
        import_button.clicked.connect(self._choose_import)
        head.addWidget(import_button)
        outer.addLayout(head)
        self.message = _name(QLabel(), "modelsMessage", "Models page messages")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # messages quote what was typed
        self.message.setWordWrap(True)
        outer.addWidget(self.message)
        self.token_box = self._build_token_box()
        outer.addWidget(self.token_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        self.rows_layout = QVBoxLayout(body)
        self.rows_layout.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        for entry in catalogue if catalogue is not None else load_catalogue():
            self._row_for(entry.id, entry)
        cancels = self._cancels
        self.destroyed.connect(lambda *_: [event.set() for event in cancels.values()])
        self.refresh()

    # -- building ------------------------------------------------------------------------------------------

    def _build_token_box(self) -> QFrame:
        box = _name(QFrame(), "tokenBox", "Hugging Face access token")
        box.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(box)
        self.token_message = QLabel()
        self.token_message.setWordWrap(True)
        self.token_message.setOpenExternalLinks(True)
        self.token_message.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.token_message)
        line = QHBoxLayout()
        self.token_field = _name(QLineEdit(), "tokenField", "Hugging Face access token")
        self.token_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_field.setPlaceholderText("hf_…")
        self.token_field.returnPressed.connect(self.submit_token)
        line.addWidget(self.token_field, 1)
        save = _name(QPushButton("Save token and retry"), "tokenSaveButton", "Save the token and retry")
        save.clicked.connect(self.submit_token)
        line.addWidget(save)
        layout.addLayout(line)
        box.hide()
        return box

    def _row_for(self, model_id: str, entry: CatalogueEntry | None = None) -> ModelRow:
        key = model_id.lower()
        row = self.rows.get(key)
        if row is None:
            detail = ""
            if entry is not None:
                memory = ", ".join(f"{k} {v:g} GB" for k, v in entry.memory_gb.items())
                size = "included" if entry.embedded else f"{entry.download_size_gb:g} GB download"
                detail = f"{size} · memory {memory} · {entry.licence}"
                if entry.gated:
                    detail += " · gated: accept the licence on the hub"
                if not entry.supported:
                    detail += f"\nNot yet supported: {entry.reason}"
            row = ModelRow(model_id, entry.name if entry else model_id.split("/")[-1], detail)
            row.entry = entry
            if entry is not None:
                row.show_state("not downloaded", [])
            row.download_button.clicked.connect(lambda: self.pull(row.model_id))
            row.cancel_button.clicked.connect(lambda: self.cancel(row.model_id))
            row.verify_button.clicked.connect(lambda: self.verify(row.model_id))
            row.delete_button.clicked.connect(lambda: self.delete(row.model_id))
            row.open_button.clicked.connect(lambda: self.open_folder(row.model_id))
            row.load_button.clicked.connect(lambda: self._load(row))
            self.rows[key] = row
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
        return row

    def row(self, model_id: str) -> ModelRow | None:
        return self.rows.get(model_id.lower())

    # -- actions (all I/O goes to the pool) ----------------------------------------------------------------

    def _start(self, model_id: str, kind: str, fn: Callable[[Callable], Any]) -> None:
        row = self.row(model_id)
        if row is not None:
            row.busy = kind
            row.show_state(row.state, [])
        self._pool.start(_Job(self._bridge, model_id, kind, fn))

    def refresh(self) -> None:
        """Re-read the cache and imported folders (on the pool)."""
        self._pool.start(_Job(self._bridge, "", "list",
                              lambda report: (list_local_models(), (demo_model_dir() / "config.json").is_file())))

    def set_gpu(self, gpu: Any) -> None:
        """Show each catalogue model's fit badge for `gpu` (an `engine.hardware` `GpuInfo`; None = CPU mode)."""
        from engine.hardware.badge import fit_badge

        for row in self.rows.values():
            if row.entry is not None:
                try:
                    badge = fit_badge(row.entry.id, gpu)
                except (KeyError, ValueError, LookupError):
                    continue
                row.show_badge(badge.colour, badge.text, badge.detail)

    def pull(self, repo_id: str) -> None:
        """Download (or resume) `repo_id` (validated as a hub id first); progress shows in its row."""
        try:
            repo_id = str(parse_model_id(repo_id, hub=True))
        except InvalidNameError as error:
            return self.show_message(str(error))
        row = self._row_for(repo_id)
        if row.busy:
            return
        cancel = threading.Event()
        self._cancels[repo_id.lower()] = cancel
        self.show_message("")
        self._start(repo_id, "pull", lambda report: pull(repo_id, cancel=cancel, on_progress=report))

    def cancel(self, model_id: str) -> None:
        event = self._cancels.get(model_id.lower())
        if event is not None:
            event.set()

    def verify(self, model_id: str) -> None:
        self._start(model_id, "verify", lambda report: verify_model(
            model_id, on_progress=lambda d, t, n: report(PullProgress(model_id, "verifying", n, 0, 0, d, t))))

    def delete(self, model_id: str) -> None:
        row = self.row(model_id)
        size = row.local.size_bytes if row is not None and row.local is not None else 0
        linked = row is not None and row.local is not None and row.local.path.is_symlink()
        freed = "The linked folder itself is kept." if linked else f"This frees {human_bytes(size)} of disk space."
        if self.confirm("Delete model", f"Delete {model_id} from this computer? {freed}"):
            self._start(model_id, "delete", lambda report: delete_model(model_id))

    def import_folder(self, folder: str | Path, mode: str) -> None:
        """Validate and import `folder` by "copy" or "link" (on the pool)."""
        self._pool.start(_Job(self._bridge, str(folder), "import", lambda report: import_folder(folder, mode=mode)))

    def submit_token(self) -> None:
        """Store the pasted token (keyring, or this session only) and retry the refused download."""
        token = self.token_field.text().strip()
        self.token_field.clear()
        if token:
            self._pool.start(_Job(self._bridge, self.auth_repo or "", "token", lambda report: save_token(token)))

    def open_folder(self, model_id: str) -> None:
        row = self.row(model_id)
        path = row.local.path if row is not None and row.local is not None else demo_model_dir()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def confirm(self, title: str, text: str) -> bool:
        """A yes/no question (tests replace this)."""
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _choose_import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a DiffusionGemma model folder")
        if not folder:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Import model",
                          "Copy the folder into Diffusion Desk, or link to it where it is?", parent=self)
        copy = box.addButton("Copy", QMessageBox.ButtonRole.AcceptRole)
        link = box.addButton("Link", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() in (copy, link):
            self.import_folder(folder, "copy" if box.clickedButton() is copy else "link")

    def _load(self, row: ModelRow) -> None:
        if row.entry is not None and row.entry.embedded:
            self.load_requested.emit(str(demo_model_dir()))
        elif row.local is not None and row.local.loadable:
            self.load_requested.emit(str(row.local.path))

    def show_message(self, text: str) -> None:
        self.message.setText(text)

    # -- results (GUI thread) ------------------------------------------------------------------------------

    def _on_progress(self, model_id: str, value: object) -> None:
        row = self.row(model_id)
        if row is not None and isinstance(value, PullProgress):
            row.show_progress(value)
            self.progress_changed.emit(model_id, value)

    def _on_done(self, model_id: str, kind: str, result: object) -> None:
        ok = not isinstance(result, Exception)
        if kind == "list" and ok:
            self._apply_listing(result)
            return
        row = self.row(model_id)
        if row is not None:
            row.busy = None
        if kind == "token" and ok:
            self.token_box.hide()
            self.show_message(result.note or "Token saved in the system keyring.")
            if model_id:
                self.pull(model_id)
            return
        if isinstance(result, AuthRequiredError):
            self.auth_repo = model_id
            url = f"https://huggingface.co/{model_id}"
            self.token_message.setText(f"{result}<br>Licence page: <a href='{url}'>{url}</a>")
            self.token_box.show()
        elif isinstance(result, DownloadCancelled):
            self.show_message(f"{model_id}: {result}")
        elif not ok:
            self.show_message(f"{model_id}: {result}")
        elif kind == "delete":
            self.show_message(f"Deleted {model_id}; freed {human_bytes(result)}.")
        elif kind == "verify":
            self.show_message(f"{model_id}: all files verified." if result.ok else "; ".join(result.problems))
        elif kind == "import":
            self.show_message(f"Imported {result.id}.")
        elif kind == "pull":
            self.show_message(f"{model_id} is downloaded and verified.")
        self.refresh()
        self.job_finished.emit(model_id, kind, ok)

    def _apply_listing(self, listing: tuple[list[LocalModel], bool]) -> None:
        models, demo_available = listing
        found = {m.id.lower(): m for m in models}
        for key, row in list(self.rows.items()):
            row.local = found.get(key)
            row.demo_available = demo_available
            if row.busy is None:
                status = row.local.status if row.local else "not downloaded"
                row.show_state(status, row.local.problems if row.local else [])
        for model in models:
            if model.id.lower() not in self.rows:
                row = self._row_for(model.id)
                row.local = model
                row.show_state(model.status, model.problems)
        self.listing_changed.emit()

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Cancel running downloads and wait for the workers (call when the window closes)."""
        for event in self._cancels.values():
            event.set()
        self._pool.waitForDone(wait_ms)
