"""Text made from stored data: Markdown transcripts, export file names, the status line."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..store.chats import Conversation, Message


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


def safe_file_name(title: str, suffix: str = ".md") -> str:
    """A file name from a conversation title (letters, digits, spaces, - and _ kept)."""
    return ("".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip() or "chat") + suffix


def stats_text(model: str, device: str, stats: dict | None, note: str = "") -> str:
    """The status bar line in plain words: model, device, speed, steps per block, words settled per step, time to the
    first draft, and `note` (e.g. the CPU is the bottleneck). The expert names are in `stats_tooltip`."""
    parts = [model, device]
    if stats:
        canvases = max(1, int(stats.get("canvases") or 1))
        parts.append(f"{stats['tokens_per_second']:.1f} tok/s")
        if stats.get("decoder_forwards"):  # a server that streams whole canvases (vLLM) reports no steps
            parts += [
                f"{stats['decoder_forwards'] / canvases:.1f} steps per block",
                f"{stats['tokens_per_forward']:.1f} tokens settled per step",
            ]
        if stats.get("ttft_s"):
            parts.append(f"first draft after {stats['ttft_s'] * 1000:.0f} ms")
    else:
        parts.append("ready")
    if note:
        parts.append(note)
    return "  ·  ".join(p for p in parts if p)


def stats_tooltip(stats: dict | None) -> str:
    """The same figures under their technical names, for the status line's tooltip."""
    if not stats:
        return "Speed and step figures of the last answer appear here."
    return (
        f"tokens_per_second {stats['tokens_per_second']:.2f} · decoder_forwards {stats['decoder_forwards']} · "
        f"tokens_per_forward {stats['tokens_per_forward']:.2f} · time to first frame (TTFF) "
        f"{stats['ttft_s'] * 1000:.0f} ms"
    )


def write_atomically(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
