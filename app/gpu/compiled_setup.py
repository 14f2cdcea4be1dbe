"""The GPU-optimized (compiled) path as the worker uses it: switch it on after a load, warm it up behind a message,
and turn it off for the session when it fails. Runs in the worker thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_CACHE_LEN = 8192
FIRST_TIME = "Optimizing for your GPU — first time only"
PREPARING = "Preparing the GPU-optimized path"
OFF_FOR_SESSION = "The GPU-optimized path is off for this session: {reason} Answers use the ordinary path."


def on_cuda(em: Any) -> bool:
    """The default test for the compiled path: the model sits on a CUDA device."""
    return getattr(getattr(em, "device", None), "type", "") == "cuda"


def compiled_path_error(exc: BaseException) -> bool:
    """Whether `exc` is the engine's `CompiledPathError`."""
    from engine.compiled import CompiledPathError

    return isinstance(exc, CompiledPathError)


class CompiledSetup:
    """`apply(em)` after each load; `fall_back(em, exc)` when the compiled path fails (the caller resets its session).

    `compiled_on(em)` decides whether a model takes the path (CUDA by default; tests pass a predicate to run it on
    the CPU); `loading(text)` and `notice(text)` are the worker's signals' emit methods.
    """

    def __init__(self, compiled_on: Callable[[Any], bool], loading: Callable[[str], None],
                 notice: Callable[[str], None]) -> None:
        self.compiled_on = compiled_on
        self.loading = loading
        self.notice = notice
        self.enabled = True

    def apply(self, em: Any) -> None:
        """Enable and warm up the compiled path when the setting is on and `compiled_on(em)`; a failure is logged,
        turns the path off and is said in a notice — the load itself still succeeds."""
        if not self.enabled or not self.compiled_on(em):
            return
        try:
            em.enable_compiled(max_cache_len=min(int(em.context_length), MAX_CACHE_LEN))
            title = PREPARING if em.compiled.artifacts_loaded else FIRST_TIME
            self.loading(f"{title}…")
            em.compiled.warm_up(lambda stage, done, total: self.loading(f"{title}… ({done}/{total})"))
        except Exception as exc:  # noqa: BLE001 - any compile failure leaves the eager path working
            if not compiled_path_error(exc):
                log.warning("the compiled path could not be prepared", exc_info=True)
            self.fall_back(em, exc)

    def fall_back(self, em: Any, exc: BaseException) -> None:
        """Turn the compiled path off for this model and say so in the banner."""
        log.warning("GPU-optimized path turned off for this session: %s", exc)
        if em is not None:
            em.compiled = None
        reason = str(exc).strip() or type(exc).__name__
        self.notice(OFF_FOR_SESSION.format(reason=reason if reason.endswith(".") else reason + "."))
