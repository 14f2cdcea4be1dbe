"""Shared fixtures: portable app dirs per test, tiny random DiffusionGemma models."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def portable_home(tmp_path, monkeypatch):
    """Every test gets its own DIFFUSION_DESK_HOME, so nothing touches the real user dirs."""
    home = tmp_path / "desk-home"
    monkeypatch.setenv("DIFFUSION_DESK_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_em():
    """A tiny random model wrapped as an `EngineModel` (vocab 512, canvas 256, 4 experts top-2)."""
    from engine import EngineModel
    from engine.tiny import tiny_model

    return EngineModel.wrap(tiny_model(seed=0))
