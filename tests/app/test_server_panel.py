"""The Server switch: the real window serves its loaded model to the official openai client, on the app's own
engine worker; requests show in the log and on the canvas; a wrong key gets 401; off stops serving."""

from __future__ import annotations

import threading

import keyring
import openai
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from tests.fixtures.memory_keyring import MemoryKeyring

KEY = "dd-test-key"
FAST = {"diffusion": {"max_denoising_steps": 3}}


@pytest.fixture(autouse=True)
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    backend.store[("Diffusion Desk", "api-key")] = KEY
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _in_thread(qtbot, work, timeout=120_000) -> dict:
    """Run `work(result)` on a plain thread while the Qt event loop keeps running; re-raise its failure."""
    result: dict = {}

    def body() -> None:
        try:
            work(result)
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            result["failure"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=timeout)
    if "failure" in result:
        raise result["failure"]
    return result


def _turn_on(qtbot, desk):
    panel = desk.window.findChild(QWidget, "serverPanel")
    desk.window.nav.setCurrentRow(desk.window.pages.indexOf(panel))
    qtbot.waitUntil(lambda: panel.key.text() == KEY, timeout=10_000)  # read from the keyring off the GUI thread
    panel.port.setValue(0)
    switch = panel.findChild(QWidget, "serverSwitch")
    with qtbot.waitSignal(desk.server.started, timeout=30_000):
        switch.click()
    qtbot.waitUntil(lambda: panel.url.text().startswith("http://127.0.0.1:"), timeout=10_000)
    return panel, switch


def test_switch_serves_the_window_model_to_the_openai_client(qtbot, desk):
    panel, switch = _turn_on(qtbot, desk)
    url = panel.url.text()
    assert "$DIFFUSION_DESK_API_KEY" in panel.curl.toPlainText() and url in panel.python.toPlainText()

    def talk(result: dict) -> None:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=60)
        result["models"] = [m.id for m in client.models.list().data]
        result["answer"] = client.chat.completions.create(
            model=result["models"][0], messages=[{"role": "user", "content": "hi"}], max_tokens=64, seed=3,
            extra_body=FAST)
        try:
            openai.OpenAI(base_url=url, api_key="wrong", max_retries=0, timeout=30).models.list()
        except openai.AuthenticationError as exc:
            result["wrong_key"] = exc.status_code

    result = _in_thread(qtbot, talk)
    answer = result["answer"]
    assert result["wrong_key"] == 401
    assert answer.choices[0].finish_reason == "length" and answer.usage.completion_tokens == 64
    # newest first: the wrong key's refusal (logged with its status), then the answer
    qtbot.waitUntil(lambda: panel.log.rowCount() == 2 and panel.log.item(1, 2).text() == "finished", timeout=10_000)
    assert panel.log.item(1, 1).text() == answer.id and panel.log.item(1, 4).text() == "64"
    assert panel.log.item(0, 2).text() == "rejected" and panel.log.item(0, 7).text().startswith("401 ")
    canvas = desk.window.chat.canvas
    qtbot.waitUntil(lambda: answer.id in canvas.transport.status.text(), timeout=10_000)
    assert [f.step for f in canvas.frames if f.canvas_index == 0] == [0, 1, 2, 3]  # every step, from step 0

    with qtbot.waitSignal(desk.server.stopped, timeout=30_000):
        switch.click()
    assert not switch.isChecked() and panel.url.text() == ""

    def refused(result: dict) -> None:
        try:
            openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=10).models.list()
        except openai.APIConnectionError:
            result["refused"] = True

    assert _in_thread(qtbot, refused).get("refused")


@pytest.mark.parametrize("server_first", [False, True])
def test_server_requests_and_chat_answers_take_turns_on_the_one_worker(qtbot, desk, server_first):
    """The worker is held by a gate job so the order is certain: the second arrival waits for the first, and a
    server request never draws over the canvas of a chat answer the user started."""
    panel, _switch = _turn_on(qtbot, desk)
    url = panel.url.text()
    order: list[str] = []
    desk.controller.answer_finished.connect(lambda _m: order.append("chat done"))
    desk.server.events.frame.connect(lambda r, f: order.append("server") if not order or order[-1] != "server" else 0)
    gate = threading.Event()
    desk.worker.run_with_model(lambda _em: gate.wait(60))
    composer = desk.window.findChild(QWidget, "composer")
    server_result: dict = {}

    def talk() -> None:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=120)
        server_result.update(_safe(lambda r: r.update(answer=client.chat.completions.create(
            model=client.models.list().data[0].id, messages=[{"role": "user", "content": "hi"}], max_tokens=64,
            extra_body=FAST))))

    client_thread = threading.Thread(target=talk, daemon=True)
    if server_first:
        client_thread.start()
        qtbot.waitUntil(lambda: panel.log.rowCount() == 1, timeout=30_000)
    composer.setPlainText("hello from the window")
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=120_000) as finished:
        qtbot.keyClick(composer, Qt.Key.Key_Return)
        assert desk.controller.live is not None
        if not server_first:
            client_thread.start()
            qtbot.waitUntil(lambda: panel.log.rowCount() == 1, timeout=30_000)
        gate.set()
    qtbot.waitUntil(lambda: not client_thread.is_alive(), timeout=120_000)
    assert "failure" not in server_result, server_result.get("failure")
    assert server_result["answer"].usage.completion_tokens == 64
    stored = [m for m in desk.store.messages(desk.controller.conversation_id) if m.id == finished.args[0]][0]
    assert stored.status == "done" and stored.text
    canvas_status = desk.window.chat.canvas.transport.status.text()
    if server_first:  # it ran first, but the chat owned the canvas: the server's frames were not drawn
        assert order == ["server", "chat done"] and server_result["answer"].id not in canvas_status
    else:  # the server's request ran after the answer, and then showed on the canvas
        qtbot.waitUntil(lambda: server_result["answer"].id in desk.window.chat.canvas.transport.status.text())
        assert order == ["chat done", "server"]


def _safe(work) -> dict:
    result: dict = {}
    try:
        work(result)
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        result["failure"] = exc
    return result


def test_loading_another_model_restarts_the_server_with_it(qtbot, desk):
    from transformers import PreTrainedTokenizerFast

    from app.models.model_sources import tiny_tokenizer_dir
    from engine import EngineModel
    from engine.tiny import tiny_model

    panel, switch = _turn_on(qtbot, desk)
    first = desk.server.server
    other = EngineModel.wrap(tiny_model(seed=2, vocab_size=128, canvas_length=32),
                             PreTrainedTokenizerFast.from_pretrained(str(tiny_tokenizer_dir())), name="second-model")
    with qtbot.waitSignal(desk.server.started, timeout=60_000):
        desk.worker.use_model(other, "second")
    qtbot.waitUntil(lambda: "second-model" in panel.status.text(), timeout=10_000)
    assert desk.server.server is not first and switch.isChecked() and panel.url.text()
    url = panel.url.text()

    def ask_second(result: dict) -> None:
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=60)
        result["answer"] = client.chat.completions.create(
            model="second-model", messages=[{"role": "user", "content": "hi"}], max_tokens=32, extra_body=FAST)

    assert _in_thread(qtbot, ask_second)["answer"].model == "second-model"


def test_the_key_note_says_where_a_saved_key_goes(qtbot, desk, chat_em, tmp_path):
    from keyring.backends import fail

    from tests.app.helpers import open_desktop

    note = desk.window.findChild(QWidget, "apiKeyNote")
    qtbot.waitUntil(lambda: note.text().startswith("The key is kept in the system keyring."), timeout=10_000)
    keyring.set_keyring(fail.Keyring())  # a machine without a keyring (as CI is): the page must not promise one
    other = open_desktop(qtbot, chat_em, tmp_path / "other.sqlite3")
    try:
        note = other.window.findChild(QWidget, "apiKeyNote")
        qtbot.waitUntil(lambda: note.text().startswith("No system keyring is available"), timeout=10_000)
        assert "session only" in note.text()
    finally:
        other.window.close()


def test_examples_name_the_loaded_model_before_the_server_starts(qtbot, desk):
    panel = desk.window.findChild(QWidget, "serverPanel")
    name = desk.controller.model.name  # the model the window loaded; the server would serve it under this id
    assert f'"model": "{name}"' in panel.curl.toPlainText()
    assert f'model="{name}"' in panel.python.toPlainText()
