"""An answer's text as the canvases hold it, and a character range of it as canvas positions.

The canvases are rebuilt from the committed answer TEXT: it is re-encoded with the model's tokenizer (no special
tokens), followed by one end token (the model's first EOS id) and pad ids to the end of the last canvas — the layout
`engine.generate` commits (answer ids, EOS, then what the draft held after it, which is never shown). A thought span
is not part of it: the answer text a user sees has it folded out, and the rebuilt canvases hold that text only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import EngineError


class SpanError(EngineError, ValueError):
    """A span that cannot be rewritten (empty, out of range, not a pair of whole numbers, or an empty answer)."""


@dataclass(frozen=True)
class AnswerTokens:
    """The answer's token ids and, per id, the character range `[start, end)` of the answer it came from."""

    text: str
    ids: list[int]
    offsets: list[tuple[int, int]]


@dataclass(frozen=True)
class TokenSpan:
    """A character span widened to whole tokens: answer tokens `[token_start, token_end)`, characters
    `[char_start, char_end)` of the answer (the user's range, grown to the edges of the tokens it touches)."""

    token_start: int
    token_end: int
    char_start: int
    char_end: int


def answer_tokens(tokenizer: Any, answer: str) -> AnswerTokens:
    """Re-encode `answer` the way a canvas holds it, with each token's character range."""
    if not isinstance(answer, str) or not answer:
        raise SpanError("There is no answer text to rewrite: give the committed answer (non-empty text).")
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(answer, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True)
        ids = [int(i) for i in enc["input_ids"]]
        offsets = [(int(s), int(e)) for s, e in enc["offset_mapping"]]
    else:  # slow tokenizers give no offsets: the length of each decoded prefix marks where a token ends
        ids = [int(i) for i in tokenizer(answer, add_special_tokens=False)["input_ids"]]
        offsets, previous = [], 0
        for n in range(1, len(ids) + 1):
            end = min(len(answer), len(tokenizer.decode(ids[:n])))
            offsets.append((previous, max(previous, end)))
            previous = max(previous, end)
    if not ids:
        raise SpanError("The answer encodes to no tokens, so there is nothing to rewrite.")
    return AnswerTokens(answer, ids, offsets)


def check_span(span: Any, length: int) -> tuple[int, int]:
    """`span` as (start, end) with 0 ≤ start < end ≤ length, or a `SpanError` that says what is wrong."""
    try:
        start, end = span
    except (TypeError, ValueError):
        raise SpanError(f"The span must be a (start, end) pair of character positions (got {span!r}).") from None
    for value in (start, end):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpanError(f"The span's ends must be whole numbers (got {span!r}).")
    if start == end:
        raise SpanError(f"The span {start}:{end} is empty: select at least one character to rewrite.")
    if not 0 <= start < end <= length:
        raise SpanError(f"The span {start}:{end} is outside the answer, which has {length} characters "
                        f"(give 0 ≤ start < end ≤ {length}).")
    return start, end


def token_span(tokens: AnswerTokens, span: Any) -> TokenSpan:
    """The answer tokens a character span touches: every token partly inside `[start, end)` is included."""
    start, end = check_span(span, len(tokens.text))
    touched = [i for i, (s, e) in enumerate(tokens.offsets) if e > s and e > start and s < end]
    if not touched:
        raise SpanError(f"The span {start}:{end} covers no token of the answer (only characters the tokenizer "
                        "drops); select some words.")
    first, last = touched[0], touched[-1]
    char_start = min(start, tokens.offsets[first][0])
    char_end = max(end, tokens.offsets[last][1])
    return TokenSpan(first, last + 1, char_start, char_end)
