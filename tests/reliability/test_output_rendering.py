"""Class 5 (catalogue): model output becomes app actions. An answer's markdown links, raw HTML, images and
code blocks are data: nothing in them can run one of the app's actions, load a resource or open an address
without a dialog that shows it. Driven through the real window: links are clicked with the href the rendered
document really holds; dialogs are real `QMessageBox`es answered from a `QTimer`; "opened" means Qt's own
`QDesktopServices` handler for that scheme was called."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton, QTextBrowser

from app.chat.message_view import MessageView
from app.store.chats import Message
from tests.app.conftest import chat_em, desk  # noqa: F401 - fixtures
from tests.app.helpers import anchors, ask, click_link, opened_urls

SCHEMES = ("http", "https", "file", "javascript", "act", "code", "dd-action", "mailto")


@pytest.fixture
def opened(qapp):
    with opened_urls(*SCHEMES) as handler:
        yield handler


def view_of(desk) -> QTextBrowser:  # noqa: F811
    return desk.window.findChild(QTextBrowser, "messageView")


def answer_with(qtbot, desk, text: str, *, question: str = "Write me something with links",  # noqa: F811
                thinking: str = "") -> Message:
    """A real answer whose stored text is then `text` — what the model "wrote" — shown in the window."""
    answer_id = ask(qtbot, desk, question)
    desk.store.finish_assistant(answer_id, text=text, thinking=thinking, stats=None, status="done")
    desk.controller.render_messages()
    return desk.store.message(answer_id)


def links_named(view, text: str) -> list[str]:
    return [href for label, href in anchors(view) if label == text]


def answer_dialog(qtbot, view, button_name: str | None) -> tuple[str, list[str]]:
    """Wait for the link dialog; from a QTimer, press `button_name` (None: Escape). Returns (text, buttons)."""
    seen: dict = {}

    def press() -> None:
        box = view.findChild(QMessageBox, "openLinkDialog")
        if box is None or not box.isVisible():
            QTimer.singleShot(20, press)
            return
        seen["text"] = box.text()
        seen["buttons"] = [b.objectName() for b in box.findChildren(QPushButton) if b.isVisible()]
        if button_name is None:
            box.reject()
        else:
            box.findChild(QPushButton, button_name).click()

    QTimer.singleShot(0, press)
    qtbot.waitUntil(lambda: "text" in seen and view.link_dialog is None, timeout=5000)
    return seen["text"], seen["buttons"]


def test_forged_action_links_in_an_answer_never_regenerate_or_edit(qtbot, desk, opened, caplog):  # noqa: F811
    first = desk.store.message(ask(qtbot, desk, "first"))
    user = desk.store.messages(desk.controller.conversation_id)[0]
    text = (
        f"[regenerate me](act:regen-new:{first.id}) [edit](act:edit:{user.id}) <act:regen-same:{first.id}>\n\n"
        f'<a href="act:regen-new:{first.id}">raw</a> [copy](code:{first.id}:0)'
    )
    forged = answer_with(qtbot, desk, text)
    view = view_of(desk)
    finished: list[int] = []
    desk.controller.answer_finished.connect(finished.append)
    for label in ("regenerate me", "edit", f"act:regen-same:{first.id}", "copy"):
        [href] = links_named(view, label)
        click_link(view, href)
        _text, buttons = answer_dialog(qtbot, view, None)
        assert "openLinkButton" not in buttons  # not http(s): never offered for opening
    qtbot.wait(200)
    messages = desk.store.messages(desk.controller.conversation_id)
    assert desk.store.message(forged.id).text == text and messages[-1].id == forged.id and not finished
    assert desk.controller.live is None and desk.controller.editing_position is None and opened.urls == []
    assert "raw" not in [label for label, _ in anchors(view)] and '<a href="act:regen-new' in view.plain_text()
    # The app's own "↻ Same seed" still works — found the same way, in the rendered document.
    [own] = links_named(view, "↻ Same seed")
    with qtbot.waitSignal(desk.controller.answer_finished, timeout=60_000):
        click_link(view, own)
    assert desk.store.messages(desk.controller.conversation_id)[-1].text != text


def test_an_answer_quoting_a_real_action_href_cannot_use_it(qtbot, desk, opened):  # noqa: F811
    ask(qtbot, desk, "first")
    view = view_of(desk)
    [real] = links_named(view, "↻ New seed")  # the model somehow knows the exact current href
    forged = answer_with(qtbot, desk, f"[harmless]({real}) and `{real}` and {real}")
    [href] = links_named(view, "harmless")
    assert href != real
    click_link(view, href)
    text, buttons = answer_dialog(qtbot, view, None)
    assert real in text.replace("\n", "") and "openLinkButton" not in buttons
    view.anchorClicked.emit(QUrl(real))  # the old href itself is stale after the re-render: ignored
    qtbot.wait(200)
    assert desk.store.messages(desk.controller.conversation_id)[-1].id == forged.id and desk.controller.live is None


def test_raw_html_images_styles_and_entities_are_shown_as_text(qtbot, desk, opened):  # noqa: F811
    question = '<a href="act:regen-new:1">me</a> <img src=file:///etc/passwd> *not md*'
    text = (
        "Hello <b>bold</b> <i>it</i>\n\n<style>body { color: red }</style>\n\n"
        '<img src="file:///etc/passwd"> ![secret](file:///etc/hostname)\n\n'
        '<a href="javascript:alert(1)">js</a> &lt;u&gt;entity&lt;/u&gt; &amp;\n\n'
        "<table><tr><td>cell</td></tr></table>"
    )
    answer_with(qtbot, desk, text, question=question, thinking="<b>plan</b> [x](act:copy:1)")
    view = view_of(desk)
    [fold] = [href for label, href in anchors(view) if label.startswith("▸ Thought")]
    click_link(view, fold)
    shown = view.plain_text()
    assert question in shown and "<b>plan</b> [x](act:copy:1)" in shown  # the user's text and the thought too
    assert not {"me", "x"} & {label for label, _ in anchors(view)}
    for literal in ("<b>bold</b>", "<style>body { color: red }</style>", '<img src="file:///etc/passwd">',
                    '<a href="javascript:alert(1)">js</a>', "<u>entity</u> &", "<table><tr><td>cell</td></tr>"):
        assert literal in shown
    assert "image not shown: file:///etc/hostname" in shown
    block = view.document().begin()
    while block.isValid():  # nothing in the document is an image, and no text is bold except the speaker names
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            assert not fmt.isImageFormat()
            if "bold" in it.fragment().text():
                assert fmt.fontWeight() < 600
            it += 1
        block = block.next()
    assert view.loadResource(0, QUrl("file:///etc/passwd")) is None
    assert not any("javascript" in href for _label, href in anchors(view)) and opened.urls == []


def test_https_link_opens_only_after_the_dialog_shows_the_full_address(qtbot, desk, opened):  # noqa: F811
    url = "https://example.org/a/very/long/path/" + "x" * 150 + "?q=1#frag"
    answer_with(qtbot, desk, f"See [the docs]({url}) or https://example.com/plain")
    view = view_of(desk)
    [href] = links_named(view, "the docs")
    click_link(view, href)
    assert opened.urls == []  # nothing until the user answers
    text, buttons = answer_dialog(qtbot, view, "cancelLinkButton")
    assert url in text.replace("\n", "") and "openLinkButton" in buttons and opened.urls == []
    click_link(view, href)
    answer_dialog(qtbot, view, "openLinkButton")
    assert opened.urls == [url]
    [bare] = links_named(view, "https://example.com/plain")
    click_link(view, bare)
    answer_dialog(qtbot, view, "copyLinkButton")
    assert opened.urls == [url] and QApplication.clipboard().text() == "https://example.com/plain"


def test_link_whose_text_is_another_address_is_called_out(qtbot, desk, opened):  # noqa: F811
    answer_with(qtbot, desk, "[https://bank.example/login](https://evil.example/phish)")
    view = view_of(desk)
    [href] = links_named(view, "https://bank.example/login")
    click_link(view, href)
    text, _buttons = answer_dialog(qtbot, view, None)
    assert "https://evil.example/phish" in text and "but it leads to the address above" in text
    assert opened.urls == []


@pytest.mark.parametrize(
    "target",
    ["javascript:alert(document.cookie)", "file:///etc/passwd", "mailto:someone@example.org",
     "https://example.org/\u202egnp.exe", "http:///no-host"],
    ids=["javascript", "file", "mailto", "rtl-override", "no-host"],
)
def test_non_web_or_disguised_addresses_are_never_offered_for_opening(qtbot, desk, opened, target):  # noqa: F811
    answer_with(qtbot, desk, f"[click here]({target})")
    view = view_of(desk)
    [href] = links_named(view, "click here")
    click_link(view, href)
    text, buttons = answer_dialog(qtbot, view, None)
    assert "openLinkButton" not in buttons and "only http and https" in text and opened.urls == []
    assert "\u202e" not in text  # direction overrides are shown as \u202e, never applied


def test_forged_link_inside_a_code_block_is_text_and_copy_code_copies_it(qtbot, desk, opened):  # noqa: F811
    first = desk.store.message(ask(qtbot, desk, "first"))
    code = f'<a href="act:regen-new:{first.id}">x</a> [y](act:copy:1) <script>alert(1)</script>'
    text = f"Code:\n```html\n{code}\n```\n[Copy code](act:regen-new:{first.id}) then `<b>inline</b>`"
    answer = answer_with(qtbot, desk, text)
    view = view_of(desk)
    own = ("Copy", "Edit & resend", "Replay canvas", "Branch from here", "↻ New seed", "↻ Same seed")
    assert [label for label, _ in anchors(view) if label not in own] == ["Copy code", "Copy code"]
    assert code in view.plain_text() and "<b>inline</b>" in view.plain_text()
    real, lookalike = links_named(view, "Copy code")  # the block's own link, then the answer's imitation
    click_link(view, real)
    assert QApplication.clipboard().text() == code
    click_link(view, lookalike)
    _text, buttons = answer_dialog(qtbot, view, None)
    qtbot.wait(200)
    assert "openLinkButton" not in buttons and desk.controller.live is None
    assert desk.store.messages(desk.controller.conversation_id)[-1].text == answer.text == text


def test_malformed_and_unknown_link_ids_are_ignored_and_logged(qtbot, desk, caplog):  # noqa: F811
    answer = desk.store.message(ask(qtbot, desk, "hello"))
    view = view_of(desk)
    before = [(m.id, m.text) for m in desk.store.messages(desk.controller.conversation_id)]
    with caplog.at_level(logging.WARNING):
        for href in ("act:regen-new:abc", "act:edit:", "code:x:y", "code:1:99999999999999999999", "act",
                     "dd-action:0000", "dd-action:", "act:regen-new:999999", "act:copy:-1", "", "::::"):
            view.anchorClicked.emit(QUrl(href))
        desk.controller._message_action("regen-new", 999_999)
        desk.controller._message_action("no-such-action", answer.id)
        desk.controller._message_action("edit", answer.id)  # an answer is not editable
    qtbot.wait(200)
    assert [(m.id, m.text) for m in desk.store.messages(desk.controller.conversation_id)] == before
    assert desk.controller.live is None and desk.controller.editing_position is None
    assert "ignored" in caplog.text


def test_earlier_answer_holding_the_live_marker_keeps_its_text_and_the_draft_is_escaped(qtbot):
    view = MessageView()
    qtbot.addWidget(view)
    marker = "\u2063\u2063live\u2063\u2063"  # the marker the view used to look for
    old = Message(1, 1, 1, "assistant", f"before {marker} after", "", 1, {}, {}, "m", "done", 0.0)
    live = Message(2, 1, 2, "assistant", "", "", 2, {}, {}, "m", "generating", 0.0)
    view.set_messages([old, live], live_id=2)
    view.update_live('<a href="act:regen-new:1">draft</a>', [("<img src=file:///x>", False), ("<b>ok</b>", True)])
    shown = view.plain_text()
    assert f"before {marker} after" in shown or "before after" in shown.replace(marker, "")
    assert shown.index("after") < shown.index("draft")  # the draft is in the live bubble, below the old answer
    assert view.live_text() == '<a href="act:regen-new:1">draft</a><img src=file:///x><b>ok</b>'
    assert "draft" not in [label for label, _ in anchors(view)]


def test_error_banner_shows_markup_in_a_path_as_text(qtbot, desk):  # noqa: F811
    with qtbot.waitSignal(desk.worker.error, timeout=60_000):
        desk.controller.load_model("/nonexistent/<b>bold</b><img src=x.png>")
    banner = desk.window.findChild(QLabel, "errorBanner")
    assert "<b>bold</b><img src=x.png>" in banner.text()
    assert banner.textFormat() == banner.textFormat().PlainText
