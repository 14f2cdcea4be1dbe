"""`engine.remote`: the remote backend against the project's own server (per-step frames) and against a recorded
vLLM-style stream served by a small Starlette app (one canvas per chunk), and its error messages."""

from __future__ import annotations

import socket
import threading

import pytest

from engine import CanvasDone, Done, EngineError, EngineModel, Frame, SamplerSettings
from engine.paths import demo_model_dir
from engine.remote import NotADiffusionModelError, RemoteFrame, RemoteModel, generate_remote
from engine.serve import Server
from tests.fixtures import fake_vllm
from tests.fixtures.fake_vllm import VLLM_KEY

KEY = "remote-key"
WAIT_S = 120


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


vllm = fake_vllm.vllm


@pytest.fixture(scope="module")
def em():
    return EngineModel.from_pretrained(demo_model_dir())


class Gate:
    def __init__(self) -> None:
        self.held, self.release = threading.Event(), threading.Event()

    def on_event(self, record, event) -> None:
        if isinstance(event, Frame) and event.step == 1 and event.canvas_index == 0 and not self.release.is_set():
            self.held.set()
            self.release.wait(WAIT_S)


@pytest.fixture(scope="module")
def gate():
    return Gate()


@pytest.fixture(scope="module")
def desk(em, gate):
    gate.release.set()  # only the cancel test holds the engine
    server = Server(em, port=0, api_key=KEY, on_event=gate.on_event).start()
    yield server
    gate.release.set()
    server.stop()


def test_own_server_gives_per_step_frames_and_the_same_answer(desk, em):
    remote = RemoteModel(desk.url, api_key=KEY).connect()
    assert remote.per_step_frames and remote.model == em.name and remote.kind == "diffusion-desk"
    settings = SamplerSettings.for_model(em, seed=4)
    events = list(generate_remote(remote, user("Who are you?"), settings))
    frames = [e for e in events if isinstance(e, Frame)]
    canvases = [e for e in events if isinstance(e, CanvasDone)]
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "eos"
    assert frames and all(isinstance(f, RemoteFrame) for f in frames)
    assert len(frames) == desk.records[-1].steps == done.stats.decoder_forwards
    first_canvas = [f.step for f in frames if f.canvas_index == 0]
    assert first_canvas == list(range(1, len(first_canvas) + 1))
    assert all(len(f.draft) == em.canvas_length for f in frames)
    from engine import generate

    local = list(generate(em, em.chat_ids(user("Who are you?")), settings))[-1]
    assert done.text == local.text and "".join(c.text for c in canvases).strip() == local.text
    assert done.stats.tokens == len(local.token_ids)


def test_cancel_closes_the_stream_and_the_server_stops_within_one_step(desk, em, gate):
    gate.held.clear()
    gate.release.clear()
    cancel = threading.Event()
    remote = RemoteModel(desk.url, api_key=KEY).connect()
    events = generate_remote(remote, user("Tell me a long story."), SamplerSettings.for_model(em), cancel=cancel)
    first = next(events)
    assert isinstance(first, RemoteFrame) and first.step == 1
    assert gate.held.wait(WAIT_S)
    record = desk.records[-1]
    cancel.set()
    rest = list(events)
    assert isinstance(rest[-1], Done) and rest[-1].reason == "cancelled"
    assert record.cancel.wait(WAIT_S)
    gate.release.set()
    assert record.finished.wait(WAIT_S)
    assert record.reason == "cancelled" and record.steps_after_cancel <= 1


def test_vllm_stream_gives_one_canvas_per_chunk_and_no_frames(vllm):
    remote = RemoteModel(vllm.url, api_key=VLLM_KEY).connect()
    assert not remote.per_step_frames and remote.kind == "openai-compatible"
    settings = SamplerSettings(max_new_tokens=512, seed=7)
    events = list(generate_remote(remote, user("Explain block diffusion."), settings, enable_thinking=True))
    assert not [e for e in events if isinstance(e, Frame)]
    canvases = [e for e in events if isinstance(e, CanvasDone)]
    assert [c.canvas_index for c in canvases] == [0, 1, 2]
    assert canvases[1].text.startswith("Block diffusion writes") and canvases[0].text == ""
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "eos"
    assert done.text.startswith("Block diffusion") and done.text.endswith("instead of 256.")
    assert done.thinking.startswith("The user wants") and "The user" not in done.text
    assert done.stats.tokens == 340 and done.stats.prompt_tokens == 21
    sent = vllm.bodies[-1]
    assert sent["max_tokens"] == 512 and sent["seed"] == 7 and sent["stream"] is True
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}
    assert "diffusion" not in sent and "include_drafts" not in sent["stream_options"]


def test_vllm_errors_name_the_problem(vllm):
    with pytest.raises(EngineError, match="refused the API key"):
        RemoteModel(vllm.url, api_key="wrong").connect()
    with pytest.raises(EngineError, match="no model 'gemma-3'"):
        RemoteModel(vllm.url, api_key=VLLM_KEY, model="gemma-3").connect()
    remote = RemoteModel(vllm.url, api_key=VLLM_KEY).connect()
    remote.model = "renamed-since"
    with pytest.raises(EngineError, match="no model 'renamed-since'"):
        list(generate_remote(remote, user("hi"), SamplerSettings()))
    vllm.model, saved = "meta-llama/Llama-3.1-8B-Instruct", vllm.model
    try:
        with pytest.raises(NotADiffusionModelError, match="not a diffusion model"):
            RemoteModel(vllm.url, api_key=VLLM_KEY).connect()
    finally:
        vllm.model = saved


def test_unreachable_server_and_bad_addresses_fail_fast():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(EngineError, match="Cannot reach"):
        RemoteModel(f"http://127.0.0.1:{port}").connect()
    assert RemoteModel("http://127.0.0.1:1").client().timeout.connect == 3.0
    for bad in ("ftp://host/v1", "not a url", "http://user:pw@host/v1"):
        with pytest.raises(EngineError):
            RemoteModel(bad)
    assert RemoteModel("http://127.0.0.1:8000").url == "http://127.0.0.1:8000/v1"
    assert RemoteModel("http://127.0.0.1:8000/v1/").url == "http://127.0.0.1:8000/v1"


def test_own_server_key_is_checked(desk):
    with pytest.raises(EngineError, match="refused the API key"):
        RemoteModel(desk.url, api_key="nope").connect()
