"""Evaluation of the demo model: accuracy per skill and per turn index on held-out prompts.

`quick_eval` (used during training) batches prompts through transformers' own `generate`; `full_eval` (the
`--eval` command) runs one conversation at a time through `engine.generate`, with the checkpoint's default
sampler settings. Help-desk questions (skill f) are the held-out phrasings of `help_desk.EVAL_QUESTIONS`; the
other skills' prompts come from seeds disjoint from training's stream. A question at turn k follows k-1 earlier
turns (any skill, each with its reference answer as the model turn).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from .data import GENERATORS, SKILL_NAMES, SKILLS, Example, earlier_turns, help_desk, is_correct
from .tokenizer import PAD_ID, VOCAB_SIZE, CharCodec


def _gen_config(overrides: dict | None = None):
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import DiffusionGemmaGenerationConfig

    from .config import GENERATION_DEFAULTS

    cfg = json.loads(json.dumps(GENERATION_DEFAULTS))
    cfg.update(overrides or {})
    return DiffusionGemmaGenerationConfig(**cfg)


TURNS = (1, 2, 3, 4)
CONTEXT_MIX = {s: 1.0 for s in SKILLS}  # earlier turns in evaluated conversations: every skill alike


def fresh_examples(skill: str, n: int, seed: int) -> list[Example]:
    """`n` prompts of one skill from a seed disjoint from training's stream (help desk: held-out phrasings)."""
    rng = random.Random(f"eval-{seed}-{skill}")
    if skill == "f":
        return [help_desk(rng, held_out=True) for _ in range(n)]
    return [GENERATORS[skill](rng) for _ in range(n)]


def fresh_conversations(skill: str, n: int, seed: int, turn: int) -> list[tuple[tuple[Example, ...], Example]]:
    """`n` (earlier turns, question) pairs whose question is `skill`'s and comes at turn `turn` (1 = first)."""
    rng = random.Random(f"eval-ctx-{seed}-{skill}-{turn}")
    return [(earlier_turns(rng, CONTEXT_MIX, turn), ex) for ex in fresh_examples(skill, n, seed * 10 + turn)]


def messages_for(earlier: tuple[Example, ...], ex: Example) -> list[dict[str, str]]:
    """Chat messages of one evaluated conversation (earlier answers as assistant turns)."""
    out: list[dict[str, str]] = []
    for e in earlier:
        out += [{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.answer}]
    return out + [{"role": "user", "content": ex.prompt}]


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
    """Accuracy per skill on `n` fresh prompts each, half at turn 1 and half at turn 3 (batched; cheap enough to
    run during training).

    With `with_steps`, also the mean decoder passes per canvas ("steps") over all prompts.
    """
    codec = CharCodec(words=model.config.text_config.vocab_size > VOCAB_SIZE)
    gen_cfg = _gen_config(overrides)
    acc: dict[str, float] = {}
    steps: list[float] = []
    for skill in SKILLS:
        convs = [c for turn in (1, 3) for c in fresh_conversations(skill, (n + 1) // 2, seed, turn)]
        prompts = [codec.chat_prefix([(m["role"].replace("assistant", "model"), m["content"])
                                      for m in messages_for(*c)]) for c in convs]
        outs, passes = batch_generate(model, prompts, gen_cfg, seed)
        steps += passes
        if with_steps:
            acc[f"steps_{skill}"] = sum(passes) / len(passes)
        acc[skill] = sum(is_correct(ex, _reply(codec, o)) for (_, ex), o in zip(convs, outs)) / len(convs)
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
    model_dir: Path, n: int = 50, threads: int = 1, overrides: dict | None = None, skills: str = "abcdef"
) -> dict:
    """Print and return accuracy per skill and per turn index (`n` held-out conversations per skill and turn),
    reversal by word count, mean steps per canvas, load + first answer and seconds per answer.

    Runs through `engine.generate` (batch 1, the app's code path) with the checkpoint's default settings.
    """
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    from engine import EngineModel, SamplerSettings

    em = EngineModel.from_pretrained(model_dir, device="cpu")
    # The model's own max_new_tokens (256 = one canvas): answers are one canvas by design, and a wrong answer
    # without EOS would otherwise run on for the engine's chat default of 1024 tokens.
    settings = SamplerSettings.for_model(em, **{"max_new_tokens": 256, **(overrides or {})})
    first, _ = _engine_answer(em, [{"role": "user", "content": "Reverse: apple"}], seed=0, settings=settings)
    load_first_s = time.perf_counter() - t0
    print(f"load + first answer: {load_first_s:.2f} s ({first!r}); {threads} thread(s)", flush=True)
    print(f"settings: {settings.as_dict()}", flush=True)
    table: dict[str, dict[int, float]] = {}
    by_words: dict[int, list[int]] = {}
    all_steps: list[int] = []
    seconds: list[float] = []
    for skill in [s for s in SKILLS if s in skills]:
        table[skill] = {}
        misses = 0
        for turn in TURNS:
            ok = 0
            for i, (earlier, ex) in enumerate(fresh_conversations(skill, n, seed=99, turn=turn)):
                t_answer = time.perf_counter()
                reply, steps = _engine_answer(em, messages_for(earlier, ex), seed=i, settings=settings)
                seconds.append(time.perf_counter() - t_answer)
                all_steps += steps
                good = is_correct(ex, reply)
                ok += good
                if skill == "c":
                    by_words.setdefault(len(ex.prompt.split()) - 1, []).append(int(good))
                if not good and misses < 4:  # a few misses per skill, to see the failure mode
                    misses += 1
                    print(f"  [{skill} turn {turn}] miss: {ex.prompt!r} -> {reply!r} (want {ex.answer!r})", flush=True)
            table[skill][turn] = ok / n
        row = "  ".join(f"turn {t}: {100 * a:5.1f} %" for t, a in table[skill].items())
        print(f"skill {skill} {SKILL_NAMES[skill]:<16} {row}  all: {100 * _mean(table[skill].values()):5.1f} %",
              flush=True)
    first_turn = _mean(t[1] for t in table.values())
    follow_up = _mean(a for t in table.values() for k, a in t.items() if k > 1)
    print(f"first turns {100 * first_turn:.1f} %, follow-up turns {100 * follow_up:.1f} % "
          f"(difference {100 * (first_turn - follow_up):+.1f} points)", flush=True)
    if by_words:
        print("reverse by words: " + ", ".join(f"{k}: {100 * _mean(v):.1f} % of {len(v)}"
                                              for k, v in sorted(by_words.items())), flush=True)
    mean_steps = _mean(all_steps)
    per_answer = _mean(seconds)
    print(f"mean denoising steps per canvas: {mean_steps:.2f} over {len(all_steps)} canvases; "
          f"{per_answer:.3f} s per answer (slowest {max(seconds, default=0):.3f} s) on {threads} thread(s)", flush=True)
    return {"skills": table, "first_turn": first_turn, "follow_up": follow_up,
            "reverse_by_words": {k: _mean(v) for k, v in by_words.items()}, "mean_steps": mean_steps,
            "load_first_s": load_first_s, "s_per_answer": per_answer, "threads": threads}


def _mean(values) -> float:
    values = list(values)
    return sum(values) / max(1, len(values))
