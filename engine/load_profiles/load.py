"""Load profiles: what each one asks of `from_pretrained`, whether it fits the device, and load progress.

◆ Profiles: `bf16`, `fp8`, `int8`, `int4`, `offload`, `cpu` (and `fp16`, `fp32`). `fp8` / `int8` quantize the
bf16 checkpoint at load time (weight-only, torchao; see quantize.py); `offload` keeps part of the layers off the
GPU (profiles_offload.py); `int4` has no correct path for the 3-D experts and says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ProfileError, ProfileMemoryError
from .quantize import INT4_FINDING, QUANTIZED_PROFILES, estimate_bytes

PROFILES = ("bf16", "fp8", "int8", "int4", "offload", "cpu", "fp16", "fp32")
PROFILE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "cpu": torch.float32,
                  "fp8": torch.bfloat16, "int8": torch.bfloat16, "offload": torch.bfloat16}
# Compute capability each GPU profile needs (bf16 and its quantized forms from Ampere, FP8 from Ada).
NEEDS_CC = {"bf16": (8, 0), "int8": (8, 0), "offload": (8, 0), "fp8": (8, 9)}
# Order in which a smaller profile is suggested when one does not fit.
FALLBACK_ORDER = ("bf16", "fp8", "int8", "offload")
# Runtime beyond the weights on a GPU: CUDA context, KV cache, canvas buffers, activations.
RUNTIME_FIXED_BYTES = 2.5 * 2**30
RUNTIME_WEIGHT_FRACTION = 0.05
GIB = 2**30


@dataclass(frozen=True)
class LoadProgress:
    """One step of a load, for a progress bar: `stage` ∈ check / weights / quantize / tokenizer / done.

    `done` of `total` in `unit` ("files", "bytes", "tensors", "steps"); `message` is a line to show as is.
    """

    stage: str
    done: int
    total: int
    unit: str
    message: str

    @property
    def fraction(self) -> float:
        """Share done, 0..1."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[LoadProgress], None]


def report(on_progress: ProgressCallback | None, stage: str, done: int, total: int, unit: str, message: str) -> None:
    """Call `on_progress` if given; a callback that raises does not stop the load."""
    if on_progress is None:
        return
    try:
        on_progress(LoadProgress(stage, done, total, unit, message))
    except Exception:  # noqa: BLE001 — a progress display must never break a load
        pass


def check_profile(profile: str, device: torch.device) -> None:
    """Refuse a profile this engine cannot load on `device`, saying why and what to pick instead."""
    if profile not in PROFILES:
        raise ProfileError(f"Unknown load profile {profile!r}: choose one of {', '.join(PROFILES)}.")
    if profile == "int4":
        raise ProfileError(INT4_FINDING)
    if device.type == "cuda" and profile in NEEDS_CC:
        cc = torch.cuda.get_device_capability(device)
        need = NEEDS_CC[profile]
        if cc < need:
            other = "int8" if profile == "fp8" and cc >= NEEDS_CC["int8"] else "fp16"
            raise ProfileError(
                f"The {profile} profile needs a GPU with compute capability {need[0]}.{need[1]} or newer; "
                f"{device_name(device)} has {cc[0]}.{cc[1]}. Choose {other} instead."
            )
    if profile in ("cpu", "fp32") and device.type == "cuda":
        return
    if device.type != "cuda" and profile == "fp16":
        raise ProfileError("The fp16 profile is for older GPUs; on the CPU choose cpu (float32) or bf16.")


def device_name(device: torch.device) -> str:
    """The card's name (e.g. "NVIDIA GeForce RTX 4090 (cuda:0)"), or "the CPU"."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    return "the CPU"


def free_bytes(device: torch.device) -> int | None:
    """Free memory where the weights go: the GPU's free memory, or the system's available RAM (None if unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def needed_bytes(config: Any, profile: str, device: torch.device) -> int:
    """Weights (from the real shapes on the meta device) plus the runtime margin on a GPU."""
    weights = estimate_bytes(config, "cpu" if device.type == "cpu" and profile == "cpu" else profile).total_bytes
    if device.type != "cuda":
        return weights
    return int(weights * (1 + RUNTIME_WEIGHT_FRACTION) + RUNTIME_FIXED_BYTES)


def suggest_profile(config: Any, device: torch.device, free: int, current: str) -> str | None:
    """The most precise profile smaller than `current` whose weights fit in `free` bytes on `device` (offload as
    the last resort on a GPU)."""
    current_need = needed_bytes(config, current, device) if current in FALLBACK_ORDER[:-1] else None
    for candidate in FALLBACK_ORDER:
        if candidate == current or candidate == "offload":
            continue
        try:
            check_profile(candidate, device)
        except ProfileError:
            continue
        need = needed_bytes(config, candidate, device)
        if need <= free and (current_need is None or need < current_need):
            return candidate
    if current != "offload" and device.type == "cuda":
        return "offload"
    return None


def preflight(config: Any, profile: str, device: torch.device) -> None:
    """Raise `ProfileMemoryError` before reading a byte when the profile cannot fit (offload checks host RAM)."""
    if os.environ.get("DIFFUSION_DESK_SKIP_MEMORY_CHECK") == "1":
        return
    where = torch.device("cpu") if profile == "offload" else device
    free = free_bytes(where)
    if free is None:
        return
    if profile == "offload":  # the host must hold whatever the GPU cannot
        gpu_free = free_bytes(device) if device.type == "cuda" else None
        need = max(0, estimate_bytes(config, "bf16").total_bytes - int(0.9 * (gpu_free or 0))) if gpu_free else 0
    else:
        need = needed_bytes(config, profile, device)
    if need <= free:
        return
    suggestion = suggest_profile(config, device, free, profile)
    hint = (f"Choose the {suggestion} profile, which fits" if suggestion else
            "No profile fits here; close other programs or choose a GPU with more memory") + " (see the GPU page)."
    place = "system RAM" if where.type == "cpu" else "free"
    raise ProfileMemoryError(
        f"The {profile} profile needs about {need / GIB:.1f} GB on {device_name(where)}, but only {free / GIB:.1f} GB "
        f"is {place}. {hint}",
        profile=profile, device_name=device_name(where), needed_gb=need / GIB, free_gb=free / GIB,
        suggestion=suggestion,
    )


def memory_error(config: Any, profile: str, device: torch.device) -> ProfileMemoryError:
    """The error for an out-of-memory that happened during the load itself (the preflight was optimistic)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    free = free_bytes(device) or 0
    need = needed_bytes(config, profile, device)
    suggestion = suggest_profile(config, device, free, profile)
    hint = (f"Choose a smaller profile ({suggestion}) on the GPU page" if suggestion else
            "Close other programs using the memory, or choose a smaller profile on the GPU page")
    return ProfileMemoryError(
        f"Ran out of memory loading with the {profile} profile on {device_name(device)}: it needs about "
        f"{need / GIB:.1f} GB, {free / GIB:.1f} GB is free now. {hint}.",
        profile=profile, device_name=device_name(device), needed_gb=need / GIB, free_gb=free / GIB,
        suggestion=suggestion,
    )


def is_quantized(profile: str) -> bool:
    """Whether `profile` quantizes at load time."""
    return profile in QUANTIZED_PROFILES
