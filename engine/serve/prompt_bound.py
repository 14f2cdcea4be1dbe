"""A prompt that can never fit the context, refused from its length alone — before the engine tokenizes it.

Tokenizing a conversation runs on the engine's thread: a 7.8 MB body took 11–18 s there (and held other requests
back) only to be refused for length. `PromptBound` refuses such a body at once, and only when no tokenization
could bring it under the context. The argument, for the tokenizers it accepts:

- Each token stands for one vocabulary piece, and a piece's string is at least as long as the text it covers:
  SentencePiece pieces spell their characters ("▁" for a space), byte-level BPE pieces spell one symbol per byte
  (a character is 1–4 bytes), byte-fallback pieces spell "<0xE9>" for one byte, an unknown character is one
  "<unk>". So `C` characters need at least `C / L` tokens, `L` the longest piece in the vocabulary.
- What could shorten the text first: whitespace (pre-tokenizers and chat templates drop or trim it), so only
  non-whitespace characters are counted; and Unicode composition (NFC/NFKC join at most 4 code points into one),
  so the factor is `4·L` (at least 32).
- Tokenizers for which no such bound holds get no early refusal (`chars_per_token` is None): those that fuse a
  run of unknown characters into one `<unk>` (Unigram, BPE with `fuse_unk` and no byte fallback), WordPiece (a
  long unknown word is one `[UNK]`), word-level vocabularies that do not split every character, normalizers that
  may delete text (control-character cleaning, accent stripping, shrinking replacements), pre-tokenizers that
  remove matches, and tokenizers without a `tokenizers` backend.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import PromptTooLongError
from .schemas import ChatRequest

MIN_CHARS_PER_TOKEN = 32
COMPOSITION_FACTOR = 4  # NFC/NFKC compose at most 4 code points into one character (e.g. Greek ᾆ)
_GROWING_NORMALIZERS = {"NFC", "NFKC", "NFD", "NFKD", "Lowercase", "Prepend"}


def chars_per_token(tokenizer: Any) -> int | None:
    """At most how many characters (whitespace not counted) one token of `tokenizer` can cover; None when the
    tokenizer is not one for which a bound is argued (see the module doc)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    try:
        normalizer, pre_tokenizer = (_state(backend.normalizer), _state(backend.pre_tokenizer))
        bounded = _model_is_bounded(backend.model, pre_tokenizer)
    except Exception:  # noqa: BLE001 — an unusual backend: no early refusal
        return None
    if not bounded or not _normalizer_keeps_text(normalizer) or _removes_matches(pre_tokenizer):
        return None
    longest = max((len(piece) for piece in tokenizer.get_vocab()), default=0)
    return max(MIN_CHARS_PER_TOKEN, COMPOSITION_FACTOR * longest)


def _state(component: Any) -> dict | None:
    """A `tokenizers` normalizer or pre-tokenizer as its JSON description (None when there is none)."""
    return None if component is None else json.loads(component.__getstate__())


def _model_is_bounded(model: Any, pre_tokenizer: dict | None) -> bool:
    kind = type(model).__name__
    if kind == "BPE":
        return bool(model.byte_fallback) or not model.fuse_unk
    if kind == "WordLevel":  # an unknown word is one <unk>: bounded only when every character is its own word
        pattern = (pre_tokenizer or {}).get("pattern") or {}
        return (pre_tokenizer or {}).get("type") == "Split" and pattern.get("String") == ""
    return False


def _normalizer_keeps_text(normalizer: dict | None) -> bool:
    if normalizer is None:
        return True
    kind = normalizer.get("type")
    if kind == "Sequence":
        return all(_normalizer_keeps_text(n) for n in normalizer.get("normalizers") or [])
    if kind == "Replace":
        pattern = (normalizer.get("pattern") or {}).get("String")
        return pattern is not None and len(normalizer.get("content") or "") >= len(pattern)
    return kind in _GROWING_NORMALIZERS


def _removes_matches(pre_tokenizer: dict | None) -> bool:
    if pre_tokenizer is None:
        return False
    if pre_tokenizer.get("type") == "Sequence":
        return any(_removes_matches(p) for p in pre_tokenizer.get("pretokenizers") or [])
    return pre_tokenizer.get("type") == "Split" and pre_tokenizer.get("behavior") == "Removed" and \
        (pre_tokenizer.get("pattern") or {}).get("String", "x").strip() != ""


def visible_chars(request: ChatRequest) -> int:
    """Non-whitespace characters in the request's messages."""
    return sum(len(m["content"]) - _whitespace(m["content"]) for m in request.messages)


def _whitespace(text: str) -> int:
    return len(text) - sum(len(word) for word in text.split())


class PromptBound:
    """The early length check for one model: `check(request)` raises `PromptTooLongError` for a prompt that could
    not fit the context under any tokenization (see the module doc); it never tokenizes."""

    def __init__(self, em: Any) -> None:
        self.context_length = int(getattr(em, "context_length", 0) or 0)
        tokenizer = getattr(em, "tokenizer", None)
        self.chars_per_token = chars_per_token(tokenizer) if tokenizer is not None and self.context_length else None

    @property
    def max_chars(self) -> int | None:
        """Non-whitespace characters beyond which a prompt is refused unread (None: no early check)."""
        return None if self.chars_per_token is None else self.chars_per_token * self.context_length

    def check(self, request: ChatRequest) -> None:
        """Raise `PromptTooLongError` when the messages hold more than `max_chars` non-whitespace characters."""
        limit = self.max_chars
        if limit is None or sum(len(m["content"]) for m in request.messages) <= limit:
            return
        chars = visible_chars(request)
        if chars > limit:
            raise PromptTooLongError(
                f"The conversation holds {chars:,} characters (not counting spaces); at most {self.chars_per_token} "
                f"fit in one token, so it needs more than the {self.context_length:,} tokens this model's context "
                "holds. Shorten the prompt or start a new conversation.")
