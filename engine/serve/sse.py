"""OpenAI-shaped response bodies and the SSE stream, with the request cancelled the moment its client disconnects.

Chunks follow OpenAI's `chat.completion.chunk`. The drafts extension (`stream_options.include_drafts`) sends each
denoising step as one more `chat.completion.chunk` whose delta is empty and which carries a `draft` object — a
shape the official clients pass through untouched (a chunk with no `choices`, or another `object`, breaks the
common `chunk.choices[0].delta.content` loop).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..events import Frame

FINISH = {"eos": "stop", "stop": "stop", "length": "length", "cancelled": "stop"}


def sse(payload: dict[str, Any] | str) -> bytes:
    """One SSE event (`data: …` and a blank line); JSON is ASCII-escaped so any text is safe on the wire."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """OpenAI's `usage` object."""
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chunk(meta: dict[str, Any], delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` with one choice."""
    return {**meta, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}


def draft_chunk(meta: dict[str, Any], frame: Frame, text: str) -> dict[str, Any]:
    """The drafts extension: an empty-delta chunk carrying `draft` = this step's argmax canvas (text and ids), the
    noisy canvas the next step sees, the accepted mask (0/1) and per-position entropy."""
    draft = {"canvas_index": frame.canvas_index, "step": frame.step, "max_steps": frame.max_steps, "text": text,
             "ids": frame.draft, "canvas": frame.canvas, "accepted": [int(a) for a in frame.accepted],
             "entropy": [round(e, 4) for e in frame.entropy]}
    return chunk(meta, {}, draft=draft)


def completion(meta: dict[str, Any], answer: str, thinking: str, reason: str, completion_tokens: int,
               prompt_tokens: int) -> dict[str, Any]:
    """The non-streaming `chat.completion` body."""
    message = {"role": "assistant", "content": answer, "reasoning_content": thinking or None}
    return {**meta, "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": FINISH[reason]}],
            "usage": usage(prompt_tokens, completion_tokens)}


async def stream_events(meta: dict[str, Any], events: asyncio.Queue, *, include_usage: bool,
                        prompt_tokens: int, error_body: Callable[[BaseException], dict]) -> AsyncIterator[bytes]:
    """SSE bytes for one job's messages, from the role chunk to `data: [DONE]`."""
    yield sse(chunk(meta, {"role": "assistant", "content": ""}))
    while True:
        item = await events.get()
        kind = item[0]
        if kind == "draft":
            yield sse(draft_chunk(meta, item[1], item[2]))
        elif kind == "delta":
            if item[1] or item[2]:
                yield sse(chunk(meta, _delta(item[1], item[2])))
        elif kind == "done":
            _, content, reasoning, reason, completion_tokens, _answer, _thinking = item
            if content or reasoning:
                yield sse(chunk(meta, _delta(content, reasoning)))
            yield sse(chunk(meta, {}, FINISH[reason]))
            if include_usage:
                yield sse({**meta, "object": "chat.completion.chunk", "choices": [],
                           "usage": usage(prompt_tokens, completion_tokens)})
            break
        else:  # error or cancelled
            if kind == "error":
                yield sse(error_body(item[1]))
            break
    yield sse("[DONE]")


def _delta(content: str, reasoning: str) -> dict[str, str]:
    delta = {}
    if reasoning:
        delta["reasoning_content"] = reasoning
    if content:
        delta["content"] = content
    return delta


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client has gone (after the body was read, the next ASGI message is the disconnect)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class CancellingStream(StreamingResponse):
    """A `StreamingResponse` that calls `on_disconnect` as soon as the client goes, whatever the ASGI spec version
    (Starlette itself only listens for it below 2.4), so the engine stops before its next step."""

    def __init__(self, content: AsyncIterator[bytes], on_disconnect: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def body() -> None:
                try:
                    await self.stream_response(send)
                except OSError:  # the client went while we wrote
                    self.on_disconnect()
                group.cancel_scope.cancel()

            group.start_soon(body)
            await wait_disconnect(receive)
            self.on_disconnect()
            group.cancel_scope.cancel()
