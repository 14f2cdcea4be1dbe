"""Tiny random DiffusionGemma models: the same architecture as the release, sized for tests and benches."""

from __future__ import annotations

from typing import Any

TINY_VISION = {
    "model_type": "gemma4_vision",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "position_embedding_size": 64,
    "patch_size": 4,
    "pooling_kernel_size": 2,
}

# The release's text config (../shared/DIFFUSIONGEMMA.md), for the 26B-A4B-shaped random bench model.
RELEASE_TEXT = {
    "vocab_size": 262_144,
    "hidden_size": 2816,
    "intermediate_size": 2112,
    "num_hidden_layers": 30,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "num_global_key_value_heads": 2,
    "head_dim": 256,
    "global_head_dim": 512,
    "sliding_window": 1024,
    "num_experts": 128,
    "top_k_experts": 8,
    "moe_intermediate_size": 704,
    "max_position_embeddings": 262_144,
    "final_logit_softcapping": 30.0,
}


def tiny_config(
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_experts: int = 4,
    top_k_experts: int = 2,
    sliding_window: int = 64,
    canvas_length: int = 256,
    layer_types: list[str] | None = None,
    **text_overrides: Any,
):
    """A `DiffusionGemmaConfig` with a small text stack and a tiny vision tower (else it allocates ~170 M params)."""
    from transformers import DiffusionGemmaConfig

    text = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "global_head_dim": 32,
        "sliding_window": sliding_window,
        "num_experts": num_experts,
        "top_k_experts": top_k_experts,
        "moe_intermediate_size": hidden_size,
        "max_position_embeddings": 4096,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
    }
    # The last layer must be full attention; the rest slide (as in the release's 5 sliding + 1 full pattern).
    text["layer_types"] = layer_types or ["sliding_attention"] * (num_hidden_layers - 1) + ["full_attention"]
    text.update(text_overrides)
    return DiffusionGemmaConfig(
        text_config=text,
        vision_config=dict(TINY_VISION),
        canvas_length=canvas_length,
        boi_token_id=vocab_size - 3,
        eoi_token_id=vocab_size - 2,
        image_token_id=vocab_size - 1,
    )


def tiny_model(seed: int = 0, **config_kwargs: Any):
    """A randomly initialised tiny `DiffusionGemmaForBlockDiffusion` in float32, eval mode."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(tiny_config(**config_kwargs))
    return model.eval()


def save_tiny_model(folder, seed: int = 0, **config_kwargs: Any):
    """Save a tiny random model with the demo's character tokenizer (vocab 128) as a loadable model folder."""
    from pathlib import Path

    from .train_demo.tokenizer import VOCAB_SIZE, save_tokenizer

    folder = Path(folder)
    config_kwargs.setdefault("vocab_size", VOCAB_SIZE)
    model = tiny_model(seed=seed, **config_kwargs)
    model.generation_config.eos_token_id = [1, 5]
    model.generation_config.pad_token_id = 0
    model.save_pretrained(str(folder))
    save_tokenizer(folder)
    return folder


def tiny_tokenizer():
    """The demo's character tokenizer (vocab 128) as a transformers tokenizer, with the Gemma-4-style template."""
    import tempfile

    from transformers import AutoTokenizer

    from .train_demo.tokenizer import save_tokenizer

    with tempfile.TemporaryDirectory() as folder:
        save_tokenizer(folder)
        return AutoTokenizer.from_pretrained(folder)


def tiny_engine_model(seed: int = 0, **config_kwargs: Any):
    """A tiny random `EngineModel` that can chat (random weights: it answers noise, by design)."""
    from .loading import EngineModel
    from .train_demo.tokenizer import VOCAB_SIZE

    config_kwargs.setdefault("vocab_size", VOCAB_SIZE)
    em = EngineModel.wrap(tiny_model(seed=seed, **config_kwargs), tiny_tokenizer(), name="tiny (random weights)")
    em.model.generation_config.eos_token_id = [1, 5]
    return em
