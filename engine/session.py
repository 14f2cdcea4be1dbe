"""◆ `ChatSession`: one conversation's KV cache kept between turns, so a follow-up encodes only its new tokens."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import torch

from .cache_state import CacheState
from .events import CanvasDone, Done, Frame
from .generation import generate
from .loading import EngineModel
from .settings import SamplerSettings
from .static_cache import CacheRollbackError


class ChatSession:
    """Generates the turns of one conversation, reusing the cached prefix the new prompt shares with the last."""

    def __init__(self, em: EngineModel) -> None:
        self.em = em
        self.state = CacheState()

    @property
    def cached_tokens(self) -> int:
        return len(self.state.ids)

    def reset(self) -> None:
        """Forget the cache (e.g. when the conversation changes)."""
        self.state = CacheState()

    def send(
        self,
        messages: list[dict[str, str]],
        settings: SamplerSettings,
        *,
        cancel: threading.Event | None = None,
        enable_thinking: bool = False,
    ) -> Iterator[Frame | CanvasDone | Done]:
        """Answer the conversation `messages` (ending with the user's turn); events as `engine.generate`."""
        ids = self.em.chat_ids(messages, enable_thinking=enable_thinking)[0].tolist()
        return self.send_ids(ids, settings, cancel=cancel)

    def send_ids(
        self, ids: list[int], settings: SamplerSettings, *, cancel: threading.Event | None = None
    ) -> Iterator[Frame | CanvasDone | Done]:
        """Like `send`, from the full prompt's token ids."""
        suffix = self._reuse_prefix(ids)
        tensor = torch.tensor([suffix], dtype=torch.long, device=self.em.device)
        return generate(self.em, tensor, settings, cancel=cancel, state=self.state)

    def _reuse_prefix(self, ids: list[int]) -> list[int]:
        """Keep the cached tokens `ids` starts with; crop the rest. Returns the ids still to encode (≥ 1)."""
        cached = self.state.ids
        common = 0
        for a, b in zip(cached, ids):
            if a != b:
                break
            common += 1
        common = min(common, len(ids) - 1)  # the encoder needs at least one new token
        if common <= 0 or self.state.cache is None or not self._owns_cache():
            self.reset()
            return ids
        if common < len(cached):
            try:
                self.state.cache.crop(common - len(cached))
            except (RuntimeError, ValueError, NotImplementedError, CacheRollbackError):
                # Sliding-window layers cannot roll back past their window: start this turn from scratch.
                self.reset()
                return ids
            del cached[common:]
        return ids[common:]

    def _owns_cache(self) -> bool:
        """False when the compiled path's one cache was claimed by another conversation since our last turn."""
        owner = getattr(self.state.cache, "owner", self.state)
        return owner is self.state
