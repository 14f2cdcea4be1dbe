"""The sampler's math on logits, shared by the eager loop (`generation`) and the compiled step (`compiled_step`)."""

from __future__ import annotations

import torch


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy, op for op as `torch.distributions.Categorical(logits=...).entropy()` (same bits),
    without building a distribution object (and its argument validation) every step."""
    normalized = logits - logits.logsumexp(dim=-1, keepdim=True)
    probs = torch.softmax(normalized, dim=-1)
    clamped = torch.clamp(normalized, min=torch.finfo(normalized.dtype).min)
    return -(clamped * probs).sum(-1)


def accept_mask(entropy: torch.Tensor, bound: float) -> torch.Tensor:
    """The entropy-bound rule: lowest-entropy tokens whose summed entropy minus their max stays within `bound`."""
    sorted_entropy, order = torch.sort(entropy, dim=-1, descending=False)
    cumulative = torch.cumsum(sorted_entropy, dim=-1)
    selected = cumulative - sorted_entropy <= bound
    return torch.scatter(input=torch.zeros_like(selected), dim=-1, index=order, src=selected)
