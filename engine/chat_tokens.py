"""Chat messages to token ids where only the chat template places control tokens; message content is literal.

Tokenizers turn the text of special tokens (`<|turn>`, `<turn|>`, `<eos>`, `<|channel>` …) into their control ids
wherever it appears — so text pasted or dropped into the composer could otherwise close the user's turn and
forge a system or model turn. Every message's content is untrusted: the user's, the system prompt, and the
model's own earlier answers (it can be led to spell out `<|turn>system` in plain characters).

How: when no content holds the text of a control token, the ids are exactly what `apply_chat_template` gives
(ordinary chats keep their ids bit for bit). Otherwise each such occurrence is swapped for a private-use
placeholder character, the template is rendered, the rendered text is cut at the control tokens the template
placed, and each piece between them is tokenized with `split_special_tokens=True` after the placeholders are put
back — so a forged marker becomes ordinary text pieces (`<`, `eos`, `>` …), never a control id.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ChatTemplateError

ROLE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
KNOWN_MARKERS = ("<|turn>", "<turn|>", "<|channel>", "<channel|>")
_PLACEHOLDER_START = 0x100000  # Supplementary Private Use Area-B: not text anyone types
_SURROGATE = re.compile("[\ud800-\udfff]")


class ChatEncoder:
    """Encodes conversations with one tokenizer (its control-token table is built once)."""

    def __init__(self, tokenizer: Any, *, vocab_size: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.controls = control_tokens(tokenizer)
        self.control_ids = set(self.controls.values())
        # The unknown-token id stands for characters the vocabulary lacks (é, emoji … in a small vocabulary): plain
        # text may hold it, and it steers nothing.
        self.steering_ids = self.control_ids - {getattr(tokenizer, "unk_token_id", None)}
        self.pattern = re.compile(trie_pattern(list(self.controls))) if self.controls else None

    def ids(self, messages: list[dict[str, Any]], *, enable_thinking: bool = False) -> list[int]:
        """Ids of `messages` in the template, ending with the model's turn; forged markers stay text."""
        checked = [_checked_message(i, m) for i, m in enumerate(messages)]
        forged = self.pattern is not None and any(self.pattern.search(t) for m in checked for t in _texts(m))
        ids = self._literal(checked, enable_thinking) if forged else self._render(checked, enable_thinking, True)
        if self.vocab_size is not None and ids and max(ids) >= self.vocab_size:
            raise ChatTemplateError(
                f"The tokenizer produced id {max(ids)}, but the model reads ids below {self.vocab_size}: the tokenizer "
                "and the weights do not belong together. Re-download or re-import the model."
            )
        return ids

    def _render(self, messages: list[dict[str, Any]], enable_thinking: bool, tokenize: bool) -> Any:
        try:
            result = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, enable_thinking=enable_thinking, tokenize=tokenize,
                return_dict=False,
            )
        except ChatTemplateError:
            raise
        except Exception as exc:  # noqa: BLE001 — jinja raises TemplateError, TypeError, UndefinedError …
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ChatTemplateError(
                f"The model's chat template failed ({type(exc).__name__}: {first[:200]}); the model folder's "
                "tokenizer_config.json is broken — re-download or re-import the model."
            ) from None
        if not tokenize:
            return str(result)
        if hasattr(result, "input_ids") or isinstance(result, dict):
            result = result["input_ids"]
        result = list(result)
        if result and isinstance(result[0], list):  # some tokenizers return a batch of one
            result = result[0]
        return [int(i) for i in result]

    def _literal(self, messages: list[dict[str, Any]], enable_thinking: bool) -> list[int]:
        used = sorted({m for msg in messages for t in _texts(msg) for m in self.pattern.findall(t)}, key=len)
        base = _free_placeholders(messages, len(used), getattr(self.tokenizer, "chat_template", "") or "")
        to_placeholder = {marker: chr(base + i) for i, marker in enumerate(used)}
        from_placeholder = {ord(ch): marker for marker, ch in to_placeholder.items()}
        hidden = [_map_texts(m, lambda t: self.pattern.sub(lambda x: to_placeholder[x.group(0)], t)) for m in messages]
        text = self._render(hidden, enable_thinking, False)
        ids: list[int] = []
        position = 0
        for match in self.pattern.finditer(text):  # what is left of the markers, the template placed
            ids += self._plain(text[position : match.start()].translate(from_placeholder))
            ids.append(self.controls[match.group(0)])
            position = match.end()
        ids += self._plain(text[position:].translate(from_placeholder))
        return ids

    def literal(self, text: str) -> list[int]:
        """Ids of `text` as ordinary text: special-token strings inside come out as ordinary pieces."""
        return self._plain(text)

    def _plain(self, text: str) -> list[int]:
        """Text with no control tokens in it: special-token strings inside come out as ordinary pieces."""
        if not text:
            return []
        ids = self._encode(text)
        if self.steering_ids.isdisjoint(ids):
            return ids
        # The tokenizer's merges rebuilt a control token from plain pieces: spell each marker one character at a time.
        ids = []
        for piece in re.split(f"({self.pattern.pattern})", text):
            parts = list(piece) if piece in self.controls else [piece]
            for part in parts:
                ids += self._encode(part) if part else []
        if not self.steering_ids.isdisjoint(ids):
            raise ChatTemplateError("This tokenizer cannot write the message's text without control tokens.")
        return ids

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def trie_pattern(words: list[str]) -> str:
    """A regex matching any of `words`, longest first, as a prefix tree: a tokenizer with thousands of special
    tokens (`<unused0>` …) still scans a 1 MB paste in linear time, not thousands of alternatives per character."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: try the longer words first, then stop
            return f"(?:{body})?"
        return body

    return render(trie)


def control_tokens(tokenizer: Any) -> dict[str, int]:
    """Text → id of every token that steers the model: special added tokens, named specials, chat markers."""
    found: dict[str, int] = {}
    for index, token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(token, "special", False):
            found[getattr(token, "content", str(token))] = int(index)
    added = dict(tokenizer.get_added_vocab()) if hasattr(tokenizer, "get_added_vocab") else {}
    for text in [*(getattr(tokenizer, "all_special_tokens", None) or []), *KNOWN_MARKERS]:
        index = added.get(text)
        if index is None and text in (getattr(tokenizer, "all_special_tokens", None) or []):
            index = tokenizer.convert_tokens_to_ids(text)
        if isinstance(index, int) and index >= 0:
            found.setdefault(text, index)
    return {text: index for text, index in found.items() if text}


def _checked_message(index: int, message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ChatTemplateError(f"Message {index + 1} is not a {{'role', 'content'}} mapping.")
    role = message.get("role")
    if not isinstance(role, str) or not ROLE.fullmatch(role):
        raise ChatTemplateError(f"Message {index + 1} has an invalid role {str(role)[:40]!r} (e.g. 'user', 'system').")
    content = message.get("content", "")
    if content is None:
        content = ""
    if isinstance(content, str):
        return {**message, "content": _SURROGATE.sub("\ufffd", content)}
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        parts = []
        for part in content:
            if "text" in part and not isinstance(part["text"], str):
                raise ChatTemplateError(f"Message {index + 1} has a text part that is not text.")
            parts.append({**part, "text": _SURROGATE.sub("\ufffd", part["text"])} if "text" in part else part)
        return {**message, "content": parts}
    raise ChatTemplateError(f"Message {index + 1}'s content is not text.")


def _texts(message: dict[str, Any]) -> list[str]:
    content = message["content"]
    if isinstance(content, str):
        return [content]
    return [p["text"] for p in content if isinstance(p.get("text"), str)]


def _map_texts(message: dict[str, Any], fn: Any) -> dict[str, Any]:
    content = message["content"]
    if isinstance(content, str):
        return {**message, "content": fn(content)}
    return {**message, "content": [{**p, "text": fn(p["text"])} if "text" in p else p for p in content]}


def _free_placeholders(messages: list[dict[str, Any]], count: int, template: str) -> int:
    """The first of `count` consecutive private-use characters that appear in no message and not in the template."""
    seen = set(template)
    for message in messages:
        for text in _texts(message):
            seen.update(text)
    base = _PLACEHOLDER_START
    while any(chr(base + i) in seen for i in range(count)):
        base += count
        if base + count > 0x10FFFD:
            raise ChatTemplateError("The message uses every private-use character; it cannot be encoded safely.")
    return base
