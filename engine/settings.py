"""`SamplerSettings`: the knobs of one generation, validated with messages that name the field and its range."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

# The release's generation_config.json (../shared/DIFFUSIONGEMMA.md); used where a model ships none.
RELEASE_DEFAULTS = {
    "max_denoising_steps": 48,
    "entropy_bound": 0.1,
    "t_min": 0.4,
    "t_max": 0.8,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
}
# The release's max_new_tokens (256) truncates chat answers; a chat wants room for several canvases.
CHAT_MAX_NEW_TOKENS = 1024
MAX_TOKENS_LIMIT = 262_144
MAX_STEPS_LIMIT = 1024


@dataclass(frozen=True)
class SamplerSettings:
    max_new_tokens: int = CHAT_MAX_NEW_TOKENS
    max_denoising_steps: int = 48
    entropy_bound: float = 0.1
    t_min: float = 0.4
    t_max: float = 0.8
    stability_threshold: int = 1
    confidence_threshold: float = 0.005
    seed: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `ValueError` naming the first field out of range and the allowed range."""
        _int_in(self, "max_new_tokens", 1, MAX_TOKENS_LIMIT)
        _int_in(self, "max_denoising_steps", 1, MAX_STEPS_LIMIT)
        _float_in(self, "entropy_bound", 0.0, 1000.0, low_open=True)
        _float_in(self, "t_min", 0.0, 100.0)
        _float_in(self, "t_max", 0.0, 100.0)
        if self.t_max <= self.t_min:
            raise ValueError(f"t_max must be greater than t_min (got t_max={self.t_max}, t_min={self.t_min})")
        _int_in(self, "stability_threshold", 0, MAX_STEPS_LIMIT)
        _float_in(self, "confidence_threshold", 0.0, 1000.0, low_open=True)
        if self.seed is not None:
            _int_in(self, "seed", 0, 2**63 - 1)

    @classmethod
    def for_model(cls, em: Any, **overrides: Any) -> SamplerSettings:
        """The model's generation_config defaults, with max_new_tokens raised to a useful chat length."""
        model = getattr(em, "model", em)
        gc = getattr(model, "generation_config", None)
        values = dict(RELEASE_DEFAULTS)
        for name in ("max_denoising_steps", "t_min", "t_max", "stability_threshold", "confidence_threshold"):
            value = getattr(gc, name, None)
            if value is not None:
                values[name] = value
        sampler_config = getattr(gc, "sampler_config", None)
        bound = getattr(sampler_config, "entropy_bound", None)
        if bound is None and isinstance(sampler_config, dict):
            bound = sampler_config.get("entropy_bound")
        if bound is not None:
            values["entropy_bound"] = float(bound)
        model_max = getattr(gc, "max_new_tokens", None) or 0
        values["max_new_tokens"] = max(CHAT_MAX_NEW_TOKENS, int(model_max))
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> SamplerSettings:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SamplerSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def generate_kwargs(self) -> dict[str, Any]:
        """The same settings as keyword arguments for transformers' `model.generate` (the reference)."""
        from transformers.models.diffusion_gemma.generation_diffusion_gemma import EntropyBoundSamplerConfig

        return {
            "max_new_tokens": self.max_new_tokens,
            "max_denoising_steps": self.max_denoising_steps,
            "sampler_config": EntropyBoundSamplerConfig(entropy_bound=float(self.entropy_bound)),
            "t_min": float(self.t_min),
            "t_max": float(self.t_max),
            "stability_threshold": self.stability_threshold,
            "confidence_threshold": float(self.confidence_threshold),
        }


def _int_in(s: SamplerSettings, name: str, low: int, high: int) -> None:
    value = getattr(s, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high} (got {value!r})")


def _float_in(s: SamplerSettings, name: str, low: float, high: float, *, low_open: bool = False) -> None:
    value = getattr(s, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}] (got {value!r})")
