"""The compiled path (CUDA first): a ring-buffer KV cache, a compiled encoder chunk and a compiled denoising step.

The step — decoder, temperature, Gumbel-max sampling, entropy, entropy-bound accept, re-noise, the stop test and the
packed frame — is one `torch.compile`d function over persistent buffers (`compiled_step.py`); on CUDA with mode
"reduce-overhead" it replays as a CUDA graph and the frame leaves the device as one small copy per step. Prompts
are encoded in chunks of the canvas length, so the encoder graph has one shape too: two graphs per (model, profile,
context size, canvas length), compiled once. A recompile is never silent: it raises `CompiledPathError` in strict
mode (tests) and logs a warning otherwise; dynamo's recompile limit raises instead of falling back to eager.
Random numbers come from the compiled kernels (Gumbel-max instead of `multinomial`), so tokens follow the
reference's distribution but not its exact draws: CPU parity is the eager path's job. Compiled artifacts persist
under `<cache>/compile`, keyed by device, model, dtype and library versions.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .errors import EngineError
from .paths import cache_dir
from .static_cache import RingKVCache

log = logging.getLogger(__name__)
LAYOUT_VERSION = "ring-2"  # bump when the traced functions or the cache layout change: old artifacts are not reused


class CompiledPathError(EngineError):
    """The compiled path had to recompile (strict mode) or hit dynamo's recompile limit."""


def configure_compile_cache() -> Path:
    """Point inductor's and triton's on-disk caches at `<cache>/compile` (before the first compile)."""
    root = cache_dir() / "compile"
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root / "inductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    return root


def compile_count() -> int:
    """Graphs dynamo has compiled in this process (all callers)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@contextmanager
def _dynamo_flags(**flags: bool) -> Iterator[None]:
    """Set dynamo config flags for one call and restore them: what `torch._dynamo.config.patch` does, at ~5 µs
    instead of ~100 µs per decoder step (measured on this CPU; it runs once per denoising step)."""
    config = torch._dynamo.config
    old = {name: getattr(config, name) for name in flags}
    for name, value in flags.items():
        setattr(config, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(config, name, value)


class CompiledPath:
    """Compiled encoder chunk and denoising step for one `EngineModel`; build once, reuse for every answer.

    Owns the one `RingKVCache` (fixed addresses for CUDA graphs): a conversation claims it with `claim`, and a
    `CacheState` whose cache was claimed by another conversation is re-encoded.
    """

    def __init__(self, em: Any, *, max_cache_len: int = 8192, mode: str | None = None, rollback: int | None = None,
                 strict: bool = False) -> None:
        from .compiled_step import StepBuffers, encode_chunk, fused_step

        self.em = em
        self.mode = mode or ("reduce-overhead" if em.device.type == "cuda" else "default")
        self.max_cache_len = max_cache_len
        self.strict = strict
        self.root = configure_compile_cache()
        self._artifacts = self.root / f"mega-{self._key()}.bin"
        self.artifacts_loaded = self._load_artifacts()
        model = em.model
        text_config = model.config.get_text_config(decoder=True)
        length = em.canvas_length
        embed_dtype = model.model.decoder.embed_tokens.weight.dtype
        with torch.inference_mode():  # inference tensors: what generate() passes, so graphs never guard on the mode
            self.cache = RingKVCache(
                text_config, max_cache_len=max_cache_len, chunk=length,
                rollback=4 * length if rollback is None else rollback, dtype=model.dtype, device=em.device,
                attn_implementation=text_config._attn_implementation,
            )
            self.buffers = StepBuffers.allocate(length, em.vocab_size, embed_dtype, em.device)
        for fn in (encode_chunk, fused_step):
            # One compiled model per process: a new path's buffers would fail the old graphs' guards, and the old
            # entries would only count toward dynamo's recompile limit.
            torch._dynamo.eval_frame.reset_code(fn.__code__)
        self._encode = torch.compile(encode_chunk, mode=self.mode, dynamic=False, fullgraph=True)
        self._step = torch.compile(fused_step, mode=self.mode, dynamic=False, fullgraph=True)
        self._compiled: set[str] = set()
        self.compiles = 0  # graphs compiled by this path
        self.saved = False

    # -- the cache --------------------------------------------------------------------------------------------------
    def fits(self, tokens: int) -> bool:
        """Whether `tokens` cached tokens fit the static cache."""
        return self.cache.fits(tokens)

    def claim(self, state: Any) -> RingKVCache:
        """Give the (emptied) cache to `state`, a `CacheState`; whoever held it before must re-encode."""
        self.cache.reset()
        self.cache.owner = state
        return self.cache

    # -- the numbered steps of generate() ---------------------------------------------------------------------------
    def begin_answer(self, settings: Any) -> None:
        """Step scalars for this answer, copied to the device once."""
        values = [settings.t_min, settings.t_max, settings.max_denoising_steps, settings.entropy_bound,
                  settings.confidence_threshold, settings.stability_threshold]
        self.buffers.params.copy_(torch.tensor(values, dtype=torch.float32))

    def encode(self, ids: torch.Tensor, state: Any) -> None:
        """1.a: encode `ids` `(1, n)` in chunks of the canvas length (the last one padded) into the cache."""
        chunk, buffers = self.cache.chunk, self.buffers
        host = ids[0].tolist()
        for start in range(0, len(host), chunk):
            part = ids[:, start : start + chunk]
            valid = part.shape[1]
            buffers.chunk_ids[:, :valid].copy_(part)
            buffers.chunk_ids[:, valid:].fill_(0)
            buffers.chunk_valid.fill_(valid)
            self._call("encoder", self._encode, self.em.model, self.cache, buffers.chunk_ids, buffers.chunk_valid)
            self.cache.wrote_chunk(self.cache.tokens, valid)
            state.ids.extend(host[start : start + valid])  # chunk by chunk: ids and cache agree even after an error

    def start_canvas(self, initial: torch.Tensor) -> None:
        """1.b: a fresh random canvas (drawn by the caller), no self-conditioning yet."""
        self.buffers.start_canvas(initial)

    def step(self) -> list[float]:
        """1.c: one fused denoising step; returns the host copy of the packed frame (the one copy per step)."""
        packed = self._call("step", self._step, self.em.model, self.cache, self.buffers)
        return packed.tolist()

    def warm_up(self, progress: Callable[[str, int, int], None] | None = None) -> float:
        """Compile (or load) both graphs now, e.g. behind a "first time only" message, so the first answer is quick.

        `progress(stage, done, total)` is called before each graph ("encoder", "step") and at the end ("ready").
        Returns the seconds it took. Leaves the cache empty and unclaimed.
        """
        import time

        from .cache_state import CacheState
        from .settings import SamplerSettings

        start, report = time.perf_counter(), progress or (lambda stage, done, total: None)
        state = CacheState()
        with torch.inference_mode():
            report("encoder", 0, 2)
            self.claim(state)
            self.encode(torch.zeros((1, 1), dtype=torch.long, device=self.em.device), state)
            report("step", 1, 2)
            self.begin_answer(SamplerSettings(max_new_tokens=self.cache.chunk))
            self.start_canvas(torch.zeros_like(self.buffers.canvas))
            self.step()
        self.claim(None)
        self.after_first_answer()
        report("ready", 2, 2)
        return time.perf_counter() - start

    def after_first_answer(self) -> None:
        """Save the compiled artifacts once, so the next launch loads them instead of compiling."""
        if self.saved:
            return
        self.saved = True
        try:
            artifacts = torch.compiler.save_cache_artifacts()
        except (RuntimeError, AttributeError, OSError) as exc:
            log.warning("Could not save the compiled artifacts: %s", exc)
            return
        if artifacts:
            tmp = self._artifacts.with_suffix(".tmp")
            tmp.write_bytes(artifacts[0])
            tmp.replace(self._artifacts)

    # -- compile policy ---------------------------------------------------------------------------------------------
    def _call(self, name: str, fn: Any, *args: Any) -> Any:
        """Run a compiled function; a second compile of it is an error (strict) or a logged warning, never silent."""
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # no output of an earlier replay is read after this one
        before = compile_count()
        recompile = name in self._compiled
        try:
            # A recompile limit hit raises instead of quietly running the rest of the process eagerly.
            with _dynamo_flags(fail_on_recompile_limit_hit=True, error_on_recompile=self.strict and recompile):
                out = fn(*args)
        except torch._dynamo.exc.RecompileError as exc:
            raise CompiledPathError(f"The compiled {name} had to recompile: {exc}") from exc
        except torch._dynamo.exc.FailOnRecompileLimitHit as exc:
            raise CompiledPathError(f"The compiled {name} hit the recompile limit: {exc}") from exc
        except torch._dynamo.exc.TorchDynamoException as exc:  # a graph break (fullgraph) or a backend failure
            raise CompiledPathError(f"Compiling the {name} failed: {exc}") from exc
        compiled = compile_count() - before
        if compiled:
            self.compiles += compiled
            if recompile:
                log.warning("The compiled %s recompiled (%d graph(s)); it should compile once per model.", name,
                            compiled)
            self._compiled.add(name)
        return out

    def _load_artifacts(self) -> bool:
        if not self._artifacts.is_file():
            return False
        try:
            # None: torch could not read them (it logs why), e.g. a checksum mismatch.
            problem = None if torch.compiler.load_cache_artifacts(self._artifacts.read_bytes()) else "unreadable"
        except Exception as exc:  # noqa: BLE001 — any failure means stale or corrupt: rebuild
            problem = str(exc)
        if problem is None:
            return True
        log.warning("Compiled artifacts %s unusable (%s): compiling again.", self._artifacts.name, problem)
        self._artifacts.unlink(missing_ok=True)
        return False

    def _key(self) -> str:
        import transformers

        model = self.em.model
        device = torch.cuda.get_device_name(self.em.device) if self.em.device.type == "cuda" else "cpu"
        parts = [LAYOUT_VERSION, torch.__version__, transformers.__version__, device, self.mode, str(self.em.profile),
                 str(model.dtype), str(self.max_cache_len), model.config.to_json_string()]
        text = "|".join(parts)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
