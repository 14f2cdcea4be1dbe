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

from PySide6.QtCore import Qt, QThreadPool, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.models import (
    AuthRequiredError,
    CatalogueEntry,
    InvalidNameError,
    LocalModel,
    ModelNotFoundError,
    OfflineError,
    PullProgress,
    check_importable,
    delete_model,
    import_folder,
    list_local_models,
    load_catalogue,
    parse_model_id,
    pull,
    save_token,
    verify_model,
)
from engine.models.tokens import token_status
from engine.models.units import human_bytes
from engine.paths import demo_model_dir

from .import_dialogs import ask_import_mode, choose_model_folder
from .model_row import ModelRow
from .model_row import name_widget as _name
from .model_sources import plain_download_text, plain_reason
from .page_jobs import Bridge as _Bridge
from .page_jobs import Job as _Job
from .token_box import TokenBox


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
        self.token_source: str | None = None  # where the token in use comes from ("keyring", "session", "env")
        self._forget: set[str] = set()  # rows to drop once the listing shows them gone (deleted, not on the hub)
        self._reveal: str | None = None  # a row to scroll to once the listing has it (an import)

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
        self.token_box = TokenBox()
        self.token_box.submitted.connect(self.submit_token)
        self.token_field, self.token_message = self.token_box.field, self.token_box.message
        outer.addWidget(self.token_box)
        self.scroll = scroll = QScrollArea()
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
        self.hardware_known = False
        self.machine_gpu: Any = None
        self.refresh()
        self._pool.start(_Job(self._bridge, "", "token-status", lambda report: token_status()))

    # -- building ------------------------------------------------------------------------------------------

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
                    detail += f"\nNot supported yet: {plain_reason(entry.reason)}"
            row = ModelRow(model_id, entry.name if entry else model_id.split("/")[-1], detail)
            if entry is not None and not entry.supported:
                row.detail.setToolTip(entry.reason)
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

    def reveal(self, model_id: str) -> None:
        """Scroll the list to `model_id`'s row once the layout has placed it (a new row is added at the bottom)."""
        def scroll_to() -> None:
            row = self.row(model_id)
            if row is not None:
                self.scroll.ensureWidgetVisible(row, 0, 8)

        QTimer.singleShot(0, scroll_to)

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

    def set_hardware(self, report: Any) -> None:
        """The GPU page's discovery (`engine.hardware` `HardwareReport`): badges for its first usable GPU, or CPU
        mode; a download of a model this machine cannot run then asks first."""
        gpus = list(getattr(report, "gpus", None) or [])
        self.hardware_known = True
        self.machine_gpu = gpus[0] if gpus else None
        self.set_gpu(self.machine_gpu)

    def cannot_run(self, model_id: str) -> str:
        """Why this machine cannot run catalogue model `model_id` ("" when it can, or when that is unknown)."""
        row = self.row(model_id)
        if not self.hardware_known or row is None or row.entry is None or row.entry.embedded:
            return ""
        from engine.hardware.badge import fit_badge

        try:
            badge = fit_badge(row.entry.id, self.machine_gpu)
        except (KeyError, ValueError, LookupError):
            return ""
        if badge.colour != "red":
            return ""
        where = "this computer has no usable GPU" if self.machine_gpu is None else "it does not fit this GPU"
        return (f"{row.entry.name} cannot run here: {where} ({badge.text}). It is a "
                f"{row.entry.download_size_gb:g} GB download. Download it anyway, for another computer?")

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
        warning = self.cannot_run(repo_id)
        if warning and not self.confirm("Download a model this computer cannot run?", warning):
            return self.show_message(f"Did not download {repo_id}.")
        cancel = threading.Event()
        self._cancels[repo_id.lower()] = cancel
        self._forget.discard(repo_id.lower())
        self.show_message("")
        self._start(repo_id, "pull", lambda report: pull(repo_id, cancel=cancel, on_progress=report))
        self.reveal(repo_id)

    def cancel(self, model_id: str) -> None:
        """Stop a download; the row says so at once (the download notices between two pieces of a file)."""
        event = self._cancels.get(model_id.lower())
        if event is not None:
            event.set()
            row = self.row(model_id)
            if row is not None and row.busy == "pull":
                row.show_cancelling()

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

    def submit_token(self, token: str | None = None) -> None:
        """Store the pasted token (keyring, or this session only); a refused download is then retried."""
        if token is None:
            token = self.token_field.text().strip()
            self.token_field.clear()
        if token:
            self._pool.start(_Job(self._bridge, self.auth_repo or "", "token", lambda report: save_token(token)))

    def open_folder(self, model_id: str) -> None:
        row = self.row(model_id)
        path = row.local.path if row is not None and row.local is not None else demo_model_dir()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def confirm(self, title: str, text: str) -> bool:
        """A real yes/no question, No being the default."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        box.setObjectName("modelsConfirmDialog")
        box.setTextFormat(Qt.TextFormat.PlainText)
        yes = box.addButton(QMessageBox.StandardButton.Yes)
        box.setDefaultButton(box.addButton(QMessageBox.StandardButton.No))
        box.exec()
        box.deleteLater()
        return box.clickedButton() is yes

    def _choose_import(self) -> None:
        folder = choose_model_folder(self)
        if folder:
            self.check_import(folder)

    def _ask_import_mode(self, folder: str, size: int) -> None:
        mode = ask_import_mode(self, size)
        if mode is not None:
            self.import_folder(folder, mode)

    def check_import(self, folder: str | Path) -> None:
        """Check `folder` (on the pool: it reads the disk) before asking how to import it; a folder that is not a
        complete model is said so at once, without the question."""
        self.show_message(f"Checking {folder}…")
        self._pool.start(_Job(self._bridge, str(folder), "check-import",
                              lambda report: _folder_size(check_importable(folder))))

    def _load(self, row: ModelRow) -> None:
        if row.entry is not None and row.entry.embedded:
            self.load_requested.emit(str(demo_model_dir()))
        elif row.local is not None and row.local.loadable:
            self.load_requested.emit(str(row.local.path))

    def show_message(self, text: str) -> None:
        """The page's message line (plain text)."""
        self.message.setText(text)

    def show_problem(self, model_id: str, problem: object) -> None:
        """A failed job in one sentence that names this page's buttons; the model id is said once."""
        text = plain_download_text(str(problem))
        if isinstance(problem, OfflineError):
            return self.show_message(f"{text.rstrip('.')} — connect to the internet, then press Download again.")
        self.show_message(text if model_id.lower() in text.lower() else f"{model_id}: {text}")

    # -- results (GUI thread) ------------------------------------------------------------------------------

    def _on_progress(self, model_id: str, value: object) -> None:
        row = self.row(model_id)
        if row is not None and isinstance(value, PullProgress):
            first = not row.progress.isVisible()
            row.show_progress(value)
            if first:  # the row just grew by its progress bar and speed line: keep them in view
                self.reveal(model_id)
            self.progress_changed.emit(model_id, value)

    def _on_done(self, model_id: str, kind: str, result: object) -> None:
        ok = not isinstance(result, Exception)
        if kind == "list" and ok:
            self._apply_listing(result)
            return
        if kind == "token-status":
            if ok:
                self.token_source = result.source
                self.token_box.show_status(result.source, result.note)
            return
        if kind == "check-import":
            if ok:
                self.show_message("")
                self._ask_import_mode(model_id, result)
            else:
                self.show_problem(model_id, result)
            self.job_finished.emit(model_id, kind, ok)
            return
        row = self.row(model_id)
        if row is not None:
            row.busy = None
        if kind == "token":
            if not ok:
                self.token_box.status.setText(str(result))
                return
            self.token_source = result.source
            self.token_box.show_saved(result.note or "Token saved in the system keyring.")
            self.token_box.show_status(result.source, result.note)
            self.show_message(result.note or "Token saved in the system keyring.")
            self.auth_repo = None
            if model_id:
                self.pull(model_id)
            return
        if isinstance(result, AuthRequiredError):
            self.auth_repo = model_id
            self.token_box.show_refusal(model_id, str(result))
            if self.token_source:  # a token was sent and refused: asking for "a token" again would mislead
                self.show_message(f"The hub refused the saved token for {model_id}: check that you accepted its "
                                  "licence with the account the token belongs to, then paste the token again above.")
            else:
                self.show_message(f"{model_id} needs a Hugging Face token: paste it in the box above.")
        elif not ok:
            self.show_problem(model_id, result)
            if isinstance(result, ModelNotFoundError):  # a mistyped name leaves no row behind
                self._forget.add(model_id.lower())
        elif kind == "delete":
            self._forget.add(model_id.lower())
            self.show_message(f"Deleted {model_id}; freed {human_bytes(result)}.")
        elif kind == "verify":
            self.show_message(f"{model_id}: all files verified." if result.ok else "; ".join(result.problems))
        elif kind == "import":
            self._reveal = result.id
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
        for key in [k for k in self._forget if k not in found]:
            row = self.rows.get(key)
            if row is not None and row.entry is None and row.busy is None:
                del self.rows[key]
                self.rows_layout.removeWidget(row)
                row.deleteLater()
            self._forget.discard(key)
        if self._reveal is not None:
            self.reveal(self._reveal)
            self._reveal = None
        self.listing_changed.emit()

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Cancel running downloads and wait for the workers (call when the window closes)."""
        for event in self._cancels.values():
            event.set()
        self._pool.waitForDone(wait_ms)


def _folder_size(folder: Path) -> int:
    """Bytes in the files under `folder` (links not followed); pool thread only."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
