"""The drafting API's plain data (no torch): a variant to compare and the events tagged with its index."""

from __future__ import annotations

from dataclasses import dataclass

from ..events import CanvasDone, CanvasStart, Done, Frame
from ..settings import SamplerSettings


@dataclass(frozen=True)
class Variant:
    """One column of a comparison: its prompt ids (`em.chat_ids(messages)[0].tolist()`) and full settings (seed
    included; steps, temperatures and max_new_tokens may differ between variants)."""

    prompt_ids: list[int]
    settings: SamplerSettings


@dataclass(frozen=True)
class VariantEvent:
    """An event of variant `variant` (an index into the list given to `generate_variants`)."""

    variant: int
    event: CanvasStart | Frame | CanvasDone | Done
