"""Which models the window can load: the embedded demo model, a tiny random model, folders the user picked.

`load_engine_model` runs in the worker thread (it may take seconds); everything else is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

TINY_MODEL = "tiny"
TINY_LABEL = "Test model (gibberish answers, for trying the window)"
TINY_TOOLTIP = "A tiny model with random, untrained weights: it loads instantly and answers with noise."
TINY_DIR_NAME = "tiny-random-untrained"


def plain_reason(reason: str) -> str:
    """A catalogue reason without its developer's aside in parentheses ("… (no Blackwell GPU here)")."""
    text = re.sub(r"\s*\([^()]*\)\s*$", "", reason.strip())
    text = text.removeprefix("not yet supported: ")
    return (text or reason).rstrip(".") + "."


def plain_download_text(message: str) -> str:
    """An engine download message worded for the Models page, whose button says Download (not "pull")."""
    message = re.sub(r"\b[Pp]ull again\b", "press Download again", message)
    message = re.sub(r"\bthe next pull resumes\b", "Resume continues from them", message)
    message = re.sub(r"\b[Tt]ry again\b", "press Download again", message, count=1)
    return re.sub(r"\s*\((?:[A-Z][A-Za-z]+Error|[A-Z][A-Za-z]+Exception)\)", "", message)


def demo_model_dir() -> Path:
    """Where the embedded demo model lives (resources/demo-model)."""
    from engine.paths import demo_model_dir as _demo

    return _demo()


def demo_model_available() -> bool:
    """Whether the demo model is embedded in this build."""
    return (demo_model_dir() / "config.json").is_file()


def default_model_source() -> str:
    """The demo model when it is embedded, else the tiny random model."""
    return str(demo_model_dir()) if demo_model_available() else TINY_MODEL


DEMO_SOURCE = "demo"  # how the settings file names the embedded demo model: its folder moves with each install


def saved_source(source: str) -> str:
    """`source` as the settings file keeps it: the embedded demo model by name, never by this install's path."""
    if source and source != TINY_MODEL and not source.startswith("remote:") and _is_demo_folder(Path(source)):
        return DEMO_SOURCE
    return source


def restored_source(saved: str) -> str:
    """A model from the settings file as this install loads it: the demo model (by name, or by the path of another
    install's copy — a moved or reinstalled app, a one-file bundle unpacked elsewhere) is this install's copy."""
    if saved == DEMO_SOURCE or saved and _looks_like_another_demo(saved):
        return default_model_source()
    return saved


def _is_demo_folder(path: Path) -> bool:
    try:
        return path.resolve() == demo_model_dir().resolve()
    except (OSError, RuntimeError):
        return False


def _looks_like_another_demo(saved: str) -> bool:
    path = Path(saved)
    return path.is_absolute() and path.name == demo_model_dir().name and path.parent.name == "resources"


def model_label(source: str) -> str:
    """A short, honest name for the model picker and the status bar."""
    if source == TINY_MODEL:
        return TINY_LABEL
    if source.startswith("remote:"):  # app.models.remote_source
        return f"Remote: {source[len('remote:'):]}"
    path = Path(source)
    if demo_model_available() and _is_demo_folder(path):
        return "Demo model (embedded, tiny — trained on simple Q&A)"
    return path.name or source


def load_engine_model(
    source: str, device: str = "auto", profile: str | None = None, on_progress: Callable[[Any], None] | None = None
) -> Any:
    """An `EngineModel` for `source` (a folder, a cached hub id, or `TINY_MODEL`) on `device` ("auto", "cpu",
    "cuda:N") with a load `profile` (None: the engine's choice); `on_progress` receives the engine's `LoadProgress`
    items. Worker thread only."""
    from engine import EngineModel

    if source == TINY_MODEL:
        from engine.tiny import tiny_engine_model

        em = tiny_engine_model(seed=0)
        em.name = TINY_DIR_NAME
        return em
    return EngineModel.from_pretrained(source, device=device, profile=profile, on_progress=on_progress)


def tiny_tokenizer_dir() -> Path:
    """The tiny model's character tokenizer, written once under the cache root."""
    from engine.paths import cache_dir

    folder = cache_dir() / TINY_DIR_NAME
    if not (folder / "tokenizer_config.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_char_tokenizer(folder)
    return folder


def write_char_tokenizer(folder: Path) -> None:
    """The demo model's character tokenizer (with its Gemma-4-style chat template), saved into `folder`."""
    from engine.train_demo.tokenizer import save_tokenizer

    save_tokenizer(folder)
