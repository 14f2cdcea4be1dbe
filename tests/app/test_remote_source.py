"""The "Remote server (OpenAI-compatible)" model source: chosen through the picker's dialog, answering in the real
window through the same worker and events — per-step frames from another Diffusion Desk, whole canvases (and the
canvas note saying so) from a vLLM-style stream, and a clear banner for a refused key."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtWidgets import QWidget

from app.models.remote_source import NO_STEPS_NOTE
from app.shell.desktop import REMOTE
from engine.serve import Server
from tests.app.helpers import ask
from tests.fixtures import fake_vllm
from tests.fixtures.fake_vllm import RECORDING, VLLM_KEY

KEY = "remote-test-key"
vllm = fake_vllm.vllm


@pytest.fixture(autouse=True)
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # keys stay in this session: the test never touches the OS keyring
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def other_desk():
    """Another Diffusion Desk's server: its own tiny model (never the window's), answering per step."""
    from transformers import PreTrainedTokenizerFast

    from app.models.model_sources import tiny_tokenizer_dir
    from engine import EngineModel
    from engine.tiny import tiny_model

    model = tiny_model(seed=1, vocab_size=128, canvas_length=32)
    em = EngineModel.wrap(model, PreTrainedTokenizerFast.from_pretrained(str(tiny_tokenizer_dir())),
                          name="other-desk-model")
    server = Server(em, port=0, api_key=KEY).start()
    yield server
    server.stop()


def _choose_remote(qtbot, desk, url: str, key: str):
    """Pick "Remote server (OpenAI-compatible)…" in the model picker and fill its dialog, as a user would."""
    picker = desk.window.model_picker_controller
    combo = desk.window.findChild(QWidget, "modelPicker")
    combo.activated.emit(combo.findData(REMOTE))
    dialog = picker.remote_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.url.setText(url)
    dialog.key.setText(key)
    dialog.accept()


def _use_remote(qtbot, desk, url: str, key: str):
    with qtbot.waitSignal(desk.controller.model_ready, timeout=30_000) as ready:
        _choose_remote(qtbot, desk, url, key)
    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=64, max_denoising_steps=3)
    return ready.args[0]


def test_another_diffusion_desk_answers_with_per_step_frames(qtbot, desk, other_desk):
    info = _use_remote(qtbot, desk, other_desk.url, KEY)
    assert info.device == "remote" and info.canvas_note == "" and "other-desk-model" in info.name
    assert "Remote:" in desk.window.stats_label.text()
    message_id = ask(qtbot, desk, "hello over there")
    stored = desk.store.message(message_id)
    # the server closes its job record just after the last chunk leaves, so the client can be done first
    qtbot.waitUntil(lambda: other_desk.records[-1].state == "finished", timeout=10_000)
    record = other_desk.records[-1]
    assert stored.status == "done" and record.completion_tokens > 0
    frames = desk.window.chat.canvas.frames
    assert frames and {f.step for f in frames} >= {1, 2, 3}  # every denoising step travelled over HTTP


def test_only_the_denoising_settings_the_user_changed_are_sent(other_desk):
    from app.models.remote_source import connect_remote, remember_key, remote_source
    from engine import SamplerSettings

    remember_key(other_desk.url, KEY)
    remote = connect_remote(remote_source(other_desk.url))
    hi = [{"role": "user", "content": "hi"}]
    assert "diffusion" not in remote.request_body(hi, SamplerSettings())  # the server's model keeps its own
    assert remote.request_body(hi, SamplerSettings(max_denoising_steps=3))["diffusion"] == {"max_denoising_steps": 3}


def test_a_vllm_style_server_gives_canvases_and_the_canvas_says_why_no_steps(qtbot, desk, vllm):
    info = _use_remote(qtbot, desk, vllm.url, VLLM_KEY)
    assert info.canvas_note == NO_STEPS_NOTE
    message_id = ask(qtbot, desk, "hello vllm")
    stored = desk.store.message(message_id)
    assert stored.status == "done" and stored.text
    assert stored.text.split()[0] in RECORDING.read_text(encoding="utf-8")
    canvas = desk.window.chat.canvas
    assert canvas.frames == [] and canvas.view._note == NO_STEPS_NOTE  # the note painted in place of a grid


def test_a_refused_key_is_a_clear_banner(qtbot, desk, other_desk):
    _choose_remote(qtbot, desk, other_desk.url, "wrong")
    banner = desk.window.findChild(QWidget, "errorBanner")
    qtbot.waitUntil(lambda: banner.isVisible() and "refused the API key" in banner.text(), timeout=30_000)


def test_the_remembered_server_reconnects_at_start_and_a_gone_one_falls_back_to_the_demo_model(qtbot, tmp_path,
                                                                                                other_desk):
    from app.common.keyring_entry import write_entry
    from app.models.model_sources import default_model_source
    from app.models.remote_source import remote_source
    from app.shell.desktop import create_desktop
    from app.store.app_settings import AppSettings
    from engine.remote import RemoteModel
    from tests.fixtures.memory_keyring import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())  # the key kept by an earlier run, as the OS keyring would
    url = RemoteModel(other_desk.url).url
    write_entry(f"remote-api-key {url}", KEY)

    def start():
        desktop = create_desktop(store_path=tmp_path / "chats.sqlite3", settings=AppSettings(model=remote_source(url)))
        qtbot.addWidget(desktop.window)
        return desktop

    desktop = start()
    try:
        qtbot.waitUntil(lambda: desktop.controller.model is not None, timeout=30_000)
        assert desktop.controller.model.source == remote_source(url)  # connected with the key from the keyring
        assert desktop.window.model_picker.currentData() == remote_source(url)
    finally:
        desktop.window.close()
    other_desk.stop()  # the server is gone at the next start
    desktop = start()
    try:
        qtbot.waitUntil(lambda: desktop.controller.model is not None, timeout=60_000)
        assert desktop.controller.model.source == default_model_source()
        banner = desktop.window.findChild(QWidget, "errorBanner")
        assert not banner.isHidden() and "Cannot reach" in banner.text() and "Loaded Demo model" in banner.text()
        assert desktop.window.model_picker.currentData() == default_model_source()
    finally:
        desktop.window.close()


def test_a_server_that_does_not_answer_leaves_the_loaded_model_in_use(qtbot, desk):
    """Picking a remote server that is not running: the banner says so and that the model loaded before is still in
    use; the picker shows that model again, Send works, and a question is answered by it."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = desk.controller.model
    with qtbot.waitSignal(desk.controller.model_ready, timeout=30_000) as ready:
        _choose_remote(qtbot, desk, f"http://127.0.0.1:{port}/v1", "")
    assert ready.args[0].source == before.source
    banner = desk.window.findChild(QWidget, "errorBanner")
    assert banner.isVisible() and "Cannot reach" in banner.text() and "Still using tiny-test." in banner.text()
    assert desk.controller.model.source == before.source
    assert desk.window.model_picker.currentData() == before.source
    assert desk.window.chat.send_button.isEnabled() and desk.window.load_progress.isHidden()
    assert desk.store.message(ask(qtbot, desk, "still here?")).status == "done"


def test_a_folder_that_is_not_a_model_leaves_the_loaded_model_in_use(qtbot, desk, tmp_path):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    before = desk.controller.model
    with qtbot.waitSignal(desk.controller.model_ready, timeout=30_000):
        desk.window.model_picker_controller.load(str(folder))
    banner = desk.window.findChild(QWidget, "errorBanner")
    assert banner.isVisible() and "Still using tiny-test." in banner.text()
    assert desk.controller.model.source == before.source and desk.window.chat.send_button.isEnabled()
