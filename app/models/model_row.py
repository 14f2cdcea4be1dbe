"""One row of the Models page: a model's name, status, fit badge, download progress and actions."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from engine.models import CatalogueEntry, LocalModel, PullProgress
from engine.models.units import human_bytes, human_eta

BUSY_TEXT = {"pull": "Downloading…", "verify": "Verifying…", "delete": "Deleting…"}
BADGE_COLOURS = {"green": "#1b7f3b", "yellow": "#9a6a00", "red": "#b3261e", "grey": "#666666"}
STATUS_TEXT = {
    "ready": "Ready",
    "partial": "Partly downloaded — resume to finish",
    "unverified": "Downloaded, not verified yet",
    "corrupt": "Verification failed",
    "not downloaded": "Not downloaded",
}


def name_widget(widget: QWidget, name: str, accessible: str | None = None) -> QWidget:
    widget.setObjectName(name)
    widget.setAccessibleName(accessible or name)
    return widget


class ModelRow(QFrame):
    """One model: name, status, progress with speed and ETA, and its actions."""

    def __init__(self, model_id: str, title: str, detail: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        name_widget(self, "modelRow", f"Model {model_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.model_id = model_id
        self.local: LocalModel | None = None
        self.entry: CatalogueEntry | None = None
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel(f"<b>{html.escape(title)}</b> <span style='color:gray'>{html.escape(model_id)}</span>")
        self.title.setWordWrap(True)  # a long name and id wrap instead of widening the page past a narrow window
        top.addWidget(self.title, 1)
        self.badge = name_widget(QLabel(), "fitBadge", f"How {model_id} fits the selected GPU")
        self.badge.hide()
        top.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)  # level with the status when the title wraps
        self.status = name_widget(QLabel(), "modelStatus", f"Status of {model_id}")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # problems may quote file names from the hub
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.status)
        layout.addLayout(top)
        self.detail = QLabel(detail)
        self.detail.setWordWrap(True)
        self.detail.setVisible(bool(detail))  # a downloaded or imported model has no catalogue line: no blank gap
        layout.addWidget(self.detail)
        self.progress = name_widget(QProgressBar(), "modelProgress", f"Download progress of {model_id}")
        self.progress.setRange(0, 1000)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.rate = name_widget(QLabel(), "modelRate", f"Speed and time left for {model_id}")
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
            name_widget(button, name, f"{button.text().rstrip('…')} {model_id}")
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
        self._fit_status()
        self.state = ("ready" if self.demo_available else "not downloaded") if embedded else status
        on_disk = status != "not downloaded" and not embedded
        self.download_button.setText("Resume" if status == "partial" else "Download")
        can_fetch = status in ("not downloaded", "partial", "corrupt")
        self.download_button.setVisible(not embedded and not busy and can_fetch)
        self.download_button.setEnabled(not busy and not unsupported and not self.model_id.startswith("local/"))
        self.cancel_button.setVisible(busy and self.busy == "pull")
        self.cancel_button.setEnabled(True)
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

    def show_cancelling(self) -> None:
        """Cancel was pressed: say so at once; the download stops between two pieces of a file."""
        self.status.setText("Cancelling…")
        self._fit_status()
        self.cancel_button.setEnabled(False)

    def _fit_status(self) -> None:
        """The status on one line when it takes less than 45 % of the row, wrapped beyond (it may quote a file)."""
        one_line = self.status.fontMetrics().horizontalAdvance(self.status.text()) + 4
        self.status.setMinimumWidth(min(one_line, int(self.width() * 0.45)))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 — Qt override
        super().resizeEvent(event)
        self._fit_status()

    def show_badge(self, colour: str, text: str, detail: str) -> None:
        """How this model fits the chosen GPU (or the CPU); the detail goes to the tooltip."""
        self.badge.setText(f"<span style='color:{BADGE_COLOURS.get(colour, '#666')}'>● {text}</span>")
        self.badge.setToolTip(detail)
        self.badge.show()

    def show_progress(self, p: PullProgress) -> None:
        """One progress report: a busy bar while the file list is asked for, then bytes, speed and time left."""
        frac = p.done / p.total if p.total else 0.0
        self.progress.show()
        self.rate.show()
        if p.phase == "checking" and not p.total:  # nothing to count yet: a busy bar, not "0 B of 0 B"
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
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


