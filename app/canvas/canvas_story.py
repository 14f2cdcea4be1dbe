"""What each canvas cell means at one step — the story from noise to text — without any drawing.

Every cell of a frame gets one state: NOISE (the random start, or a guess the model is still unsure of), SETTLING
(the model's current guess, not kept yet), SETTLED (kept by the sampler at this step; the committed canvas is
settled everywhere), END (the end-of-answer mark), PADDING (everything after that mark) or SPECIAL (a token the
answer never shows). The canvas view, the film strip, the animation export and the live draft in the answer
bubble all take their colours from `COLORS`, so the four always tell the same story.
"""

from __future__ import annotations

import math
from enum import IntEnum

from engine.events import Frame

NOISE_CONFIDENCE = 0.5  # an unsettled guess below this probability (exp(-entropy)) still reads as noise


class CellState(IntEnum):
    """The meaning of one cell at one step."""

    NOISE = 0
    SETTLING = 1
    SETTLED = 2
    END = 3
    PADDING = 4
    SPECIAL = 5


# (fill, text) per state; None: no fill. Loudness rises padding < noise < settling < settled.
COLORS: dict[CellState, tuple[str | None, str]] = {
    CellState.NOISE: ("#1a2130", "#5b6577"),
    CellState.SETTLING: ("#123848", "#a5f3fc"),
    CellState.SETTLED: ("#0891b2", "#f8fafc"),
    CellState.END: ("#3b1d35", "#f472b6"),
    CellState.PADDING: (None, "#273247"),
    CellState.SPECIAL: (None, "#3e4c63"),  # mostly padding ids guessed before the end mark: as quiet as padding
}
TILE_COLORS: dict[CellState, str | None] = {  # film-strip tiles have no room for text: brighter fills instead
    CellState.NOISE: "#4b5567",
    CellState.SETTLING: "#1e6a80",
    CellState.SETTLED: "#22d3ee",
    CellState.END: "#f472b6",
    CellState.PADDING: None,
    CellState.SPECIAL: None,
}
CHANGED = "#fbbf24"  # outline of a cell whose guess changed (or that settled) at this step
BACKGROUND = "#0b1120"

# Symbols drawn in cells instead of pieces; the legend lists every one of them.
SYMBOLS = {"end": "∎", "special": "◦", "newline": "↵", "space": "␣", "tab": "⇥", "padding": "·"}

LEGEND: list[tuple[str | None, str, str, str]] = [  # (fill, text colour, sample, plain words): what a cell looks like
    (*COLORS[CellState.NOISE], "x", "noise: the random start, or the model is unsure"),
    (*COLORS[CellState.SETTLING], "a", "the model's guess, not kept yet"),
    (*COLORS[CellState.SETTLED], "a", "settled: kept"),
    (None, CHANGED, "□", "outline: changed at this step"),
    (*COLORS[CellState.END], SYMBOLS["end"], "end of the answer"),
    (None, "#64748b", SYMBOLS["padding"], "padding after the end"),
    (*COLORS[CellState.SPECIAL], SYMBOLS["special"], "a token the answer does not show (often padding)"),
    (None, "#94a3b8", SYMBOLS["newline"], "new line"),
    (None, "#94a3b8", SYMBOLS["space"], "space"),
    (None, "#94a3b8", SYMBOLS["tab"], "tab"),
]


def display_piece(piece: str) -> str:
    """A piece as it reads in one cell: whitespace made visible, nothing multi-line."""
    if piece == "\n":
        return SYMBOLS["newline"]
    if piece == " ":
        return SYMBOLS["space"]
    return piece.replace("\n", SYMBOLS["newline"]).replace("\t", SYMBOLS["tab"])


def end_position(frame: Frame, stop_ids: frozenset[int]) -> int | None:
    """Where the answer ends in this frame's guess (the first end-of-answer id), or None; never at step 0."""
    if frame.step == 0 or not stop_ids:
        return None
    return next((i for i, tid in enumerate(frame.draft) if tid in stop_ids), None)


def cell_states(frame: Frame, stop_ids: frozenset[int] = frozenset(), hidden_ids: frozenset[int] = frozenset(),
                committed: bool = False) -> list[CellState]:
    """The state of every cell of `frame`; `committed` draws the answer part fully settled (it is what was kept)."""
    length = len(frame.draft)
    if frame.step == 0 and not any(frame.accepted):  # a rewrite's step 0 keeps the text around its span settled
        return [CellState.NOISE] * length
    end = end_position(frame, stop_ids)
    out: list[CellState] = []
    for i in range(length):
        tid = frame.draft[i]
        if end is not None and i > end:
            out.append(CellState.PADDING)
        elif end == i:
            out.append(CellState.END)
        elif tid in hidden_ids:
            out.append(CellState.SPECIAL)
        elif committed or frame.accepted[i]:
            out.append(CellState.SETTLED)
        elif math.exp(-max(0.0, frame.entropy[i])) >= NOISE_CONFIDENCE:
            out.append(CellState.SETTLING)
        else:
            out.append(CellState.NOISE)
    return out


def changed_cells(previous: Frame | None, frame: Frame, states: list[CellState]) -> list[bool]:
    """Cells whose guess changed, or that became settled, since `previous` (of the same canvas); padding never
    counts, so the quiet part stays quiet."""
    if previous is None or previous.canvas_index != frame.canvas_index or previous.step == 0 or frame.step == 0:
        return [False] * len(frame.draft)  # step 1 replaces the whole random canvas: outlining all of it says nothing
    out = []
    for i, state in enumerate(states):
        if state == CellState.PADDING:
            out.append(False)
            continue
        newly_settled = state == CellState.SETTLED and previous.step > 0 and not previous.accepted[i]
        out.append(previous.draft[i] != frame.draft[i] or newly_settled)
    return out


STATE_WORDS = {
    CellState.NOISE: "noise — the model is still unsure here",
    CellState.SETTLING: "the model's current guess, not kept yet",
    CellState.SETTLED: "settled — kept by the model",
    CellState.END: "the end of the answer",
    CellState.PADDING: "padding after the end of the answer",
    CellState.SPECIAL: "a special token the answer does not show",
}


def position_text(frame: Frame, steps_in_canvas: int | None) -> str:
    """Where a frame sits: "canvas 2 · step 3/11" (the header and the scrubber label both start with it);
    while a canvas is still being generated its step count is not known yet: "step 3 (up to 24)"."""
    total = f"/{steps_in_canvas}" if steps_in_canvas is not None else f" (up to {frame.max_steps})"
    return f"canvas {frame.canvas_index + 1} · step {frame.step}{total}"


def detail_text(frame: Frame, states: list[CellState], committed: bool) -> str:
    """The header's second part in plain words: the random start, how much is settled, or committed."""
    if frame.step == 0:
        return "random start"
    if committed:
        return "committed"
    answer = [s for s in states if s not in (CellState.PADDING, CellState.END, CellState.SPECIAL)]
    settled = sum(1 for s in answer if s == CellState.SETTLED)
    return f"{settled} of {len(answer)} settled"
