"""serverPanel: the Server switch — serve the loaded model over an OpenAI-compatible API on this machine.

Layout and display only: the switch, the port, the URL, the API key (kept in the OS keyring by `ApiKeyStore`),
copyable curl and openai-python examples and the request log. `ServerController` does the serving.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.serve import DEFAULT_PORT

from ..common.widgets import named
from .api_key import new_key
from .examples import GENERAL_PROMPT, KEY_VARIABLE, curl_example, python_example

LOG_COLUMNS = ("Time", "Request", "State", "Prompt", "Answer", "Steps", "Seconds", "Result")
MAX_ROWS = 256




def _code_box(object_name: str) -> QPlainTextEdit:
    box = named(QPlainTextEdit(), object_name)
    box.setReadOnly(True)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    box.setMaximumHeight(150)
    return box


def _row_values(record: Any) -> tuple[str, ...]:
    """One log row's cells; a request refused before queueing ("rejected") has no steps, only its status and why."""
    ended = record.state in ("finished", "rejected")
    return (time.strftime("%H:%M:%S", time.localtime(record.created)), record.id, record.state,
            str(record.prompt_tokens or ""), str(record.completion_tokens or ""),
            "" if record.state == "rejected" else str(record.steps), f"{record.seconds:.2f}" if record.seconds else "",
            result_text(record) if ended else "")


def result_text(record: Any) -> str:
    """What the log says about a finished request: its error, or why it ended."""
    if record.error:
        return record.error.splitlines()[0][:200]
    return {"eos": "answered", "length": "max tokens", "stop": "stop string", "cancelled": "cancelled",
            "rejected": "busy (429)"}.get(record.reason, record.reason)


class ServerPanel(QWidget):
    """The Server page. `switch_toggled(on)` and `key_save_requested(key)` go to the controller; it calls
    `show_state`, `show_key`, `show_key_note`, `log_request` and `refresh_log` back."""

    switch_toggled = Signal(bool)
    key_save_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "serverPanel")
        self._records: list[Any] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        title = QLabel("<h2>Server</h2>")
        layout.addWidget(title)
        intro = QLabel("Serve the loaded model to editors, scripts and agents on this machine through an "
                       "OpenAI-compatible API. Server requests share the model with this window: they wait for an "
                       "answer in progress, and show on the Chat page's canvas while they are generated.")
        intro.setWordWrap(True)
        layout.addWidget(intro)

        grid = QGridLayout()
        self.switch = named(QCheckBox("Serve the loaded model"), "serverSwitch",
                            tip="Start or stop the OpenAI-compatible server (this machine only)")
        self.switch.toggled.connect(self.switch_toggled)
        grid.addWidget(self.switch, 0, 0)
        self.status = named(QLabel("Off"), "serverStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # engine messages are data
        self.status.setWordWrap(True)
        grid.addWidget(self.status, 0, 1, 1, 3)
        grid.addWidget(QLabel("Port"), 1, 0)
        self.port = named(QSpinBox(), "serverPort", tip="0 picks any free port")
        self.port.setRange(0, 65535)
        self.port.setValue(DEFAULT_PORT)
        grid.addWidget(self.port, 1, 1)
        grid.addWidget(QLabel("URL"), 2, 0)
        self.url = named(QLineEdit(), "serverUrl", tip="The OpenAI base URL to give a client")
        self.url.setReadOnly(True)
        self.url.setPlaceholderText("Turn the server on to get its address")
        grid.addWidget(self.url, 2, 1, 1, 2)
        self.copy_url = named(QPushButton("Copy"), "copyUrlButton")
        self.copy_url.clicked.connect(lambda: self._copy(self.url.text()))
        grid.addWidget(self.copy_url, 2, 3)

        grid.addWidget(QLabel("API key"), 3, 0)
        self.key = named(QLineEdit(), "serverApiKey", tip="Optional: clients must send 'Authorization: Bearer <key>'")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("None: any program on this machine may use the server")
        grid.addWidget(self.key, 3, 1, 1, 2)
        keys = QHBoxLayout()
        self.show_key_box = named(QCheckBox("Show"), "showApiKey")
        self.show_key_box.toggled.connect(lambda on: self.key.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        self.new_key = named(QPushButton("New key"), "newApiKeyButton", tip="Make a random key (then Save)")
        self.save_key = named(QPushButton("Save key"), "saveApiKeyButton",
                              tip="Keep the key in the system keyring; a running server requires it at once")
        self.new_key.clicked.connect(lambda: (self.key.setText(new_key()), self.show_key_box.setChecked(True)))
        self.save_key.clicked.connect(lambda: self.key_save_requested.emit(self.key.text().strip()))
        for widget in (self.show_key_box, self.new_key, self.save_key):
            keys.addWidget(widget)
        grid.addLayout(keys, 3, 3)
        self.key_note = named(QLabel(f"Save key keeps the key in the system keyring. Clients read it from "
                                     f"${KEY_VARIABLE} in the examples below."), "apiKeyNote")
        self.key_note.setWordWrap(True)
        self.key_note.setTextFormat(Qt.TextFormat.PlainText)
        grid.addWidget(self.key_note, 4, 1, 1, 3)
        grid.setColumnStretch(2, 1)
        layout.addLayout(grid)

        examples = QGridLayout()
        self.curl = _code_box("curlExample")
        self.python = _code_box("pythonExample")
        for column, (label, box, button_name) in enumerate(
                (("curl", self.curl, "copyCurlButton"), ("Python (openai)", self.python, "copyPythonButton"))):
            head = QHBoxLayout()
            head.addWidget(QLabel(f"<b>{label}</b>"))
            head.addStretch(1)
            copy = named(QPushButton("Copy"), button_name)
            copy.clicked.connect(lambda _c=False, b=box: self._copy(b.toPlainText()))
            head.addWidget(copy)
            examples.addLayout(head, 0, column)
            examples.addWidget(box, 1, column)
        layout.addLayout(examples)

        layout.addWidget(QLabel("<b>Requests</b>"))
        self.log = named(QTableWidget(0, len(LOG_COLUMNS)), "serverRequestLog", tip="Recent requests, newest first")
        self.log.setHorizontalHeaderLabels(list(LOG_COLUMNS))
        self.log.verticalHeader().setVisible(False)
        self.log.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.log.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.log.horizontalHeader().setSectionResizeMode(len(LOG_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.log.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.log, 1)
        self.show_examples(f"http://127.0.0.1:{DEFAULT_PORT}/v1", "diffusion-gemma", False)

    # -- what the controller calls --------------------------------------------------------------------------------
    def show_state(self, state: str, url: str = "", message: str = "") -> None:
        """"off", "starting", "on" or "stopping", with the URL when on and a message (why it stopped, …)."""
        words = {"off": "Off", "starting": "Starting… (waits for an answer in progress)", "on": "Serving",
                 "stopping": "Stopping…"}
        self.status.setText(message or words.get(state, state))
        self.url.setText(url if state == "on" else "")
        self.port.setEnabled(state == "off")
        self.switch.blockSignals(True)
        self.switch.setChecked(state in ("starting", "on"))
        self.switch.blockSignals(False)
        self.switch.setEnabled(state in ("off", "on"))

    def show_examples(self, url: str, model_id: str, has_key: bool, prompt: str = GENERAL_PROMPT) -> None:
        """Fill the curl and openai-python examples: they ask `model_id` at `url` the question `prompt`."""
        self.curl.setPlainText(curl_example(url, model_id, has_key, prompt))
        self.python.setPlainText(python_example(url, model_id, has_key, prompt))

    def show_key(self, key: str) -> None:
        """The key read from the keyring (unless the user already typed one)."""
        if not self.key.text():
            self.key.setText(key)

    def show_keyring(self, available: bool) -> None:
        """Say where a saved key goes, once the keyring backend is known (found off the GUI thread)."""
        where = ("The key is kept in the system keyring." if available else
                 "No system keyring is available: a saved key is kept for this session only.")
        self.key_note.setText(f"{where} Clients read it from ${KEY_VARIABLE} in the examples below.")

    def show_key_note(self, note: str, saved: bool = True) -> None:
        """After Save key: where the key is kept (or that it was removed), or why it is kept for this session only."""
        if not note:
            note = ("Saved in the system keyring; clients must send it from now on." if saved else
                    "Removed from the system keyring; clients need no key now.")
        self.key_note.setText(note)

    def log_request(self, record: Any) -> None:
        """A new request: a row at the top of the log."""
        self._records.insert(0, record)
        del self._records[MAX_ROWS:]
        self.log.insertRow(0)
        if self.log.rowCount() > MAX_ROWS:
            self.log.removeRow(self.log.rowCount() - 1)
        self._fill(0, record)

    def refresh_log(self) -> None:
        """Bring every row up to date with its record (state, tokens, steps, result)."""
        for row, record in enumerate(self._records):
            self._fill(row, record)

    def _fill(self, row: int, record: Any) -> None:
        for column, value in enumerate(_row_values(record)):
            item = self.log.item(row, column)
            if item is None:
                self.log.setItem(row, column, QTableWidgetItem(value))
            elif item.text() != value:
                item.setText(value)

    def _copy(self, text: str) -> None:
        if text:
            QGuiApplication.clipboard().setText(text)
