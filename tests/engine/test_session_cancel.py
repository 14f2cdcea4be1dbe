"""Cancel between steps; multi-turn KV reuse that keeps the parity rules; thought spans folded out."""

from __future__ import annotations

import copy
import threading

import torch

from engine import CanvasDone, Done, EngineModel, Frame, SamplerSettings, generate
from engine.session import ChatSession
from engine.tiny import tiny_model
from tests.engine.helpers import prompt, reference_ids, run

NO_EOS = 10_000


def make_em(**config) -> EngineModel:
    config.setdefault("canvas_length", 32)
    em = EngineModel.wrap(tiny_model(seed=5, **config))
    em.model.generation_config.eos_token_id = NO_EOS
    return em


def test_cancel_takes_effect_within_one_step_and_keeps_committed_canvases():
    em = make_em()
    settings = SamplerSettings(max_new_tokens=32 * 4, max_denoising_steps=6, seed=3, confidence_threshold=1e-9)
    cancel = threading.Event()
    events = []
    for event in generate(em, prompt(12), settings, cancel=cancel):
        events.append(event)
        if isinstance(event, Frame) and event.canvas_index == 1 and event.step == 3:
            cancel.set()
    done = events[-1]
    frames_after_cancel = events[events.index(next(e for e in events if isinstance(e, Frame) and e.canvas_index == 1
                                                       and e.step == 3)) + 1 : -1]

    assert isinstance(done, Done) and done.reason == "cancelled"
    assert frames_after_cancel == []  # the next step never ran
    first = next(e for e in events if isinstance(e, CanvasDone))
    assert done.token_ids == first.token_ids and len(done.token_ids) == 32
    assert done.text == first.text


def test_cancel_before_start_yields_done_with_nothing():
    em = make_em()
    cancel = threading.Event()
    cancel.set()
    events, done = run(em, prompt(5), SamplerSettings(max_new_tokens=32, max_denoising_steps=3, seed=1), cancel=cancel)
    assert events == [done] and done.reason == "cancelled" and done.token_ids == []


def test_second_turn_encodes_only_new_tokens_and_matches_reference_with_that_cache():
    em = make_em(sliding_window=128)
    session = ChatSession(em)
    settings = SamplerSettings(max_new_tokens=32 * 2 + 5, max_denoising_steps=5, seed=9)
    turn1 = prompt(30, seed=4)[0].tolist()
    first = list(session.send_ids(turn1, settings))[-1]
    assert first.stats.cached_tokens == 0 and first.stats.prompt_tokens == 30
    # The cache holds the prompt and every canvas but the last (the last is never encoded).
    assert session.cached_tokens == 30 + 32 * 2

    turn2 = turn1 + first.token_ids + [7, 8, 9]
    cache_before = copy.deepcopy(session.state.cache)
    second = list(session.send_ids(turn2, settings))[-1]

    assert second.stats.cached_tokens == 30 + 32 * 2
    suffix = torch.tensor([turn2[30 + 32 * 2 :]])
    assert second.token_ids == reference_ids(em, suffix, settings, cache=cache_before)


def test_changed_history_crops_or_restarts_the_cache_and_still_answers_like_a_fresh_session():
    em = make_em(sliding_window=8)  # the window is shorter than the shared prefix: crop must fall back to a restart
    settings = SamplerSettings(max_new_tokens=32, max_denoising_steps=4, seed=2)
    session = ChatSession(em)
    list(session.send_ids(prompt(40, seed=1)[0].tolist(), settings))
    edited = prompt(40, seed=1)[0].tolist()[:20] + prompt(10, seed=7)[0].tolist()
    reused = list(session.send_ids(edited, settings))[-1]
    fresh = list(ChatSession(em).send_ids(edited, settings))[-1]
    assert reused.token_ids == fresh.token_ids
    assert reused.stats.cached_tokens == 0


def test_regenerating_the_same_prompt_reuses_all_but_one_token():
    em = make_em(sliding_window=128)
    settings = SamplerSettings(max_new_tokens=32, max_denoising_steps=4, seed=2)
    session = ChatSession(em)
    ids = prompt(25)[0].tolist()
    a = list(session.send_ids(ids, settings))[-1]
    b = list(session.send_ids(ids, settings.with_(seed=3)))[-1]
    c = list(session.send_ids(ids, settings))[-1]
    assert b.stats.cached_tokens == 24
    assert a.token_ids == c.token_ids


def test_thought_span_is_folded_out_of_the_answer(tmp_path):
    from engine.tiny import save_tiny_model

    em = EngineModel.from_pretrained(save_tiny_model(tmp_path / "m", canvas_length=32))
    text = "<|channel>thought\nCarry the one.<channel|>The sum is 42.<eos>"
    ids = em.tokenizer.encode(text, add_special_tokens=False)
    answer, thought = em.split_thinking(ids)
    assert answer == "The sum is 42."
    assert thought == "Carry the one."
    assert "<|channel>" not in answer and "thought" not in answer
    plain = em.tokenizer.encode("Just an answer.", add_special_tokens=False)
    assert em.split_thinking(plain) == ("Just an answer.", "")
