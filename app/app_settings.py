"""Persisted preferences at `<config>/settings.toml`: the sampler settings the user chose and the last model.

Written atomically (temporary file, then rename). A file that cannot be read or holds invalid values gives
the defaults plus a message for the window — never a crash.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import SamplerSettings

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the file is flat enough for `_read_flat_toml`
    tomllib = None

SAMPLER_KEYS = (
    "max_new_tokens",
    "max_denoising_steps",
    "entropy_bound",
    "t_min",
    "t_max",
    "stability_threshold",
    "confidence_threshold",
)


def settings_path() -> Path:
    """`<config>/settings.toml`."""
    from engine.paths import config_dir

    return config_dir() / "settings.toml"


@dataclass
class AppSettings:
    """`sampler` holds only what the user changed from the model's defaults (empty: use the defaults)."""

    sampler: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    problem: str = ""
    read_only: bool = False  # the self-test never changes the user's settings

    def sampler_for(self, defaults: dict[str, Any]) -> SamplerSettings:
        """The model's defaults with the user's choices on top (seed left to each answer)."""
        values = {k: v for k, v in defaults.items() if k in SAMPLER_KEYS}
        values.update(self.sampler)
        try:
            return SamplerSettings.from_dict(values)
        except ValueError as exc:
            self.problem = f"Saved sampler settings were invalid ({exc}); using the model's defaults."
            self.sampler = {}
            return SamplerSettings.from_dict({k: v for k, v in defaults.items() if k in SAMPLER_KEYS})


def load_settings(path: Path | None = None) -> AppSettings:
    """Read the settings file; defaults and a `problem` message when it is missing pieces or broken."""
    path = path or settings_path()
    if not path.exists():
        return AppSettings()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if tomllib is not None else _read_flat_toml(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return AppSettings(problem=f"Could not read {path} ({exc}); using default settings.")
    sampler = data.get("sampler", {})
    app = data.get("app", {})
    if not isinstance(sampler, dict) or not isinstance(app, dict):
        return AppSettings(problem=f"{path} is not in the expected layout; using default settings.")
    sampler = {k: v for k, v in sampler.items() if k in SAMPLER_KEYS}
    problem = ""
    try:
        SamplerSettings.from_dict(sampler)
    except (ValueError, TypeError) as exc:
        sampler, problem = {}, f"Saved sampler settings were invalid ({exc}); using the model's defaults."
    model = app.get("model", "")
    return AppSettings(sampler=sampler, model=model if isinstance(model, str) else "", problem=problem)


def _read_flat_toml(text: str) -> dict[str, Any]:
    """`[section]` headers and `key = value` lines with JSON-compatible values: what `save_settings` writes."""
    data: dict[str, Any] = {}
    section = data
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = data.setdefault(line[1:-1].strip(), {})
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"cannot read line {raw!r}")
        section[key.strip()] = json.loads(value.strip())
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "0.0"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    """Write the settings file atomically."""
    if settings.read_only:
        return
    path = path or settings_path()
    lines = ["# Diffusion Desk settings (written by the app; safe to edit while it is closed)", "", "[app]"]
    lines.append(f"model = {_toml_value(settings.model)}")
    lines += ["", "[sampler]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in settings.sampler.items() if k in SAMPLER_KEYS]
    tmp = path.with_suffix(".toml.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
