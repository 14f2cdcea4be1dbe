"""A pynvml-like stand-in with chosen readings, for tests, screenshots and demos without NVIDIA hardware."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from .discovery import GIB, TorchCuda

NOT_SUPPORTED = 3
LIBRARY_NOT_FOUND = 12


class FakeNvmlError(Exception):
    """Carries an NVML return code in `.value`, like pynvml.NVMLError."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeGpu:
    """One simulated device. `memory_gb=None` makes memory queries raise NOT_SUPPORTED (as on DGX Spark)."""

    name: str
    memory_gb: float | None
    cc: tuple[int, int]
    used_gb: float = 0.5
    utilization_pct: int = 3
    temperature_c: int = 38
    uuid: str = ""


class FakeNvml:
    """Answers the pynvml calls discovery makes; `init_error` makes nvmlInit fail with that NVML code."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        *,
        init_error: int | None = None,
        driver: str = "580.95.05",
        cuda: int = 13000,
    ) -> None:
        self.gpus = list(gpus or [])
        for i, gpu in enumerate(self.gpus):
            gpu.uuid = gpu.uuid or f"GPU-00000000-0000-0000-0000-{i:012d}"
        self.init_error = init_error
        self.driver = driver
        self.cuda = cuda
        self.initialised = 0

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise FakeNvmlError(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str:
        return handle.name

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        return handle.uuid

    def nvmlDeviceGetCudaComputeCapability(self, handle: FakeGpu) -> tuple[int, int]:
        return handle.cc

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu) -> SimpleNamespace:
        if handle.memory_gb is None:
            raise FakeNvmlError(NOT_SUPPORTED)
        total = int(handle.memory_gb * GIB)
        used = int(handle.used_gb * GIB)
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu) -> SimpleNamespace:
        return SimpleNamespace(gpu=handle.utilization_pct, memory=0)

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:
        return handle.temperature_c


def torch_seeing(nvml: FakeNvml, cuda_version: str = "13.0") -> TorchCuda:
    """A CUDA build of torch that sees every fake GPU (same order, same UUIDs)."""
    return TorchCuda(
        cuda_version=cuda_version,
        available=True,
        device_names=tuple(g.name for g in nvml.gpus),
        device_uuids=tuple(g.uuid.removeprefix("GPU-") for g in nvml.gpus),
        device_ccs=tuple(g.cc for g in nvml.gpus),
    )


CPU_ONLY_TORCH_BUILD = TorchCuda(cuda_version=None)
