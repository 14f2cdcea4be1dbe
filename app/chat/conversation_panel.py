"""The conversation sidebar: search, the list (◆ conversationList), new / rename / delete with confirmation."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..store.chats import Conversation

TITLE_ROLE = Qt.ItemDataRole.UserRole + 1  # the title as stored (the shown text may carry the answering mark)
DRAFT_ROLE = Qt.ItemDataRole.UserRole + 2  # the chat has unsent text in its message box
ANSWERING_MARK = "⟳"
DRAFT_MARK = "✎"
MAX_TITLE = 200


class SearchField(QLineEdit):
    """The chat search: Esc clears what was typed (and only then, when it is empty, reaches the window's Stop)."""

    def event(self, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Escape and self.text()):
            event.accept()  # the key comes to keyPressEvent instead of firing the window's Esc (Stop)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)


class ConversationPanel(QWidget):
    """Shows conversations; asks the controller (through signals) to create, open, rename or delete them."""

    new_requested = Signal()
    selected = Signal(int)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    search_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationPanel")
        self.new_button = QPushButton("+  New chat", self)
        self.new_button.setObjectName("newChatButton")
        self.new_button.setAccessibleName("newChatButton")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        self.search = SearchField(self)
        self.search.setObjectName("conversationSearch")
        self.search.setAccessibleName("conversationSearch")
        self.search.setPlaceholderText("Search chats…")
        self.search.setToolTip("Chat titles and message text (Ctrl+F); Esc clears")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.search_changed)
        self.no_match = QLabel(self)
        self.no_match.setObjectName("noChatMatches")
        self.no_match.setTextFormat(Qt.TextFormat.PlainText)  # quotes what was typed: never markup
        self.no_match.setWordWrap(True)
        self.no_match.setStyleSheet("color: #94a3b8; padding: 6px 2px;")
        self.no_match.setVisible(False)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setAccessibleName("conversationList")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._current_changed)
        self.rename_button = QPushButton("Rename", self)
        self.rename_button.setObjectName("renameChatButton")
        self.rename_button.setAccessibleName("renameChatButton")
        self.rename_button.clicked.connect(self.rename_current)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setObjectName("deleteChatButton")
        self.delete_button.setAccessibleName("deleteChatButton")
        self.delete_button.clicked.connect(self.delete_current)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search)
        layout.addWidget(self.no_match)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._populating = False
        self._answering: int | None = None
        self.confirm_delete = self._ask_delete
        self.delete_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Delete), self.list)
        self.delete_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        self.delete_shortcut.activated.connect(self.delete_current)
        self.delete_button.setToolTip("Delete the selected chat (Delete key); you are asked first")
        self.rename_shortcut = QShortcut(QKeySequence(Qt.Key.Key_F2), self.list)
        self.rename_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        self.rename_shortcut.activated.connect(self.rename_current)
        self.rename_button.setToolTip("Rename the selected chat (F2)")

    def set_conversations(self, conversations: list[Conversation], current: int | None,
                          drafted: frozenset[int] | set[int] = frozenset()) -> None:
        """Replace the list without emitting `selected` for the programmatic change; chats in `drafted` (other
        than the open one) are marked as having unsent text."""
        self._populating = True
        self.list.clear()
        for conv in conversations:
            item = QListWidgetItem(conv.title)
            item.setData(Qt.ItemDataRole.UserRole, conv.id)
            item.setData(TITLE_ROLE, conv.title)
            item.setData(DRAFT_ROLE, conv.id in drafted and conv.id != current)
            self.list.addItem(item)
            if conv.id == current:
                self.list.setCurrentItem(item)
        self._populating = False
        self.mark_answering(self._answering)
        typed = self.search.text().strip()
        self.no_match.setText(f"No chat title or message contains “{typed[:80]}”." if typed else "")
        self.no_match.setVisible(bool(typed) and not conversations)

    def mark_answering(self, conversation_id: int | None) -> None:
        """Mark the chat whose answer is being written ("… answering"), so it can be found from any other chat."""
        self._answering = conversation_id
        for row in range(self.list.count()):
            item = self.list.item(row)
            title = item.data(TITLE_ROLE)
            answering = item.data(Qt.ItemDataRole.UserRole) == conversation_id
            drafted = bool(item.data(DRAFT_ROLE))
            item.setText(f"{ANSWERING_MARK} {title}" if answering else f"{DRAFT_MARK} {title}" if drafted else title)
            item.setToolTip(f"{title}\n(an answer is being written in this chat)" if answering
                            else f"{title}\n(unsent text is waiting in its message box)" if drafted else title)
            font = item.font()
            font.setItalic(answering)
            item.setFont(font)

    def title_of(self, conversation_id: int | None) -> str:
        """The listed title of a conversation ("" when it is not listed, e.g. hidden by the search)."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == conversation_id:
                return str(item.data(TITLE_ROLE))
        return ""

    def select(self, conversation_id: int | None) -> None:
        """Put the selection back on `conversation_id` (a conversation that could not be opened) without emitting
        `selected`."""
        self._populating = True
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == conversation_id:
                self.list.setCurrentItem(item)
                break
        else:
            self.list.setCurrentItem(None)
        self._populating = False

    def current_id(self) -> int | None:
        """The selected conversation's id, or None."""
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _current_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None and not self._populating:
            self.selected.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def rename_current(self) -> QInputDialog | None:
        """Ask for a new title for the selected conversation (non-blocking; returns the open dialog). OK stays off
        while the title is blank, and a title is at most MAX_TITLE characters."""
        item = self.list.currentItem()
        if item is None:
            return None
        conversation_id = int(item.data(Qt.ItemDataRole.UserRole))
        dialog = QInputDialog(self)
        dialog.setObjectName("renameChatDialog")
        dialog.setAccessibleName("renameChatDialog")
        dialog.setWindowTitle("Rename chat")
        dialog.setLabelText(f"New title (at most {MAX_TITLE} characters):")
        dialog.setTextValue(str(item.data(TITLE_ROLE))[:MAX_TITLE])
        dialog.textValueSelected.connect(lambda title: self.rename_requested.emit(conversation_id, title.strip()))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # QInputDialog builds its field and buttons when shown
        dialog.findChild(QLineEdit).setMaxLength(MAX_TITLE)
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)

        def allow_ok(text: str) -> None:  # a blank title was silently ignored: now OK cannot be pressed
            ok.setEnabled(bool(text.strip()))
            ok.setToolTip("" if text.strip() else "Type a title first")

        dialog.textValueChanged.connect(allow_ok)
        allow_ok(dialog.textValue())
        return dialog

    def delete_current(self) -> None:
        """Delete the selected conversation after confirmation."""
        item = self.list.currentItem()
        if item is not None and self.confirm_delete(item.data(TITLE_ROLE)):
            self.delete_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _ask_delete(self, title: str) -> bool:
        """The real confirmation: a "Delete" button (destructive) and Cancel, Cancel being the default."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete chat",
                          f"Delete “{title}” and all its messages? This cannot be undone.", parent=self)
        box.setObjectName("deleteChatDialog")
        box.setAccessibleName("deleteChatDialog")
        box.setTextFormat(Qt.TextFormat.PlainText)  # the title is the user's text, never markup
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("confirmDeleteButton")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        box.deleteLater()  # a question per delete stayed alive as a hidden child
        return box.clickedButton() is delete

    def _menu(self, pos) -> None:
        if self.list.itemAt(pos) is None:
            return
        menu = QMenu(self)
        rename = QAction("Rename…", menu)
        rename.setShortcut(QKeySequence(Qt.Key.Key_F2))  # shown in the menu; the list's own shortcut triggers it
        rename.triggered.connect(self.rename_current)
        delete = QAction("Delete…", menu)
        delete.triggered.connect(self.delete_current)
        menu.addActions([rename, delete])
        menu.exec(self.list.viewport().mapToGlobal(pos))
