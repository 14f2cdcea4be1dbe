"""CLI: `python -m engine.train_demo [--steps N] [--resume] [--export] [--eval [--n 200]]`."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path


def _flag(text: str) -> bool:
    """`--word-tokens true|false` (argparse's bool() would read "false" as True)."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run training, export and/or evaluation."""
    from .train import EXPORT_DIR, WORK_DIR, TrainConfig

    ap = argparse.ArgumentParser(prog="python -m engine.train_demo", description=__doc__)
    ap.add_argument("--resume", action="store_true", help="continue from train-demo/ckpt.pt")
    ap.add_argument("--export", action="store_true", help="write resources/demo-model from a checkpoint")
    ap.add_argument("--which", default="best", choices=("best", "ckpt"), help="checkpoint to export")
    ap.add_argument("--eval", action="store_true", help="evaluate resources/demo-model (or --model)")
    ap.add_argument("--n", type=int, default=200, help="prompts per skill for --eval")
    ap.add_argument("--skills", default="abcde", help="skills to evaluate (e.g. 'ab' to split --eval over processes)")
    ap.add_argument("--model", type=Path, default=EXPORT_DIR)
    ap.add_argument("--work-dir", type=Path, default=WORK_DIR)
    ap.add_argument("--threads", type=int, default=2)
    for f in fields(TrainConfig):
        kind = _flag if isinstance(f.default, bool) else type(f.default)
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None)
    args = ap.parse_args(argv)
    if args.export or args.eval:
        if args.export:
            from .train import export

            export(args.work_dir, args.model, args.which)
        if args.eval:
            from .evaluate import full_eval

            full_eval(args.model, args.n, threads=args.threads, skills=args.skills)
        return 0
    from .train import train

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    tc = TrainConfig(**overrides)
    if args.resume and (args.work_dir / "ckpt.pt").exists():
        import torch

        saved = torch.load(args.work_dir / "ckpt.pt", weights_only=False)["config"]
        tc = TrainConfig.from_dict({**saved, **overrides})  # same recipe, explicit flags (e.g. --steps) win
    train(tc, resume=args.resume, work_dir=args.work_dir, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
