"""Sampler presets a Compare column can pick: the model's (or this chat's) settings, more or fewer steps, hotter,
or the same settings with thinking on (the model writes a thought first, as with the chat's Thinking box)."""

from __future__ import annotations

from collections.abc import Callable

from engine import SamplerSettings

MAX_STEPS = 1024


def _more_steps(s: SamplerSettings) -> SamplerSettings:
    return s.with_(max_denoising_steps=min(MAX_STEPS, s.max_denoising_steps * 2))


def _fewer_steps(s: SamplerSettings) -> SamplerSettings:
    return s.with_(max_denoising_steps=max(2, s.max_denoising_steps // 2))


def _hotter(s: SamplerSettings) -> SamplerSettings:
    t_min = max(1.0, s.t_min * 2.5)
    return s.with_(t_min=t_min, t_max=max(s.t_max * 2, t_min + 0.5))


THINKING_PRESET = "thinking"  # the chat's settings, asked with enable_thinking (the chat's Thinking box)

# key → (label, how it changes the base settings); keys are stored with each variant
PRESETS: dict[str, tuple[str, Callable[[SamplerSettings], SamplerSettings]]] = {
    "defaults": ("Model defaults", lambda s: s),
    "more-steps": ("More steps (×2)", _more_steps),
    "fewer-steps": ("Fewer steps (÷2)", _fewer_steps),
    "hotter": ("Hotter (more varied)", _hotter),
    THINKING_PRESET: ("Thinking on", lambda s: s),
}
THINKING_PRESETS = frozenset({THINKING_PRESET})


def preset_thinks(key: str) -> bool:
    """Whether preset `key` asks the model to think before it answers (`enable_thinking`)."""
    return key in THINKING_PRESETS


def apply_preset(key: str, base: SamplerSettings, seed: int) -> SamplerSettings:
    """`base` changed by preset `key` (unknown keys: unchanged), with `seed`."""
    change = PRESETS.get(key, PRESETS["defaults"])[1]
    return change(base).with_(seed=int(seed))


def preset_label(key: str) -> str:
    """The preset's label (the key itself when unknown, e.g. from a newer version)."""
    return PRESETS[key][0] if key in PRESETS else key
