"""`engine.remote`: the remote backend against the project's own server (per-step frames) and against a recorded
vLLM-style stream served by a small Starlette app (one canvas per chunk), and its error messages."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine import CanvasDone, Done, EngineError, EngineModel, Frame, SamplerSettings
from engine.paths import demo_model_dir
from engine.remote import NotADiffusionModelError, RemoteFrame, RemoteModel, generate_remote
from engine.serve import Server

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "vllm_stream.txt"
KEY = "remote-key"
VLLM_KEY = "vllm-key"
WAIT_S = 120


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


class FakeVllm:
    """A tiny OpenAI-compatible server that answers like vLLM: its model list, its errors, the recorded stream."""

    def __init__(self) -> None:
        self.model = "google/diffusiongemma-26B-A4B-it"
        self.bodies: list[dict] = []
        self.app = Starlette(routes=[Route("/v1/models", self.models), Route("/v1/chat/completions", self.chat,
                                                                             methods=["POST"])])

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {VLLM_KEY}"

    async def models(self, request: Request) -> Response:
        if not self.authorized(request):
            return JSONResponse({"error": {"message": "Unauthorized", "type": "Unauthorized", "code": 401}}, 401)
        return JSONResponse({"object": "list", "data": [{
            "id": self.model, "object": "model", "created": 1764590400, "owned_by": "vllm", "root": self.model,
            "parent": None, "max_model_len": 262144}]})

    async def chat(self, request: Request) -> Response:
        if not self.authorized(request):
            return JSONResponse({"error": {"message": "Unauthorized", "type": "Unauthorized", "code": 401}}, 401)
        body = json.loads(await request.body())
        self.bodies.append(body)
        if body.get("model") != self.model:
            message = f"The model `{body.get('model')}` does not exist."
            return JSONResponse({"error": {"message": message, "type": "NotFoundError", "param": None,
                                           "code": 404}}, 404)
        return Response(RECORDING.read_bytes(), media_type="text/event-stream")


def serve(app) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Run `app` on 127.0.0.1:<free port>; the socket listens before uvicorn starts, so no readiness wait."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio sets NODELAY
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/v1", server, thread


@pytest.fixture(scope="module")
def vllm():
    fake = FakeVllm()
    url, server, thread = serve(fake.app)
    fake.url = url
    yield fake
    server.should_exit = True
    thread.join(10)


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
