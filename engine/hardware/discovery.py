"""GPU discovery through NVML (nvidia-ml-py), cross-checked with torch.cuda; never nvidia-smi.

`discover(nvml=..., torch_probe=..., system_memory_gb=...)` takes its readings from injectable sources, so tests pass
a fake NVML module; torch is imported only inside `probe_torch`, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .gpus import GpuSpec, family_for_name, match_nvml_name

GIB = 1024**3
# What the OS and desktop keep for themselves on a unified-memory machine (DGX Spark).
UNIFIED_OS_RESERVE_MIN_GB = 8.0
UNIFIED_OS_RESERVE_FRACTION = 0.10

_NVML_LIBRARY_NOT_FOUND = 12
_NVML_DRIVER_NOT_LOADED = 9
_NVML_NO_PERMISSION = 4
_NVML_TEMPERATURE_GPU = 0

CPU_ONLY_TORCH = "PyTorch here is a CPU-only build — install the CUDA build from the PyTorch index"


@dataclass(frozen=True)
class TorchCuda:
    """What PyTorch can see: its CUDA build, whether CUDA works, and the devices' names, CCs and UUIDs."""

    installed: bool = True
    cuda_version: str | None = None
    available: bool = False
    device_names: tuple[str, ...] = ()
    device_uuids: tuple[str, ...] = ()
    device_ccs: tuple[tuple[int, int], ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class LiveReading:
    """Values that change while the panel is open, read straight from NVML (None where NVML has no figure)."""

    index: int
    utilization_pct: int | None = None
    temperature_c: int | None = None
    memory_used_gb: float | None = None
    memory_free_gb: float | None = None


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as detected (source "nvml") or as evaluated from the table (source "table").

    Memory figures are GiB ("GB" as GPU vendors quote it). `memory_budget_gb` is what a model may use: the card's
    memory, or for unified memory (DGX Spark) system RAM minus an OS reserve — never 0.
    """

    index: int
    name: str
    family: str
    memory_total_gb: float | None
    memory_free_gb: float | None
    memory_budget_gb: float
    unified_memory: bool
    compute_capability: tuple[int, int]
    bandwidth_gbs: float | None
    spec: GpuSpec | None = None
    uuid: str | None = None
    torch_index: int | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    live: LiveReading | None = None
    host_memory_gb: float | None = None
    source: str = "nvml"
    notes: tuple[str, ...] = ()

    @property
    def supports(self) -> dict[str, bool]:
        """bf16 from CC 8.0, FP8 from 8.9, FP4 from 10.0 (shared GPUS.md)."""
        return supports_for(self.compute_capability)

    @property
    def cc_text(self) -> str:
        """The compute capability as "8.9"."""
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"


@dataclass(frozen=True)
class HardwareReport:
    """The whole picture: usable GPUs, or CPU mode with its reason (and any GPUs that were seen but are unusable)."""

    gpus: tuple[GpuInfo, ...] = ()
    cpu_mode: str | None = None
    unusable_gpus: tuple[GpuInfo, ...] = ()
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    torch_cuda_version: str | None = None
    system_memory_gb: float | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def supports_for(cc: tuple[int, int]) -> dict[str, bool]:
    """Precision support for a compute capability: {"bf16", "fp8", "fp4"}."""
    return {"bf16": cc >= (8, 0), "fp8": cc >= (8, 9), "fp4": cc >= (10, 0)}


def system_memory_gb() -> float | None:
    """Total system RAM in GiB (from /proc/meminfo, else os.sysconf); None where neither works."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / GIB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError, AttributeError):
        return None


def unified_budget_gb(system_gb: float) -> float:
    """What a model may use of unified memory: system RAM minus what the OS keeps."""
    reserve = max(UNIFIED_OS_RESERVE_MIN_GB, UNIFIED_OS_RESERVE_FRACTION * system_gb)
    return max(system_gb - reserve, system_gb * 0.5)


def probe_torch() -> TorchCuda:
    """Ask PyTorch (imported here, lazily) whether it is a CUDA build and which devices it sees."""
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 — any import failure means "no usable torch"
        return TorchCuda(installed=False, error=f"PyTorch could not be imported ({exc})")
    cuda_version = getattr(torch.version, "cuda", None)
    if not cuda_version:
        return TorchCuda(cuda_version=None)
    try:
        if not torch.cuda.is_available():
            return TorchCuda(cuda_version=cuda_version, available=False)
        props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    except Exception as exc:  # noqa: BLE001 — a broken CUDA set-up is reported, not raised
        return TorchCuda(cuda_version=cuda_version, error=str(exc))
    return TorchCuda(
        cuda_version=cuda_version,
        available=True,
        device_names=tuple(p.name for p in props),
        device_uuids=tuple(str(getattr(p, "uuid", "") or "") for p in props),
        device_ccs=tuple((p.major, p.minor) for p in props),
    )


def _load_pynvml() -> Any:
    import pynvml

    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _error_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def nvml_failure_reason(exc: BaseException) -> str:
    """A sentence a user can act on for an NVML start-up failure."""
    code = _error_code(exc)
    if isinstance(exc, (ImportError, OSError)) or code == _NVML_LIBRARY_NOT_FOUND:
        return "NVIDIA driver not found (NVML could not load)"
    if code == _NVML_DRIVER_NOT_LOADED:
        return "NVIDIA driver is installed but not loaded (NVML: driver not loaded) — reboot or load the nvidia module"
    if code == _NVML_NO_PERMISSION:
        return "No permission to query the NVIDIA driver (NVML: no permission)"
    return f"NVML failed to start ({exc})"


def _optional(call: Callable[[], Any]) -> Any:
    """NVML's answer, or None where the device does not report it (NOT_SUPPORTED and friends)."""
    try:
        return call()
    except Exception:  # noqa: BLE001 — NVML raises per-field errors for unsupported queries
        return None


def _cuda_text(version: int | None) -> str | None:
    if not version:
        return None
    return f"{version // 1000}.{(version % 1000) // 10}"


def read_live(nvml: Any, index: int) -> LiveReading:
    """Utilisation, temperature and memory of one GPU — a fast NVML call (milliseconds)."""
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    util = _optional(lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
    temp_kind = getattr(nvml, "NVML_TEMPERATURE_GPU", _NVML_TEMPERATURE_GPU)
    temp = _optional(lambda: nvml.nvmlDeviceGetTemperature(handle, temp_kind))
    mem = _optional(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    total = getattr(mem, "total", 0) if mem is not None else 0
    return LiveReading(
        index=index,
        utilization_pct=getattr(util, "gpu", None) if util is not None else None,
        temperature_c=temp,
        memory_used_gb=mem.used / GIB if total else None,
        memory_free_gb=mem.free / GIB if total else None,
    )


def _read_device(nvml: Any, index: int, system_gb: float | None, driver: str | None, cuda: str | None) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _text(nvml.nvmlDeviceGetName(handle))
    uuid = _optional(lambda: _text(nvml.nvmlDeviceGetUUID(handle)))
    cc_pair = _optional(lambda: nvml.nvmlDeviceGetCudaComputeCapability(handle))
    mem = _optional(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    total = mem.total / GIB if mem is not None and getattr(mem, "total", 0) else None
    free = mem.free / GIB if total else None
    spec = match_nvml_name(name, total)
    notes: list[str] = []
    cc = tuple(cc_pair) if cc_pair else (spec.compute_capability if spec else (0, 0))
    unified = spec.unified_memory if spec else total is None and system_gb is not None
    if unified:
        budget = _unified_budget(total, system_gb, spec)
        notes.append(f"unified memory: budget {budget:.0f} GB of system RAM after an OS reserve")
    else:
        budget = total if total else (spec.memory_gb if spec else 0.0)
        if not total:
            notes.append("NVML reports no memory total; using the table's figure" if spec else "memory unknown")
    return GpuInfo(
        index=index,
        name=name,
        family=spec.family if spec else family_for_name(name),
        memory_total_gb=total,
        memory_free_gb=free,
        memory_budget_gb=budget,
        unified_memory=unified,
        compute_capability=(int(cc[0]), int(cc[1])),
        bandwidth_gbs=spec.bandwidth_gbs if spec else None,
        spec=spec,
        uuid=uuid,
        driver_version=driver,
        cuda_version=cuda,
        live=_optional(lambda: read_live(nvml, index)),
        host_memory_gb=system_gb,
        notes=tuple(notes),
    )


def _unified_budget(nvml_total: float | None, system_gb: float | None, spec: GpuSpec | None) -> float:
    """Unified memory is budgeted against system RAM; the table's figure is the fallback, never 0."""
    if system_gb:
        budget = unified_budget_gb(system_gb)
    else:
        budget = unified_budget_gb(spec.memory_gb if spec else 16.0)
    if nvml_total:
        budget = min(budget, nvml_total)
    return budget


def gpu_from_spec(spec: GpuSpec, index: int = 0) -> GpuInfo:
    """A table card evaluated as if present (for `--gpu NAME`: "what would run on this card?")."""
    budget = unified_budget_gb(spec.memory_gb) if spec.unified_memory else spec.memory_gb
    return GpuInfo(
        index=index,
        name=spec.name,
        family=spec.family,
        memory_total_gb=spec.memory_gb,
        memory_free_gb=None,
        memory_budget_gb=budget,
        unified_memory=spec.unified_memory,
        compute_capability=spec.compute_capability,
        bandwidth_gbs=spec.bandwidth_gbs,
        spec=spec,
        source="table",
    )


def _torch_verdict(gpus: list[GpuInfo], torch_cuda: TorchCuda) -> tuple[list[GpuInfo], str | None, list[str]]:
    """Map NVML GPUs to torch device indices (by UUID, else by order); CPU mode when torch cannot use them."""
    if not torch_cuda.installed:
        return gpus, torch_cuda.error or "PyTorch is not installed", []
    if not torch_cuda.cuda_version:
        return gpus, CPU_ONLY_TORCH, []
    if not torch_cuda.available:
        detail = f" ({torch_cuda.error})" if torch_cuda.error else ""
        reason = (
            f"PyTorch (CUDA {torch_cuda.cuda_version}) cannot use the GPU{detail} — "
            "the NVIDIA driver may be older than this PyTorch build needs"
        )
        return gpus, reason, []
    warnings: list[str] = []
    torch_uuids = [u.lower().removeprefix("gpu-") for u in torch_cuda.device_uuids]
    nvml_uuids = [(g.uuid or "").lower().removeprefix("gpu-") for g in gpus]
    # UUIDs pair devices even when CUDA orders them differently; without any UUID match, fall back to order.
    by_uuid = any(u and u in torch_uuids for u in nvml_uuids)
    mapped = []
    for position, gpu in enumerate(gpus):
        if by_uuid:
            uuid = nvml_uuids[position]
            torch_index: int | None = torch_uuids.index(uuid) if uuid and uuid in torch_uuids else None
        else:
            torch_index = position if position < len(torch_cuda.device_names) else None
        if torch_index is None:
            warnings.append(f"{gpu.name} (GPU {gpu.index}) is not visible to PyTorch (CUDA_VISIBLE_DEVICES?)")
        mapped.append(replace(gpu, torch_index=torch_index))
    if all(g.torch_index is None for g in mapped):
        return mapped, "PyTorch sees none of the GPUs NVML reports (check CUDA_VISIBLE_DEVICES)", warnings
    return mapped, None, warnings


def discover(
    nvml: Any = None,
    *,
    torch_probe: Callable[[], TorchCuda] | None = None,
    system_memory: Callable[[], float | None] | None = None,
) -> HardwareReport:
    """Detect the GPUs; on any failure return CPU mode with a reason instead of raising.

    `nvml` is a pynvml-like module (the real one by default); `torch_probe` and `system_memory` replace the torch
    cross-check and the RAM reading (tests inject all three).
    """
    system_gb = (system_memory or system_memory_gb)()
    try:
        nvml = nvml if nvml is not None else _load_pynvml()
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 — every NVML start-up failure means CPU mode
        return HardwareReport(cpu_mode=nvml_failure_reason(exc), system_memory_gb=system_gb)
    try:
        driver = _optional(lambda: _text(nvml.nvmlSystemGetDriverVersion()))
        cuda = _cuda_text(_optional(nvml.nvmlSystemGetCudaDriverVersion))
        count = nvml.nvmlDeviceGetCount()
        gpus = [_read_device(nvml, i, system_gb, driver, cuda) for i in range(count)]
    except Exception as exc:  # noqa: BLE001
        return HardwareReport(cpu_mode=f"NVML could not list the GPUs ({exc})", system_memory_gb=system_gb)
    finally:
        _optional(nvml.nvmlShutdown)
    base = {"driver_version": driver, "cuda_driver_version": cuda, "system_memory_gb": system_gb}
    if not gpus:
        return HardwareReport(cpu_mode="No NVIDIA GPU found (the driver reports 0 devices)", **base)
    torch_cuda = (torch_probe or probe_torch)()
    gpus, reason, warnings = _torch_verdict(gpus, torch_cuda)
    base["torch_cuda_version"] = torch_cuda.cuda_version
    if reason is not None:
        return HardwareReport(cpu_mode=reason, unusable_gpus=tuple(gpus), warnings=tuple(warnings), **base)
    usable = tuple(g for g in gpus if g.torch_index is not None)
    unusable = tuple(g for g in gpus if g.torch_index is None)
    return HardwareReport(gpus=usable, unusable_gpus=unusable, warnings=tuple(warnings), **base)
