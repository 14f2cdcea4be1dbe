"""A conversation's KV cache and the ids it holds: kept by `ChatSession`, claimed by the compiled path's cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CacheState:
    """The KV cache of a conversation and the ids it holds (in order), for reuse by the next turn."""

    cache: Any = None
    ids: list[int] = field(default_factory=list)
