"""What the compiled path traces: one encoder chunk and one denoising step, over persistent device buffers.

Both functions take only the model, the `RingKVCache` and `StepBuffers` — tensors whose addresses never change —
so each compiles once (no Python int that varies reaches a graph) and, on CUDA, replays as a CUDA graph. The step
reads and updates its state in place (canvas, draft, self-conditioning logits, stability run, step counter), so
nothing is cloned between steps; its one output is the small packed frame the host copies once per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .sampling import accept_mask, token_entropy
from .static_cache import RingKVCache

# params: t_min, t_max, max_denoising_steps, entropy_bound, confidence_threshold, stability_threshold
PARAM_COUNT = 6


@dataclass
class StepBuffers:
    """The denoising state on the device; allocated once per compiled path (inside `torch.inference_mode`)."""

    canvas: torch.Tensor  # (1, L) the noisy canvas the next step reads
    draft: torch.Tensor  # (1, L) the last argmax draft
    self_conditioning: torch.Tensor  # (1, L, V) the last step's tempered logits, in the embedding dtype
    self_conditioning_on: torch.Tensor  # (1,) bool: False on a canvas' first step
    run: torch.Tensor  # (1,) how many steps in a row the draft has not changed
    step: torch.Tensor  # () steps done on this canvas
    params: torch.Tensor  # (PARAM_COUNT,) float32, set once per answer
    chunk_ids: torch.Tensor  # (1, L) the encoder's input chunk
    chunk_valid: torch.Tensor  # () real tokens in `chunk_ids` (the rest is padding)

    @classmethod
    def allocate(cls, canvas_length: int, vocab_size: int, dtype: torch.dtype, device: torch.device) -> StepBuffers:
        """Zeroed buffers with fixed addresses."""
        def ids() -> torch.Tensor:
            return torch.zeros((1, canvas_length), dtype=torch.long, device=device)

        buffers = cls(
            canvas=ids(), draft=ids(),
            self_conditioning=torch.zeros((1, canvas_length, vocab_size), dtype=dtype, device=device),
            self_conditioning_on=torch.zeros(1, dtype=torch.bool, device=device),
            run=torch.zeros(1, dtype=torch.long, device=device),
            step=torch.zeros((), dtype=torch.long, device=device),
            params=torch.ones(PARAM_COUNT, dtype=torch.float32, device=device),
            chunk_ids=ids(), chunk_valid=torch.zeros((), dtype=torch.long, device=device),
        )
        for tensor in vars(buffers).values():
            torch._dynamo.mark_static_address(tensor)
        return buffers

    def start_canvas(self, initial: torch.Tensor) -> None:
        """1.b: a fresh canvas (the caller draws it, keeping the reference's random order); no self-conditioning."""
        self.canvas.copy_(initial)
        self.draft.copy_(initial)
        self.self_conditioning_on.zero_()
        self.run.zero_()
        self.step.zero_()


def encode_chunk(model: Any, cache: RingKVCache, ids: torch.Tensor, valid: torch.Tensor) -> None:
    """1.a: run the causal encoder over one chunk at the cache's length; advance the length by `valid` tokens."""
    positions = cache.chunk_positions()
    cache.mark_chunk(positions)
    model.model.encoder(input_ids=ids, attention_mask=cache.encoder_masks(positions), cache=cache,
                        position_ids=positions[None])
    cache.length.add_(valid)


def fused_step(model: Any, cache: RingKVCache, buffers: StepBuffers) -> torch.Tensor:
    """1.c: decoder, temperature, Gumbel-max sampling, entropy, accept, re-noise, stop test; state updated in place.

    Returns the packed frame: canvas, draft, accepted, entropy (canvas_length each), then finished (1 or 0).
    """
    t_min, t_max, max_steps, bound, confidence, stability = buffers.params.unbind()
    canvas_length = buffers.canvas.shape[1]
    # The reference's linear schedule counts remaining steps: max_steps on the first step, 1 on the last.
    temperature = t_min + (t_max - t_min) * ((max_steps - buffers.step) / max_steps)
    positions = (cache.length + torch.arange(canvas_length, device=cache.length.device))[None]

    # 1.c.i. The decoder reads the noisy canvas, the prefix cache and the previous step's logits.
    logits = model(
        decoder_input_ids=buffers.canvas, self_conditioning_logits=buffers.self_conditioning,
        self_conditioning_mask=buffers.self_conditioning_on, decoder_attention_mask=cache.decoder_masks(canvas_length),
        cache=cache, decoder_position_ids=positions,
    ).logits
    # 1.c.ii. Tempered logits; Gumbel-max samples softmax(logits) with the kernels' own random numbers.
    logits = logits / temperature
    uniform = torch.rand_like(logits).clamp_(min=1e-20, max=1.0 - 1e-7)
    candidates = torch.argmax(logits - torch.log(-torch.log(uniform)), dim=-1)
    draft = torch.argmax(logits, dim=-1)
    # 1.c.iii. Entropy, the entropy-bound accept, re-noise the rest.
    entropy = token_entropy(logits)
    accepted = accept_mask(entropy, bound)
    new_canvas = torch.where(accepted, candidates, torch.randint_like(buffers.canvas, 0, logits.shape[-1]))
    # 1.c.iv. Stable: the draft unchanged for `stability` steps in a row; confident: mean entropy below the bound.
    same = (draft == buffers.draft).all() & (buffers.step > 0)
    run = torch.where(same, buffers.run + 1, torch.zeros_like(buffers.run))
    finished = (run >= stability) & (entropy.mean(dim=-1) < confidence)
    # 1.c.v. Carry the state to the next step, in place (the decoder above has already read the old values).
    buffers.canvas.copy_(new_canvas)
    buffers.draft.copy_(draft)
    buffers.self_conditioning.copy_(logits.to(buffers.self_conditioning.dtype))
    buffers.self_conditioning_on.fill_(True)
    buffers.run.copy_(run)
    buffers.step.add_(1)
    return torch.cat([new_canvas[0].float(), draft[0].float(), accepted[0].float(), entropy[0], finished.float()])
