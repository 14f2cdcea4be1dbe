"""Bad inputs the app meets (catalogue: tests/reliability/CATALOGUE.md): each one gets a message a user can act
on, and the window still answers afterwards."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel

from app.shell.desktop import create_desktop
from app.store.app_settings import load_settings, settings_path
from app.store.chats import StoreWriteError
from tests.app.helpers import ask, close_startup_dialog_when_shown, open_desktop


def banner_text(desktop) -> str:
    banner = desktop.window.findChild(QLabel, "errorBanner")
    return banner.text() if not banner.isHidden() else ""


def still_answers(qtbot, desktop) -> None:
    """The window still works: a fresh conversation gets a stored answer."""
    desktop.controller.new_conversation()
    answer = desktop.store.message(ask(qtbot, desktop, "Still working?"))
    assert answer.status == "done" and answer.text


def failed_load(qtbot, desktop, source: str):
    """Load `source`, which fails; returns the error signal's blocker once the model that was loaded before has been
    announced again ("Still using …"). Waiting for the error alone raced that announcement: set after it, the
    test's small settings were replaced by the model's defaults, and the next answer ran to the full length (over a
    minute on a busy machine)."""
    with qtbot.waitSignal(desktop.controller.model_ready, timeout=60_000):
        with qtbot.waitSignal(desktop.worker.error, timeout=60_000) as failed:
            desktop.controller.load_model(source)
    return failed


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from engine.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-model", canvas_length=32)


def _corrupt_config(folder):
    (folder / "config.json").write_text("{ not json", encoding="utf-8")


def _wrong_model_type(folder):
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["model_type"] = "llama"
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def _truncated_weights(folder):
    weights = next(folder.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _no_tokenizer(folder):
    for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"):
        (folder / name).unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_corrupt_config, "config.json"),
        (_wrong_model_type, "llama"),
        (_truncated_weights, "weights"),
        (_no_tokenizer, "tokenizer"),
        (lambda folder: shutil.rmtree(folder), "does not exist"),
    ],
    ids=["corrupt-config", "wrong-model-type", "truncated-safetensors", "tokenizer-missing", "folder-missing"],
)
def test_broken_model_folder_is_a_banner_and_the_app_recovers(qtbot, desk, saved_model, tmp_path,
                                                              damage, expected):
    folder = tmp_path / "broken-model"
    shutil.copytree(saved_model, folder)
    damage(folder)
    failed = failed_load(qtbot, desk, str(folder))
    assert failed.args[0] == 0 and expected.lower() in failed.args[1].lower()
    assert expected.lower() in banner_text(desk).lower() and "Still using" in banner_text(desk)
    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=64, max_denoising_steps=2)
    still_answers(qtbot, desk)


def test_cuda_oom_on_load_names_the_need_and_the_fix(saved_model, monkeypatch):
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    from engine import EngineModel, OutOfMemoryError

    real = DiffusionGemmaForBlockDiffusion.from_pretrained

    def out_of_memory(*_args, **_kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(DiffusionGemmaForBlockDiffusion, "from_pretrained", out_of_memory)
    with pytest.raises(OutOfMemoryError) as info:
        EngineModel.from_pretrained(saved_model, device="cpu")
    message = str(info.value)
    assert "needs about" in message and "smaller" in message and "profile" in message
    monkeypatch.setattr(DiffusionGemmaForBlockDiffusion, "from_pretrained", real)
    assert EngineModel.from_pretrained(saved_model, device="cpu").canvas_length == 32


def test_disk_full_while_sending_keeps_the_text_and_says_so(qtbot, desk):
    conn = desk.store._conn
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the database cannot grow: SQLite's "disk is full"
    composer = desk.window.chat.composer
    # > one 4 KiB page (it needs overflow pages), yet well inside the test model's 4096-token context
    long_text = "A question that needs room on disk: " + "€ " * 1500
    composer.setPlainText(long_text)
    qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert "disk is full" in banner_text(desk) and "still in the box" in banner_text(desk)
    assert composer.toPlainText() == long_text
    assert desk.controller.live is None
    assert all(m.text != long_text.strip() for c in desk.store.conversations() for m in desk.store.messages(c.id))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.execute("PRAGMA max_page_count = 1073741823")  # space freed: the same text is saved now
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert desk.store.messages(desk.controller.conversation_id)[0].text == long_text.strip()
    still_answers(qtbot, desk)


def test_disk_full_mid_answer_keeps_generating_and_saves_later(qtbot, desk, monkeypatch):
    real = desk.store.save_canvas
    calls = []

    def full_once(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 1:
            raise StoreWriteError(f"Could not save to {desk.store.path}: the disk is full. Free some space.")
        return real(*args, **kwargs)

    monkeypatch.setattr(desk.store, "save_canvas", full_once)
    answer = desk.store.message(ask(qtbot, desk, "Keep going"))
    assert "disk is full" in banner_text(desk) and "saved again at the next canvas" in banner_text(desk)
    assert answer.status == "done" and answer.text and len(calls) == 2
    assert [c[0].canvas_index for c in desk.store.canvas_frames(answer.id)] == [1]


def test_store_turns_sqlite_full_into_a_store_write_error(tmp_path):
    from app.store.chats import ChatStore

    store = ChatStore(tmp_path / "c.sqlite3")
    conv = store.create_conversation()
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreWriteError, match="disk is full"):
        store.add_user_message(conv.id, "x" * 200_000)
    assert not store._conn.in_transaction and store.messages(conv.id) == []
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.add_user_message(conv.id, "fits now").text == "fits now"
    store.close()


def test_one_megabyte_paste_is_kept_and_too_long_a_prompt_is_explained(qtbot, desk):
    pasted = ("All work and no play makes a very long paste. " * 21_740)[:1_000_000]
    QApplication.clipboard().setText(pasted)
    composer = desk.window.chat.composer
    composer.clear()
    composer.paste()
    assert len(composer.toPlainText()) == 1_000_000
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=120_000) as finished:
        qtbot.keyClick(composer, Qt.Key.Key_Return)
    conv = desk.controller.conversation_id
    # Nothing that cannot be answered stays in the chat: the paste is back in the box, whole, to shorten.
    assert desk.store.messages(conv) == [] and finished.args[0] > 0
    assert composer.toPlainText() == pasted.strip()
    assert "context" in banner_text(desk).lower() and "new chat" in banner_text(desk)
    composer.clear()
    still_answers(qtbot, desk)


def _drop(widget, path) -> None:
    """Drag `path` over `widget` and drop it, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget.viewport(), enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget.viewport(), event)


def test_non_utf8_file_dropped_on_the_composer_is_refused_with_a_reason(qtbot, desk, tmp_path):
    composer = desk.window.chat.composer
    composer.setPlainText("my draft")
    latin1 = tmp_path / "notes-latin1.txt"
    latin1.write_bytes("Café crème, déjà vu\n".encode("latin-1") + b"\xff\xfe")
    _drop(composer, latin1)
    assert composer.toPlainText() == "my draft"
    assert "notes-latin1.txt is not UTF-8" in banner_text(desk)
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    _drop(composer, binary)
    assert composer.toPlainText() == "my draft" and "binary" in banner_text(desk)
    good = tmp_path / "question.txt"
    good.write_text("Ça marche: what is 2 + 2?", encoding="utf-8")
    composer.clear()
    _drop(composer, good)
    assert composer.toPlainText() == "Ça marche: what is 2 + 2?"
    still_answers(qtbot, desk)


def test_settings_file_with_garbage_gives_defaults_a_message_and_a_working_app(qtbot, chat_em, tmp_path):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff garbage \xfe[[[ = = =")
    desktop = create_desktop(store_path=tmp_path / "c.sqlite3", autoload=False)
    try:
        assert "Could not read" in banner_text(desktop) and "default settings" in banner_text(desktop)
        assert desktop.controller.settings.sampler == {}
    finally:
        desktop.window.close()
    desktop = open_desktop(qtbot, chat_em, tmp_path / "c2.sqlite3")
    try:
        still_answers(qtbot, desktop)
    finally:
        desktop.window.close()


def test_chats_database_from_a_newer_version_is_refused_at_startup_untouched(qapp, monkeypatch):
    from engine.paths import chats_db_path

    db = chats_db_path()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    shown: list[str] = []
    close_startup_dialog_when_shown(shown)
    from app.__main__ import _run_window

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(_run_window(None)) == 2
    finally:
        loop.close()
    assert shown and "schema version 99" in shown[0] and "Update Diffusion Desk" in shown[0]
    assert db.read_bytes() == before


def test_models_folder_deleted_while_the_app_runs(qtbot, desk, tmp_path):
    from engine.models import import_folder
    from engine.models.store import imported_root
    from engine.paths import models_cache_dir
    from tests.fixtures.hub_server import tiny_repo_files, write_repo

    model = import_folder(write_repo(tiny_repo_files(), tmp_path / "repo"), mode="copy")
    page = desk.window.models_page
    with qtbot.waitSignal(page.listing_changed, timeout=30_000):
        page.refresh()
    assert page.row(model.id) is not None and page.row(model.id).local is not None
    shutil.rmtree(models_cache_dir())
    shutil.rmtree(imported_root())
    with qtbot.waitSignal(page.listing_changed, timeout=30_000):
        page.refresh()
    assert page.row(model.id) is None or page.row(model.id).local is None
    failed = failed_load(qtbot, desk, str(model.path))
    assert "does not exist" in failed.args[1] and "does not exist" in banner_text(desk)
    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=64, max_denoising_steps=2)
    still_answers(qtbot, desk)
    assert load_settings().problem == ""


def test_hub_that_keeps_answering_5xx_says_try_again_and_resumes_later(monkeypatch):
    from engine.models import find_local, pull
    from engine.models.errors import DownloadError
    from tests.fixtures.hub_server import TINY_REPO, make_hub

    hub = make_hub()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        hub.fail("/api/models/", 503, times=1000)
        with pytest.raises(DownloadError) as info:
            pull(TINY_REPO, base_delay=0.01)
        assert "HTTP 503" in str(info.value) and "try again later" in str(info.value)
        hub._faults.clear()  # the hub is back
        assert pull(TINY_REPO, base_delay=0.01).path.is_dir() and find_local(TINY_REPO).status == "ready"
    finally:
        hub.stop()


def test_damaged_chats_database_is_named_at_startup_and_left_alone(qapp, monkeypatch):
    from engine.paths import chats_db_path

    db = chats_db_path()
    db.write_bytes(b"this is not an SQLite file at all\x00\xff" * 200)
    before = db.read_bytes()
    shown: list[str] = []
    close_startup_dialog_when_shown(shown)
    from app.__main__ import _run_window

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(_run_window(None)) == 1
    finally:
        loop.close()
    assert shown and str(db) in shown[0] and "could not be opened" in shown[0] and "move it aside" in shown[0]
    assert db.read_bytes() == before
    db.unlink()  # moved aside: the next start opens the window on an empty history
    desktop = create_desktop(autoload=False)
    assert desktop.store.conversations() == []
    desktop.window.close()
