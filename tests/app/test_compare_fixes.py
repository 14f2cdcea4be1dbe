"""Compare defects from a user walkthrough, each driven through the real window, page and controller: a Compare
opened from a chat asks that chat's question in every column, Continue titles a new chat by the column's own
question, the missing-prompt hint goes once a prompt is typed, the word diff reads as words, a column without
frames shows its replay at the start, and a long status line never shifts one column's replay row."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QPushButton

from app.compare.compare_page import ComparePage
from app.compare.word_diff import word_diff
from app.store.experiments import ExperimentStore, effective_prompt
from tests.app.helpers import ask, open_desktop

RUN_TIMEOUT_MS = 120_000
LONG_STATUS = "done · 4096 tokens · 24 steps per canvas · 12345.6 tok/s · first draft after 1.2 s"


def _page(desk) -> ComparePage:
    return desk.window.findChild(ComparePage, "comparePage")


def _show_page(desk) -> ComparePage:
    page = _page(desk)
    desk.window.nav.setCurrentRow(desk.window.pages.indexOf(page))
    return page


def _run(qtbot, desk) -> int:
    """Run all through the button; the stored experiment's id once every variant is done."""
    with qtbot.waitSignal(desk.compare.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(_page(desk).run_button, Qt.MouseButton.LeftButton)
    return finished.args[0]


def test_compare_from_a_chat_asks_its_question_in_every_column_with_its_presets(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        ask(qtbot, desk, "How do I download DiffusionGemma?")
        desk.window.compare_action.trigger()
        page = _page(desk)
        page.columns[3].prompt.setText("Reverse: download DiffusionGemma")  # an earlier experiment's own settings
        page.columns[1].preset.setCurrentIndex(page.columns[1].preset.findData("hotter"))
        page.columns[2].seed.setValue(2)
        _run(qtbot, desk)

        desk.controller.new_conversation()
        desk.window.chat.thinking.setChecked(True)
        ask(qtbot, desk, "Hello there")
        desk.window.compare_action.trigger()
        assert desk.window.pages.currentWidget() is page and page.prompt.toPlainText() == "Hello there"
        assert [c.prompt.text() for c in page.columns] == ["", "", "", ""]
        assert [c.preset_key() for c in page.columns] == ["thinking"] * 4  # the thinking chat's way, everywhere
        assert [c.seed.value() for c in page.columns] == [1, 2, 3, 4]  # the columns differ by seed again
        experiment = ExperimentStore(desk.store).experiment(_run(qtbot, desk))
        variants = ExperimentStore(desk.store).variants(experiment.id)
        assert [effective_prompt(experiment, v.spec) for v in variants] == ["Hello there"] * 4

        desk.controller.new_conversation()
        ask(qtbot, desk, "And without thinking?")
        desk.window.compare_action.trigger()
        assert [c.preset_key() for c in page.columns] == ["defaults"] * 4
    finally:
        desk.window.close()


def test_compare_from_a_chat_not_saved_yet_takes_the_chat_pages_settings(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        assert desk.controller.conversation_id is None
        desk.window.chat.system_prompt.setText("You are terse.")
        desk.window.chat.thinking.setChecked(True)
        desk.window.compare_action.trigger()
        page = _page(desk)
        assert [(c.preset_key(), c.system_prompt.text()) for c in page.columns] == [("thinking", "You are terse.")] * 4
    finally:
        desk.window.close()


def test_new_experiment_keeps_column_settings_but_not_their_prompts(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        page = _show_page(desk)
        page.columns[1].preset.setCurrentIndex(page.columns[1].preset.findData("hotter"))
        page.columns[2].system_prompt.setText("Be terse.")
        page.columns[3].prompt.setText("Reverse: lamp")
        page.findChild(QPushButton, "newExperimentButton").click()
        assert page.columns[1].preset_key() == "hotter" and page.columns[2].system_prompt.text() == "Be terse."
        assert page.columns[3].prompt.text() == ""  # a column question belongs to the prompt it varied
    finally:
        desk.window.close()


def test_continue_titles_a_new_chat_with_the_columns_own_question(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        ask(qtbot, desk, "How do I download DiffusionGemma?")
        desk.window.compare_action.trigger()
        page = _page(desk)
        page.columns[3].prompt.setText("Reverse: download DiffusionGemma")
        _run(qtbot, desk)
        with qtbot.waitSignal(desk.compare.continued, timeout=10_000) as continued:
            qtbot.mouseClick(page.columns[3].continue_button, Qt.MouseButton.LeftButton)
        message = desk.store.message(continued.args[0])
        conv = desk.store.conversation(message.conversation_id)
        questions = [m.text for m in desk.store.messages(conv.id) if m.role == "user"]
        assert questions == ["Reverse: download DiffusionGemma"]
        assert conv.title == "Reverse: download DiffusionGemma"
        assert desk.window.chat.conversations.findChild(type(page.experiments), "conversationList").item(0).text() \
            == "Reverse: download DiffusionGemma"
    finally:
        desk.window.close()


def test_type_a_prompt_first_goes_once_a_prompt_is_typed(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        page = _show_page(desk)
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
        assert page.status.text() == "Type a prompt first."
        qtbot.keyClicks(page.prompt, " ")
        assert page.status.text() == "Type a prompt first."  # white space is no prompt
        qtbot.keyClicks(page.prompt, "Hi")
        assert "Type a prompt" not in page.status.text()
    finally:
        desk.window.close()


def test_the_word_diff_keeps_removed_and_added_words_apart(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        page = _show_page(desk)
        left, right = "Open DiffusionGemma from the Models page", "egap sledoM eht morf ammeGnoisuffiD nepO"
        page.columns[0].finish(left, "done", can_continue=False)
        page.columns[1].finish(right, "done", can_continue=False)
        page.diff_left.setCurrentIndex(1)
        page.diff_left.setCurrentIndex(0)  # the controller redraws the diff of A → B
        shown = page.diff.toPlainText().split()
        assert set(shown) <= set(left.split()) | set(right.split()), shown
        assert sorted(shown) == sorted(left.split() + right.split())
        assert page.diff_summary.text() == "A → B: 6 words removed, 6 added"

        page.columns[1].finish("Open the Models page", "done", can_continue=False)
        page.diff_left.setCurrentIndex(1)
        page.diff_left.setCurrentIndex(0)
        assert page.diff.toPlainText() == "Open DiffusionGemma from the Models page"  # kept, removed, kept
    finally:
        desk.window.close()


def test_word_diff_runs_still_rebuild_both_texts():
    pairs = [("a b c", "x y z"), ("The cat sat on the mat.", "The dog sat on a mat."), ("Hello  world\nbye", "Hello")]
    for left, right in pairs:
        runs = word_diff(left, right)
        assert "".join(t for op, t in runs if op != "insert") == left
        assert "".join(t for op, t in runs if op != "delete") == right
    assert word_diff("a b c", "x y z") == [("delete", "a b c"), ("insert", "x y z")]  # not "ax by cz"


def test_a_column_without_frames_shows_its_replay_at_the_start(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        page = _show_page(desk)
        page.prompt.setPlainText("Hello")
        _run(qtbot, desk)
        assert all(c.replay.value() == c.replay.maximum() > 0 for c in page.columns)  # each shows its last step
        page.findChild(QPushButton, "newExperimentButton").click()
        for column in page.columns:
            slider = column.replay
            assert not slider.isEnabled() and slider.sliderPosition() == slider.minimum() == slider.maximum()
    finally:
        desk.window.close()


def test_a_long_status_or_a_thought_keeps_every_replay_row_level(qtbot, chat_em, tmp_path):
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        desk.window.resize(1360, 860)
        page = _show_page(desk)
        qtbot.wait(50)
        widths = [column.width() for column in page.columns]
        page.columns[0].finish("an answer", LONG_STATUS, can_continue=False)
        for column in page.columns[1:3]:
            column.finish("an answer", "done", can_continue=False)
        page.columns[3].finish("an answer", "done", can_continue=False, thought="a thought")  # "Show thought" too
        qtbot.wait(50)  # a relayout after the status texts
        rows = [column.replay.mapTo(page, QPoint(0, 0)).y() for column in page.columns]
        assert len(set(rows)) == 1, rows
        assert len({column.status.height() for column in page.columns}) == 1
        assert [column.width() for column in page.columns] == widths
        status = page.columns[0].status
        assert status.text() == LONG_STATUS and status.toolTip() == LONG_STATUS  # all of it, on hover
    finally:
        desk.window.close()


def test_a_column_the_experiment_does_not_use_never_shows_another_experiments_answer(qtbot, chat_em, tmp_path):
    """Four columns run, then a two-variant run and the four-variant experiment reopened, then that two-variant one:
    columns C and D are empty whenever the shown experiment has only two variants (raising Variants afterwards showed
    the earlier experiment's answers in them)."""
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        page = _show_page(desk)
        page.prompt.setPlainText("Four columns")
        page.column_count.setValue(4)
        four = _run(qtbot, desk)
        assert all(column.answer.toPlainText() for column in page.columns)
        page.column_count.setValue(2)
        two = _run(qtbot, desk)
        page.column_count.setValue(4)
        assert [bool(c.answer.toPlainText()) for c in page.columns] == [True, True, False, False]
        assert not page.columns[3].frames and not page.columns[3].status.text()
        desk.compare.open_experiment(four)
        assert all(column.answer.toPlainText() for column in page.columns)
        desk.compare.open_experiment(two)
        page.column_count.setValue(4)
        assert [bool(c.answer.toPlainText()) for c in page.columns] == [True, True, False, False]
    finally:
        desk.window.close()


def test_the_diff_keeps_indentation_and_runs_of_spaces():
    # Before: HTML folded white space, so "def f():\n    return 1" showed "return 1" at the left edge in the diff.
    from PySide6.QtGui import QTextDocument

    from app.compare.word_diff import diff_html

    left, right = "def f():\n    return 1\n\tx  y", "def f():\n    return 2\n\tx  y"
    doc = QTextDocument()
    doc.setHtml(diff_html(left, right))
    shown = doc.toPlainText().replace("\xa0", " ").replace("\u2028", "\n")
    assert shown == "def f():\n    return 1 2\n    x  y"  # removed "1", added "2", a tab shown as four spaces
    assert "<script>" not in diff_html("<script>", "x") and "&lt;script&gt;" in diff_html("<script>", "x")
