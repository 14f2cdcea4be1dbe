"""The Models page against the local hub: catalogue rows, a live download reaching "ready", auth, delete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from engine.models import tokens  # noqa: E402
from tests.fixtures import hub_server as hubfix  # noqa: E402
from tests.fixtures.hub_server import GATED_REPO, TINY_REPO, tiny_repo_files, write_repo  # noqa: E402

hub_server = hubfix.hub_server
WAIT = 60_000


@pytest.fixture
def page(models_page):
    """tests/app/conftest.py's shown Models page, as `page` (one test here imports the app module as `models_page`)."""
    return models_page


def wait_job(qtbot, page, kind: str):
    return qtbot.waitSignal(page.job_finished, timeout=WAIT, check_params_cb=lambda mid, k, ok: k == kind)


def test_page_is_named_and_lists_the_catalogue(page):
    assert page.objectName() == "modelManager" and page.accessibleName()
    bf16 = page.row("google/diffusiongemma-26B-A4B-it")
    assert bf16 is not None and bf16.status.text() == "Not downloaded"
    assert not bf16.load_button.isVisible()
    gguf = page.row("unsloth/diffusiongemma-26B-A4B-it-GGUF")
    assert gguf.status.text() == "Not yet supported" and not gguf.download_button.isEnabled()
    assert "llama.cpp" in gguf.detail.text()


def test_pull_shows_progress_then_ready_and_load(qtbot, page, hub_server):
    hub_server.throttle_bps = 400_000
    seen = []

    def record(model_id, progress):
        row = page.row(model_id)
        seen.append((row.progress.isVisible(), row.progress.value(), row.rate.text(), row.status.text()))

    page.progress_changed.connect(record)
    page.repo_input.setText(TINY_REPO)
    with wait_job(qtbot, page, "pull") as blocker:
        page.findChild(QPushButton, "repoDownloadButton").click()
    assert blocker.args[2] is True
    assert any(visible and 0 < value < 1000 and "/s" in rate and "left" in rate and status == "Downloading…"
               for visible, value, rate, status in seen)
    row = page.row(TINY_REPO)
    with qtbot.waitSignal(page.listing_changed, timeout=WAIT):
        pass
    assert row.status.text() == "Ready" and row.load_button.isVisible() and row.load_button.isEnabled()
    with qtbot.waitSignal(page.load_requested, timeout=WAIT) as loaded:
        row.load_button.click()
    assert Path(loaded.args[0]).joinpath("config.json").is_file()


def test_cancel_then_resume(qtbot, page, hub_server):
    hub_server.throttle_bps = 200_000
    page.pull(TINY_REPO)
    row = page.row(TINY_REPO)
    qtbot.waitUntil(lambda: row.progress.value() > 100, timeout=WAIT)
    assert row.cancel_button.isVisible()
    with wait_job(qtbot, page, "pull") as blocker:
        row.cancel_button.click()
    assert blocker.args[2] is False and "cancelled" in page.message.text()
    qtbot.waitUntil(lambda: row.download_button.text() == "Resume" and row.download_button.isVisible(), timeout=WAIT)
    assert not row.load_button.isVisible()
    hub_server.throttle_bps = None
    with wait_job(qtbot, page, "pull"):
        row.download_button.click()
    qtbot.waitUntil(lambda: row.status.text() == "Ready", timeout=WAIT)


def test_gated_pull_asks_for_a_token_and_retries(qtbot, page, hub_server, session_token_only):
    with wait_job(qtbot, page, "pull"):
        page.pull(GATED_REPO)
    assert page.token_box.isVisible()
    assert f"https://huggingface.co/{GATED_REPO}" in page.token_message.text()
    page.token_field.setText(hub_server.repos[GATED_REPO].token)
    with wait_job(qtbot, page, "pull") as blocker:
        page.submit_token()
    assert blocker.args[2] is True and page.token_box.refused_repo is None
    assert "session" in page.message.text() or "verified" in page.message.text()
    assert tokens.token_status().source == "session"


def test_import_and_delete_with_confirmation(qtbot, page, tmp_path, monkeypatch):
    folder = write_repo(tiny_repo_files(), tmp_path / "imported-tiny")
    with wait_job(qtbot, page, "import"):
        page.import_folder(folder, "copy")
    qtbot.waitUntil(lambda: page.row("local/imported-tiny") is not None
                    and page.row("local/imported-tiny").status.text() == "Ready", timeout=WAIT)
    asked = []
    monkeypatch.setattr(page, "confirm", lambda title, text: asked.append(text) or True)
    with wait_job(qtbot, page, "delete"):
        page.row("local/imported-tiny").delete_button.click()
    assert "frees" in asked[0] and "freed" in page.message.text()


def test_import_checks_the_folder_before_asking_copy_or_link(qtbot, page, tmp_path):
    """A folder that is not a model is said so at once (no Copy/Link question); a model folder gets the real
    question, and Link imports it."""
    from tests.app.real_dialogs import answer_dialog, click_button, message_box

    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with wait_job(qtbot, page, "check-import"):
        page.check_import(empty)
    assert "not a complete DiffusionGemma model" in page.message.text() and "config.json" in page.message.text()
    qtbot.wait(200)
    assert message_box()() is None  # no question about a folder that cannot be imported
    seen: list = []
    folder = write_repo(tiny_repo_files(), tmp_path / "linked-tiny")
    answer_dialog(message_box(), click_button("Link"), seen)
    with wait_job(qtbot, page, "import"):
        page.check_import(folder)
    assert seen and "Copy the folder" in seen[0].text()
    qtbot.waitUntil(lambda: page.row("local/linked-tiny") is not None
                    and page.row("local/linked-tiny").status.text() == "Ready", timeout=WAIT)


def test_work_runs_off_the_gui_thread(qtbot, page, hub_server, monkeypatch):
    import threading

    import app.models.models_page as models_page

    threads = []
    real_pull = models_page.pull

    def recording_pull(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real_pull(*args, **kwargs)

    monkeypatch.setattr(models_page, "pull", recording_pull)
    with wait_job(qtbot, page, "pull") as blocker:
        page.pull(TINY_REPO)
    assert blocker.args[2] is True and threads == [False]


def test_fit_badges_for_a_selected_gpu(page):
    from engine.hardware.discovery import gpu_from_spec
    from engine.hardware.gpus import find_gpus

    page.set_gpu(gpu_from_spec(find_gpus("H100")[0]))
    assert "fits" in page.row("google/diffusiongemma-26B-A4B-it").badge.text()
    assert "not yet supported" in page.row("unsloth/diffusiongemma-26B-A4B-it-GGUF").badge.text()
    page.set_gpu(None)
    assert "needs a GPU" in page.row("google/diffusiongemma-26B-A4B-it").badge.text()


def test_page_module_imports_no_torch():
    code = "import sys, app.models.models_page; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
