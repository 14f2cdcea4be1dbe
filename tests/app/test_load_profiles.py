"""Load profiles in the app: the GPU page's "Load as" choices, the card picker's per-profile estimates, the load
progress bar, and the one-click "Load as …" retry after a profile did not fit."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QComboBox, QMessageBox, QPushButton

from app.gpu.gpu_panel import GpuPanel
from app.gpu.profile_table import NOT_CONFIRMED, VLLM_LABEL, CardPicker, ProfileTable
from app.models.model_sources import demo_model_available, demo_model_dir
from app.shell.desktop import create_desktop
from app.store.app_settings import AppSettings
from engine.hardware import StaticProvider, discover, evaluate_gpu, find_gpus, gpu_from_spec
from engine.hardware.fake import FakeNvml
from tests.app.test_gpu_panel import RTX_4090, report_for

BF16_26B = "google/diffusiongemma-26B-A4B-it"


def _panel(qtbot, report) -> GpuPanel:
    panel = GpuPanel(provider=StaticProvider(report))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.report is not None)
    return panel


def _rows(table: ProfileTable, model_name_part: str) -> dict[str, list[str]]:
    return {row[1]: row for row in table.row_texts() if model_name_part in row[0]}


def test_card_picker_without_a_gpu_shows_the_cli_table_as_estimates(qtbot):
    panel = _panel(qtbot, discover(FakeNvml(init_error=12)))
    assert panel.cards == [] and panel.cpu_banner.isVisibleTo(panel)
    picker = panel.findChild(CardPicker)
    combo = panel.findChild(QComboBox, "gpuCardPicker")
    table = panel.findChild(ProfileTable, "gpuProfileTable")
    assert combo.accessibleName() == "gpuCardPicker" and not table.isVisibleTo(panel)

    combo.setCurrentIndex(combo.findData("GeForce RTX 4090"))
    assert table.isVisibleTo(panel)
    (spec,) = find_gpus("GeForce RTX 4090")
    expected = [r for r in evaluate_gpu(gpu_from_spec(spec)) if r.model == BF16_26B]
    rows = _rows(table, "26B-A4B (Google")
    assert len(rows) == len(expected) == 4
    for rec in expected:  # the same figures `python -m engine.hardware --gpu "GeForce RTX 4090"` prints
        row = next(r for r in rows.values() if r[2].startswith(f"{rec.memory_needed_gb:.1f} GB"))
        assert "(estimate)" in row[3]
    assert "does not fit" in rows["bf16"][4] and "needs 52" in rows["bf16"][4]
    assert "★ recommended" in rows["bf16 + CPU offload (slow)"][4]
    assert NOT_CONFIRMED in rows["FP8"][4]
    assert any(row[1] == VLLM_LABEL for row in table.row_texts())
    assert not any("int4" in row[1].lower() for row in table.row_texts())
    assert "estimates" in picker.note.text() and "24.0 GB usable" in picker.note.text()
    # Why "memory needed" is more than the Models page's size: the overhead is said, not left to guess.
    assert "weights + about 1 GB CUDA context + 5%" in picker.note.text()
    assert "CUDA context" in table.horizontalHeaderItem(2).toolTip()

    picker.choose("DGX Spark (GB10)")
    spark = _rows(table, "26B-A4B (Google")
    assert "★ recommended" in spark["bf16"][4]
    assert "not applicable: unified memory" in spark["bf16 + CPU offload (slow)"][4]
    with pytest.raises(KeyError):
        picker.choose("GeForce RTX 9999")


def test_load_as_lists_selectable_profiles_first_and_nvfp4_via_vllm_disabled(qtbot):
    panel = _panel(qtbot, report_for(RTX_4090))
    combo = panel.cards[0].findChild(QComboBox, "gpuProfile")
    items = [(combo.itemText(i), combo.itemData(i), combo.model().item(i).isEnabled()) for i in range(combo.count())]
    assert items[0][1] == (BF16_26B, "offload") and items[0][2]
    assert "GB in system RAM" in items[0][0] and "(estimate)" in items[0][0]
    nvfp4 = [i for i in items if i[1][1] == "nvfp4"]
    assert nvfp4 and all(VLLM_LABEL in text and not enabled for text, _data, enabled in nvfp4)
    too_big = next(i for i in items if i[1] == (BF16_26B, "fp8"))
    assert not too_big[2]
    tip = combo.itemData(items.index(too_big), 3)  # ToolTipRole
    assert "needs 28" in tip and NOT_CONFIRMED in tip
    with qtbot.waitSignal(panel.gpu_selected) as signal:
        panel.cards[0].use_button.click()
    assert signal.args == [0, "offload"]


@pytest.mark.skipif(not demo_model_available(), reason="the demo model is not embedded in this checkout")
def test_a_load_shows_progress_and_a_profile_retry_loads_with_the_suggestion(qtbot, tmp_path):
    desk = create_desktop(store_path=tmp_path / "chats.sqlite3", settings=AppSettings(), autoload=False)
    try:
        bar = desk.window.load_progress
        seen: list[tuple[str, float, int, int, str]] = []
        desk.controller.device = "cpu"
        desk.controller.load_model(str(demo_model_dir()))  # wires the progress signal before the first report
        status = desk.window.statusBar()
        desk.worker.load_progress.connect(
            lambda p: seen.append((p.stage, p.fraction, bar.maximum(), bar.value(), status.currentMessage()))
        )
        qtbot.waitUntil(lambda: desk.controller.model is not None, timeout=60_000)
        stages = [s[0] for s in seen]
        assert "check" in stages and stages[-1] == "done", stages
        assert all(maximum == 1000 for _s, _f, maximum, _v, _m in seen)
        assert seen[-1][3] == 1000 and "loaded" in seen[-1][4]
        assert not bar.isVisible()

        from engine.errors import ProfileMemoryError

        error = ProfileMemoryError("The bf16 profile needs about 52.2 GB on the CPU, but only 20.0 GB is system RAM. "
                                   "Choose the int8 profile, which fits (see the GPU page).",
                                   profile="bf16", device_name="the CPU", suggestion="int8")
        clicked: list[str] = []

        def click_retry() -> None:
            box = QApplication.activeModalWidget()
            assert isinstance(box, QMessageBox) and box.objectName() == "profileRetryDialog"
            assert "52.2 GB" in box.text()
            button = box.findChild(QPushButton, "profileRetryButton")
            clicked.append(button.text())
            button.click()

        QTimer.singleShot(100, click_retry)
        with qtbot.waitSignal(desk.controller.model_ready, timeout=120_000):
            desk.worker.profile_suggested.emit(str(demo_model_dir()), error.suggestion, str(error))
        assert clicked == ["Load as INT8 (weight-only)"]
        assert desk.controller.profile == "int8"
    finally:
        desk.window.close()
