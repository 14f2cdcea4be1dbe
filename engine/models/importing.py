"""Import a model folder from disk: validate it, then copy it or link to it under `<data>/imported/`."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from . import store
from .errors import ImportValidationError
from .hub import RemoteFile
from .layout import structure_problems


def validate_folder(folder: Path) -> list[str]:
    """Problems that stop `folder` from being imported (config model_type, every weight shard, tokenizer)."""
    return structure_problems(Path(folder).expanduser())


def _name_for(folder: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-.") or "model"
    candidate, n = name, 2
    while (store.imported_root() / candidate).exists() or (store.imported_root() / candidate).is_symlink():
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def import_folder(folder: Path | str, *, mode: str = "copy", name: str | None = None) -> store.LocalModel:
    """Validate and import `folder`; `mode` "copy" duplicates the files, "link" points at them in place.

    Raises `ImportValidationError` listing what is missing or broken; nothing is written in that case.
    """
    source = Path(folder).expanduser().resolve()
    if mode not in ("copy", "link"):
        raise ValueError(f"mode must be 'copy' or 'link', not {mode!r}")
    problems = validate_folder(source)
    if problems:
        raise ImportValidationError(f"{source} is not a complete DiffusionGemma model: " + "; ".join(problems) + ".")
    target = store.imported_root() / (name or _name_for(source))
    if target.exists() or target.is_symlink():
        raise ImportValidationError(f"An imported model called {target.name} already exists; delete it first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        os.symlink(source, target, target_is_directory=True)
    else:
        tmp = target.with_name(f".{target.name}.importing")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, symlinks=False)
        tmp.replace(target)
    model_id = f"local/{target.name}"
    files = sorted(p for p in target.rglob("*") if p.is_file())
    manifest = store.Manifest(
        model_id, "local", "local",
        [RemoteFile(p.relative_to(target).as_posix(), p.stat().st_size) for p in files],
        verified={p.relative_to(target).as_posix(): [p.stat().st_size, p.stat().st_mtime_ns] for p in files},
    )
    store.save_manifest(manifest)
    status, problems = store.local_status(model_id, target)
    return store.LocalModel(model_id, target, "imported", status, sum(p.stat().st_size for p in files), None, problems)
