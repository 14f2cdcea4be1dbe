"""The Compare page (comparePage): past experiments | a prompt × up to four variant columns | a word-level diff of
any two columns. Widgets only — `CompareController` drives them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..common.widgets import named
from ..store.experiments import MAX_VARIANTS, Experiment
from .variant_column import LETTERS, VariantColumn

IDLE_STATUS = "Pick a prompt and the variants, then Run all."


class ComparePage(QWidget):
    """Holds every Compare widget as an attribute for the controller and tests."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "comparePage")
        self.experiments = named(QListWidget(self), "experimentList", tip="Past experiments: click one to reopen it")
        self.experiments.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.experiments.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.new_button = named(QPushButton("+  New experiment", self), "newExperimentButton")
        self.delete_button = named(QPushButton("Delete", self), "deleteExperimentButton",
                                   tip="Delete the selected experiment")
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 8, 0, 8)
        side_layout.addWidget(self.new_button)
        side_layout.addWidget(QLabel("Past experiments", side))
        side_layout.addWidget(self.experiments, 1)
        side_layout.addWidget(self.delete_button)

        self.prompt = named(QPlainTextEdit(self), "comparePrompt", tip="The prompt every column answers")
        self.prompt.setPlaceholderText("A prompt to compare across seeds, system prompts and sampler presets…")
        self.prompt.setFixedHeight(58)
        self.context_label = named(QLabel(self), "compareContext")
        self.context_label.setTextFormat(Qt.TextFormat.PlainText)
        self.context_label.setVisible(False)
        self.column_count = named(QSpinBox(self), "compareColumnCount", tip="How many variants to compare")
        self.column_count.setRange(1, MAX_VARIANTS)
        self.column_count.setValue(MAX_VARIANTS)
        self.column_count.setPrefix("Variants: ")
        self.seeds_button = named(QPushButton("Seeds 1–4", self), "compareSeedsButton",
                                  tip="Give the columns seeds 1, 2, 3, 4")
        self.run_button = named(QPushButton("Run all", self), "compareRunButton",
                                tip="Denoise every variant together, in one batch (Ctrl+Enter)")
        self.run_button.setDefault(True)
        self.stop_button = named(QPushButton("Stop", self), "compareStopButton", tip="Stop every variant")
        self.stop_button.setEnabled(False)
        self.export_button = named(QToolButton(self), "compareExportButton", tip="Export this experiment")
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        self.export_markdown = menu.addAction("Markdown…")
        self.export_json = menu.addAction("JSON…")
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        controls = QHBoxLayout()
        controls.addWidget(self.column_count)
        controls.addWidget(self.seeds_button)
        controls.addStretch(1)
        controls.addWidget(self.run_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.export_button)
        self.status = named(QLabel(IDLE_STATUS, self), "compareStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)

        self.columns = [VariantColumn(i, self) for i in range(MAX_VARIANTS)]
        columns_row = QWidget(self)
        row = QHBoxLayout(columns_row)
        row.setContentsMargins(0, 0, 0, 0)
        for column in self.columns:
            row.addWidget(column, 1)
        self.column_count.valueChanged.connect(self._show_columns)

        self.diff_left = named(QComboBox(self), "diffLeft", tip="The column the diff starts from")
        self.diff_right = named(QComboBox(self), "diffRight", tip="The column it is compared with")
        for letter in LETTERS[:MAX_VARIANTS]:
            self.diff_left.addItem(letter)
            self.diff_right.addItem(letter)
        self.diff_right.setCurrentIndex(1)
        self.diff_summary = named(QLabel(self), "diffSummary")
        self.diff_summary.setTextFormat(Qt.TextFormat.PlainText)
        self.diff = named(QTextBrowser(self), "compareDiff",
                          tip="Words only in the first column are struck through in red, new ones in green")
        self.diff.setOpenLinks(False)
        self.diff.setOpenExternalLinks(False)
        diff_row = QHBoxLayout()
        diff_row.addWidget(QLabel("Diff", self))
        diff_row.addWidget(self.diff_left)
        diff_row.addWidget(QLabel("→", self))
        diff_row.addWidget(self.diff_right)
        diff_row.addWidget(self.diff_summary, 1)
        diff_box = QWidget(self)
        diff_layout = QVBoxLayout(diff_box)
        diff_layout.setContentsMargins(0, 0, 0, 0)
        diff_layout.addLayout(diff_row)
        diff_layout.addWidget(self.diff, 1)

        columns_area = QScrollArea(self)  # four columns scroll sideways in a narrow window instead of widening it
        columns_area.setObjectName("compareColumnsArea")
        columns_area.setWidget(columns_row)
        columns_area.setWidgetResizable(True)
        columns_area.setFrameShape(QScrollArea.Shape.NoFrame)
        columns_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        named(columns_area.horizontalScrollBar(), "compareColumnsScrollBar", tip="Scroll the variant columns")
        body = QSplitter(Qt.Orientation.Vertical, self)
        body.addWidget(columns_area)
        body.addWidget(diff_box)
        body.setStretchFactor(0, 4)
        body.setStretchFactor(1, 1)
        body.setSizes([600, 140])
        main = QWidget(self)
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(4, 8, 8, 8)
        main_layout.addWidget(self.prompt)
        main_layout.addWidget(self.context_label)
        main_layout.addLayout(controls)
        main_layout.addWidget(self.status)
        main_layout.addWidget(body, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(side)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 1100])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _show_columns(self, count: int) -> None:
        for column in self.columns:
            column.setVisible(column.index < count)

    @property
    def active_columns(self) -> list[VariantColumn]:
        """The columns in use (the first `column_count`)."""
        return self.columns[: self.column_count.value()]

    def set_experiments(self, experiments: list[Experiment], current: int | None) -> None:
        """Refill the past-experiments list (newest first), keeping `current` selected, without signals."""
        self.experiments.blockSignals(True)
        self.experiments.clear()
        for exp in experiments:
            item = QListWidgetItem(exp.title)
            item.setData(Qt.ItemDataRole.UserRole, exp.id)
            item.setToolTip(exp.prompt)
            self.experiments.addItem(item)
            if exp.id == current:
                self.experiments.setCurrentItem(item)
        self.experiments.blockSignals(False)

    def set_busy(self, busy: bool, *, model_ready: bool) -> None:
        """Run when a model is loaded and nothing runs; Stop while the variants run."""
        self.run_button.setEnabled(model_ready and not busy)
        self.stop_button.setEnabled(busy)
        for widget in (self.prompt, self.column_count, self.seeds_button, self.experiments, self.new_button,
                       self.delete_button):
            widget.setEnabled(not busy)
        for column in self.columns:
            column.set_editable(not busy)
