"""The compiled path's KV cache: fixed addresses, lengths on the device, sliding layers as ring buffers.

Why not transformers' `StaticCache` (5.23/5.24): past the sliding window W its `StaticSlidingWindowLayer` stops
advancing `cumulative_length`, so DiffusionGemma's decoder writes the canvas keys over prefix keys, and the decoder
mask's `kv_offset = cum - W + 1` hides the newest canvas key while showing a stale prefix one; its `crop` past the
window silently makes the length negative (shared DIFFUSIONGEMMA.md, "The static cache past the sliding window").

This cache is right by construction instead:
- full-attention layers: slot i holds absolute position i (capacity `max_cache_len` + one chunk, because the
  prompt's last chunk is padded to the chunk size);
- sliding layers: a ring of W - 1 + chunk + `rollback` slots, slot = position mod ring; `slot_positions` records
  the absolute position each slot holds (-1 when empty) and every mask is built from it, never from write order;
- the length is a device tensor, so compiled graphs never guard on it; `tokens` is its host mirror;
- masks are built here and passed to the model as 4-D tensors, so transformers' mask helpers never see this cache;
- `crop` is exact while the ring still holds the window the shorter prefix needs, else it raises
  `CacheRollbackError` (ChatSession then re-encodes the conversation).

What each pass may see (identical to the eager path's `DynamicCache`):
- encoder query at position p: full layers every position <= p; sliding layers positions in (p - W, p];
- decoder (canvas after `length` cached tokens): full layers every cached position; sliding layers the last W - 1
  cached positions (the `DynamicSlidingWindowLayer` keeps W - 1); both see the whole canvas.
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import EngineError


class CacheRollbackError(EngineError):
    """The cache cannot be cut back exactly (its sliding layers no longer hold the needed window): re-encode."""


class _Layer:
    """One layer's key/value buffers (`append_to_cache` in transformers reads `.keys` and `.values`)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, sliding: bool) -> None:
        self.keys, self.values, self.is_sliding = keys, values, sliding


class RingKVCache:
    """KV cache for the compiled encoder/decoder of one `DiffusionGemmaForBlockDiffusion` (batch size 1)."""

    # transformers' DiffusionGemma decoder appends the canvas by concatenation, [cache slots | canvas], when this is
    # False: the layout `decoder_masks` describes. Its other branch writes the canvas at `cumulative_length`.
    is_compileable = False

    def __init__(self, text_config: Any, *, max_cache_len: int, chunk: int, rollback: int, dtype: torch.dtype,
                 device: torch.device, attn_implementation: str = "sdpa") -> None:
        if attn_implementation not in ("sdpa", "eager"):
            raise EngineError(f"The compiled path supports sdpa or eager attention, not {attn_implementation!r}.")
        self.window = int(text_config.sliding_window)
        self.chunk = chunk
        self.max_cache_len = max_cache_len
        self.ring_size = self.window - 1 + chunk + rollback
        self.full_size = max_cache_len + chunk
        self.additive_masks = attn_implementation == "eager"
        self.dtype = dtype
        self.layers: list[_Layer] = []
        for i, kind in enumerate(text_config.layer_types):
            per_layer = text_config.per_layer_config[i]
            sliding = kind == "sliding_attention"
            shape = (1, per_layer.num_key_value_heads, self.ring_size if sliding else self.full_size,
                     per_layer.head_dim)
            keys = torch.zeros(shape, dtype=dtype, device=device)
            self.layers.append(_Layer(keys, torch.zeros_like(keys), sliding))
        self.length = torch.zeros((), dtype=torch.long, device=device)
        self.slot_positions = torch.full((self.ring_size,), -1, dtype=torch.long, device=device)
        self._full_slots = torch.arange(self.full_size, device=device)
        self._chunk_offsets = torch.arange(chunk, device=device)
        for tensor in (self.length, self.slot_positions, *(t for layer in self.layers for t in (layer.keys,
                                                                                              layer.values))):
            # Fixed addresses: CUDA graphs replay over these buffers, mutated in place.
            torch._dynamo.mark_static_address(tensor)
        self.tokens = 0  # host mirror of `length`
        self._ring_oldest = 0  # every position from here to `tokens` is still in the ring
        self.owner: Any = None  # the CacheState whose ids this cache holds

    # -- host side (never inside a compiled graph) ---------------------------------------------------------------
    def fits(self, tokens: int) -> bool:
        """Whether `tokens` cached tokens (prompt + every canvas of an answer) fit the full-attention buffers."""
        return tokens <= self.max_cache_len

    def reset(self) -> None:
        """Empty the cache (the buffers keep their addresses; stale values are masked out)."""
        with torch.inference_mode():  # the buffers are inference tensors
            self.length.zero_()
            self.slot_positions.fill_(-1)
        self.tokens = self._ring_oldest = 0

    def wrote_chunk(self, start: int, valid: int) -> None:
        """Host bookkeeping after a chunk of `valid` real tokens (padded to `chunk`) was encoded at `start`."""
        self.tokens = start + valid
        self._ring_oldest = max(self._ring_oldest, start + self.chunk - self.ring_size)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Cached tokens (host value)."""
        return self.tokens

    def can_crop_to(self, tokens: int) -> bool:
        """Whether `crop` down to `tokens` cached tokens would be exact."""
        return 0 <= tokens <= self.tokens and self._ring_oldest <= max(0, tokens - (self.window - 1))

    def crop(self, tokens_to_remove: int) -> None:
        """Drop the last `-tokens_to_remove` tokens (transformers' convention: a negative count), exactly or not at all.

        Raises `CacheRollbackError` when the ring no longer holds the W - 1 positions before the new end.
        """
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative number of tokens to remove")
        target = self.tokens + tokens_to_remove
        if not self.can_crop_to(target):
            raise CacheRollbackError(
                f"Cannot roll the compiled cache back from {self.tokens} to {target} tokens: its sliding layers keep "
                f"only the last {self.ring_size} positions. The conversation is encoded again."
            )
        with torch.inference_mode():
            self.length.fill_(target)
        self.tokens = target

    # -- traced inside the compiled encoder / decoder -----------------------------------------------------------
    def chunk_positions(self) -> torch.Tensor:
        """Absolute positions of the next encoder chunk, `(chunk,)`."""
        return self.length + self._chunk_offsets

    def mark_chunk(self, positions: torch.Tensor) -> None:
        """Record which ring slots the chunk at `positions` is about to fill (before the encoder writes them)."""
        self.slot_positions.index_copy_(0, positions % self.ring_size, positions)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder: write the chunk's keys/values into their slots; return the whole buffer to attend over."""
        layer = self.layers[layer_idx]
        positions = self.chunk_positions()
        slots = positions % self.ring_size if layer.is_sliding else positions
        layer.keys.index_copy_(2, slots, key_states)
        layer.values.index_copy_(2, slots, value_states)
        return layer.keys, layer.values

    def encoder_masks(self, positions: torch.Tensor) -> dict[str, torch.Tensor]:
        """Causal masks for a chunk at `positions` (call after `mark_chunk`), per layer type."""
        query = positions[:, None]
        ring = self.slot_positions[None, :]
        sliding = (ring >= 0) & (ring <= query) & (ring > query - self.window)
        full = self._full_slots[None, :] <= query
        return {"sliding_attention": self._mask(sliding), "full_attention": self._mask(full)}

    def decoder_masks(self, canvas_length: int) -> dict[str, torch.Tensor]:
        """Bidirectional masks for a canvas after the cached tokens: [cache slots | canvas], per layer type."""
        ring = self.slot_positions
        sliding = (ring >= 0) & (ring < self.length) & (ring >= self.length - (self.window - 1))
        full = self._full_slots < self.length
        canvas = torch.ones(canvas_length, dtype=torch.bool, device=ring.device)
        return {
            "sliding_attention": self._mask(torch.cat([sliding, canvas]).expand(canvas_length, -1)),
            "full_attention": self._mask(torch.cat([full, canvas]).expand(canvas_length, -1)),
        }

    def _mask(self, visible: torch.Tensor) -> torch.Tensor:
        mask = visible[None, None]
        if self.additive_masks:  # eager attention adds its mask to the scores
            return torch.zeros(mask.shape, dtype=self.dtype, device=mask.device).masked_fill(
                ~mask, torch.finfo(self.dtype).min)
        return mask
