"""Quality of a load profile against bf16 on the same inputs: logits cosine and greedy-token agreement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Agreement:
    """How close a profile's decoder logits are to bf16's: cosine of the flattened logits, argmax agreement."""

    logits_cosine: float
    greedy_agreement: float
    positions: int

    def as_json(self) -> dict[str, Any]:
        """Rounded numbers for JSON."""
        return {"logits_cosine": round(self.logits_cosine, 5), "greedy_agreement": round(self.greedy_agreement, 4),
                "positions": self.positions}


def probe_inputs(vocab_size: int, canvas_length: int, prompt_tokens: int = 64, seed: int = 0) -> tuple[Any, Any]:
    """A fixed random prompt and a random canvas (uniform noise, like a canvas's first step)."""
    generator = torch.Generator().manual_seed(seed)
    low = min(3, vocab_size - 1)
    prompt = torch.randint(low, vocab_size, (1, prompt_tokens), generator=generator)
    canvas = torch.randint(low, vocab_size, (1, canvas_length), generator=generator)
    return prompt, canvas


def decoder_logits(model: Any, prompt: Any, canvas: Any) -> torch.Tensor:
    """The decoder's logits for `canvas` given `prompt`, as float32 on the CPU."""
    device = _input_device(model)
    with torch.inference_mode():
        out = model(input_ids=prompt.to(device), decoder_input_ids=canvas.to(device))
    return out.logits.float().cpu()


def compare_logits(reference: torch.Tensor, candidate: torch.Tensor) -> Agreement:
    """Cosine similarity of the flattened logits and the share of positions whose argmax agrees."""
    ref, cand = reference.flatten().double(), candidate.flatten().double()
    cosine = float(torch.dot(ref, cand) / (ref.norm() * cand.norm()).clamp_min(1e-30))
    same = (reference.argmax(-1) == candidate.argmax(-1)).float()
    return Agreement(cosine, float(same.mean()), int(same.numel()))


def _input_device(model: Any) -> torch.device:
    embed = model.get_input_embeddings()
    weight = getattr(embed, "weight", None)
    if weight is not None and weight.device.type != "meta":
        return weight.device
    return torch.device("cpu")
