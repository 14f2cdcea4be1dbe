"""Another process holding SQLite locks on a chat database: a real second Python process, so the locks are the ones
SQLite really meets (shared by the startup and the running-window storage tests)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from pathlib import Path

LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
    """
)


@contextlib.contextmanager
def _held_by_another_process(script: str, path: Path):
    """`script` runs in a second Python process on `path`: it says "locked", then holds on until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)


def lock_held_by_another_process(path: Path):
    """Another process holds an exclusive SQLite lock on `path` until the block ends."""
    return _held_by_another_process(LOCKER, path)


SHM_LOCKER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1] + "-shm", os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 123)  # SQLite's five WAL read-mark locks (bytes 123-127)
    print("locked", flush=True)
    sys.stdin.read()
    """
)


def reads_blocked_by_another_process(path: Path):
    """Another process holds every WAL read lock of `path` (what a hung SQLite program in recovery does): reads
    fail — after SQLite's own ~10 s of retries — with "locking protocol"."""
    return _held_by_another_process(SHM_LOCKER, path)
