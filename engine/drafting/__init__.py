"""Drafting workbench, engine half: compare variants denoised as one batch (`generate_variants`) and rewrite a span
of an answer in place (`infill`). Rules and what holds exactly: the docstrings of variants.py and infill.py.

Torch loads on first use of `infill` / `generate_variants`; `Variant`, `VariantEvent` and `SpanError` are plain.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .spans import SpanError
from .types import Variant, VariantEvent

_LAZY = {"infill": ".infill", "with_instruction": ".infill", "generate_variants": ".variants",
         "MAX_VARIANTS": ".variants"}

__all__ = ["MAX_VARIANTS", "SpanError", "Variant", "VariantEvent", "generate_variants", "infill", "with_instruction"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine.drafting' has no attribute {name!r}")
