"""Diffusion Desk's engine: DiffusionGemma block-diffusion generation with per-step frames. Imports no Qt.

◆ Public API (see shared ARCHITECTURE.md): `EngineModel`, `SamplerSettings`, `generate`, `ChatSession`,
`CanvasStart`, `Frame`, `CanvasDone`, `Done`, `EngineError`; drafting: `infill`, `InfillStart`,
`generate_variants`, `Variant`, `VariantEvent`, `SpanError`. Heavy modules (torch, transformers) load on first use, so
`import engine` stays cheap for the GUI process.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import EngineError, ModelLoadError, OutOfMemoryError, PromptTooLongError
from .events import CanvasDone, CanvasStart, Done, Frame, InfillStart, Stats
from .settings import SamplerSettings

_LAZY = {
    "EngineModel": ".loading",
    "generate": ".generation",
    "ChatSession": ".session",
    "set_cpu_threads": ".cpu_threads",
    "default_cpu_threads": ".cpu_threads",
    "infill": ".drafting",
    "generate_variants": ".drafting",
    "Variant": ".drafting",
    "VariantEvent": ".drafting",
    "SpanError": ".drafting",
}

__all__ = [
    "CanvasDone",
    "CanvasStart",
    "ChatSession",
    "Done",
    "EngineError",
    "EngineModel",
    "Frame",
    "InfillStart",
    "ModelLoadError",
    "OutOfMemoryError",
    "PromptTooLongError",
    "SamplerSettings",
    "SpanError",
    "Stats",
    "Variant",
    "VariantEvent",
    "default_cpu_threads",
    "generate",
    "generate_variants",
    "infill",
    "set_cpu_threads",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
