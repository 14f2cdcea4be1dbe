"""The demo model's training code: tokenizer, data, objective, and a seeded, resumable training loop."""

from __future__ import annotations

import random

import pytest
import torch

from engine.errors import CheckpointError
from engine.train_demo.data import (
    GENERATORS,
    REFUSAL_REPLY,
    SORT_REPLY,
    SUMS_REPLY,
    WORDS,
    Example,
    chat_turns,
    is_correct,
    sample,
)
from engine.train_demo.help_desk import EVAL_QUESTIONS, FACTS, FRAMES, TRAIN_QUESTIONS
from engine.train_demo.objective import corrupt, make_batch
from engine.train_demo.tokenizer import EOS_ID, PAD_ID, UNK_ID, VOCAB_SIZE, CharCodec, demo_vocab_size, save_tokenizer
from engine.train_demo.train import TrainConfig, export, train


@pytest.mark.parametrize("words", [False, True])
def test_codec_matches_saved_tokenizer(tmp_path, words: bool) -> None:
    from transformers import AutoTokenizer

    save_tokenizer(tmp_path, words=words)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    codec = CharCodec(words)
    assert len(tok) == codec.vocab_size == (demo_vocab_size() if words else VOCAB_SIZE)
    rng = random.Random(0)
    texts = [t for _ in range(300) for t in (sample(rng).prompt, sample(rng).answer)]
    texts += ["catalog apple Apple x\ny", "naïve café", "Sort: zoo, able"]
    for text in texts:
        assert tok.encode(text, add_special_tokens=False) == codec.encode(text), text
        if "ï" not in text and "é" not in text:
            assert codec.decode(codec.encode(text)) == text


def test_list_words_are_single_tokens_and_other_text_is_characters() -> None:
    codec = CharCodec(words=True)
    sort = codec.encode("Sort: tree, apple, milk")
    assert len(sort) == len("Sort: ") + 3 + 2 * 2  # three word ids, two ", " separators
    assert codec.encode("apple") == [codec.word_to_id["apple"]]
    assert len(codec.encode("applex")) == 6 and len(codec.encode("Apple")) == 5  # not a list word: characters
    assert codec.encode("é") == [UNK_ID]
    assert len(set(codec.word_to_id.values())) == len(WORDS) >= 200
    assert max(codec.word_to_id.values()) < codec.vocab_size


def test_generators_follow_the_issue_formats() -> None:
    rng = random.Random(1)
    for _ in range(200):
        a = GENERATORS["a"](rng)
        assert any(op in a.prompt for op in ("+", "-", "times", "plus", "Divide", "Add")) and a.answer == SUMS_REPLY
        b = GENERATORS["b"](rng)
        words = b.prompt.split(": ", 1)[1].split(", ")
        assert b.prompt.lower().startswith("sort") and 2 <= len(words) <= 6 and set(words) <= set(WORDS)
        assert b.answer == SORT_REPLY
        c = GENERATORS["c"](rng)
        phrase = c.prompt.removeprefix("Reverse: ")
        assert 1 <= len(phrase.split(" ")) <= 4 and all(3 <= len(w) <= 8 for w in phrase.split(" "))
        assert phrase.replace(" ", "").isalpha() and phrase.islower() and c.answer == phrase[::-1]
        f = GENERATORS["f"](rng)
        assert f.answer in {fact.answer for fact in FACTS}
        assert f.prompt in {q for qs in TRAIN_QUESTIONS for q in qs} | {q.lower() for qs in TRAIN_QUESTIONS for q in qs}


def test_phrase_reversal_reverses_the_whole_text() -> None:
    assert GENERATORS["c"](random.Random(0)).answer  # the definition, once, in the generator's docstring:
    ex = Example("c", "Reverse: apple banana cherry", "yrrehc ananab elppa")
    assert is_correct(ex, "yrrehc ananab elppa") and not is_correct(ex, "cherry banana apple")


def test_help_desk_sheet_has_twenty_facts_and_held_out_phrasings() -> None:
    assert len(FACTS) >= 20 and len({f.answer for f in FACTS}) == len(FACTS)
    train_qs = {q.lower() for qs in TRAIN_QUESTIONS for q in qs}
    for fact, train_q, eval_q in zip(FACTS, TRAIN_QUESTIONS, EVAL_QUESTIONS):
        assert len(train_q) >= 6 and len(eval_q) >= 3, fact.key
        assert not {q.lower() for q in eval_q} & train_qs, fact.key  # held out: never seen in training
        assert len(fact.answer) <= 110 and fact.answer.isascii(), fact.key  # one canvas, char-level vocab


def test_off_topic_questions_in_help_desk_frames_are_refused_and_never_a_fact() -> None:
    rng = random.Random(7)
    questions = {q.lower() for qs in TRAIN_QUESTIONS + EVAL_QUESTIONS for q in qs}
    refused = [GENERATORS["e"](rng) for _ in range(3000)]
    assert all(ex.answer == REFUSAL_REPLY and ex.prompt.lower() not in questions for ex in refused)
    framed = [ex for ex in refused if any(ex.prompt.startswith(f.split("{t}")[0]) and f.split("{t}")[0]
                                          for fs in FRAMES.values() for f in fs)]
    assert len(framed) > 600  # about a third ask in the help desk's own frames


def test_is_correct() -> None:
    a = Example("a", "What is 7 - 9?", SUMS_REPLY)
    assert is_correct(a, SUMS_REPLY) and not is_correct(a, "7 - 9 = -2.") and not is_correct(a, REFUSAL_REPLY)
    b = Example("b", "Sort: dog, cat, ant", SORT_REPLY)
    assert is_correct(b, SORT_REPLY + " ") and not is_correct(b, "ant, cat, dog")
    e = Example("e", "What is a cow?", REFUSAL_REPLY)
    assert is_correct(e, REFUSAL_REPLY) and not is_correct(e, "A cow is an animal.")
    f = Example("f", "Where are my chats?", FACTS[12].answer)
    assert is_correct(f, FACTS[12].answer) and not is_correct(f, FACTS[12].answer[:-1])


def test_follow_up_turns_hold_the_earlier_answers_and_share_a_turn_count() -> None:
    codec = CharCodec()
    rng = random.Random(5)
    ex, earlier = Example("c", "Reverse: pear", "raep"), (Example("c", "Reverse: apple", "elppa"),)
    turns = [t for t in chat_turns(rng, ex, earlier) if t[0] != "system"]
    assert turns == [("user", "Reverse: apple"), ("model", "elppa"), ("user", "Reverse: pear")]
    for seed in range(6):
        batch = make_batch(random.Random(seed), codec, 6, 256, multi_turn=True)
        texts = [codec.decode([int(i) for i in row[mask]]) for row, mask in zip(batch.input_ids, batch.attention_mask)]
        counts = {t.count("user\n") for t in texts}
        assert len(counts) == 1 and all(t.count("model\n") == t.count("user\n") for t in texts)


def test_batch_targets_weights_and_left_padded_prompts() -> None:
    codec = CharCodec(words=True)
    batch = make_batch(random.Random(3), codec, 8, 128, pad_weight=0.05)
    assert batch.targets.shape == batch.weights.shape == (8, 128)
    for row, w, ids, mask in zip(batch.targets, batch.weights, batch.input_ids, batch.attention_mask):
        eos = (row == EOS_ID).nonzero()[0].item()
        assert (w[: eos + 1] == 1.0).all() and torch.allclose(w[eos + 1:], torch.tensor(0.05))
        assert (row[eos + 1:] == PAD_ID).all()
        first = mask.nonzero()[0].item()  # left padding: the prompt is right-aligned
        assert mask[first:].all() and not mask[:first].any() and (ids[:first] == PAD_ID).all()


def test_pad_near_weighs_the_slots_right_after_eos_fully() -> None:
    batch = make_batch(random.Random(3), CharCodec(), 8, 256, pad_weight=0.05, pad_near=64)
    for row, w in zip(batch.targets, batch.weights):
        eos = (row == EOS_ID).nonzero()[0].item()
        assert (w[: eos + 65] == 1.0).all() and torch.allclose(w[eos + 65:], torch.tensor(0.05))


def test_corrupt_replaces_a_random_fraction() -> None:
    targets = torch.full((64, 256), 50)
    noisy = corrupt(targets, 416, torch.Generator().manual_seed(0))
    changed = (noisy != targets).float().mean(1)
    assert noisy.min() >= 0 and noisy.max() < 416
    assert changed.min() < 0.2 and changed.max() > 0.8  # t ~ U(0, 1) per example
    heavy = (corrupt(targets, 416, torch.Generator().manual_seed(0), t_power=0.5) != targets).float().mean()
    assert heavy > changed.mean() + 0.1  # t = u ** 0.5 leans toward heavy noise (mean 2/3 instead of 1/2)


def _tiny(steps: int, **kw) -> TrainConfig:
    # v1 ("phased"): every phase of its schedule in six steps: trimmed + full canvases, then phases 2, 3 and 4
    base = dict(recipe="phased", steps=steps, batch_size=4, phase2_batch=3, hidden_size=32, layers=2, warmup=2,
                ckpt_every=3, eval_every=1000, eval_n=1, full_every=2, phase2_step=3, phase3_step=4, phase4_step=5)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("recipe", ["phased", "v2"])
def test_training_is_seeded_and_resumes_exactly(tmp_path, recipe: str) -> None:
    train(_tiny(6, recipe=recipe), resume=False, work_dir=tmp_path / "straight", threads=1)
    train(_tiny(3, recipe=recipe), resume=False, work_dir=tmp_path / "split", threads=1)
    train(_tiny(6, recipe=recipe), resume=True, work_dir=tmp_path / "split", threads=1)
    straight = torch.load(tmp_path / "straight" / "ckpt.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "ckpt.pt", weights_only=True)
    assert straight["step"] == split["step"] == 6
    for name, value in straight["model"].items():
        assert torch.equal(value, split["model"][name]), name
    assert not all(torch.equal(v, straight["model"][k]) for k, v in _fresh_state(_tiny(6)).items())


def _fresh_state(tc: TrainConfig) -> dict:
    from engine.train_demo.train import build_model

    return build_model(tc).state_dict()


@pytest.mark.parametrize("words", [False, True])
def test_export_is_a_plain_transformers_model_with_its_tokenizer(tmp_path, words: bool) -> None:
    from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion

    tc = _tiny(2, recipe="mixed", word_tokens=words, short_canvas=64, full_prob=0.5)
    train(tc, resume=False, work_dir=tmp_path / "run", threads=1)
    export(tmp_path / "run", tmp_path / "model", which="ckpt")
    model = DiffusionGemmaForBlockDiffusion.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert model.config.text_config.vocab_size == len(tok) == (demo_vocab_size() if words else VOCAB_SIZE)
    assert len(tok.encode("apple", add_special_tokens=False)) == (1 if words else 5)


def test_cli_reads_boolean_flags() -> None:
    from engine.train_demo.__main__ import _flag

    assert _flag("false") is False and _flag("True") is True
    with pytest.raises(Exception, match="true or false"):
        _flag("maybe")


def test_init_from_starts_at_a_saved_model_and_refuses_a_foreign_folder(tmp_path) -> None:
    from engine.train_demo.train import _init_from, build_model

    train(_tiny(2), resume=False, work_dir=tmp_path / "run", threads=1)
    export(tmp_path / "run", tmp_path / "model", which="ckpt")
    model = build_model(_tiny(2, seed=99))
    _init_from(model, tmp_path / "model")
    saved = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="init-from"):
        _init_from(model, tmp_path / "empty")


def test_eval_conversations_put_the_question_at_its_turn() -> None:
    from engine.train_demo.evaluate import fresh_conversations, messages_for

    for turn in (1, 4):
        convs = fresh_conversations("f", 5, seed=99, turn=turn)
        assert len(convs) == 5 and all(len(earlier) == turn - 1 for earlier, _ in convs)
        msgs = messages_for(*convs[0])
        assert len(msgs) == 2 * turn - 1 and msgs[-1]["content"] == convs[0][1].prompt
        assert all(ex.prompt.lower() in {q.lower() for qs in EVAL_QUESTIONS for q in qs} for _, ex in convs)


def test_augmentation_varies_only_help_desk_and_refusal_questions():
    from engine.train_demo.config import V2_MIX
    from engine.train_demo.data import augment, sample

    rng = random.Random(3)
    changed = {s: 0 for s in "abcdef"}
    seen = dict(changed)
    for _ in range(3000):
        ex = sample(rng, V2_MIX)
        varied = augment(rng, ex, 1.0)
        seen[ex.skill] += 1
        changed[ex.skill] += varied.prompt != ex.prompt
        assert (varied.skill, varied.answer) == (ex.skill, ex.answer)  # the reply never changes
    assert all(changed[s] == 0 for s in "abcd")  # reversal, greetings, declined sums and sorts: as written
    assert changed["e"] > 0.9 * seen["e"] and changed["f"] > 0.9 * seen["f"]
    assert augment(random.Random(0), Example("f", "How do I stop an answer?", "x"), 0.0).prompt == \
        "How do I stop an answer?"  # p = 0: never (evaluation prompts are never augmented)
