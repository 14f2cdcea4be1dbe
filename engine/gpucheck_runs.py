"""The measurements behind `python -m engine.gpucheck`: load one profile, agreement with bf16, timed generations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .bench_setup import RELEASE_RANDOM
from .errors import ProfileError, ProfileMemoryError


def load_profile(source: Any, profile: str, target: torch.device) -> tuple[Any, float]:
    """(EngineModel, seconds): a folder through `from_pretrained`; the release config as random weights on the GPU."""
    from .loading import EngineModel

    start = time.perf_counter()
    if isinstance(source, Path):
        em = EngineModel.from_pretrained(source, device=str(target), profile=profile)
    else:
        em = _random_release(source, profile, target)
    _sync(target)
    seconds = time.perf_counter() - start
    em.model.generation_config.eos_token_id = None  # random weights: no EOS, so every run makes every token
    return em, seconds


def _random_release(config: Any, profile: str, target: torch.device) -> Any:
    """The 26B-A4B shape with seeded random bf16 weights built on the GPU, quantized in place for fp8 / int8."""
    from transformers import DiffusionGemmaForBlockDiffusion

    from .load_profiles.load import GIB, check_profile, device_name, free_bytes
    from .load_profiles.quantize import QUANTIZED_PROFILES, estimate_bytes, quantize_in_memory
    from .loading import EngineModel

    check_profile(profile, target)
    if profile not in ("bf16", *QUANTIZED_PROFILES):
        raise ProfileError(f"{profile} needs a checkpoint on disk; random weights are built in place as bf16/fp8/int8.")
    need = estimate_bytes(config, "bf16").total_bytes * 1.05  # built in bf16 first, then quantized
    free = free_bytes(target) or 0
    if need > free:
        raise ProfileMemoryError(
            f"Random {profile} weights are built in bf16 first: about {need / GIB:.1f} GB on {device_name(target)}, "
            f"{free / GIB:.1f} GB free.", profile=profile, device_name=device_name(target), needed_gb=need / GIB,
            free_gb=free / GIB)
    torch.manual_seed(0)
    with torch.device(target), torch.inference_mode():
        model = DiffusionGemmaForBlockDiffusion._from_config(config, dtype=torch.bfloat16).eval()
    if profile in QUANTIZED_PROFILES:
        quantize_in_memory(model, profile)
    em = EngineModel.wrap(model, name=RELEASE_RANDOM)
    em.profile = profile
    return em


def agreement(em: Any, reference: dict[str, Any], profile: str, prompt_tokens: int) -> dict[str, Any] | None:
    """Logits cosine and greedy agreement with bf16 on fixed inputs (bf16 itself stores the reference)."""
    from .load_profiles.quality import compare_logits, decoder_logits, probe_inputs

    prompt, canvas = probe_inputs(em.vocab_size, em.canvas_length, prompt_tokens=prompt_tokens)
    try:
        logits = decoder_logits(em.model, prompt, canvas)
    except Exception as exc:  # noqa: BLE001 — a forward that fails is a finding to report, not a crash
        return {"status": "failed", "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    if profile == "bf16":
        reference["logits"] = logits
        return {"reference": True}
    if "logits" not in reference:
        return None
    return compare_logits(reference["logits"], logits).as_json()


def time_generation(em: Any, steps: int, prompt_tokens: int, new_tokens: int, *, compiled: bool,
                    reference: dict[str, Any], profile: str, warm_up: bool = True) -> dict[str, Any]:
    """A warm-up (unless `warm_up` is False) and one timed generation; a compiled-path failure comes back as
    {"status": "failed", "error": ...}."""
    from .generation import generate
    from .settings import SamplerSettings

    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, em.vocab_size, (1, prompt_tokens), generator=generator).to(em.device)
    settings = SamplerSettings.for_model(em, max_new_tokens=new_tokens, max_denoising_steps=steps, seed=0)
    row: dict[str, Any] = {}
    try:
        if compiled:
            start = time.perf_counter()
            em.enable_compiled(max_cache_len=prompt_tokens + new_tokens + 2 * em.canvas_length)
            row["setup_s"] = round(time.perf_counter() - start, 2)
        if warm_up:
            start = time.perf_counter()
            list(generate(em, ids, settings))  # warm-up (first compile, lazy CUDA init)
            _sync(em.device)
            row["first_run_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        done = list(generate(em, ids, settings))[-1]
        _sync(em.device)
        seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 — the compiled path is being rewritten: its failure is a field
        return {"status": "failed", "error": f"{type(exc).__name__}: {str(exc)[:300]}", **row}
    finally:
        if compiled:
            em.compiled = None
    tokens = len(done.token_ids)
    row.update(status="ok", tok_s=round(tokens / seconds, 2), seconds=round(seconds, 3), tokens=tokens,
               decoder_forwards=done.stats.decoder_forwards)
    key = ("tokens", steps, compiled)
    if profile == "bf16":
        reference[key] = done.token_ids
    elif key in reference:
        ref = reference[key]
        same = sum(a == b for a, b in zip(ref, done.token_ids))
        row["token_agreement_with_bf16"] = round(same / max(1, max(len(ref), tokens)), 4)
    return row


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
