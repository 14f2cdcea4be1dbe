"""Canvas view, markdown rendering, draft runs and the worker's frame delivery, without the whole window."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QGuiApplication

from app.canvas.canvas_view import CanvasView, grid_shape
from app.chat.draft import THINKING_MARK, TokenText
from app.chat.markdown_render import highlight_code, render_markdown, split_fences
from app.chat.message_view import MessageView
from app.store.chats import Message
from app.worker import EngineWorker
from engine import SamplerSettings
from engine.events import Frame
from tests.app.helpers import anchors


def _frame(step: int, length: int = 256, accepted_upto: int = 10) -> Frame:
    return Frame(
        0, step, 8, list(range(length)), [i % 5 for i in range(length)],
        [i < accepted_upto for i in range(length)], [0.01 * i for i in range(length)], 0.1 * step,
    )


def test_grid_shapes():
    assert grid_shape(256) == (16, 16)
    assert grid_shape(64) == (8, 8)
    cols, rows = grid_shape(100)
    assert cols * rows >= 100 and grid_shape(1) == (1, 1)


def test_canvas_view_coalesces_repaints_and_keeps_newest_frame(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.set_pieces(["a", "b", " ", "\n", "<eos>"])
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    start = view.paint_count
    for step in range(1, 101):
        view.show_frame(_frame(step, accepted_upto=step))
    qtbot.waitUntil(lambda: view.paint_count > start)
    qtbot.wait(50)
    assert view.paint_count - start < 10, "100 frames in a burst are coalesced into a few repaints"
    assert view.frame.step == 100 and view.frames_received == 100
    assert "step 100 (up to 8)" in view.header_text() and "100 of 256 settled" in view.header_text()


def test_canvas_view_tooltip_says_the_cell_in_plain_words_and_numbers_second(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.set_pieces(["a", "b", " ", "\n", "<eos>"])
    view.resize(640, 480)
    view.show_frame(_frame(1, length=64))
    first, expert = view.cell_tooltip(7).split("\n")
    assert first == "Position 8: “ ” — settled — kept by the model"
    assert "entropy" not in first and "id" not in first.split("—")[0]
    assert "token id 2" in expert and "entropy 0.070" in expert
    index = view.cell_at(QPoint(12, 40))
    assert index == 0


def test_markdown_renders_code_blocks_with_copy_links(qtbot):
    text = "Intro **bold**\n\n```python\ndef f(x):\n    return 'hi'  # note\n```\nafter"
    parts = split_fences(text)
    assert [p[0] for p in parts] == ["text", "code", "text"] and parts[1][1] == "python"
    rendered = render_markdown(text)
    assert rendered.codes == ["def f(x):\n    return 'hi'  # note"]
    [(href, target)] = rendered.targets.items()
    assert target.index == 0 and f'href="{href}"' in rendered.html
    assert "font-weight" in rendered.html or "<b>" in rendered.html
    colored = highlight_code("def f(x): return 'a' # c")
    assert colored.count("<span") >= 4


def test_message_view_copy_actions_and_folded_thought(qtbot):
    view = MessageView()
    qtbot.addWidget(view)
    message = Message(3, 1, 1, "assistant", "See:\n```\nprint(1)\n```", "secret plan", 7, {}, {}, "m", "done", 0.0)
    view.set_messages([message])
    assert "secret plan" not in view.plain_text() and "Thought" in view.plain_text()
    [code_href] = [href for text, href in anchors(view) if text == "Copy code"]
    view.activate(code_href)
    assert QGuiApplication.clipboard().text() == "print(1)"
    view.activate(view.action_href("copy", 3))
    assert QGuiApplication.clipboard().text() == message.text
    view.activate(view.action_href("thought", 3))
    assert "secret plan" in view.plain_text()


def test_draft_spans_dim_noisy_runs_and_stop_at_end_of_turn():
    pieces = ["<pad>", "<eos>", "<|channel>", "<channel|>", "", "H", "i", "!", "x"]
    text = TokenText(pieces, frozenset({1}), frozenset({0, 1, 2, 3}), 2, 3)
    spans, in_thought = text.spans([0, 5, 6, 7, 1, 6, 6], [True, True, True, False, True, True, True])
    assert spans == [("Hi", True), ("!", False)] and not in_thought


def test_thought_is_folded_in_drafts_and_committed_text():
    pieces = ["<pad>", "<eos>", "<|channel>", "<channel|>", "", "H", "i", "!", "x"]
    text = TokenText(pieces, frozenset({1}), frozenset({0, 1, 2, 3}), 2, 3)
    spans, in_thought = text.spans([2, 8, 8, 8], [True] * 4)
    assert spans == [(THINKING_MARK, False)] and in_thought
    visible, in_thought = text.visible_text([8, 8, 3, 5, 6], in_thought=True)
    assert visible == "Hi" and not in_thought
    assert "x" not in "".join(t for t, _ in text.spans([8, 3, 7], [True] * 3, in_thought=True)[0])


def test_worker_never_drops_the_last_frame_of_a_canvas(qtbot, chat_em):
    worker = EngineWorker()
    try:
        with qtbot.waitSignal(worker.model_loaded, timeout=60_000) as loaded:
            worker.use_model(chat_em, "tiny-test")
        assert len(loaded.args[0].pieces) == 128 and loaded.args[0].canvas_length == 64
        delivered: list[Frame] = []
        canvases: list[list[Frame]] = []
        worker.frame.connect(lambda _rid, f: delivered.append(f))
        worker.canvas_done.connect(lambda _rid, _done, frames, _blob: canvases.append(frames))
        settings = SamplerSettings(max_new_tokens=128, max_denoising_steps=5, seed=3)
        with qtbot.waitSignal(worker.done, timeout=60_000) as done:
            rid = worker.generate(1, [{"role": "user", "content": "hi"}], settings)
        assert done.args[0] == rid and done.args[1].reason == "length"
        assert [len(c) for c in canvases] == [5, 5], "a canvas's frames are its denoising steps"
        for frames in canvases:
            last = frames[-1]
            assert any(f is last for f in delivered), "the last frame of each canvas reached the GUI"
            assert frames.start is not None and frames.start.step == 0, "and its random start travels with them"
            assert any(f is frames.start for f in delivered), "step 0 reaches the GUI live too"
    finally:
        worker.shutdown()


def test_a_narrow_message_view_wraps_between_the_answer_links_never_inside_one(qtbot):
    from PySide6.QtGui import QTextCursor

    view = MessageView()
    qtbot.addWidget(view)
    view.resize(380, 400)  # the chat column beside a wide canvas panel (a 1600 px window)
    view.show()
    answer = Message(3, 1, 2, "assistant", "elppa", "", 457442023, {}, {"tokens_per_second": 1740.5}, "m", "done", 0.0)
    question = Message(2, 1, 1, "user", "Reverse: apple", "", None, None, None, "", "done", 0.0)
    view.set_messages([question, answer])
    qtbot.waitUntil(lambda: view.document().size().width() <= 400)
    raw = view.document().toRawText()  # one character per document position (&nbsp; stays U+00A0)
    for label in ("Replay\u00a0canvas", "↻\u00a0New\u00a0seed", "↻\u00a0Same\u00a0seed"):
        start = raw.find(label)
        assert start >= 0, label
        first, last = QTextCursor(view.document()), QTextCursor(view.document())
        first.setPosition(start)
        last.setPosition(start + len(label))
        assert view.cursorRect(first).top() == view.cursorRect(last).top(), f"{label!r} is broken across lines"


def test_an_answer_cut_at_the_length_limit_says_so(qtbot):
    view = MessageView()
    qtbot.addWidget(view)
    cut = Message(3, 1, 2, "assistant", "Open the Server page or run", "", 1, {"max_new_tokens": 64},
                  {"reason": "length", "tokens_per_second": 9.0}, "m", "done", 0.0)
    whole = Message(5, 1, 4, "assistant", "elppa", "", 2, {"max_new_tokens": 64}, {"reason": "eos"}, "m", "done", 0.0)
    view.set_messages([cut, whole])
    assert view.plain_text().count("cut at the 64-token limit") == 1  # only the answer that was cut
