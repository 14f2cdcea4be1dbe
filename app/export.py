"""Turning stored conversations into Markdown files, and engine frames into the live draft's text runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from engine.events import Frame

from .store import Conversation, Message


def conversation_markdown(conv: Conversation, messages: list[Message]) -> str:
    """A readable Markdown transcript: title, system prompt, turns, folded thoughts, seeds."""
    lines = [f"# {conv.title}", "", f"_Exported from Diffusion Desk on {time.strftime('%Y-%m-%d %H:%M')}_", ""]
    if conv.system_prompt:
        lines += ["> **System:** " + conv.system_prompt.replace("\n", "\n> "), ""]
    for m in messages:
        if m.role == "user":
            lines += ["## You", "", m.text, ""]
            continue
        meta = [f"model {m.model}"] if m.model else []
        if m.seed is not None:
            meta.append(f"seed {m.seed}")
        lines += ["## Model" + (f" ({', '.join(meta)})" if meta else ""), ""]
        if m.thinking:
            lines += ["<details><summary>Thought</summary>", "", m.thinking, "", "</details>", ""]
        lines += [m.text, ""]
    return "\n".join(lines).rstrip() + "\n"


def write_atomically(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def draft_spans(
    frame: Frame, pieces: list[str], stop_ids: frozenset[int], hidden_ids: frozenset[int]
) -> list[tuple[str, bool]]:
    """The frame's draft as (text, settled) runs, cut at the first end-of-turn id, special ids left out."""
    spans: list[tuple[str, bool]] = []
    for tid, settled in zip(frame.draft, frame.accepted):
        if tid in stop_ids:
            break
        if tid in hidden_ids:
            continue
        piece = pieces[tid] if 0 <= tid < len(pieces) else ""
        if spans and spans[-1][1] == bool(settled):
            spans[-1] = (spans[-1][0] + piece, bool(settled))
        else:
            spans.append((piece, bool(settled)))
    return spans
