"""◆ `python -m engine compare` and `python -m engine infill`: the drafting workbench for scripts.

compare  --prompt TEXT --seeds 1,2,3,4 [--model demo] [--system S] [--steps N] [--max-new-tokens N] [--json]
         Answers the prompt once per seed, all seeds denoised as one batch. Text: one block per seed (seed, steps,
         seconds, tokens, then the answer). --json: {"variants": [{"seed", "text", "canvas_steps", "tokens",
         "reason", "seconds" (from the batch's start to this variant's end), "decoder_forwards"}], "batched": true,
         "seconds" (the whole batch), "model", "device"}.
infill   --prompt TEXT [--answer TEXT] --span START:END [--instruction TEXT] [--seed N] [--model demo] [--json]
         START:END are character positions of the answer (0-based, END exclusive, as Python slices). Without
         --answer the model first answers the prompt with --seed; then the span is re-noised (with the same seed)
         and denoised again. Text: the new answer. --json: {"original", "result", "answer" (= result), "span"
         (the characters replaced: the requested range widened to whole tokens, so `result` starts with
         `original[:span[0]]` and ends with `original[span[1]:]`), "requested_span", "token_span" ([start, end)
         canvas positions in the first touched canvas), "canvases" (one {"canvas_index", "token_span",
         "char_span"} per touched canvas), "steps" (decoder forwards), "reason", "seed"}.
Exit 0 on success; 2 with one `error: …` line on stderr for unusable arguments (e.g. a bad seed list or span).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

from ..cli_common import argv_text, safe_text
from ..errors import UsageError

MAX_SEEDS = 8
SEED_LIMIT = 2**63 - 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `compare` and `infill` to `python -m engine`'s subcommands."""
    compare = sub.add_parser("compare", help="answer one prompt with several seeds, denoised together as one batch")
    _common(compare)
    compare.add_argument("--seeds", required=True, help=f"comma-separated seeds, 1 to {MAX_SEEDS} (e.g. 1,2,3,4)")
    compare.set_defaults(handler=run_compare)
    infill = sub.add_parser("infill", help="rewrite characters START:END of an answer in place (diffusion infill)")
    _common(infill)
    infill.add_argument("--answer", default=None, help="the answer to rewrite (default: the model answers first)")
    infill.add_argument("--span", required=True, help="START:END character positions of the answer (END exclusive)")
    infill.add_argument("--instruction", default=None, help='a short instruction, e.g. "shorter", "more formal"')
    infill.add_argument("--seed", type=int, default=0, help="seed of the answer (when generated) and of the infill")
    infill.set_defaults(handler=run_infill)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="demo", help="a model folder, a downloaded hub id, 'demo' or 'tiny'")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--system", default=None, help="a system prompt")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None, help="max denoising steps per canvas")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def parse_seeds(text: str) -> list[int]:
    """`1,2,3,4` → [1, 2, 3, 4]: 1 to MAX_SEEDS whole numbers from 0 to 2**63 − 1, or a `UsageError`."""
    parts = [p.strip() for p in argv_text(text, "--seeds").split(",")]
    if not all(re.fullmatch(r"\d{1,19}", p) for p in parts):
        raise UsageError(f"--seeds must be comma-separated whole numbers such as 1,2,3,4 "
                         f"(got {safe_text(text[:60], newlines=False)!r}).")
    seeds = [int(p) for p in parts]
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise UsageError(f"--seeds takes 1 to {MAX_SEEDS} seeds (got {len(seeds)}).")
    if any(s > SEED_LIMIT for s in seeds):
        raise UsageError(f"each seed must be at most {SEED_LIMIT}.")
    return seeds


def parse_span(text: str) -> tuple[int, int]:
    """`START:END` → (START, END), two whole numbers; the answer's length is checked later."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*:\s*(\d{1,9})\s*", argv_text(text, "--span"))
    if match is None:
        raise UsageError(f"--span must be START:END character positions such as 10:25 "
                         f"(got {safe_text(text[:60], newlines=False)!r}).")
    start, end = int(match.group(1)), int(match.group(2))
    if start >= end:
        raise UsageError(f"--span {start}:{end} is empty or reversed: END must be greater than START.")
    return start, end


def _messages(args: argparse.Namespace) -> list[dict[str, str]]:
    prompt = argv_text(args.prompt, "--prompt")
    system = argv_text(args.system, "--system") if args.system else None
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def _settings(args: argparse.Namespace, em, seed: int):
    from ..settings import SamplerSettings

    overrides = {"seed": seed}
    if args.steps is not None:
        overrides["max_denoising_steps"] = args.steps
    if args.max_new_tokens is not None:
        overrides["max_new_tokens"] = args.max_new_tokens
    return SamplerSettings.for_model(em, **overrides)


def _load(args: argparse.Namespace):
    from ..cli_common import load_model_arg

    return load_model_arg(args.model, device=args.device)


def run_compare(args: argparse.Namespace) -> int:
    from ..events import CanvasDone, Done
    from .types import Variant
    from .variants import generate_variants

    seeds = parse_seeds(args.seeds)
    messages = _messages(args)
    em = _load(args)
    ids = em.chat_ids(messages)[0].tolist()
    variants = [Variant(ids, _settings(args, em, seed)) for seed in seeds]
    steps: list[list[int]] = [[] for _ in seeds]
    dones: dict[int, object] = {}
    start = time.perf_counter()
    for tagged in generate_variants(em, variants, capture_frames=False):
        if isinstance(tagged.event, CanvasDone):
            steps[tagged.variant].append(tagged.event.steps)
        elif isinstance(tagged.event, Done):
            dones[tagged.variant] = tagged.event
    seconds = time.perf_counter() - start
    records = [{
        "seed": seed, "text": dones[i].text, "canvas_steps": steps[i], "tokens": dones[i].stats.tokens,
        "reason": dones[i].reason, "seconds": round(dones[i].stats.seconds, 4),
        "decoder_forwards": dones[i].stats.decoder_forwards,
    } for i, seed in enumerate(seeds)]
    if args.json:
        print(json.dumps({"variants": records, "batched": True, "seconds": round(seconds, 4), "model": em.name,
                          "device": str(em.device)}))
        return 0
    for r in records:
        print(f"── seed {r['seed']} · {r['tokens']} tokens · {r['decoder_forwards']} steps "
              f"({'+'.join(map(str, r['canvas_steps']))}) · {r['seconds']:.2f} s · {r['reason']}")
        print(safe_text(r["text"]))
        print()
    print(f"{len(records)} variants denoised together in {seconds:.2f} s on {safe_text(str(em.device))}",
          file=sys.stderr)
    return 0


def run_infill(args: argparse.Namespace) -> int:
    from ..events import Done, InfillStart
    from ..generation import generate
    from .infill import infill
    from .spans import answer_tokens, token_span

    span = parse_span(args.span)
    if args.seed < 0 or args.seed > SEED_LIMIT:
        raise UsageError(f"--seed must be a whole number from 0 to {SEED_LIMIT} (got {args.seed}).")
    messages = _messages(args)
    answer = argv_text(args.answer, "--answer") if args.answer is not None else None
    instruction = argv_text(args.instruction, "--instruction") if args.instruction is not None else None
    em = _load(args)
    settings = _settings(args, em, args.seed)
    if answer is None:
        answer = list(generate(em, em.chat_ids(messages), settings))[-1].text
        if not answer:
            raise UsageError("The model's answer is empty, so there is nothing to rewrite; try another --seed.")
    starts: list[InfillStart] = []
    done = None
    for event in infill(em, messages, answer, span, settings, instruction=instruction, capture_frames=False):
        if isinstance(event, InfillStart):
            starts.append(event)
        elif isinstance(event, Done):
            done = event
    first = starts[0]
    replaced = token_span(answer_tokens(em.tokenizer, answer), span)
    record = {
        "original": answer, "result": done.text, "answer": done.text,
        "span": [replaced.char_start, replaced.char_end], "requested_span": list(span),
        "token_span": [first.token_start, first.token_end],
        "canvases": [{"canvas_index": s.canvas_index, "token_span": [s.token_start, s.token_end],
                      "char_span": [s.char_start, s.char_end]} for s in starts],
        "steps": done.stats.decoder_forwards, "reason": done.reason, "seed": done.stats.seed,
    }
    if args.json:
        print(json.dumps(record))
        return 0
    print(safe_text(done.text))
    print(f"rewrote characters {record['span'][0]}:{record['span'][1]} (asked {span[0]}:{span[1]}) in "
          f"{record['steps']} steps · canvas {first.canvas_index} positions {first.token_start}:{first.token_end}",
          file=sys.stderr)
    return 0
