"""Helpers for engine tests: the reference answer from transformers' own `generate`, trimmed like the engine's."""

from __future__ import annotations

import torch

from engine import EngineModel, SamplerSettings
from engine.bench import trim_like_engine


def reference_ids(em: EngineModel, input_ids: torch.Tensor, settings: SamplerSettings, cache=None) -> list[int]:
    """transformers' `model.generate` after `torch.manual_seed(seed)`: ids up to the first EOS, capped."""
    torch.manual_seed(settings.seed)
    out = em.model.generate(input_ids, cache=cache, **settings.generate_kwargs())
    return trim_like_engine(em, out.sequences[0, input_ids.shape[1] :].tolist(), settings.max_new_tokens)


def prompt(n: int, seed: int = 1, vocab: int = 500) -> torch.Tensor:
    return torch.randint(3, vocab, (1, n), generator=torch.Generator().manual_seed(seed))


def run(em: EngineModel, input_ids: torch.Tensor, settings: SamplerSettings, **kwargs):
    """All events of one engine generation, and the final `Done`."""
    from engine import generate

    events = list(generate(em, input_ids, settings, **kwargs))
    return events, events[-1]
