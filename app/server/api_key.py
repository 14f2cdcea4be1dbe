"""The server's API key: kept only in the OS keyring (service "Diffusion Desk", username "api-key").

Keyring calls can block (a locked wallet asks for a password, D-Bus may be slow), so `ApiKeyStore` runs them on a
short-lived thread and reports with signals. With no keyring backend the key lives in memory for this session.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..common.keyring_entry import read_entry, write_entry

USERNAME = "api-key"


def read_key() -> str:
    """The stored key ("" when none or no keyring); blocks on the keyring."""
    return read_entry(USERNAME)


def write_key(key: str) -> str:
    """Store `key` ("" deletes it); returns "" when it is in the keyring, else why it is kept for the session only."""
    return write_entry(USERNAME, key)


def new_key() -> str:
    """A fresh random key (URL-safe, 32 bytes of entropy)."""
    return "dd-" + secrets.token_urlsafe(32)


def _emit(signal: Any, value: object) -> bool:
    """Emit from a background thread; False when the window (and this store with it) closed meanwhile."""
    try:
        signal.emit(value)
    except RuntimeError:  # "Signal source has been deleted"
        return False
    return True


class ApiKeyStore(QObject):
    """Reads and writes the key off the GUI thread; `key` is the last value read or saved."""

    loaded = Signal(str)  # the key ("" when none)
    keyring_checked = Signal(bool)  # whether a system keyring is there to keep a saved key
    saved = Signal(str)  # "" or a note (session only, keyring refused)
    _read_done = Signal(str)  # from the reading thread; `_loaded` runs on the GUI thread (queued)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = ""
        self._read_done.connect(self._loaded)

    def load(self) -> None:
        """Read the key in the background; `keyring_checked` and `loaded` follow."""
        threading.Thread(target=self._read, name="api-key-read", daemon=True).start()

    def _read(self) -> None:
        from engine.models.tokens import keyring_available

        # Finding the backend can block on D-Bus: not on the GUI thread.
        if _emit(self.keyring_checked, keyring_available()):
            _emit(self._read_done, read_key())

    def save(self, key: str) -> None:
        """Keep `key` now and store it in the background; `saved` follows."""
        self.key = key.strip()
        threading.Thread(target=lambda k=self.key: _emit(self.saved, write_key(k)), name="api-key-write",
                         daemon=True).start()

    def _loaded(self, key: str) -> None:
        if not self.key:  # a key typed while the keyring was answering wins
            self.key = key
        self.loaded.emit(self.key)
