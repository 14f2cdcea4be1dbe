"""◆ `python -m engine run --model PATH --prompt TEXT [--json]`: headless generation with a live terminal draft."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
from typing import TextIO

from .errors import EngineError
from .events import CanvasDone, Done, Frame

DIM, RESET = "\x1b[2m", "\x1b[0m"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Diffusion Desk's engine, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="answer one prompt, showing each canvas sharpen in the terminal")
    run.add_argument("--model", default="demo", help="a model folder, a downloaded hub id, 'demo' or 'tiny'")
    run.add_argument("--prompt", required=True)
    run.add_argument("--system", default=None, help="a system prompt")
    run.add_argument("--device", default="auto")
    run.add_argument("--steps", type=int, default=None, help="max denoising steps per canvas")
    run.add_argument("--max-new-tokens", type=int, default=None)
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--think", action="store_true", help="turn on thinking mode (the thought is shown folded)")
    run.add_argument("--json", action="store_true", help="print one JSON object at the end instead of the live view")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # invalid sampler settings name their field
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    from .cli_common import load_model_arg
    from .session import ChatSession
    from .settings import SamplerSettings

    em = load_model_arg(args.model, device=args.device)
    overrides = {"seed": args.seed}
    if args.steps is not None:
        overrides["max_denoising_steps"] = args.steps
    if args.max_new_tokens is not None:
        overrides["max_new_tokens"] = args.max_new_tokens
    settings = SamplerSettings.for_model(em, **overrides)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
        {"role": "user", "content": args.prompt}
    ]
    events = ChatSession(em).send(messages, settings, cancel=threading.Event(), enable_thinking=args.think)
    view = LiveDraft(em.token_pieces(), sys.stdout) if not args.json and sys.stdout.isatty() else None
    frames = 0
    for event in events:
        if isinstance(event, Frame):
            frames += 1
            if view:
                view.show(event)
        elif isinstance(event, CanvasDone):
            if view:
                view.commit(event.text)
            elif not args.json:
                print(event.text, end="", flush=True)
        elif isinstance(event, Done):
            return _finish(args, em, event, frames)
    return 1


def _finish(args: argparse.Namespace, em, done: Done, frames: int) -> int:
    s = done.stats
    if args.json:
        record = {
            "model": em.name, "device": str(em.device), "text": done.text, "thinking": done.thinking,
            "reason": done.reason, "token_ids": done.token_ids, "frames": frames, "stats": s.as_dict(),
        }
        print(json.dumps(record))
        return 0
    print()
    if done.thinking:
        print(f"{DIM}[thought folded: {len(done.thinking)} characters]{RESET}")
    print(
        f"{DIM}{em.name} on {em.device} · {s.tokens} tokens in {s.seconds:.2f} s = {s.tokens_per_second:.1f} tok/s · "
        f"{s.canvases} canvas(es), {s.decoder_forwards} steps, {s.tokens_per_forward:.2f} tokens/forward · "
        f"first frame {s.ttft_s * 1000:.0f} ms · seed {s.seed} · {done.reason}{RESET}",
        file=sys.stderr,
    )
    return 0


class LiveDraft:
    """Redraws the current canvas's draft in place: accepted tokens bright, still-noisy ones dim."""

    def __init__(self, pieces: list[str], out: TextIO) -> None:
        self.pieces, self.out, self.lines = pieces, out, 0

    def show(self, frame: Frame) -> None:
        parts = []
        for token, accepted in zip(frame.draft, frame.accepted):
            piece = self.pieces[token] if token < len(self.pieces) else "?"
            piece = piece.replace("\n", "⏎")
            parts.append(piece if accepted else f"{DIM}{piece}{RESET}")
        header = f"{DIM}canvas {frame.canvas_index + 1} · step {frame.step}/{frame.max_steps} · "
        header += f"{frame.accepted_count} accepted{RESET}\n"
        self._replace(header + "".join(parts).rstrip())

    def commit(self, text: str) -> None:
        self._replace("")
        self.out.write(text)
        self.out.flush()

    def _replace(self, text: str) -> None:
        if self.lines:
            self.out.write(f"\x1b[{self.lines}F\x1b[J" if self.lines > 0 else "")
        width = max(20, shutil.get_terminal_size().columns)
        visible = sum(max(1, -(-_visible_len(line) // width)) for line in text.split("\n")) if text else 0
        self.out.write(text + ("\n" if text else ""))
        self.out.flush()
        self.lines = visible


def _visible_len(line: str) -> int:
    return len(line.replace(DIM, "").replace(RESET, ""))


if __name__ == "__main__":
    sys.exit(main())
