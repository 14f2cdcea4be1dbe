"""Persisted preferences at `<config>/settings.toml`: the sampler settings the user chose and the last model.

Written atomically (temporary file, then rename), every string escaped so any value (a model path with control
characters, quotes, newlines) round-trips. Reading is per line when the whole file does not parse: one bad line
is dropped with a message and the others are kept. A file that cannot be read at all gives the defaults plus a
message for the window — never a crash.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import SamplerSettings
from engine.errors import EngineError

from ..models.model_sources import restored_source, saved_source

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the file is flat enough for `_read_flat_toml`
    tomllib = None

log = logging.getLogger(__name__)

MAX_MODEL_CHARS = 4096
MAX_CPU_THREADS = 1024
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
    cpu_threads: int = 0  # 0: automatic (physical cores − 1)
    compiled_path: bool = True  # the GPU-optimized (compiled) path on CUDA
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
    try:
        path = path or settings_path()
        if not path.exists():
            return AppSettings()
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, EngineError) as exc:
        return AppSettings(problem=f"Could not read {path or 'the settings file'} ({exc}); using default settings.")
    dropped: list[str] = []
    try:
        data = tomllib.loads(text) if tomllib is not None else _read_flat_toml(text)
    except ValueError as exc:
        data, dropped = _read_line_by_line(text)
        if not data:
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
    if not isinstance(model, str) or "\x00" in model or len(model) > MAX_MODEL_CHARS:
        dropped.append("model")
        model = ""
    model = restored_source(model)
    threads = app.get("cpu_threads", 0)
    if not isinstance(threads, int) or isinstance(threads, bool) or not 0 <= threads <= MAX_CPU_THREADS:
        dropped.append("cpu_threads")
        threads = 0
    compiled = app.get("compiled_path", True)
    if not isinstance(compiled, bool):
        dropped.append("compiled_path")
        compiled = True
    if dropped:
        problem = (f"Some lines of {path} could not be read and were ignored ({', '.join(dropped)}); "
                   f"the other settings were kept. {problem}").strip()
    return AppSettings(sampler=sampler, model=model, cpu_threads=threads, compiled_path=compiled, problem=problem)


def _read_line_by_line(text: str) -> tuple[dict[str, Any], list[str]]:
    """The sections and `key = value` lines that parse on their own, and a short name for each line that did not."""
    data: dict[str, Any] = {}
    section = data
    dropped: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]") and line[1:-1].strip().isidentifier():
            section = data.setdefault(line[1:-1].strip(), {})
            continue
        try:
            parsed = tomllib.loads(line) if tomllib is not None else _read_flat_toml(line)
        except ValueError:
            key = line.partition("=")[0].strip()
            dropped.append(f"line {number}" + (f" ({key})" if key.isidentifier() else ""))
            continue
        section.update(parsed)
    return data, dropped


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
    return '"' + "".join(_toml_char(c) for c in str(value)) + '"'


def _toml_char(c: str) -> str:
    """One character of a TOML basic string: quotes, backslashes and every control character escaped."""
    if c in '"\\':
        return "\\" + c
    if 0xD800 <= ord(c) <= 0xDFFF:  # a lone surrogate (undecodable file name byte) has no TOML or UTF-8 form
        return "\\uFFFD"
    if ord(c) < 0x20 or ord(c) == 0x7F or not c.isprintable():
        return f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}"
    return c


def save_settings(settings: AppSettings, path: Path | None = None) -> str:
    """Write the settings file atomically; "" when saved, else why not (logged; the old file stays as it was)."""
    if settings.read_only:
        return ""
    try:
        path = path or settings_path()
    except EngineError as exc:
        log.warning("settings not saved: %s", exc)
        return f"Settings were not saved: {exc}"
    lines = ["# Diffusion Desk settings (written by the app; safe to edit while it is closed)", "", "[app]"]
    lines.append(f"model = {_toml_value(saved_source(settings.model))}")
    if settings.cpu_threads:
        lines.append(f"cpu_threads = {int(settings.cpu_threads)}")
    lines.append(f"compiled_path = {'true' if settings.compiled_path else 'false'}")
    lines += ["", "[sampler]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in settings.sampler.items() if k in SAMPLER_KEYS]
    tmp = path.with_suffix(".toml.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        if tmp.is_file():
            tmp.unlink()
        log.warning("settings not saved to %s: %s", path, exc)
        return f"Settings were not saved to {path}: {exc.strerror or exc}."
    return ""
