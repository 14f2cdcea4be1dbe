"""`python -m engine.bench_cpu [--answers N] [--burners K] [--json]`: the demo model's answer time on a quiet CPU
and while K other processes keep every core busy, in one run — the app's thread count against torch's default.

The worker sets its torch thread count with `set_cpu_threads` (physical cores − 1); torch's own default is one
thread per logical CPU, whose threads wait for each other at every operation once another program holds a core.
Burners are plain `while True: pass` processes, stopped before the command exits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from .cli_common import quiet_libraries, run_cli

PROMPT = "Hello! Who are you?"
TORCH_DEFAULT = -1  # one thread per logical CPU, as torch starts


def _answer_times(threads: int | None, answers: int) -> tuple[int, list[float]]:
    """Seconds per answer with `threads` torch threads (None: the app's default; or TORCH_DEFAULT), in a fresh
    thread like the worker's (OpenMP keeps the count per thread)."""
    result: dict = {}

    def work() -> None:
        import torch

        from . import EngineModel, SamplerSettings, generate
        from .cpu_threads import set_cpu_threads
        from .paths import demo_model_dir

        if threads == TORCH_DEFAULT:
            torch.set_num_threads(os.cpu_count() or 1)
            used = torch.get_num_threads()
        else:
            used = set_cpu_threads(threads)
        em = EngineModel.from_pretrained(demo_model_dir(), device="cpu")
        settings = SamplerSettings.for_model(em)
        ids = em.chat_ids([{"role": "user", "content": PROMPT}])
        for _ in generate(em, ids, settings.with_(seed=0)):  # warm-up
            pass
        times = []
        for seed in range(answers):
            start = time.perf_counter()
            for _ in generate(em, ids, settings.with_(seed=seed)):
                pass
            times.append(time.perf_counter() - start)
        result.update(threads=used, times=times)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return result["threads"], result["times"]


def measure(answers: int, burners: int, with_torch_default: bool) -> dict:
    """Quiet and busy medians for the app's thread count (and torch's default under load, when asked)."""
    threads, quiet = _answer_times(None, answers)
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        time.sleep(0.5)  # let the scheduler see the burners before timing
        _, busy = _answer_times(None, answers)
        default = _answer_times(TORCH_DEFAULT, max(1, answers // 2)) if with_torch_default else None
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    out = {
        "threads": threads, "burners": burners, "answers": answers,
        "quiet_median_s": round(statistics.median(quiet), 3), "busy_median_s": round(statistics.median(busy), 3),
    }
    out["busy_over_quiet"] = round(out["busy_median_s"] / out["quiet_median_s"], 2)
    if default is not None:
        out["torch_default_threads"] = default[0]
        out["torch_default_busy_median_s"] = round(statistics.median(default[1]), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.bench_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=5, help="answers timed per condition (default 5)")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="busy processes (default: CPUs)")
    parser.add_argument("--torch-default", action="store_true",
                        help="also time torch's default thread count under load (can take minutes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    def body() -> int:
        quiet_libraries()
        out = measure(max(1, args.answers), max(0, args.burners), args.torch_default)
        if args.json:
            print(json.dumps(out))
        else:
            for key, value in out.items():
                print(f"{key:>28}: {value}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
