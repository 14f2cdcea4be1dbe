"""CLI: `python -m engine.train_demo [--steps N] [--resume [CKPT]] [--export] [--eval [--n 200]]`."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from ..cli_common import run_cli, user_path
from ..errors import UsageError


def _flag(text: str) -> bool:
    """`--word-tokens true|false` (argparse's bool() would read "false" as True)."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run training, export and/or evaluation."""
    from .config import EXPORT_DIR, WORK_DIR, TrainConfig

    ap = argparse.ArgumentParser(prog="python -m engine.train_demo", description=__doc__)
    ap.add_argument("--resume", nargs="?", const="", default=None, metavar="CKPT",
                    help="continue from CKPT (default: ckpt.pt in --work-dir); read as tensors only, never code")
    ap.add_argument("--export", action="store_true", help="write resources/demo-model from a checkpoint")
    ap.add_argument("--which", default="best", choices=("best", "ckpt"), help="checkpoint to export")
    ap.add_argument("--eval", action="store_true", help="evaluate resources/demo-model (or --model)")
    ap.add_argument("--n", type=int, default=50, help="conversations per skill and turn index for --eval")
    ap.add_argument("--skills", default="abcdef", help="skills to evaluate (e.g. 'ab' to split --eval over processes)")
    ap.add_argument("--model", default=str(EXPORT_DIR))
    ap.add_argument("--work-dir", default=str(WORK_DIR), help=f"checkpoints and logs (default {WORK_DIR})")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: one core, as the card promises)")
    for f in fields(TrainConfig):
        kind = _flag if isinstance(f.default, bool) else type(f.default)
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None)
    args = ap.parse_args(argv)
    return run_cli(lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from .config import TrainConfig

    if not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads must be from 1 to 1024 (got {args.threads}).")
    if args.n < 1 or not args.skills or set(args.skills) - set("abcdef"):
        raise UsageError("--n must be at least 1 and --skills a non-empty choice of the letters a, b, c, d, e, f.")
    work_dir, model_dir = user_path(args.work_dir, "--work-dir"), user_path(args.model, "--model")
    if args.export or args.eval:
        if args.export:
            from .train import export

            export(work_dir, model_dir, args.which)
        if args.eval:
            from .evaluate import full_eval

            full_eval(model_dir, args.n, threads=args.threads, skills=args.skills)
        return 0
    from .checkpoint import load_checkpoint
    from .train import train

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    if overrides.get("v2_mix"):
        parts = overrides["v2_mix"].split(",")
        try:
            ok = len(parts) == 6 and all(float(p) >= 0 for p in parts) and sum(float(p) for p in parts) > 0
        except ValueError:
            ok = False
        if not ok:
            raise UsageError(f"--v2-mix needs six non-negative numbers for skills a..f, e.g. 9,9,22,6,14,40 "
                             f"(got {overrides['v2_mix']!r}).")
    if "t_power" in overrides and not 0 < overrides["t_power"] <= 4:
        raise UsageError(f"--t-power must be above 0 and at most 4 (got {overrides['t_power']}).")
    tc = TrainConfig(**overrides)
    resume: bool | Path = False
    if args.resume is not None:
        resume = user_path(args.resume, "--resume") if args.resume else work_dir / "ckpt.pt"
        saved = load_checkpoint(resume)["config"]  # checked here so a bad file fails before any training set-up
        tc = TrainConfig.from_dict({**saved, **overrides})  # same recipe, explicit flags (e.g. --steps) win
    train(tc, resume=resume, work_dir=work_dir, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
