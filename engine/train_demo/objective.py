"""The block-diffusion training objective for DiffusionGemma, as the model is used at inference.

Clean prompt -> causal encoder -> KV cache; a uniformly re-noised canvas -> bidirectional decoder reading that
cache; cross-entropy on the canvas, weighted toward the answer tokens. Part of the batch is self-conditioned
on the temperature-scaled logits of a first no-grad decoder pass, as `generate` feeds the previous step's
processed logits back in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import TURN_WEIGHTS, augment, chat_turns, earlier_turns, sample
from .tokenizer import EOS_ID, PAD_ID, CharCodec


@dataclass
class Batch:
    """Tensors for one training step (prompts left-padded)."""

    input_ids: torch.Tensor  # (B, P)
    attention_mask: torch.Tensor  # (B, P) bool
    targets: torch.Tensor  # (B, C)
    weights: torch.Tensor  # (B, C) float


def make_batch(
    rng: random.Random,
    codec: CharCodec,
    batch_size: int,
    canvas_len: int | None,
    pad_weight: float = 0.05,
    mix: dict[str, float] | None = None,
    multi_turn: bool = False,
    pad_near: int = 0,
    augment_p: float = 0.0,
) -> Batch:
    """Draw `batch_size` fresh examples; target = answer + EOS + pad tail (the tail weighs `pad_weight`, except its
    first `pad_near` slots, which weigh 1: where a short answer ends, a longer one would still be writing, and a
    model that is unsure there lets a long reply take over the canvas at inference).

    `canvas_len=None` trims the canvas to the longest answer plus a 16-slot pad margin (rounded to 16): the
    later slots only ever hold pad, and the full 256-slot canvas is trained on other steps. With `multi_turn`,
    each question follows 0-3 earlier turns (`data.earlier_turns`, same mix, one turn count per batch) that hold
    their reference answers. `augment_p`: the share of help-desk and anything-else questions varied by
    `data.augment` (a lead-in, a close or a typo).
    """
    examples = [augment(rng, sample(rng, mix), augment_p) if augment_p else sample(rng, mix)
                for _ in range(batch_size)]
    if canvas_len is None:
        longest = max(len(ex.answer) for ex in examples) + 1
        canvas_len = min(256, (longest + 16 + 15) // 16 * 16)
    prefixes, targets, weights = [], [], []
    # One turn count per batch: prompts of similar length, so left padding stays small (≈ 2x fewer encoder tokens).
    n_turns = rng.choices(range(1, len(TURN_WEIGHTS) + 1), weights=TURN_WEIGHTS)[0] if multi_turn else 1
    for ex in examples:
        turns = chat_turns(rng, ex, earlier_turns(rng, mix, n_turns) if multi_turn else ())
        prefixes.append(codec.chat_prefix(turns, enable_thinking=rng.random() < 0.1))
        ans = codec.encode(ex.answer)[: canvas_len - 1] + [EOS_ID]
        targets.append(ans + [PAD_ID] * (canvas_len - len(ans)))
        near = min(pad_near, canvas_len - len(ans))
        weights.append([1.0] * (len(ans) + near) + [pad_weight] * (canvas_len - len(ans) - near))
    width = max(len(p) for p in prefixes)
    ids = torch.full((batch_size, width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((batch_size, width), dtype=torch.bool)
    for i, p in enumerate(prefixes):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = True
    return Batch(ids, mask, torch.tensor(targets), torch.tensor(weights))


def corrupt(targets: torch.Tensor, vocab_size: int, gen: torch.Generator, t_power: float = 1.0) -> torch.Tensor:
    """Uniform-noise corruption: each position becomes a random id with probability t = u ** t_power, u ~ U(0, 1),
    per example (t_power < 1 leans toward heavy noise: the first steps of inference, where the answer must come from
    the prompt alone).

    For half the examples the pad tail is re-noised at only a fifth of t: at inference the entropy-bound sampler
    accepts the (easy) pad tail first, so most steps see a clean tail around a still-noisy answer.
    """
    b, c = targets.shape
    t = torch.rand((b, 1), generator=gen) ** t_power
    tail = (targets == PAD_ID) & (torch.rand((b, 1), generator=gen) < 0.5)
    noise_mask = torch.rand((b, c), generator=gen) < torch.where(tail, t * 0.2, t)
    noise = torch.randint(0, vocab_size, (b, c), generator=gen)
    return torch.where(noise_mask, noise, targets)


def _encode(model, input_ids: torch.Tensor, attention_mask: torch.Tensor):
    """Run the causal encoder over the clean prefix and return its KV cache."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    # RoPE is relative, so left-padded rows may keep plain 0..P-1 positions (as batched `generate` does).
    pos = torch.arange(input_ids.shape[1]).unsqueeze(0).expand_as(input_ids)
    out = model.model.encoder(input_ids=input_ids, attention_mask=attention_mask, cache=cache, position_ids=pos)
    return out.cache


def _decode(model, cache, canvas: torch.Tensor, attention_mask: torch.Tensor, sc_logits=None, sc_mask=None):
    """One decoder pass over `canvas`, reading `cache`; returns softcapped logits (B, C, V)."""
    b, p = attention_mask.shape
    dec_mask = torch.cat([attention_mask, torch.ones((b, canvas.shape[1]), dtype=torch.bool)], dim=1)
    dec_pos = (p + torch.arange(canvas.shape[1])).unsqueeze(0).expand(b, -1)
    out = model(
        cache=cache,
        decoder_input_ids=canvas,
        decoder_attention_mask=dec_mask,
        decoder_position_ids=dec_pos,
        self_conditioning_logits=sc_logits,
        self_conditioning_mask=sc_mask,
    )
    return out.logits


def diffusion_loss(
    model, batch: Batch, gen: torch.Generator, sc_prob: float = 0.5, t_range: tuple[float, float] = (0.4, 0.8),
    t_power: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted canvas cross-entropy with self-conditioning on a random subset of the batch."""
    vocab = model.config.text_config.vocab_size
    canvas = corrupt(batch.targets, vocab, gen, t_power)
    b = canvas.shape[0]
    sc_mask = torch.rand((b,), generator=gen) < sc_prob
    sc_logits = None
    if sc_mask.any():
        idx = sc_mask.nonzero().squeeze(1)
        with torch.no_grad():  # first pass only for the self-conditioned rows (the prefix encode is cheap)
            sub_cache = _encode(model, batch.input_ids[idx], batch.attention_mask[idx])
            first = _decode(model, sub_cache, canvas[idx], batch.attention_mask[idx])
            # generate feeds logits / temperature (linear schedule between t_min and t_max) to the next step
            temp = torch.empty((len(idx), 1, 1)).uniform_(*t_range, generator=gen)
        sc_logits = torch.zeros((b, canvas.shape[1], vocab))
        sc_logits[idx] = first / temp
    cache = _encode(model, batch.input_ids, batch.attention_mask)
    logits = _decode(model, cache, canvas, batch.attention_mask, sc_logits, sc_mask if sc_logits is not None else None)
    ce = F.cross_entropy(logits.reshape(-1, vocab), batch.targets.reshape(-1), reduction="none").view_as(batch.weights)
    loss = (ce * batch.weights).sum() / batch.weights.sum()
    with torch.no_grad():
        ans = batch.targets != PAD_ID  # answer + EOS (pad_near slots weigh 1 too but are not the answer)
        tok_acc = ((logits.argmax(-1) == batch.targets) & ans).sum().item() / max(1, ans.sum().item())
        answer_ce = (ce * ans).sum().item() / max(1, ans.sum().item())
    return loss, {"loss": loss.item(), "answer_ce": answer_ce, "tok_acc": tok_acc}
