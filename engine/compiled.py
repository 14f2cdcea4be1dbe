"""The compiled path (CUDA first): static KV cache and one compiled function per denoising step.

The step — decoder, temperature, Gumbel-max sampling, entropy, entropy-bound accept, re-noise, the confidence
test and the packed frame — is one `torch.compile`d function; on CUDA with mode "reduce-overhead" it replays as
CUDA graphs over the static cache, and the frame leaves the device as one small copy per step. Random numbers come
from the compiled kernels (Gumbel-max instead of `multinomial`), so tokens follow the same distribution as the
reference but not its exact draws: CPU parity is the eager path's job. Compiled artifacts persist under
`<cache>/compile`, so only the first launch on a machine pays the compile.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from .paths import cache_dir


def configure_compile_cache() -> Path:
    """Point inductor's and triton's on-disk caches at `<cache>/compile` (before the first compile)."""
    root = cache_dir() / "compile"
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root / "inductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    return root


class CompiledPath:
    """Compiled encoder (per canvas) and denoising step for one `EngineModel`; build once, reuse for every answer."""

    def __init__(self, em: Any, *, max_cache_len: int = 8192, mode: str | None = None) -> None:
        self.em = em
        self.mode = mode or ("reduce-overhead" if em.device.type == "cuda" else "default")
        self.max_cache_len = max_cache_len
        self.root = configure_compile_cache()
        self._artifacts = self.root / f"mega-{self._key()}.bin"
        self._load_artifacts()
        self._step = torch.compile(fused_step, mode=self.mode, dynamic=False)
        self.encoder = torch.compile(em.model.model.encoder, mode=self.mode, dynamic=False)
        self._zeros: torch.Tensor | None = None
        self.saved = False

    def fits(self, tokens: int) -> bool:
        return tokens <= self.max_cache_len

    def new_cache(self) -> Any:
        from transformers import StaticCache

        return StaticCache(config=self.em.model.config.get_text_config(decoder=True), max_cache_len=self.max_cache_len)

    def step(self, canvas: Any, cache: Any, positions: torch.Tensor, temperature: float, settings: Any,
             embed_dtype: torch.dtype) -> torch.Tensor:
        """One denoising step; updates `canvas` and returns the packed frame (canvas, draft, accepted, entropy, ok)."""
        device = canvas.current.device
        if canvas.self_conditioning is None:
            if self._zeros is None or self._zeros.shape[1] != canvas.current.shape[1]:
                vocab = self.em.vocab_size
                self._zeros = torch.zeros((1, canvas.current.shape[1], vocab), dtype=embed_dtype, device=device)
            sc, sc_on = self._zeros, torch.zeros(1, dtype=torch.bool, device=device)
        else:
            sc, sc_on = canvas.self_conditioning, torch.ones(1, dtype=torch.bool, device=device)
        scalars = torch.tensor([temperature, settings.entropy_bound, settings.confidence_threshold], device=device)
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()
        new_canvas, draft, sc_next, packed = self._step(
            self.em.model, canvas.current, sc, sc_on, canvas.mask_mapping, cache, positions, scalars
        )
        # CUDA-graph outputs are overwritten by the next replay: keep our own copies of what we carry over.
        canvas.current, canvas.draft, canvas.self_conditioning = new_canvas.clone(), draft.clone(), sc_next.clone()
        return packed.cpu()

    def after_first_answer(self) -> None:
        """Save the compiled artifacts once, so the next launch loads them instead of compiling."""
        if self.saved:
            return
        self.saved = True
        try:
            artifacts = torch.compiler.save_cache_artifacts()
        except (RuntimeError, AttributeError, OSError):
            return
        if artifacts:
            tmp = self._artifacts.with_suffix(".tmp")
            tmp.write_bytes(artifacts[0])
            tmp.replace(self._artifacts)

    def _load_artifacts(self) -> None:
        if self._artifacts.is_file():
            try:
                torch.compiler.load_cache_artifacts(self._artifacts.read_bytes())
            except (RuntimeError, AttributeError, OSError, ValueError):
                self._artifacts.unlink(missing_ok=True)

    def _key(self) -> str:
        model = self.em.model
        device = torch.cuda.get_device_name(self.em.device) if self.em.device.type == "cuda" else "cpu"
        text = f"{torch.__version__}|{device}|{self.mode}|{model.dtype}|{model.config.to_json_string()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def fused_step(model: Any, canvas: torch.Tensor, sc_logits: torch.Tensor, sc_on: torch.Tensor, mask_mapping: dict,
               cache: Any, positions: torch.Tensor, scalars: torch.Tensor):
    """Decoder + sampler in one graph. `scalars` = (temperature, entropy_bound, confidence_threshold)."""
    from .generation import accept_mask, token_entropy

    logits = model(
        decoder_input_ids=canvas, self_conditioning_logits=sc_logits, self_conditioning_mask=sc_on,
        decoder_attention_mask=mask_mapping, cache=cache, decoder_position_ids=positions,
    ).logits
    logits = logits / scalars[0]
    # Gumbel-max: argmax(logits + Gumbel noise) samples from softmax(logits), with in-kernel random numbers.
    uniform = torch.rand_like(logits).clamp_(min=1e-20, max=1.0 - 1e-7)
    candidates = torch.argmax(logits - torch.log(-torch.log(uniform)), dim=-1)
    draft = torch.argmax(logits, dim=-1)
    entropy = token_entropy(logits)
    accepted = accept_mask(entropy, scalars[1])
    noise = torch.randint_like(canvas, 0, logits.shape[-1])
    new_canvas = torch.where(accepted, candidates, noise)
    confident = (entropy.mean(dim=-1) < scalars[2]).float()
    packed = torch.cat([new_canvas[0].float(), draft[0].float(), accepted[0].float(), entropy[0], confident])
    return new_canvas, draft, logits.to(sc_logits.dtype), packed


def temperature_at(settings: Any, cur_step: int) -> float:
    """The linear schedule of `LinearTemperatureScheduleLogitsProcessor` (cur_step counts remaining steps)."""
    return settings.t_min + (settings.t_max - settings.t_min) * (cur_step / settings.max_denoising_steps)


def bench_compiled(em: Any, ids: torch.Tensor, settings: Any, *, runs: int) -> dict:
    """Time the compiled path: the first run (compile, or load from `<cache>/compile`), then the median of `runs`."""
    import statistics
    import time

    from .generation import generate

    def timed() -> tuple[float, int]:
        if em.device.type == "cuda":
            torch.cuda.synchronize(em.device)
        start = time.perf_counter()
        done = list(generate(em, ids, settings))[-1]
        if em.device.type == "cuda":
            torch.cuda.synchronize(em.device)
        return time.perf_counter() - start, len(done.token_ids)

    needed = ids.shape[1] + -(-settings.max_new_tokens // em.canvas_length) * em.canvas_length
    em.enable_compiled(max_cache_len=max(needed, 1024))
    first_s, _ = timed()
    times, tokens = zip(*(timed() for _ in range(runs)))
    return {
        "compiled_first_run_s": round(first_s, 2),
        "compiled_tok_s": round(tokens[0] / statistics.median(times), 2),
        "compiled_seconds": [round(t, 4) for t in times],
    }
