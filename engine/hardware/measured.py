"""Measured speeds, when a benchmark has written them: `<cache>/measured_speeds.json`.

Format: {"schema_version": 1, "measurements": [{"gpu": NVML or table name, "model": catalogue id,
"profile": "bf16", "tok_s": 189.0, ...}]} — a figure here replaces the estimate for that GPU × model × profile.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from engine.paths import cache_dir

SCHEMA_VERSION = 1
FILE_NAME = "measured_speeds.json"


def measured_path() -> Path:
    """Where measured figures live."""
    return cache_dir() / FILE_NAME


def _key(gpu: str, model: str, profile: str) -> tuple[str, str, str]:
    return " ".join(gpu.lower().removeprefix("nvidia ").split()), model, profile


_cache: dict[str, Any] = {"stamp": None, "figures": {}}


def _figures() -> dict[tuple[str, str, str], float]:
    path = measured_path()
    try:
        stat = path.stat()
    except OSError:
        return {}
    stamp = (str(path), stat.st_mtime_ns, stat.st_size)
    if _cache["stamp"] != stamp:
        try:
            rows = json.loads(path.read_text(encoding="utf-8")).get("measurements", [])
            figures = {_key(r["gpu"], r["model"], r["profile"]): float(r["tok_s"]) for r in rows}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            figures = {}
        _cache.update(stamp=stamp, figures=figures)
    return _cache["figures"]


def measured_tok_s(gpu: str, model: str, profile: str) -> float | None:
    """The measured tokens/s for this GPU × model × profile, or None when nothing was measured."""
    return _figures().get(_key(gpu, model, profile))


def record_measurement(gpu: str, model: str, profile: str, tok_s: float, **extra: Any) -> None:
    """Store (or replace) one measured figure, atomically."""
    path = measured_path()
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("measurements", [])
    except (OSError, ValueError):
        rows = []
    key = _key(gpu, model, profile)
    rows = [r for r in rows if _key(r.get("gpu", ""), r.get("model", ""), r.get("profile", "")) != key]
    rows.append({"gpu": gpu, "model": model, "profile": profile, "tok_s": float(tok_s), **extra})
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION, "measurements": rows})


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
