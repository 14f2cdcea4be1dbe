"""Where the GPU panel gets its readings: the real NVML, or fixed readings (tests, screenshots, `--gpu`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .discovery import HardwareReport, LiveReading, TorchCuda, discover, read_live


class HardwareProvider(Protocol):
    """`report()` is the full discovery (may take seconds: torch import) and `live()` a fast per-GPU reading.

    Both are called off the GUI thread.
    """

    def report(self) -> HardwareReport: ...

    def live(self) -> list[LiveReading]: ...


class NvmlProvider:
    """The real hardware: `discover()` once, then live NVML readings of the usable GPUs."""

    def __init__(self, nvml: Any = None, torch_probe: Callable[[], TorchCuda] | None = None) -> None:
        self._nvml = nvml
        self._torch_probe = torch_probe
        self._indices: list[int] = []
        self._lock = threading.Lock()
        self._ready = False

    def _module(self) -> Any:
        if self._nvml is None:
            import pynvml

            self._nvml = pynvml
        return self._nvml

    def report(self) -> HardwareReport:
        """Full discovery (NVML + torch cross-check)."""
        try:
            nvml = self._module()
        except Exception:  # noqa: BLE001 — discover() turns a missing NVML into CPU mode
            nvml = None
        result = discover(nvml, torch_probe=self._torch_probe)
        self._indices = [g.index for g in (*result.gpus, *result.unusable_gpus)]
        return result

    def live(self) -> list[LiveReading]:
        """Utilisation, temperature and memory now; [] when NVML is unavailable. NVML stays initialised."""
        if not self._indices:
            return []
        with self._lock:
            try:
                nvml = self._module()
                if not self._ready:
                    nvml.nvmlInit()
                    self._ready = True
                return [read_live(nvml, i) for i in self._indices]
            except Exception:  # noqa: BLE001 — no NVML, or a GPU vanished mid-read: no reading this time
                return []

    def close(self) -> None:
        """Release NVML (the panel calls this when it goes away)."""
        with self._lock:
            if self._ready:
                self._ready = False
                # Shutting down a broken NVML is not an error worth showing.
                with contextlib.suppress(Exception):
                    self._nvml.nvmlShutdown()


class StaticProvider:
    """Fixed readings: a ready report and optionally a function producing live readings."""

    def __init__(self, report: HardwareReport, live: Callable[[], Sequence[LiveReading]] | None = None) -> None:
        self._report = report
        self._live = live

    def report(self) -> HardwareReport:
        """The report given at construction."""
        return self._report

    def live(self) -> list[LiveReading]:
        """The live function's readings, or the report's own."""
        if self._live is not None:
            return list(self._live())
        return [g.live for g in (*self._report.gpus, *self._report.unusable_gpus) if g.live is not None]
