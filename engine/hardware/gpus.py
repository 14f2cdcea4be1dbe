"""The shipped GPU table (`engine/data/gpus.json`, from shared GPUS.md): lookup by NVML name or by a user's query."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "gpus.json"

OTHER_FAMILY = "other"

# Cards missing from the table still get their GeForce generation from the name; everything else is "other".
_FAMILY_PATTERNS = (
    (re.compile(r"geforce rtx 50\d\d"), "GeForce RTX 50 (Blackwell)"),
    (re.compile(r"geforce rtx 40\d\d"), "GeForce RTX 40 (Ada)"),
    (re.compile(r"geforce rtx 30\d\d"), "GeForce RTX 30 (Ampere)"),
    (re.compile(r"rtx pro \d{4} blackwell"), "RTX PRO (Blackwell)"),
)


@dataclass(frozen=True)
class GpuSpec:
    """One card of the table: nominal memory (GiB, as vendors quote it), bandwidth (GB/s) and compute capability."""

    name: str
    row: str
    family: str
    memory_gb: float
    bandwidth_gbs: float
    compute_capability: tuple[int, int]
    unified_memory: bool
    nvml_names: tuple[str, ...]
    keywords: tuple[str, ...] = ()

    @property
    def search_strings(self) -> tuple[str, ...]:
        """Every string a query may match: display name, NVML names, the GPUS.md row and keywords."""
        return (self.name, self.row, *self.nvml_names, *self.keywords)


def parse_cc(text: str) -> tuple[int, int]:
    """Parse "8.9" into (8, 9)."""
    major, _, minor = str(text).partition(".")
    return int(major), int(minor or 0)


@lru_cache(maxsize=1)
def load_table() -> tuple[GpuSpec, ...]:
    """All cards of the shipped table, in GPUS.md order."""
    data = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return tuple(
        GpuSpec(
            name=row["name"],
            row=row["row"],
            family=row["family"],
            memory_gb=float(row["memory_gb"]),
            bandwidth_gbs=float(row["bandwidth_gbs"]),
            compute_capability=parse_cc(row["compute_capability"]),
            unified_memory=bool(row.get("unified_memory", False)),
            nvml_names=tuple(row.get("nvml_names", ())),
            keywords=tuple(row.get("keywords", ())),
        )
        for row in data["gpus"]
    )


def _tokens(text: str) -> frozenset[str]:
    words = re.split(r"[^0-9a-z]+", text.lower())
    return frozenset(w for w in words if w and w != "nvidia")


def _normalise(text: str) -> str:
    return " ".join(sorted(_tokens(text)))


def match_nvml_name(nvml_name: str, memory_gb: float | None = None) -> GpuSpec | None:
    """The table entry for a name NVML reports (e.g. "NVIDIA GeForce RTX 4090"), or None for an unknown card.

    Variants sharing one NVML name (RTX 4060 Ti 8 / 16 GB) are told apart by the memory NVML reports.
    """
    key = _normalise(nvml_name)
    candidates = [spec for spec in load_table() if key in {_normalise(n) for n in (*spec.nvml_names, spec.name)}]
    if not candidates:
        return None
    if memory_gb is None or len(candidates) == 1:
        return candidates[0]
    return min(candidates, key=lambda spec: abs(spec.memory_gb - memory_gb))


def family_for_name(nvml_name: str) -> str:
    """The family of a card that is not in the table, guessed from its name; "other" when unsure."""
    lowered = " ".join(nvml_name.lower().split())
    for pattern, family in _FAMILY_PATTERNS:
        if pattern.search(lowered):
            return family
    return OTHER_FAMILY


def find_gpus(query: str) -> list[GpuSpec]:
    """Table entries for a user's query: exact, partial or case-insensitive ("rtx pro 6000", "GB10", "DGX Spark").

    Returns the best-matching entries; several only when they are variants of one GPUS.md row (e.g. "RTX 4060 Ti"
    gives its 8 and 16 GB versions). Returns [] when nothing matches or when the best matches span several rows.
    """
    wanted = _tokens(query)
    if not wanted:
        return []
    scored: list[tuple[tuple[int, int], GpuSpec]] = []
    for spec in load_table():
        # A hit on the card's own names ranks above a hit on the GPUS.md row it shares with its variants.
        strings = [(s, 0) for s in (spec.name, *spec.nvml_names, *spec.keywords)] + [(spec.row, 1)]
        ranks = [(tier, len(_tokens(s) - wanted)) for s, tier in strings if wanted <= _tokens(s)]
        if ranks:
            scored.append((min(ranks), spec))
    if not scored:
        return []
    best = min(score for score, _ in scored)
    winners = [spec for score, spec in scored if score == best]
    if best == (0, 0):
        exact = [spec for spec in winners if wanted == _tokens(spec.name)]
        winners = exact or winners
    if len({spec.row for spec in winners}) > 1:
        return []
    return winners


def close_matches(query: str, limit: int = 5) -> list[str]:
    """Display names of table entries resembling `query`, best first (for "did you mean" messages)."""
    wanted = query.lower().removeprefix("nvidia ").strip()

    def similarity(spec: GpuSpec) -> float:
        strings = (spec.name, spec.row, *spec.keywords, *(n.removeprefix("NVIDIA ") for n in spec.nvml_names))
        return max(difflib.SequenceMatcher(None, wanted, s.lower()).ratio() for s in strings)

    ranked = sorted(load_table(), key=similarity, reverse=True)
    return [spec.name for spec in ranked[:limit]]
