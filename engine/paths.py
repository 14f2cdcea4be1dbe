"""◆ Places on disk: `DIFFUSION_DESK_HOME` (portable mode, tests) or platformdirs' per-user dirs."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "Diffusion Desk"


def _home() -> Path | None:
    value = os.environ.get("DIFFUSION_DESK_HOME")
    return Path(value).expanduser() if value else None


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
    """The `config`, `data`, `cache` or `logs` root; created on first use."""
    home = _home()
    path = home / kind if home is not None else _platform_dir(kind)
    if create:
        path.mkdir(parents=True, exist_ok=True)
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
        path.mkdir(parents=True, exist_ok=True)
        return path
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def chats_db_path() -> Path:
    return data_dir() / "chats.sqlite3"


def demo_model_dir() -> Path:
    """The embedded demo model shipped in resources/ (next to the packages in a checkout or bundle)."""
    return Path(__file__).resolve().parent.parent / "resources" / "demo-model"
