"""One window per user: a second `diffusion-desk` brings the running window to the front and exits.

The first launch takes a `QLockFile` under `<cache>` (a crashed owner's stale lock is taken over) and listens
on a `QLocalServer`; a later launch finds the lock held, connects with a `QLocalSocket`, sends "activate" and
exits. The names derive from the config folder, so portable installs (`DIFFUSION_DESK_HOME`) and tests are
separate instances.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
CONNECT_TIMEOUT_MS = 1000
READ_TIMEOUT_MS = 250
RETRY_FOR_S = 5.0


def instance_key() -> str:
    """The server name for this user and app-data root."""
    from engine.paths import config_dir

    digest = hashlib.sha1(str(config_dir().resolve()).encode("utf-8")).hexdigest()[:16]
    return f"diffusion-desk-{digest}"


def lock_path() -> Path:
    """`<cache>/instance.lock`."""
    from engine.paths import cache_dir

    return cache_dir() / "instance.lock"


class SingleInstance(QObject):
    """`claim()` → True for the first instance (it then emits `activated` for each later launch)."""

    activated = Signal()

    def __init__(self, key: str | None = None, lock_file: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key or instance_key()
        self._lock = QLockFile(str(lock_file or lock_path()))
        self._lock.setStaleLockTime(0)  # only a dead owner's lock is stale, however old
        self._server: QLocalServer | None = None

    def claim(self) -> bool:
        """Become the running instance, or (when one runs) ask it to come to the front and return False."""
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            if self._lock.tryLock(0):
                self._listen()
                return True
            if self._notify_running():
                return False
            if self._lock.error() != QLockFile.LockError.LockFailedError:  # no lock file can exist (a read-only
                # or missing cache folder): no other launch can hold it either, so waiting for one is pointless
                log.warning("cannot create %s (%s); starting without the one-window lock", self._lock.fileName(),
                            self._lock.error().name)
                self._listen()
                return True
            if time.monotonic() > deadline:  # a live owner that never answers: run anyway rather than not at all
                log.warning("another instance holds %s but does not answer; starting anyway", self._lock.fileName())
                self._listen()
                return True
            time.sleep(0.1)  # the owner is still starting its server

    def release(self) -> None:
        """Stop listening and give the lock back (the window closed)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()

    def _listen(self) -> None:
        QLocalServer.removeServer(self.key)  # a socket file left by a crashed owner
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            log.warning("single-instance server %s: %s", self.key, server.errorString())
            return
        server.newConnection.connect(self._accept)
        self._server = server

    def _accept(self) -> None:
        # The client writes its one line right after connecting, so a short wait here is enough (local socket).
        while self._server is not None and self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            if socket.bytesAvailable() or socket.waitForReadyRead(READ_TIMEOUT_MS):
                if ACTIVATE.strip() in bytes(socket.readAll().data()):
                    self.activated.emit()
            socket.abort()
            socket.deleteLater()

    def _notify_running(self) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.key)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        socket.write(ACTIVATE)
        socket.flush()
        socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        return True


def bring_to_front(window: QWidget) -> None:
    """Show, un-minimise, raise and activate `window`."""
    log.info("another launch asked for the window: bringing it to the front")
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()
