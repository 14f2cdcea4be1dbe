"""`SamplerSettings` validation names the field and its range; `for_model` takes the model's defaults."""

from __future__ import annotations

import math

import pytest

from engine import SamplerSettings
from engine.settings import CHAT_MAX_NEW_TOKENS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_new_tokens", 0),
        ("max_new_tokens", -5),
        ("max_new_tokens", 1.5),
        ("max_denoising_steps", 0),
        ("max_denoising_steps", 5000),
        ("entropy_bound", 0.0),
        ("entropy_bound", -1.0),
        ("entropy_bound", math.nan),
        ("t_min", -0.1),
        ("t_max", math.inf),
        ("stability_threshold", -1),
        ("confidence_threshold", 0.0),
        ("seed", -1),
        ("max_new_tokens", True),
        ("entropy_bound", "0.1"),
    ],
)
def test_invalid_values_raise_value_error_naming_field_and_range(field, value):
    with pytest.raises(ValueError) as info:
        SamplerSettings(**{field: value})
    message = str(info.value)
    assert message.startswith(field) and ("from" in message or "in [" in message or "in (" in message)


def test_t_max_must_exceed_t_min():
    with pytest.raises(ValueError, match="t_max must be greater than t_min"):
        SamplerSettings(t_min=0.8, t_max=0.4)


def test_for_model_reads_generation_config_and_raises_max_new_tokens(tiny_em):
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import EntropyBoundSamplerConfig

    gc = tiny_em.model.generation_config
    saved = dict(gc.__dict__)
    try:
        gc.max_denoising_steps, gc.t_min, gc.t_max = 24, 0.3, 0.9
        gc.sampler_config = EntropyBoundSamplerConfig(entropy_bound=0.25)
        gc.max_new_tokens = 256
        s = SamplerSettings.for_model(tiny_em)
    finally:
        gc.__dict__.update(saved)
    assert (s.max_denoising_steps, s.t_min, s.t_max, s.entropy_bound) == (24, 0.3, 0.9, 0.25)
    assert s.max_new_tokens == CHAT_MAX_NEW_TOKENS > 256


def test_round_trip_through_dict_ignores_unknown_keys():
    s = SamplerSettings(max_new_tokens=77, seed=4)
    assert SamplerSettings.from_dict({**s.as_dict(), "future_knob": 1}) == s
