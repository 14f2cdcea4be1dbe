"""Talking to the hub through huggingface_hub: endpoint, offline mode, file metadata, errors, retries."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from .errors import (
    AuthRequiredError,
    DownloadCancelled,
    DownloadError,
    HubAnswerError,
    ModelNotFoundError,
    OfflineError,
)
from .ids import file_name_problem, is_commit, is_git_oid, is_sha256, shown

T = TypeVar("T")

TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)
LOOKUP_TIMEOUT_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repo at a commit: `sha256` for LFS files, `blob_id` (git sha1) for the others."""

    path: str
    size: int
    sha256: str | None = None
    blob_id: str | None = None

    @property
    def etag(self) -> str:
        """The name the hub cache gives this file's blob."""
        return self.sha256 or self.blob_id or ""

    def to_json(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "blob_id": self.blob_id}

    @classmethod
    def from_json(cls, raw: dict) -> RemoteFile:
        return cls(raw["path"], int(raw["size"]), raw.get("sha256"), raw.get("blob_id"))

    def problem(self) -> str | None:
        """Why this entry cannot name files in the cache (bad name, hash or size), or None when it can."""
        why = file_name_problem(self.path)
        if why is not None:
            return f"an invalid file name {shown(self.path)} ({why})"
        if self.sha256 is not None and not is_sha256(self.sha256):
            return f"an invalid sha256 {shown(self.sha256)} for {self.path} (64 hex digits expected)"
        if self.blob_id is not None and not is_git_oid(self.blob_id):
            return f"an invalid git blob id {shown(self.blob_id)} for {self.path} (40 hex digits expected)"
        if not self.etag:
            return f"no sha256 or git blob id for {self.path}"
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            return f"an invalid size {shown(self.size)} for {self.path}"
        return None


@dataclass(frozen=True)
class RemoteRepo:
    repo_id: str
    revision: str
    commit: str
    files: tuple[RemoteFile, ...]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def endpoint() -> str:
    """The hub URL: `HF_ENDPOINT` read now (so tests and users can change it), else huggingface_hub's default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def is_offline() -> bool:
    """True when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set now or was set at import."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"} or constants.HF_HUB_OFFLINE


def offline_message(host: str) -> str:
    """The one sentence said when the hub's name cannot be looked up (no network, or no DNS)."""
    return f"No internet connection: {host} could not be reached."


def is_name_lookup_failure(error: BaseException) -> bool:
    """True when `error` (or what caused it) is a failed host-name lookup: retrying cannot help while offline."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, socket.gaierror):
            return True
        text = str(error)
        if "Name or service not known" in text or "name resolution" in text or "nodename nor servname" in text:
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def check_reachable(url: str | None = None, timeout: float = LOOKUP_TIMEOUT_S,
                    resolve: Callable[..., object] = socket.getaddrinfo) -> None:
    """Raise `OfflineError` within `timeout` seconds when the hub's host name cannot be looked up.

    Skipped behind a proxy (the proxy resolves names, not this machine). The lookup runs in a daemon thread so a
    stuck resolver cannot hold the download for its own long timeouts.
    """
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return
    host = urlsplit(url or endpoint()).hostname
    if not host:
        return
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            resolve(host, 443)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - carried to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name="hub-lookup", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise OfflineError(offline_message(host) + f" (looking up its address took over {timeout:.0f} s)")
    if outcome[0] is not None and isinstance(outcome[0], (socket.gaierror, OSError)):
        raise OfflineError(offline_message(host))


def licence_url(repo_id: str) -> str:
    return f"https://huggingface.co/{repo_id}"


def translate(error: BaseException, repo_id: str, filename: str | None = None) -> DownloadError:
    """Turn a huggingface_hub / network exception into a `DownloadError` a user can act on."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, DownloadError):
        return error
    if is_name_lookup_failure(error):
        return OfflineError(offline_message(urlsplit(endpoint()).hostname or endpoint()))
    status = _status(error)
    what = f"{repo_id}/{filename}" if filename else repo_id
    gated = isinstance(error, GatedRepoError)  # a subclass of RepositoryNotFoundError
    if isinstance(error, RepositoryNotFoundError) and not gated and status == 401:
        return AuthRequiredError(
            f"The hub did not find {repo_id}, or it is gated or private (HTTP 401). Check the name; if it is gated, "
            f"accept the licence at {licence_url(repo_id)} while logged in, then paste a Hugging Face access token "
            "(https://huggingface.co/settings/tokens) and try again."
        )
    if gated or status in (401, 403):
        return AuthRequiredError(
            f"The hub refused access to {repo_id} (HTTP {status or 401}). Accept the licence at "
            f"{licence_url(repo_id)} while logged in, then paste a Hugging Face access token "
            "(https://huggingface.co/settings/tokens) and try again."
        )
    if isinstance(error, RemoteEntryNotFoundError):
        return ModelNotFoundError(f"{what} does not exist on {endpoint()}.")
    if isinstance(error, RevisionNotFoundError):
        return ModelNotFoundError(f"The revision asked for does not exist in {repo_id} on {endpoint()}.")
    if isinstance(error, RepositoryNotFoundError) or status == 404:
        return ModelNotFoundError(f"Model {repo_id} was not found on {endpoint()}: check the name.")
    if isinstance(error, HfHubHTTPError):
        return DownloadError(f"The hub answered HTTP {status} for {what}; try again later (the download resumes).")
    if isinstance(error, OSError) and getattr(error, "errno", None) == 28:
        return DownloadError("The disk filled up during the download; free some space and pull again to resume.")
    return DownloadError(
        f"Could not reach {endpoint()} for {what}: the connection failed. Check it and try again; the download "
        "resumes where it stopped."
    )


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def is_transient(error: BaseException) -> bool:
    """5xx, 408/429, dropped connections and timeouts are worth retrying; auth and not-found are not."""
    import httpx2

    if isinstance(error, DownloadCancelled) or is_name_lookup_failure(error):
        return False
    status = _status(error)
    if status is not None:
        return status in TRANSIENT_STATUS
    return isinstance(error, (httpx2.TransportError, ConnectionError, TimeoutError))


def with_retries(
    call: Callable[[], T],
    *,
    retries: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
) -> T:
    """Run `call`, retrying transient failures with exponential backoff (base_delay × 2ⁿ, capped)."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as error:
            if attempt >= retries or not is_transient(error):
                raise
            delay = min(max_delay, base_delay * (2**attempt))
            attempt += 1
            if on_retry is not None:
                on_retry(attempt, delay, error)
            sleep(delay)


def fetch_repo(repo_id: str, revision: str | None, token: str | None, **retry: float) -> RemoteRepo:
    """The file list with sizes and hashes at `revision`, from the hub's model-info API (`?blobs=true`)."""
    from huggingface_hub import HfApi

    if is_offline():
        raise OfflineError(f"Offline mode (HF_HUB_OFFLINE) is on, and {repo_id} is not complete in the cache.")
    check_reachable()
    api = HfApi(endpoint=endpoint())
    try:
        info = with_retries(
            lambda: api.model_info(repo_id, revision=revision, files_metadata=True, token=token or False), **retry
        )
    except Exception as error:
        raise translate(error, repo_id) from None
    files = tuple(
        RemoteFile(
            path=s.rfilename,
            size=s.lfs.size if s.lfs else (s.size or 0),
            sha256=s.lfs.sha256 if s.lfs else None,
            blob_id=None if s.lfs else s.blob_id,
        )
        for s in info.siblings or []
    )
    return checked_repo(RemoteRepo(repo_id, revision or "main", info.sha, files))


def answer_problem(repo: RemoteRepo) -> str | None:
    """Why the hub's answer for `repo` cannot be used to name files in the cache, or None when it can."""
    if not is_commit(repo.commit):
        return f"an invalid commit id {shown(repo.commit)} (40 hex digits expected)"
    seen: set[str] = set()
    for f in repo.files:
        why = f.problem()
        if why is not None:
            return why
        if f.path in seen:
            return f"the file name {shown(f.path)} twice"
        seen.add(f.path)
    folders = {"/".join(f.path.split("/")[:i]) for f in repo.files for i in range(1, f.path.count("/") + 1)}
    clash = sorted(folders & seen)
    return f"{shown(clash[0])} as both a file and a folder" if clash else None


def checked_repo(repo: RemoteRepo) -> RemoteRepo:
    """`repo` once its commit id, file names, hashes and sizes are safe to use in paths; else `HubAnswerError`.

    Checked the way huggingface_hub checks what it downloads (relative names without `..`, absolute, drive or UNC
    parts; hex hashes and commit ids), before any path is built from them.
    """
    problem = answer_problem(repo)
    if problem is not None:
        raise HubAnswerError(
            f"The hub at {endpoint()} answered {problem} for {repo.repo_id}; nothing was written. "
            "Check HF_ENDPOINT (a mirror may be broken or hostile) and try again."
        )
    return repo
