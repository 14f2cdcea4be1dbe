"""The compiled path in `python -m engine.bench --compiled`: first answer, warm tok/s, graphs, and a warm start.

The warm start runs in a fresh process (`python -m engine.compiled_bench ...`, which prints one JSON object): it
builds the compiled path again, reusing the artifacts the first answer persisted under `<cache>/compile`, and
times its first answer — what the app pays on its next launch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from .cli_common import run_cli


def bench_compiled(em: Any, ids: Any, settings: Any, *, runs: int, model: str, device: str,
                   threads: int | None = None) -> dict:
    """Time the compiled path: first answer (compile, or load persisted artifacts), median of `runs`, warm start."""
    max_cache_len = compiled_cache_len(em, ids.shape[1], settings.max_new_tokens)
    start = time.perf_counter()
    em.enable_compiled(max_cache_len=max_cache_len)
    found = em.compiled.artifacts_loaded
    _, tokens = _timed(em, ids, settings)
    first_s = time.perf_counter() - start
    compiles_first = em.compiled.compiles
    times = [_timed(em, ids, settings)[0] for _ in range(runs)]
    warm = warm_start(model, device, ids.shape[1], settings, threads=threads)
    return {
        "compiles": em.compiled.compiles,
        "compiles_after_first_answer": compiles_first,
        "first_answer_s": round(first_s, 2),
        "compiled_first_run_s": round(first_s, 2),
        "artifacts_found_at_start": found,
        "compiled_tok_s": round(tokens / statistics.median(times), 2),
        "compiled_seconds": [round(t, 4) for t in times],
        "warm_start_s": warm.get("warm_start_s"),
        "warm_start_compiles": warm.get("compiles"),
        "warm_start_artifacts_loaded": warm.get("artifacts_loaded"),
        "warm_start_process_s": warm.get("process_s"),
        "warm_start_fx_graph_cache_hits": warm.get("fx_graph_cache_hits"),
        "warm_start_fx_graph_cache_misses": warm.get("fx_graph_cache_misses"),
    }


def compiled_cache_len(em: Any, prompt_tokens: int, max_new_tokens: int) -> int:
    """A static cache that holds the prompt and every canvas of the answer (at least 1024)."""
    needed = prompt_tokens + -(-max_new_tokens // em.canvas_length) * em.canvas_length
    return max(needed, 1024)


def warm_start(model: str, device: str, prompt_tokens: int, settings: Any, *, threads: int | None = None) -> dict:
    """Run the first compiled answer in a fresh process; its JSON, plus the process's wall time."""
    command = [sys.executable, "-m", "engine.compiled_bench", "--model", model, "--device", device,
               "--prompt-tokens", str(prompt_tokens), "--new-tokens", str(settings.max_new_tokens),
               "--steps", str(settings.max_denoising_steps), "--seed", str(settings.seed or 0)]
    if threads:
        command += ["--threads", str(threads)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"warm-start process failed ({done.returncode}): {tail[0]}", "process_s": round(wall, 2)}
    result = json.loads(lines[-1])
    result["process_s"] = round(wall, 2)
    return result


def _timed(em: Any, ids: Any, settings: Any) -> tuple[float, int]:
    import torch

    from .generation import generate

    if em.device.type == "cuda":
        torch.cuda.synchronize(em.device)
    start = time.perf_counter()
    done = list(generate(em, ids, settings))[-1]
    if em.device.type == "cuda":
        torch.cuda.synchronize(em.device)
    return time.perf_counter() - start, len(done.token_ids)


def main(argv: list[str] | None = None) -> int:
    """The warm-start child: load, build the compiled path from persisted artifacts, time one answer."""
    parser = argparse.ArgumentParser(prog="python -m engine.compiled_bench", description=main.__doc__)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--prompt-tokens", type=int, required=True)
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    return run_cli(lambda: _child(args))


def _child(args: argparse.Namespace) -> int:
    import torch

    from .bench_setup import bench_prompt, load_bench_model
    from .settings import SamplerSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    em = load_bench_model(args.model, args.device)
    settings = SamplerSettings.for_model(em, max_new_tokens=args.new_tokens, max_denoising_steps=args.steps,
                                         seed=args.seed, confidence_threshold=1e-12)
    ids = bench_prompt(em, args.prompt_tokens)
    start = time.perf_counter()
    em.enable_compiled(max_cache_len=compiled_cache_len(em, ids.shape[1], settings.max_new_tokens))
    _timed(em, ids, settings)
    from torch._dynamo.utils import counters

    inductor = counters["inductor"]
    print(json.dumps({"warm_start_s": round(time.perf_counter() - start, 2), "compiles": em.compiled.compiles,
                      "artifacts_loaded": em.compiled.artifacts_loaded,
                      "fx_graph_cache_hits": inductor["fxgraph_cache_hit"],
                      "fx_graph_cache_misses": inductor["fxgraph_cache_miss"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
