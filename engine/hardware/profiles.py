"""Will it fit, how fast, and which load profile: memory need per catalogue model × profile on one GPU.

Memory need = weights + KV cache for the context + canvas buffers + a runtime margin, in GiB ("GB" as GPU
vendors quote it; the catalogue's decimal GB are converted). Weights come from `engine/data/profile_memory.json`
(bytes per load profile, measured on the tiny and demo models and computed from the release's real parameter
shapes; `python -m engine.load_profiles.memory --write`) where it has the profile, else from the catalogue. A bf16
checkpoint also offers the profiles the loader quantizes it to while loading (fp8, int8).

Speed follows shared GPUS.md: a 256-token canvas takes
(steps + 1) × (weight bytes read per step ÷ bandwidth) — an estimate (an upper bound: the weight-streaming floor)
until a measured figure exists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from .discovery import GIB, GpuInfo, unified_budget_gb
from .measured import measured_tok_s


def _profile_figures() -> dict[str, Any]:
    from engine.load_profiles.memory import load_figures

    return load_figures()

CATALOGUE_PATH = Path(__file__).resolve().parent.parent / "data" / "catalogue.json"

DEFAULT_CONTEXT = 8192
DEFAULT_STEPS = 16
CANVAS = 256
PCIE_GBS = 25.0
TIGHT_HEADROOM = 0.10
# CUDA context, allocator slack and activations: a fixed part plus a share of the weights.
OVERHEAD_FIXED_GB = 1.0
OVERHEAD_WEIGHT_FRACTION = 0.05
# float32 [canvas, vocab] copies alive during a step: logits, probs, self-conditioning, sampler scratch.
CANVAS_FLOAT32_COPIES = 4
# Offload keeps this share of the GPU budget free, so an offloaded load lands yellow, not at the edge.
OFFLOAD_FILL = 0.90

# Most precise first; offload is the last resort because it streams weights over PCIe every step.
PROFILE_ORDER = ("bf16", "fp8", "int8", "nvfp4", "offload")
# Profiles the loader makes from a bf16 checkpoint while loading it (engine/load_profiles/quantize.py).
LOAD_TIME_PROFILES = ("fp8", "int8")
PROFILE_LABELS = {
    "bf16": "bf16",
    "fp8": "FP8",
    "int8": "INT8 (weight-only)",
    "nvfp4": "NVFP4",
    "offload": "bf16 + CPU offload (slow)",
    "cpu": "CPU",
}
_NEEDS_CC = {
    "bf16": ((8, 0), "bf16"), "offload": ((8, 0), "bf16"), "int8": ((8, 0), "bf16"), "fp8": ((8, 9), "FP8"),
    "nvfp4": ((10, 0), "FP4"),
}
VLLM_ONLY = "runs via a vLLM server (this app cannot load NVFP4 checkpoints yet)"
INT8_NOTE = "int8 experts run one at a time (no grouped_mm path), so expect less than the estimate"


@dataclass(frozen=True)
class Recommendation:
    """One model × profile on one GPU: colour (green / yellow / red), need, estimate and whether it is usable."""

    model: str
    profile: str
    supported: bool
    colour: str
    memory_needed_gb: float
    memory_available_gb: float
    estimated_tok_s: float | None
    estimate: bool
    reason: str = ""
    recommended: bool = False
    fastest: bool = False
    offloaded_gb: float = 0.0
    memory_source: str = "catalogue"
    confirmed_on_gpu: bool = False

    @property
    def fits(self) -> bool:
        """True when the engine can load it this way here: supported and not red."""
        return self.supported and self.colour != "red"

    def as_json(self) -> dict[str, Any]:
        """◆ The CLI's recommendation object (`model, profile, fits, memory_needed_gb, estimated_tok_s`, + more)."""
        return {
            "model": self.model,
            "profile": self.profile,
            "fits": self.fits,
            "memory_needed_gb": round(self.memory_needed_gb, 2),
            "estimated_tok_s": None if self.estimated_tok_s is None else round(self.estimated_tok_s, 1),
            "colour": self.colour,
            "supported": self.supported,
            "recommended": self.recommended,
            "fastest": self.fastest,
            "estimate": self.estimate,
            "memory_available_gb": round(self.memory_available_gb, 2),
            "offloaded_gb": round(self.offloaded_gb, 2),
            "reason": self.reason,
            "memory_source": self.memory_source,
            "confirmed_on_gpu": self.confirmed_on_gpu,
        }


@lru_cache(maxsize=1)
def load_catalogue() -> dict[str, Any]:
    """The shared model catalogue (read-only here)."""
    return json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))


def catalogue_models() -> list[dict[str, Any]]:
    """Every catalogue model entry, in catalogue order."""
    return list(load_catalogue()["models"])


def model_entry(model_id: str) -> dict[str, Any]:
    """The catalogue entry for `model_id`; KeyError when unknown."""
    for entry in catalogue_models():
        if entry["id"] == model_id:
            return entry
    raise KeyError(model_id)


def demo_model_id() -> str:
    """The embedded demo model, the one CPU mode recommends."""
    return next(m["id"] for m in catalogue_models() if m.get("embedded"))


def _architecture(entry: dict[str, Any]) -> dict[str, Any]:
    return load_catalogue()["architectures"].get(entry.get("architecture", ""), {})


def _layer_split(arch: dict[str, Any]) -> tuple[int, int]:
    """(sliding, full) layer counts from e.g. "5 sliding + 1 full, x5"; all full (conservative) if unparsable."""
    layers = int(arch.get("num_hidden_layers", 0))
    match = re.search(r"(\d+)\s*sliding\s*\+\s*(\d+)\s*full\D*(\d+)", arch.get("layer_pattern", ""))
    if match:
        sliding, full, repeat = (int(g) for g in match.groups())
        if (sliding + full) * repeat == layers:
            return sliding * repeat, full * repeat
    return 0, layers


def kv_cache_gb(arch: dict[str, Any], context: int) -> float:
    """bf16 K and V for `context` tokens plus one canvas; sliding layers hold at most their window."""
    if "num_hidden_layers" not in arch:
        return 0.0
    sliding, full = _layer_split(arch)
    tokens = context + int(arch.get("canvas_length", CANVAS))
    window = int(arch.get("sliding_window", tokens))
    per_token_sliding = 2 * arch.get("sliding_kv_heads", 0) * arch.get("sliding_head_dim", 0) * 2
    per_token_full = 2 * arch.get("full_kv_heads", 0) * arch.get("full_head_dim", 0) * 2
    total = sliding * min(tokens, window) * per_token_sliding + full * tokens * per_token_full
    return total / GIB


def canvas_buffers_gb(arch: dict[str, Any]) -> float:
    """[canvas, vocab] float32 copies (logits, probs, self-conditioning, scratch) plus the bf16 logits."""
    vocab = int(arch.get("vocab_size", 0))
    canvas = int(arch.get("canvas_length", CANVAS))
    return canvas * vocab * (4 * CANVAS_FLOAT32_COPIES + 2) / GIB


def _figure(entry: dict[str, Any], profile: str) -> dict[str, Any] | None:
    """The profile_memory.json row for a bf16 checkpoint's architecture × profile (None for other checkpoints)."""
    if "bf16" not in entry.get("memory_gb", {}):
        return None
    architecture = _profile_figures().get(entry.get("architecture", ""), {})
    row = architecture.get("profiles", {}).get(profile)
    if not isinstance(row, dict) or not isinstance(row.get("total_bytes"), int):
        return None
    return {**row, "method": architecture.get("method", ""), "confirmed_on_gpu": architecture.get("confirmed_on_gpu")}


def weights_gb(entry: dict[str, Any], profile: str) -> float:
    """Weight bytes for `profile` in GiB: the measured/computed figure when there is one, else the catalogue's."""
    figure = _figure(entry, profile)
    if figure is not None:
        return figure["total_bytes"] / GIB
    return float(entry["memory_gb"][profile]) * 1e9 / GIB


def memory_source(entry: dict[str, Any], profile: str) -> tuple[str, bool]:
    """(where the weight figure comes from, whether it was confirmed on a GPU)."""
    figure = _figure(entry, profile)
    if figure is None:
        return "catalogue", False
    kind = "measured" if figure["method"].startswith("measured") else "computed from parameter shapes"
    return kind, bool(figure["confirmed_on_gpu"])


def _non_expert_gb(entry: dict[str, Any], profile: str) -> float:
    fraction = float(_architecture(entry).get("expert_params_fraction", 0.0))
    return weights_gb(entry, profile) * (1.0 - fraction)


def memory_need_gb(entry: dict[str, Any], profile: str, context: int = DEFAULT_CONTEXT) -> float:
    """Everything resident on the device for `profile`: weights + KV cache + canvas buffers + runtime margin."""
    arch = _architecture(entry)
    weights = weights_gb(entry, profile)
    return (
        weights
        + kv_cache_gb(arch, context)
        + canvas_buffers_gb(arch)
        + OVERHEAD_FIXED_GB
        + (OVERHEAD_WEIGHT_FRACTION * weights)
    )


def estimate_tok_s(
    weights_read_gb: float, bandwidth_gbs: float, steps: int = DEFAULT_STEPS, offloaded_gb: float = 0.0
) -> float:
    """Tokens/s from the weight-streaming model; the offloaded part streams over PCIe (~25 GB/s) every step."""
    resident = max(weights_read_gb - offloaded_gb, 0.0)
    step_s = resident * GIB / (bandwidth_gbs * 1e9) + offloaded_gb * GIB / (PCIE_GBS * 1e9)
    return CANVAS / ((steps + 1) * step_s)


def _colour(need: float, available: float) -> str:
    if need > available:
        return "red"
    return "green" if available - need >= TIGHT_HEADROOM * available else "yellow"


def _unsupported_reason(entry: dict[str, Any], profile: str, gpu: GpuInfo) -> str:
    if profile == "nvfp4":
        return f"not yet supported here — {VLLM_ONLY}"
    if entry.get("status") != "verified":
        return f"not yet supported: {entry.get('reason', 'not load-tested by the engine')}"
    if profile not in _NEEDS_CC:
        return f"the engine has no {profile} loader"
    if profile == "offload" and gpu.unified_memory:
        return "not applicable: unified memory is already shared with the CPU"
    need, label = _NEEDS_CC[profile]
    if gpu.compute_capability < need:
        return f"needs {label} support (CC {need[0]}.{need[1]}+); this GPU has CC {gpu.cc_text}"
    return ""


def _speed(
    entry: dict[str, Any], profile: str, gpu: GpuInfo, steps: int, offloaded: float
) -> tuple[float | None, bool]:
    measured = measured_tok_s(gpu.name, entry["id"], profile)
    if measured is not None:
        return measured, False
    if "num_hidden_layers" not in _architecture(entry) or not gpu.bandwidth_gbs:
        return None, True
    return estimate_tok_s(weights_gb(entry, profile), gpu.bandwidth_gbs, steps, offloaded), True


def evaluate_profile(
    entry: dict[str, Any], profile: str, gpu: GpuInfo, *, context: int = DEFAULT_CONTEXT, steps: int = DEFAULT_STEPS
) -> Recommendation:
    """One model × profile on `gpu`."""
    available = gpu.memory_budget_gb
    offloaded = 0.0
    if profile == "offload":
        full = memory_need_gb(entry, profile, context)
        resident_cap = OFFLOAD_FILL * available - (full - weights_gb(entry, profile))
        resident = min(weights_gb(entry, profile), resident_cap)
        if resident >= _non_expert_gb(entry, profile):
            offloaded = weights_gb(entry, profile) - resident
            need = full - offloaded
        else:
            need = full - weights_gb(entry, profile) + _non_expert_gb(entry, profile)
            offloaded = weights_gb(entry, profile) - _non_expert_gb(entry, profile)
        colour = "red" if need > available or offloaded > _host_budget(gpu) else "yellow"
    else:
        need = memory_need_gb(entry, profile, context)
        colour = _colour(need, available)
    unsupported = _unsupported_reason(entry, profile, gpu)
    tok_s, is_estimate = _speed(entry, profile, gpu, steps, offloaded)
    source, confirmed = memory_source(entry, profile)
    reason = unsupported or _fit_reason(gpu, profile, colour, need, offloaded)
    if profile == "int8" and not unsupported and colour != "red":
        reason = "; ".join(r for r in (reason, INT8_NOTE) if r)
    return Recommendation(
        model=entry["id"],
        profile=profile,
        supported=not unsupported,
        colour=colour,
        memory_needed_gb=need,
        memory_available_gb=available,
        estimated_tok_s=tok_s,
        estimate=is_estimate,
        reason=reason,
        offloaded_gb=offloaded,
        memory_source=source,
        confirmed_on_gpu=confirmed,
    )


def _host_budget(gpu: GpuInfo) -> float:
    """System RAM the offloaded weights may use; unknown (a table card) counts as enough."""
    if gpu.host_memory_gb is None:
        return float("inf")
    return unified_budget_gb(gpu.host_memory_gb)


def _fit_reason(gpu: GpuInfo, profile: str, colour: str, need: float, offloaded: float) -> str:
    available = gpu.memory_budget_gb
    if profile == "offload" and need <= available and offloaded > _host_budget(gpu):
        return f"needs {offloaded:.1f} GB of system RAM for the offloaded weights, {_host_budget(gpu):.1f} GB free"
    if colour == "red":
        return f"needs {need:.1f} GB, {available:.1f} GB available"
    if profile == "offload":
        if offloaded <= 0:
            return "not needed here: the whole model fits on the GPU"
        ram = "" if gpu.host_memory_gb is None else f" (of {_host_budget(gpu):.0f} GB usable)"
        return f"slow: {offloaded:.1f} GB of weights stay in system RAM{ram} and cross PCIe every step"
    if colour == "yellow":
        return f"tight: only {available - need:.1f} GB headroom"
    return ""


def _precision_rank(profile: str) -> int:
    return PROFILE_ORDER.index(profile) if profile in PROFILE_ORDER else len(PROFILE_ORDER)


def gpu_profiles(entry: dict[str, Any]) -> list[str]:
    """The GPU load profiles of a catalogue entry, most precise first: its `memory_gb` keys (less "cpu") and, for a
    bf16 checkpoint with figures, the profiles the loader quantizes it to while loading."""
    listed = {p for p in entry.get("memory_gb", {}) if p != "cpu"}
    if not entry.get("embedded"):  # the embedded demo is a few MB: quantizing it would only add rows
        listed |= {p for p in LOAD_TIME_PROFILES if _figure(entry, p) is not None}
    return sorted(listed, key=_precision_rank)


def _mark(recs: list[Recommendation]) -> list[Recommendation]:
    """Flag the recommended profile (most precise that fits on the GPU, else offload) and a faster alternative."""
    ordered = sorted(recs, key=lambda r: _precision_rank(r.profile))
    usable = [r for r in ordered if r.fits]
    if not usable:
        return recs
    resident = [r for r in usable if r.profile != "offload"]
    best = (resident or usable)[0]
    timed = [r for r in usable if r.estimated_tok_s is not None]
    fastest = max(timed, key=lambda r: r.estimated_tok_s or 0.0) if timed else None
    if fastest is not None and (fastest.estimated_tok_s or 0.0) <= (best.estimated_tok_s or 0.0):
        fastest = None
    return [replace(r, recommended=r is best, fastest=r is fastest) for r in recs]


def evaluate_entry(
    entry: dict[str, Any], gpu: GpuInfo, *, context: int = DEFAULT_CONTEXT, steps: int = DEFAULT_STEPS
) -> list[Recommendation]:
    """Every GPU profile of one catalogue entry on `gpu`, most precise first (no recommended flags)."""
    return [evaluate_profile(entry, p, gpu, context=context, steps=steps) for p in gpu_profiles(entry)]


def evaluate_gpu(
    gpu: GpuInfo,
    *,
    context: int = DEFAULT_CONTEXT,
    steps: int = DEFAULT_STEPS,
    models: list[dict[str, Any]] | None = None,
) -> list[Recommendation]:
    """Every catalogue model × profile on `gpu`, in catalogue order (`models` replaces the catalogue's entries).

    Entries of one architecture are variants of one model (bf16, FP8, NVFP4 checkpoints), so the recommended and
    fastest flags are chosen across the variants: one recommended row per architecture.
    """
    models = catalogue_models() if models is None else models
    recs = [rec for entry in models for rec in evaluate_entry(entry, gpu, context=context, steps=steps)]
    groups: dict[str, set[str]] = {}
    for entry in models:
        groups.setdefault(entry.get("architecture") or entry["id"], set()).add(entry["id"])
    marked: dict[tuple[str, str], Recommendation] = {}
    for ids in groups.values():
        for rec in _mark([r for r in recs if r.model in ids]):
            marked[(rec.model, rec.profile)] = rec
    return [marked[(r.model, r.profile)] for r in recs]


def recommended(recs: list[Recommendation], model_id: str) -> Recommendation | None:
    """The recommended profile of `model_id` among `recs`, or None when nothing fits."""
    return next((r for r in recs if r.model == model_id and r.recommended), None)


def cpu_recommendation() -> dict[str, Any]:
    """CPU mode's answer: the demo model on the CPU."""
    demo = model_entry(demo_model_id())
    return {
        "model": demo["id"],
        "profile": "cpu",
        "fits": True,
        "memory_needed_gb": round(weights_gb(demo, "cpu") + OVERHEAD_FIXED_GB, 2),
        "estimated_tok_s": None,
        "colour": "green",
        "reason": "CPU mode runs the embedded demo model only",
    }
