"""Model-management failures, each an `EngineError` whose message says what to do next."""

from __future__ import annotations

from ..errors import AuthRequiredError, DownloadError, EngineError, ModelLoadError

__all__ = [
    "AuthRequiredError",
    "ChecksumError",
    "DiskSpaceError",
    "DownloadCancelled",
    "DownloadError",
    "ForceRequiredError",
    "HubAnswerError",
    "ImportTooLargeError",
    "ImportValidationError",
    "InvalidNameError",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "OfflineError",
    "UnsafePathError",
]


class InvalidNameError(EngineError, ValueError):
    """A model id, local name or revision from the user is not one this app accepts; the message shows a valid one."""


class UnsafePathError(EngineError):
    """A path built from a name or a hub answer would leave the folder it belongs in; nothing was written or deleted."""


class ForceRequiredError(EngineError):
    """`remove` was asked to delete something this app does not list as a model; it needs `--force`."""


class ModelNotFoundError(DownloadError):
    """The hub has no such repository, revision or file."""


class DiskSpaceError(DownloadError):
    """Not enough free disk space for the download; nothing was written."""


class ChecksumError(DownloadError):
    """A file's bytes do not match the hub's sha256 (or size); `path` names the file."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class DownloadCancelled(DownloadError):
    """The user cancelled; the bytes already on disk are kept and the next pull resumes from them."""


class OfflineError(DownloadError):
    """Offline mode (`HF_HUB_OFFLINE`) or no network, and the model is not complete in the cache."""


class ModelNotReadyError(ModelLoadError):
    """The model is missing, partial, unverified or has a mismatched file, so it is not offered for loading."""


class ImportValidationError(ModelLoadError):
    """A folder offered for import is not a complete DiffusionGemma model."""


class ImportTooLargeError(ImportValidationError):
    """A folder offered for import is bigger than the import size cap; nothing was copied."""


class HubAnswerError(DownloadError):
    """The hub (or a mirror at `HF_ENDPOINT`) answered a file name, hash or commit id that cannot be used safely."""
