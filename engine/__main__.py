"""◆ `python -m engine run --model PATH --prompt TEXT [--profile P] [--json]`: headless generation with a live
terminal draft; the load's progress (files, bytes, quantized tensors) goes to stderr. ◆ `compare` (seeds denoised
as one batch) and ◆ `infill` (rewrite a span of an answer in place): engine/drafting/cli.py."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
from typing import TextIO

from .cli_common import argv_text, color_enabled, live_enabled, run_cli, safe_text
from .drafting.cli import add_commands as add_drafting_commands
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
    run.add_argument("--profile", default=None,
                     help="load profile: bf16, fp8, int8, offload, cpu, fp16, fp32 (int4 says why not); "
                          "default: bf16 on a GPU, cpu otherwise")
    run.add_argument("--steps", type=int, default=None, help="max denoising steps per canvas")
    run.add_argument("--max-new-tokens", type=int, default=None)
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--think", action="store_true", help="turn on thinking mode (the thought is shown folded)")
    run.add_argument("--json", action="store_true", help="print one JSON object at the end instead of the live view")
    add_drafting_commands(sub)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", _run)
    return run_cli(lambda: handler(args))


def _run(args: argparse.Namespace) -> int:
    from .session import ChatSession
    from .settings import SamplerSettings

    prompt = argv_text(args.prompt, "--prompt")
    system = argv_text(args.system, "--system") if args.system else None
    em = _load(args)
    overrides = {"seed": args.seed}
    if args.steps is not None:
        overrides["max_denoising_steps"] = args.steps
    if args.max_new_tokens is not None:
        overrides["max_new_tokens"] = args.max_new_tokens
    settings = SamplerSettings.for_model(em, **overrides)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    events = ChatSession(em).send(messages, settings, cancel=threading.Event(), enable_thinking=args.think)
    # The live redraw needs a terminal; piped output gets the plain committed text only.
    live = not args.json and live_enabled(sys.stdout)
    view = LiveDraft(em.token_pieces(), sys.stdout, color=color_enabled(sys.stdout)) if live else None
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
                print(safe_text(event.text), end="", flush=True)
        elif isinstance(event, Done):
            return _finish(args, em, event, frames)
    return 1


def _load(args: argparse.Namespace):
    """The model named by --model, with --profile; the load's progress is printed on stderr."""
    from .cli_common import load_model_arg

    if args.profile is None or args.model != "tiny":
        progress = LoadProgressLine(sys.stderr) if args.profile is not None else None
        return load_model_arg(args.model, device=args.device, profile=args.profile, on_progress=progress)
    import tempfile

    from .loading import EngineModel
    from .tiny import save_tiny_model

    # A saved tiny model, so the profile goes through the same loader as a real checkpoint.
    argv_text(args.device, "--device")
    folder = tempfile.TemporaryDirectory(prefix="tiny-")
    em = EngineModel.from_pretrained(save_tiny_model(folder.name + "/tiny"), device=args.device,
                                     profile=argv_text(args.profile, "--profile"),
                                     on_progress=LoadProgressLine(sys.stderr))
    args.tiny_folder = folder  # removed when the command ends
    return em


class LoadProgressLine:
    """Prints each `LoadProgress` on stderr: redrawn in place on a terminal, one line per stage change otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.live, self.stage = out, live_enabled(out), None

    def __call__(self, event) -> None:
        text = safe_text(f"loading: {event.message}", newlines=False)
        if self.live:
            self.out.write(f"\r\x1b[K{text}" + ("\n" if event.stage == "done" else ""))
        elif event.stage != self.stage or event.done in (1, event.total):
            self.out.write(text + "\n")
        self.stage = event.stage
        self.out.flush()


def _finish(args: argparse.Namespace, em, done: Done, frames: int) -> int:
    s = done.stats
    if args.json:
        record = {
            "model": em.name, "device": str(em.device), "profile": em.profile, "text": done.text,
            "thinking": done.thinking, "reason": done.reason, "token_ids": done.token_ids, "frames": frames,
            "stats": s.as_dict(),
        }
        print(json.dumps(record))  # ensure_ascii: control characters arrive as \u escapes, never raw
        return 0
    print()
    dim, reset = (DIM, RESET) if color_enabled(sys.stdout) else ("", "")
    if done.thinking:
        print(f"{dim}[thought folded: {len(done.thinking)} characters]{reset}")
    dim, reset = (DIM, RESET) if color_enabled(sys.stderr) else ("", "")
    print(
        f"{dim}{safe_text(em.name, newlines=False)} on {em.device} · {s.tokens} tokens in {s.seconds:.2f} s = "
        f"{s.tokens_per_second:.1f} tok/s · {s.canvases} canvas(es), {s.decoder_forwards} steps, "
        f"{s.tokens_per_forward:.2f} tokens/forward · first frame {s.ttft_s * 1000:.0f} ms · seed {s.seed} · "
        f"{done.reason}{reset}",
        file=sys.stderr,
    )
    return 0


class LiveDraft:
    """Redraws the current canvas's draft in place (a terminal only): accepted tokens bright, noisy ones dim.

    Tokenizer pieces and committed text come from the model folder and the model: they are shown through
    `safe_text`, so an escape sequence in a vocabulary entry is printed as `\x1b[…`, never obeyed.
    """

    def __init__(self, pieces: list[str], out: TextIO, *, color: bool = True) -> None:
        self.out, self.lines = out, 0
        self.pieces = [safe_text(p.replace("\n", "⏎").replace("\t", "→")) for p in pieces]
        self.dim, self.reset = (DIM, RESET) if color else ("", "")

    def show(self, frame: Frame) -> None:
        parts = []
        for token, accepted in zip(frame.draft, frame.accepted):
            piece = self.pieces[token] if 0 <= token < len(self.pieces) else "?"
            parts.append(piece if accepted else f"{self.dim}{piece}{self.reset}")
        header = f"{self.dim}canvas {frame.canvas_index + 1} · step {frame.step}/{frame.max_steps} · "
        header += f"{frame.accepted_count} accepted{self.reset}\n"
        self._replace(header + "".join(parts).rstrip())

    def commit(self, text: str) -> None:
        self._replace("")
        self.out.write(safe_text(text))
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
