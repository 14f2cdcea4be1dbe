"""The demo model's training code: tokenizer, data, objective, and a seeded, resumable training loop."""

from __future__ import annotations

import random

import pytest
import torch

from engine.train_demo.data import GENERATORS, REFUSAL_REPLY, WORDS, Example, is_correct, sample
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
        x, op, y = a.prompt.removeprefix("What is ").rstrip("?").split()
        assert 0 <= int(x) <= 99 and 0 <= int(y) <= 99
        assert a.answer.endswith(f"= {int(x) + int(y) if op == '+' else int(x) - int(y)}.")
        b = GENERATORS["b"](rng)
        words = b.prompt.removeprefix("Sort: ").split(", ")
        assert 3 <= len(words) <= 6 and set(words) <= set(WORDS) and b.answer == ", ".join(sorted(words))
        c = GENERATORS["c"](rng)
        word = c.prompt.removeprefix("Reverse: ")
        assert 3 <= len(word) <= 8 and word.isalpha() and word.islower() and c.answer == word[::-1]


def test_is_correct() -> None:
    a = Example("a", "What is 7 - 9?", "7 - 9 = -2.")
    assert is_correct(a, "7 - 9 = -2.") and not is_correct(a, "7 - 9 = 2.") and not is_correct(a, "7 - 9 = -20.")
    b = Example("b", "Sort: dog, cat, ant", "ant, cat, dog")
    assert is_correct(b, "ant, cat, dog") and not is_correct(b, "ant, dog, cat")
    e = Example("e", "What is a cow?", REFUSAL_REPLY)
    assert is_correct(e, REFUSAL_REPLY) and not is_correct(e, "A cow is an animal.")


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


def test_corrupt_replaces_a_random_fraction() -> None:
    targets = torch.full((64, 256), 50)
    noisy = corrupt(targets, 416, torch.Generator().manual_seed(0))
    changed = (noisy != targets).float().mean(1)
    assert noisy.min() >= 0 and noisy.max() < 416
    assert changed.min() < 0.2 and changed.max() > 0.8  # t ~ U(0, 1) per example


def _tiny(steps: int, **kw) -> TrainConfig:
    # every phase of the shipped schedule in six steps: trimmed + full canvases, then phases 2, 3 and 4
    base = dict(steps=steps, batch_size=4, phase2_batch=3, hidden_size=32, layers=2, warmup=2, ckpt_every=3,
                eval_every=1000, eval_n=1, full_every=2, phase2_step=3, phase3_step=4, phase4_step=5)
    return TrainConfig(**{**base, **kw})


def test_training_is_seeded_and_resumes_exactly(tmp_path) -> None:
    train(_tiny(6), resume=False, work_dir=tmp_path / "straight", threads=1)
    train(_tiny(3), resume=False, work_dir=tmp_path / "split", threads=1)
    train(_tiny(6), resume=True, work_dir=tmp_path / "split", threads=1)
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
