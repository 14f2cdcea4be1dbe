"""What a usable DiffusionGemma folder looks like: config, complete safetensors weights, a tokenizer."""

from __future__ import annotations

import json
import struct
from pathlib import Path

MODEL_TYPE = "diffusion_gemma"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
INDEX_FILE = "model.safetensors.index.json"


def read_model_type(folder: Path) -> str | None:
    """`model_type` from `folder/config.json`, or None when it is missing or unreadable."""
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def weight_files(folder: Path) -> list[str]:
    """The safetensors files the model needs: every shard named in the index, or the single file."""
    index = folder / INDEX_FILE
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError):
            return [INDEX_FILE]
        return sorted(set(weight_map.values()))
    return ["model.safetensors"]


def safetensors_header_ok(path: Path) -> bool:
    """True when the file starts with a readable safetensors header whose tensors fit in the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length <= 0 or 8 + length > size:
                return False
            header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error):
        return False
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    return 8 + length + max(ends, default=0) <= size


def structure_problems(folder: Path, *, read_headers: bool = True) -> list[str]:
    """Why `folder` is not a complete DiffusionGemma model; an empty list when it is."""
    if not folder.is_dir():
        return [f"{folder} is not a folder"]
    problems = []
    model_type = read_model_type(folder)
    if model_type is None:
        problems.append("config.json: missing or unreadable")
    elif model_type != MODEL_TYPE:
        problems.append(f"config.json: model_type is {model_type!r}, not {MODEL_TYPE!r}")
    for name in weight_files(folder):
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif read_headers and name.endswith(".safetensors") and not safetensors_header_ok(path):
            problems.append(f"{name}: not a complete safetensors file")
        elif name == INDEX_FILE:
            problems.append(f"{name}: unreadable")
    if not any((folder / name).exists() for name in TOKENIZER_FILES):
        problems.append("tokenizer: no tokenizer.json or tokenizer.model")
    return problems


def folder_size(folder: Path) -> int:
    """Bytes the files under `folder` take (symlinks followed once, each target counted once)."""
    seen: set[Path] = set()
    total = 0
    for path in folder.rglob("*"):
        try:
            target = path.resolve()
            if target in seen or not target.is_file():
                continue
            seen.add(target)
            total += target.stat().st_size
        except OSError:
            continue
    return total
