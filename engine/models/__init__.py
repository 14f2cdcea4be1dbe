"""Models on disk and from the hub: catalogue, pull (resume, retries, verify), tokens, import, delete.

◆ CLI: `python -m engine.models list|pull REPO|remove REPO|verify REPO|import DIR [--json]`.
Nothing here imports torch or Qt; huggingface_hub loads on first use.

The app calls: `load_catalogue()`, `list_local_models()`, `pull(repo_id, cancel=, on_progress=)`,
`verify_model(id)`, `delete_model(id, force=False)`, `import_folder(path, mode="copy"|"link")`, `save_token(token)`,
`token_status()`, and `model_path(id)` to turn a ready model into the folder for `EngineModel.from_pretrained`.
Ids and names from outside go through `parse_model_id` / `local_name` (`ids.py`) first; paths built from them or
from hub answers are checked with `guard.inside` before anything is written or deleted.
"""

from __future__ import annotations

from .catalogue import CatalogueEntry, find_entry, load_catalogue
from .download import PullProgress, PullResult, check_disk, pull
from .errors import (
    AuthRequiredError,
    ChecksumError,
    DiskSpaceError,
    DownloadCancelled,
    DownloadError,
    ForceRequiredError,
    HubAnswerError,
    ImportTooLargeError,
    ImportValidationError,
    InvalidNameError,
    ModelNotFoundError,
    ModelNotReadyError,
    OfflineError,
    UnsafePathError,
)
from .guard import inside
from .ids import ModelId, local_name, parse_model_id
from .importing import check_importable, import_folder, validate_folder
from .store import LocalModel, delete_model, find_local, list_local_models, local_status, model_path
from .tokens import TokenStatus, forget_token, keyring_available, load_token, save_token, token_status
from .verify import VerifyReport, verify_model

__all__ = [
    "AuthRequiredError",
    "CatalogueEntry",
    "ChecksumError",
    "DiskSpaceError",
    "DownloadCancelled",
    "DownloadError",
    "ForceRequiredError",
    "HubAnswerError",
    "ImportTooLargeError",
    "ImportValidationError",
    "InvalidNameError",
    "LocalModel",
    "ModelId",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "OfflineError",
    "PullProgress",
    "PullResult",
    "TokenStatus",
    "UnsafePathError",
    "VerifyReport",
    "check_disk",
    "delete_model",
    "find_entry",
    "find_local",
    "forget_token",
    "check_importable",
    "import_folder",
    "inside",
    "keyring_available",
    "list_local_models",
    "load_catalogue",
    "load_token",
    "local_name",
    "local_status",
    "model_path",
    "parse_model_id",
    "pull",
    "save_token",
    "token_status",
    "validate_folder",
    "verify_model",
]
