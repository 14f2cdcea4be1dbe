"""◆ `generate`: DiffusionGemma block diffusion, step by step, yielding a `Frame` after every denoising step.

The loop follows transformers' `DiffusionGemmaGenerationMixin.generate` (numbered the same way), for batch size 1,
and draws random numbers in the same order — canvas init `randint`, then per step `multinomial` and the re-noise
`randint` — so with a seed on CPU it yields the reference's tokens. What it adds: the sampler's accepted mask, the
noisy canvas and per-position entropy leave the device once per step in one small copy, the entropy is computed
once per step (the reference computes it twice), and the loop can be cancelled between steps.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
    EntropyBoundSampler,
    EntropyBoundSamplerConfig,
    LinearTemperatureScheduleLogitsProcessor,
)

from .cache_state import CacheState
from .events import CanvasDone, CanvasStart, Done, Frame, Stats
from .loading import EngineModel
from .sampling import accept_mask, token_entropy
from .settings import SamplerSettings

log = logging.getLogger(__name__)


@dataclass
class _Canvas:
    """Tensors of the canvas being denoised (step 1.b) and the stopping state (step 1.c.iv)."""

    current: torch.Tensor
    draft: torch.Tensor
    self_conditioning: torch.Tensor | None
    mask_mapping: dict
    history: list[torch.Tensor]


def generate(
    em: EngineModel,
    input_ids: torch.Tensor,
    settings: SamplerSettings,
    *,
    cancel: threading.Event | None = None,
    state: CacheState | None = None,
    capture_frames: bool = True,
) -> Iterator[CanvasStart | Frame | CanvasDone | Done]:
    """Yield per canvas a `CanvasStart` (step 0), a `Frame` per denoising step and a `CanvasDone`; then one `Done`.

    `input_ids` `(1, n)` are the tokens not yet in `state.cache` (all of the prompt without a state). `cancel` is
    checked between steps. `capture_frames=False` skips the per-step host copy (bench: frame overhead).
    """
    settings.validate()
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError("generate takes one sequence: input_ids of shape (1, n)")
    model, device = em.model, em.device
    state = state if state is not None else CacheState()
    input_ids = input_ids.to(device)
    em.check_prompt_fits(len(state.ids) + input_ids.shape[1], settings.max_new_tokens)

    # 0. Input preparation: seed, cache, positions, masks, sampler and temperature schedule.
    seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)
    torch.manual_seed(seed)
    canvas_length = em.canvas_length
    eos = set(em.eos_token_ids)
    fast = _usable_compiled_path(em, state, input_ids.shape[1], settings.max_new_tokens)
    if state.cache is None:
        state.cache, state.ids = (fast.claim(state) if fast else _new_cache(model)), []
    cached_tokens = len(state.ids)
    prompt_tokens = cached_tokens + input_ids.shape[1]
    encoder_positions = torch.arange(cached_tokens, prompt_tokens, dtype=torch.int32, device=device).unsqueeze(0)
    decoder_positions = torch.arange(prompt_tokens, prompt_tokens + canvas_length, dtype=torch.int32,
                                     device=device).unsqueeze(0)
    attention_mask = torch.ones((1, prompt_tokens), dtype=torch.bool, device=device)
    decoder_attention_mask = torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True)
    sampler = EntropyBoundSampler(
        config=EntropyBoundSamplerConfig(entropy_bound=float(settings.entropy_bound)),
        canvas_length=canvas_length,
        vocab_size=em.vocab_size,
        max_denoising_steps=settings.max_denoising_steps,
    )
    temperature = LinearTemperatureScheduleLogitsProcessor(
        t_min=float(settings.t_min), t_max=float(settings.t_max), max_denoising_steps=settings.max_denoising_steps
    )
    embed_dtype = model.model.decoder.embed_tokens.weight.dtype

    start = time.perf_counter()
    first_frame_s: float | None = None
    generated: list[int] = []
    forwards = 0
    reason = "length"
    pending = input_ids
    max_canvases = math.ceil(settings.max_new_tokens / canvas_length)

    # 1. Autoregressive canvas loop.
    with torch.inference_mode():
        if fast:
            fast.begin_answer(settings)
        for canvas_index in range(max_canvases):
            # 1.a. Encode the tokens not yet in the cache (the prompt, then each finished canvas).
            if fast:
                fast.encode(pending, state)
            else:
                _encode(model, model.model.encoder, pending, attention_mask, encoder_positions, state)

            # 1.b. Prepare the denoising loop: a random canvas and the decoder's attention mask.
            canvas = _prepare_canvas(model, sampler, state.cache, decoder_attention_mask, device, fast)
            if capture_frames and not (cancel is not None and cancel.is_set()):  # step 0: the random start
                yield CanvasStart(canvas_index, canvas.current[0].tolist(), settings.max_denoising_steps)

            # 1.c. Denoise: steps S..1 (the reference counts remaining steps).
            steps_done = 0
            for cur_step in reversed(range(1, settings.max_denoising_steps + 1)):
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
                forwards += 1
                steps_done += 1
                if fast:
                    frame_data = fast.step()
                    finished = frame_data[-1] > 0.5
                else:
                    finished, frame_data = _denoising_step(
                        model, canvas, state.cache, decoder_positions, cur_step, sampler, temperature, settings,
                        embed_dtype, capture_frames,
                    )
                elapsed = time.perf_counter() - start
                first_frame_s = elapsed if first_frame_s is None else first_frame_s
                if capture_frames:
                    yield _frame(canvas_index, steps_done, settings.max_denoising_steps, frame_data, elapsed)
                if finished:
                    break
            if reason == "cancelled":
                break

            # 1.d. Commit the final draft of this canvas.
            committed = canvas.draft[0].tolist()

            # 1.e. Stop at the first EOS (kept) and at the token budget; an EOS beyond the budget is cut with the
            # rest, so the answer ended for "length", not "eos".
            budget = settings.max_new_tokens - len(generated)
            eos_at = next((i for i, token in enumerate(committed) if token in eos), None)
            if eos_at is not None and eos_at < budget:
                committed, reason = committed[: eos_at + 1], "eos"
            committed = committed[:budget]
            generated.extend(committed)
            yield CanvasDone(canvas_index, committed, em.decode(committed), steps_done)
            if reason == "eos" or len(generated) >= settings.max_new_tokens:
                break

            # 1.f. Prepare the next canvas: it is encoded next, and the new canvas sits after it.
            pending = canvas.draft
            attention_mask = torch.nn.functional.pad(attention_mask, (0, canvas_length), value=True)
            decoder_attention_mask = torch.nn.functional.pad(decoder_attention_mask, (0, canvas_length), value=True)
            encoder_positions = decoder_positions
            decoder_positions = decoder_positions + canvas_length

    if fast:
        fast.after_first_answer()

    # 2. Done: the answer with any thought span folded out, and stats.
    seconds = time.perf_counter() - start
    text, thinking = em.split_thinking(generated)
    stats = Stats(
        tokens=len(generated),
        seconds=seconds,
        tokens_per_second=len(generated) / seconds if seconds > 0 else 0.0,
        decoder_forwards=forwards,
        tokens_per_forward=len(generated) / forwards if forwards else 0.0,
        ttft_s=first_frame_s if first_frame_s is not None else seconds,
        canvases=canvas_index + 1 if forwards else 0,
        prompt_tokens=prompt_tokens,
        cached_tokens=cached_tokens,
        seed=seed,
    )
    yield Done(generated, text, thinking, reason, stats)


# -- numbered steps -------------------------------------------------------------------------------------------------
def _new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=model.config.get_text_config(decoder=True))


def _usable_compiled_path(em: EngineModel, state: CacheState, new_tokens: int, max_new_tokens: int) -> Any:
    """The model's compiled path when it has one and the whole answer fits its static cache; resets a cache of
    the other kind, or a compiled cache another conversation has claimed since, so a conversation never mixes the
    two or reads another's tokens."""
    fast = getattr(em, "compiled", None)
    needed = len(state.ids) + new_tokens + math.ceil(max_new_tokens / em.canvas_length) * em.canvas_length
    if fast is not None and not fast.fits(needed):
        log.warning("This answer needs %d cached tokens, more than the compiled path's %d: it runs on the eager path.",
                    needed, fast.max_cache_len)
        fast = None
    if state.cache is not None and not owns_cache(state, fast):
        state.cache, state.ids = None, []
    return fast


def owns_cache(state: CacheState, fast: Any) -> bool:
    """Whether `state.cache` is usable as is: the compiled path's cache still claimed by `state` when `fast` is
    given, a dynamic cache otherwise."""
    if fast is None:
        return getattr(state.cache, "owner", None) is None
    return state.cache is fast.cache and fast.cache.owner is state


def _encode(model: Any, encoder: Any, pending: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor,
            state: CacheState) -> None:
    """1.a. Run the causal encoder over `pending`, writing its keys/values into the shared cache."""
    pending = pending.clone(memory_format=torch.contiguous_format)
    dummy_embeds = torch.empty((1, pending.shape[1], 0), dtype=model.dtype, device=pending.device)
    masks = model.model.encoder.create_masks_for_generate(
        config=model.config, inputs_embeds=dummy_embeds, attention_mask=attention_mask, cache=state.cache,
        position_ids=positions, mm_token_type_ids=None,
    )
    out = encoder(input_ids=pending, attention_mask=masks, cache=state.cache, position_ids=positions)
    state.cache = out.cache
    state.ids.extend(pending[0].tolist())


def _prepare_canvas(model: Any, sampler: EntropyBoundSampler, cache: Any, decoder_attention_mask: torch.Tensor,
                    device: torch.device, fast: Any = None) -> _Canvas:
    """1.b. A canvas of uniform random ids (the first random draw of the canvas) and its decoder mask (on the
    compiled path the canvas lives in its step buffers and the cache builds the masks)."""
    current = sampler.initialize_canvas(batch_size=1, device=device)
    if fast:
        fast.start_canvas(current)
        return _Canvas(current=fast.buffers.canvas, draft=fast.buffers.draft, self_conditioning=None, mask_mapping={},
                       history=[])
    mask_mapping = model.model.decoder.create_diffusion_decoder_attention_mask(
        config=model.config, inputs_embeds=current.unsqueeze(-1), cache=cache,
        decoder_attention_mask=decoder_attention_mask,
    )
    return _Canvas(current=current, draft=current, self_conditioning=None, mask_mapping=mask_mapping, history=[])


def _denoising_step(model: Any, canvas: _Canvas, cache: Any, positions: torch.Tensor, cur_step: int,
                    sampler: EntropyBoundSampler, temperature: LinearTemperatureScheduleLogitsProcessor,
                    settings: SamplerSettings, embed_dtype: torch.dtype,
                    capture_frames: bool) -> tuple[bool, list[float] | None]:
    """1.c. One denoising step; updates `canvas` in place and returns (finished, host copy of the frame data)."""
    step = torch.tensor(cur_step, device=canvas.current.device, dtype=torch.int32)

    # 1.c.i. The decoder reads the noisy canvas, the prefix cache and the previous step's logits.
    logits = model(
        decoder_input_ids=canvas.current, self_conditioning_logits=canvas.self_conditioning,
        decoder_attention_mask=canvas.mask_mapping, cache=cache, decoder_position_ids=positions,
    ).logits

    # 1.c.ii. Temperature schedule, then sample candidates and take the argmax draft.
    logits = temperature(None, logits, cur_step=step)
    probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
    vocab = probs.shape[-1]
    candidates = torch.multinomial(probs.view(-1, vocab), num_samples=1).view(canvas.current.shape)
    draft = torch.argmax(logits, dim=-1)

    # 1.c.iii. Entropy once; accept the lowest-entropy set within the bound; re-noise the rest.
    entropy = token_entropy(logits)
    accepted = accept_mask(entropy, settings.entropy_bound)
    sampler.accepted_token_mask = accepted
    kept = torch.where(accepted, candidates, canvas.current)
    canvas.current = sampler.renoise_canvas(kept, step)

    # 1.c.iv. Stable (argmax unchanged for `stability_threshold` steps) and confident (mean entropy low).
    stable = _stable(canvas.history, draft, settings.stability_threshold)
    confident = entropy.mean(dim=-1) < settings.confidence_threshold
    finished_t = (stable & confident).reshape(1).float() if stable is not None else torch.zeros(1, device=draft.device)

    # 1.c.v. These logits condition the next step.
    canvas.self_conditioning = logits.to(embed_dtype)
    canvas.draft = draft

    if not capture_frames:
        return bool(finished_t.item()), None
    packed = torch.cat([canvas.current[0].float(), draft[0].float(), accepted[0].float(), entropy[0], finished_t])
    data = packed.cpu().tolist()
    return data[-1] > 0.5, data


def _stable(history: list[torch.Tensor], draft: torch.Tensor, threshold: int) -> torch.Tensor | None:
    """Whether the draft equals each of the last `threshold` drafts (None until there are that many)."""
    if threshold == 0:
        return torch.ones(1, dtype=torch.bool, device=draft.device)
    stable = None
    if len(history) == threshold:
        stable = torch.stack([(h == draft).all() for h in history]).all().reshape(1)
    history.append(draft)
    del history[:-threshold]
    return stable


def _frame(canvas_index: int, step: int, max_steps: int, data: list[float], elapsed: float) -> Frame:
    n = (len(data) - 1) // 4
    return Frame(
        canvas_index=canvas_index,
        step=step,
        max_steps=max_steps,
        canvas=[int(v) for v in data[:n]],
        draft=[int(v) for v in data[n : 2 * n]],
        accepted=[v > 0.5 for v in data[2 * n : 3 * n]],
        entropy=data[3 * n : 4 * n],
        elapsed_s=elapsed,
    )
