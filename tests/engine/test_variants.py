"""Batched variants: one decoder forward per step for the batch, tagged events, each variant stopping on its own, and
a variant's ids depending only on its own prompt, seed and settings (batch == alone == `engine.generate`)."""

from __future__ import annotations

import threading

import pytest
import torch

from engine import CanvasDone, CanvasStart, Done, EngineModel, Frame, SamplerSettings, Variant, generate
from engine.drafting import VariantEvent, generate_variants
from engine.paths import demo_model_dir
from engine.tiny import tiny_engine_model

NO_EOS = 10_000


@pytest.fixture(scope="module")
def em() -> EngineModel:
    """A tiny random chat model with 32-token canvases and no EOS (every answer runs to its token budget)."""
    em = tiny_engine_model(seed=5, canvas_length=32)
    em.model.generation_config.eos_token_id = NO_EOS
    return em


@pytest.fixture(scope="module")
def demo() -> EngineModel:
    return EngineModel.from_pretrained(demo_model_dir())


def chat(em: EngineModel, text: str) -> list[int]:
    return em.chat_ids([{"role": "user", "content": text}])[0].tolist()


def mixed_variants(em: EngineModel) -> list[Variant]:
    """Different prompt lengths, seeds, step limits, temperatures and token budgets."""
    base = SamplerSettings(max_new_tokens=32 * 3, max_denoising_steps=6, seed=1)
    return [
        Variant(chat(em, "Hi"), base),
        Variant(chat(em, "A much longer question, so that the prompts need left padding"),
                base.with_(seed=2, max_denoising_steps=3, max_new_tokens=40)),
        Variant(chat(em, "Hi"), base.with_(seed=3, t_max=1.2, max_new_tokens=20)),
        Variant(chat(em, "Third"), base.with_(seed=4, max_denoising_steps=9, confidence_threshold=1e-9)),
    ]


def by_variant(events: list[VariantEvent], n: int) -> list[list]:
    out = [[] for _ in range(n)]
    for e in events:
        out[e.variant].append(e.event)
    return out


def test_each_variant_in_the_batch_equals_it_alone_and_engine_generate(em):
    variants = mixed_variants(em)
    events = list(generate_variants(em, variants))
    per = by_variant(events, len(variants))
    for i, v in enumerate(variants):
        done = per[i][-1]
        alone = [e.event for e in generate_variants(em, [v])]
        reference = list(generate(em, torch.tensor([v.prompt_ids]), v.settings))
        assert isinstance(done, Done) and done.stats.seed == v.settings.seed
        assert done.token_ids == alone[-1].token_ids == reference[-1].token_ids
        # Every frame, not only the result: the same canvases, drafts and accepted masks step by step.
        frames = [(f.canvas_index, f.step, f.canvas, f.draft, f.accepted) for f in per[i] if isinstance(f, Frame)]
        assert frames == [(f.canvas_index, f.step, f.canvas, f.draft, f.accepted)
                          for f in reference if isinstance(f, Frame)]
        assert [f for f in alone if isinstance(f, Frame)] != []


def test_events_are_tagged_and_every_variant_stops_on_its_own(em):
    variants = mixed_variants(em)
    per = by_variant(list(generate_variants(em, variants)), len(variants))
    for i, (v, events) in enumerate(zip(variants, per)):
        dones = [e for e in events if isinstance(e, Done)]
        assert len(dones) == 1 and events[-1] is dones[0]
        done = dones[0]
        assert len(done.token_ids) == v.settings.max_new_tokens and done.reason == "length"
        canvases = [e for e in events if isinstance(e, CanvasDone)]
        assert len(canvases) == done.stats.canvases == -(-v.settings.max_new_tokens // 32)
        assert sum(len(c.token_ids) for c in canvases) == len(done.token_ids)
        frames = [e for e in events if isinstance(e, Frame)]
        assert len(frames) == done.stats.decoder_forwards
        for c in canvases:
            steps = [f.step for f in frames if f.canvas_index == c.canvas_index]
            assert steps == list(range(1, c.steps + 1)) and c.steps <= v.settings.max_denoising_steps
        assert all(f.max_steps == v.settings.max_denoising_steps for f in frames)
        starts = [e for e in events if isinstance(e, CanvasStart)]
        assert [s.canvas_index for s in starts] == [c.canvas_index for c in canvases]
    # The variant with 9 fixed steps ran longer than the one limited to 3.
    assert per[3][-1].stats.decoder_forwards == 9 * 3 and per[1][-1].stats.decoder_forwards == 3 * 2


def test_same_seeds_same_events_and_seeds_matter(em):
    variants = mixed_variants(em)[:2]

    def frames(vs):
        events = generate_variants(em, vs)
        return [(e.variant, e.event.step, e.event.draft) for e in events if isinstance(e.event, Frame)]

    assert frames(variants) == frames(variants)
    reseeded = [Variant(v.prompt_ids, v.settings.with_(seed=v.settings.seed + 100)) for v in variants]
    assert frames(reseeded) != frames(variants)


def test_order_in_the_batch_does_not_change_a_variant(em):
    variants = mixed_variants(em)
    forward = {e.variant: e.event.token_ids for e in generate_variants(em, variants) if isinstance(e.event, Done)}
    backward = {len(variants) - 1 - e.variant: e.event.token_ids for e in generate_variants(em, variants[::-1])
                if isinstance(e.event, Done)}
    assert forward == backward


def test_demo_model_four_seeds_batched_equal_alone(demo):
    ids = chat(demo, "What is a canvas?")
    settings = SamplerSettings.for_model(demo, max_new_tokens=256)
    variants = [Variant(ids, settings.with_(seed=s)) for s in (1, 2, 3, 4)]
    batched = {e.variant: e.event for e in generate_variants(demo, variants, capture_frames=False)
               if isinstance(e.event, Done)}
    assert sorted(batched) == [0, 1, 2, 3]
    for i, v in enumerate(variants):
        alone = [e.event for e in generate_variants(demo, [v], capture_frames=False)][-1]
        assert batched[i].token_ids == alone.token_ids and batched[i].text == alone.text
        assert batched[i].reason == "eos" and batched[i].text


def test_cancel_ends_every_running_variant_with_a_cancelled_done(em):
    variants = mixed_variants(em)
    cancel = threading.Event()
    events = []
    for e in generate_variants(em, variants, cancel=cancel):
        events.append(e)
        if isinstance(e.event, Frame) and e.event.canvas_index == 1 and e.event.step == 2:
            cancel.set()
    per = by_variant(events, len(variants))
    assert all(sum(isinstance(x, Done) for x in evs) == 1 for evs in per)
    reasons = [evs[-1].reason for evs in per]
    assert reasons[2] == "length" and "cancelled" in reasons  # variant 2 (20 tokens) had finished already


def test_closing_the_generator_midway_leaves_the_model_usable_and_global_rng_untouched(em):
    variants = mixed_variants(em)
    rng = torch.get_rng_state()
    events = generate_variants(em, variants)
    for e in events:
        if isinstance(e.event, Frame):
            break
    events.close()
    assert torch.equal(rng, torch.get_rng_state())
    again = [e.event for e in generate_variants(em, variants[:1])][-1]
    reference = list(generate(em, torch.tensor([variants[0].prompt_ids]), variants[0].settings))[-1]
    assert again.token_ids == reference.token_ids


def test_invalid_variant_lists_are_refused(em):
    ok = SamplerSettings(max_new_tokens=8, max_denoising_steps=2, seed=1)
    with pytest.raises(ValueError, match="at least one"):
        list(generate_variants(em, []))
    with pytest.raises(ValueError, match="empty prompt"):
        list(generate_variants(em, [Variant([], ok)]))
    with pytest.raises(ValueError, match="vocabulary"):
        list(generate_variants(em, [Variant([1, em.vocab_size], ok)]))
    with pytest.raises(ValueError, match="at most"):
        list(generate_variants(em, [Variant([3], ok)] * 17))


def test_the_drafting_names_import_without_torch():
    import subprocess
    import sys

    code = ("import sys, engine, engine.drafting, engine.__main__; "
            "from engine import Variant, VariantEvent, SpanError, InfillStart; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_an_eos_beyond_the_token_budget_ends_for_length_alone_and_in_a_batch(demo):
    """The demo's help-desk answer is 58 characters + EOS in one canvas: a budget of 32 cuts it before its EOS, so
    the answer ended for "length" (the app then says it was cut); a budget past the EOS ends for "eos"."""
    ids = demo.chat_ids([{"role": "user", "content": "How do I export a chat?"}])
    eos = set(demo.eos_token_ids)
    for budget, reason in ((32, "length"), (256, "eos")):
        settings = SamplerSettings.for_model(demo, seed=3, max_new_tokens=budget)
        alone = [e for e in generate(demo, ids, settings) if isinstance(e, Done)][0]
        batched = [t.event for t in generate_variants(demo, [Variant(ids[0].tolist(), settings)])
                   if isinstance(t.event, Done)][0]
        for done in (alone, batched):
            assert done.reason == reason, (budget, done.reason, done.text)
            assert (done.token_ids[-1] in eos) == (reason == "eos") and len(done.token_ids) <= budget
        assert batched.token_ids == alone.token_ids
