"""Whether the processor is what limits answer speed, in words for the status line."""

from __future__ import annotations

import os


def cpu_busy_by_others(load: float | None = None, cores: int | None = None) -> bool:
    """True when the 1-minute load average exceeds this machine's CPUs (other programs compete for them)."""
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not on this platform
            return False
    return load > (cores or os.cpu_count() or 1)


def cpu_note(device: str, threads: int, *, busy: bool | None = None) -> str:
    """"" on a GPU; on the CPU, how many threads answer and whether other programs slow them down."""
    if not device.startswith("cpu"):
        return ""
    busy = cpu_busy_by_others() if busy is None else busy
    count = f"{threads} thread{'s' if threads != 1 else ''}" if threads else "CPU"
    if busy:
        return f"CPU is the bottleneck: other programs are busy ({count})"
    return f"CPU-limited ({count})"


CPU_TOOLTIP = ("Answers run on the processor. When other programs keep it busy, answers slow down; the number of "
               "threads is in Settings → Processor threads (CPU). A GPU is much faster.")
