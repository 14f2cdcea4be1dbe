"""Infill: only the span is re-noised and denoised; every other canvas position stays fixed in every frame; the text
around the span is unchanged; cancelling changes nothing; character spans map to canvas positions."""

from __future__ import annotations

import threading

import pytest
import torch

from engine import (
    CanvasDone,
    CanvasStart,
    Done,
    EngineError,
    EngineModel,
    Frame,
    InfillStart,
    SamplerSettings,
    SpanError,
    infill,
)
from engine.drafting import with_instruction
from engine.drafting.spans import AnswerTokens, answer_tokens, token_span
from engine.paths import demo_model_dir
from engine.session import ChatSession
from engine.tiny import tiny_engine_model

QUESTION = [{"role": "user", "content": "Describe the garden."}]
ANSWER = "The garden is quiet at dawn. Birds sing softly and the grass is wet."  # 68 characters, 68 tokens


@pytest.fixture(scope="module")
def em() -> EngineModel:
    """A tiny random chat model (the demo's character tokenizer: one token per character) with 32-token canvases."""
    return tiny_engine_model(seed=5, canvas_length=32)


@pytest.fixture(scope="module")
def demo() -> EngineModel:
    return EngineModel.from_pretrained(demo_model_dir())


SETTINGS = SamplerSettings(max_new_tokens=256, max_denoising_steps=8, seed=11)


def canvases(em: EngineModel, answer: str) -> list[list[int]]:
    """The answer as the canvases hold it: its ids, the end token, pad."""
    L = em.canvas_length
    full = answer_tokens(em.tokenizer, answer).ids + [em.eos_token_ids[0]]
    full += [0] * (-len(full) % L)
    return [full[i:i + L] for i in range(0, len(full), L)]


def test_positions_outside_the_span_never_change(em):
    events = list(infill(em, QUESTION, ANSWER, (4, 10), SETTINGS))
    start = events[0]
    assert start == InfillStart(canvas_index=0, token_start=4, token_end=10, char_start=4, char_end=10)
    assert isinstance(events[1], CanvasStart) and isinstance(events[-2], CanvasDone) and isinstance(events[-1], Done)
    original = canvases(em, ANSWER)[0]
    outside = [i for i in range(em.canvas_length) if not 4 <= i < 10]
    frames = [e for e in events if isinstance(e, Frame)]
    assert frames and all(f.canvas_index == 0 for f in frames)
    for f in frames:
        for i in outside:
            assert f.canvas[i] == f.draft[i] == original[i] and f.accepted[i] and f.entropy[i] == 0.0
    assert [events[1].canvas[i] for i in outside] == [original[i] for i in outside]
    assert events[1].canvas[4:10] != original[4:10]  # the span starts as uniform noise
    done = events[-1]
    assert done.text.startswith(ANSWER[:4]) and done.text.endswith(ANSWER[10:])
    assert done.reason == "eos" and done.stats.seed == 11 and done.stats.decoder_forwards == len(frames)
    assert done.stats.tokens == 6  # the span's positions
    # The committed canvas keeps every position (an EOS the model writes inside the span does not cut it).
    assert events[-2].token_ids == frames[-1].draft


def test_span_in_a_later_canvas_and_span_crossing_canvases(em):
    L = em.canvas_length
    original = canvases(em, ANSWER)
    events = list(infill(em, QUESTION, ANSWER, (40, 45), SETTINGS))
    assert events[0] == InfillStart(1, 40 - L, 45 - L, 40, 45)
    assert all(f.canvas_index == 1 for f in events if isinstance(f, Frame))
    crossing = list(infill(em, QUESTION, ANSWER, (28, 36), SETTINGS))
    starts = [e for e in crossing if isinstance(e, InfillStart)]
    assert starts == [InfillStart(0, 28, 32, 28, 32), InfillStart(1, 0, 4, 32, 36)]
    for f in (e for e in crossing if isinstance(e, Frame)):
        lo, hi = (28, 32) if f.canvas_index == 0 else (0, 4)
        assert all(f.draft[i] == original[f.canvas_index][i] for i in range(L) if not lo <= i < hi)
    done = crossing[-1]
    assert done.text.startswith(ANSWER[:28]) and done.text.endswith(ANSWER[36:])
    assert [type(e) for e in crossing if not isinstance(e, Frame)] == [
        InfillStart, CanvasStart, CanvasDone, InfillStart, CanvasStart, CanvasDone, Done]


def test_tail_span_may_use_the_pad_tail(em):
    L = em.canvas_length
    events = list(infill(em, QUESTION, ANSWER, (65, len(ANSWER)), SETTINGS))
    assert events[0] == InfillStart(2, 1, L, 65, len(ANSWER))  # the end token and the pad tail are in the span
    done = events[-1]
    assert done.text.startswith(ANSWER[:65])
    eos = set(em.eos_token_ids)
    assert (done.reason == "eos") == (done.token_ids[-1] in eos)
    assert done.token_ids[:65] == answer_tokens(em.tokenizer, ANSWER).ids[:65]
    # A tail span that starts in an earlier canvas takes the rest of that canvas and all of the next.
    starts = [e for e in infill(em, QUESTION, ANSWER, (60, len(ANSWER)), SETTINGS) if isinstance(e, InfillStart)]
    assert starts[0] == InfillStart(1, 28, L, 60, 64)
    assert starts[1:] in ([], [InfillStart(2, 0, L, 64, len(ANSWER))])  # none when canvas 1 already wrote an EOS


def test_whole_answer_and_same_seed_same_result(demo):
    answer = "Hello! I am Diffusion Desk's tiny offline demo model."
    settings = SamplerSettings.for_model(demo, seed=5)
    first = list(infill(demo, [{"role": "user", "content": "Hi"}], answer, (0, len(answer)), settings))
    again = list(infill(demo, [{"role": "user", "content": "Hi"}], answer, (0, len(answer)), settings))
    assert first[0] == InfillStart(0, 0, demo.canvas_length, 0, len(answer))
    assert [e for e in first if not isinstance(e, Frame)][-1].text == again[-1].text
    assert [f.draft for f in first if isinstance(f, Frame)] == [f.draft for f in again if isinstance(f, Frame)]
    assert first[-1].reason == "eos" and first[-1].text


def test_demo_model_rewrites_a_middle_span_and_keeps_the_rest(demo):
    answer = "Sorry, I am only a tiny demo model and I cannot answer that."
    out = list(infill(demo, [{"role": "user", "content": "What is a canvas?"}], answer, (19, 23),
                      SamplerSettings.for_model(demo, seed=3), instruction="shorter"))
    done = out[-1]
    assert done.text.startswith(answer[:19]) and done.text.endswith(answer[23:])
    assert out[0].char_start == 19 and out[0].char_end == 23


def test_closing_midway_leaves_a_chat_session_and_the_answer_intact(em):
    settings = SamplerSettings(max_new_tokens=64, max_denoising_steps=4, seed=2)
    question = [{"role": "user", "content": "Hi"}]
    session = ChatSession(em)
    first = list(session.send(question, settings))[-1]
    cached = list(session.state.ids)
    rng = torch.get_rng_state()
    answer = ANSWER
    events = infill(em, question, answer, (3, 9), SETTINGS)
    for event in events:
        if isinstance(event, Frame) and event.step == 2:
            break
    events.close()
    assert answer == ANSWER and session.state.ids == cached and torch.equal(rng, torch.get_rng_state())
    follow = question + [{"role": "assistant", "content": first.text}, {"role": "user", "content": "More"}]
    reused = list(session.send(follow, settings))[-1]
    fresh = list(ChatSession(em).send(follow, settings))[-1]
    assert reused.stats.cached_tokens > 0 and reused.token_ids == fresh.token_ids


def test_cancel_event_ends_with_the_original_answer(em):
    cancel = threading.Event()
    events = []
    for event in infill(em, QUESTION, ANSWER, (3, 9), SETTINGS, cancel=cancel):
        events.append(event)
        if isinstance(event, Frame):
            cancel.set()
    done = events[-1]
    assert done.reason == "cancelled" and done.text == ANSWER
    assert sum(isinstance(e, Frame) for e in events) == 1
    # Set before it starts: no step runs at all.
    events = list(infill(em, QUESTION, ANSWER, (3, 9), SETTINGS, cancel=cancel))
    assert len(events) == 1 and events[0].reason == "cancelled" and events[0].stats.decoder_forwards == 0


@pytest.mark.parametrize("span, message", [
    ((5, 5), "empty"), ((10, 4), "outside"), ((-1, 3), "outside"), ((0, len(ANSWER) + 1), "outside"),
    ((1.0, 3), "whole numbers"), ("3:5", "pair"), ((True, 3), "whole numbers"),
])
def test_bad_spans_are_refused_with_a_clear_error(em, span, message):
    with pytest.raises(SpanError, match=message) as info:
        next(infill(em, QUESTION, ANSWER, span, SETTINGS))
    assert isinstance(info.value, EngineError) and isinstance(info.value, ValueError)


def test_empty_answer_is_refused(em):
    with pytest.raises(SpanError, match="no answer"):
        next(infill(em, QUESTION, "", (0, 1), SETTINGS))


def test_a_token_partly_inside_the_span_is_included():
    tokens = AnswerTokens("Hello brave world", [10, 11, 12], [(0, 5), (5, 11), (11, 17)])
    assert token_span(tokens, (7, 8)) == token_span(tokens, (5, 11))
    span = token_span(tokens, (3, 7))
    assert (span.token_start, span.token_end, span.char_start, span.char_end) == (0, 2, 0, 11)
    span = token_span(tokens, (0, 17))
    assert (span.token_start, span.token_end, span.char_start, span.char_end) == (0, 3, 0, 17)


def test_instruction_joins_the_last_user_turn():
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert with_instruction(messages, "shorter")[-1] == {"role": "user", "content": "Q\n\nshorter"}
    assert messages[-1]["content"] == "Q"  # the caller's list is not changed
    assert with_instruction(messages, None) == messages and with_instruction(messages, "  ") == messages
    assert with_instruction([{"role": "assistant", "content": "A"}], "x")[-1] == {"role": "user", "content": "x"}


def test_instruction_changes_the_conditioning(em):
    plain = [e.draft for e in infill(em, QUESTION, ANSWER, (3, 9), SETTINGS) if isinstance(e, Frame)]
    told = [e.draft for e in infill(em, QUESTION, ANSWER, (3, 9), SETTINGS, instruction="more formal")
            if isinstance(e, Frame)]
    assert plain != told


def test_eos_and_pad_written_inside_a_middle_span_are_dropped_from_the_text():
    em = tiny_engine_model(seed=5, canvas_length=32)
    used = set(answer_tokens(em.tokenizer, ANSWER).ids)
    em.model.generation_config.eos_token_id = [1] + [i for i in range(3, em.vocab_size) if i not in used]
    events = list(infill(em, QUESTION, ANSWER, (4, 20), SETTINGS))
    done, committed = events[-1], events[-2].token_ids
    eos = set(em.eos_token_ids)
    written = [t for t in committed[4:20] if t not in eos and t != 0]
    assert len(written) < 16  # this random model wrote at least one end token inside the span
    assert done.text == ANSWER[:4] + em.tokenizer.decode(written, skip_special_tokens=True) + ANSWER[20:]
    assert [t for t in done.token_ids if t in eos] == [done.token_ids[-1]] and done.reason == "eos"


THINKING_TEMPLATE_END = "{% if add_generation_prompt %}<|turn>model\n{% endif %}"


def test_a_thought_is_read_before_the_answer_and_kept():
    """In a thinking chat the span is conditioned on the thought the answer was written after (placed literally
    between the conversation and the answer, a forged `<eos>` inside it stays text); Done.thinking keeps it."""
    em = tiny_engine_model(seed=5, canvas_length=32)
    template = em.tokenizer.chat_template
    em.tokenizer.chat_template = template[: template.index("{% if add_generation_prompt %}")] + THINKING_TEMPLATE_END
    thought = "Birds first, then grass. <eos>"
    block = em.thought_ids(thought)
    controls = {em.tokenizer.convert_tokens_to_ids(t) for t in ("<|channel>", "<channel|>")}
    assert block[0] in controls and block[-1] in controls
    assert set(block[1:-1]).isdisjoint(controls | set(em.eos_token_ids))  # the thought's text is literal

    def run(**kw):
        events = list(infill(em, QUESTION, ANSWER, (3, 9), SETTINGS, **kw))
        return [e.draft for e in events if isinstance(e, Frame)], events[-1]

    plain_frames, plain = run()
    thought_frames, done = run(enable_thinking=True, thought=thought)
    assert thought_frames != plain_frames  # the thought changed the conditioning
    assert done.thinking == thought and plain.thinking == ""
    assert done.stats.prompt_tokens == plain.stats.prompt_tokens + len(block)
    assert done.text[:3] == ANSWER[:3] and done.text.endswith(ANSWER[9:])
    with pytest.raises(SpanError, match="thought must be text"):
        list(infill(em, QUESTION, ANSWER, (3, 9), SETTINGS, thought=7))


def test_no_thought_is_added_after_a_template_that_closed_an_empty_one(em):
    """The demo-style template answers with thinking on by an empty, closed thought span: nothing is added to it."""
    _, done = [e for e in infill(em, QUESTION, ANSWER, (3, 9), SETTINGS, enable_thinking=True,
                                 thought="a thought")][-2:]
    think_prompt = em.chat_ids(QUESTION, enable_thinking=True).shape[1]
    assert done.stats.prompt_tokens == think_prompt
    assert em.thought_ids("") == [] and em.thought_ids("   ") == []
