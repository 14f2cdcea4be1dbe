"""Load profiles as the GPU page shows them: the "Load as" choices of one card, the per-profile table (the same rows
`python -m engine.hardware --gpu NAME` prints) and the card picker that evaluates any card of the table.

Everything here is cheap (catalogue and table arithmetic, no torch), so it runs on the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.hardware import (
    PROFILE_LABELS,
    GpuInfo,
    Recommendation,
    evaluate_gpu,
    gpu_from_spec,
    load_table,
    model_entry,
)
from engine.hardware.profiles import OVERHEAD_FIXED_GB, OVERHEAD_WEIGHT_FRACTION

from ..common.widgets import named

VLLM_LABEL = "NVFP4 — via a vLLM server"
NOT_CONFIRMED = "not confirmed on a GPU"
COLOURS = {"green": "#1e7b3c", "yellow": "#b7791f", "red": "#b3261e", "grey": "#6b6b6b"}
PICKER_HINT = "Pick a card…"
MEMORY_NEEDED_TIP = (f"The weights as the profile loads them, plus about {OVERHEAD_FIXED_GB:.0f} GB for the CUDA "
                     f"context and {OVERHEAD_WEIGHT_FRACTION:.0%} for activations and the cache — so more than the "
                     "model's size on the Models page")
PAD_X, PAD_Y = 6, 4  # cell padding
MODEL_WIDTH = 250
NOTES_MIN = 220  # below this the notes wrap one word a line: the other columns share the width instead
NARROW_SHARES = (0.24, 0.17, 0.17, 0.14, 0.28)  # model, load as, memory, speed, notes when the width is short
SOURCES = {"catalogue": "from the catalogue", "measured": "measured on the CPU",
           "computed from parameter shapes": "computed from parameter shapes"}




def badge(text: str, colour: str, tooltip: str = "") -> QLabel:
    """A coloured pill (colour names the style: green, yellow, red, grey, off)."""
    label = QLabel(text)
    label.setProperty("badge", colour)
    label.setToolTip(tooltip)
    label.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
    return label


def muted(text: str) -> QLabel:
    """A secondary, word-wrapped line."""
    label = QLabel(text)
    label.setProperty("muted", "true")
    label.setWordWrap(True)
    return label


def speed_text(rec: Recommendation) -> str:
    """ "~300 tok/s (estimate)", "412 tok/s (measured)" or "speed not estimated"."""
    if rec.estimated_tok_s is None:
        return "speed not estimated"
    if rec.estimate:
        return f"~{rec.estimated_tok_s:,.0f} tok/s (estimate)"
    return f"{rec.estimated_tok_s:,.0f} tok/s (measured)"


def profile_label(profile: str) -> str:
    """The profile's name for people; NVFP4 says it runs through a vLLM server, not in this app."""
    return VLLM_LABEL if profile == "nvfp4" else PROFILE_LABELS.get(profile, profile)


def memory_text(rec: Recommendation) -> str:
    """GB needed on the device (plus what offload keeps in system RAM)."""
    text = f"{rec.memory_needed_gb:.1f} GB"
    if rec.offloaded_gb > 0:
        text += f" + {rec.offloaded_gb:.1f} GB in system RAM"
    return text


def notes_text(rec: Recommendation) -> str:
    """The reason (why not, how tight, how slow) and whether the memory figure was confirmed on a GPU."""
    parts = [rec.reason] if rec.reason else []
    if not rec.confirmed_on_gpu:
        source = SOURCES.get(rec.memory_source, rec.memory_source)
        parts.append(f"memory {source}, {NOT_CONFIRMED}")
    return "; ".join(parts)


def selectable(rec: Recommendation) -> bool:
    """Whether "Load as" may offer it: loadable here, fits, and (for offload) actually needed."""
    return rec.fits and rec.profile != "nvfp4" and not (rec.profile == "offload" and rec.offloaded_gb <= 0)


def load_as_choices(recs: list[Recommendation]) -> list[tuple[Recommendation, bool]]:
    """(recommendation, selectable) for the "Load as" combo: selectable first (recommended first, the embedded demo
    last), then the shown-but-disabled ones (NVFP4 via vLLM, too big, unsupported) with their reasons."""
    def order(rec: Recommendation) -> tuple[bool, bool]:
        return not rec.recommended, bool(model_entry(rec.model).get("embedded", False))

    usable = sorted((r for r in recs if selectable(r)), key=order)
    shown = [r for r in recs if not selectable(r) and not (r.profile == "offload" and r.fits)]
    return [(r, True) for r in usable] + [(r, False) for r in shown]


def choice_text(rec: Recommendation) -> str:
    """One "Load as" entry: profile, model, memory and speed."""
    return f"{profile_label(rec.profile)} — {model_entry(rec.model)['name']} · {memory_text(rec)} · {speed_text(rec)}"


def fill_load_as(combo: QComboBox, recs: list[Recommendation]) -> int:
    """Fill a "Load as" combo with (model, profile) data; disabled rows keep their reason as a tooltip. Returns how
    many rows can be chosen."""
    combo.clear()
    count = 0
    for rec, ok in load_as_choices(recs):
        combo.addItem(choice_text(rec), (rec.model, rec.profile))
        index = combo.count() - 1
        combo.setItemData(index, notes_text(rec) or "fits", Qt.ItemDataRole.ToolTipRole)
        model = combo.model()
        if not ok and isinstance(model, QStandardItemModel):
            model.item(index).setEnabled(False)
        count += ok
    return count


class ProfileTable(QTableWidget):
    """Every catalogue model × profile on one GPU: model, load as, memory needed, speed, notes (◆ gpuProfileTable)."""

    COLUMNS = ("Model", "Load as", "Memory needed", "Speed", "Notes")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        named(self, "gpuProfileTable", description="Memory and speed per model and load profile on the chosen card")
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.horizontalHeaderItem(2).setToolTip(MEMORY_NEEDED_TIP)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.setWordWrap(True)
        self.setStyleSheet(f"QTableWidget::item {{ padding: {PAD_Y}px {PAD_X}px; }}")  # two rows' notes never touch
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # _fit sets every width from the table's width
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recommendations: list[Recommendation] = []

    def show_gpu(self, gpu: GpuInfo | None) -> None:
        """Evaluate `gpu` (None empties the table) and show one row per model × profile."""
        self.recommendations = evaluate_gpu(gpu) if gpu is not None else []
        self.setRowCount(len(self.recommendations))
        for row, rec in enumerate(self.recommendations):
            colour = rec.colour if rec.supported else "grey"
            fit = "★ recommended" if rec.recommended else ("fits" if rec.fits else "does not fit" if rec.supported
                                                            else "" if rec.reason.startswith("not") else "not loadable")
            cells = (model_entry(rec.model)["name"], profile_label(rec.profile), memory_text(rec),
                     speed_text(rec), "; ".join(p for p in (fit, notes_text(rec)) if p))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{text}\n{MEMORY_NEEDED_TIP}." if column == 2 else text)
                if column == 1:
                    item.setForeground(QColor(COLOURS[colour]))
                self.setItem(row, column, item)
        self._fit()

    def _fit(self) -> None:
        """Column widths for the current width, then rows as tall as their wrapped cells at those widths (so no
        cell is cut off), and the table as tall as its rows."""
        self._set_widths()
        for row in range(self.rowCount()):
            self.setRowHeight(row, max(self.sizeHintForRow(row), self.text_height(row)))
        rows = sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(self.horizontalHeader().height() + rows + 2 * self.frameWidth() + 4)

    def _set_widths(self) -> None:
        """The model, profile, memory and speed columns as wide as their text and the notes the rest; when that leaves
        the notes too narrow to read, every column gets a share of the width and wraps."""
        header = self.horizontalHeader()
        available = self.viewport().width()
        natural = [MODEL_WIDTH] + [max(self.sizeHintForColumn(c), header.sectionSizeHint(c)) + 4
                                   for c in range(1, len(self.COLUMNS) - 1)]
        if sum(natural) + NOTES_MIN <= available:
            widths = [*natural, available - sum(natural)]
        else:
            widths = [max(60, int(available * share)) for share in NARROW_SHARES[:-1]]
            widths.append(max(60, available - sum(widths)))
        for column, width in enumerate(widths):
            if header.sectionSize(column) != width:
                header.resizeSection(column, width)

    def text_height(self, row: int) -> int:
        """The height `row`'s cells need as they are painted: wrapped inside the cell padding and the style's text
        margins (the item size hint ignores the padding, so long notes lost their last line to "…")."""
        metrics = self.fontMetrics()
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self) + 1
        tallest = metrics.height()
        for column in range(self.columnCount()):
            item = self.item(row, column)
            width = max(20, self.columnWidth(column) - 2 * PAD_X - 2 * margin)
            bounds = metrics.boundingRect(QRect(0, 0, width, 100_000), int(Qt.TextFlag.TextWordWrap), item.text())
            tallest = max(tallest, bounds.height())
        return tallest + 2 * PAD_Y + 4

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 — Qt override
        """Re-wrap the notes when the width changes."""
        super().resizeEvent(event)
        self._fit()

    def row_texts(self) -> list[list[str]]:
        """The table's cells as text (for scripted checks)."""
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]


class CardPicker(QWidget):
    """ "What would run on a 4090 / 5090 / DGX Spark?": a combo over the GPU table and the per-profile estimates for
    the chosen card (◆ gpuCardPicker). `card_chosen(GpuInfo)` fires on each choice."""

    card_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.specs = list(load_table())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>What would run on another card?</b>"))
        self.combo = named(QComboBox(), "gpuCardPicker",
                           description="Pick any card from the table to see what it could run")
        self.combo.addItem(PICKER_HINT, None)
        for spec in self.specs:
            self.combo.addItem(f"{spec.name} · {spec.memory_gb:g} GB", spec.name)
        self.combo.currentIndexChanged.connect(self._chosen)
        head.addWidget(self.combo, 1)
        layout.addLayout(head)
        self.note = named(muted("Estimates from the card's memory and bandwidth, not measurements on this machine."),
                          "gpuCardEstimates")
        layout.addWidget(self.note)
        self.table = ProfileTable(self)
        self.table.hide()
        layout.addWidget(self.table)
        self.gpu: GpuInfo | None = None

    def choose(self, name: str) -> None:
        """Pick the card called `name` (its display name in the table); KeyError when unknown."""
        index = self.combo.findData(name)
        if index < 0:
            raise KeyError(name)
        self.combo.setCurrentIndex(index)

    def _chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        spec = next((s for s in self.specs if s.name == name), None)
        self.gpu = gpu_from_spec(spec) if spec is not None else None
        self.table.show_gpu(self.gpu)
        self.table.setVisible(self.gpu is not None)
        if self.gpu is not None:
            self.note.setText(f"{self.gpu.name}: {self.gpu.memory_budget_gb:.1f} GB usable, CC {self.gpu.cc_text} — "
                              "figures are estimates from the table, not measurements on this machine. Memory "
                              f"needed = weights + about {OVERHEAD_FIXED_GB:.0f} GB CUDA context + "
                              f"{OVERHEAD_WEIGHT_FRACTION:.0%}.")
            self.card_chosen.emit(self.gpu)
