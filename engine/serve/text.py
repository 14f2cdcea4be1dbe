"""Answer text as it grows canvas by canvas: the thought span split out, stop strings applied, deltas for streaming.

The model's ids are decoded whole after each canvas (a canvas boundary can split a character or a word), and only
the part that extends what was already sent goes out; text that could still be the start of a stop string is held
back until the next canvas shows whether it is one.
"""

from __future__ import annotations

from typing import Any


class TextAssembler:
    """Feeds committed canvases in, gives (content delta, reasoning delta) out; `stopped` once a stop string hit."""

    def __init__(self, em: Any, stop: tuple[str, ...] = ()) -> None:
        self.em = em
        self.stop = stop
        self.ids: list[int] = []
        self.content_sent = ""
        self.reasoning_sent = ""
        self.stopped = False
        self.answer = ""
        self.thinking = ""

    def feed(self, token_ids: list[int], *, final: bool = False) -> tuple[str, str]:
        """Add a committed canvas; return the new content and reasoning text that can be sent now."""
        self.ids.extend(token_ids)
        answer, thinking = self.em.split_thinking(self.ids)
        if self.stopped:
            return "", ""
        cut = _first_stop(answer, self.stop)
        if cut is not None:
            answer, self.stopped, final = answer[:cut], True, True
        self.answer, self.thinking = answer, thinking
        ready = answer if final else answer[: len(answer) - _held_back(answer, self.stop)]
        return self._delta("content_sent", ready), self._delta("reasoning_sent", thinking)

    def finish(self) -> tuple[str, str]:
        """The rest of the text at the end of the answer (what was held back for stop strings)."""
        if self.stopped:
            return "", ""
        return self._delta("content_sent", self.answer), self._delta("reasoning_sent", self.thinking)

    def tokens_returned(self) -> int:
        """How many of the fed ids the returned text needs: after a stop string, the fewest leading ids whose text
        holds the answer up to the cut (and the thought); otherwise all of them. Found by bisection (~log2 n
        decodes), assuming text only grows as ids are added."""
        if not self.stopped:
            return len(self.ids)
        low, high = 0, len(self.ids)
        while low < high:
            middle = (low + high) // 2
            answer, thinking = self.em.split_thinking(self.ids[:middle])
            if answer.startswith(self.answer) and thinking.startswith(self.thinking):
                high = middle
            else:
                low = middle + 1
        return low

    def _delta(self, name: str, text: str) -> str:
        sent = getattr(self, name)
        if not text.startswith(sent):
            return ""  # decoding more ids changed text already sent (rare: a split character); it cannot be taken back
        setattr(self, name, text)
        return text[len(sent):]


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of `text` could be the start of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest
