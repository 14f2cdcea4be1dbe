"""An empty chat offers example prompts; with the demo model they are the ones it answers well (issue 17)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget

from app.chat.example_prompts import DEMO_EXAMPLES, MODEL_EXAMPLES, examples_for
from app.models.model_sources import TINY_MODEL, demo_model_available, demo_model_dir
from app.shell.desktop import create_desktop
from app.store.app_settings import AppSettings
from tests.app.helpers import ask


def _desk(qtbot, em, tmp_path, source: str):
    desk = create_desktop(store_path=tmp_path / "chats.sqlite3", settings=AppSettings(), autoload=False)
    with qtbot.waitSignal(desk.controller.model_ready, timeout=60_000):
        desk.worker.use_model(em, source)
    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=64, max_denoising_steps=3)
    desk.window.show()
    return desk


def _buttons(desk) -> list[QPushButton]:
    box = desk.window.findChild(QWidget, "examplePrompts")
    return [b for b in box.findChildren(QPushButton) if b.objectName().startswith("examplePrompt") and b.isVisible()]


def test_which_prompts_for_which_model() -> None:
    assert examples_for("") == examples_for(TINY_MODEL) == ()  # random weights cannot answer anything
    assert examples_for("/somewhere/else") == examples_for("remote:http://gpu-box:8000/v1") == MODEL_EXAMPLES
    if demo_model_available():
        assert examples_for(str(demo_model_dir())) == DEMO_EXAMPLES


@pytest.mark.skipif(not demo_model_available(), reason="the demo model is not embedded in this checkout")
def test_an_empty_demo_chat_offers_examples_and_one_click_sends_one(qtbot, chat_em, tmp_path) -> None:
    # chat_em stands in for the demo weights (fast); what decides the prompts is the source the window loaded
    desk = _desk(qtbot, chat_em, tmp_path, str(demo_model_dir()))
    try:
        desk.controller.new_conversation()
        qtbot.waitUntil(lambda: [b.toolTip() for b in _buttons(desk)] == [f"Send “{t}”" for t in DEMO_EXAMPLES],
                        timeout=10_000)
        composer = desk.window.chat.composer
        composer.setPlainText("my half-written question")
        with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
            qtbot.mouseClick(_buttons(desk)[0], Qt.MouseButton.LeftButton)
        user = desk.store.messages(desk.controller.conversation_id)[0]
        assert (user.role, user.text) == ("user", DEMO_EXAMPLES[0])
        assert composer.toPlainText() == "my half-written question"  # the draft was not lost
        assert _buttons(desk) == []  # the chat has turns now
        desk.controller.new_conversation()
        qtbot.waitUntil(lambda: len(_buttons(desk)) == len(DEMO_EXAMPLES), timeout=10_000)
    finally:
        desk.window.close()


def test_no_examples_for_random_weights_and_none_once_a_chat_has_turns(qtbot, chat_em, tmp_path) -> None:
    desk = _desk(qtbot, chat_em, tmp_path, TINY_MODEL)
    try:
        desk.controller.new_conversation()
        assert _buttons(desk) == []
        desk.worker.use_model(chat_em, "/models/some-folder")
        qtbot.waitUntil(lambda: [b.toolTip() for b in _buttons(desk)] == [f"Send “{t}”" for t in MODEL_EXAMPLES],
                        timeout=60_000)
        ask(qtbot, desk, "Hello")
        assert _buttons(desk) == []
    finally:
        desk.window.close()
