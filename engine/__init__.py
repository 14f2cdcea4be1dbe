"""Diffusion Desk's engine: DiffusionGemma block-diffusion generation with per-step frames. Imports no Qt.

◆ Public API (see shared ARCHITECTURE.md): `EngineModel`, `SamplerSettings`, `generate`, `ChatSession`,
`CanvasStart`, `Frame`, `CanvasDone`, `Done`, `EngineError`. Heavy modules (torch, transformers) load on first use, so
`import engine` stays cheap for the GUI process.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import EngineError, ModelLoadError, OutOfMemoryError, PromptTooLongError
from .events import CanvasDone, CanvasStart, Done, Frame, Stats
from .settings import SamplerSettings

_LAZY = {
    "EngineModel": ".loading",
    "generate": ".generation",
    "ChatSession": ".session",
    "set_cpu_threads": ".cpu_threads",
    "default_cpu_threads": ".cpu_threads",
}

__all__ = [
    "CanvasDone",
    "CanvasStart",
    "ChatSession",
    "Done",
    "EngineError",
    "EngineModel",
    "Frame",
    "ModelLoadError",
    "OutOfMemoryError",
    "PromptTooLongError",
    "SamplerSettings",
    "Stats",
    "default_cpu_threads",
    "generate",
    "set_cpu_threads",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
