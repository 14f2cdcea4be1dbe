"""◆ `python -m engine.gpucheck [--model tiny|PATH|diffusiongemma-26b-a4b-random] [--profiles a,b] [--minutes N]
[--json]`: every load profile that fits this machine — load seconds, peak memory, eager and compiled tok/s at 16 and
48 steps (prompt 512, 512 new tokens; scaled down on the CPU), agreement with bf16 — as one JSON object, within
`--minutes`. A failure of one part (a profile that does not fit, a compile that breaks) is a field, not a crash.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .bench_setup import RELEASE_RANDOM
from .cli_common import argv_text, run_cli
from .errors import EngineError, UsageError

STEPS = (16, 48)
# What a first compile costs before its first timed run (DIFFUSIONGEMMA.md: 234 s on an H200 for the 26B shape;
# ≈ 90 s for the tiny model on a busy 2-core CPU): the budget does not start one it cannot finish.
FIRST_COMPILE_GUESS_S = {"cuda": 300.0, "cpu": 120.0}
GPU_WORKLOAD = (512, 512)  # prompt tokens, new tokens
CPU_WORKLOAD = (32, 32)  # on the CPU (or a tiny model): one small canvas, so a CI run takes seconds
CUDA_PROFILES = ("bf16", "fp8", "int8", "offload")
CPU_PROFILES = ("bf16", "cpu", "fp8", "int8", "offload")


class Budget:
    """The --minutes deadline: each part asks whether it may start, given a guess of what it costs."""

    def __init__(self, minutes: float) -> None:
        self.start, self.seconds = time.monotonic(), minutes * 60

    def left(self) -> float:
        """Seconds left."""
        return self.seconds - (time.monotonic() - self.start)

    def allows(self, guess_s: float) -> bool:
        """Whether a part expected to take `guess_s` seconds still fits."""
        return self.left() > guess_s


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the check, print one JSON object (or a table)."""
    parser = argparse.ArgumentParser(prog="python -m engine.gpucheck", description=__doc__)
    parser.add_argument("--model", default="tiny", help=f"tiny, a model folder or {RELEASE_RANDOM}")
    parser.add_argument("--profiles", default=None, help="comma-separated, e.g. bf16,fp8 (default: all that apply)")
    parser.add_argument("--minutes", type=float, default=10.0, help="finish within this many minutes (default 10)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compiled", choices=("auto", "on", "off"), default="auto",
                        help="time the compiled path too (auto: on CUDA only; on the CPU a compile takes minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    return run_cli(lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from .cli_common import quiet_libraries

    if not 0 < args.minutes <= 24 * 60:
        raise UsageError(f"--minutes must be more than 0 and at most 1440 (got {args.minutes}).")
    quiet_libraries()
    result = run_check(argv_text(args.model, "--model"), profiles=_profiles_arg(args.profiles),
                       minutes=args.minutes, device=argv_text(args.device, "--device"), compiled=args.compiled)
    print(json.dumps(result) if args.json else _table(result))
    return 0


def _profiles_arg(text: str | None) -> list[str] | None:
    from .load_profiles.load import PROFILES

    if text is None:
        return None
    names = [p.strip() for p in argv_text(text, "--profiles").split(",") if p.strip()]
    unknown = [p for p in names if p not in PROFILES]
    if unknown or not names:
        raise UsageError(f"--profiles: unknown {unknown[0]!r}; choose from {', '.join(PROFILES)}." if unknown else
                         "--profiles is empty; give e.g. bf16,fp8.")
    return names


def run_check(model: str, *, profiles: list[str] | None = None, minutes: float = 10.0, device: str = "auto",
              compiled: str = "auto") -> dict[str, Any]:
    """The whole check as a JSON-ready dict (see the module docstring)."""
    import torch

    from .load_profiles.load import device_name
    from .loading import pick_device

    budget = Budget(minutes)
    target = pick_device(device)
    small = target.type != "cuda" or model == "tiny"
    prompt_tokens, new_tokens = CPU_WORKLOAD if small else GPU_WORKLOAD
    chosen = profiles or list(CUDA_PROFILES if target.type == "cuda" else CPU_PROFILES)
    if "bf16" not in chosen:  # the reference for agreement
        chosen = ["bf16", *chosen]
    use_compiled = compiled == "on" or (compiled == "auto" and target.type == "cuda")
    report: dict[str, Any] = {
        "model": model, "device": str(target), "device_name": device_name(target), "versions": _versions(),
        "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "steps": list(STEPS),
        "scaled_down": small, "minutes": minutes,
        "compiled": "on" if use_compiled else "off (--compiled on to time it)",
        "profiles": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        source = _source(model, target, Path(tmp))
        reference: dict[str, Any] = {}
        for profile in chosen:
            if not budget.allows(reference.get("load_guess_s", 5.0)):
                report["profiles"].append({"profile": profile, "status": "skipped", "reason": "--minutes ran out"})
                continue
            row = _check_profile(source, profile, target, budget, reference, prompt_tokens, new_tokens, use_compiled)
            report["profiles"].append(row)
            if "load_seconds" in row:
                reference["load_guess_s"] = max(reference.get("load_guess_s", 5.0), 1.5 * row["load_seconds"] + 5)
            gc.collect()  # the EngineModel and its compiled path refer to each other
            if target.type == "cuda":
                torch.cuda.empty_cache()
    report["elapsed_s"] = round(time.monotonic() - budget.start, 2)
    report["within_minutes"] = report["elapsed_s"] <= minutes * 60
    return report


def _versions() -> dict[str, str | None]:
    import torch
    import transformers

    try:
        import torchao

        ao = torchao.__version__
    except ImportError:
        ao = None
    return {"torch": torch.__version__, "transformers": transformers.__version__, "torchao": ao,
            "cuda": torch.version.cuda}


def _source(model: str, target: Any, tmp: Path) -> Any:
    """A folder to load from (tiny is saved to `tmp`), or the release config for random weights."""
    if model == "tiny":
        from .tiny import save_tiny_model

        return save_tiny_model(tmp / "tiny", canvas_length=CPU_WORKLOAD[1])
    if model == RELEASE_RANDOM:
        if target.type != "cuda":
            raise UsageError(f"{RELEASE_RANDOM} needs a CUDA GPU (≈ 52 GB for bf16); use --model tiny on the CPU.")
        from .load_profiles.memory import release_config

        return release_config()
    from .loading import resolve_model_dir

    return resolve_model_dir(model)


def _check_profile(source: Any, profile: str, target: Any, budget: Budget, reference: dict[str, Any],
                   prompt_tokens: int, new_tokens: int, use_compiled: bool) -> dict[str, Any]:
    import torch

    from .gpucheck_runs import agreement, load_profile, time_generation

    row: dict[str, Any] = {"profile": profile}
    if target.type == "cuda":
        torch.cuda.reset_peak_memory_stats(target)
    try:
        em, seconds = load_profile(source, profile, target)
    except EngineError as exc:
        fits = type(exc).__name__ != "ProfileMemoryError"
        row.update(status="failed" if fits else "does not fit", reason=str(exc))
        return row
    row.update(status="ok", load_seconds=round(seconds, 2), **_memory(em, target))
    row["agreement_with_bf16"] = agreement(em, reference, profile, prompt_tokens)
    for kind in ("eager", "compiled"):
        if kind == "compiled" and not use_compiled:
            continue
        row[kind] = {}
        guess = FIRST_COMPILE_GUESS_S.get(target.type, 120.0) if kind == "compiled" else 10.0
        for steps in STEPS:
            if not budget.allows(guess):
                row[kind][str(steps)] = {"status": "skipped", "reason": f"--minutes ran out (needs ≈ {guess:.0f} s)"}
                continue
            warm_up = kind == "compiled" or steps == STEPS[0]
            timed = time_generation(em, steps, prompt_tokens, new_tokens, compiled=kind == "compiled",
                                    reference=reference, profile=profile, warm_up=warm_up)
            row[kind][str(steps)] = timed
            if timed.get("status") == "failed":
                break  # a compile that broke at 16 steps breaks at 48 too
            guess = 1.5 * timed["seconds"] * STEPS[-1] / steps
    if target.type == "cuda":
        row["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(target) / 2**30, 3)
    del em
    return row


def _memory(em: Any, target: Any) -> dict[str, Any]:
    import resource

    from .load_profiles.quantize import count_bytes

    count = count_bytes(em.model)
    out = {"weights_gb": round(count.total_bytes / 2**30, 4), "quantizable_ratio": round(count.quantizable_ratio, 4)}
    if em.profile == "offload":
        out["weights_note"] = "resident part only: the offloaded layers are in system RAM (or on disk beside a CPU)"
    if target.type != "cuda":  # the process's peak so far (Linux: KiB), not this profile's alone
        out["process_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return out


def _table(result: dict[str, Any]) -> str:
    lines = [f"{result['model']} on {result['device_name']} · prompt {result['prompt_tokens']} · "
             f"{result['new_tokens']} new tokens · {result['elapsed_s']} s"]
    for row in result["profiles"]:
        if row.get("status") != "ok":
            lines.append(f"  {row['profile']:8} {row.get('status')}: {row.get('reason', '')}")
            continue
        speeds = " ".join(f"{kind} {steps}:{row[kind][steps].get('tok_s', row[kind][steps].get('status'))}"
                          for kind in ("eager", "compiled") if kind in row for steps in row[kind])
        agree = row.get("agreement_with_bf16") or {}
        lines.append(f"  {row['profile']:8} load {row['load_seconds']} s · {row['weights_gb']} GB · {speeds} · "
                     f"cosine {agree.get('logits_cosine')}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
