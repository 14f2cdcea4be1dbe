"""The "Remote server (OpenAI-compatible)" model source: another Diffusion Desk, or vLLM serving DiffusionGemma.

A remote source is the picker value `remote:<base url>`. Its key goes to the OS keyring (service "Diffusion Desk",
username "remote-api-key <url>") and is also held for this session, so a load right after the dialog never waits for
the keyring. The worker connects (`engine.remote.RemoteModel`) and streams answers (`generate_remote`) on its own
thread, as the same `Frame`/`CanvasDone`/`Done` events as the local engine: the chat does not branch.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from ..common.keyring_entry import read_entry, write_entry

PREFIX = "remote:"
REMOTE_LABEL = "Remote server (OpenAI-compatible)…"
NO_STEPS_NOTE = ("Per-step frames are not available from this server: it streams one whole canvas at a time "
                 "(vLLM does). The text appears canvas by canvas.")
_lock = threading.Lock()
_session_keys: dict[str, str] = {}


def is_remote_source(source: str) -> bool:
    """Whether a picker value names a remote server."""
    return str(source).startswith(PREFIX)


def remote_source(url: str) -> str:
    """The picker value for the server at `url`."""
    return PREFIX + url.strip()


def remote_url(source: str) -> str:
    """The server address inside a picker value."""
    return source[len(PREFIX):]


def _username(url: str) -> str:
    return f"remote-api-key {url}"


def remember_key(url: str, key: str) -> None:
    """Hold `key` for this session now and store it in the keyring on a background thread ("" forgets it)."""
    with _lock:
        _session_keys[url] = key
    threading.Thread(target=_write_key, args=(url, key), name="remote-key-write", daemon=True).start()


def _write_key(url: str, key: str) -> None:
    write_entry(_username(url), key)  # a refusal is fine: the session copy still works; the key is asked next time


def read_key(url: str) -> str | None:
    """The key for `url`: this session's, else the keyring's. Blocks on the keyring: call it off the GUI thread."""
    with _lock:
        if url in _session_keys:
            return _session_keys[url] or None
    return read_entry(_username(url)) or None


def is_remote_model(em: Any) -> bool:
    """Whether the worker's model is a remote server (`engine.remote.RemoteModel`)."""
    from engine.remote import RemoteModel

    return isinstance(em, RemoteModel)


def remote_defaults() -> dict[str, Any]:
    """The sampler values the window starts from for a remote model (the server's own are not announced)."""
    from engine import SamplerSettings

    return SamplerSettings().as_dict()


def connect_remote(source: str) -> Any:
    """On the worker thread: a connected `RemoteModel` for `source`, or a `RemoteError` that says what to do.
    It sends only the denoising settings the user changed, so the server's model keeps its own defaults
    (DiffusionGemma's temperature schedule and step count differ from the generic ones)."""
    from engine.remote import RemoteModel

    class ChangedOnlyRemote(RemoteModel):
        def request_body(self, messages: list[dict[str, str]], settings: Any, *,
                         enable_thinking: bool = False) -> dict[str, Any]:
            body = super().request_body(messages, settings, enable_thinking=enable_thinking)
            knobs = body.pop("diffusion", None)
            changed = {k: v for k, v in (knobs or {}).items() if defaults.get(k) != v}
            if changed:
                body["diffusion"] = changed
            return body

    defaults = remote_defaults()
    url = remote_url(source)
    return ChangedOnlyRemote(url, api_key=read_key(url)).connect()


def canvas_note(remote: Any) -> str:
    """What the canvas says while an answer from `remote` is generated ("" when per-step frames arrive)."""
    return "" if remote.per_step_frames else NO_STEPS_NOTE


class RemoteDialog(QDialog):
    """Asks for the server's address and key (remoteServerDialog); `chosen(url, key)` after OK."""

    def __init__(self, parent: QWidget | None = None, url: str = "http://127.0.0.1:8000/v1") -> None:
        super().__init__(parent)
        self.setObjectName("remoteServerDialog")
        self.setAccessibleName("remoteServerDialog")
        self.setWindowTitle("Remote server (OpenAI-compatible)")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        intro = QLabel("Answer with a DiffusionGemma model served elsewhere: another Diffusion Desk (its Server page "
                       "or `diffusion-desk serve`) shows every denoising step; vLLM shows whole canvases.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.url = QLineEdit(url)
        self.url.setObjectName("remoteUrl")
        self.url.setAccessibleName("remoteUrl")
        self.key = QLineEdit(self)
        self.key.setObjectName("remoteApiKey")
        self.key.setAccessibleName("remoteApiKey")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("Optional; kept in the system keyring")
        form.addRow("Address", self.url)
        form.addRow("API key", self.key)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                   Qt.Orientation.Horizontal, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
