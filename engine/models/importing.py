"""Import a model folder from disk: validate it, then copy it or link to it under `<data>/imported/`.

What an import follows and copies (the folder is data from outside, like a hub answer):
- regular files and sub-folders, walked without following links;
- a link to a file inside the folder is copied as that file; so is a link from a hub-cache snapshot folder
  (`…/snapshots/<commit>/`) into the same repo's `blobs/`, so a snapshot of another HF tool can be imported;
- any other link — to a folder (symlink loops), to a file outside the folder, broken or looping — and anything
  that is not a regular file (fifos, devices) stops the import with a message naming it; nothing is written.
A copy goes to a hidden `.<name>.importing` folder and is renamed into place only once complete and valid; a copy
bigger than the cap (`DIFFUSION_DESK_IMPORT_MAX_BYTES`, default 200 GB) is refused before a byte is written.
Leftovers of an interrupted import are removed by the next list or import (`store.clean_import_leftovers`).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from . import store
from .errors import DiskSpaceError, ImportTooLargeError, ImportValidationError
from .guard import inside, remove_inside
from .hub import RemoteFile
from .ids import file_name_problem, local_name, shown
from .layout import structure_problems
from .units import human_bytes

MAX_BYTES_ENV = "DIFFUSION_DESK_IMPORT_MAX_BYTES"
DEFAULT_MAX_BYTES = 200 * 10**9
MAX_ENTRIES = 100_000
CHUNK = 4 * 1024 * 1024


@dataclass
class ImportPlan:
    """What a copy would write: sub-folders and (source, relative name) files, and their total size."""

    source: Path
    folders: list[str] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)
    total_bytes: int = 0


def max_import_bytes() -> int:
    """The import size cap: `DIFFUSION_DESK_IMPORT_MAX_BYTES` (bytes) when set to a positive number, else 200 GB."""
    value = os.environ.get(MAX_BYTES_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_BYTES


def validate_folder(folder: Path) -> list[str]:
    """Problems that stop `folder` from being imported (config model_type, every weight shard, tokenizer)."""
    return structure_problems(Path(folder).expanduser())


def _link_roots(source: Path) -> list[Path]:
    """Where a file link in `source` may point: the folder itself, and for a hub snapshot its repo's blobs."""
    roots = [source]
    if source.parent.name == "snapshots":
        roots.append(source.parent.parent / "blobs")
    return roots


def _refuse(source: Path, rel: str, why: str) -> ImportValidationError:
    return ImportValidationError(f"Cannot import {source}: {shown(rel)} {why}; nothing was imported.")


def plan_import(source: Path, max_bytes: int | None = None) -> ImportPlan:
    """Walk `source` without following links; `ImportValidationError` for an unsafe entry, `ImportTooLargeError`
    as soon as the files add up to more than `max_bytes` (None: no cap)."""
    plan = ImportPlan(source)
    roots = [Path(os.path.realpath(r)) for r in _link_roots(source)]
    todo, seen = [(source, "")], 0
    while todo:
        folder, prefix = todo.pop()
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = prefix + entry.name
                seen += 1
                if seen > MAX_ENTRIES:
                    raise _refuse(source, rel, f"is past the {MAX_ENTRIES}th entry (too many files for a model)")
                if file_name_problem(rel) is not None:
                    raise _refuse(source, rel, "has a name that is not portable (control characters or '\\')")
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    info = _link_target(source, entry, rel, roots)
                elif stat.S_ISDIR(info.st_mode):
                    plan.folders.append(rel)
                    todo.append((Path(entry.path), rel + "/"))
                    continue
                elif not stat.S_ISREG(info.st_mode):
                    raise _refuse(source, rel, "is not a regular file (a fifo, socket or device)")
                plan.files.append((Path(entry.path), rel))
                plan.total_bytes += info.st_size
                if max_bytes is not None and plan.total_bytes > max_bytes:
                    raise _too_large(source, max_bytes)
    return plan


def _link_target(source: Path, entry: os.DirEntry, rel: str, roots: list[Path]) -> os.stat_result:
    """The stat of the regular file a link points at, when that file lies inside `roots`; else refused."""
    target = Path(os.path.realpath(entry.path))
    try:
        info = os.stat(entry.path)
    except OSError:
        raise _refuse(source, rel, f"is a broken or looping link (-> {shown(os.readlink(entry.path))})") from None
    if stat.S_ISDIR(info.st_mode):
        raise _refuse(source, rel, "is a link to a folder; links to folders are not followed (they can loop)")
    if not any(root in target.parents for root in roots):
        raise _refuse(source, rel, f"is a link to {shown(str(target))}, outside the folder being imported")
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(source, rel, "links to something that is not a regular file")
    return info


def _too_large(source: Path, max_bytes: int) -> ImportTooLargeError:
    return ImportTooLargeError(
        f"{source} holds more than {human_bytes(max_bytes)}, the import size cap; nothing was imported. "
        f"Import it with --link, or raise the cap with {MAX_BYTES_ENV}=<bytes>."
    )


def _name_for(folder: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-.")[:80].strip("-.") or "model"
    name = re.sub(r"\.{2,}", ".", name)
    try:
        local_name(name)
    except ValueError:
        name = f"model-{name}"[:80].strip("-.")
    candidate, n = name, 2
    while (store.imported_root() / candidate).exists() or (store.imported_root() / candidate).is_symlink():
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _copy(plan: ImportPlan, temp: Path, max_bytes: int) -> None:
    """Copy the planned files into `temp`, stopping if they grew past `max_bytes` while being read."""
    written = 0
    for rel in plan.folders:
        (temp / rel).mkdir()
    for src, rel in plan.files:
        dest = inside(temp, temp / rel, follow_last=False)
        with open(src, "rb") as reader, open(dest, "xb") as writer:
            while chunk := reader.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise _too_large(plan.source, max_bytes)
                writer.write(chunk)


def _copy_into_place(plan: ImportPlan, target: Path, max_bytes: int) -> None:
    """Copy into `.<name>.importing` under a lock, check the copy, then rename it to `target` in one step."""
    from filelock import FileLock, Timeout

    root = store.imported_root()
    temp = inside(root, root / f".{target.name}{store.IMPORT_TEMP_SUFFIX}", follow_last=False)
    lock = FileLock(store.import_lock_path(temp), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ImportValidationError(f"Another import called {target.name} is running; try again when it ends.") \
            from None
    try:
        remove_inside(root, temp)  # a leftover of an interrupted import of the same name
        temp.mkdir()
        _copy(plan, temp, max_bytes)
        problems = structure_problems(temp)
        if problems:
            raise ImportValidationError(f"The copy of {plan.source} is not complete: {'; '.join(problems)}.")
        if target.exists() or target.is_symlink():
            raise ImportValidationError(f"An imported model called {target.name} already exists; delete it first.")
        os.rename(temp, target)
    finally:
        if temp.exists():
            remove_inside(root, temp)
        lock.release()
        store.import_lock_path(temp).unlink(missing_ok=True)


def check_importable(folder: Path | str, name: str | None = None) -> Path:
    """What `import_folder` checks before it writes anything, on its own — so a window can say "not a model" before
    asking how to import it. Returns the resolved folder; raises `InvalidNameError` or `ImportValidationError`."""
    source = _folder(folder, name)
    plan_import(source)
    _checked_target(source, name)
    return source


def _folder(folder: Path | str, name: str | None) -> Path:
    if name is not None:
        local_name(name)
    source = Path(folder).expanduser().resolve()
    if not source.is_dir():
        raise ImportValidationError(f"{source} is not a folder.")
    return source


def _checked_target(source: Path, name: str | None) -> Path:
    problems = validate_folder(source)
    if problems:
        raise ImportValidationError(f"{source} is not a complete DiffusionGemma model: " + "; ".join(problems) + ".")
    target = store.imported_dir(name or _name_for(source))
    if target.exists() or target.is_symlink():
        raise ImportValidationError(f"An imported model called {target.name} already exists; delete it first.")
    return target


def import_folder(folder: Path | str, *, mode: str = "copy", name: str | None = None,
                  max_bytes: int | None = None) -> store.LocalModel:
    """Validate and import `folder`; `mode` "copy" duplicates the files, "link" points at them in place.

    `name` (a local name, see `ids.local_name`) defaults to one made from the folder's name; `max_bytes` caps a
    copy (default `max_import_bytes()`). Raises `InvalidNameError`, `ImportValidationError` (what is missing,
    broken or unsafe), `ImportTooLargeError` or `DiskSpaceError`; nothing is written in those cases.
    """
    if mode not in ("copy", "link"):
        raise ValueError(f"mode must be 'copy' or 'link', not {mode!r}")
    source = _folder(folder, name)
    store.clean_import_leftovers()
    cap = max_import_bytes() if max_bytes is None else max_bytes
    plan = plan_import(source, cap if mode == "copy" else None)  # unsafe entries refused before any file is read
    target = _checked_target(source, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        os.symlink(source, target, target_is_directory=True)
    else:
        free = shutil.disk_usage(target.parent).free
        if free < plan.total_bytes:
            raise DiskSpaceError(f"Not enough disk space to copy {source} ({human_bytes(plan.total_bytes)}; "
                                 f"{human_bytes(free)} free at {target.parent}). Import it with --link instead.")
        _copy_into_place(plan, target, cap)
    return _record(target)


def _record(target: Path) -> store.LocalModel:
    """Save the imported folder's manifest (sizes and mtimes as verified) and return it as a listed model."""
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
