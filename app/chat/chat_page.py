"""The chat page: conversations | messages + composer | canvas. Widgets only — `ChatController` drives them."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..canvas.canvas_panel import CanvasPanel
from ..common.widgets import named
from .composer_drop import local_files, read_dropped
from .conversation_panel import ConversationPanel
from .example_prompts import ExamplePrompts
from .message_view import MessageView


class Composer(QPlainTextEdit):
    """◆ composer: Enter sends, Shift+Enter inserts a new line."""

    submitted = Signal()
    problem = Signal(str)  # a dropped file that was not inserted, and why

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "composer")
        self.setPlaceholderText("Ask something…  (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(84)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt's name
        return bool(local_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt's name
        """Dropped or pasted files insert their UTF-8 text; refused files say why (the composer is unchanged)."""
        files = local_files(source)
        if not files:
            super().insertFromMimeData(source)
            return
        text, problems = read_dropped(files)
        if text:
            self.insertPlainText(text)
        if problems:
            self.problem.emit(" ".join(problems))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


CHAT_COLUMN_MIN_WIDTH = 340


class ChatPage(QWidget):
    """Holds every chat widget; exposes them as attributes for the controller and tests."""

    SEND_TIP = "Send (Enter)"
    STOP_TIP = "Stop the answer (committed canvases stay)"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatPage")
        self.conversations = ConversationPanel(self)
        self.messages = MessageView(self)
        self.canvas = CanvasPanel(self)

        self.system_prompt = named(QLineEdit(self), "systemPrompt", tip="System prompt of this conversation")
        self.system_prompt.setPlaceholderText("System prompt for this conversation (optional)")
        self.thinking = named(QCheckBox("Thinking", self), "thinkingToggle",
                             tip="Let the model think first; its thought is shown folded under the answer")
        top = QHBoxLayout()
        top.addWidget(self.system_prompt, 1)
        top.addWidget(self.thinking)

        self.banner = named(QLabel(self), "errorBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)  # messages quote paths and model text: never markup
        self.banner.setVisible(False)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner_close = named(QToolButton(self), "dismissBanner", tip="Dismiss")
        self.banner_close.setText("✕")
        self.banner_close.setVisible(False)
        self.banner_close.clicked.connect(self.hide_banner)
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.banner_close, 0, Qt.AlignmentFlag.AlignTop)

        self.edit_label = named(QLabel(self), "editBanner")
        self.edit_label.setWordWrap(True)  # never widens the window
        self.edit_label.setVisible(False)
        self.cancel_edit = named(QPushButton("Cancel edit", self), "cancelEditButton")
        self.cancel_edit.setVisible(False)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.edit_label, 1)
        edit_row.addWidget(self.cancel_edit)

        self.examples = ExamplePrompts(self)  # an empty chat's example prompts (one click sends)
        self.composer = Composer(self)
        self.composer.problem.connect(self.show_banner)
        self.send_button = named(QPushButton("Send", self), "sendButton", tip=self.SEND_TIP)
        self.send_button.setDefault(True)
        self.stop_button = named(QPushButton("Stop", self), "stopButton", tip=self.STOP_TIP)
        self.stop_button.setEnabled(False)
        self.regenerate_button = named(QToolButton(self), "regenerateButton", tip="Generate the last answer again")
        self.regenerate_button.setText("Regenerate")
        self.regenerate_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(self.regenerate_button)
        self.regenerate_new = menu.addAction("New seed")
        self.regenerate_same = menu.addAction("Same seed (compare a prompt edit fairly)")
        self.regenerate_same.setToolTip("Answer again with the same random seed: only your edit changes the answer")
        self.regenerate_button.setMenu(menu)
        for keys in ("Alt+Down", "F4"):  # the menu's choices from the keyboard too (only the mouse opened it)
            opener = QShortcut(QKeySequence(keys), self.regenerate_button)
            opener.setContext(Qt.ShortcutContext.WidgetShortcut)
            opener.activated.connect(self.regenerate_button.showMenu)
        self.regenerate_button.setDefaultAction(self.regenerate_new)
        self.regenerate_new.setText("Regenerate")
        # the button shows its default action's tooltip
        self.regenerate_new.setToolTip("Generate the last answer again (Ctrl+R); Alt+Down opens the same-seed choice")
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.regenerate_button)
        buttons.addStretch(1)
        compose_row = QHBoxLayout()
        compose_row.addWidget(self.composer, 1)
        compose_row.addLayout(buttons)

        column = named(QWidget(self), "chatColumn")
        column.setMinimumWidth(CHAT_COLUMN_MIN_WIDTH)  # the list and the canvas give way before the composer does
        col = QVBoxLayout(column)
        col.setContentsMargins(4, 8, 4, 8)
        col.addLayout(top)
        col.addLayout(banner_row)
        col.addWidget(self.messages, 1)
        col.addWidget(self.examples)
        col.addLayout(edit_row)
        col.addLayout(compose_row)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.conversations)
        splitter.addWidget(column)
        splitter.addWidget(self.canvas)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([210, 560, 460])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    INFO_BANNER_MS = 10_000

    def set_text_size(self, points: int) -> None:
        """The messages' and the message box's text size (View → Larger / Smaller text); the widgets' own style
        sheets, since the app's sheet sets every font to 10 pt."""
        self.messages.setStyleSheet(f"QTextBrowser#messageView {{ font-size: {points}pt; }}")
        self.composer.setStyleSheet(f"QPlainTextEdit#composer {{ font-size: {points}pt; }}")

    def show_banner(self, text: str, *, kind: str = "warning") -> None:
        """An error or notice above the messages; the app keeps running. A "warning" (amber) stays until dismissed
        or replaced; an "info" note (blue: something finished as asked) goes by itself after ten seconds."""
        if self.banner.property("kind") != kind:
            self.banner.setProperty("kind", kind)
            self.banner.style().unpolish(self.banner)  # the style sheet picks its colours by this property
            self.banner.style().polish(self.banner)
        self.banner.setText(text)
        self.banner.setVisible(True)
        self.banner_close.setVisible(True)
        if kind == "info":
            QTimer.singleShot(self.INFO_BANNER_MS, self.banner, lambda: self._expire(text))

    def _expire(self, text: str) -> None:
        if self.banner.text() == text and self.banner.property("kind") == "info":
            self.hide_banner()

    def hide_banner(self) -> None:
        """Hide the error banner."""
        self.banner.setVisible(False)
        self.banner_close.setVisible(False)

    def set_busy(self, busy: bool, *, model_ready: bool, can_regenerate: bool = True,
                 answering_elsewhere: str = "") -> None:
        """Send is possible when a model is loaded and no answer is running; Stop only while one is; Regenerate
        when there is also something in the chat to answer again. `answering_elsewhere`: the title of another chat
        whose answer is running (Send and Stop say so: Stop ends that answer)."""
        self.send_button.setEnabled(model_ready and not busy)
        self.stop_button.setEnabled(busy)
        self.regenerate_button.setEnabled(model_ready and not busy and can_regenerate)
        if answering_elsewhere:
            self.send_button.setToolTip(f"“{answering_elsewhere}” is still answering: send when it is done, or "
                                        "press Stop to end that answer. Your message stays in the box.")
            self.stop_button.setToolTip(f"Stop the answer being written in “{answering_elsewhere}”")
        elif busy:
            self.send_button.setToolTip("Wait for the answer to finish, or press Stop. Your message stays in the box.")
            self.stop_button.setToolTip(self.STOP_TIP)
        else:
            self.send_button.setToolTip(self.SEND_TIP)
            self.stop_button.setToolTip(self.STOP_TIP)
