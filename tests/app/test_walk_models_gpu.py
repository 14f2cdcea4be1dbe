"""What a new user met on the Models and GPU pages of the real window (walkthrough on a 900x700 and a 1600x1000 screen,
a local hub, no GPU): each test drives the real widgets against the real local hub server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton, QScrollArea

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.fixtures import hub_server as hubfix  # noqa: E402
from tests.fixtures.hub_server import GATED_REPO, TINY_REPO, tiny_repo_files, write_repo  # noqa: E402

hub_server = hubfix.hub_server
WAIT = 60_000
FIRST_SHARD = "model-00001-of-00003.safetensors"


@pytest.fixture
def page(models_page):
    return models_page


def wait_job(qtbot, page, kind: str):
    return qtbot.waitSignal(page.job_finished, timeout=WAIT, check_params_cb=lambda mid, k, ok: k == kind)


# -- Models page ---------------------------------------------------------------------------------------------------

def test_a_download_typed_at_the_top_scrolls_its_row_into_view(qtbot, page, hub_server):
    """The new row is added below the catalogue, out of sight: Download seemed to do nothing."""
    page.resize(900, 600)
    hold = hub_server.hold_after(FIRST_SHARD, 1000)
    page.repo_input.setText(TINY_REPO)
    page.repo_input.returnPressed.emit()
    row = page.row(TINY_REPO)
    try:
        qtbot.waitUntil(lambda: not row.visibleRegion().isEmpty() and row.status.text() == "Downloading…",
                        timeout=5000)
        qtbot.waitUntil(hold.reached.is_set, timeout=WAIT)
        qtbot.waitUntil(lambda: row.progress.isVisible() and not row.progress.visibleRegion().isEmpty(),
                        timeout=5000)
    finally:
        with wait_job(qtbot, page, "pull"):
            hold.release()
    qtbot.waitUntil(lambda: row.status.text() == "Ready", timeout=WAIT)
    assert row.detail.isHidden()  # no blank line where a catalogue model has its sizes


def test_cancel_says_so_at_once_and_the_message_names_resume(qtbot, page, hub_server):
    """Cancel changed nothing on screen until the current piece of the file arrived (seconds on a slow line), and
    the message then said "the next pull resumes" on a page whose button says Resume."""
    hold = hub_server.hold_after(FIRST_SHARD, 1000)
    page.pull(TINY_REPO)
    row = page.row(TINY_REPO)
    qtbot.waitUntil(hold.reached.is_set, timeout=WAIT)
    qtbot.waitUntil(row.cancel_button.isVisible, timeout=5000)
    row.cancel_button.click()
    assert row.status.text() == "Cancelling…" and not row.cancel_button.isEnabled()
    with wait_job(qtbot, page, "pull") as blocker:
        hold.release()
    assert blocker.args[2] is False
    text = page.message.text()
    assert "cancelled" in text and "pull" not in text and "Resume" in text


def test_a_refused_token_is_named_as_refused_not_asked_for_again(qtbot, page, hub_server, session_token_only):
    """After pasting a wrong token the page still said "needs a Hugging Face token: paste it", as if none was sent."""
    with wait_job(qtbot, page, "pull"):
        page.pull(GATED_REPO)
    assert "needs a Hugging Face token" in page.message.text()
    page.token_field.setText("hf_not_the_right_one")
    with wait_job(qtbot, page, "pull") as blocker:
        page.submit_token()
    assert blocker.args[2] is False
    assert "refused the saved token" in page.message.text()
    assert "needs a Hugging Face token" not in page.message.text()
    assert "A token is kept for this session" in page.token_box.status.text()


def test_a_mistyped_or_deleted_model_leaves_no_row_behind(qtbot, page, hub_server, tmp_path, monkeypatch):
    """A name the hub does not know, or a model just deleted, stayed listed as "Not downloaded" until a restart."""
    with wait_job(qtbot, page, "pull"):
        page.pull("tiny-org/no-such-model")
    assert "was not found" in page.message.text()
    qtbot.waitUntil(lambda: page.row("tiny-org/no-such-model") is None, timeout=WAIT)
    folder = write_repo(tiny_repo_files(), tmp_path / "walk-tiny")
    with wait_job(qtbot, page, "import"):
        page.import_folder(folder, "copy")
    qtbot.waitUntil(lambda: page.row("local/walk-tiny") is not None
                    and page.row("local/walk-tiny").status.text() == "Ready", timeout=WAIT)
    monkeypatch.setattr(page, "confirm", lambda title, text: True)
    with wait_job(qtbot, page, "delete"):
        page.row("local/walk-tiny").delete_button.click()
    qtbot.waitUntil(lambda: page.row("local/walk-tiny") is None, timeout=WAIT)
    assert page.row("google/diffusiongemma-26B-A4B-it") is not None  # catalogue rows stay


def test_the_catalogue_fits_a_narrow_window_without_a_sideways_scrollbar(qtbot, page):
    """At 900x700 the page is ~700 px wide; the long catalogue titles did not wrap and pushed the list sideways."""
    page.resize(700, 600)
    qtbot.wait(50)
    scroll = page.findChild(QScrollArea)
    qtbot.waitUntil(lambda: scroll.widget().width() <= scroll.viewport().width(), timeout=3000)
    assert not scroll.horizontalScrollBar().isVisible()
    status = page.token_box.status  # "No system keyring … paste it again after restarting the app." was cut off
    assert status.text() and status.minimumSizeHint().width() <= status.width()


# -- GPU page ------------------------------------------------------------------------------------------------------

@pytest.fixture
def themed(qapp):
    """The app's own theme (Fusion, dark palette, style sheet), as the window has it; the previous look afterwards."""
    from app.shell.theme import apply_theme

    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    apply_theme(qapp)
    yield
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setStyle(style)


def cpu_panel(qtbot, width: int, height: int):
    from app.gpu.gpu_panel import GpuPanel
    from engine.hardware import StaticProvider, discover
    from engine.hardware.fake import FakeNvml

    panel = GpuPanel(provider=StaticProvider(discover(FakeNvml(init_error=12))))
    qtbot.addWidget(panel)
    panel.resize(width, height)
    panel.show()
    qtbot.waitUntil(lambda: panel.report is not None)
    return panel


def clipped_rows(table) -> list[int]:
    """Rows shorter than their cells' text wrapped inside the 6 px cell padding and the style's text margins: what
    is painted there ends in "…"."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtWidgets import QStyle

    metrics = table.fontMetrics()
    margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
    clipped = []
    for r in range(table.rowCount()):
        for c in range(table.columnCount()):
            width = table.columnWidth(c) - 12 - 2 * margin
            need = metrics.boundingRect(QRect(0, 0, width, 100_000), int(Qt.TextFlag.TextWordWrap),
                                        table.item(r, c).text()).height() + 8
            if table.rowHeight(r) < need:
                clipped.append(r)
                break
    return clipped


def test_card_table_notes_stay_readable_in_a_narrow_window(qtbot, themed):
    """At 900x700 the Notes column was squeezed to a few pixels: one letter a line, rows a screen tall."""
    panel = cpu_panel(qtbot, 820, 620)
    panel.card_picker.choose("DGX Spark (GB10)")
    table = panel.card_picker.table
    qtbot.wait(50)
    assert table.columnWidth(4) >= 150 and all(table.columnWidth(c) >= 60 for c in range(table.columnCount()))
    assert sum(table.columnWidth(c) for c in range(table.columnCount())) <= table.viewport().width()
    assert clipped_rows(table) == []
    assert max(table.rowHeight(r) for r in range(table.rowCount())) < 200


def test_card_table_long_notes_keep_their_last_line(qtbot, themed):
    """Rows were sized by the item size hint, which ignores the cell padding: on the 5090 and the DGX Spark notes
    that wrap lost their last line to "…"."""
    panel = cpu_panel(qtbot, 1300, 900)
    table = panel.card_picker.table
    for name in ("GeForce RTX 5090", "DGX Spark (GB10)", "GeForce RTX 4090", "RTX PRO 4500 Blackwell"):
        panel.card_picker.choose(name)
        qtbot.wait(50)
        assert clipped_rows(table) == [], name


def test_a_long_status_stays_on_one_line_when_the_window_has_room(qtbot, page):
    """"Partly downloaded — resume to finish: model-00002-of-00003.safetensors: missing" took three lines at
    1600x1000 beside a title with half the row empty."""
    page.resize(1300, 800)
    row = page.row("google/diffusiongemma-26B-A4B-it")
    row.show_state("partial", ["model-00002-of-00003.safetensors: missing"])
    qtbot.wait(50)
    assert row.status.width() >= row.status.fontMetrics().horizontalAdvance(row.status.text())
    page.resize(700, 600)
    qtbot.wait(50)
    scroll = page.findChild(QScrollArea)
    assert scroll.widget().width() <= scroll.viewport().width()


def test_the_copy_or_link_question_says_what_each_costs(qtbot, page, tmp_path):
    """"Copy the folder into Diffusion Desk, or link to it where it is?" left a new user guessing: how much disk does
    Copy take, and what happens to a linked model when the folder moves?"""
    from tests.app.real_dialogs import answer_dialog, click_button, message_box

    folder = write_repo(tiny_repo_files(), tmp_path / "asked-tiny")
    seen: list = []
    answer_dialog(message_box(), click_button("Cancel"), seen)
    with wait_job(qtbot, page, "check-import"):
        page.check_import(folder)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    size = sum(len(data) for data in tiny_repo_files().values())
    from engine.models.units import human_bytes

    info = seen[0].informativeText()
    assert human_bytes(size) in info and "moved or deleted" in info


def test_import_folder_dialog_opens_at_home_with_its_toolbar_drawn(qtbot, page):
    """"Import folder…" opened wherever the app was started (/work/main in the walkthrough), with blank toolbar
    buttons (back, up, new folder) on the dark theme."""
    from PySide6.QtWidgets import QApplication, QFileDialog, QToolButton, QTreeView

    from tests.app.real_dialogs import answer_dialog

    def find():
        return next((w for w in QApplication.topLevelWidgets()
                     if isinstance(w, QFileDialog) and w.isVisible()), None)

    seen: list = []
    facts: list = []

    def look_then_cancel(dialog) -> None:
        up = dialog.findChild(QToolButton, "toParentButton")
        facts.append((Path(dialog.directory().absolutePath()), up is not None and up.toolTip() == "Up one folder"))
        # at Qt's own size the side bar and the Date column were cut off
        facts.append(dialog.width() >= min(800, dialog.screen().availableGeometry().width() - 40)
                     and dialog.findChild(QTreeView, "treeView").header().sectionSize(3) >= 170)
        dialog.reject()

    answer_dialog(find, look_then_cancel, seen)
    page.findChild(QPushButton, "importButton").click()
    assert seen and facts == [(Path.home().resolve(), True), True]
    assert page.message.text() == ""  # cancelled: nothing checked, nothing said
