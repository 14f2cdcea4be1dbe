"""How many CPU threads torch uses for one answer.

torch starts one thread per logical CPU. When another program keeps a core busy, those threads wait for each
other at every operation (they spin at barriers while one of them is descheduled), so an answer that takes 0.2 s
on a quiet machine can take 30 s. One core fewer than the machine has leaves room for the GUI and for other
programs, and keeps the threads in step.
"""

from __future__ import annotations

import os
from pathlib import Path


def physical_cores() -> int:
    """Physical cores this process may use (logical CPUs when the topology cannot be read)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(allowed))
        cores.add((package, core))
    return max(1, len(cores))


def default_cpu_threads() -> int:
    """Physical cores − 1, at least 1."""
    return max(1, physical_cores() - 1)


def set_cpu_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count for the calling thread (and the pool it starts); returns the count used.

    `None` or 0 picks `default_cpu_threads()`. Call it in the thread that runs the model: OpenMP keeps the count
    per thread.
    """
    import torch

    count = int(threads) if threads else default_cpu_threads()
    count = max(1, min(count, os.cpu_count() or count))
    torch.set_num_threads(count)
    return count
