"""The real window, driven by objectName: send, live frames and draft, stop, edit-and-resend, regenerate, restart."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel, QListWidget, QPushButton, QSlider, QTextBrowser, QWidget

from app.canvas.canvas_view import CanvasView
from app.chat.chat_page import Composer
from tests.app.helpers import TEST_CANVAS, ask, open_desktop

CONTRACT_NAMES = [
    "composer", "sendButton", "stopButton", "messageView", "conversationList", "canvasView", "canvasScrubber",
    "statsLabel", "modelPicker",
]


def test_contract_widgets_have_matching_accessible_names(desk):
    for name in CONTRACT_NAMES:
        widget = desk.window.findChild(QWidget, name)
        assert widget is not None, name
        assert widget.accessibleName() == name
    assert "RANDOM" in desk.window.findChild(QLabel, "statsLabel").text().upper()


def test_send_streams_frames_live_draft_and_stores_answer(qtbot, desk):
    window = desk.window
    view = window.findChild(CanvasView, "canvasView")
    messages = window.findChild(QTextBrowser, "messageView")
    drafts: list[str] = []
    desk.worker.frame.connect(lambda *_: drafts.append(messages.live_text()))

    answer_id = ask(qtbot, desk, "Hello, canvas!")

    assert drafts and any(d.strip() for d in drafts), "the answer bubble showed a live draft"
    assert view.frames_received > 0
    qtbot.waitUntil(lambda: view.paint_count > 0)
    conv_id = desk.controller.conversation_id
    user, answer = desk.store.messages(conv_id)
    assert (user.role, user.text) == ("user", "Hello, canvas!")
    assert answer.id == answer_id and answer.status == "done" and answer.seed is not None
    assert answer.settings["seed"] == answer.seed and answer.settings["max_denoising_steps"] == 3
    assert answer.stats["tokens_per_second"] > 0 and answer.text
    canvases = desk.store.canvas_frames(answer_id)
    assert len(canvases) == 2 and all(len(c) == 3 for c in canvases)
    assert all(len(f.draft) == TEST_CANVAS for c in canvases for f in c)
    scrubber = window.findChild(QSlider, "canvasScrubber")
    assert scrubber.isEnabled() and scrubber.maximum() == 7  # 2 canvases × (random start + 3 steps)
    stats = window.findChild(QLabel, "statsLabel").text()
    assert "tok/s" in stats and "tokens settled per step" in stats and "first draft after" in stats
    assert "Hello, canvas!" in messages.plain_text()


def test_scrubber_replays_every_step(qtbot, desk):
    ask(qtbot, desk, "Replay me")
    scrubber = desk.window.findChild(QSlider, "canvasScrubber")
    view = desk.window.findChild(CanvasView, "canvasView")
    seen = []
    for value in range(scrubber.maximum() + 1):
        scrubber.setValue(value)
        seen.append((view.frame.canvas_index, view.frame.step))
    assert seen == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]  # each canvas from step 0
    assert "canvas 2 · step 3/3" in view.header_text()


def test_stop_mid_answer_keeps_committed_text(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3", max_new_tokens=6 * TEST_CANVAS, steps=6)
    try:
        stop = desk.window.findChild(QPushButton, "stopButton")
        first_canvas: list[str] = []

        def canvas_done(_rid, done, _frames, _blob):
            if not first_canvas:
                first_canvas.append(done.text)
                stop.click()

        desk.worker.canvas_done.connect(canvas_done)
        answer_id = ask(qtbot, desk, "Tell me a long story")
        answer = desk.store.message(answer_id)
        assert answer.status == "cancelled"
        # The stored answer is the first canvas's text (a thought span in it is folded out, never lost).
        assert first_canvas and answer.text and answer.text.strip() in first_canvas[0]
        assert len(desk.store.canvas_frames(answer_id)) == 1
        assert desk.window.findChild(QPushButton, "sendButton").isEnabled()
        assert not stop.isEnabled()
    finally:
        desk.window.close()


def test_stop_before_the_first_canvas_says_nothing_was_kept_and_offers_no_replay(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3", steps=200)
    try:
        stop = desk.window.findChild(QPushButton, "stopButton")
        frames: list[object] = []

        def frame(_rid, _frame):
            frames.append(_frame)
            if len(frames) == 3:
                stop.click()

        desk.worker.frame.connect(frame)
        answer_id = ask(qtbot, desk, "Tell me a long story")
        assert desk.store.message(answer_id).status == "cancelled" and not desk.store.message(answer_id).text
        view = desk.window.findChild(QTextBrowser, "messageView")
        assert "Stopped before the first canvas was finished" in view.plain_text()
        assert "(empty answer)" not in view.plain_text()
        assert view.action_href("replay", answer_id) is None and view.action_href("regen-new", answer_id)
    finally:
        desk.window.close()


def test_edit_and_resend_replaces_later_turns(qtbot, desk):
    ask(qtbot, desk, "first question")
    ask(qtbot, desk, "second question")
    conv = desk.controller.conversation_id
    first = desk.store.messages(conv)[0]
    view = desk.window.findChild(QTextBrowser, "messageView")
    view.activate(view.action_href("edit", first.id))
    composer = desk.window.findChild(Composer, "composer")
    assert composer.toPlainText() == "first question"
    ask(qtbot, desk, "first question, edited")
    texts = [(m.role, m.text) for m in desk.store.messages(conv)]
    assert len(texts) == 2 and texts[0] == ("user", "first question, edited") and texts[1][0] == "assistant"


def test_regenerate_same_seed_and_new_seed(qtbot, desk):
    first_id = ask(qtbot, desk, "Regenerate this")
    first = desk.store.message(first_id)
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000) as same:
        view = desk.window.findChild(QTextBrowser, "messageView")
        view.activate(view.action_href("regen-same", first_id))
    again = desk.store.message(same.args[0])
    assert again.seed == first.seed and again.text == first.text and again.position == first.position
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000) as new:
        desk.controller.regenerate(same_seed=False)
    fresh = desk.store.message(new.args[0])
    assert fresh.seed != first.seed and fresh.position == first.position
    assert [m.role for m in desk.store.messages(desk.controller.conversation_id)] == ["user", "assistant"]


def test_store_survives_restart_and_replays_from_disk(qtbot, chat_em, tmp_path):
    path = tmp_path / "chats.sqlite3"
    desk = open_desktop(qtbot, chat_em, path)
    answer_id = ask(qtbot, desk, "Remember me")
    desk.window.close()

    desk = open_desktop(qtbot, chat_em, path)
    try:
        conversations = desk.window.findChild(QListWidget, "conversationList")
        assert conversations.count() == 1 and conversations.item(0).text() == "Remember me"
        assert "Remember me" in desk.window.findChild(QTextBrowser, "messageView").plain_text()
        scrubber = desk.window.findChild(QSlider, "canvasScrubber")
        assert scrubber.isEnabled() and scrubber.maximum() == 7  # 2 canvases × (random start + 3 steps)
        assert desk.controller.selected_answer == answer_id
    finally:
        desk.window.close()


def test_engine_error_shows_banner_and_app_keeps_running(qtbot, desk):
    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=100_000)
    ask(qtbot, desk, "too long for the context")
    banner = desk.window.findChild(QLabel, "errorBanner")
    assert banner.isVisible() and "context" in banner.text()
    desk.controller.sampler = desk.controller.sampler.with_(max_new_tokens=TEST_CANVAS)
    answer_id = ask(qtbot, desk, "now a normal one")
    assert desk.store.message(answer_id).status == "done"


def test_conversations_new_rename_search_delete(qtbot, desk, monkeypatch):
    ask(qtbot, desk, "alpha conversation")
    desk.window.findChild(QPushButton, "newChatButton").click()
    ask(qtbot, desk, "beta conversation")
    panel = desk.window.chat.conversations
    conversations = desk.window.findChild(QListWidget, "conversationList")
    assert conversations.count() == 2
    desk.controller._rename(desk.controller.conversation_id, "Renamed beta")
    assert {conversations.item(i).text() for i in range(2)} == {"Renamed beta", "alpha conversation"}
    panel.search.setText("alpha")
    assert conversations.count() == 1 and conversations.item(0).text() == "alpha conversation"
    no_match = desk.window.findChild(QLabel, "noChatMatches")
    assert no_match.isHidden()
    panel.search.setText("zebra <b>")
    assert conversations.count() == 0 and no_match.isVisible() and "“zebra <b>”" in no_match.text()
    panel.search.setText("")
    assert no_match.isHidden()
    conversations.setCurrentRow([conversations.item(i).text() for i in range(2)].index("Renamed beta"))
    panel.confirm_delete = lambda title: False
    desk.window.findChild(QPushButton, "deleteChatButton").click()
    assert conversations.count() == 2
    panel.confirm_delete = lambda title: True
    desk.window.findChild(QPushButton, "deleteChatButton").click()
    assert conversations.count() == 1 and len(desk.store.conversations()) == 1


def test_new_chat_again_opens_the_unused_chat_instead_of_piling_up_empty_ones(qtbot, desk):
    ask(qtbot, desk, "alpha conversation")
    new = desk.window.findChild(QPushButton, "newChatButton")
    new.click()
    first_new = desk.controller.conversation_id
    new.click()
    desk.window.new_action.trigger()  # Ctrl+N
    conversations = desk.window.findChild(QListWidget, "conversationList")
    assert desk.controller.conversation_id == first_new and conversations.count() == 2
    desk.controller.open_conversation(desk.store.conversations()[-1].id)  # back to "alpha conversation"
    new.click()
    assert desk.controller.conversation_id == first_new and len(desk.store.conversations()) == 2
    desk.window.chat.system_prompt.setText("You are terse.")
    desk.window.chat.system_prompt.editingFinished.emit()  # an empty chat with a system prompt is kept for it
    new.click()
    assert desk.controller.conversation_id != first_new and len(desk.store.conversations()) == 3


def test_system_prompt_thinking_and_export(qtbot, desk, tmp_path):
    desk.controller.new_conversation()
    page = desk.window.chat
    page.system_prompt.setText("You are terse.")
    page.system_prompt.editingFinished.emit()
    page.thinking.setChecked(True)
    ask(qtbot, desk, "Export me")
    conv = desk.store.conversation(desk.controller.conversation_id)
    assert conv.system_prompt == "You are terse." and conv.thinking
    out = tmp_path / "chat.md"
    with qtbot.waitSignal(desk.controller.export_finished, timeout=10_000):
        desk.controller.export_to(str(out))
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Export me") and "You are terse." in text and "## You" in text and "seed" in text


def test_model_picker_lists_the_tiny_model(desk):
    picker = desk.window.findChild(QComboBox, "modelPicker")
    labels = [picker.itemText(i) for i in range(picker.count())]
    assert any("Test model" in label for label in labels)


def test_closing_mid_answer_keeps_committed_text(qtbot, chat_em, tmp_path):
    path = tmp_path / "c.sqlite3"
    desk = open_desktop(qtbot, chat_em, path, max_new_tokens=6 * TEST_CANVAS, steps=6)
    committed = []
    desk.worker.canvas_done.connect(lambda _rid, done, _f, _b: committed.append(done.text) or desk.window.close())
    desk.window.findChild(Composer, "composer").setPlainText("Close while answering")
    desk.window.findChild(QPushButton, "sendButton").click()
    qtbot.waitUntil(lambda: desk.controller.closed, timeout=60_000)
    qtbot.wait(100)  # late worker events arrive after the store closed and are ignored

    from app.store.chats import ChatStore

    store = ChatStore(path)
    (conv,) = store.conversations()
    user, answer = store.messages(conv.id)
    assert answer.status == "cancelled" and answer.text and answer.text.strip() in committed[0]
    assert len(store.canvas_frames(answer.id)) == 1
    store.close()


def test_every_interactive_widget_is_named_for_screen_readers(desk):
    from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QLineEdit, QPlainTextEdit, QTextEdit

    kinds = (QAbstractButton, QLineEdit, QPlainTextEdit, QTextEdit, QComboBox, QAbstractSlider, QListWidget)
    roots = [desk.window.chat, desk.window.findChild(QWidget, "mainToolbar"), desk.window.nav]
    unnamed = [
        f"{type(w).__name__} {w.objectName()!r}"
        for root in roots
        for w in root.findChildren(QWidget)
        if isinstance(w, kinds) and w.isVisibleTo(desk.window) and not w.objectName().startswith("qt_")
        and not isinstance(w.parent(), (QComboBox, QAbstractSlider))
        and (not w.objectName() or w.objectName() != w.accessibleName())
    ]
    assert not unnamed


def test_shift_enter_adds_a_line_and_enter_sends(qtbot, desk):
    from PySide6.QtCore import Qt

    composer = desk.window.findChild(Composer, "composer")
    composer.setFocus()
    qtbot.keyClicks(composer, "line one")
    qtbot.keyClick(composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(composer, "line two")
    assert composer.toPlainText() == "line one\nline two" and desk.controller.live is None
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert composer.toPlainText() == ""
    assert desk.store.messages(desk.controller.conversation_id)[0].text == "line one\nline two"


def test_system_prompt_and_thinking_set_before_the_first_message_stay_with_the_new_chat(qtbot, desk):
    page = desk.window.chat
    assert desk.controller.conversation_id is None  # a fresh window: no chat yet
    page.system_prompt.setText("You are terse.")
    page.system_prompt.editingFinished.emit()
    page.thinking.setChecked(True)
    ask(qtbot, desk, "the first question")
    conv = desk.store.conversation(desk.controller.conversation_id)
    assert (conv.system_prompt, conv.thinking) == ("You are terse.", True)
    assert page.system_prompt.text() == "You are terse." and page.thinking.isChecked()


def test_a_narrow_window_keeps_the_chat_column_usable_and_edit_does_not_widen_it(qtbot, desk):
    """At its smallest and at 1100 px the composer keeps a usable width (the chat list and the canvas give way
    first); "Edit & resend" wraps its notice instead of growing the window."""
    from app.chat.chat_page import CHAT_COLUMN_MIN_WIDTH

    window = desk.window
    column = window.findChild(QWidget, "chatColumn")
    composer = window.findChild(Composer, "composer")
    for size in ((600, 400), (1100, 700)):
        window.resize(*size)
        qtbot.wait(50)
        assert column.width() >= CHAT_COLUMN_MIN_WIDTH and composer.width() >= CHAT_COLUMN_MIN_WIDTH - 120, size
    assert window.minimumSizeHint().width() <= 1000  # a 1024-px-wide screen still holds the window
    window.resize(1100, 700)
    qtbot.wait(50)
    ask(qtbot, desk, "first question")
    view = desk.window.findChild(QTextBrowser, "messageView")
    view.activate(view.action_href("edit", desk.store.messages(desk.controller.conversation_id)[0].id))
    qtbot.wait(50)
    assert window.findChild(QLabel, "editBanner").isVisible() and window.width() == 1100


def test_typing_goes_into_the_message_box_at_start_and_after_new_chat(qtbot, desk):
    from PySide6.QtWidgets import QApplication

    composer = desk.window.findChild(Composer, "composer")
    desk.window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is composer, timeout=5_000)
    new = desk.window.findChild(QPushButton, "newChatButton")
    new.setFocus()
    new.click()
    assert QApplication.focusWidget() is composer  # not left on the button, where a typed space clicks it again


def test_the_window_title_names_the_open_chat(qtbot, desk):
    desk.controller.new_conversation()
    assert desk.window.windowTitle() == "New chat — Diffusion Desk"
    ask(qtbot, desk, "lighthouse story")
    assert desk.window.windowTitle() == "lighthouse story — Diffusion Desk"  # the first question names the chat
    desk.controller._rename(desk.controller.conversation_id, "Keepers\x1b[31m\tand lamps")
    assert desk.window.windowTitle() == "Keepers [31m and lamps — Diffusion Desk"  # no control characters
    desk.window.chat.conversations.search.setText("zebra")  # the open chat filtered out of the list: title stays
    assert desk.window.windowTitle().startswith("Keepers")
    desk.window.chat.conversations.search.setText("")
    desk.controller.delete_conversation(desk.controller.conversation_id)
    assert desk.window.windowTitle() == "Diffusion Desk"  # no chat left
