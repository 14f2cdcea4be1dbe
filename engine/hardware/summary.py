"""The hardware picture as ◆ JSON (`python -m engine.hardware --json`) and as text for a terminal."""

from __future__ import annotations

from typing import Any

from .discovery import GpuInfo, HardwareReport
from .profiles import DEFAULT_CONTEXT, DEFAULT_STEPS, PROFILE_LABELS, Recommendation, cpu_recommendation, evaluate_gpu
from .profiles import model_entry as _entry


def gpu_json(gpu: GpuInfo, recs: list[Recommendation] | None = None) -> dict[str, Any]:
    """◆ One GPU object: name, family, memory_gb, unified_memory, compute_capability, supports, recommendations."""
    recs = evaluate_gpu(gpu) if recs is None else recs
    return {
        "name": gpu.name,
        "family": gpu.family,
        "memory_gb": round(gpu.memory_total_gb or gpu.memory_budget_gb, 2),
        "unified_memory": gpu.unified_memory,
        "compute_capability": gpu.cc_text,
        "supports": gpu.supports,
        "recommendations": [r.as_json() for r in recs],
        "index": gpu.index,
        "torch_index": gpu.torch_index,
        "memory_budget_gb": round(gpu.memory_budget_gb, 2),
        "memory_free_gb": None if gpu.memory_free_gb is None else round(gpu.memory_free_gb, 2),
        "bandwidth_gbs": gpu.bandwidth_gbs,
        "driver_version": gpu.driver_version,
        "cuda_version": gpu.cuda_version,
        "source": gpu.source,
        "notes": list(gpu.notes),
    }


def report_json(report: HardwareReport) -> dict[str, Any]:
    """◆ `{"gpus": [...], "cpu_mode": reason or None, ...}`; GPUs seen but unusable go to "unusable_gpus"."""
    return {
        "gpus": [gpu_json(g) for g in report.gpus],
        "cpu_mode": report.cpu_mode,
        "cpu_recommendation": cpu_recommendation() if report.cpu_mode else None,
        "unusable_gpus": [gpu_json(g) for g in report.unusable_gpus],
        "driver_version": report.driver_version,
        "cuda_driver_version": report.cuda_driver_version,
        "torch_cuda_version": report.torch_cuda_version,
        "system_memory_gb": None if report.system_memory_gb is None else round(report.system_memory_gb, 2),
        "warnings": list(report.warnings),
        "memory_unit": "GiB",
        "context_tokens": DEFAULT_CONTEXT,
        "estimate_steps": DEFAULT_STEPS,
    }


def _rec_line(rec: Recommendation) -> str:
    mark = "★ recommended" if rec.recommended else ("» fastest" if rec.fastest else "")
    speed = "—" if rec.estimated_tok_s is None else f"~{rec.estimated_tok_s:,.0f} tok/s"
    if rec.estimated_tok_s is not None:
        speed += " (estimate)" if rec.estimate else " (measured)"
    state = rec.colour if rec.supported else "n/a"
    label = PROFILE_LABELS.get(rec.profile, rec.profile)
    line = f"    [{state:6}] {label:26} {rec.memory_needed_gb:6.1f} GB  {speed:28} {mark}"
    return line.rstrip() + (f"\n             {rec.reason}" if rec.reason else "")


def gpu_text(gpu: GpuInfo) -> str:
    """A readable block for one GPU: facts, then every model × profile."""
    flags = " ".join(f"{k}:{'yes' if v else 'no'}" for k, v in gpu.supports.items())
    memory = f"{gpu.memory_budget_gb:.1f} GB usable"
    if gpu.unified_memory:
        memory += " (unified memory, shared with the CPU)"
    elif gpu.memory_total_gb:
        memory = f"{gpu.memory_total_gb:.1f} GB"
    lines = [f"GPU {gpu.index}: {gpu.name} — {gpu.family}", f"  memory {memory}, CC {gpu.cc_text}, {flags}"]
    if gpu.bandwidth_gbs:
        lines[-1] += f", {gpu.bandwidth_gbs:,.0f} GB/s"
    if gpu.driver_version:
        lines.append(f"  driver {gpu.driver_version}, CUDA {gpu.cuda_version or '?'}")
    lines += [f"  note: {n}" for n in gpu.notes]
    current = None
    for rec in evaluate_gpu(gpu):
        if rec.model != current:
            current = rec.model
            lines.append(f"  {_entry(rec.model)['name']}  [{rec.model}]")
        lines.append(_rec_line(rec))
    return "\n".join(lines)


def report_text(report: HardwareReport) -> str:
    """The whole report for a terminal."""
    parts = []
    if report.cpu_mode:
        demo = cpu_recommendation()
        parts.append(f"CPU mode: {report.cpu_mode}\n  recommended: {demo['model']} on the CPU ({demo['reason']})")
    parts += [gpu_text(g) for g in report.gpus]
    if report.unusable_gpus:
        parts.append("Seen but not usable here:\n" + "\n".join(gpu_text(g) for g in report.unusable_gpus))
    parts += [f"warning: {w}" for w in report.warnings]
    parts.append("Speeds are estimates from memory bandwidth (weight-streaming bound) unless marked measured.")
    parts.append("FP8 / INT8 / offload memory of a bf16 checkpoint is computed from its parameter shapes with the "
                 "byte counts measured on CPU loads; not yet confirmed on a GPU.")
    return "\n\n".join(parts)
