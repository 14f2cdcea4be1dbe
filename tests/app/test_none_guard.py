"""PySide6 6.12 drops a reference to None on every void call; importing `app` makes None immortal on ≤ 3.11."""

from __future__ import annotations

import sys

from PySide6.QtGui import QColor

import app  # noqa: F401 - the import installs the guard


def test_many_void_qt_calls_do_not_kill_none():
    color = QColor(1, 2, 3)
    for _ in range(200_000):
        color.setAlphaF(0.5)
    if sys.version_info < (3, 12):
        assert sys.getrefcount(None) > 2**59
