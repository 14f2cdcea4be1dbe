"""The chosen GPU and load profile, persisted in `<config>/hardware.json` for the engine worker to load with."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.paths import config_dir

from .measured import write_json_atomic

SCHEMA_VERSION = 1
FILE_NAME = "hardware.json"


@dataclass(frozen=True)
class Selection:
    """A GPU (NVML index, or None for the CPU) and a load profile ("bf16", "offload", "cpu", ...).

    `torch_index` is the matching `cuda:N` (PyTorch may order devices differently from NVML); `model` optionally
    names the catalogue entry the profile belongs to.
    """

    gpu_index: int | None
    profile: str
    gpu_name: str | None = None
    torch_index: int | None = None
    model: str | None = None

    @property
    def device(self) -> str:
        """The torch device string the engine should load onto: "cuda:N" or "cpu"."""
        if self.gpu_index is None or self.profile == "cpu":
            return "cpu"
        return f"cuda:{self.torch_index if self.torch_index is not None else self.gpu_index}"


def selection_path() -> Path:
    """Where the selection is stored."""
    return config_dir() / FILE_NAME


def save_selection(selection: Selection) -> Path:
    """Persist the selection (atomic write); returns the file written."""
    path = selection_path()
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION, **asdict(selection)})
    return path


def load_selection() -> Selection | None:
    """The stored selection, or None when none was saved (or the file is unreadable)."""
    try:
        data = json.loads(selection_path().read_text(encoding="utf-8"))
        return Selection(
            gpu_index=data.get("gpu_index"),
            profile=str(data["profile"]),
            gpu_name=data.get("gpu_name"),
            torch_index=data.get("torch_index"),
            model=data.get("model"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
