"""An experiment as Markdown (readable: the prompt, each variant's settings and answer, the diffs against A) and as
JSON (every variant with its full settings and seed, for scripts)."""

from __future__ import annotations

import json
import time

from ..store.experiments import Experiment, Variant, effective_prompt
from .presets import preset_label
from .variant_column import LETTERS
from .word_diff import diff_summary, word_diff

JSON_FORMAT = "diffusion-desk-experiment"
JSON_VERSION = 1


def _fence(text: str) -> str:
    """`text` in a code fence longer than any run of backticks inside it (the answer stays verbatim)."""
    longest = max((len(run) for run in text.split("\n") for run in _backtick_runs(run)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _backtick_runs(line: str) -> list[str]:
    runs, current = [], ""
    for ch in line:
        if ch == "`":
            current += ch
        elif current:
            runs.append(current)
            current = ""
    return runs + ([current] if current else [])


def experiment_markdown(experiment: Experiment, variants: list[Variant]) -> str:
    """A Markdown report of an experiment."""
    lines = [f"# Compare: {experiment.title}", "",
             f"_Exported from Diffusion Desk on {time.strftime('%Y-%m-%d %H:%M')}"
             + (f" · model {experiment.model}" if experiment.model else "") + "_", "", "## Prompt", "",
             _fence(experiment.prompt), ""]
    if experiment.context:
        lines += [f"Earlier turns in the chat: {len(experiment.context)}", ""]
    for v in variants:
        letter = LETTERS[v.column] if v.column < len(LETTERS) else str(v.column + 1)
        s = v.spec.settings
        lines += [f"## Variant {letter}", "",
                  f"- seed: {v.seed}",
                  f"- preset: {preset_label(v.spec.preset)}",
                  f"- steps: {s.get('max_denoising_steps')} · temperature {s.get('t_min')}–{s.get('t_max')} · "
                  f"max new tokens {s.get('max_new_tokens')}",
                  f"- status: {v.status}"]
        if v.spec.system_prompt:
            lines.append(f"- system prompt: {json.dumps(v.spec.system_prompt, ensure_ascii=False)}")
        if v.spec.prompt.strip():
            lines.append(f"- prompt: {json.dumps(effective_prompt(experiment, v.spec), ensure_ascii=False)}")
        if v.stats and v.stats.get("tokens_per_second"):
            lines.append(f"- speed: {v.stats['tokens_per_second']:.1f} tok/s")
        if v.thinking.strip():
            lines += ["", "Thought:", "", _fence(v.thinking.strip())]
        lines += ["", _fence(v.text), ""]
        if v.column > 0 and variants:
            lines += [f"Diff against {LETTERS[0]}: {diff_summary(word_diff(variants[0].text, v.text))}", ""]
    return "\n".join(lines).rstrip() + "\n"


def experiment_json(experiment: Experiment, variants: list[Variant]) -> str:
    """The experiment and every variant (full settings, seed, answer, figures) as a JSON document."""
    doc = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "title": experiment.title,
        "prompt": experiment.prompt,
        "context": experiment.context,
        "model": experiment.model,
        "created_at": experiment.created_at,
        "variants": [
            {
                "column": LETTERS[v.column] if v.column < len(LETTERS) else v.column + 1,
                "seed": v.seed,
                "preset": v.spec.preset,
                "system_prompt": v.spec.system_prompt,
                "prompt": effective_prompt(experiment, v.spec),
                "settings": v.spec.settings,
                "text": v.text,
                "thinking": v.thinking,
                "status": v.status,
                "stats": v.stats,
            }
            for v in variants
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
