"""`batch4_speedup` for `python -m engine.bench`: 4 variants denoised as one batch vs the same 4 one after another.

Both sides go through `generate_variants` (batched: one call with 4 variants; sequential: 4 calls with one each), in
the same process, same prompt, seeds `seed … seed+3`, same settings (frames on, as the app runs them). One warm-up
of each, then `runs` rounds in alternating order; the medians are compared: ratio = sequential_s / batched_s.
"""

from __future__ import annotations

import statistics
import time
from typing import Any


def batch_speedup(em: Any, ids: Any, settings: Any, *, runs: int, variants: int = 4) -> dict:
    """Median seconds of the batched and the sequential run, their ratio, and whether their tokens agree."""
    from .types import Variant
    from .variants import generate_variants

    prompt = ids[0].tolist()
    batch = [Variant(prompt, settings.with_(seed=(settings.seed or 0) + i)) for i in range(variants)]

    def batched() -> tuple[float, list[list[int]]]:
        start = time.perf_counter()
        done = {e.variant: e.event.token_ids for e in generate_variants(em, batch) if hasattr(e.event, "reason")}
        return _elapsed(em, start), [done[i] for i in range(variants)]

    def sequential() -> tuple[float, list[list[int]]]:
        start = time.perf_counter()
        tokens = [[e.event for e in generate_variants(em, [v])][-1].token_ids for v in batch]
        return _elapsed(em, start), tokens

    batched()
    sequential()
    times: dict[str, list[float]] = {"batched": [], "sequential": []}
    tokens: dict[str, list[list[int]]] = {}
    for i in range(runs):
        order = [("batched", batched), ("sequential", sequential)]
        for name, fn in order if i % 2 == 0 else reversed(order):
            seconds, tokens[name] = fn()
            times[name].append(seconds)
    t_batched, t_sequential = statistics.median(times["batched"]), statistics.median(times["sequential"])
    return {
        f"batch{variants}_speedup": round(t_sequential / t_batched, 3),
        f"batch{variants}_batched_s": round(t_batched, 4),
        f"batch{variants}_sequential_s": round(t_sequential, 4),
        f"batch{variants}_tokens_match": tokens["batched"] == tokens["sequential"],
    }


def _elapsed(em: Any, start: float) -> float:
    import torch

    if em.device.type == "cuda":
        torch.cuda.synchronize(em.device)
    return time.perf_counter() - start
