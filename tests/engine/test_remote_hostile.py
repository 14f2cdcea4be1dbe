"""`engine.remote` against a hostile or broken server (`tests/fixtures/hostile_openai.py`, a real HTTP server on
127.0.0.1): Stop works while the server is silent, nothing it sends can fill memory or hang a connect, a wrong or
cut-off answer is an error that says so, out-of-range canvases and frames never reach the app, and server text in
a message carries no control characters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from engine import CanvasDone, Done, SamplerSettings, remote_http
from engine import remote as remote_module
from engine.remote import RemoteError, RemoteFrame, RemoteModel, generate_remote
from tests.fixtures import hostile_openai
from tests.fixtures.hostile_openai import CANVAS

hostile = hostile_openai.hostile
HI = [{"role": "user", "content": "hi"}]
LIMIT_S = 3.0  # far below every timeout the client would otherwise wait out (10 s per read, 600 s per stream)


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """`work()`'s result (or its exception), failing the test when it is still running after `seconds`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 — handed back to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def answer(url: str, cancel: threading.Event | None = None) -> list:
    return list(generate_remote(RemoteModel(url).connect(), HI, SamplerSettings(), cancel=cancel))


def message_of(work: Callable[[], Any]) -> str:
    with pytest.raises(RemoteError) as caught:
        within(LIMIT_S, work)
    return str(caught.value)


# 1. Stop while the server sends nothing


@pytest.mark.parametrize("mode", ["silent", "silent_headers"])
def test_cancel_ends_the_answer_while_the_server_is_silent(hostile, mode):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    events = within(LIMIT_S, lambda: answer(hostile.url(mode), cancel))
    assert isinstance(events[-1], Done) and events[-1].reason == "cancelled"


def test_a_server_that_is_slow_to_start_still_answers(hostile):
    done = within(LIMIT_S, lambda: answer(hostile.url("slow")))[-1]
    assert isinstance(done, Done) and done.text == "late" and done.reason == "eos"


def test_without_cancel_a_silent_server_is_given_up_at_the_read_timeout(hostile, monkeypatch):
    monkeypatch.setattr(remote_module, "STREAM_READ_TIMEOUT_S", 0.3)
    message = message_of(lambda: answer(hostile.url("silent")))
    assert "sent nothing for 0.3 s" in message and "No text of the answer had arrived" in message


# 2. Nothing the server sends can fill memory


def test_an_endless_stream_line_is_refused(hostile, monkeypatch):
    monkeypatch.setattr(remote_http, "MAX_LINE_BYTES", 256 * 1024)
    message = message_of(lambda: answer(hostile.url("endless_line")))
    assert "line longer than 256 KiB" in message


def test_an_endless_error_body_is_cut(hostile, monkeypatch):
    monkeypatch.setattr(remote_http, "MAX_ERROR_BYTES", 1024)
    message = message_of(lambda: answer(hostile.url("endless_500")))
    assert "answered 500" in message and "cut at 1 KiB" in message and len(message) < 600
    assert "refused the API key" in message_of(lambda: RemoteModel(hostile.url("endless_401")).connect())


def test_an_endless_model_list_is_refused(hostile, monkeypatch):
    monkeypatch.setattr(remote_http, "MAX_MODELS_BYTES", 256 * 1024)
    message = message_of(lambda: RemoteModel(hostile.url("endless_models")).connect())
    assert "more than 256 KiB" in message and "/models" in message


# 3. connect() has an overall deadline


def test_connect_gives_up_on_a_trickling_model_list(hostile, monkeypatch):
    monkeypatch.setattr(remote_module, "CONNECT_DEADLINE_S", 0.5)
    message = message_of(lambda: RemoteModel(hostile.url("trickle_models")).connect())
    assert "did not finish answering within 0.5 s" in message


# 4. A wrong or cut-off answer is an error


def test_an_answer_that_is_not_an_event_stream_is_refused(hostile):
    assert "answered text/html, not an event stream" in message_of(lambda: answer(hostile.url("html")))
    message = message_of(lambda: answer(hostile.url("json")))
    assert "answered application/json, not an event stream" in message and '"stream": true' in message


def test_redirects_are_refused_with_the_target_named(hostile):
    message = message_of(lambda: answer(hostile.url("redirect")))
    assert f"{hostile.url('elsewhere')}/chat/completions" in message and "redirect" in message
    message = message_of(lambda: RemoteModel(hostile.url("redirect_models")).connect())
    assert "https://elsewhere.example/v1/models" in message
    assert not [r for r in hostile.requests if r[1].startswith("/elsewhere/")]


def test_a_cut_off_stream_is_an_error_that_names_the_text_so_far(hostile):
    events: list = []

    def collect() -> None:
        for event in generate_remote(RemoteModel(hostile.url("cut")).connect(), HI, SamplerSettings()):
            events.append(event)

    message = message_of(collect)
    assert "ended before the answer finished" in message and "'The answer is'" in message
    assert [e.text for e in events if isinstance(e, CanvasDone)] == ["The answer is"]  # what arrived was yielded


def test_a_finished_stream_without_done_is_complete(hostile):
    done = within(LIMIT_S, lambda: answer(hostile.url("finished_no_done")))[-1]
    assert done.text == "whole" and done.reason == "length"


# 5. Out-of-range canvases and frames never reach the app


@pytest.mark.parametrize("mode", ["huge_canvas", "zero_canvas"])
def test_a_canvas_length_out_of_range_is_refused_at_connect(hostile, mode):
    assert "canvas of 1–4096 tokens" in message_of(lambda: RemoteModel(hostile.url(mode)).connect())


def test_frames_out_of_range_are_dropped(hostile):
    events = within(LIMIT_S, lambda: answer(hostile.url("drafts")))
    frames = [e for e in events if isinstance(e, RemoteFrame)]
    assert [(f.canvas_index, f.step, f.max_steps) for f in frames] == [(0, 2, 8)]
    assert frames[0].draft == [5, 6, 7, 8] and len(frames[0].canvas) == CANVAS and frames[0].text == "dra"
    assert events[-1].text == "done" and events[-1].stats.decoder_forwards == 1


# 6. The API key


@pytest.mark.parametrize("key", ["clé", "key\n", "k\x1bey", "\u200bkey"])
def test_an_api_key_that_is_not_printable_ascii_is_refused(hostile, key):
    with pytest.raises(RemoteError, match="printable ASCII"):
        RemoteModel(hostile.url("ok"), api_key=key)
    assert RemoteModel(hostile.url("ok"), api_key="sk-Ab_1.2~x").api_key == "sk-Ab_1.2~x"


# 7. Server text in messages


def test_server_text_in_messages_has_no_control_characters(hostile):
    message = message_of(lambda: RemoteModel(hostile.url("ansi_error")).connect())
    assert "answered 418: teapot second line" in message
    message = message_of(lambda: answer(hostile.url("ansi_event")))
    assert message.endswith("failed: GPU on fire really")
    for text in (message, message_of(lambda: RemoteModel(hostile.url("ansi_error")).connect())):
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)
