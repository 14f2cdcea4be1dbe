"""`infill`: rewrite a character span of a committed answer in place — the span is re-noised like a fresh canvas and
denoised again while every other canvas position stays fixed, so the new text reads what comes before AND after it.

Rules (what holds, exactly):
- Canvas layout: the answer text is re-encoded (see `spans.py`): answer ids, one end token (the model's first EOS
  id), pad to the end of the last canvas. A character span becomes the tokens it touches (a token partly inside is
  included); each `InfillStart` gives its canvas's part of that widened range (positions and original
  characters; the end token and pad have no characters), and exactly the widened range of the answer is replaced:
  `Done.text == answer[:char_start] + new + answer[char_end:]` (the text around it is copied, never re-decoded).
- Length: a span that reaches the answer's last token is a TAIL span: it takes every position from its first
  token to the end of the canvas holding the end token (the end token and the pad tail included), so the new ending
  may be longer or shorter; the answer ends at the first EOS the model writes there (no EOS: the whole canvas is
  kept, `Done.reason == "length"`). Any other span keeps its token count: the model may write pad/EOS ids into it,
  and those are dropped from the text (a shorter rewrite); the text and tokens after the span stay as they were.
- Canvases (answers longer than one canvas): each canvas the span touches is re-denoised in turn, in order, with
  its part of the span re-noised (one `InfillStart` per touched canvas, each followed by its `CanvasStart`, frames
  and `CanvasDone`); a later touched canvas is conditioned on the rewritten earlier one. Canvases after the last
  touched one are not re-denoised: their text stays as it was (they were written after the old text).
- Thinking: with `enable_thinking` the conversation is rendered as for a thinking answer, and a `thought` (the one
  the answer was written after) is placed, fixed, between the conversation and the answer — as the model wrote it
  (`<|channel>thought\\n…<channel|>`, the thought literal text), so the span reads the same reasoning the answer
  did (unless the template already ends the model's turn opening with a closed, empty thought span: then nothing is
  added). The thought is not rewritten; `Done.thinking` is it again.
- Instruction ("shorter", "more formal"): added to the last user turn as a new paragraph
  (`question + "\\n\\n" + instruction`), so the re-denoised span is conditioned on the question with the
  instruction; a conversation that does not end with a user turn gets the instruction as a new user turn.
- Sampling: the span starts as uniform random ids drawn from `torch.Generator(seed)`, then the sampler of
  `engine.generate` with the same settings (temperature schedule, entropy bound, stability/confidence stop), with
  fixed positions: kept in every step, shown in frames as canvas == draft == original, accepted, entropy 0; they
  never use the entropy bound, and the confidence mean is taken over the span only. `settings.max_new_tokens` is
  not used (the answer's own length is). Same seed, same settings → same result.
- No side effects: its own cache and random generator (the compiled path and a `ChatSession`'s cache are not
  touched, nor the global torch seed). Closing the generator, or `cancel`, leaves everything as it was; a
  cancelled infill ends with a `Done(reason="cancelled")` holding the ORIGINAL answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import torch

from ..events import CanvasDone, CanvasStart, Done, Frame, InfillStart, Stats
from ..settings import SamplerSettings
from .rows import BatchCache, Row, canvas_start, denoise_together, new_generator, start_canvas
from .spans import SpanError, TokenSpan, answer_tokens, token_span


def infill(em, messages: list[dict], answer: str, span: tuple[int, int], settings: SamplerSettings, *,
           instruction: str | None = None, enable_thinking: bool = False, thought: str = "",
           capture_frames: bool = True, cancel: threading.Event | None = None,
           ) -> Iterator[InfillStart | CanvasStart | Frame | CanvasDone | Done]:
    """Rewrite characters `span` = (start, end) of `answer` (the model's answer to `messages`); see the module doc.

    Yields per touched canvas an `InfillStart`, a `CanvasStart`, a `Frame` per step and a `CanvasDone`; then one
    `Done` whose `.text` and `.token_ids` are the whole new answer (`stats.tokens`: the span positions
    re-denoised; `stats.decoder_forwards`: the steps). Raises `SpanError` (an `EngineError` and `ValueError`) for an
    empty, reversed or out-of-range span or an empty answer.
    """
    settings.validate()
    if em.tokenizer is None:
        raise SpanError("This model has no tokenizer, so a character span cannot be mapped to its canvas.")
    tokens = answer_tokens(em.tokenizer, answer)
    tspan = token_span(tokens, span)
    if not isinstance(thought, str):
        raise SpanError("The thought must be text.")
    thinking = enable_thinking or bool(thought.strip())
    prompt = em.chat_ids(with_instruction(messages, instruction), enable_thinking=thinking)[0].tolist()
    thought_block = em.thought_ids(thought)
    if thought_block and prompt[-1:] != thought_block[-1:]:  # a template that closed a thought span itself: none
        prompt += thought_block
    L, vocab = em.canvas_length, em.vocab_size
    end_id = em.eos_token_ids[0] if em.eos_token_ids else None
    pad = em.model.generation_config.pad_token_id or 0
    full = tokens.ids + ([end_id] if end_id is not None else [])
    full += [pad] * (-len(full) % L)
    tail = tspan.token_end == len(tokens.ids)
    first = tspan.token_start // L
    last = (len(full) - 1) // L if tail else (tspan.token_end - 1) // L
    em.check_prompt_fits(len(prompt), len(full))

    seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)
    row = Row(settings, new_generator(seed, em.device), len(prompt) + first * L)
    eos = set(em.eos_token_ids)
    start = time.perf_counter()
    forwards = [0]
    first_frame: float | None = None
    new_canvases: dict[int, list[int]] = {}
    cancelled = False
    renoised = 0  # span positions re-denoised (Stats.tokens)

    with torch.inference_mode():
        # 1.a. Encode the conversation and the answer's canvases before the first touched one.
        batch = BatchCache(em, [prompt + full[: first * L]], pad)
        for k in range(first, last + 1):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            lo, hi = max(tspan.token_start, k * L) - k * L, (L if tail else min(tspan.token_end, (k + 1) * L) - k * L)
            original = torch.tensor([full[k * L:(k + 1) * L]], dtype=torch.long, device=em.device)
            fixed = torch.ones((1, L), dtype=torch.bool, device=em.device)
            fixed[0, lo:hi] = False
            row.fixed, row.fixed_ids = fixed, original
            renoised += hi - lo
            yield InfillStart(k, lo, hi, *_chars(tokens, tspan, k * L + lo, k * L + hi))
            # 1.b. The canvas with its span re-noised (uniform random ids from the seeded generator).
            start_canvas(row, vocab, L, em.device)
            if capture_frames:
                yield canvas_start(row, k)
            # 1.c. Denoise the span; everything else stays fixed.
            for _, frame in denoise_together(em, batch, [row], [k], capture=capture_frames, start=start,
                                             forwards=forwards):
                first_frame = first_frame if first_frame is not None else time.perf_counter() - start
                if frame is not None:
                    yield frame
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
            if cancelled:
                break
            # 1.d. Commit the canvas; a tail span ends at the first EOS it writes, any other keeps its positions (an
            # EOS/pad written inside it is dropped from the text, not the end of the canvas).
            new_canvases[k] = row.draft[0].tolist()
            shown = _trim_eos(new_canvases[k], eos) if tail else new_canvases[k][:hi] + _trim_eos(
                new_canvases[k][hi:], eos)
            yield CanvasDone(k, shown, em.decode(shown), row.steps_done)
            if tail and len(shown) < L or k == last:
                break
            batch.append_canvases(row.draft)  # 1.f. the next touched canvas reads this one

    seconds = time.perf_counter() - start
    if cancelled:
        text, ids, reason = answer, tokens.ids + full[len(tokens.ids):len(tokens.ids) + 1], "cancelled"
    else:
        text, ids, reason = _splice(em, tokens, tspan, full, new_canvases, tail, eos, pad)
    stats = Stats(tokens=renoised, seconds=seconds, tokens_per_second=renoised / seconds if seconds > 0 else 0.0,
                  decoder_forwards=forwards[0],
                  tokens_per_forward=renoised / forwards[0] if forwards[0] else 0.0,
                  ttft_s=first_frame if first_frame is not None else seconds,
                  canvases=len(new_canvases), prompt_tokens=len(prompt), cached_tokens=0, seed=seed)
    yield Done(ids, text, thought.strip(), reason, stats)


def with_instruction(messages: list[dict], instruction: str | None) -> list[dict]:
    """The conversation with `instruction` joined to its last user turn (or as a new user turn)."""
    if instruction is not None and not isinstance(instruction, str):
        raise SpanError("The instruction must be text.")
    if instruction is None or not instruction.strip():
        return list(messages)
    messages = [dict(m) if isinstance(m, dict) else m for m in messages]
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "user" and isinstance(last.get("content"), str):
        last["content"] = f"{last['content']}\n\n{instruction.strip()}"
    else:
        messages.append({"role": "user", "content": instruction.strip()})
    return messages


def _chars(tokens, tspan: TokenSpan, lo: int, hi: int) -> tuple[int, int]:
    """The answer characters of the span's part at absolute canvas positions [lo, hi) (end token, pad: none)."""
    first, last = max(lo, tspan.token_start), min(hi, tspan.token_end)
    if first >= last:
        return len(tokens.text), len(tokens.text)
    start = tspan.char_start if first == tspan.token_start else tokens.offsets[first][0]
    end = tspan.char_end if last == tspan.token_end else tokens.offsets[last - 1][1]
    return start, end


def _trim_eos(ids: list[int], eos: set[int]) -> list[int]:
    at = next((i for i, t in enumerate(ids) if t in eos), None)
    return ids if at is None else ids[: at + 1]


def _splice(em, tokens, tspan: TokenSpan, full: list[int], canvases: dict[int, list[int]], tail: bool,
            eos: set[int], pad: int) -> tuple[str, list[int], str]:
    """The new answer: the text before and after the span copied, the span's new tokens decoded in between."""
    L = em.canvas_length
    new_full = list(full)
    for k, ids in canvases.items():
        new_full[k * L:(k + 1) * L] = ids
    before = tokens.ids[: tspan.token_start]
    if tail:
        region = _trim_eos(new_full[tspan.token_start:(max(canvases) + 1) * L], eos)
        ended = bool(region) and region[-1] in eos
        written = [t for t in (region[:-1] if ended else region) if t != pad]
        text = tokens.text[: tspan.char_start] + _decode_after(em, before, written)
        return text, before + written + (region[-1:] if ended else []), "eos" if ended else "length"
    written = [t for t in new_full[tspan.token_start:tspan.token_end] if t != pad and t not in eos]
    text = tokens.text[: tspan.char_start] + _decode_after(em, before, written) + tokens.text[tspan.char_end:]
    end = full[len(tokens.ids):len(tokens.ids) + 1]
    return text, before + written + tokens.ids[tspan.token_end:] + end, "eos" if end else "length"


def _decode_after(em, before: list[int], ids: list[int]) -> str:
    """Text of `ids` as it reads after `before` (a tokenizer may treat a leading space differently alone)."""
    if not ids:
        return ""
    context = before[-8:]
    head = em.tokenizer.decode(context, skip_special_tokens=True)
    both = em.tokenizer.decode(context + ids, skip_special_tokens=True)
    return both[len(head):] if both.startswith(head) else em.tokenizer.decode(ids, skip_special_tokens=True)


__all__ = ["SpanError", "infill", "with_instruction"]
