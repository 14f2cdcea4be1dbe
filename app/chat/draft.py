"""Token ids → readable text for the live answer: draft runs (settled or still noisy), special tokens left out,
and a thought span (`<|channel>…<channel|>`) folded into one marker — never shown raw."""

from __future__ import annotations

from dataclasses import dataclass

from ..canvas.canvas_story import COLORS, CellState

THINKING_MARK = "💭 thinking… "


def span_style(settled: bool) -> str:
    """The CSS of a draft run in the answer bubble: the canvas's own colours (settled cells solid, the model's
    guess in its light text), so the bubble and the canvas tell the same story."""
    fill, text = COLORS[CellState.SETTLED if settled else CellState.SETTLING]
    return f"background-color:{fill};color:{text}" if settled else f"color:{text}"


@dataclass(frozen=True)
class TokenText:
    """What turning ids into text needs: the id→piece table and the ids that end, hide or fold text."""

    pieces: list[str]
    stop_ids: frozenset[int] = frozenset()
    hidden_ids: frozenset[int] = frozenset()
    thought_open: int | None = None
    thought_close: int | None = None

    def spans(
        self, ids: list[int], settled: list[bool], in_thought: bool = False
    ) -> tuple[list[tuple[str, bool]], bool]:
        """(runs of (text, settled), still inside a thought at the end). Stops at the first end-of-turn id."""
        spans: list[tuple[str, bool]] = [(THINKING_MARK, False)] if in_thought else []
        for tid, ok in zip(ids, settled):
            if tid in self.stop_ids:
                break
            if tid == self.thought_open:
                if not in_thought:
                    spans.append((THINKING_MARK, False))
                in_thought = True
                continue
            if tid == self.thought_close:
                in_thought = False
                continue
            if in_thought or tid in self.hidden_ids:
                continue
            piece = self.pieces[tid] if 0 <= tid < len(self.pieces) else ""
            if spans and spans[-1][1] == bool(ok) and spans[-1][0] != THINKING_MARK:
                spans[-1] = (spans[-1][0] + piece, bool(ok))
            else:
                spans.append((piece, bool(ok)))
        return spans, in_thought

    def has_thought(self, ids: list[int]) -> bool:
        """Whether `ids` open or close a thought span."""
        return self.thought_open is not None and (self.thought_open in ids or self.thought_close in ids)

    def visible_text(self, ids: list[int], in_thought: bool = False) -> tuple[str, bool]:
        """Committed ids as text with any thought left out (for canvases that hold one)."""
        spans, in_thought = self.spans(ids, [True] * len(ids), in_thought)
        return "".join(text for text, _ in spans if text != THINKING_MARK), in_thought
