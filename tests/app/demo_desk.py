"""The real window around the embedded demo model, for the drafting workbench tests (Compare, Rewrite selection)."""

from __future__ import annotations

import pytest

from app.models.model_sources import demo_model_available, demo_model_dir
from tests.app.helpers import open_desktop

needs_demo = pytest.mark.skipif(not demo_model_available(), reason="the demo model is not embedded in this checkout")


@pytest.fixture(scope="session")
def demo_em():
    """The demo model on the CPU (character tokenizer: one token per character)."""
    from engine import EngineModel

    return EngineModel.from_pretrained(str(demo_model_dir()), device="cpu")


def open_demo_desktop(qtbot, em, store_path):
    """The real window with the demo model and its own settings (one canvas, its default steps)."""
    desk = open_desktop(qtbot, em, store_path, max_new_tokens=256, steps=24)
    desk.window.resize(1500, 950)
    return desk
