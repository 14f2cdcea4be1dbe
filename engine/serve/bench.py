"""Served vs in-process speed on one model, same prompts, seeds and settings, in one run.

In-process: `engine.generate` on one long-lived worker thread, as the desktop app runs it. Served: the same requests
through the real HTTP server on 127.0.0.1 (uvicorn, JSON, the queue's worker thread and the asyncio bridge), one at a
time, non-streaming. tok/s counts generated tokens over wall time; the two alternate request by request (and which
goes first alternates by round) so a machine's changing load affects both alike.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..generation import generate

PROMPTS = ("What is the capital of France?", "Hello! Who are you?", "Write one sentence about rain.",
           "Name three colours.")
SEEDS = (1, 2)


def run_bench(em: Any, *, rounds: int = 4) -> dict[str, Any]:
    """`{"served_tok_s", "in_process_tok_s", "ratio", "tokens_match", "serving_overhead_ms", "requests", "model",
    "device"}` — `serving_overhead_ms` is the median of a request's wall time minus the engine's own generation time
    (HTTP, JSON, chat template, the queue hand-off).

    Each tok/s figure is the median over requests of tokens / seconds, and `ratio` the median of the per-pair ratios
    (the same prompt and seed, served and in-process back to back): a busy machine's bursts hit single requests, and
    medians keep them from deciding the figure. A served request's wall time includes HTTP, JSON and the queue.
    """
    import httpx2

    from ..settings import SamplerSettings
    from .server import Server

    defaults = SamplerSettings.for_model(em)
    cases = [(p, s) for p in PROMPTS for s in SEEDS]
    served: list[float] = []
    local: list[float] = []
    overhead: list[float] = []
    match = True
    with Server(em, port=0) as server, httpx2.Client(timeout=600) as client, ThreadPoolExecutor(1) as worker:
        url = server.url + "/chat/completions"

        def over_http(messages: list[dict[str, str]], seed: int) -> tuple[float, int, str]:
            start = time.perf_counter()
            answer = client.post(url, json={"messages": messages, "seed": seed}).json()
            wall = time.perf_counter() - start
            overhead.append(wall - server.records[-1].seconds)  # all but the engine's own loop
            return wall, answer["usage"]["completion_tokens"], answer["choices"][0]["message"]["content"]

        def in_process(messages: list[dict[str, str]], seed: int) -> tuple[float, int, str]:
            # On one long-lived thread, as the app's engine worker and the server's own worker run it.
            start = time.perf_counter()
            done = worker.submit(lambda: _last(generate(em, em.chat_ids(messages), defaults.with_(seed=seed)))).result()
            return time.perf_counter() - start, len(done.token_ids), done.text

        warm = [{"role": "user", "content": PROMPTS[0]}]
        over_http(warm, 0), in_process(warm, 0)  # imports, caches, thread start-up: untimed
        for round_index in range(rounds):
            for prompt, seed in cases:
                messages = [{"role": "user", "content": prompt}]
                order = (over_http, in_process) if round_index % 2 == 0 else (in_process, over_http)
                results = {fn.__name__: fn(messages, seed) for fn in order}
                (s_sec, s_tok, s_text), (l_sec, l_tok, l_text) = results["over_http"], results["in_process"]
                served.append(s_tok / s_sec)
                local.append(l_tok / l_sec)
                match = match and s_text == l_text
    served_tok_s, local_tok_s = statistics.median(served), statistics.median(local)
    return {"served_tok_s": round(served_tok_s, 2), "in_process_tok_s": round(local_tok_s, 2),
            "ratio": round(statistics.median(a / b for a, b in zip(served, local)), 3), "tokens_match": match,
            "serving_overhead_ms": round(statistics.median(overhead[1:]) * 1000, 1), "requests": len(served),
            "model": str(getattr(em, "name", "model")), "device": str(em.device)}


def _last(events: Any) -> Any:
    done = None
    for done in events:
        pass
    return done
