"""Human-readable sizes and durations for the CLI and the Models page."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1234567 → "1.2 MB" (decimal units, as disks and the hub count)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_eta(seconds: float | None) -> str:
    """Seconds → "mm:ss" or "h:mm:ss"; "--:--" when unknown."""
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
