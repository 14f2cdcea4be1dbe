"""What the engine's command lines share: model selection, terminal-safe text, and one-line errors.

Text that reaches a terminal from outside — tokenizer pieces, model output, model names, paths, hub answers,
arguments — goes through `safe_text`, so escape sequences in it are shown, never obeyed. Colours and cursor
movement are used only on a terminal (never when piped, never with NO_COLOR or TERM=dumb). `run_cli` turns every
expected failure (`EngineError`, invalid settings) into one `error: …` line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .errors import EngineError, UsageError

if TYPE_CHECKING:
    from .loading import EngineModel

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

# Bidirectional overrides and invisible direction marks reorder what a reader sees ("Trojan Source").
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
_CONTROL = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ESCAPES = {code: _escape(code) for code in _CONTROL + _BIDI}
_ESCAPES.update({code: _escape(code) for code in range(0xD800, 0xE000)})  # lone surrogates (undecodable bytes)
_KEEP_LAYOUT = dict(_ESCAPES)
del _KEEP_LAYOUT[ord("\n")], _KEEP_LAYOUT[ord("\t")]


def safe_text(value: object, *, newlines: bool = True) -> str:
    """`value` as text that cannot drive a terminal: control characters become visible escapes (ESC → `\\x1b`).

    Newline and tab stay as they are unless `newlines` is False (then they are escaped too, for one-line output).
    Also escapes C1 controls, bidirectional overrides and lone surrogates (bytes that were not valid UTF-8).
    """
    return str(value).translate(_KEEP_LAYOUT if newlines else _ESCAPES)


def one_line(message: object) -> str:
    """A message on one terminal-safe line (line breaks become spaces)."""
    return safe_text(re.sub(r"\s*\n\s*", " ", str(message)).strip(), newlines=False)


def color_enabled(stream: TextIO) -> bool:
    """Colours only on a terminal, and not when NO_COLOR is set (https://no-color.org) or TERM is dumb."""
    return live_enabled(stream) and not os.environ.get("NO_COLOR")


def live_enabled(stream: TextIO) -> bool:
    """Cursor movement (redrawing in place) only on a real terminal that understands it."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
    return bool(tty) and os.environ.get("TERM", "") != "dumb"


def print_error(message: object, stream: TextIO | None = None) -> None:
    """`error: <message>` as one safe line on stderr."""
    print(f"error: {one_line(message)}", file=stream or sys.stderr, flush=True)


def argv_text(value: str, name: str) -> str:
    """A command-line value checked to be real text: undecodable bytes (kept as surrogates) raise `UsageError`."""
    for position, char in enumerate(value):
        if 0xDC80 <= ord(char) <= 0xDCFF:
            raise UsageError(
                f"{name} is not valid UTF-8 text (byte 0x{ord(char) - 0xDC00:02x} at character {position}); "
                "re-type it or convert the file it came from to UTF-8."
            )
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise UsageError(f"{name} holds an unpaired surrogate at character {position}; give plain text.")
    return value


def user_path(text: str, name: str) -> Path:
    """A path argument with `~` expanded; `~nobody` or undecodable names raise `UsageError`."""
    argv_text(text, name)
    if "\x00" in text:
        raise UsageError(f"{name} contains a NUL character; give a real path.")
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text[1:].split("/", 1)[0]
        raise UsageError(f"{name} {text!r}: there is no user {user!r} whose home '~' could mean.") from None


def _positive_threads(name: str, value: str) -> None:
    parts = value.split(",")
    if not all(p.strip().isdigit() and 1 <= int(p) <= 4096 for p in parts):
        raise UsageError(
            f"{name}={safe_text(value, newlines=False)!r} is not a thread count; set it to a whole number such "
            f"as {name}=4, or unset it."
        )


def check_environment() -> None:
    """Refuse environment values the engine (or torch) would misread, before anything is loaded."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name)
        if value is not None and value.strip() != "":
            _positive_threads(name, value.strip())
    for name in ("DIFFUSION_DESK_HOME", "HF_HOME", "HF_HUB_CACHE"):
        value = os.environ.get(name)
        if not value:
            continue
        path = user_path(value, f"The environment variable {name}")
        if path.exists() and not path.is_dir():
            raise UsageError(f"{name} points at {safe_text(path)}, which is a file, not a folder; fix or unset it.")


def quiet_libraries() -> None:
    """No progress bars from transformers/huggingface when stderr is not a terminal (errors stay one line)."""
    if live_enabled(sys.stderr):
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _guard_streams() -> None:
    """A character the terminal's encoding cannot show is written escaped instead of crashing the command."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass


def run_cli(body: Callable[[], int]) -> int:
    """Run a command's body: expected failures become one `error: …` line on stderr and exit code 2."""
    _guard_streams()
    try:
        check_environment()
        return body()
    except EngineError as exc:
        print_error(exc)
        return EXIT_ERROR
    except ValueError as exc:  # invalid sampler settings name their field
        print_error(exc)
        return EXIT_ERROR
    except MemoryError:
        print_error("ran out of memory; choose a smaller model or profile, or close other programs.")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly; point stdout at /dev/null so exit does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def load_model_arg(spec: str, *, device: str = "auto", profile: str | None = None,
                   on_progress: Callable | None = None) -> EngineModel:
    """`demo` (the embedded model), `tiny` (random, with the demo's tokenizer), or a folder / cached hub id, with an
    optional load profile and progress callback."""
    from .loading import EngineModel, pick_device
    from .paths import demo_model_dir

    argv_text(spec, "--model")
    argv_text(device, "--device")
    if profile is not None:
        argv_text(profile, "--profile")
    quiet_libraries()
    if spec == "tiny":
        if profile is not None:
            raise UsageError("--profile cannot be used with --model tiny; give a model folder.")
        from .tiny import tiny_engine_model

        pick_device(device)  # a nonsense --device is refused here too
        return tiny_engine_model()
    source = demo_model_dir() if spec == "demo" else spec
    return EngineModel.from_pretrained(source, device=device, profile=profile, on_progress=on_progress)
