"""The main window: a navigation rail (Chat / Compare / Models / GPU / Server), the model picker, the status bar.
Layout only.

The Models and GPU pages are standalone widgets from their own modules; when a module is not there yet the
window shows a placeholder page instead, so it works either way.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QProgressBar,
    QSizePolicy,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..chat.chat_page import ChatPage
from ..common.widgets import named
from ..compare.compare_page import ComparePage
from .menus import ShortcutsDialog, about_box, build_menu_bar, open_data_folder, shortcut_rows

PAGE_LABELS = ("Chat", "Compare", "Models", "GPU", "Server")
APP_TITLE = "Diffusion Desk"


def _placeholder(title: str, text: str, object_name: str) -> QWidget:
    page = QWidget()
    page.setObjectName(object_name + "Placeholder")
    layout = QVBoxLayout(page)
    label = QLabel(f"<h2>{title}</h2><p>{text}</p>", page)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(label)
    return page


def build_models_page() -> QWidget:
    """The model manager (◆ modelManager) when `app.models.models_page` exists, else a placeholder."""
    try:
        from ..models.models_page import ModelManagerPage
    except ImportError:
        return _placeholder("Models", "The model manager is not part of this build yet.", "modelManager")
    return ModelManagerPage()


def build_gpu_page() -> QWidget:
    """The GPU panel (◆ gpuPanel) when `app.gpu.gpu_panel` exists, else a placeholder."""
    try:
        from ..gpu.gpu_panel import GpuPanel
    except ImportError:
        return _placeholder("GPU", "The GPU panel is not part of this build yet.", "gpuPanel")
    return GpuPanel()


def build_server_page() -> QWidget:
    """The Server switch (serverPanel): the loaded model over an OpenAI-compatible API."""
    from ..server.server_panel import ServerPanel

    return ServerPanel()


class MainWindow(QMainWindow):
    """Widgets are attributes (`chat`, `model_picker`, `stats_label`, …) for the controller and for tests."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_TITLE)
        self.resize(1360, 860)

        self.chat = ChatPage(self)
        self.compare = ComparePage(self)
        self.models_page = build_models_page()
        self.gpu_page = build_gpu_page()
        self.server_page = build_server_page()
        self.pages = QStackedWidget(self)
        for page in (self.chat, self.compare, self.models_page, self.gpu_page, self.server_page):
            self.pages.addWidget(page)

        self.nav = named(QListWidget(self), "navigation",
                         tip="Switch between chat, compare, models, GPU and server (Ctrl+1 … Ctrl+5)")
        self.nav.setFixedWidth(92)
        self.nav.setIconSize(QSize(20, 20))
        self.page_actions: list[QAction] = []
        for row, label in enumerate(PAGE_LABELS):
            item = QListWidgetItem(label)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setSizeHint(QSize(88, 44))
            item.setToolTip(f"{label} (Ctrl+{row + 1})")
            self.nav.addItem(item)
            action = QAction(f"{label} page", self)  # the View menu's rows ("Compare" alone is the Compare action)
            action.setShortcut(QKeySequence(f"Ctrl+{row + 1}"))
            action.triggered.connect(lambda _checked=False, r=row: self.show_page(r, focus=True))
            self.addAction(action)
            self.page_actions.append(action)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.setCurrentRow(0)

        central = QWidget(self)
        body = QHBoxLayout(central)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.nav)
        body.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        brand = QLabel("  Diffusion Desk  ", self)
        brand.setObjectName("brand")
        toolbar.addWidget(brand)
        toolbar.addWidget(QLabel("Model ", self))
        self.model_picker = named(
            QComboBox(self), "modelPicker", tip="Which model answers; it loads in the background"
        )
        self.model_picker.setMinimumWidth(360)
        self.model_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        toolbar.addWidget(self.model_picker)
        self.load_progress = QProgressBar(self)
        self.load_progress.setObjectName("loadProgress")
        self.load_progress.setRange(0, 0)
        self.load_progress.setMaximumWidth(140)
        self.load_progress.setVisible(False)
        self.load_progress_action = toolbar.addWidget(self.load_progress)
        self.load_progress_action.setVisible(False)
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        self.new_action = QAction("New chat", self)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_action.setToolTip("Start a new conversation (Ctrl+N)")
        # Connected before the controller's slot: the Chat page is in front (and its message box can take the
        # focus) when a new chat opens from another page — it opened out of sight, the typing went nowhere.
        self.new_action.triggered.connect(lambda: self.show_page(0))
        self.settings_action = QAction("Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setToolTip("Answer settings: length, refining steps, temperatures, threads (Ctrl+,)")
        self.export_action = QAction("Export Markdown…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Save the open chat as a Markdown file (Ctrl+E)")
        self.compare_action = QAction("Compare…", self)
        self.compare_action.setShortcut(QKeySequence("Ctrl+Shift+K"))
        self.compare_action.setToolTip("Compare variants of the chat's last question side by side (Ctrl+Shift+K)")
        self.stop_action = QAction("Stop", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.addAction(self.stop_action)
        self.regenerate_action = QAction("Regenerate", self)
        self.regenerate_action.setShortcut(QKeySequence("Ctrl+R"))
        self.regenerate_action.triggered.connect(self._regenerate)
        self.addAction(self.regenerate_action)
        regenerate_tip = self.chat.regenerate_button.toolTip()
        if regenerate_tip and "Ctrl+R" not in regenerate_tip:
            self.chat.regenerate_button.setToolTip(f"{regenerate_tip} (Ctrl+R)")
        self.quit_action = QAction("Quit", self)
        self.quit_action.setToolTip("Quit Diffusion Desk (Ctrl+Q)")
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.close)
        self.addAction(self.quit_action)
        self.open_model_action = QAction("Open a model folder…", self)  # desktop.ModelPicker answers it
        self.open_model_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_model_action.setToolTip("Load a DiffusionGemma model from a folder on this computer (Ctrl+O)")
        self.find_action = QAction("Search chats", self)
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)
        self.find_action.setToolTip("Search chat titles and messages (Ctrl+F)")
        self.find_action.triggered.connect(self.search_chats)
        self.larger_text_action = QAction("Larger text", self)
        self.larger_text_action.setShortcuts([QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")])
        self.smaller_text_action = QAction("Smaller text", self)
        self.smaller_text_action.setShortcut(QKeySequence.StandardKey.ZoomOut)
        self.default_text_action = QAction("Default text size", self)
        self.default_text_action.setShortcut(QKeySequence("Ctrl+0"))
        self.shortcuts_action = QAction("Keyboard shortcuts", self)
        self.shortcuts_action.setShortcut(QKeySequence(Qt.Key.Key_F1))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        self.about_action = QAction("About Diffusion Desk", self)
        self.about_action.triggered.connect(lambda: about_box(self))
        self.data_folder_action = QAction("Open chats folder", self)
        self.data_folder_action.triggered.connect(lambda: open_data_folder(self))
        text_actions = [self.larger_text_action, self.smaller_text_action, self.default_text_action]
        for action in (self.open_model_action, self.find_action, self.shortcuts_action, *text_actions):
            self.addAction(action)
        build_menu_bar(
            self,
            file=[self.new_action, self.open_model_action, self.export_action, None, self.settings_action, None,
                  self.quit_action],
            chat=[self.find_action, None, self.regenerate_action, self.stop_action, None, self.compare_action],
            view=[*self.page_actions, None, *text_actions],
            help_=[self.shortcuts_action, self.data_folder_action, None, self.about_action],
        )
        self._chat_menu = self.menuBar().findChild(QMenu, "chatMenu")
        self._chat_menu.aboutToShow.connect(self._grey_what_cannot_run)
        self._chat_menu.aboutToHide.connect(self._ungrey)
        self.shortcuts_dialog: ShortcutsDialog | None = None
        for action in (self.new_action, self.compare_action, self.settings_action, self.export_action):
            toolbar.addAction(action)
        tool_buttons = ((self.new_action, "newChatToolButton"), (self.compare_action, "compareToolButton"),
                        (self.settings_action, "settingsButton"), (self.export_action, "exportButton"))
        for action, object_name in tool_buttons:
            widget = toolbar.widgetForAction(action)
            if widget is not None:
                named(widget, object_name)

        self.stats_label = named(QLabel("No model loaded", self), "statsLabel")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A normal (not permanent) widget: a status message ("Exported to …", "Type a message first") takes its
        # place while shown. As a permanent widget with stretch it took the whole bar and every message was hidden.
        self.statusBar().addWidget(self.stats_label, 1)
        self.close_hooks: list = []
        self._fitted = False
        self._set_tab_order()
        self.nav.currentRowChanged.connect(self._page_changed)

    def show_page(self, row: int, *, focus: bool = False) -> None:
        """Bring page `row` (0 Chat … 4 Server) to the front; `focus`: the keyboard goes into it (Ctrl+1 … Ctrl+5)."""
        self.nav.setCurrentRow(row)
        if not focus:
            return
        page = self.pages.widget(row)
        if page is self.chat:
            self.chat.composer.setFocus(Qt.FocusReason.ShortcutFocusReason)
        elif not page.isAncestorOf(QApplication.focusWidget()):
            target = next((w for w in page.findChildren(QWidget) if w.isVisible() and w.isEnabled()
                           and w.focusPolicy() & Qt.FocusPolicy.TabFocus), None)
            (target or page).setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _page_changed(self, row: int) -> None:
        # Esc stops what the page in front runs (a chat answer, a rewrite, a comparison); elsewhere it is left to
        # the focused field — on the Models page it stopped an answer the user could not see.
        self.stop_action.setEnabled(self.pages.widget(row) in (self.chat, self.compare))

    def search_chats(self) -> None:
        """Ctrl+F: the Chat page in front, the keyboard in its search field with what was searched selected."""
        self.show_page(0)
        search = self.chat.conversations.search
        search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        search.selectAll()

    def _regenerate(self) -> None:
        """Ctrl+R: the Regenerate button's own click, with the chat in front; when the button is greyed out the
        status bar says why nothing happened."""
        if self.chat.regenerate_button.isEnabled():
            self.show_page(0)
            self.chat.regenerate_button.click()
        else:
            self.statusBar().showMessage("Nothing to regenerate now: it needs a loaded model, a question in the open "
                                         "chat, and no answer running.", 8000)

    def _grey_what_cannot_run(self) -> None:
        """The Chat menu greys Regenerate and Stop as their buttons are, while it is open (Ctrl+R explains itself
        when nothing can be regenerated; Esc follows the page in front)."""
        self.regenerate_action.setEnabled(self.chat.regenerate_button.isEnabled())
        self.stop_action.setEnabled(self.chat.stop_button.isEnabled() or self.compare.stop_button.isEnabled())

    def _ungrey(self) -> None:
        self.regenerate_action.setEnabled(True)
        self._page_changed(self.pages.currentIndex())

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help → Keyboard shortcuts (F1): the window's actions and the keys of single widgets (one dialog)."""
        if self.shortcuts_dialog is None:
            actions = [a for menu in self.menuBar().findChildren(QMenu) for a in menu.actions()]
            self.shortcuts_dialog = ShortcutsDialog(self, shortcut_rows(actions))
            self.shortcuts_dialog.destroyed.connect(lambda: setattr(self, "shortcuts_dialog", None))
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()
        self.shortcuts_dialog.activateWindow()
        return self.shortcuts_dialog

    def _set_tab_order(self) -> None:
        """Tab follows the window as it reads: rail, model, chats, the chat's settings, messages, message box and
        its buttons, then the canvas (it went message box → Send → rail, and the system prompt came after the
        canvas)."""
        chat, panel = self.chat, self.chat.conversations
        chain = [self.nav, self.model_picker, panel.new_button, panel.search, panel.list, panel.rename_button,
                 panel.delete_button, chat.system_prompt, chat.thinking, chat.banner_close, chat.messages,
                 chat.cancel_edit, chat.composer, chat.send_button, chat.stop_button, chat.regenerate_button,
                 chat.canvas.view]
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)

    def fit_to(self, available: QRect) -> None:
        """Shrink the window to fit `available` (a screen's free area) and put it inside; at 150 % scaling on a
        1080p screen the 1360×860 window was larger than the screen and its bottom (message box, status bar) and
        right side were off screen."""
        width = min(self.width(), max(self.minimumSizeHint().width(), int(available.width() * 0.96)))
        height = min(self.height(), max(self.minimumSizeHint().height(), int(available.height() * 0.94)))
        self.resize(width, height)
        frame = self.frameGeometry()
        x = min(max(frame.x(), available.x()), available.right() - frame.width() + 1)
        y = min(max(frame.y(), available.y()), available.bottom() - frame.height() + 1)
        self.move(max(x, available.x()), max(y, available.y()))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # The offscreen platform (tests) has a made-up 800x800 screen; tests size the window themselves.
        if not self._fitted and QGuiApplication.platformName() != "offscreen" and self.screen() is not None:
            self.fit_to(self.screen().availableGeometry())
        self._fitted = True
        super().showEvent(event)

    def show_notice(self, text: str) -> None:
        """A problem the user can act on (the chat database in use by another program, …): the chat page's banner,
        and the status bar for whichever page is in front."""
        self.chat.show_banner(text)
        self.statusBar().showMessage(text, 20_000)

    def show_loading(self, text: str | None) -> None:
        """A busy bar beside the model picker while a model loads (None hides it)."""
        self.load_progress_action.setVisible(text is not None)
        self.load_progress.setVisible(text is not None)
        if text:
            self.statusBar().showMessage(text)
        else:
            self.statusBar().clearMessage()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        for hook in self.close_hooks:
            hook()
        super().closeEvent(event)
