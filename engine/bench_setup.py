"""What the benchmarks share: the model they load and the prompt they time (the same in every process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cli_common import quiet_libraries
from .errors import UsageError

if TYPE_CHECKING:
    import torch

    from .loading import EngineModel

RELEASE_RANDOM = "diffusiongemma-26b-a4b-random"


def load_bench_model(spec: str, device: str) -> EngineModel:
    """`tiny` (random, no EOS), the release shape with random weights (CUDA), or a model folder / hub id."""
    if spec == RELEASE_RANDOM:
        return release_random_model(device)
    quiet_libraries()
    if spec == "tiny":
        from .tiny import tiny_engine_model

        em = tiny_engine_model()
        em.model.generation_config.eos_token_id = None  # random weights: no EOS, so every run makes every token
        return em
    from .loading import EngineModel
    from .paths import demo_model_dir

    return EngineModel.from_pretrained(demo_model_dir() if spec == "demo" else spec, device=device)


def check_bench_fits(em: EngineModel, prompt_tokens: int, new_tokens: int) -> None:
    """A prompt plus answer that cannot fit the model's context is a usage error, named before anything is built."""
    needed = em.tokens_needed(prompt_tokens, new_tokens)
    if needed > em.context_length:
        raise UsageError(
            f"--prompt-tokens {prompt_tokens:,} plus --new-tokens {new_tokens:,} (in whole canvases) need {needed:,} "
            f"tokens, but {em.name}'s context holds {em.context_length:,}. Lower them."
        )


def release_random_model(device: str = "auto") -> EngineModel:
    """The release's 26B-A4B shape with random bf16 weights, built directly on the GPU (≈ 52 GB)."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    from .loading import EngineModel, pick_device
    from .tiny import RELEASE_TEXT, tiny_config

    target = pick_device(device)
    if target.type != "cuda":
        raise UsageError(f"{RELEASE_RANDOM} needs a CUDA GPU with ≈ 60 GB free (bf16); this machine has none.")
    config = tiny_config(**{k: v for k, v in RELEASE_TEXT.items()}, layer_types=None)
    torch.manual_seed(0)
    with torch.device(target):
        model = DiffusionGemmaForBlockDiffusion._from_config(config, dtype=torch.bfloat16)
    em = EngineModel.wrap(model.eval(), name=RELEASE_RANDOM)
    em.model.generation_config.eos_token_id = None  # random weights: no EOS, so every run makes every token
    return em


def bench_prompt(em: EngineModel, prompt_tokens: int) -> torch.Tensor:
    """The bench's prompt: `prompt_tokens` fixed random ids (the same in every process), none of them a special or
    control token (an image or turn marker would make the model read a different kind of input)."""
    import torch

    high = min(em.vocab_size, 100_000)
    allowed = torch.ones(high, dtype=torch.bool)
    allowed[:3] = False
    if em.tokenizer is not None:
        from .chat_tokens import control_tokens

        special = set(getattr(em.tokenizer, "all_special_ids", None) or []) | set(control_tokens(em.tokenizer).values())
        allowed[[i for i in special if 0 <= i < high]] = False
    pool = allowed.nonzero().flatten()
    generator = torch.Generator().manual_seed(1234)
    picks = torch.randint(0, len(pool), (1, prompt_tokens), generator=generator)
    return pool[picks].to(em.device)
