"""Text made from stored data: Markdown and JSON transcripts, export file names, the status line."""

from __future__ import annotations

import html
import json
import os
import re
import time
from pathlib import Path

from ..store.chats import Conversation, Message
from ..store.versions import Version

JSON_FORMAT = "diffusion-desk-chat"
JSON_VERSION = 1


STATUS_NOTES = {"cancelled": "stopped before the end", "interrupted": "stopped before the end",
                "error": "stopped by an error", "generating": "still being written when exported"}


def fenced(text: str) -> str:
    """`text` verbatim in a code fence longer than any run of backticks inside it (nothing in it is read as
    Markdown or HTML, and an unclosed ``` of its own cannot swallow the rest of the transcript)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _plain_heading(text: str) -> str:
    """A title as heading text: one line, its < > & shown as written rather than read as HTML."""
    return html.escape(" ".join(text.split()), quote=False)


AnswerVersions = tuple[int, list[Version]]  # the number of the version shown, and every version of the answer


def _answer_heading(m: Message, shown: int, versions: list[Version]) -> str:
    current = next((v for v in versions if v.number == shown), None) if len(versions) > 1 else None
    meta = [f"model {m.model}"] if m.model else []
    if current is not None:
        meta.append(rewrite_note(current, len(versions)))
    elif m.seed is not None:
        meta.append(f"seed {m.seed}")
    note = STATUS_NOTES.get(m.status)
    if note:
        meta.append(note)
    elif (m.stats or {}).get("reason") == "length":
        limit = (m.settings or {}).get("max_new_tokens")
        meta.append(f"cut at the {limit}-token limit" if limit else "cut at the length limit")
    return "## Model" + (f" ({', '.join(meta)})" if meta else "")


def rewrite_note(version: Version, count: int) -> str:
    """"version 2 of 3, rewritten: “shorter”, seed 7" for a version of a rewritten answer."""
    text = f"version {version.number} of {count}"
    if version.number > 1:
        text += ", rewritten" + (f": “{' '.join(version.instruction.split())}”" if version.instruction.strip() else "")
    return text + (f", seed {version.seed}" if version.seed is not None else "")


def conversation_markdown(conv: Conversation, messages: list[Message],
                          versions: dict[int, AnswerVersions] | None = None) -> str:
    """A readable Markdown transcript: title, system prompt, turns (your messages verbatim, as the chat shows them),
    folded thoughts, seeds, answers stopped early, and every version of a rewritten answer (`versions`: for each
    rewritten answer's id, the number of the version shown and all its versions)."""
    versions = versions or {}
    lines = [f"# {_plain_heading(conv.title)}", "",
             f"_Exported from Diffusion Desk on {time.strftime('%Y-%m-%d %H:%M')}_", ""]
    if conv.system_prompt:
        lines += ["**System prompt:**", "", fenced(conv.system_prompt), ""]
    for m in messages:
        if m.role == "user":
            lines += ["## You", "", fenced(m.text), ""]
            continue
        shown, kept = versions.get(m.id, (1, []))
        lines += [_answer_heading(m, shown, kept), ""]
        if m.thinking:
            lines += ["<details><summary>Thought</summary>", "", fenced(m.thinking), "", "</details>", ""]
        lines += [m.text or "_(nothing was written)_", ""]
        others = [v for v in kept if v.number != shown] if len(kept) > 1 else []
        if others:
            lines += [f"<details><summary>Other versions of this answer ({len(others)})</summary>", ""]
            for v in others:
                lines += [f"**{rewrite_note(v, len(kept))}**", "", fenced(v.text), ""]
            lines += ["</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def conversation_json(conv: Conversation, messages: list[Message],
                      versions: dict[int, AnswerVersions] | None = None) -> str:
    """The conversation for scripts: every message with its thought, seed, settings, figures, status and versions."""
    versions = versions or {}
    doc = {
        "format": JSON_FORMAT, "version": JSON_VERSION, "title": conv.title, "system_prompt": conv.system_prompt,
        "thinking": conv.thinking, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "messages": [
            {"role": m.role, "text": m.text, "thinking": m.thinking, "seed": m.seed, "model": m.model,
             "status": m.status, "settings": m.settings, "stats": m.stats, "created_at": m.created_at,
             "versions": _versions_json(*versions.get(m.id, (1, [])))}
            for m in messages
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _versions_json(shown: int, versions: list[Version]) -> list[dict]:
    if len(versions) < 2:
        return []
    return [{"number": v.number, "text": v.text, "instruction": v.instruction, "span": list(v.span) if v.span else None,
             "seed": v.seed, "shown": v.number == shown} for v in versions]


def safe_file_name(title: str, suffix: str = ".md") -> str:
    """A file name from a conversation title (letters, digits, spaces, - and _ kept; at most 80 characters, so a
    very long title still makes a name every file system and the save dialog accept)."""
    name = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip()[:80].strip()
    return (name or "chat") + suffix


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
