"""The `offload` profile's device map, written by hand: never `device_map="auto"`.

transformers' "auto" split crashes on DiffusionGemma (`IndexError` in `get_module_size_with_ties`, issue 46566)
and can leave tied weights on the meta device. The map here keeps encoder layer i and decoder layer i on the
same device (they are one set of tensors), keeps the embeddings, final norms, self-conditioning and lm_head on
the fast device, the first `resident` layers with them, and sends the rest to `offload_to`: "cpu" beside a GPU
(accelerate streams those layers over PCIe at every denoising step — slow), or "disk" beside the CPU (the split
that can be exercised without a GPU, through the same code). The vision tower never runs for text, so it always
goes to the slow side.
"""

from __future__ import annotations

import math
from typing import Any

ENCODER_LAYERS = "model.encoder.language_model.layers"
DECODER_LAYERS = "model.decoder.layers"
FAST_MODULES = (
    "model.encoder.language_model.embed_tokens",
    "model.encoder.language_model.norm",
    "model.encoder.language_model.rotary_emb",
    "model.encoder.embed_vision",
    "model.decoder.embed_tokens",
    "model.decoder.norm",
    "model.decoder.rotary_emb",
    "model.decoder.self_conditioning",
    "lm_head",
)
SLOW_MODULES = ("model.encoder.vision_tower",)


def offload_device_map(num_layers: int, resident: int, fast: str, offload_to: str) -> dict[str, str]:
    """Module name → device: layers `0..resident-1` (encoder and decoder alike) on `fast`, the rest on `offload_to`."""
    if not 0 <= resident <= num_layers:
        raise ValueError(f"resident layers must be 0..{num_layers}, got {resident}")
    device_map = {name: fast for name in FAST_MODULES}
    device_map.update({name: offload_to for name in SLOW_MODULES})
    for i in range(num_layers):
        where = fast if i < resident else offload_to
        device_map[f"{ENCODER_LAYERS}.{i}"] = where
        device_map[f"{DECODER_LAYERS}.{i}"] = where
    return device_map


def layer_bytes(config: Any, bytes_per_value: int = 2) -> int:
    """Bytes of one text layer's weights (attention, dense MLP, router, experts) at `bytes_per_value`."""
    t = config.text_config
    h = t.hidden_size
    heads, kv = t.num_attention_heads, t.num_key_value_heads
    head_dim = max(t.head_dim, getattr(t, "global_head_dim", 0) or 0)
    attention = h * head_dim * (2 * heads + 2 * kv)
    dense = 3 * h * t.intermediate_size
    experts = 3 * (t.num_experts or 0) * h * (t.moe_intermediate_size or 0)
    router = h * (t.num_experts or 0)
    return (attention + dense + experts + router) * bytes_per_value


def resident_layers(config: Any, budget_bytes: float, fixed_bytes: float, bytes_per_value: int = 2) -> int:
    """How many layers fit in `budget_bytes` once `fixed_bytes` (embeddings, buffers, KV cache, margin) are there."""
    per_layer = layer_bytes(config, bytes_per_value)
    if per_layer <= 0:
        return config.text_config.num_hidden_layers
    spare = budget_bytes - fixed_bytes
    return max(0, min(config.text_config.num_hidden_layers, math.floor(spare / per_layer)))
