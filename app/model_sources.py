"""Which models the window can load: the embedded demo model, a tiny random model, folders the user picked.

`load_engine_model` runs in the worker thread (it may take seconds); everything else is cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_MODEL = "tiny"
TINY_LABEL = "Tiny random model (untrained — output is noise)"
TINY_DIR_NAME = "tiny-random-untrained"

_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|channel>", "<channel|>"]
_CHARS = ["\n"] + [chr(c) for c in range(32, 127)]
_TINY_VOCAB = 128
# Gemma-4-style turns: <|turn>role\n…<turn|>\n, ending with the model's turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = m['role'] %}{% endif %}"
    "<|turn>{{ role }}\n{{ m['content'] | trim }}<turn|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n{% endif %}"
)


def demo_model_dir() -> Path:
    """Where the embedded demo model lives (resources/demo-model)."""
    from engine.paths import demo_model_dir as _demo

    return _demo()


def demo_model_available() -> bool:
    """Whether the demo model is embedded in this build."""
    return (demo_model_dir() / "config.json").is_file()


def default_model_source() -> str:
    """The demo model when it is embedded, else the tiny random model."""
    return str(demo_model_dir()) if demo_model_available() else TINY_MODEL


def model_label(source: str) -> str:
    """A short, honest name for the model picker and the status bar."""
    if source == TINY_MODEL:
        return TINY_LABEL
    path = Path(source)
    if demo_model_available() and path.resolve() == demo_model_dir().resolve():
        return "Demo model (embedded, tiny — trained on simple Q&A)"
    return path.name or source


def load_engine_model(source: str, device: str = "auto", profile: str | None = None) -> Any:
    """An `EngineModel` for `source` (a folder, a cached hub id, or `TINY_MODEL`) on `device` ("auto", "cpu",
    "cuda:N") with a load `profile` (None: the engine's choice). Worker thread only."""
    from engine import EngineModel

    if source == TINY_MODEL:
        from engine.loading import _load_tokenizer
        from engine.tiny import tiny_model

        tokenizer = _load_tokenizer(tiny_tokenizer_dir())
        return EngineModel.wrap(tiny_model(seed=0, vocab_size=_TINY_VOCAB), tokenizer, name=TINY_DIR_NAME)
    return EngineModel.from_pretrained(source, device=device, profile=profile)


def tiny_tokenizer_dir() -> Path:
    """The tiny model's character tokenizer, written once under the cache root."""
    from engine.paths import cache_dir

    folder = cache_dir() / TINY_DIR_NAME
    if not (folder / "tokenizer_config.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_char_tokenizer(folder)
    return folder


def write_char_tokenizer(folder: Path) -> None:
    """A character-level tokenizer (ids 0–7 special, then newline and printable ASCII) with a chat template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(_SPECIALS)}
    for ch in _CHARS:
        vocab[ch] = len(vocab)
    first_unused = len(vocab)
    unused = [f"<unused{i}>" for i in range(first_unused, _TINY_VOCAB)]
    vocab.update({name: first_unused + n for n, name in enumerate(unused)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in _SPECIALS + unused])
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "additional_special_tokens": _SPECIALS[4:],
        "model_max_length": 4096,
        "chat_template": CHAT_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
