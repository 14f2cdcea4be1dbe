"""Models on disk: the hub cache layout (◆ places on disk), manifests, imported folders, status and delete.

Hub models live in `engine.paths.models_cache_dir()` in huggingface_hub's layout
(`models--org--name/{blobs,snapshots/<commit>,refs}`), so other HF tools share them. What Diffusion Desk
learned about a model (the hub's file list with hashes, which files it verified) is a small JSON manifest in
`<data>/model-manifests/`, never inside the shared cache. Imported folders sit in `<data>/imported/<name>`
(a copy, or a symlink to the user's folder).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from .catalogue import find_entry
from .errors import ForceRequiredError, InvalidNameError, ModelNotReadyError, UnsafePathError
from .guard import inside, remove_inside
from .hub import RemoteFile
from .ids import ModelId, file_name_problem, is_commit, local_name, parse_model_id, revision_name, shown
from .layout import folder_size, read_model_type, structure_problems

MANIFEST_VERSION = 1
IMPORT_TEMP_SUFFIX = ".importing"

READY, PARTIAL, UNVERIFIED, CORRUPT, NOT_DOWNLOADED = "ready", "partial", "unverified", "corrupt", "not downloaded"


def cache_root() -> Path:
    return paths.models_cache_dir()


def repo_dir(repo_id: str | ModelId) -> Path:
    """`<cache>/models--org--name` for a valid hub id (`InvalidNameError` otherwise), checked to be in the cache."""
    root = cache_root()
    return inside(root, root / parse_model_id(repo_id, hub=True).cache_folder, follow_last=False)


def _in_repo(repo_id: str | ModelId, kind: str, name: str) -> Path:
    base = repo_dir(repo_id) / kind
    return inside(base, base / name, follow_last=False)


def blob_path(repo_id: str | ModelId, etag: str) -> Path:
    return _in_repo(repo_id, "blobs", etag)


def partial_path(repo_id: str | ModelId, etag: str) -> Path:
    """The stable name a half-downloaded blob keeps between runs, so a later pull resumes it."""
    return _in_repo(repo_id, "blobs", f"{etag}.incomplete")


def lock_path(repo_id: str | ModelId, etag: str) -> Path:
    """The lock huggingface_hub itself takes for this blob, so its downloads and ours never overlap."""
    locks = cache_root() / ".locks"
    return inside(locks, locks / repo_dir(repo_id).name / f"{etag}.lock", follow_last=False)


def pending_partials(repo_id: str | ModelId) -> list[Path]:
    """Half-downloaded blobs whose finished blob is not there yet (stale leftovers of finished ones are ignored)."""
    blobs = repo_dir(repo_id) / "blobs"
    found = blobs.glob("*.incomplete") if blobs.is_dir() else []
    return [p for p in found if not (blobs / p.name.split(".", 1)[0]).exists()]


def snapshot_dir(repo_id: str | ModelId, commit: str) -> Path:
    """`snapshots/<commit>` for a 40-hex commit id; anything else raises `UnsafePathError`."""
    if not is_commit(commit):
        raise UnsafePathError(f"{shown(commit)} is not a commit id, so it cannot name a snapshot folder of {repo_id}.")
    return _in_repo(repo_id, "snapshots", commit)


def imported_root() -> Path:
    return paths.data_dir() / "imported"


def imported_dir(name: str) -> Path:
    """`<data>/imported/<name>` for a valid local name, checked to be inside the imported folder (not followed)."""
    root = imported_root()
    return inside(root, root / local_name(name), follow_last=False)


def write_ref(repo_id: str | ModelId, revision: str, commit: str) -> None:
    if revision == commit:
        return
    refs = repo_dir(repo_id) / "refs"
    ref = inside(refs, refs / revision_name(revision), follow_last=False)
    ref.parent.mkdir(parents=True, exist_ok=True)
    inside(refs, ref, follow_last=False)  # again now that the folders exist: none of them may be a link out
    tmp = ref.with_name(ref.name + ".tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def read_commit(repo_id: str | ModelId, revision: str | None = None) -> str | None:
    """The commit a revision points at in the cache (a ref, the commit itself, or the newest snapshot)."""
    revision = revision_name(revision or "main")
    if is_commit(revision) and snapshot_dir(repo_id, revision).is_dir():
        return revision
    refs = repo_dir(repo_id) / "refs"
    ref = refs / revision
    if ref.is_file():
        inside(refs, ref)
        commit = ref.read_text().strip()
        return commit if is_commit(commit) else None
    snapshots = repo_dir(repo_id) / "snapshots"
    found = sorted((p for p in snapshots.iterdir() if is_commit(p.name)), key=lambda p: p.stat().st_mtime) \
        if snapshots.is_dir() else []
    return found[-1].name if found else None


def link_blob(repo_id: str | ModelId, commit: str, filename: str, etag: str) -> Path:
    """Point `snapshots/<commit>/<filename>` at its blob (relative symlink; a copy where links are not allowed)."""
    snapshot = snapshot_dir(repo_id, commit)
    pointer = inside(snapshot, snapshot / filename, follow_last=False)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    inside(snapshot, pointer, follow_last=False)
    blob = blob_path(repo_id, etag)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
    except OSError:
        shutil.copy2(blob, pointer)
    return pointer


# -- manifests ---------------------------------------------------------------------------------------------


@dataclass
class Manifest:
    """The hub's file list for one commit, and the files Diffusion Desk has verified (by size + mtime)."""

    repo_id: str
    revision: str
    commit: str
    files: list[RemoteFile]
    verified: dict[str, list[int]] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)

    def stamp_ok(self, name: str, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return self.verified.get(name) == [st.st_size, st.st_mtime_ns]


def manifest_path(model_id: str | ModelId) -> Path:
    root = paths.data_dir() / "model-manifests"
    return inside(root, root / (parse_model_id(model_id).file_stem + ".json"), follow_last=False)


def load_manifest(model_id: str | ModelId) -> Manifest | None:
    """The saved manifest, or None when there is none or it is unreadable or names unsafe files or commits."""
    try:
        raw = json.loads(manifest_path(model_id).read_text(encoding="utf-8"))
        manifest = Manifest(
            raw["repo_id"], raw["revision"], raw["commit"], [RemoteFile.from_json(f) for f in raw["files"]],
            {k: list(v) for k, v in raw.get("verified", {}).items()}, dict(raw.get("bad", {})),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    local = parse_model_id(model_id).is_local
    if any(file_name_problem(f.path) for f in manifest.files) or not (local or is_commit(manifest.commit)):
        return None
    return manifest


def save_manifest(manifest: Manifest) -> None:
    path = manifest_path(manifest.repo_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = {
        "version": MANIFEST_VERSION, "repo_id": manifest.repo_id, "revision": manifest.revision,
        "commit": manifest.commit, "files": [f.to_json() for f in manifest.files],
        "verified": manifest.verified, "bad": manifest.bad,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    os.replace(tmp, path)


# -- local models ------------------------------------------------------------------------------------------


@dataclass
class LocalModel:
    """A model found on disk. Only `status == "ready"` models are offered for loading."""

    id: str
    path: Path
    kind: str
    status: str
    size_bytes: int
    commit: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def loadable(self) -> bool:
        return self.status == READY


def local_status(repo_id: str | ModelId, folder: Path | None = None) -> tuple[str, list[str]]:
    """Status from what is on disk, without hashing: ready, partial, unverified, corrupt or not downloaded."""
    model_id = parse_model_id(repo_id)
    manifest = load_manifest(model_id)
    if folder is None:
        commit = manifest.commit if manifest else read_commit(model_id)
        folder = snapshot_dir(model_id, commit) if commit else None
    partials = pending_partials(model_id) if not model_id.is_local else []
    if folder is None or not folder.is_dir():
        return (PARTIAL, ["download not finished"]) if partials else (NOT_DOWNLOADED, [])
    if manifest is not None and manifest.bad:
        return CORRUPT, [f"{name}: {why}" for name, why in manifest.bad.items()]
    if manifest is not None:
        missing = [f.path for f in manifest.files if not (folder / f.path).exists()]
        short = [f.path for f in manifest.files if f.path not in missing and (folder / f.path).stat().st_size != f.size]
        if missing or short or partials:
            return PARTIAL, [f"{n}: missing" for n in missing] + [f"{n}: wrong size" for n in short]
        if all(manifest.stamp_ok(f.path, folder / f.path) for f in manifest.files):
            return READY, []
        return UNVERIFIED, ["files changed since they were verified"]
    problems = structure_problems(folder, read_headers=False)
    if problems or partials:
        return PARTIAL, problems or ["download not finished"]
    return UNVERIFIED, ["not verified by Diffusion Desk yet"]


def _cache_model(folder: Path) -> LocalModel | None:
    """The cache folder as a listed model, or None when it is not a DiffusionGemma model this app knows.

    Ours: a repo Diffusion Desk pulled (it has a manifest), one whose config says `diffusion_gemma`, or a
    catalogue repo not far enough along to have a config. Other tools' repos in a shared cache are left out.
    """
    model_id = ModelId.from_cache_folder(folder.name)
    if model_id is None or folder.is_symlink():
        return None
    commit = read_commit(model_id)
    snap = snapshot_dir(model_id, commit) if commit else None
    model_type = read_model_type(snap) if snap is not None and snap.is_dir() else None
    if model_type not in (None, "diffusion_gemma"):
        return None
    if model_type is None and load_manifest(model_id) is None and find_entry(str(model_id)) is None:
        return None
    status, problems = local_status(model_id)
    if status == NOT_DOWNLOADED:
        return None
    size = folder_size(folder / "blobs")
    return LocalModel(str(model_id), snap or folder, "hub", status, size, commit, problems)


def import_lock_path(temp: Path) -> Path:
    """The lock an import holds on its `.<name>.importing` folder while it copies (so cleaning skips it)."""
    return temp.with_name(temp.name + ".lock")


def clean_import_leftovers() -> list[str]:
    """Remove `.<name>.importing` folders (and their locks) that no running import holds: what an interrupted
    import left behind. Returns the names removed."""
    from filelock import FileLock, Timeout

    root = imported_root()
    found = {p.name.removesuffix(".lock") for p in root.glob(".*" + IMPORT_TEMP_SUFFIX + "*")} \
        if root.is_dir() else set()
    removed = []
    for name in sorted(n for n in found if n.endswith(IMPORT_TEMP_SUFFIX)):
        temp = root / name
        try:
            with FileLock(import_lock_path(temp), timeout=0):
                remove_inside(root, temp)
            import_lock_path(temp).unlink(missing_ok=True)
        except (Timeout, OSError):
            continue  # another process is importing into it right now, or it is already gone
        removed.append(name)
    return removed


def list_local_models() -> list[LocalModel]:
    """DiffusionGemma models in the cache (see `_cache_model`) and imported folders; cleans interrupted imports."""
    root = cache_root()
    found = [m for m in map(_cache_model, sorted(root.glob("models--*")) if root.is_dir() else []) if m]
    clean_import_leftovers()
    imported = imported_root()
    for folder in sorted(imported.iterdir()) if imported.is_dir() else []:
        if not _is_import(folder):
            continue
        model_id = f"local/{folder.name}"
        status, problems = local_status(model_id, folder)
        found.append(LocalModel(model_id, folder, "imported", status, folder_size(folder), None, problems))
    return found


def _is_import(folder: Path) -> bool:
    """A folder (or link) under `imported/` with a valid local name: temp folders, locks and stray files are not."""
    try:
        local_name(folder.name)
    except InvalidNameError:
        return False
    return folder.is_symlink() or folder.is_dir()


def find_local(model_id: str | ModelId) -> LocalModel | None:
    wanted = str(model_id).lower()
    for model in list_local_models():
        if model.id.lower() == wanted:
            return model
    return None


def model_path(model_id: str) -> Path:
    """The folder to hand to `EngineModel.from_pretrained`, for a ready model id, repo id or folder path.

    Raises `ModelNotReadyError` (naming the problem) when the model is missing, partial, unverified or corrupt.
    """
    folder = Path(model_id).expanduser()
    if folder.is_dir() and (folder / "config.json").exists():
        problems = structure_problems(folder)
        if problems:
            raise ModelNotReadyError(f"{folder} cannot be loaded: {problems[0]}.")
        return folder
    model = find_local(model_id)
    if model is None:
        raise ModelNotReadyError(f"{model_id} is not downloaded: pull it first (python -m engine.models pull).")
    if not model.loadable:
        reason = model.problems[0] if model.problems else model.status
        raise ModelNotReadyError(f"{model_id} is {model.status} ({reason}); run verify or pull it again.")
    return model.path


def delete_model(model_id: str | ModelId, *, force: bool = False) -> int:
    """Delete a model this app lists; returns the bytes freed (0 for a linked import).

    Only `<cache>/models--org--name` or `<data>/imported/<name>` is ever deleted, checked to lie inside its root
    (never the root itself; a link is removed, not what it points at). A cache repo that is not a listed
    DiffusionGemma model (another tool's, in a shared cache) raises `ForceRequiredError` unless `force`.
    """
    mid = parse_model_id(model_id)
    if mid.is_local:
        root, folder = imported_root(), imported_dir(mid.name)
        if not (folder.is_symlink() or folder.is_dir()):
            raise ModelNotReadyError(f"{mid} is not an imported model (nothing called {mid.name} in {root}).")
        freed = 0 if folder.is_symlink() else folder_size(folder)
    else:
        root, folder = cache_root(), repo_dir(mid)
        if not (folder.is_symlink() or folder.is_dir()):
            raise ModelNotReadyError(f"{mid} is not in the model cache ({root}).")
        if not force and _cache_model(folder) is None:
            config = folder / "snapshots"
            kind = next((t for t in map(read_model_type, sorted(config.glob("*"))) if t), None) \
                if config.is_dir() else None
            what = f"a {shown(kind)} model" if kind else "a repo without a DiffusionGemma config"
            raise ForceRequiredError(
                f"{mid} is in the model cache ({folder}) but it is {what}, not a DiffusionGemma model Diffusion "
                "Desk lists; other tools may use it. To delete it anyway run: "
                f"python -m engine.models remove {mid} --force"
            )
        blobs = folder / "blobs"
        freed = 0 if folder.is_symlink() else sum(
            p.stat().st_size for p in blobs.glob("*") if p.is_file() and not p.is_symlink())
    remove_inside(root, folder)
    manifest_path(mid).unlink(missing_ok=True)
    return freed
