"""PySide6 6.12 drops a reference to None on every void call (pyproject pins <6.12); if the installed binding leaks
anyway, importing `app` must have made None immortal on Python ≤ 3.11, or painting would abort the interpreter."""

from __future__ import annotations

import sys

from PySide6.QtGui import QColor

import app  # noqa: F401 - the import installs the guard where the binding needs it


def test_many_void_qt_calls_do_not_kill_none():
    color = QColor(1, 2, 3)
    before = sys.getrefcount(None)
    for _ in range(1000):
        color.setAlphaF(0.5)
    leaks = sys.getrefcount(None) < before - 500
    if leaks and sys.version_info < (3, 12):
        assert sys.getrefcount(None) > 2**59, "this PySide6 leaks None and the guard is not installed"
    for _ in range(200_000):
        color.setAlphaF(0.5)
    assert sys.getrefcount(None) > 0
