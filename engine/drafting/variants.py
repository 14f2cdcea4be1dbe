"""`generate_variants`: N prompts / seeds / sampler settings denoised as one batch, one decoder forward per step.

Rules (what holds, exactly):
- Canvases advance together: every running variant denoises its canvas k in the same decoder forwards; a variant
  that has stopped (stable and confident, or its own `max_denoising_steps`) keeps its canvas and is masked (its
  logits are dropped) until the last one stops; then each variant commits its canvas (its `CanvasDone` comes as soon
  as it stops) and the ones that need more tokens go on to canvas k+1 together. A variant that ends (its EOS or its
  `max_new_tokens`) gets its `Done` at once and leaves the batch (its rows are dropped from the cache).
- Prompts are left-padded into one cache with attention masks; each variant's positions count its own tokens.
- A variant's random draws come from its own `torch.Generator` seeded with its seed (a variant without a seed gets
  one from the system's random source, reported in `Stats.seed`), in the reference's order, and the sampler runs per
  variant: its ids depend only on its prompt, seed and settings. On CPU in float32 one variant alone gives
  `engine.generate`'s ids for the same seed (the tests check both, and batch == alone, on the tiny and demo models).
  In a batch only the decoder/encoder forwards are shared; their rounding can differ from a run alone in the last
  bit on some hardware/kernels (bf16 GPUs especially), which can change a sampled token — on CPU float32 the tests
  find no such difference.
- No side effects on `em`: the batch has its own cache (the compiled path, if enabled, is not used), and the global
  torch random state is not touched.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..events import CanvasDone, Done, Stats
from ..settings import SamplerSettings
from .rows import BatchCache, Row, canvas_start, denoise_together, new_generator, start_canvas
from .types import Variant, VariantEvent

MAX_VARIANTS = 16


@dataclass
class _Progress:
    generated: list[int]
    forwards: int = 0
    canvases: int = 0
    first_frame_s: float | None = None
    reason: str = "length"


def generate_variants(em, variants: list[Variant], *, capture_frames: bool = True,
                      cancel: threading.Event | None = None) -> Iterator[VariantEvent]:
    """Denoise `variants` together; yield each one's `CanvasStart`, `Frame`s, `CanvasDone`s and `Done`, tagged.

    Events of different variants interleave (per step: one frame per running variant, in variant order). Every
    variant gets exactly one `Done` (reason "eos", "length" or "cancelled"). `cancel` is checked between steps;
    closing the generator stops it too.
    """
    if not variants:
        raise ValueError("generate_variants needs at least one variant")
    if len(variants) > MAX_VARIANTS:
        raise ValueError(f"generate_variants takes at most {MAX_VARIANTS} variants (got {len(variants)})")
    prompts = []
    for i, v in enumerate(variants):
        v.settings.validate()
        ids = [int(t) for t in v.prompt_ids]
        if not ids:
            raise ValueError(f"variant {i} has an empty prompt")
        if min(ids) < 0 or max(ids) >= em.vocab_size:
            raise ValueError(f"variant {i} has token ids outside the model's vocabulary (0–{em.vocab_size - 1})")
        em.check_prompt_fits(len(ids), v.settings.max_new_tokens)
        prompts.append(ids)

    device, L, vocab = em.device, em.canvas_length, em.vocab_size
    eos = set(em.eos_token_ids)
    pad = em.model.generation_config.pad_token_id or 0
    seeds = [v.settings.seed if v.settings.seed is not None else random.SystemRandom().randrange(2**31)
             for v in variants]
    rows = [Row(v.settings, new_generator(seed, device), len(p)) for v, p, seed in zip(variants, prompts, seeds)]
    progress = [_Progress([]) for _ in variants]
    live = list(range(len(variants)))  # variant index of each batch row
    ended: set[int] = set()
    start = time.perf_counter()

    with torch.inference_mode():
        # 1.a. Encode every prompt (left-padded) in one encoder pass.
        batch = BatchCache(em, prompts, pad)
        canvas_index = 0
        while live:
            # 1.b. A random canvas per variant, from its own generator.
            for v in live:
                start_canvas(rows[v], vocab, L, device)
                if capture_frames:
                    yield VariantEvent(v, canvas_start(rows[v], canvas_index))
            # 1.c. Denoise all of them together.
            forwards = [0] * len(live)
            batch_rows = [rows[v] for v in live]
            committed: dict[int, list[int]] = {}
            for i, frame in denoise_together(em, batch, batch_rows, [canvas_index] * len(live),
                                             capture=capture_frames, start=start, forwards=forwards):
                v = live[i]
                p = progress[v]
                p.first_frame_s = p.first_frame_s if p.first_frame_s is not None else time.perf_counter() - start
                if frame is not None:
                    yield VariantEvent(v, frame)
                if not rows[v].denoising and v not in committed:
                    # 1.d/1.e. Commit this variant's canvas as soon as it stops.
                    committed[v] = _commit(rows[v], p, eos)
                    p.forwards += forwards[i]
                    p.canvases += 1
                    yield VariantEvent(v, CanvasDone(canvas_index, committed[v], em.decode(committed[v]),
                                                     rows[v].steps_done))
                    if _finished(p, rows[v].settings):
                        ended.add(v)
                        yield VariantEvent(v, _done(em, p, rows[v], seeds[v], start))
                if cancel is not None and cancel.is_set():
                    break
            if cancel is not None and cancel.is_set():
                for i, v in enumerate(live):
                    if v not in ended:
                        progress[v].reason = "cancelled"
                        progress[v].forwards += 0 if v in committed else forwards[i]
                        yield VariantEvent(v, _done(em, progress[v], rows[v], seeds[v], start))
                return
            # 1.f. The variants that go on encode their canvas; the finished ones leave the batch.
            keep = [i for i, v in enumerate(live) if not _finished(progress[v], rows[v].settings)]
            if not keep:
                break
            if len(keep) < len(live):
                batch.keep_rows(keep)
            batch.append_canvases(torch.cat([rows[live[i]].draft for i in keep]))
            live = [live[i] for i in keep]
            canvas_index += 1


def _commit(row: Row, p: _Progress, eos: set[int]) -> list[int]:
    """1.e. The canvas's draft up to and including the first EOS, within the token budget (an EOS beyond the
    budget is cut with the rest: the variant ended for "length")."""
    committed = row.draft[0].tolist()
    budget = row.settings.max_new_tokens - len(p.generated)
    eos_at = next((i for i, token in enumerate(committed) if token in eos), None)
    if eos_at is not None and eos_at < budget:
        committed, p.reason = committed[: eos_at + 1], "eos"
    committed = committed[:budget]
    p.generated.extend(committed)
    return committed


def _finished(p: _Progress, settings: SamplerSettings) -> bool:
    return p.reason != "length" or len(p.generated) >= settings.max_new_tokens


def _done(em, p: _Progress, row: Row, seed: int, start: float) -> Done:
    seconds = time.perf_counter() - start
    text, thinking = em.split_thinking(p.generated)
    stats = Stats(
        tokens=len(p.generated),
        seconds=seconds,
        tokens_per_second=len(p.generated) / seconds if seconds > 0 else 0.0,
        decoder_forwards=p.forwards,
        tokens_per_forward=len(p.generated) / p.forwards if p.forwards else 0.0,
        ttft_s=p.first_frame_s if p.first_frame_s is not None else seconds,
        canvases=p.canvases,
        prompt_tokens=row.prompt_tokens,
        cached_tokens=0,
        seed=seed,
    )
    return Done(list(p.generated), text, thinking, p.reason, stats)


__all__ = ["MAX_VARIANTS", "Variant", "VariantEvent", "generate_variants"]
