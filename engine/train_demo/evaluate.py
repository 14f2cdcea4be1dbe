"""Evaluation of the demo model: exact match per skill on freshly generated prompts.

`quick_eval` (used during training) batches prompts through transformers' own `generate`; `full_eval` (the
`--eval` command) runs one prompt at a time through `engine.generate` when the engine is importable, else
through transformers' `generate`, with the checkpoint's default sampler settings.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from .data import GENERATORS, SKILLS, Example, is_correct
from .tokenizer import PAD_ID, VOCAB_SIZE, CharCodec


def _gen_config(overrides: dict | None = None):
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import DiffusionGemmaGenerationConfig

    from .config import GENERATION_DEFAULTS

    cfg = json.loads(json.dumps(GENERATION_DEFAULTS))
    cfg.update(overrides or {})
    return DiffusionGemmaGenerationConfig(**cfg)


def fresh_examples(skill: str, n: int, seed: int) -> list[Example]:
    """`n` prompts of one skill from a seed disjoint from training's stream."""
    rng = random.Random(f"eval-{seed}-{skill}")
    return [GENERATORS[skill](rng) for _ in range(n)]


@torch.no_grad()
def batch_generate(model, prompts: list[list[int]], gen_cfg, seed: int) -> tuple[list[list[int]], list[float]]:
    """Left-padded batched transformers `generate`; returns new token ids and decoder passes per row."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    torch.manual_seed(seed)
    out = model.generate(ids, attention_mask=mask, generation_config=gen_cfg)
    new = out.sequences[:, width:]
    valid = (new != PAD_ID).sum(-1).float()
    passes = (valid / out.tokens_per_forward.float()).tolist()
    return new.tolist(), passes


def quick_eval(model, n: int, seed: int, overrides: dict | None = None, with_steps: bool = False) -> dict[str, float]:
    """Accuracy per skill on `n` fresh prompts each (batched; cheap enough to run during training).

    With `with_steps`, also the mean decoder passes per canvas ("steps") over all prompts.
    """
    codec = CharCodec(words=model.config.text_config.vocab_size > VOCAB_SIZE)
    gen_cfg = _gen_config(overrides)
    acc: dict[str, float] = {}
    steps: list[float] = []
    for skill in SKILLS:
        exs = fresh_examples(skill, n, seed)
        prompts = [codec.chat_prefix([("user", ex.prompt)]) for ex in exs]
        outs, passes = batch_generate(model, prompts, gen_cfg, seed)
        steps += passes
        if with_steps:
            acc[f"steps_{skill}"] = sum(passes) / len(passes)
        acc[skill] = sum(is_correct(ex, _reply(codec, o)) for ex, o in zip(exs, outs)) / n
    if with_steps:
        acc["steps"] = sum(steps) / len(steps)
    return acc


def _reply(codec: CharCodec, ids: list[int]) -> str:
    """Text up to the first EOS / end-of-turn id."""
    from .tokenizer import EOS_ID, TURN_CLOSE_ID

    cut = [i for i, t in enumerate(ids) if t in (EOS_ID, TURN_CLOSE_ID)]
    return codec.decode(ids[: cut[0]] if cut else ids)


def _engine_answer(em, messages: list[dict[str, str]], seed: int, settings=None) -> tuple[str, list[int]]:
    """One reply through `engine.generate`; returns (text, steps per canvas)."""
    from engine import CanvasDone, Done, SamplerSettings, generate

    settings = settings or SamplerSettings.for_model(em)
    steps: list[int] = []
    text = ""
    for event in generate(em, em.chat_ids(messages), settings.with_(seed=seed), capture_frames=False):
        if isinstance(event, CanvasDone):
            steps.append(event.steps)
        elif isinstance(event, Done):
            text = event.text
    return text, steps


def full_eval(
    model_dir: Path, n: int = 200, threads: int = 2, overrides: dict | None = None, skills: str = "abcde"
) -> dict[str, float]:
    """Print exact match per skill on `n` fresh prompts each, mean steps per canvas and load+first-answer time.

    Runs through `engine.generate` (batch 1, the app's code path) with the checkpoint's default settings.
    """
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    from engine import EngineModel, SamplerSettings

    em = EngineModel.from_pretrained(model_dir, device="cpu")
    # The model's own max_new_tokens (256 = one canvas): answers are one canvas by design, and a wrong answer
    # without EOS would otherwise run on for the engine's chat default of 1024 tokens.
    settings = SamplerSettings.for_model(em, **{"max_new_tokens": 256, **(overrides or {})})
    first, _ = _engine_answer(em, [{"role": "user", "content": "What is 12 + 34?"}], seed=0, settings=settings)
    load_first_s = time.perf_counter() - t0
    print(f"load + first answer: {load_first_s:.2f} s ({first!r})", flush=True)
    print(f"settings: {settings.as_dict()}", flush=True)
    results: dict[str, float] = {}
    all_steps: list[int] = []
    t_gen = time.perf_counter()
    for skill in [s for s in SKILLS if s in skills]:
        exs = fresh_examples(skill, n, seed=99)
        ok, misses, skill_steps = 0, 0, []
        for i, ex in enumerate(exs):
            reply, steps = _engine_answer(em, [{"role": "user", "content": ex.prompt}], seed=i, settings=settings)
            skill_steps += steps
            good = is_correct(ex, reply)
            ok += good
            if not good and misses < 3:  # a few misses per skill, to see the failure mode
                misses += 1
                print(f"  [{skill}] miss: {ex.prompt!r} -> {reply!r} (want {ex.answer!r})", flush=True)
        all_steps += skill_steps
        results[skill] = ok / n
        print(f"skill {skill}: {ok}/{n} = {100 * ok / n:.1f} %  "
              f"(mean steps per canvas {sum(skill_steps) / max(1, len(skill_steps)):.2f})", flush=True)
    mean_steps = sum(all_steps) / max(1, len(all_steps))
    answers = n * len(results)
    per_answer = (time.perf_counter() - t_gen) / max(1, answers)
    print(f"mean denoising steps per canvas: {mean_steps:.2f} over {len(all_steps)} canvases; "
          f"canvases per answer {len(all_steps) / max(1, answers):.2f}; {per_answer:.3f} s per answer", flush=True)
    results.update({"mean_steps": mean_steps, "load_first_s": load_first_s})
    return results
