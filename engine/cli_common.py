"""Model selection shared by the engine's command lines: a path, a cached hub id, `demo` or `tiny`."""

from __future__ import annotations

from .loading import EngineModel
from .paths import demo_model_dir


def load_model_arg(spec: str, *, device: str = "auto") -> EngineModel:
    """`demo` (the embedded model), `tiny` (random, with the demo's tokenizer), or a folder / cached hub id."""
    if spec == "tiny":
        from .tiny import tiny_engine_model

        return tiny_engine_model()
    if spec == "demo":
        return EngineModel.from_pretrained(demo_model_dir(), device=device)
    return EngineModel.from_pretrained(spec, device=device)
