"""Hardware discovery and load-profile advice for the GPU panel and the engine. Imports no Qt and no torch.

Public API: `discover()` → `HardwareReport` (GPUs as `GpuInfo`, or `cpu_mode` with a reason); `evaluate_gpu(gpu)`
→ `Recommendation`s per catalogue model × profile; `fit_badge(model_id, gpu)` / `fit_badge_text(...)` for the
model picker; `Selection` with `save_selection` / `load_selection`; providers for the panel (`NvmlProvider`,
`StaticProvider`); `report_json` (◆ CLI JSON).
"""

from __future__ import annotations

from .badge import FitBadge, fit_badge, fit_badge_text
from .discovery import (
    GpuInfo,
    HardwareReport,
    LiveReading,
    TorchCuda,
    discover,
    gpu_from_spec,
    probe_torch,
    read_live,
    supports_for,
    system_memory_gb,
)
from .gpus import GpuSpec, close_matches, find_gpus, load_table, match_nvml_name
from .measured import measured_tok_s, record_measurement
from .profiles import (
    DEFAULT_CONTEXT,
    DEFAULT_STEPS,
    PROFILE_LABELS,
    Recommendation,
    catalogue_models,
    cpu_recommendation,
    demo_model_id,
    estimate_tok_s,
    evaluate_entry,
    evaluate_gpu,
    memory_need_gb,
    model_entry,
    recommended,
)
from .provider import HardwareProvider, NvmlProvider, StaticProvider
from .selection import Selection, load_selection, save_selection
from .summary import gpu_json, report_json, report_text

__all__ = [
    "DEFAULT_CONTEXT",
    "DEFAULT_STEPS",
    "PROFILE_LABELS",
    "FitBadge",
    "GpuInfo",
    "GpuSpec",
    "HardwareProvider",
    "HardwareReport",
    "LiveReading",
    "NvmlProvider",
    "Recommendation",
    "Selection",
    "StaticProvider",
    "TorchCuda",
    "catalogue_models",
    "close_matches",
    "cpu_recommendation",
    "demo_model_id",
    "discover",
    "estimate_tok_s",
    "evaluate_entry",
    "evaluate_gpu",
    "find_gpus",
    "fit_badge",
    "fit_badge_text",
    "gpu_from_spec",
    "gpu_json",
    "load_selection",
    "load_table",
    "match_nvml_name",
    "measured_tok_s",
    "memory_need_gb",
    "model_entry",
    "probe_torch",
    "read_live",
    "recommended",
    "record_measurement",
    "report_json",
    "report_text",
    "save_selection",
    "supports_for",
    "system_memory_gb",
]
