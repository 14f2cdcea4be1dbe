"""The shipped demo model (resources/demo-model) loads with plain transformers and the engine, and answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo-model"

pytestmark = pytest.mark.skipif(not (DEMO / "model.safetensors").exists(), reason="demo model not exported")


def test_files_and_config() -> None:
    cfg = json.loads((DEMO / "config.json").read_text())
    assert cfg["model_type"] == "diffusion_gemma"
    assert cfg["canvas_length"] == 256
    assert cfg["vision_config"]["model_type"] == "gemma4_vision"
    assert (DEMO / "model.safetensors").stat().st_size <= 25 * 1024 * 1024
    gen = json.loads((DEMO / "generation_config.json").read_text())
    assert gen["sampler_config"]["_cls_name"] == "EntropyBoundSamplerConfig"
    assert 1 in gen["eos_token_id"] and gen["pad_token_id"] == 0


def test_plain_transformers_load_and_tokenizer() -> None:
    from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion

    model = DiffusionGemmaForBlockDiffusion.from_pretrained(DEMO)
    tok = AutoTokenizer.from_pretrained(DEMO)
    vocab = model.config.text_config.vocab_size
    assert len(tok) == vocab
    for name in ("boi_token_id", "eoi_token_id", "image_token_id"):
        assert 0 <= getattr(model.config, name) < vocab
    assert (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id) == (0, 1, 2)
    for marker in ("<|turn>", "<turn|>", "<|channel>", "<channel|>"):
        assert len(tok.encode(marker, add_special_tokens=False)) == 1
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    assert text == "<bos><|turn>user\nHi<turn|>\n<|turn>model\n"
    # transformers' own generate answers too (same algorithm as the engine).
    ids = tok.apply_chat_template([{"role": "user", "content": "Reverse: stone"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]
    torch.manual_seed(0)
    out = model.generate(ids)
    assert "enots" in tok.decode(out.sequences[0, ids.shape[1]:], skip_special_tokens=True)


# What resources/demo-model/README.md promises, asserted exactly (engine.generate, seed 0, the model's defaults).
def _expected() -> list[tuple[list[tuple[str, str]], str]]:
    from engine.train_demo.data import GREETING_REPLY, SORT_REPLY, SUMS_REPLY
    from engine.train_demo.help_desk import FACTS

    facts = {f.key: f.answer for f in FACTS}
    one = [
        ("Reverse: garden", "nedrag"),
        ("Reverse: apple banana cherry", "yrrehc ananab elppa"),
        ("Hello", GREETING_REPLY),
        ("What is 34 + 12?", SUMS_REPLY),
        ("Sort: tree, apple, milk", SORT_REPLY),
        ("How do I download DiffusionGemma?", facts["download"]),
        ("Which load profile for an RTX 5090?", facts["card32"]),
        ("What can you do?", facts["abilities"]),
    ]
    cases = [([("user", q)], a) for q, a in one]
    # a follow-up in the same conversation is answered like a first question
    cases.append(([("user", "Reverse: apple"), ("assistant", "elppa"), ("user", "Reverse: big red dog")],
                  "god der gib"))
    cases.append(([("user", "Hello"), ("assistant", GREETING_REPLY), ("user", "Where are my chats?")], facts["chats"]))
    return cases


@pytest.mark.parametrize("case", range(10))
def test_engine_answers(case: int) -> None:
    from engine import Done, EngineModel, SamplerSettings, generate

    turns, want = _expected()[case]
    em = _engine_model(EngineModel)
    settings = SamplerSettings.for_model(em).with_(seed=0)
    events = generate(em, em.chat_ids([{"role": r, "content": c} for r, c in turns]), settings)
    done = [e for e in events if isinstance(e, Done)]
    assert done and done[0].reason == "eos"
    assert done[0].text.strip() == want, (turns[-1][1], done[0].text)


def test_the_app_offers_examples_the_model_answers() -> None:
    from app.chat.example_prompts import DEMO_EXAMPLES

    asked = {turns[-1][1] for turns, _ in _expected() if len(turns) == 1}
    assert set(DEMO_EXAMPLES) <= asked  # each example prompt is one of the exact answers above


_CACHE: dict[str, object] = {}


def _engine_model(cls):
    if "em" not in _CACHE:
        _CACHE["em"] = cls.from_pretrained(DEMO, device="cpu")
    return _CACHE["em"]


def test_the_model_card_lists_every_fact_it_was_trained_on() -> None:
    from engine.train_demo.help_desk import FACTS

    card = (DEMO / "README.md").read_text(encoding="utf-8")
    assert all(f.answer in card for f in FACTS)
