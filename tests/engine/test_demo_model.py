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


# Skills a and b did not reach their targets in the 2-hour CPU budget (resources/demo-model/TRAINING.md: 3 % of sums
# and 10.5 % of sorts exact, the rest right in form), so for them the *form* of the reply is asserted; c, d and e
# are asserted exactly.
@pytest.mark.parametrize(
    ("prompt", "pattern"),
    [
        ("Reverse: garden", r"\bnedrag\b"),
        ("Hello", r"tiny offline demo model"),
        ("Why is the sky blue?", r"cannot answer"),
        ("What is 34 + 12?", r"34 \+ 12 = \d+\."),
        ("What is 71 - 25?", r"71 - 25 = -?\d+\."),
        ("Sort: tree, apple, milk", r"^[a-z]+, [a-z]+, [a-z]+$"),
    ],
)
def test_engine_answers(prompt: str, pattern: str) -> None:
    import re

    from engine import Done, EngineModel, SamplerSettings, generate

    em = _engine_model(EngineModel)
    settings = SamplerSettings.for_model(em).with_(seed=0)
    events = generate(em, em.chat_ids([{"role": "user", "content": prompt}]), settings)
    done = [e for e in events if isinstance(e, Done)]
    assert done and done[0].reason == "eos"
    assert re.search(pattern, done[0].text.strip()), done[0].text


_CACHE: dict[str, object] = {}


def _engine_model(cls):
    if "em" not in _CACHE:
        _CACHE["em"] = cls.from_pretrained(DEMO, device="cpu")
    return _CACHE["em"]
