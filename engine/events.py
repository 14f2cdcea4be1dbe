"""What `engine.generate` yields: per canvas a `CanvasStart` (its random initial canvas), one `Frame` per denoising
step and a `CanvasDone`; one `Done` last. `engine.drafting.infill` also yields an `InfillStart` per canvas it
re-denoises."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CanvasStart:
    """A canvas before its first denoising step: the uniform random ids the model starts from (step 0)."""

    canvas_index: int
    canvas: list[int]
    max_steps: int


@dataclass(frozen=True)
class InfillStart:
    """`engine.drafting.infill` is about to re-denoise part of a canvas: positions `[token_start, token_end)` of
    canvas `canvas_index`, which hold characters `[char_start, char_end)` of the original answer."""

    canvas_index: int
    token_start: int
    token_end: int
    char_start: int
    char_end: int


@dataclass(frozen=True)
class Frame:
    """One denoising step of one canvas, host-side (plain lists of length canvas_length).

    `canvas` is the noisy canvas the next step sees, `draft` the argmax canvas, `accepted` the sampler's accepted
    mask and `entropy` the per-position entropy of the temperature-scaled distribution.
    """

    canvas_index: int
    step: int
    max_steps: int
    canvas: list[int]
    draft: list[int]
    accepted: list[bool]
    entropy: list[float]
    elapsed_s: float

    @property
    def accepted_count(self) -> int:
        """How many positions the sampler accepted at this step."""
        return sum(self.accepted)


@dataclass(frozen=True)
class CanvasDone:
    """A committed canvas: its ids (trimmed after EOS and to the token budget) and their text."""

    canvas_index: int
    token_ids: list[int]
    text: str
    steps: int = 0


@dataclass(frozen=True)
class Stats:
    tokens: int
    seconds: float
    tokens_per_second: float
    decoder_forwards: int
    tokens_per_forward: float
    ttft_s: float
    canvases: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    seed: int | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Done:
    """The end of a generation. `reason` is "eos", "length" or "cancelled"."""

    token_ids: list[int]
    text: str
    thinking: str
    reason: str
    stats: Stats = field(repr=False)


Event = CanvasStart | Frame | CanvasDone | Done
