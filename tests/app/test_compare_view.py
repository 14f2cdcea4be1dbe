"""Compare (issue 15) in the real window with the demo model: four seeds denoised as one batch fill four columns
(live thumbnails, replay, answers, every variant stored with its settings and seed), a word diff between two
columns, "Continue with this one" puts the answer into the chat and the store, and a reopened window lists the
experiment, re-runs it and exports it as Markdown and JSON through the real save dialog."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit, QListWidget, QPushButton, QTextBrowser

from app.compare.compare_page import ComparePage
from app.compare.word_diff import diff_html, shown_runs, word_diff
from app.store.experiments import ExperimentStore
from tests.app.demo_desk import demo_em, needs_demo, open_demo_desktop  # noqa: F401 - demo_em is a fixture
from tests.app.helpers import ask

RUN_TIMEOUT_MS = 180_000


def _page(desk) -> ComparePage:
    return desk.window.findChild(ComparePage, "comparePage")


def _save_with_dialog(qtbot, controller, kind: str, path) -> None:
    """Export through the real save dialog: it opens, a file name is chosen, Save is pressed."""
    with qtbot.waitSignal(controller.export_finished, timeout=20_000) as finished:
        dialog = controller.ask_export(kind)
        assert isinstance(dialog, QFileDialog) and dialog.objectName() == "exportExperimentDialog"
        qtbot.waitUntil(dialog.isVisible, timeout=10_000)
        dialog.selectFile(str(path))
        dialog.accept()
    assert finished.args == [str(path), ""]


@needs_demo
def test_compare_four_seeds_diff_continue_reopen_and_export(qtbot, demo_em, tmp_path):  # noqa: F811
    store_path = tmp_path / "chats.sqlite3"
    desk = open_demo_desktop(qtbot, demo_em, store_path)
    try:
        ask(qtbot, desk, "Reverse: garden")
        conv_id = desk.controller.conversation_id
        desk.window.compare_action.trigger()  # "Compare…" from the chat: its last question, prefilled
        page = _page(desk)
        assert desk.window.pages.currentWidget() is page
        assert page.prompt.toPlainText() == "Reverse: garden"
        page.findChild(QPushButton, "compareSeedsButton").click()
        page.findChild(QLineEdit, "variantPromptD").setText("Who are you?")  # D asks something else
        seen: set[int] = set()
        desk.worker.variant_frame.connect(lambda _rid, index, _frame: seen.add(index))

        desk.window.resize(1360, 860)  # the window's own default size: four columns just fit
        qtbot.wait(50)
        widths = [column.width() for column in page.columns]
        with qtbot.waitSignal(desk.compare.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
            qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
            assert not page.run_button.isEnabled() and page.stop_button.isEnabled()
            assert not desk.window.chat.send_button.isEnabled()  # one engine thread: the chat waits
        experiments = ExperimentStore(desk.store)
        experiment_id = finished.args[0]
        variants = experiments.variants(experiment_id)
        assert [v.seed for v in variants] == [1, 2, 3, 4] and seen == {0, 1, 2, 3}
        assert all(v.status == "done" and v.text.strip() for v in variants), [(v.status, v.text) for v in variants]
        for v in variants:
            assert v.spec.settings["seed"] == v.seed and v.spec.settings["max_denoising_steps"] == 24
            assert v.stats["decoder_forwards"] > 0
            column = page.columns[v.column]
            assert column.answer.toPlainText() == v.text
            assert column.canvas.frame is not None and column.replay.maximum() >= 2  # step 0 … last step
            assert column.frames[0].step == 0 and experiments.frames(v.id)
            assert column.continue_button.isEnabled()
        assert experiments.experiment(experiment_id).conversation_id == conv_id
        for column in page.columns:  # the longest status a run writes (fonts differ between platforms)
            column.status.setText("done · 4096 tokens · 24 steps per canvas · 12345.6 tok/s · first draft after 1.2 s")
        qtbot.wait(50)  # a relayout after the status texts
        assert [column.width() for column in page.columns] == widths  # results never widen the columns

        page.diff_left.setCurrentIndex(0)
        page.diff_right.setCurrentIndex(3)
        diff = page.findChild(QTextBrowser, "compareDiff")
        assert variants[0].text != variants[3].text
        assert "line-through" in diff.toHtml() and "removed" in page.diff_summary.text()
        shown = shown_runs(word_diff(variants[0].text, variants[3].text))
        assert diff.toPlainText() == "".join(text for _op, text in shown)

        replay = page.columns[1]
        replay.play()
        qtbot.waitUntil(lambda: not replay.playing, timeout=30_000)
        assert replay.replay.value() == replay.replay.maximum()

        with qtbot.waitSignal(desk.compare.continued, timeout=10_000) as continued:
            qtbot.mouseClick(page.columns[0].continue_button, Qt.MouseButton.LeftButton)
        message = desk.store.message(continued.args[0])
        assert desk.window.pages.currentWidget() is desk.window.chat
        assert desk.controller.conversation_id == conv_id == message.conversation_id
        assert [(m.role, m.text) for m in desk.store.messages(conv_id)] == [
            ("user", "Reverse: garden"), ("assistant", variants[0].text)]  # the chat's answer is the chosen one
        assert (message.seed, message.settings["seed"], message.status) == (1, 1, "done")
        assert desk.store.canvas_frames(message.id) and desk.window.chat.canvas.frames
        assert variants[0].text in desk.window.chat.messages.plain_text()
    finally:
        desk.window.close()

    desk = open_demo_desktop(qtbot, demo_em, store_path)  # a restart on the same data
    try:
        page = _page(desk)
        desk.window.nav.setCurrentRow(desk.window.pages.indexOf(page))
        listing = page.findChild(QListWidget, "experimentList")
        assert listing.count() == 1 and listing.item(0).text() == "Reverse: garden"
        listing.setCurrentRow(0)
        assert page.prompt.toPlainText() == "Reverse: garden"
        assert [c.answer.toPlainText() for c in page.columns] == [v.text for v in variants]
        assert page.columns[3].prompt.text() == "Who are you?" and page.columns[2].seed.value() == 3
        assert all(c.replay.maximum() >= 2 for c in page.columns)  # the replay comes back from the store

        with qtbot.waitSignal(desk.compare.run_finished, timeout=RUN_TIMEOUT_MS):
            page.run_button.click()  # re-run in place: same variants, same seeds → the same answers
        experiments = ExperimentStore(desk.store)
        assert [e.id for e in experiments.experiments()] == [experiment_id]
        assert [v.text for v in experiments.variants(experiment_id)] == [v.text for v in variants]

        md_path, json_path = tmp_path / "experiment.md", tmp_path / "experiment.json"
        _save_with_dialog(qtbot, desk.compare, "md", md_path)
        _save_with_dialog(qtbot, desk.compare, "json", json_path)
        markdown = md_path.read_text(encoding="utf-8")
        assert markdown.startswith("# Compare: Reverse: garden")
        for letter, v in zip("ABCD", variants):
            assert f"## Variant {letter}" in markdown and f"- seed: {v.seed}" in markdown and v.text in markdown
        assert '- prompt: "Who are you?"' in markdown
        doc = json.loads(json_path.read_text(encoding="utf-8"))
        assert doc["format"] == "diffusion-desk-experiment" and doc["prompt"] == "Reverse: garden"
        assert [(d["seed"], d["text"], d["settings"]["seed"]) for d in doc["variants"]] == [
            (v.seed, v.text, v.seed) for v in variants]
        assert doc["variants"][3]["prompt"] == "Who are you?"
    finally:
        desk.window.close()


def test_diff_marks_words_and_escapes_model_text():
    left, right = "The <b>cat</b> sat & slept.", "The <b>dog</b> sat & slept."
    runs = word_diff(left, right)
    assert ("delete", "cat") in runs and ("insert", "dog") in runs
    html = diff_html(left, right)
    assert "&lt;b&gt;" in html and "<b>" not in html and "&amp;" in html
    assert "line-through" in html


@needs_demo
def test_compare_typed_prompt_presets_and_stop(qtbot, demo_em, tmp_path):  # noqa: F811
    desk = open_demo_desktop(qtbot, demo_em, tmp_path / "chats.sqlite3")
    try:
        page = _page(desk)
        desk.window.nav.setCurrentRow(desk.window.pages.indexOf(page))  # straight to Compare, no chat
        page.prompt.setPlainText("Reverse: lamp")
        page.column_count.setValue(2)
        assert not page.columns[2].isVisible()
        page.columns[1].preset.setCurrentIndex(page.columns[1].preset.findData("more-steps"))
        page.columns[1].system_prompt.setText("Be terse.")
        desk.window.activateWindow()  # shortcuts reach the active window only
        qtbot.waitUntil(desk.window.isActiveWindow, timeout=10_000)
        page.prompt.setFocus()
        with qtbot.waitSignal(desk.compare.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
            qtbot.keyClick(page.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Enter
        experiments = ExperimentStore(desk.store)
        first, second = experiments.variants(finished.args[0])
        assert second.spec.settings["max_denoising_steps"] == 2 * first.spec.settings["max_denoising_steps"]
        assert (second.spec.preset, second.spec.system_prompt) == ("more-steps", "Be terse.")
        assert experiments.experiment(finished.args[0]).conversation_id is None

        with qtbot.waitSignal(desk.compare.run_finished, timeout=RUN_TIMEOUT_MS) as stopped:
            page.columns[0].seed.setValue(7)  # changed variants: a new experiment
            page.run_button.click()
            page.stop_button.click()  # before the first step is over: every variant stops
        assert stopped.args[0] != finished.args[0]
        assert all(v.status == "cancelled" for v in experiments.variants(stopped.args[0]))
        assert "Stopped" in page.status.text() and page.run_button.isEnabled()
        assert desk.window.chat.send_button.isEnabled()

        with qtbot.waitSignal(desk.compare.continued, timeout=10_000) as continued:
            page.experiments.setCurrentRow(1)  # the finished experiment (newest first)
            page.columns[1].continue_button.click()  # no chat of its own: a new one holds it
        message = desk.store.message(continued.args[0])
        conv = desk.store.conversation(message.conversation_id)
        assert (conv.system_prompt, message.text) == ("Be terse.", second.text)
        assert [m.role for m in desk.store.messages(conv.id)] == ["user", "assistant"]
    finally:
        desk.window.close()


def test_every_compare_control_is_named_for_screen_readers(qtbot, chat_em, tmp_path):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractSlider,
        QComboBox,
        QPlainTextEdit,
        QTextEdit,
        QWidget,
    )

    from tests.app.helpers import open_desktop

    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        page = _page(desk)
        desk.window.nav.setCurrentRow(desk.window.pages.indexOf(page))
        kinds = (QAbstractButton, QLineEdit, QPlainTextEdit, QTextEdit, QComboBox, QAbstractSlider, QListWidget)
        unnamed = [f"{type(w).__name__} {w.objectName()!r}" for w in page.findChildren(QWidget)
                   if isinstance(w, kinds) and w.isVisibleTo(desk.window) and not w.objectName().startswith("qt_")
                   and not isinstance(w.parent(), (QComboBox, QAbstractSlider))
                   and (not w.objectName() or w.objectName() != w.accessibleName())]
        assert not unnamed
    finally:
        desk.window.close()


def test_a_thinking_chat_compares_with_thinking_on_and_a_column_can_turn_it_off(qtbot, chat_em, tmp_path):
    from tests.app.helpers import open_desktop

    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")
    try:
        desk.window.chat.thinking.setChecked(True)  # the chat asks with Thinking ticked
        ask(qtbot, desk, "a question asked with thinking on")
        conv_id = desk.controller.conversation_id
        desk.window.compare_action.trigger()
        page = _page(desk)
        page.column_count.setValue(2)
        assert [c.preset_key() for c in page.active_columns] == ["thinking", "thinking"]  # as the chat asks it
        page.columns[1].preset.setCurrentIndex(page.columns[1].preset.findData("defaults"))
        for column in page.active_columns:
            column.seed.setValue(3)
        with qtbot.waitSignal(desk.compare.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
            page.run_button.click()
        experiments = ExperimentStore(desk.store)
        thinker, plain = experiments.variants(finished.args[0])
        chat = [{"role": "user", "content": "a question asked with thinking on"}]
        # The thinking variant's prompt is the template with enable_thinking; the other one's is not.
        assert thinker.stats["prompt_tokens"] == chat_em.chat_ids(chat, enable_thinking=True).shape[1]
        assert plain.stats["prompt_tokens"] == chat_em.chat_ids(chat).shape[1] != thinker.stats["prompt_tokens"]

        with qtbot.waitSignal(desk.compare.continued, timeout=10_000):
            page.columns[1].continue_button.click()  # the variant without thinking goes on in the chat …
        assert desk.controller.conversation_id == conv_id and not desk.store.conversation(conv_id).thinking
        assert not desk.window.chat.thinking.isChecked()  # … and the chat's box says so
    finally:
        desk.window.close()
