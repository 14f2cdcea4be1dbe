"""◆ `python -m engine.bench`: the engine against transformers' own `generate`, same model and seed, one run.

Prints tok/s of each (median of `--runs` timed runs after a warm-up, alternating order), their ratio, whether the
tokens match, the cost of capturing frames (fastest frames-on vs fastest frames-off run), multi-turn reuse
(time to first frame of a follow-up turn with and without the session's cache), and `batch4_speedup`: 4 seeds
denoised as one batch vs the same 4 one after another (engine/drafting/bench.py; `--no-batch` skips it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .bench_setup import RELEASE_RANDOM, bench_prompt, check_bench_fits, load_bench_model
from .cli_common import argv_text, run_cli, safe_text
from .errors import UsageError
from .settings import SamplerSettings

if TYPE_CHECKING:  # torch loads inside the functions, after run_cli has checked OMP_NUM_THREADS & co.
    import torch

    from .loading import EngineModel



@dataclass
class Timing:
    seconds: float
    token_ids: list[int]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help=f"tiny, a model folder, or {RELEASE_RANDOM} (CUDA)")
    parser.add_argument("--steps", type=int, default=16, help="denoising steps per canvas (fixed: no early stop)")
    parser.add_argument("--prompt-tokens", type=int, default=None, help="prompt length (default 128, 512 on CUDA)")
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compiled", action="store_true",
                        help="also time the compiled path: compiles, first answer, warm start in a fresh process")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--no-batch", action="store_true", help="skip batch4_speedup (4 seeds batched vs in turn)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return run_cli(lambda: _bench(args))


def _bench(args: argparse.Namespace) -> int:
    import torch

    for name, value, low in (("--steps", args.steps, 1), ("--new-tokens", args.new_tokens, 1), ("--runs", args.runs, 1),
                             ("--prompt-tokens", args.prompt_tokens, 1), ("--threads", args.threads, 1)):
        if value is not None and value < low:
            raise UsageError(f"{name} must be at least {low} (got {value}).")
    if args.threads:
        torch.set_num_threads(args.threads)

    em = load_bench_model(argv_text(args.model, "--model"), argv_text(args.device, "--device"))
    prompt_tokens = args.prompt_tokens or (512 if em.device.type == "cuda" else 128)
    check_bench_fits(em, prompt_tokens, args.new_tokens)
    # A confidence threshold no canvas reaches keeps the step count fixed, so both sides do the same work.
    settings = SamplerSettings.for_model(
        em, max_new_tokens=args.new_tokens, max_denoising_steps=args.steps, seed=args.seed,
        confidence_threshold=1e-12,
    )
    ids = bench_prompt(em, prompt_tokens)

    result = run_bench(em, ids, settings, runs=args.runs)
    if not args.no_batch:
        from .drafting.bench import batch_speedup

        result.update(batch_speedup(em, ids, settings, runs=args.runs))
    result.update(model=args.model, device=_device_name(em), steps=args.steps, prompt_tokens=prompt_tokens,
                  new_tokens=args.new_tokens, runs=args.runs)
    if args.compiled:
        from .compiled_bench import bench_compiled

        result.update(bench_compiled(em, ids, settings, runs=args.runs, model=args.model, device=args.device,
                                     threads=args.threads))
    _print(result, as_json=args.json)
    return 0


def run_bench(em: EngineModel, ids: torch.Tensor, settings: SamplerSettings, *, runs: int) -> dict:
    """Warm up once each, then `runs` rounds of reference / engine (frames on) / engine (frames off)."""
    _reference(em, ids, settings)
    _engine(em, ids, settings, frames=True)
    ref, on, off = [], [], []
    for i in range(runs):
        order = [("ref", ref), ("on", on), ("off", off)]
        for name, bucket in order if i % 2 == 0 else reversed(order):
            if name == "ref":
                bucket.append(_reference(em, ids, settings))
            else:
                bucket.append(_engine(em, ids, settings, frames=name == "on"))
    tokens = len(on[0].token_ids)
    t_ref = statistics.median(t.seconds for t in ref)
    t_on = statistics.median(t.seconds for t in on)
    t_off = statistics.median(t.seconds for t in off)
    return {
        "engine_tok_s": round(tokens / t_on, 2),
        "engine_frames_off_tok_s": round(tokens / t_off, 2),
        "reference_tok_s": round(len(ref[0].token_ids) / t_ref, 2),
        "ratio": round(t_ref / t_on * tokens / max(1, len(ref[0].token_ids)), 3),
        "tokens_match": all(t.token_ids == ref[0].token_ids for t in ref + on + off),
        # Fastest run of each (the least disturbed by other work): a few-% effect drowns in median noise here.
        "frame_overhead_pct": round((min(t.seconds for t in on) / min(t.seconds for t in off) - 1) * 100, 2),
        "tokens": tokens,
        "engine_seconds": [round(t.seconds, 4) for t in on],
        "reference_seconds": [round(t.seconds, 4) for t in ref],
        "frames_off_seconds": [round(t.seconds, 4) for t in off],
        **_multi_turn(em, ids, settings),
    }


def _reference(em: EngineModel, ids: torch.Tensor, settings: SamplerSettings) -> Timing:
    import torch

    _sync(em)
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    out = em.model.generate(ids, **settings.generate_kwargs())
    _sync(em)
    seconds = time.perf_counter() - start
    return Timing(seconds, trim_like_engine(em, out.sequences[0, ids.shape[1]:].tolist(), settings.max_new_tokens))


def _engine(em: EngineModel, ids: torch.Tensor, settings: SamplerSettings, *, frames: bool) -> Timing:
    from .generation import generate

    _sync(em)
    start = time.perf_counter()
    done = list(generate(em, ids, settings, capture_frames=frames))[-1]
    _sync(em)
    return Timing(time.perf_counter() - start, done.token_ids)


def _multi_turn(em: EngineModel, ids: torch.Tensor, settings: SamplerSettings) -> dict:
    """Time to first frame of a follow-up turn: with the session's cache vs. encoding the whole history again."""
    from .session import ChatSession

    session = ChatSession(em)
    first = list(session.send_ids(ids[0].tolist(), settings))[-1]
    follow_up = ids[0].tolist() + first.token_ids + ids[0, :16].tolist()
    reused = list(session.send_ids(follow_up, settings))[-1]
    fresh = list(ChatSession(em).send_ids(follow_up, settings))[-1]
    return {
        "turn1_ttft_s": round(first.stats.ttft_s, 4),
        "turn2_ttft_s": round(reused.stats.ttft_s, 4),
        "turn2_ttft_without_reuse_s": round(fresh.stats.ttft_s, 4),
        "turn2_cached_tokens": reused.stats.cached_tokens,
        "turn2_prompt_tokens": reused.stats.prompt_tokens,
        "turn2_tokens_match_fresh": reused.token_ids == fresh.token_ids,
    }


def trim_like_engine(em: EngineModel, ids: list[int], budget: int) -> list[int]:
    """Reference output cut the way the engine reports it: up to and including the first EOS, then the budget."""
    eos = set(em.eos_token_ids)
    for i, token in enumerate(ids):
        if token in eos:
            return ids[: i + 1][:budget]
    return ids[:budget]


def _sync(em: EngineModel) -> None:
    import torch

    if em.device.type == "cuda":
        torch.cuda.synchronize(em.device)


def _device_name(em: EngineModel) -> str:
    import torch

    if em.device.type == "cuda":
        return torch.cuda.get_device_name(em.device)
    return f"cpu ({torch.get_num_threads()} threads)"


def _print(result: dict, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    print(f"model {safe_text(result['model'], newlines=False)} on {safe_text(result['device'], newlines=False)} · "
          f"{result['steps']} steps/canvas · "
          f"prompt {result['prompt_tokens']} · {result['tokens']} new tokens · median of {result['runs']}")
    print(f"  engine     {result['engine_tok_s']:10.1f} tok/s  (frames off {result['engine_frames_off_tok_s']:.1f})")
    print(f"  reference  {result['reference_tok_s']:10.1f} tok/s  (transformers generate)")
    print(f"  ratio      {result['ratio']:10.3f}   tokens match: {result['tokens_match']}")
    print(f"  frame overhead {result['frame_overhead_pct']:.2f} %")
    print(f"  turn 2 first frame {result['turn2_ttft_s'] * 1000:.0f} ms with reuse "
          f"({result['turn2_cached_tokens']} cached) vs {result['turn2_ttft_without_reuse_s'] * 1000:.0f} ms without")
    if "batch4_speedup" in result:
        print(f"  4 seeds batched {result['batch4_batched_s']:.2f} s vs one after another "
              f"{result['batch4_sequential_s']:.2f} s = {result['batch4_speedup']:.2f}x  "
              f"(tokens match: {result['batch4_tokens_match']})")
    for key in ("compiled_tok_s", "compiles", "first_answer_s", "warm_start_s"):
        if key in result:
            print(f"  {key} {result[key]}")


if __name__ == "__main__":
    sys.exit(main())
