"""`pull`: download a model into the hub cache with progress, cancel, resume, retries, a disk check and verify.

Bytes travel through huggingface_hub (`get_hf_file_metadata` + `http_get`, its Range-resuming downloader).
huggingface_hub 2.4's own `hf_hub_download` writes to a process-unique temporary file and deletes it on failure,
so it cannot resume after a restart; here each blob downloads to a stable `blobs/<etag>.incomplete` that the next
pull continues with a Range request, and the finished blob is linked into `snapshots/<commit>/` like the hub does.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from . import store
from .catalogue import find_entry
from .errors import ChecksumError, DiskSpaceError, DownloadCancelled, HubAnswerError, OfflineError
from .hub import RemoteFile, RemoteRepo, endpoint, fetch_repo, is_offline, translate, with_retries
from .ids import ModelId, is_commit, is_sane_etag, parse_model_id, revision_name, shown
from .tokens import load_token
from .verify import check_file

GB = 1024**3
MIN_MARGIN = 256 * 1024**2


@dataclass(frozen=True)
class PullProgress:
    """One progress report: `phase` is "checking", "downloading", "verifying" or "done"."""

    repo_id: str
    phase: str
    filename: str = ""
    file_done: int = 0
    file_total: int = 0
    done: int = 0
    total: int = 0
    speed_bps: float = 0.0
    eta_s: float | None = None
    note: str = ""


@dataclass(frozen=True)
class PullResult:
    repo_id: str
    commit: str
    path: Path
    downloaded_bytes: int
    reused_bytes: int


def disk_margin(size: int) -> int:
    """Spare space kept free beyond the download: 2 % of it, at least 256 MiB."""
    return max(MIN_MARGIN, size // 50)


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class _Meter:
    """Totals, speed over the last few seconds and ETA; reports at most every `interval` seconds."""

    def __init__(self, repo_id: str, total: int, done: int, report: Callable[[PullProgress], None] | None,
                 cancel: threading.Event | None, interval: float = 0.1) -> None:
        self.repo_id, self.total, self.done = repo_id, total, done
        self.report, self.cancel, self.interval = report, cancel, interval
        self.samples: deque[tuple[float, int]] = deque([(time.monotonic(), done)], maxlen=64)
        self.file, self.file_done, self.file_total, self.last = "", 0, 0, 0.0
        self.downloaded = 0

    def start_file(self, name: str, have: int, size: int) -> None:
        self.file, self.file_done, self.file_total = name, have, size
        self.emit("downloading", force=True)

    def add(self, n: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise DownloadCancelled("Download cancelled; the bytes already on disk are kept and the next pull resumes.")
        self.done += n
        self.file_done += n
        self.downloaded += n
        now = time.monotonic()
        if now - self.samples[-1][0] >= 0.05:
            self.samples.append((now, self.done))
        self.emit("downloading")

    def speed(self) -> float:
        now = time.monotonic()
        window = [(t, d) for t, d in self.samples if now - t <= 5.0] or [self.samples[-1]]
        t0, d0 = window[0]
        return (self.done - d0) / (now - t0) if now - t0 > 0.2 else 0.0

    def emit(self, phase: str, *, force: bool = False, note: str = "") -> None:
        now = time.monotonic()
        if self.report is None or (not force and now - self.last < self.interval):
            return
        self.last = now
        speed = self.speed()
        eta = (self.total - self.done) / speed if speed > 0 else None
        self.report(PullProgress(self.repo_id, phase, self.file, self.file_done, self.file_total, self.done,
                                 self.total, speed, eta, note))

    def hook(self) -> type:
        """A tqdm-like class for `http_get`: every chunk goes through `add` (which raises on cancel)."""
        meter = self

        class _Hook:
            def __init__(self, *args: object, **kwargs: object) -> None:
                pass

            def __enter__(self) -> _Hook:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def update(self, n: float | None = 1) -> None:
                meter.add(int(n or 0))

            def close(self) -> None:
                return None

        return _Hook


def _have(repo_id: str, f: RemoteFile) -> int:
    """Bytes of `f` already on disk (finished blob or resumable partial)."""
    blob = store.blob_path(repo_id, f.etag)
    if blob.exists():
        return blob.stat().st_size
    partial = store.partial_path(repo_id, f.etag)
    return min(partial.stat().st_size, f.size) if partial.exists() else 0


def check_disk(repo_id: str, remaining: int, disk_usage: Callable = shutil.disk_usage) -> None:
    """Raise `DiskSpaceError` before anything is written when `remaining` bytes plus the margin do not fit."""
    where = _existing_parent(store.repo_dir(repo_id))
    free = disk_usage(str(where)).free
    need = remaining + disk_margin(remaining)
    if free < need:
        raise DiskSpaceError(
            f"Not enough disk space for {repo_id}: it needs {need / GB:.2f} GB "
            f"({remaining / GB:.2f} GB to download plus {disk_margin(remaining) / GB:.2f} GB spare) but only "
            f"{free / GB:.2f} GB is free at {where}. Free some space or set HF_HUB_CACHE to a bigger disk."
        )


def _fetch_file(repo: RemoteRepo, f: RemoteFile, token: str | None, meter: _Meter, chunk_size: int) -> None:
    """Download one file into its partial blob, resuming from the bytes already there, then move it into place."""

    from huggingface_hub.utils import WeakFileLock

    blob, partial = store.blob_path(repo.repo_id, f.etag), store.partial_path(repo.repo_id, f.etag)
    if blob.exists():
        return
    partial.parent.mkdir(parents=True, exist_ok=True)
    lock = store.lock_path(repo.repo_id, f.etag)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(str(lock)):  # the hub's own lock file: another app or CLI pull of this blob waits here
        if not blob.exists():
            _fetch_locked(repo, f, token, meter, chunk_size)


def _fetch_locked(repo: RemoteRepo, f: RemoteFile, token: str | None, meter: _Meter, chunk_size: int) -> None:
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    blob, partial = store.blob_path(repo.repo_id, f.etag), store.partial_path(repo.repo_id, f.etag)
    url = hf_hub_url(repo.repo_id, f.path, revision=repo.commit, endpoint=endpoint())
    meta = get_hf_file_metadata(url, token=token, endpoint=endpoint(), retry_on_errors=True)
    _check_metadata(repo, f, meta)
    headers = build_hf_headers(token=token)
    if urlsplit(meta.location).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)  # signed CDN URLs must not receive the hub token
    resume = partial.stat().st_size if partial.exists() else 0
    if resume > f.size:
        partial.unlink()
        resume = 0
    meter.start_file(f.path, resume, f.size)
    constants.DOWNLOAD_CHUNK_SIZE = chunk_size  # how often progress and cancel are seen; the library default is 10 MiB
    with partial.open("ab") as out:
        http_get(meta.location, out, resume_size=resume, headers=headers, expected_size=f.size,
                 displayed_filename=f.path, tqdm_class=meter.hook())
    partial.replace(blob)


def _check_metadata(repo: RemoteRepo, f: RemoteFile, meta: object) -> None:
    """The file's ETag and commit header must be sane values (huggingface_hub names blobs after the ETag)."""
    etag, commit = getattr(meta, "etag", None), getattr(meta, "commit_hash", None)
    problem = None
    if etag is not None and not is_sane_etag(etag):
        problem = f"an invalid ETag {shown(etag)}"
    elif commit is not None and not is_commit(commit):
        problem = f"an invalid X-Repo-Commit {shown(commit)}"
    if problem is not None:
        raise HubAnswerError(
            f"The hub at {endpoint()} answered {problem} for {repo.repo_id}/{f.path}; the download stopped before "
            "writing that file. Check HF_ENDPOINT (a mirror may be broken or hostile) and try again."
        )


def pull(
    repo_id: str | ModelId,
    *,
    revision: str | None = None,
    token: str | None = None,
    cancel: threading.Event | None = None,
    on_progress: Callable[[PullProgress], None] | None = None,
    disk_usage: Callable = shutil.disk_usage,
    retries: int = 5,
    base_delay: float = 1.0,
    chunk_size: int = 1024 * 1024,
    progress_interval: float = 0.1,
) -> PullResult:
    """Download (or finish downloading) `repo_id` and verify every file; returns the snapshot folder.

    `progress_interval` is the least time between two download reports (0: one per chunk).
    Raises `InvalidNameError` (a bad id or revision), `AuthRequiredError`, `ModelNotFoundError`, `DiskSpaceError`,
    `ChecksumError`, `DownloadCancelled`, `OfflineError`, `HubAnswerError` (an answer that cannot be used safely)
    or `DownloadError`, each with a one-line message for the user.
    """
    repo_id = str(parse_model_id(repo_id, hub=True))
    token = token or load_token()
    entry = find_entry(repo_id)
    revision = revision or (entry.revision if entry is not None else None)
    if revision is not None:
        revision_name(revision)
    if is_offline():
        status, _ = store.local_status(repo_id)
        if status == store.READY:
            manifest = store.load_manifest(repo_id)
            commit = manifest.commit if manifest else store.read_commit(repo_id, revision) or ""
            return PullResult(repo_id, commit, store.snapshot_dir(repo_id, commit), 0, 0)
        raise OfflineError(f"Offline mode (HF_HUB_OFFLINE) is on and {repo_id} is not complete in the cache.")
    if on_progress is not None:
        on_progress(PullProgress(repo_id, "checking", note=f"asking {endpoint()} for the file list"))
    retry = {"retries": retries, "base_delay": base_delay}
    repo = fetch_repo(repo_id, revision, token, **retry)
    manifest = store.load_manifest(repo_id)
    bad = set(manifest.bad) if manifest and manifest.commit == repo.commit else set()
    for f in repo.files:
        if f.path in bad:
            store.blob_path(repo_id, f.etag).unlink(missing_ok=True)
    have = {f.path: _have(repo_id, f) for f in repo.files}
    reused = sum(have.values())
    check_disk(repo_id, repo.total_size - reused, disk_usage)

    old = manifest if manifest and manifest.commit == repo.commit else None
    manifest = store.Manifest(repo_id, revision or "main", repo.commit, list(repo.files),
                              verified=dict(old.verified) if old else {})
    store.save_manifest(manifest)
    meter = _Meter(repo_id, repo.total_size, reused, on_progress, cancel, progress_interval)

    def note_retry(attempt: int, delay: float, error: BaseException) -> None:
        meter.emit("downloading", force=True, note=f"{translate(error, repo_id)} Retry {attempt} in {delay:.0f} s.")

    for f in repo.files:
        try:
            with_retries(lambda f=f: _fetch_file(repo, f, token, meter, chunk_size), on_retry=note_retry, **retry)
        except DownloadCancelled:
            raise
        except Exception as error:
            raise translate(error, repo_id, f.path) from None
        store.link_blob(repo_id, repo.commit, f.path, f.etag)
    store.write_ref(repo_id, revision or "main", repo.commit)
    _verify_all(repo, manifest, meter, cancel)
    meter.emit("done", force=True)
    return PullResult(repo_id, repo.commit, store.snapshot_dir(repo_id, repo.commit), meter.downloaded, reused)


def _verify_all(repo: RemoteRepo, manifest: store.Manifest, meter: _Meter, cancel: threading.Event | None) -> None:
    """Hash every file not yet verified; a mismatch is recorded (so the model is never offered) and raised."""
    folder = store.snapshot_dir(repo.repo_id, repo.commit)
    todo = [f for f in repo.files if not manifest.stamp_ok(f.path, folder / f.path)]
    verify_meter = replace(PullProgress(repo.repo_id, "verifying"), total=sum(f.size for f in todo))
    checked = 0
    for f in todo:
        path = folder / f.path

        def step(n: int, name: str = f.path) -> None:
            nonlocal checked
            checked += n
            if meter.report is not None and time.monotonic() - meter.last >= meter.interval:
                meter.last = time.monotonic()
                meter.report(replace(verify_meter, filename=name, done=checked))

        problem = check_file(path, f, step, cancel)
        if problem is None:
            st = path.stat()
            manifest.verified[f.path] = [st.st_size, st.st_mtime_ns]
        else:
            manifest.bad[f.path] = problem
    store.save_manifest(manifest)
    if manifest.bad:
        name, why = next(iter(manifest.bad.items()))
        raise ChecksumError(
            f"{repo.repo_id}: {name} failed verification ({why}); the model is not offered for loading. "
            "Pull again to re-download the file.", name
        )
