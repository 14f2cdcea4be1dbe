"""A long everyday chat session walked through the real window (the demo-style user of LM Studio / Jan): pasted
code, text that looks like HTML, switching and deleting chats mid-answer, export, rename. Each test here failed
before the fix it names."""

from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser

from tests.app.helpers import ask

PASTED_CODE = "Check this code:\n```python\ndef f(x):\n    if x:\n        return '<b>' + x\n```\n\tTabbed  twice"


def view(desk) -> QTextBrowser:
    return desk.window.findChild(QTextBrowser, "messageView")


def test_pasted_code_in_a_question_keeps_its_indentation_and_shows_as_text(qtbot, desk):
    # Before: the question's bubble collapsed runs of spaces ("return '<b>' + x" at the left edge) and tabs.
    ask(qtbot, desk, PASTED_CODE)
    shown = view(desk).toPlainText().replace("\u2028", "\n").replace("\u2029", "\n")
    assert "def f(x):\n    if x:\n        return '<b>' + x\n" in shown
    assert "\tTabbed  twice" in shown
