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
def lock_held_by_another_process(path: Path):
    """Another process holds an exclusive SQLite lock on `path` until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)


SHM_LOCKER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1] + "-shm", os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 123)  # SQLite's five WAL read-mark locks (bytes 123-127)
    print("locked", flush=True)
    sys.stdin.read()
    """
)


@contextlib.contextmanager
def reads_blocked_by_another_process(path: Path):
    """Another process holds every WAL read lock of `path` (what a hung SQLite program in recovery does): reads
    fail — after SQLite's own ~10 s of retries — with "locking protocol"."""
    proc = subprocess.Popen([sys.executable, "-c", SHM_LOCKER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
