"""Verification: sha256 of LFS files against the hub's metadata, git blob hash or size for the rest."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import store
from .errors import DownloadCancelled, ModelNotReadyError
from .hub import RemoteFile, fetch_repo, is_offline
from .ids import parse_model_id
from .layout import structure_problems

CHUNK = 4 * 1024 * 1024
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")

ByteProgress = Callable[[int], None]


@dataclass
class VerifyReport:
    """The outcome of `verify_model`: `problems` lists "file: what is wrong" lines; empty when all is well."""

    model_id: str
    folder: Path | None
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.checked)


def _read(path: Path, update: Callable[[bytes], None], on_bytes: ByteProgress | None,
          cancel: threading.Event | None) -> None:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("Verification cancelled.")
            update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))


def sha256_file(path: Path, on_bytes: ByteProgress | None = None, cancel: threading.Event | None = None) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks (reports bytes read; honours `cancel`)."""
    digest = hashlib.sha256()
    _read(path, digest.update, on_bytes, cancel)
    return digest.hexdigest()


def git_blob_sha1(path: Path, on_bytes: ByteProgress | None = None, cancel: threading.Event | None = None) -> str:
    """The git object id of a file, which the hub reports for non-LFS files."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    _read(path, digest.update, on_bytes, cancel)
    return digest.hexdigest()


def check_file(path: Path, expected: RemoteFile, on_bytes: ByteProgress | None = None,
               cancel: threading.Event | None = None) -> str | None:
    """What is wrong with `path` compared to `expected`, or None when it matches."""
    if not path.exists():
        return "missing"
    size = path.stat().st_size
    if expected.size and size != expected.size:
        return f"wrong size ({size} bytes, expected {expected.size})"
    if expected.sha256:
        actual = sha256_file(path, on_bytes, cancel)
        if actual != expected.sha256:
            return f"sha256 mismatch (got {actual[:12]}…, the hub says {expected.sha256[:12]}…)"
        return None
    if expected.blob_id:
        actual = git_blob_sha1(path, on_bytes, cancel)
        return None if actual == expected.blob_id else "content does not match the hub's git hash"
    if on_bytes is not None:
        on_bytes(size)
    return None


def files_from_snapshot(folder: Path) -> list[RemoteFile]:
    """Expected files when no hub metadata is at hand (offline): blob names in the cache are their hashes."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        etag = path.resolve().name if path.is_symlink() else ""
        files.append(
            RemoteFile(name, path.stat().st_size, etag if HEX64.match(etag) else None,
                       etag if HEX40.match(etag) else None)
        )
    return files


def expected_files(model_id: str, folder: Path, token: str | None = None) -> store.Manifest:
    """The manifest to verify against: saved one, else fresh hub metadata, else the cache's own blob names."""
    manifest = store.load_manifest(model_id)
    if manifest is not None:
        return manifest
    commit = folder.name
    if not model_id.startswith("local/") and not is_offline():
        try:
            remote = fetch_repo(model_id, commit, token, retries=1, base_delay=0.5)
            return store.Manifest(model_id, "main", remote.commit or commit, list(remote.files))
        except Exception:  # noqa: BLE001 - no network: fall back to what the cache says about itself
            pass
    return store.Manifest(model_id, "main", commit, files_from_snapshot(folder))


def verify_model(
    model_id: str,
    *,
    on_progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
    token: str | None = None,
) -> VerifyReport:
    """Hash every file of a local model and record the result; the report names each wrong file."""
    local = store.find_local(parse_model_id(model_id))
    if local is None:
        raise ModelNotReadyError(f"{model_id} is not downloaded or imported, so there is nothing to verify.")
    folder = local.path
    manifest = expected_files(local.id, folder, token)
    report = VerifyReport(local.id, folder)
    total = sum(f.size or _size(folder / f.path) for f in manifest.files)
    done = 0

    def bump(n: int, name: str) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done, total, name)

    manifest.verified, manifest.bad = {}, {}
    for expected in manifest.files:
        path = folder / expected.path
        problem = check_file(path, expected, lambda n, name=expected.path: bump(n, name), cancel)
        report.checked.append(expected.path)
        if problem is None:
            st = path.stat()
            manifest.verified[expected.path] = [st.st_size, st.st_mtime_ns]
        else:
            manifest.bad[expected.path] = problem
            report.problems.append(f"{expected.path}: {problem}")
    for problem in structure_problems(folder):
        name = problem.split(":", 1)[0]
        if name not in manifest.bad:
            report.problems.append(problem)
            manifest.bad[name] = problem.split(": ", 1)[-1]
    store.save_manifest(manifest)
    return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
