"""◆ Places on disk: `DIFFUSION_DESK_HOME` (portable mode, tests) or platformdirs' per-user dirs."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import EngineError

APP_NAME = "Diffusion Desk"
HOME_VARIABLE = "DIFFUSION_DESK_HOME"


class AppDirError(EngineError):
    """`DIFFUSION_DESK_HOME` or one of the app's folders cannot be used; the message names it and the fix."""


def _home() -> Path | None:
    value = os.environ.get(HOME_VARIABLE)
    if not value:
        return None
    if not value.isprintable():
        raise AppDirError(
            f"{HOME_VARIABLE} holds control characters ({value!r}). Set it to a folder path, or unset it."
        )
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # `~name` for a user that does not exist (Python 3.12+)
        path = Path(value)
    if str(path).startswith("~"):
        raise AppDirError(
            f"{HOME_VARIABLE}={value}: there is no user “{value.split('/')[0][1:] or '~'}” to expand “~” for. "
            "Use a full folder path, or unset it."
        )
    if path.exists() and not path.is_dir():
        raise AppDirError(f"{HOME_VARIABLE} points at {path}, which is a file, not a folder. "
                          "Point it at a folder (it is created when missing), or unset it.")
    return path


def _ensure_folder(path: Path, kind: str) -> None:
    """Create `path` when missing; an `AppDirError` saying why when it cannot be created or written to."""
    where = f"Diffusion Desk's {kind} folder {path}"
    fix = f"or set {HOME_VARIABLE} to a writable folder."
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        raise AppDirError(f"{where} cannot be created: {blocker} is a file, not a folder. Move it aside, "
                          f"{fix}") from None
    except PermissionError:
        raise AppDirError(f"{where} cannot be created: permission denied. Make its parent writable, {fix}") from None
    except OSError as exc:
        reason = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
                  errno.EDQUOT: "the disk quota is used up"}.get(exc.errno or 0, exc.strerror or str(exc))
        raise AppDirError(f"{where} cannot be created: {reason}. Free some space or fix the disk, {fix}") from None
    if not path.is_dir():
        raise AppDirError(f"{where} is not a folder. Move it aside, {fix}")
    if not os.access(path, os.W_OK | os.X_OK):
        raise AppDirError(f"{where} is read-only. Make it writable, {fix}")


def _platform_dir(kind: str) -> Path:
    import platformdirs

    getter = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
        "logs": platformdirs.user_log_dir,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def app_dir(kind: str, *, create: bool = True) -> Path:
    """The `config`, `data`, `cache` or `logs` root; created on first use. `AppDirError` when
    `DIFFUSION_DESK_HOME` is unusable or (with `create`) the folder cannot be created or written to."""
    home = _home()
    path = home / kind if home is not None else _platform_dir(kind)
    if create:
        _ensure_folder(path, kind)
    return path


def config_dir() -> Path:
    return app_dir("config")


def data_dir() -> Path:
    return app_dir("data")


def cache_dir() -> Path:
    return app_dir("cache")


def logs_dir() -> Path:
    return app_dir("logs")


def models_cache_dir() -> Path:
    """Where models live: `<data>/models` in portable mode, else the shared Hugging Face hub cache."""
    if _home() is not None:
        path = data_dir() / "models"
        _ensure_folder(path, "models")
        return path
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def chats_db_path() -> Path:
    """`<data>/chats.sqlite3`."""
    return data_dir() / "chats.sqlite3"


def demo_model_dir() -> Path:
    """The embedded demo model shipped in resources/ (next to the packages in a checkout or bundle)."""
    return Path(__file__).resolve().parent.parent / "resources" / "demo-model"
