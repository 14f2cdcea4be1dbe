"""A model's fit on one GPU as a short badge — shared by the GPU panel and the model picker."""

from __future__ import annotations

from dataclasses import dataclass

from .discovery import GpuInfo
from .profiles import PROFILE_LABELS, evaluate_entry, model_entry


@dataclass(frozen=True)
class FitBadge:
    """colour: "green" | "yellow" | "red" | "grey" (not yet supported); text: a few words; detail: a tooltip."""

    colour: str
    text: str
    detail: str
    profile: str | None = None


def fit_badge(model_id: str, gpu: GpuInfo | None) -> FitBadge:
    """How well `model_id` fits `gpu` (None = CPU mode), from its best usable profile."""
    entry = model_entry(model_id)
    if gpu is None:
        if "cpu" in entry.get("memory_gb", {}):
            return FitBadge("green", "runs on CPU", "CPU mode runs the embedded demo model", "cpu")
        return FitBadge("red", "needs a GPU", "CPU mode runs the embedded demo model only")
    recs = evaluate_entry(entry, gpu)
    usable = [r for r in recs if r.fits]
    resident = [r for r in usable if r.profile != "offload" or r.offloaded_gb <= 0]
    if resident:
        best = resident[0]
        label = PROFILE_LABELS.get(best.profile, best.profile)
        word = "fits" if best.colour == "green" else "fits, tight"
        detail = f"{best.memory_needed_gb:.1f} of {best.memory_available_gb:.1f} GB as {label}"
        return FitBadge(best.colour, f"{word} ({label})", detail, best.profile)
    if usable:
        best = usable[0]
        detail = f"{best.offloaded_gb:.1f} GB of weights stay in system RAM — {best.reason}"
        return FitBadge("yellow", "only with CPU offload (slow)", detail, best.profile)
    if recs and not any(r.supported for r in recs):
        return FitBadge("grey", "not yet supported", recs[0].reason)
    sized = [r for r in recs if r.supported] or recs
    if not sized:
        return FitBadge("grey", "no GPU profile", "this model lists no GPU load profile")
    smallest = min(sized, key=lambda r: r.memory_needed_gb)
    text = f"too big: needs {smallest.memory_needed_gb:.0f} GB"
    return FitBadge("red", text, f"{smallest.reason}", None)


def fit_badge_text(model_id: str, gpu: GpuInfo | None) -> str:
    """The badge as one line of text, e.g. "fits (bf16)" or "too big: needs 56 GB"."""
    return fit_badge(model_id, gpu).text
