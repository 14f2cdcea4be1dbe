"""The demo trainer's checkpoints: written with `torch.save`, read back only as tensors and plain data.

A checkpoint file is data, never code: `load_checkpoint` reads it with `torch.load(weights_only=True)`, which
refuses any pickle that would import or call something (a file whose unpickling would run a command fails before
anything runs), then checks that what came back has the shape of this project's own checkpoints.
"""

from __future__ import annotations

import pickle
import stat
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

MAX_CHECKPOINT_BYTES = 4 << 30  # the shipped model's checkpoint is ~20 MB; anything near this is not ours
KINDS = {
    "ckpt": ("model", "opt", "step", "config", "py_rng", "torch_gen"),
    "best": ("model", "step", "config", "acc"),
}


def checked_path(path: Path, kind: str = "ckpt") -> Path:
    """An existing regular file (not a folder, FIFO or device that would hang or mislead the loader)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        hint = "run without --resume to start training" if kind == "ckpt" else "train first, or give --work-dir"
        raise CheckpointError(f"There is no checkpoint at {path}; {hint}.") from None
    except (OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"The checkpoint path {path} cannot be used ({exc}).") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path} is not a regular file, so it is not a checkpoint; give a ckpt.pt file.")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path} is {info.st_size / 1e9:.1f} GB, far larger than a demo checkpoint; refused.")
    return path.resolve()


def load_checkpoint(path: Path, kind: str = "ckpt") -> dict[str, Any]:
    """Read a checkpoint of `kind` ("ckpt" to resume, "best" for export) as tensors and plain values only."""
    path = checked_path(Path(path), kind)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = (str(exc).strip().splitlines() or ["unsafe content"])[0]
        raise CheckpointError(
            f"{path} is not a plain Diffusion Desk checkpoint (it asks to load code, which is refused: "
            f"{first[:160]}). Only use checkpoints written by python -m engine.train_demo."
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError, TypeError, AttributeError) as exc:
        why = type(exc).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({why}); it may be corrupt.") from None
    return _checked_state(path, state, kind)


def _checked_state(path: Path, state: Any, kind: str) -> dict[str, Any]:
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a train_demo checkpoint ({why}).")

    if not isinstance(state, dict):
        raise bad(f"it holds a {type(state).__name__}")
    missing = [key for key in KINDS[kind] if key not in state]
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in model.items()):
        raise bad("its model entry is not a table of tensors")
    if not isinstance(state["step"], int) or isinstance(state["step"], bool) or state["step"] < 0:
        raise bad("its step is not a whole number")
    if not isinstance(state["config"], dict) or not all(isinstance(k, str) for k in state["config"]):
        raise bad("its config is not a table")
    if kind == "ckpt":
        rng = state["py_rng"]
        if not (isinstance(rng, tuple) and len(rng) == 3 and isinstance(rng[1], tuple)):
            raise bad("its random-number state is malformed")
        if not (torch.is_tensor(state["torch_gen"]) and state["torch_gen"].dtype == torch.uint8):
            raise bad("its generator state is malformed")
        if not isinstance(state["opt"], dict):
            raise bad("its optimizer state is malformed")
    return state
