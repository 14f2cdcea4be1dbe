"""Shared fixtures: portable app dirs per test, tiny random DiffusionGemma models."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def portable_home(tmp_path, monkeypatch):
    """Every test gets its own DIFFUSION_DESK_HOME, so nothing touches the real user dirs."""
    home = tmp_path / "desk-home"
    monkeypatch.setenv("DIFFUSION_DESK_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _delete_windows_the_test_left():
    """After each test, delete the top-level widgets it created (closed windows, dialogs, pages). They were only
    closed, so every test's window stayed alive: ~1,000 tests in, applying the app's theme repolished all of them
    and one startup test took many minutes (CI ran past its limit)."""
    before = _top_levels()
    yield
    left = [widget for pointer, widget in _top_levels().items()
            if pointer not in before and widget.objectName() != "qtooltip_label"]
    for widget in left:
        widget.close()
        widget.deleteLater()
    if left:
        from PySide6.QtCore import QCoreApplication, QEvent

        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def _top_levels() -> dict:
    """The application's top-level widgets by C++ address ({} when no Qt application runs in this process)."""
    if "PySide6.QtWidgets" not in sys.modules:
        return {}
    from PySide6.QtWidgets import QApplication
    from shiboken6 import getCppPointer

    if QApplication.instance() is None:
        return {}
    return {getCppPointer(widget)[0]: widget for widget in QApplication.topLevelWidgets()}


@pytest.fixture(scope="session")
def tiny_em():
    """A tiny random model wrapped as an `EngineModel` (vocab 512, canvas 256, 4 experts top-2)."""
    from engine import EngineModel
    from engine.tiny import tiny_model

    return EngineModel.wrap(tiny_model(seed=0))
