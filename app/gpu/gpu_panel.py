"""◆ gpuPanel: one card per GPU — facts, precision badges, live readings, per-model fit badges, "Use this GPU".

Readings come from an `engine.hardware` provider (real NVML by default, injected in tests) and are always taken on a
worker thread of the panel's own QThreadPool; results reach the GUI thread as queued signals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.hardware import (
    PROFILE_LABELS,
    GpuInfo,
    HardwareProvider,
    HardwareReport,
    LiveReading,
    NvmlProvider,
    Recommendation,
    Selection,
    catalogue_models,
    cpu_recommendation,
    evaluate_gpu,
    fit_badge,
    load_selection,
    model_entry,
    save_selection,
)

from ..common.widgets import named
from ..models.model_sources import plain_reason
from .profile_table import CardPicker, fill_load_as, speed_text
from .profile_table import badge as _badge
from .profile_table import muted as _muted

REFRESH_MS = 2000

STYLE = """
#gpuPanel QFrame#gpuCard { border: 1px solid palette(mid); border-radius: 10px; background: palette(base); }
#gpuPanel QLabel#gpuCpuMode { border: 1px solid #b7791f; border-radius: 8px; background: #fff6e0; color: #5c3c00;
    padding: 10px; }
#gpuPanel QLabel[badge] { border-radius: 9px; padding: 1px 9px; font-weight: 600; }
#gpuPanel QLabel[badge="green"] { background: #1e7b3c; color: white; }
#gpuPanel QLabel[badge="yellow"] { background: #e0a800; color: #2b2100; }
#gpuPanel QLabel[badge="red"] { background: #b3261e; color: white; }
#gpuPanel QLabel[badge="grey"] { background: palette(midlight); color: palette(text); }
#gpuPanel QLabel[badge="off"] { background: palette(midlight); color: palette(mid); text-decoration: line-through; }
#gpuPanel QLabel[muted="true"] { color: palette(placeholder-text); }
"""


def _rec_text(rec: Recommendation) -> str:
    name = model_entry(rec.model)["name"]
    label = PROFILE_LABELS.get(rec.profile, rec.profile)
    memory = f"{rec.memory_needed_gb:.1f} GB"
    if rec.offloaded_gb > 0:
        memory += f" on the GPU + {rec.offloaded_gb:.1f} GB in system RAM"
    return f"{name} — load as {label}: {memory}, {speed_text(rec)}"


def _short(reason: str) -> str:
    return plain_reason(reason)


class _Bridge(QObject):
    """Carries worker-thread results to the GUI thread (queued, because the receivers live there)."""

    report_ready = Signal(object)
    live_ready = Signal(object)


class _Call(QRunnable):
    """Runs `fn` on the pool and hands its result to `deliver` (a signal's emit)."""

    def __init__(self, fn: Callable[[], Any], deliver: Callable[[Any], None]) -> None:
        super().__init__()
        self._fn = fn
        self._deliver = deliver

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 — a failed reading is shown, never raised into Qt
            result = exc
        try:
            self._deliver(result)
        except RuntimeError:
            pass  # the panel was deleted while this reading was in flight


class GpuCard(QFrame):
    """One GPU: facts, live readings, per-model fit badges, the load profile and "Use this GPU"."""

    use_requested = Signal(int, str, str)

    def __init__(self, gpu: GpuInfo, *, usable: bool, unusable_reason: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.gpu = gpu
        named(self, "gpuCard", description=f"GPU {gpu.index}: {gpu.name}")
        self.recommendations = evaluate_gpu(gpu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(8)

        title = QLabel(f"<b style='font-size:15pt'>{gpu.name}</b>")
        title.setObjectName("gpuName")
        family = _muted(f"GPU {gpu.index} · {gpu.family}" + (" · evaluated from the table" * (gpu.source == "table")))
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        for key, label in (("bf16", "bf16"), ("fp8", "FP8"), ("fp4", "FP4")):
            ok = gpu.supports[key]
            tip = f"{label} {'supported' if ok else 'not supported'} at compute capability {gpu.cc_text}"
            head.addWidget(named(_badge(label, "green" if ok else "off", tip), f"precision_{key}"))
        layout.addLayout(head)
        layout.addWidget(family)

        self.facts = named(QLabel(self._facts_text()), "gpuFacts")
        self.facts.setWordWrap(True)
        layout.addWidget(self.facts)
        self.live = named(_muted("live readings: waiting…"), "gpuLive")
        layout.addWidget(self.live)
        layout.addWidget(self._models_grid())

        self.advice = named(QLabel(self._advice_text()), "gpuAdvice")
        self.advice.setWordWrap(True)
        self.advice.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.advice)

        action = QHBoxLayout()
        action.addWidget(QLabel("Load as"))
        self.profile_combo = named(QComboBox(), "gpuProfile",
                                   description="Which model variant and load profile this GPU uses")
        choices = fill_load_as(self.profile_combo, self.recommendations)
        action.addWidget(self.profile_combo, 1)
        self.use_button = named(QPushButton("Use this GPU"), "useGpuButton",
                                description=f"Load the model on GPU {gpu.index}")
        self.use_button.clicked.connect(self._use)
        action.addWidget(self.use_button)
        layout.addLayout(action)
        enabled = usable and choices > 0
        self.use_button.setEnabled(enabled)
        self.profile_combo.setEnabled(enabled)
        if not usable:
            note = named(_muted(f"Not usable from this app: {unusable_reason}"), "gpuUnusable")
            layout.addWidget(note)
        elif not enabled:
            self.use_button.setToolTip("No catalogue model fits this GPU in a profile the engine can load")
        for note in gpu.notes:
            layout.addWidget(_muted(note))

    def _facts_text(self) -> str:
        gpu = self.gpu
        if gpu.unified_memory:
            memory = f"{gpu.memory_budget_gb:.1f} GB usable of unified memory (shared with the CPU)"
        else:
            memory = f"{gpu.memory_total_gb or gpu.memory_budget_gb:.1f} GB total"
            if gpu.memory_free_gb is not None:
                memory += f", {gpu.memory_free_gb:.1f} GB free"
        parts = [f"Memory {memory}", f"CC {gpu.cc_text}"]
        if gpu.bandwidth_gbs:
            parts.append(f"{gpu.bandwidth_gbs:,.0f} GB/s")
        if gpu.driver_version:
            parts.append(f"driver {gpu.driver_version}, CUDA {gpu.cuda_version or '?'}")
        return " · ".join(parts)

    def _models_grid(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 4, 0, 4)
        grid.setHorizontalSpacing(12)
        for row, entry in enumerate(catalogue_models()):
            badge = fit_badge(entry["id"], self.gpu)
            grid.addWidget(QLabel(entry["name"]), row, 0)
            grid.addWidget(named(_badge(badge.text, badge.colour, badge.detail), "fitBadge"), row, 1)
            recs = [r for r in self.recommendations if r.model == entry["id"] and r.supported]
            shown = next((r for r in recs if r.profile == badge.profile), recs[0] if recs else None)
            grid.addWidget(_muted(speed_text(shown) if shown else _short(badge.detail)), row, 2)
        grid.setColumnStretch(2, 1)
        return box

    def _advice_text(self) -> str:
        lines = []
        for rec in self.recommendations:
            if rec.recommended and not model_entry(rec.model).get("embedded"):
                lines.append(f"<b>Recommended:</b> {_rec_text(rec)}")
        lines += [f"<b>Fastest:</b> {_rec_text(r)}" for r in self.recommendations if r.fastest]
        if not lines:
            lines.append("<b>Recommended:</b> the demo model — no DiffusionGemma variant fits this GPU")
        lines.append(
            "<i>Speeds are estimates (upper bounds from memory bandwidth) until this GPU has a measured figure.</i>"
        )
        return "<br>".join(lines)

    def _use(self) -> None:
        model, profile = self.profile_combo.currentData()
        self.use_requested.emit(self.gpu.index, profile, model)

    def set_live(self, reading: LiveReading) -> None:
        """Show one live reading (utilisation, temperature, memory in use)."""
        parts = []
        if reading.utilization_pct is not None:
            parts.append(f"utilisation {reading.utilization_pct} %")
        if reading.temperature_c is not None:
            parts.append(f"{reading.temperature_c} °C")
        if reading.memory_used_gb is not None:
            total = self.gpu.memory_total_gb or self.gpu.memory_budget_gb
            parts.append(f"{reading.memory_used_gb:.1f} of {total:.1f} GB in use")
        self.live.setText("live: " + (" · ".join(parts) if parts else "no readings from the driver"))


class GpuPanel(QWidget):
    """The GPU page. `gpu_selected(index, profile)` fires on "Use this GPU" (index -1, "cpu" for CPU mode);
    `selection_made(Selection)` carries the same choice with its model, already saved with `save_selection`.
    """

    gpu_selected = Signal(int, str)
    selection_made = Signal(object)
    report_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None, provider: HardwareProvider | None = None) -> None:
        super().__init__(parent)
        # The pool is created before the bridge, so deleting the panel waits for readings before the bridge goes.
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._bridge = _Bridge(self)
        self._bridge.report_ready.connect(self._show_report)
        self._bridge.live_ready.connect(self._show_live)
        self.provider = provider if provider is not None else NvmlProvider()
        self.report: HardwareReport | None = None
        self.cards: list[GpuCard] = []
        self._live_busy = False
        named(self, "gpuPanel", description="GPUs on this machine and what each one can run")
        self.setStyleSheet(STYLE)

        outer = QVBoxLayout(self)
        head = QHBoxLayout()
        head.addWidget(QLabel("<h2>GPU</h2>"))
        head.addStretch(1)
        self.refresh_button = named(QPushButton("Detect again"), "gpuRefresh", description="Run GPU discovery again")
        self.refresh_button.clicked.connect(self.refresh)
        head.addWidget(self.refresh_button)
        outer.addLayout(head)
        self.status = named(_muted("Detecting GPUs…"), "gpuStatus")
        outer.addWidget(self.status)
        self.cpu_banner = named(QLabel(), "gpuCpuMode", description="Why the app runs on the CPU")
        self.cpu_banner.setWordWrap(True)
        self.cpu_banner.setTextFormat(Qt.TextFormat.RichText)
        self.cpu_banner.hide()
        outer.addWidget(self.cpu_banner)
        self.cpu_button = named(
            QPushButton("Use the CPU (demo model)"), "useCpuButton", description="Run the demo model on the CPU"
        )
        self.cpu_button.clicked.connect(lambda: self._select(-1, "cpu", cpu_recommendation()["model"]))
        self.cpu_button.hide()
        outer.addWidget(self.cpu_button, 0, Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._cards_box = QWidget()
        self._cards_layout = QVBoxLayout(self._cards_box)
        self._cards_layout.setSpacing(12)
        self.card_picker = CardPicker(self._cards_box)  # below the cards: "what would run on another card?"
        self._cards_layout.addWidget(self.card_picker)
        self._cards_layout.addStretch(1)
        scroll.setWidget(self._cards_box)
        outer.addWidget(scroll, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh_live)
        self.refresh()

    def refresh(self) -> None:
        """Run discovery again (off the GUI thread)."""
        self.status.setText("Detecting GPUs…")
        self._pool.start(_Call(self.provider.report, self._bridge.report_ready.emit))

    def _show_report(self, report: Any) -> None:
        if isinstance(report, Exception):
            report = HardwareReport(cpu_mode=f"GPU discovery failed ({report})")
        self.report = report
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []
        unusable_reason = report.cpu_mode or "PyTorch does not see this GPU (CUDA_VISIBLE_DEVICES?)"
        shown = [(g, True) for g in report.gpus] + [(g, False) for g in report.unusable_gpus]
        for gpu, usable in shown:
            card = GpuCard(gpu, usable=usable, unusable_reason=unusable_reason, parent=self._cards_box)
            card.use_requested.connect(self._select)
            self._cards_layout.insertWidget(self._cards_layout.indexOf(self.card_picker), card)
            self.cards.append(card)
        if report.cpu_mode:
            demo = model_entry(cpu_recommendation()["model"])["name"]
            self.cpu_banner.setText(f"<b>CPU mode</b> — {report.cpu_mode}.<br>Recommended: {demo} on the CPU.")
        self.cpu_banner.setVisible(bool(report.cpu_mode))
        self.cpu_button.setVisible(bool(report.cpu_mode))
        count = len(report.gpus)
        self.status.setText(
            (f"{count} GPU{'s' * (count != 1)} found" if count else "No usable GPU")
            + "".join(f" · warning: {w}" for w in report.warnings)
        )
        self._mark_in_use(load_selection())
        self._update_timer()
        self.report_changed.emit(report)

    def _select(self, index: int, profile: str, model: str = "") -> None:
        gpu = next((c.gpu for c in self.cards if c.gpu.index == index), None)
        selection = Selection(
            gpu_index=None if index < 0 else index,
            profile=profile,
            gpu_name=gpu.name if gpu else None,
            torch_index=gpu.torch_index if gpu else None,
            model=model or None,
        )
        save_selection(selection)
        self._mark_in_use(selection)
        self.gpu_selected.emit(index, profile)
        self.selection_made.emit(selection)

    def _mark_in_use(self, selection: Selection | None) -> None:
        for card in self.cards:
            in_use = (
                selection is not None and selection.gpu_index == card.gpu.index and selection.gpu_name == card.gpu.name
            )
            card.use_button.setText("In use — apply again" if in_use else "Use this GPU")

    def _refresh_live(self) -> None:
        if self._live_busy or not self.cards:
            return
        self._live_busy = True
        self._pool.start(_Call(self.provider.live, self._bridge.live_ready.emit))

    def _show_live(self, readings: Any) -> None:
        self._live_busy = False
        if isinstance(readings, Exception):
            return
        by_index = {r.index: r for r in readings}
        for card in self.cards:
            if card.gpu.index in by_index:
                card.set_live(by_index[card.gpu.index])

    def _update_timer(self) -> None:
        if self.isVisible() and self.cards:
            if not self._timer.isActive():
                self._timer.start()
                self._refresh_live()
        else:
            self._timer.stop()

    def showEvent(self, event: Any) -> None:  # noqa: N802 — Qt override
        super().showEvent(event)
        self._update_timer()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 — Qt override
        super().hideEvent(event)
        self._timer.stop()
