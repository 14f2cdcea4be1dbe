"""Denoising several canvases in one decoder forward: the rows of a batch, each with its own settings and random draws.

Steps are numbered as in `engine.generation` (the reference's numbering). What differs from `generate`:
- every row owns a `torch.Generator` seeded with its seed, drawing in the reference's order (canvas `randint`, then
  per step `multinomial` and the re-noise `randint`) — so a row's ids depend only on its own seed and settings, and
  one row alone on CPU gives `engine.generate`'s ids for the same seed;
- the sampler math after the decoder (temperature, sampling, entropy, accept, re-noise, stopping) runs per row on
  that row's `(1, L, V)` logits, so only the batched decoder/encoder forwards can differ from a run alone;
- a row may hold `fixed` positions (infill): they keep their ids in every step, count as accepted with entropy 0,
  and take no part in the entropy bound, the stability check or the confidence mean.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.models.diffusion_gemma.generation_diffusion_gemma import LinearTemperatureScheduleLogitsProcessor

from ..events import CanvasStart, Frame
from ..generation import _new_cache, _stable
from ..sampling import accept_mask, token_entropy
from ..settings import SamplerSettings


@dataclass
class Row:
    """One sequence of a batch: its settings, random generator and the canvas it is denoising."""

    settings: SamplerSettings
    generator: torch.Generator
    prompt_tokens: int
    fixed: torch.Tensor | None = None  # (1, L) bool: positions kept as `fixed_ids`
    fixed_ids: torch.Tensor | None = None  # (1, L) long
    current: torch.Tensor | None = None
    draft: torch.Tensor | None = None
    history: list[torch.Tensor] = field(default_factory=list)
    steps_done: int = 0
    denoising: bool = False
    temperature: Any = None

    def __post_init__(self) -> None:
        s = self.settings
        self.temperature = LinearTemperatureScheduleLogitsProcessor(
            t_min=float(s.t_min), t_max=float(s.t_max), max_denoising_steps=s.max_denoising_steps
        )


def new_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def start_canvas(row: Row, vocab_size: int, canvas_length: int, device: torch.device) -> None:
    """1.b. A canvas of uniform random ids (the row's first draw of the canvas); fixed positions keep their ids."""
    current = torch.randint(0, vocab_size, (1, canvas_length), generator=row.generator, device=device)
    row.current = _keep_fixed(row, current)
    row.draft = row.current
    row.history = []
    row.steps_done = 0
    row.denoising = True


def canvas_start(row: Row, canvas_index: int) -> CanvasStart:
    return CanvasStart(canvas_index, row.current[0].tolist(), row.settings.max_denoising_steps)


def denoise_row(row: Row, logits: torch.Tensor, embed_dtype: torch.dtype,
                capture: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """1.c.ii–v for one row from its `(1, L, V)` logits, on the device; returns (packed frame data — canvas, draft,
    accepted, entropy, finished — or only the finished flag without `capture`, self-conditioning logits)."""
    s = row.settings
    row.steps_done += 1
    cur_step = s.max_denoising_steps - row.steps_done + 1  # the reference counts remaining steps
    step = torch.tensor(cur_step, device=logits.device, dtype=torch.int32)

    # 1.c.ii. Temperature schedule, then sample candidates (the row's generator) and take the argmax draft.
    logits = row.temperature(None, logits, cur_step=step)
    probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
    vocab = probs.shape[-1]
    candidates = torch.multinomial(probs.view(-1, vocab), num_samples=1, generator=row.generator)
    candidates = candidates.view(row.current.shape)
    draft = _keep_fixed(row, torch.argmax(logits, dim=-1))

    # 1.c.iii. Entropy once (fixed positions: 0, so they never use the bound); accept; re-noise the rest.
    entropy = token_entropy(logits)
    if row.fixed is not None:
        entropy = entropy.masked_fill(row.fixed, 0.0)
    accepted = accept_mask(entropy, s.entropy_bound)
    if row.fixed is not None:
        accepted = accepted | row.fixed
    kept = torch.where(accepted, candidates, row.current)
    noise = torch.randint(0, vocab, kept.shape, generator=row.generator, device=kept.device)
    row.current = _keep_fixed(row, torch.where(accepted, kept, noise))

    # 1.c.iv. Stable (argmax unchanged for `stability_threshold` steps) and confident (mean entropy low; over the
    # re-noised span only when positions are fixed).
    stable = _stable(row.history, draft, s.stability_threshold)
    if row.fixed is None:
        mean_entropy = entropy.mean(dim=-1)
    else:
        free = ~row.fixed
        mean_entropy = entropy.sum(dim=-1) / free.sum(dim=-1).clamp(min=1)
    confident = mean_entropy < s.confidence_threshold
    finished = (stable & confident).reshape(1).float() if stable is not None else torch.zeros(1, device=draft.device)
    row.draft = draft

    packed = torch.cat([row.current[0].float(), draft[0].float(), accepted[0].float(), entropy[0], finished]) \
        if capture else finished
    # 1.c.v. These logits condition the row's next step.
    return packed, logits.to(embed_dtype)


def finish_row(row: Row, data: list[float], canvas_index: int, elapsed: float) -> Frame | None:
    """The host side of a row's step (`data`: its packed values): its frame, and whether it stops here."""
    s = row.settings
    frame = None
    if len(data) > 1:
        n = (len(data) - 1) // 4
        frame = Frame(canvas_index=canvas_index, step=row.steps_done, max_steps=s.max_denoising_steps,
                      canvas=[int(v) for v in data[:n]], draft=[int(v) for v in data[n:2 * n]],
                      accepted=[v > 0.5 for v in data[2 * n:3 * n]], entropy=data[3 * n:4 * n], elapsed_s=elapsed)
    if data[-1] > 0.5 or row.steps_done >= s.max_denoising_steps:
        row.denoising = False
    return frame


def _keep_fixed(row: Row, ids: torch.Tensor) -> torch.Tensor:
    return ids if row.fixed is None else torch.where(row.fixed, row.fixed_ids, ids)


class BatchCache:
    """The encoder cache of a batch of left-padded prompts, and the masks/positions the decoder needs.

    Row i holds `pad × (N − nᵢ)`, its prompt, then its canvases; its positions count its own tokens only, so a row
    sees exactly what it would see alone (padded keys are masked out).
    """

    def __init__(self, em: Any, prompts: list[list[int]], pad_id: int) -> None:
        self.em = em
        self.model = em.model
        self.device = em.device
        self.canvas_length = em.canvas_length
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.bool)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = True
        self.lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long, device=self.device)
        self.attention_mask = mask.to(self.device)
        self.cache = _new_cache(self.model)
        positions = (self.attention_mask.long().cumsum(-1) - 1).masked_fill(~self.attention_mask, 1)
        self._encode(ids.to(self.device), positions.to(torch.int32))
        self.canvases = 0  # canvases encoded after the prompt

    def decoder_inputs(self, current: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """The decoder's attention masks and positions for the canvas after everything encoded so far."""
        L = self.canvas_length
        decoder_mask = torch.nn.functional.pad(self.attention_mask, (0, L), value=True)
        masks = self.model.model.decoder.create_diffusion_decoder_attention_mask(
            config=self.model.config, inputs_embeds=current.unsqueeze(-1), cache=self.cache,
            decoder_attention_mask=decoder_mask,
        )
        return masks, self._canvas_positions()

    def append_canvases(self, canvases: torch.Tensor) -> None:
        """1.a/1.f. Encode each row's committed canvas `(B, L)` after its prefix."""
        positions = self._canvas_positions()
        self.attention_mask = torch.nn.functional.pad(self.attention_mask, (0, self.canvas_length), value=True)
        self._encode(canvases, positions)
        self.canvases += 1

    def keep_rows(self, rows: list[int]) -> None:
        """Drop the other rows (finished variants) from the cache, masks and positions."""
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.cache.batch_select_indices(index)
        self.attention_mask = self.attention_mask[index]
        self.lengths = self.lengths[index]

    def _canvas_positions(self) -> torch.Tensor:
        start = self.lengths + self.canvases * self.canvas_length
        return (start[:, None] + torch.arange(self.canvas_length, device=self.device)[None, :]).to(torch.int32)

    def _encode(self, ids: torch.Tensor, positions: torch.Tensor) -> None:
        model = self.model
        ids = ids.clone(memory_format=torch.contiguous_format)
        dummy = torch.empty((ids.shape[0], ids.shape[1], 0), dtype=model.dtype, device=ids.device)
        masks = model.model.encoder.create_masks_for_generate(
            config=model.config, inputs_embeds=dummy, attention_mask=self.attention_mask, cache=self.cache,
            position_ids=positions, mm_token_type_ids=None,
        )
        out = model.model.encoder(input_ids=ids, attention_mask=masks, cache=self.cache, position_ids=positions)
        self.cache = out.cache


def denoise_together(em: Any, batch: BatchCache, rows: list[Row], canvas_index: list[int], *, capture: bool,
                     start: float, forwards: list[int]) -> Iterator[tuple[int, Frame | None]]:
    """1.c. Denoise one canvas of every row together: one decoder forward per step for the whole batch; a row that
    has stopped keeps its canvas (its logits are computed and dropped) until every row has stopped.

    Yields (row index, frame) after each row's step; `forwards[i]` counts the steps row i used.
    """
    model = em.model
    embed_dtype = model.model.decoder.embed_tokens.weight.dtype
    current = torch.cat([r.current for r in rows])
    masks, positions = batch.decoder_inputs(current)
    self_conditioning: torch.Tensor | None = None
    while any(r.denoising for r in rows):
        current = torch.cat([r.current for r in rows])
        logits = model(
            decoder_input_ids=current, self_conditioning_logits=self_conditioning, decoder_attention_mask=masks,
            cache=batch.cache, decoder_position_ids=positions,
        ).logits
        pieces, stepped = [], []
        for i, row in enumerate(rows):
            if not row.denoising:  # stopped: keeps its canvas and its last logits
                pieces.append(self_conditioning[i:i + 1])
                continue
            forwards[i] += 1
            packed, conditioning = denoise_row(row, logits[i:i + 1], embed_dtype, capture)
            pieces.append(conditioning)
            stepped.append((i, packed))
        self_conditioning = torch.cat(pieces)
        host = torch.stack([p for _, p in stepped]).cpu().tolist()  # one device-to-host copy per step
        elapsed = time.perf_counter() - start
        for (i, _), data in zip(stepped, host):
            yield i, finish_row(rows[i], data, canvas_index[i], elapsed)
