"""The GPU-optimized (compiled) path in the app: turned on after a load with a "first time only" message, answers on
it, falls back to the eager path with a banner when it fails, and a setting turns it off.

The worker's CUDA test is injected (`worker.compiled_on`) so the real compiled path runs here with inductor on the CPU,
on a tiny config (a few seconds to compile); the worker thread and the engine are the real ones.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QCheckBox, QPushButton

from app.gpu.compiled_setup import FIRST_TIME
from app.shell.desktop import create_desktop
from app.store.app_settings import AppSettings, load_settings, settings_path
from tests.app.helpers import ask

CANVAS = 16


@pytest.fixture
def fresh_em(tmp_path):
    """A tiny random model of its own (the compiled path is attached to it), with the char tokenizer."""
    from transformers import PreTrainedTokenizerFast

    from app.models.model_sources import write_char_tokenizer
    from engine import EngineModel
    from engine.tiny import tiny_model

    folder = tmp_path / "tok"
    folder.mkdir()
    write_char_tokenizer(folder)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder))
    model = tiny_model(seed=2, vocab_size=128, canvas_length=CANVAS, num_hidden_layers=2, sliding_window=24)
    model.generation_config.eos_token_id = -1
    model.generation_config.pad_token_id = 0
    return EngineModel.wrap(model, tokenizer, name="tiny-compiled-test")


def _desk(qtbot, em, tmp_path, settings: AppSettings, texts: list[str]):
    desktop = create_desktop(store_path=tmp_path / "chats.sqlite3", settings=settings, autoload=False)
    desktop.worker.compiled_on = lambda _em: True  # CPU stands in for CUDA
    desktop.worker.set_compiled(settings.compiled_path)
    desktop.worker.model_loading.connect(texts.append)
    with qtbot.waitSignal(desktop.controller.model_ready, timeout=240_000):
        desktop.worker.use_model(em, "tiny-test")
    desktop.controller.sampler = desktop.controller.sampler.with_(max_new_tokens=CANVAS, max_denoising_steps=2)
    desktop.window.show()
    return desktop


def test_compiled_path_warms_up_answers_and_falls_back_with_a_banner(qtbot, fresh_em, tmp_path):
    texts: list[str] = []
    desk = _desk(qtbot, fresh_em, tmp_path, AppSettings(), texts)
    try:
        optimizing = [t for t in texts if t.startswith(FIRST_TIME) or t.startswith("Preparing")]
        assert optimizing, texts
        assert optimizing[-1].endswith("(2/2)"), optimizing
        assert texts.index(optimizing[0]) > 0  # after "Loading …"
        assert fresh_em.compiled is not None

        ask(qtbot, desk, "hi")
        assert not desk.window.chat.banner.isVisible()
        assert desk.controller.store.messages(desk.controller.conversation_id)[-1].status == "done"

        from engine.compiled import CompiledPathError

        def broken_step() -> list[float]:
            raise CompiledPathError("The compiled step had to recompile: injected")

        fresh_em.compiled.step = broken_step
        ask(qtbot, desk, "again")
        banner = desk.window.chat.banner
        assert banner.isVisible()
        assert banner.text().startswith("The GPU-optimized path is off for this session: The compiled step had to")
        assert fresh_em.compiled is None
        last = desk.controller.store.messages(desk.controller.conversation_id)[-1]
        assert last.status == "done" and last.text  # answered eagerly
    finally:
        desk.window.close()


def test_setting_off_skips_the_compiled_path_and_the_dialog_saves_it(qtbot, fresh_em, tmp_path):
    texts: list[str] = []
    desk = _desk(qtbot, fresh_em, tmp_path, AppSettings(compiled_path=False), texts)
    try:
        assert fresh_em.compiled is None
        assert not [t for t in texts if t.startswith(FIRST_TIME)]

        def flip_and_accept() -> None:
            dialog = QApplication.activeModalWidget()
            box = dialog.findChild(QCheckBox, "setting_compiled_path")
            assert box.text() == "Use the GPU-optimized path" and "first load on a GPU" in box.toolTip()
            assert not box.isChecked()
            box.setChecked(True)
            dialog.findChild(QPushButton, "settingsOk").click()

        QTimer.singleShot(200, flip_and_accept)
        desk.controller.open_settings()
        qtbot.waitUntil(lambda: desk.controller.settings.compiled_path is True, timeout=10_000)
        assert load_settings().compiled_path is True
        assert "compiled_path = true" in settings_path().read_text(encoding="utf-8")
    finally:
        desk.window.close()
