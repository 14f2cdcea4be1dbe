"""The model catalogue: a data file (`engine/data/catalogue.json`), read into small dataclasses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE_PATH = Path(__file__).resolve().parent.parent / "data" / "catalogue.json"

READY_STATUSES = ("verified",)


@dataclass(frozen=True)
class CatalogueEntry:
    """One model the app knows about; `status` is "verified" only after the engine has load-tested it."""

    id: str
    name: str
    repo_id: str | None
    revision: str | None
    download_size_gb: float
    memory_gb: dict[str, float]
    licence: str
    gated: bool
    homepage: str | None
    status: str
    reason: str
    embedded: bool = False
    architecture: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def supported(self) -> bool:
        """True when the engine can load this checkpoint (else `reason` says why not)."""
        return self.status in READY_STATUSES

    @property
    def licence_url(self) -> str | None:
        """The page where a gated model's licence is accepted."""
        return self.homepage or (f"https://huggingface.co/{self.repo_id}" if self.repo_id else None)


def _entry(raw: dict[str, Any]) -> CatalogueEntry:
    known = set(CatalogueEntry.__dataclass_fields__) - {"extra"}
    return CatalogueEntry(
        id=raw["id"],
        name=raw.get("name", raw["id"]),
        repo_id=raw.get("repo_id"),
        revision=raw.get("revision"),
        download_size_gb=float(raw.get("download_size_gb", 0.0)),
        memory_gb={k: float(v) for k, v in raw.get("memory_gb", {}).items()},
        licence=raw.get("licence", ""),
        gated=bool(raw.get("gated", False)),
        homepage=raw.get("homepage"),
        status=raw.get("status", "not yet supported"),
        reason=raw.get("reason", ""),
        embedded=bool(raw.get("embedded", False)),
        architecture=raw.get("architecture"),
        extra={k: v for k, v in raw.items() if k not in known},
    )


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[CatalogueEntry, ...]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(_entry(raw) for raw in data.get("models", []))


def load_catalogue(path: Path | None = None) -> list[CatalogueEntry]:
    """Every catalogue entry, in file order."""
    return list(_load(str(path or CATALOGUE_PATH)))


def find_entry(model_id: str, path: Path | None = None) -> CatalogueEntry | None:
    """The entry whose `id` or `repo_id` is `model_id` (case-insensitive), or None."""
    wanted = model_id.lower()
    for entry in load_catalogue(path):
        if entry.id.lower() == wanted or (entry.repo_id or "").lower() == wanted:
            return entry
    return None
