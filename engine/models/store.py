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
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from .errors import ModelNotReadyError
from .hub import RemoteFile
from .layout import folder_size, read_model_type, structure_problems

MANIFEST_VERSION = 1
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")

READY, PARTIAL, UNVERIFIED, CORRUPT, NOT_DOWNLOADED = "ready", "partial", "unverified", "corrupt", "not downloaded"


def cache_root() -> Path:
    return paths.models_cache_dir()


def repo_dir(repo_id: str) -> Path:
    return cache_root() / ("models--" + repo_id.replace("/", "--"))


def blob_path(repo_id: str, etag: str) -> Path:
    return repo_dir(repo_id) / "blobs" / etag


def partial_path(repo_id: str, etag: str) -> Path:
    """The stable name a half-downloaded blob keeps between runs, so a later pull resumes it."""
    return repo_dir(repo_id) / "blobs" / f"{etag}.incomplete"


def lock_path(repo_id: str, etag: str) -> Path:
    """The lock huggingface_hub itself takes for this blob, so its downloads and ours never overlap."""
    return cache_root() / ".locks" / repo_dir(repo_id).name / f"{etag}.lock"


def pending_partials(repo_id: str) -> list[Path]:
    """Half-downloaded blobs whose finished blob is not there yet (stale leftovers of finished ones are ignored)."""
    blobs = repo_dir(repo_id) / "blobs"
    found = blobs.glob("*.incomplete") if blobs.is_dir() else []
    return [p for p in found if not (blobs / p.name.split(".", 1)[0]).exists()]


def snapshot_dir(repo_id: str, commit: str) -> Path:
    return repo_dir(repo_id) / "snapshots" / commit


def imported_root() -> Path:
    return paths.data_dir() / "imported"


def write_ref(repo_id: str, revision: str, commit: str) -> None:
    if revision == commit:
        return
    ref = repo_dir(repo_id) / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(ref.name + ".tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def read_commit(repo_id: str, revision: str | None = None) -> str | None:
    """The commit a revision points at in the cache (a ref, the commit itself, or the newest snapshot)."""
    revision = revision or "main"
    if COMMIT_RE.match(revision) and snapshot_dir(repo_id, revision).is_dir():
        return revision
    ref = repo_dir(repo_id) / "refs" / revision
    if ref.is_file():
        return ref.read_text().strip() or None
    snapshots = repo_dir(repo_id) / "snapshots"
    found = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    return found[-1].name if found else None


def link_blob(repo_id: str, commit: str, filename: str, etag: str) -> Path:
    """Point `snapshots/<commit>/<filename>` at its blob (relative symlink; a copy where links are not allowed)."""
    pointer = snapshot_dir(repo_id, commit) / filename
    pointer.parent.mkdir(parents=True, exist_ok=True)
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


def manifest_path(model_id: str) -> Path:
    return paths.data_dir() / "model-manifests" / (model_id.replace("/", "--") + ".json")


def load_manifest(model_id: str) -> Manifest | None:
    try:
        raw = json.loads(manifest_path(model_id).read_text(encoding="utf-8"))
        return Manifest(
            raw["repo_id"], raw["revision"], raw["commit"], [RemoteFile.from_json(f) for f in raw["files"]],
            {k: list(v) for k, v in raw.get("verified", {}).items()}, dict(raw.get("bad", {})),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


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


def local_status(repo_id: str, folder: Path | None = None) -> tuple[str, list[str]]:
    """Status from what is on disk, without hashing: ready, partial, unverified, corrupt or not downloaded."""
    manifest = load_manifest(repo_id)
    if folder is None:
        commit = manifest.commit if manifest else read_commit(repo_id)
        folder = snapshot_dir(repo_id, commit) if commit else None
    partials = pending_partials(repo_id) if not repo_id.startswith("local/") else []
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


def list_local_models() -> list[LocalModel]:
    """DiffusionGemma models in the cache (config model_type `diffusion_gemma`) and imported folders."""
    found = []
    root = cache_root()
    for folder in sorted(root.glob("models--*")) if root.is_dir() else []:
        repo_id = folder.name[len("models--"):].replace("--", "/")
        commit = read_commit(repo_id)
        snap = snapshot_dir(repo_id, commit) if commit else None
        if snap is not None and snap.is_dir() and read_model_type(snap) not in (None, "diffusion_gemma"):
            continue
        status, problems = local_status(repo_id)
        if status == NOT_DOWNLOADED:
            continue
        size = folder_size(folder / "blobs")
        found.append(LocalModel(repo_id, snap or folder, "hub", status, size, commit, problems))
    imported = imported_root()
    for folder in sorted(imported.iterdir()) if imported.is_dir() else []:
        model_id = f"local/{folder.name}"
        status, problems = local_status(model_id, folder)
        found.append(LocalModel(model_id, folder, "imported", status, folder_size(folder), None, problems))
    return found


def find_local(model_id: str) -> LocalModel | None:
    for model in list_local_models():
        if model.id.lower() == model_id.lower():
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


def delete_model(model_id: str) -> int:
    """Delete a downloaded or imported model; returns the bytes freed (0 for a linked import)."""
    if model_id.startswith("local/"):
        folder = imported_root() / model_id.split("/", 1)[1]
        if folder.is_symlink():
            folder.unlink()
            freed = 0
        elif folder.is_dir():
            freed = folder_size(folder)
            shutil.rmtree(folder)
        else:
            raise ModelNotReadyError(f"{model_id} is not an imported model.")
    else:
        folder = repo_dir(model_id)
        if not folder.is_dir():
            raise ModelNotReadyError(f"{model_id} is not in the model cache ({cache_root()}).")
        freed = sum(p.stat().st_size for p in (folder / "blobs").glob("*") if p.is_file() and not p.is_symlink())
        shutil.rmtree(folder)
    manifest_path(model_id).unlink(missing_ok=True)
    return freed
