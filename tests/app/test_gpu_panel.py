"""gpuPanel with injected hardware: two GPUs, CPU mode, live readings, "Use this GPU"."""

from __future__ import annotations

import copy
import itertools

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton

from app.gpu.gpu_panel import GpuCard, GpuPanel
from engine.hardware import LiveReading, StaticProvider, discover, load_selection
from engine.hardware.fake import CPU_ONLY_TORCH_BUILD, FakeGpu, FakeNvml, torch_seeing

RTX_4090 = FakeGpu("NVIDIA GeForce RTX 4090", 23.99, (8, 9), used_gb=1.2, utilization_pct=7, temperature_c=41)
RTX_PRO_6000 = FakeGpu("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 95.59, (12, 0))
GB10 = FakeGpu("NVIDIA GB10", None, (12, 1))


def report_for(*gpus: FakeGpu, torch=None):
    nvml = FakeNvml([copy.copy(g) for g in gpus])
    return discover(nvml, torch_probe=lambda: torch or torch_seeing(nvml), system_memory=lambda: 119.7)


def make_panel(qtbot, report, live=None) -> GpuPanel:
    panel = GpuPanel(provider=StaticProvider(report, live))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.report is not None)
    return panel


def texts(widget, object_name: str) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel, object_name)]


def test_panel_names_itself_for_screen_readers(qtbot):
    panel = make_panel(qtbot, report_for(RTX_4090))
    assert panel.objectName() == panel.accessibleName() == "gpuPanel"


def test_two_gpus_give_two_cards_with_facts_and_badges(qtbot):
    panel = make_panel(qtbot, report_for(RTX_4090, RTX_PRO_6000))
    cards = panel.findChildren(GpuCard, "gpuCard")
    assert [c.gpu.name for c in panel.cards] == [RTX_4090.name, RTX_PRO_6000.name] and len(cards) == 2
    small, big = panel.cards
    assert "GeForce RTX 40 (Ada)" in " ".join(label.text() for label in small.findChildren(QLabel))
    assert "CC 8.9" in small.facts.text() and "driver 580.95.05, CUDA 13.0" in small.facts.text()
    assert "24.0 GB total" in small.facts.text()
    assert small.findChild(QLabel, "precision_fp8").property("badge") == "green"
    assert small.findChild(QLabel, "precision_fp4").property("badge") == "off"
    assert big.findChild(QLabel, "precision_fp4").property("badge") == "green"
    small_badges = {label.text(): label.property("badge") for label in small.findChildren(QLabel, "fitBadge")}
    big_badges = {label.text(): label.property("badge") for label in big.findChildren(QLabel, "fitBadge")}
    assert small_badges["only with CPU offload (slow)"] == "yellow"
    assert big_badges["fits (bf16)"] == "green" and big_badges["not yet supported"] == "grey"
    assert "Recommended:" in big.advice.text() and "as bf16" in big.advice.text()
    assert "estimate" in big.advice.text() and "estimate" in small.advice.text()
    assert "CPU offload (slow)" in small.advice.text()
    assert not panel.cpu_banner.isVisibleTo(panel)
    assert panel.status.text().startswith("2 GPUs found")


def test_use_this_gpu_emits_and_saves_the_selection(qtbot):
    panel = make_panel(qtbot, report_for(RTX_4090, RTX_PRO_6000))
    button = panel.cards[1].findChild(QPushButton, "useGpuButton")
    assert button.isEnabled()
    with qtbot.waitSignal(panel.gpu_selected) as signal:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert signal.args == [1, "bf16"]
    saved = load_selection()
    assert (saved.gpu_index, saved.profile, saved.model, saved.device) == (
        1, "bf16", "google/diffusiongemma-26B-A4B-it", "cuda:1",
    )  # fmt: skip
    combo = panel.cards[0].findChild(QComboBox, "gpuProfile")
    assert combo.currentData() == ("google/diffusiongemma-26B-A4B-it", "offload")
    with qtbot.waitSignal(panel.gpu_selected) as signal:
        panel.cards[0].use_button.click()
    assert signal.args == [0, "offload"]


def test_cpu_mode_shows_the_reason_and_offers_the_demo(qtbot):
    panel = make_panel(qtbot, discover(FakeNvml(init_error=12)))
    assert panel.cards == []
    assert panel.cpu_banner.isVisibleTo(panel)
    assert "NVIDIA driver not found (NVML could not load)" in panel.cpu_banner.text()
    assert "demo" in panel.cpu_banner.text().lower()
    with qtbot.waitSignal(panel.gpu_selected) as signal:
        panel.cpu_button.click()
    assert signal.args == [-1, "cpu"]
    assert load_selection().device == "cpu"


def test_gpu_seen_with_cpu_only_torch_is_shown_but_not_usable(qtbot):
    panel = make_panel(qtbot, report_for(RTX_4090, torch=CPU_ONLY_TORCH_BUILD))
    (card,) = panel.cards
    assert not card.use_button.isEnabled()
    assert "CPU-only build" in texts(card, "gpuUnusable")[0]
    assert "CPU-only build" in panel.cpu_banner.text()


def test_dgx_spark_card_shows_unified_memory(qtbot):
    panel = make_panel(qtbot, report_for(GB10))
    (card,) = panel.cards
    assert "unified memory" in card.facts.text() and " 0.0 GB" not in card.facts.text()
    assert card.use_button.isEnabled()


def test_live_readings_refresh_while_visible(qtbot):
    counter = itertools.count(50)

    def live():
        return [LiveReading(index=0, utilization_pct=next(counter), temperature_c=63, memory_used_gb=3.5)]

    panel = make_panel(qtbot, report_for(RTX_4090), live=live)
    panel._timer.setInterval(20)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: "63 °C" in panel.cards[0].live.text())
    first = panel.cards[0].live.text()
    assert "3.5 of 24.0 GB in use" in first
    qtbot.waitUntil(lambda: panel.cards[0].live.text() != first)
    panel.hide()
    assert not panel._timer.isActive()


def test_default_provider_reads_this_machine(qtbot):
    panel = GpuPanel()
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.report is not None, timeout=30000)
    if panel.report.cpu_mode:
        assert panel.cpu_banner.isVisibleTo(panel) and panel.report.cpu_mode in panel.cpu_banner.text()
    else:
        assert len(panel.cards) == len(panel.report.gpus) + len(panel.report.unusable_gpus) > 0


def test_a_failing_discovery_becomes_cpu_mode(qtbot):
    class Broken:
        def report(self):
            raise RuntimeError("driver hiccup")

        def live(self):
            return []

    panel = GpuPanel(provider=Broken())
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.report is not None)
    assert "GPU discovery failed (driver hiccup)" in panel.cpu_banner.text()
