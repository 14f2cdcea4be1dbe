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
# The words the Settings dialog shows for each value; messages about the file use them too, never the key names.
LABELS = {
    "max_new_tokens": "Longest answer (tokens)",
    "max_denoising_steps": "Most refining steps per block",
    "entropy_bound": "Boldness per step",
    "t_min": "Temperature at the end",
    "t_max": "Temperature at the start",
    "stability_threshold": "Stop after unchanged steps",
    "confidence_threshold": "Stop when this sure",
}
APP_LABELS = {"model": "model", "cpu_threads": "processor threads", "compiled_path": "GPU-optimized path",
              "text_size": "text size"}
DEFAULT_TEXT_SIZE = 10  # points, as the style sheet sets every widget
TEXT_SIZES = range(8, 25)  # View → Larger / Smaller text
DAMAGED_SUFFIX = ".damaged"


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
    text_size: int = 0  # points of the messages and the message box; 0: the default
    problem: str = ""
    read_only: bool = False  # the self-test never changes the user's settings

    def sampler_for(self, defaults: dict[str, Any]) -> SamplerSettings:
        """The model's defaults with the user's choices on top (seed left to each answer)."""
        base = {k: v for k, v in defaults.items() if k in SAMPLER_KEYS}
        kept, dropped = usable_sampler(self.sampler, base)
        if dropped:  # left out for this model only: the file keeps them for a model they suit
            self.problem = (f"Some saved settings were invalid for this model and are not used: {_named(dropped)}; "
                            "the model's own values are used for those.")
        return SamplerSettings.from_dict({**base, **kept})


def usable_sampler(chosen: dict[str, Any], base: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The chosen values that `SamplerSettings` accepts on top of `base`, and the keys left out. One bad value drops
    only itself; a pair that only fails together (end temperature above the start one) drops both."""
    kept: dict[str, Any] = {}
    pending = [k for k in SAMPLER_KEYS if k in chosen]
    changed = True
    while pending and changed:  # a value may fit only once its partner is in (t_min 0.9 after t_max 1.5)
        changed = False
        for key in list(pending):
            try:
                SamplerSettings.from_dict({**base, **kept, key: chosen[key]})
            except (ValueError, TypeError):
                continue
            kept[key] = chosen[key]
            pending.remove(key)
            changed = True
    return kept, pending


def _named(keys: list[str]) -> str:
    return ", ".join(f"“{LABELS.get(k) or APP_LABELS.get(k, k)}”" for k in keys)


def load_settings(path: Path | None = None) -> AppSettings:
    """Read the settings file; defaults and a `problem` message when it is missing pieces or broken."""
    try:
        path = path or settings_path()
        if not path.exists():
            return AppSettings()
        raw = path.read_bytes()
    except (OSError, EngineError) as exc:
        return AppSettings(problem=f"Could not read {path or 'the settings file'} ({exc}); using default settings.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return AppSettings(problem=f"Could not read {path} (it is not a text file); using default settings."
                           + _keep_copy(path, raw))
    dropped: list[str] = []
    try:
        data = tomllib.loads(text) if tomllib is not None else _read_flat_toml(text)
    except ValueError as exc:
        data, dropped = _read_line_by_line(text)
        if not data:
            return AppSettings(problem=f"Could not read {path} ({exc}); using default settings."
                               + _keep_copy(path, raw))
    sampler = data.get("sampler", {})
    app = data.get("app", {})
    if not isinstance(sampler, dict) or not isinstance(app, dict):
        return AppSettings(problem=f"{path} is not in the expected layout; using default settings."
                           + _keep_copy(path, raw))
    sampler, invalid = _valid_sampler({k: v for k, v in sampler.items() if k in SAMPLER_KEYS})
    problem = ""
    if invalid:
        problem = (f"These saved settings were invalid and are not used: {_named(invalid)}; the model's own values "
                   "are used for those.")
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
    text_size = app.get("text_size", 0)
    if not isinstance(text_size, int) or isinstance(text_size, bool) or (text_size and text_size not in TEXT_SIZES):
        dropped.append("text_size")
        text_size = 0
    if dropped:
        named = ", ".join(APP_LABELS.get(d, d) for d in dropped)
        problem = (f"Some lines of {path} could not be read and were ignored ({named}); "
                   f"the other settings were kept. {problem}").strip()
    if problem:
        problem += _keep_copy(path, raw)
    return AppSettings(sampler=sampler, model=model, cpu_threads=threads, compiled_path=compiled,
                       text_size=text_size, problem=problem)


def _valid_sampler(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each saved value checked on its own (the model's defaults are not known yet), then the two temperatures
    together: a bad value drops only itself, never the user's other choices."""
    kept: dict[str, Any] = {}
    invalid: list[str] = []
    for key, value in values.items():
        try:  # the widest temperatures around it, so only the value's own range is checked here
            SamplerSettings.from_dict({"t_min": 0.0, "t_max": 100.0, key: value})
        except (ValueError, TypeError):
            invalid.append(key)
        else:
            kept[key] = value
    if "t_min" in kept and "t_max" in kept and not kept["t_max"] > kept["t_min"]:
        invalid += ["t_min", "t_max"]
        del kept["t_min"], kept["t_max"]
    return kept, invalid


def _keep_copy(path: Path, raw: bytes) -> str:
    """A copy of a settings file the app could not fully use, made before the app ever rewrites it, so a hand edit
    is never lost; the words that say where it is ("" when it could not be written)."""
    for n in range(1, 10):
        copy = path.with_name(path.name + DAMAGED_SUFFIX + ("" if n == 1 else f"-{n}"))
        try:
            if copy.is_file() and copy.read_bytes() == raw:
                break
            if copy.exists():
                continue
            copy.write_bytes(raw)
            break
        except OSError as exc:
            log.warning("could not keep a copy of the damaged settings file at %s: %s", copy, exc)
            return ""
    else:
        return ""
    return f" The file as it was is kept in {copy}."


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
            name = LABELS.get(key) or APP_LABELS.get(key, key)
            dropped.append(f"line {number}" + (f" ({name})" if key.isidentifier() else ""))
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
    if settings.text_size in TEXT_SIZES:
        lines.append(f"text_size = {int(settings.text_size)}")
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
