"""The fake GPUs and catalogue model ids the hardware tests share, and discovery over injected NVML readings."""

from __future__ import annotations

import copy

from engine.hardware import HardwareReport, catalogue_models, discover
from engine.hardware.discovery import TorchCuda
from engine.hardware.fake import FakeGpu, FakeNvml, torch_seeing

BF16 = "google/diffusiongemma-26B-A4B-it"
NVFP4 = "nvidia/diffusiongemma-26B-A4B-it-NVFP4"
FP8 = "RedHatAI/diffusiongemma-26B-A4B-it-FP8-dynamic"
DEMO = "diffusion-desk/demo"
HOST_RAM = 64.0

RTX_4090 = FakeGpu("NVIDIA GeForce RTX 4090", 23.99, (8, 9))
RTX_5090 = FakeGpu("NVIDIA GeForce RTX 5090", 31.84, (12, 0))
RTX_PRO_6000 = FakeGpu("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 95.59, (12, 0))
GB10 = FakeGpu("NVIDIA GB10", None, (12, 1))
H100 = FakeGpu("NVIDIA H100 80GB HBM3", 79.65, (9, 0))


def detect(*gpus: FakeGpu, ram: float | None = HOST_RAM, torch: TorchCuda | None = None) -> HardwareReport:
    """Discovery over fake NVML readings, a torch that sees them all (unless given) and `ram` GiB of RAM."""
    nvml = FakeNvml([copy.copy(g) for g in gpus])
    return discover(nvml, torch_probe=lambda: torch or torch_seeing(nvml), system_memory=lambda: ram)


def rec(recs, model, profile):
    return next(r for r in recs if r.model == model and r.profile == profile)


def all_verified() -> list[dict]:
    """The catalogue as if every entry had been load-tested, so the CC gates are what decides."""
    return [{**entry, "status": "verified"} for entry in copy.deepcopy(catalogue_models())]
