"""Issue 12's everyday paths on the Models page: no developer notes, offline within seconds in one sentence, the
token field up front, and a warning before downloading a model this machine cannot run. Real dialogs (driven by a
QTimer), real keys."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from tests.app.real_dialogs import answer_dialog, click_button, message_box


def test_models_page_has_no_developer_notes(qtbot):
    from app.models.models_page import ModelManagerPage

    page = ModelManagerPage()
    qtbot.addWidget(page)
    try:
        texts = " ".join(label.text() for label in page.findChildren(QLabel))
        assert "Blackwell GPU here" not in texts
    finally:
        page.shutdown()

# -- defect 8: offline within seconds, a token field up front, a warning before an impossible download -------------

def test_offline_download_says_so_quickly_in_one_sentence(qtbot, models_page, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.offline-test.invalid")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    started = time.monotonic()
    with qtbot.waitSignal(models_page.job_finished, timeout=20_000):
        models_page.repo_input.setText("someone/some-model")
        qtbot.keyClick(models_page.repo_input, Qt.Key.Key_Return)
    seconds = time.monotonic() - started
    text = models_page.message.text()
    assert seconds < 6, f"offline took {seconds:.1f} s to say"
    assert "No internet connection" in text and "press Download again" in text
    assert "ConnectError" not in text and "pull again" not in text.lower() and text.count("some-model") <= 1


def test_token_field_is_there_before_any_download(models_page):
    box = models_page.findChild(QWidget, "tokenBox")
    field = models_page.findChild(QLineEdit, "tokenField")
    assert box.isVisible() and field.isVisible() and field.echoMode() == QLineEdit.EchoMode.Password


def test_a_model_this_machine_cannot_run_asks_before_downloading(qtbot, models_page):
    from engine.hardware.discovery import HardwareReport

    models_page.set_hardware(HardwareReport(cpu_mode="no NVIDIA GPU was found"))
    seen: list = []
    answer_dialog(message_box("modelsConfirmDialog"), click_button("No"), seen)
    models_page.row("google/diffusiongemma-26B-A4B-it").download_button.click()
    assert seen and "cannot run here" in seen[0].text() and "GB" in seen[0].text()
    assert models_page.row("google/diffusiongemma-26B-A4B-it").busy is None
    assert "Did not download" in models_page.message.text()
