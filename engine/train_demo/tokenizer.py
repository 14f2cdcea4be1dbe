"""Tokenizers for the embedded demo model, built with the `tokenizers` library.

Ids 0..10 are special (pad, eos, bos, unk, turn/channel markers, image markers); every printable ASCII
character plus newline gets one id after them. Characters outside that set map to `<unk>`.

The shipped demo model and the tiny test models use this character vocabulary (`VOCAB_SIZE`). An opt-in variant
(`words=True`, the `--word-tokens` experiment in TRAINING.md) adds one id per word of the built-in word list
(`data.WORDS`): a lowercase letter run that is exactly a list word is one token, any other text stays characters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SPECIALS: list[str] = [
    "<pad>",  # 0
    "<eos>",  # 1
    "<bos>",  # 2
    "<unk>",  # 3
    "<|turn>",  # 4
    "<turn|>",  # 5
    "<|channel>",  # 6
    "<channel|>",  # 7
    "<start_of_image>",  # 8  boi
    "<end_of_image>",  # 9  eoi
    "<image_soft_token>",  # 10 image
]
PAD_ID, EOS_ID, BOS_ID, UNK_ID, TURN_OPEN_ID, TURN_CLOSE_ID, CHANNEL_OPEN_ID, CHANNEL_CLOSE_ID = range(8)
BOI_ID, EOI_ID, IMAGE_ID = 8, 9, 10
CHARS: list[str] = ["\n"] + [chr(c) for c in range(32, 127)]
VOCAB_SIZE = 128  # 11 specials + 96 chars, rounded up; the spare ids are never produced
WORD_PATTERN = r"[a-z]+|[^a-z]"  # a lowercase letter run is one piece; every other character its own piece


def _words() -> list[str]:
    from .data import WORDS

    return WORDS


def demo_vocab_size() -> int:
    """Characters + list words, rounded up to a multiple of 16 (the spare ids are never produced)."""
    return (VOCAB_SIZE + len(_words()) + 15) // 16 * 16

# Gemma-4-style turns. The demo never thinks: with enable_thinking true the template opens the model turn with an
# empty thought span (<|channel>thought\n<channel|>), so the reply that follows is the answer, never a thought.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{% if message['content'] is string %}{% set content = message['content'] %}"
    "{% else %}{% set content = message['content'] | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join('\n') %}{% endif %}"
    "<|turn>{{ role }}\n{{ content | trim }}<turn|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n"
    "{% if enable_thinking is defined and enable_thinking %}<|channel>thought\n<channel|>{% endif %}{% endif %}"
)


def _vocab(words: bool) -> dict[str, int]:
    """Specials, characters, then (with `words`) the list words from id VOCAB_SIZE on; spare ids are `<unusedN>`."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    pieces = [(CHARS, VOCAB_SIZE)] + ([(_words(), demo_vocab_size())] if words else [])
    for tokens, size in pieces:
        for tok in tokens:
            vocab[tok] = len(vocab)
        for i in range(len(vocab), size):
            vocab[f"<unused{i}>"] = i
    return vocab


def build_tokenizer(words: bool = False):
    """Return a `tokenizers.Tokenizer`: one id per character, plus one per list word with `words`."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = _vocab(words)
    if words:
        # BPE without merges and ignore_merges: a piece that is in the vocabulary (a list word) is one token,
        # any other piece falls back to its characters.
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[], ignore_merges=True, unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Split(pattern=Regex(WORD_PATTERN), behavior="isolated")
    else:
        tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
        # Split into single characters; WordLevel then maps each one to its id.
        tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    return tok


def save_tokenizer(out_dir: str | Path, words: bool = False) -> None:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(words).save(str(out / "tokenizer.json"))
    specials = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **specials,
        "additional_special_tokens": SPECIALS[4:],
        "model_max_length": 4096,
        "padding_side": "left",
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")


class CharCodec:
    """Fast pure-Python encode/decode with the same ids as the saved tokenizer (used in the training loop)."""

    def __init__(self, words: bool = False) -> None:
        vocab = _vocab(words)
        self.char_to_id = {ch: vocab[ch] for ch in CHARS}
        self.word_to_id = {w: vocab[w] for w in _words()} if words else {}
        self.id_to_char = {i: ch for ch, i in {**self.char_to_id, **self.word_to_id}.items()}
        self.vocab_size = len(vocab)

    def encode(self, text: str) -> list[int]:
        """Text to ids: list words (when enabled) as one id, other characters one each (`<unk>` if unknown)."""
        if not self.word_to_id:
            return [self.char_to_id.get(ch, UNK_ID) for ch in text]
        ids: list[int] = []
        for piece in re.findall(WORD_PATTERN, text):
            wid = self.word_to_id.get(piece)
            ids += [wid] if wid is not None else [self.char_to_id.get(ch, UNK_ID) for ch in piece]
        return ids

    def decode(self, ids: list[int]) -> str:
        """Ids to text, dropping special ids."""
        return "".join(self.id_to_char.get(i, "") for i in ids)

    def chat_prefix(self, turns: list[tuple[str, str]], enable_thinking: bool = False) -> list[int]:
        """Ids of the chat template for (role, content) turns plus the generation prompt."""
        ids = [BOS_ID]
        for role, content in turns:
            ids += [TURN_OPEN_ID] + self.encode(f"{role}\n{content.strip()}") + [TURN_CLOSE_ID] + self.encode("\n")
        ids += [TURN_OPEN_ID] + self.encode("model\n")
        if enable_thinking:
            ids += [CHANNEL_OPEN_ID] + self.encode("thought\n") + [CHANNEL_CLOSE_ID]
        return ids
