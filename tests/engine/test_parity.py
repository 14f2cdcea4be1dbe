"""With a seed on CPU the engine yields exactly transformers' `generate` tokens, trimmed the same way."""

from __future__ import annotations

import pytest

from engine import CanvasDone, EngineModel, Frame, SamplerSettings
from engine.tiny import tiny_model
from tests.engine.helpers import prompt, reference_ids, run

# DiffusionGemma is always MoE: vary experts/top-k, sliding windows shorter than the prompt, canvas sizes.
CONFIGS = {
    "canvas256-e4k2-window64": dict(num_experts=4, top_k_experts=2, sliding_window=64, canvas_length=256),
    "canvas32-e8k1-window16": dict(
        num_experts=8, top_k_experts=1, sliding_window=16, canvas_length=32, num_hidden_layers=3,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
    ),
    "canvas64-e16k4-window8": dict(num_experts=16, top_k_experts=4, sliding_window=8, canvas_length=64, hidden_size=32),
}
NO_EOS = 10_000  # an id outside the vocabulary: generation runs through every canvas


def make_em(name: str, eos: int | list[int] = NO_EOS) -> EngineModel:
    em = EngineModel.wrap(tiny_model(seed=3, **CONFIGS[name]))
    em.model.generation_config.eos_token_id = eos
    return em


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_several_canvases_match_reference_with_budget_not_a_multiple_of_the_canvas(name):
    em = make_em(name)
    budget = em.canvas_length * 2 + em.canvas_length // 3
    settings = SamplerSettings(max_new_tokens=budget, max_denoising_steps=6, seed=11)
    ids = prompt(100)  # longer than every sliding window above
    events, done = run(em, ids, settings)

    assert done.token_ids == reference_ids(em, ids, settings)
    assert len(done.token_ids) == settings.max_new_tokens
    assert done.reason == "length"
    canvases = [e for e in events if isinstance(e, CanvasDone)]
    assert [c.canvas_index for c in canvases] == [0, 1, 2]
    assert [t for c in canvases for t in c.token_ids] == done.token_ids


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_eos_inside_a_canvas_stops_there_like_the_reference(name):
    free = make_em(name)
    settings = SamplerSettings(max_new_tokens=em_len(free) * 3, max_denoising_steps=6, seed=4)
    ids = prompt(40, seed=2)
    _, free_done = run(free, ids, settings)
    # Choose an EOS that first appears in the middle of the second canvas of the free-running answer.
    position = next(
        i for i in range(em_len(free) + em_len(free) // 3, em_len(free) * 2)
        if free_done.token_ids[i] not in free_done.token_ids[:i]
    )
    eos_id = free_done.token_ids[position]
    em = make_em(name, eos=[eos_id, NO_EOS])

    events, done = run(em, ids, settings)

    assert done.token_ids == reference_ids(em, ids, settings)
    assert done.reason == "eos"
    assert done.token_ids[-1] == eos_id and len(done.token_ids) == position + 1
    assert sum(isinstance(e, CanvasDone) for e in events) == 2


def em_len(em: EngineModel) -> int:
    return em.canvas_length


def test_frames_carry_every_step_of_every_canvas():
    em = make_em("canvas32-e8k1-window16")
    settings = SamplerSettings(max_new_tokens=64, max_denoising_steps=5, seed=1, confidence_threshold=1e-9)
    events, done = run(em, prompt(10), settings)
    frames = [e for e in events if isinstance(e, Frame)]

    assert [(f.canvas_index, f.step) for f in frames] == [(c, s) for c in range(2) for s in range(1, 6)]
    for f in frames:
        assert f.max_steps == 5
        assert len(f.canvas) == len(f.draft) == len(f.accepted) == len(f.entropy) == 32
        assert all(0 <= t < em.vocab_size for t in f.canvas + f.draft)
        assert all(e >= 0 for e in f.entropy)
        # accepted positions keep the sampled token; the sampler accepts at least the lowest-entropy one
        assert f.accepted_count >= 1
    # the committed canvas is the last frame's draft
    last_of_first = [f for f in frames if f.canvas_index == 0][-1]
    assert done.token_ids[:32] == last_of_first.draft
    assert done.stats.decoder_forwards == 10
    assert done.stats.tokens_per_forward == pytest.approx(64 / 10)


def test_adaptive_stop_ends_a_canvas_early_and_matches_reference():
    em = make_em("canvas32-e8k1-window16")
    # No stability requirement and a generous confidence threshold: the rule fires after the first step.
    settings = SamplerSettings(
        max_new_tokens=32, max_denoising_steps=20, seed=2, stability_threshold=0, confidence_threshold=100.0
    )
    events, done = run(em, prompt(10), settings)
    frames = [e for e in events if isinstance(e, Frame)]
    assert len(frames) == 1
    assert done.token_ids == reference_ids(em, prompt(10), settings)


def test_same_seed_same_tokens_and_seed_is_reported():
    em = make_em("canvas32-e8k1-window16")
    settings = SamplerSettings(max_new_tokens=32, max_denoising_steps=4, seed=123)
    _, a = run(em, prompt(10), settings)
    _, b = run(em, prompt(10), settings)
    _, c = run(em, prompt(10), settings.with_(seed=None))
    assert a.token_ids == b.token_ids
    assert a.stats.seed == 123 and isinstance(c.stats.seed, int)
