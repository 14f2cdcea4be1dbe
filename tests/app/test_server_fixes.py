"""Server page fixes from a user walkthrough: a key saved while serving applies at once, rejected requests show in
the Requests log, and the examples ask the demo model a question it answers. Real window, real server on
127.0.0.1 (port 0), real HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import keyring
import pytest
from PySide6.QtWidgets import QWidget

from app.chat.example_prompts import DEMO_EXAMPLES
from app.models.model_sources import demo_model_available, demo_model_dir
from app.server.examples import GENERAL_PROMPT
from tests.fixtures.memory_keyring import MemoryKeyring

KEY = "dd-test-key"


@pytest.fixture(autouse=True)
def memory_keyring():
    """An empty in-memory keyring (the machine has none): the server starts without a key unless a test saves one."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _page(qtbot, desk):
    """The Server page, shown, once the keyring has answered (its note says where a key goes)."""
    panel = desk.window.findChild(QWidget, "serverPanel")
    desk.window.nav.setCurrentRow(desk.window.pages.indexOf(panel))
    note = panel.findChild(QWidget, "apiKeyNote")
    qtbot.waitUntil(lambda: note.text().startswith("The key is kept in the system keyring."), timeout=10_000)
    return panel


def _turn_on(qtbot, desk, panel) -> str:
    """Click the switch with port 0 (any free port); the server's URL once it serves."""
    panel.port.setValue(0)
    with qtbot.waitSignal(desk.server.started, timeout=30_000):
        panel.findChild(QWidget, "serverSwitch").click()
    qtbot.waitUntil(lambda: panel.url.text().startswith("http://127.0.0.1:"), timeout=10_000)
    return panel.url.text()


def _send(url: str, *, key: str = "", body: bytes | None = None, timeout: float = 60) -> tuple[int, dict]:
    """One real HTTP request (GET, or POST of `body` as JSON), blocking: (status, JSON body)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _http(qtbot, url: str, **request) -> tuple[int, dict]:
    """`_send` on a plain thread while the Qt event loop keeps running; re-raises its failure."""
    result: dict = {}

    def send() -> None:
        try:
            result["answer"] = _send(url, **request)
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            result["failure"] = exc

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=90_000)
    if "failure" in result:
        raise result["failure"]
    return result["answer"]


# -- 3. the examples ask the demo model a question it answers ---------------------------------------------------------
@pytest.mark.skipif(not demo_model_available(), reason="the demo model is not embedded in this checkout")
def test_examples_ask_the_demo_model_a_question_it_answers(qtbot, desk, chat_em):
    panel = _page(qtbot, desk)
    # chat_em stands in for the demo weights (fast); what decides the prompt is the source the window loaded
    with qtbot.waitSignal(desk.worker.model_loaded, timeout=60_000):
        desk.worker.use_model(chat_em, str(demo_model_dir()))
    demo_prompt = json.dumps(DEMO_EXAMPLES[0])  # one the demo model answers (tests/engine/test_demo_model.py)
    assert demo_prompt in panel.curl.toPlainText() and demo_prompt in panel.python.toPlainText()
    assert GENERAL_PROMPT not in panel.curl.toPlainText() + panel.python.toPlainText()

    _turn_on(qtbot, desk, panel)  # the examples are written again for the running server: still the demo's prompt
    assert demo_prompt in panel.curl.toPlainText() and demo_prompt in panel.python.toPlainText()

    with qtbot.waitSignal(desk.server.started, timeout=60_000):  # a real model: a general request
        desk.worker.use_model(chat_em, "/models/some-folder")
    qtbot.waitUntil(lambda: GENERAL_PROMPT in panel.curl.toPlainText(), timeout=10_000)
    assert GENERAL_PROMPT in panel.python.toPlainText() and demo_prompt not in panel.curl.toPlainText()


# -- 1. a key saved while serving applies at once ---------------------------------------------------------------------
def test_a_key_saved_while_serving_protects_the_server_at_once(qtbot, desk, memory_keyring):
    panel = _page(qtbot, desk)
    assert panel.key.text() == ""
    url = _turn_on(qtbot, desk, panel)
    models = f"{url}/models"
    assert _http(qtbot, models)[0] == 200  # no key yet: any program may use it
    assert '"not-needed"' in panel.python.toPlainText()

    panel.findChild(QWidget, "newApiKeyButton").click()
    key = panel.key.text()
    with qtbot.waitSignal(desk.server.started, timeout=30_000):  # no switching off and on by hand
        panel.findChild(QWidget, "saveApiKeyButton").click()
    qtbot.waitUntil(lambda: "(key required)" in panel.status.text(), timeout=10_000)
    assert panel.url.text() == url  # the same address: a client's base URL keeps working
    assert _http(qtbot, models)[0] == 401
    assert _http(qtbot, models, key="wrong")[0] == 401
    status, body = _http(qtbot, models, key=key)
    assert status == 200 and body["data"][0]["id"] == desk.controller.model.name
    assert '"Authorization: Bearer $DIFFUSION_DESK_API_KEY"' in panel.curl.toPlainText()
    assert 'api_key=os.environ["DIFFUSION_DESK_API_KEY"]' in panel.python.toPlainText()
    assert "not-needed" not in panel.python.toPlainText()
    qtbot.waitUntil(lambda: memory_keyring.store.get(("Diffusion Desk", "api-key")) == key, timeout=10_000)
    assert "next time" not in panel.findChild(QWidget, "apiKeyNote").text()

    panel.key.clear()  # clearing the key while on opens the server again, and the page says so
    with qtbot.waitSignal(desk.server.started, timeout=30_000):
        panel.findChild(QWidget, "saveApiKeyButton").click()
    qtbot.waitUntil(lambda: "no key" in panel.status.text(), timeout=10_000)
    assert "(key required)" not in panel.status.text() and panel.url.text() == url
    assert _http(qtbot, models)[0] == 200
    assert '"not-needed"' in panel.python.toPlainText() and "Authorization" not in panel.curl.toPlainText()
    qtbot.waitUntil(lambda: ("Diffusion Desk", "api-key") not in memory_keyring.store, timeout=10_000)


def test_saving_the_key_the_server_already_requires_keeps_it_running(qtbot, desk):
    panel = _page(qtbot, desk)
    panel.key.setText(KEY)  # typed, not saved: the switch applies it
    _turn_on(qtbot, desk, panel)
    first = desk.server.server
    panel.findChild(QWidget, "saveApiKeyButton").click()
    qtbot.wait(200)
    assert desk.server.server is first and "(key required)" in panel.status.text()
    assert _http(qtbot, f"{panel.url.text()}/models", key=KEY)[0] == 200


def test_a_key_saved_while_off_shows_in_the_examples(qtbot, desk):
    panel = _page(qtbot, desk)
    assert '"not-needed"' in panel.python.toPlainText()
    panel.findChild(QWidget, "newApiKeyButton").click()
    panel.findChild(QWidget, "saveApiKeyButton").click()
    assert 'api_key=os.environ["DIFFUSION_DESK_API_KEY"]' in panel.python.toPlainText()
    assert desk.server.server is None and not panel.switch.isChecked()


# -- 2. rejected requests show in the Requests log --------------------------------------------------------------------
def _rows(panel) -> list[tuple[str, ...]]:
    """The Requests log as text: (request, state, steps, result) per row, newest first."""
    log = panel.log
    return [tuple(log.item(row, column).text() for column in (1, 2, 5, 7)) for row in range(log.rowCount())]


def test_rejected_requests_show_in_the_log_with_status_and_reason(qtbot, desk):
    panel = _page(qtbot, desk)
    panel.key.setText(KEY)
    url = _turn_on(qtbot, desk, panel)
    chat = f"{url}/chat/completions"
    model = desk.controller.model.name

    def ask(**fields) -> bytes:
        return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}).encode()

    assert _http(qtbot, chat, key=KEY, body=b"{not json")[0] == 400
    assert _http(qtbot, f"{url}/models", key="wrong")[0] == 401
    assert _http(qtbot, chat, key=KEY, body=ask(model="no-such-model"))[0] == 404
    assert _http(qtbot, chat, key=KEY, body=ask(n=2))[0] == 422
    qtbot.waitUntil(lambda: panel.log.rowCount() == 4, timeout=10_000)
    rows = _rows(panel)
    chat_row, models_row = ("POST /v1/chat/completions", "rejected", ""), ("GET /v1/models", "rejected", "")
    assert [r[:3] for r in rows] == [chat_row, chat_row, models_row, chat_row]  # newest first
    assert rows[3][3].startswith("400 The request body is not valid JSON")
    assert rows[2][3].startswith("401 The API key is not valid")
    assert rows[1][3].startswith('404 The model "no-such-model" does not exist')
    assert rows[0][3].startswith("422 'n' must be 1")

    # a request the server queued has its own row, also when it then fails (here: the server stops while it waits
    # behind a job holding the worker): never a second, "rejected" one
    gate = threading.Event()
    desk.worker.run_with_model(lambda _em: gate.wait(60))
    answered: dict = {}
    client = threading.Thread(target=lambda: answered.update(reply=_send(chat, key=KEY, body=ask())),
                              daemon=True)
    try:
        client.start()
        qtbot.waitUntil(lambda: panel.log.rowCount() == 5, timeout=10_000)
        with qtbot.waitSignal(desk.server.stopped, timeout=30_000):
            panel.findChild(QWidget, "serverSwitch").click()
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not client.is_alive(), timeout=30_000)
    assert answered["reply"][0] == 503
    qtbot.wait(200)  # a second row would arrive as a queued signal
    assert panel.log.rowCount() == 5
    assert panel.log.item(0, 1).text().startswith("chatcmpl-") and panel.log.item(0, 2).text() == "finished"


def test_a_key_read_finishing_after_the_window_closed_raises_nothing(qtbot, monkeypatch):
    """The keyring answers from a background thread; when the window (and the key store) is gone by then, the
    answer is dropped — before, the thread died with 'Signal source has been deleted' on stderr."""
    import shiboken6

    import app.server.api_key as api_key

    store = api_key.ApiKeyStore()
    shiboken6.delete(store)
    errors: list = []
    monkeypatch.setattr("threading.excepthook", lambda args: errors.append(args.exc_value))
    monkeypatch.setattr(api_key, "read_key", lambda: "dd-late")
    store_read = api_key.ApiKeyStore._read
    thread = __import__("threading").Thread(target=store_read, args=(store,))
    thread.start()
    thread.join(10)
    assert not errors
