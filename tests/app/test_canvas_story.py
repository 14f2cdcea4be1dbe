"""Issue 12, the canvas: from the random start to the committed text, replay that plays, the film strip and the
animation export — through the real window, its real widgets and its real file dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QPushButton, QSlider

from app.canvas.canvas_view import CanvasView, grid_shape
from app.chat.message_view import MessageView
from app.shell.desktop import create_desktop
from app.store.app_settings import AppSettings
from engine.events import Frame
from tests.app.helpers import TEST_CANVAS, ask, open_desktop

PIECES = ["<pad>", "<eos>", "a", "b", " ", "\n", "\t", "c"]
STOP, HIDDEN = frozenset({1}), frozenset({0, 1})


def _widgets(desk):
    window = desk.window
    return (window.findChild(CanvasView, "canvasView"), window.findChild(QSlider, "canvasScrubber"),
            window.findChild(QLabel, "scrubberLabel"), desk.window.chat.canvas)


def _answer_frames(length: int = 64) -> list[Frame]:
    """A finished demo-like canvas: "ab ab" then the end mark, padding after it. Like the issue's "ananab", the
    sampler accepted the padding early and the answer's own letters never."""
    draft = [2, 3, 4, 2, 3, 1] + [0] * (length - 6)
    frames = []
    for step in (1, 2):
        accepted = [i >= 6 for i in range(length)]
        entropy = [0.9 if i < 6 else 0.001 for i in range(length)]
        frames.append(Frame(0, step, 8, [7] * length, draft, accepted, entropy, 0.1 * step))
    return frames


def test_each_canvas_starts_from_its_random_step_0_and_ends_fully_settled(qtbot, desk):
    from app.canvas.canvas_story import CellState

    view, scrubber, _label, panel = _widgets(desk)
    answer_id = ask(qtbot, desk, "From noise")
    desk.controller.show_replay(answer_id)
    steps = [(f.canvas_index, f.step) for f in panel.frames]
    assert steps == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    scrubber.setValue(0)
    assert view.frame.step == 0 and "random start" in view.header_text()
    assert set(view.states()) == {CellState.NOISE}
    assert view.frame.draft == desk.store.canvas_frames(answer_id)[0].start.canvas, "step 0 is stored too"
    scrubber.setValue(3)
    assert view.committed and "committed" in view.header_text()
    assert CellState.NOISE not in view.states() and CellState.SETTLING not in view.states()


def test_header_and_scrubber_label_agree_live_and_in_replay(qtbot, desk):
    view, scrubber, label, panel = _widgets(desk)
    panel.follow_live()
    live: list[tuple[str, str, int, int]] = []

    def seen(_rid, _frame):  # connected after the controller: the panel has handled the frame already
        live.append((view.header_text(), label.text(), scrubber.value(), scrubber.maximum()))

    desk.worker.frame.connect(seen)
    ask(qtbot, desk, "Agree with me")
    assert live
    for header, text, value, maximum in live:
        assert text and header.startswith(text), (header, text)
        assert value == maximum > 0 or value == maximum == 0, "while following, the handle sits on the shown step"
    for value in range(scrubber.maximum() + 1):
        scrubber.setValue(value)
        assert view.header_text().startswith(label.text()) and label.text() == view.position_text()
    assert label.text() == "canvas 2 · step 3/3"


def test_play_advances_frames_and_stops_at_the_end(qtbot, desk):
    view, scrubber, _label, panel = _widgets(desk)
    desk.controller.show_replay(ask(qtbot, desk, "Play me"))
    assert panel.mode == "pause" and scrubber.value() == scrubber.maximum()
    play = desk.window.findChild(QPushButton, "playButton")
    assert play is not None, "the canvas panel has a Play button"
    shown: list[tuple[int, int]] = []
    view_frames = lambda: shown.append((view.frame.canvas_index, view.frame.step))  # noqa: E731
    timer = QTimer()
    timer.timeout.connect(view_frames)
    timer.start(5)
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    assert panel.mode == "play" and "Pause" in play.text()
    qtbot.waitUntil(lambda: panel.mode == "pause", timeout=20_000)
    timer.stop()
    assert (0, 0) in shown and (0, 2) in shown and (1, 1) in shown, "Play went from the start through every canvas"
    assert scrubber.value() == scrubber.maximum() and "Play" in play.text()


def test_arrow_keys_step_one_frame_and_jump_canvases_when_the_canvas_has_focus(qtbot, desk):
    view, scrubber, _label, panel = _widgets(desk)
    desk.controller.show_replay(ask(qtbot, desk, "Keys"))
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    last = scrubber.maximum()
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert scrubber.value() == last - 1 and (view.frame.canvas_index, view.frame.step) == (1, 2)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert scrubber.value() == last and view.frame.step == 3
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert (view.frame.canvas_index, view.frame.step) == (0, 0)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert (view.frame.canvas_index, view.frame.step) == (1, 0)
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert panel.mode == "play"
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert panel.mode == "pause"


def test_live_answers_play_in_slow_motion_or_follow_live_at_full_speed(qtbot, desk):
    view, scrubber, _label, panel = _widgets(desk)
    modes: list[tuple[str, int, int]] = []
    desk.worker.frame.connect(lambda *_: modes.append((panel.mode, scrubber.value(), scrubber.maximum())))
    ask(qtbot, desk, "Slowly")
    assert modes and all(mode == "play" for mode, _v, _m in modes), "new answers play in slow motion at first"
    assert any(value < maximum for _mode, value, maximum in modes), "frames queue behind the live edge"
    panel.end_live()
    qtbot.waitUntil(lambda: panel.mode == "pause", timeout=20_000)
    assert scrubber.value() == scrubber.maximum() and view.committed

    qtbot.mouseClick(desk.window.findChild(QPushButton, "liveButton"), Qt.MouseButton.LeftButton)
    newest: list[bool] = []
    desk.worker.frame.connect(lambda _rid, frame: newest.append(view.frame is frame))
    ask(qtbot, desk, "Quickly")
    assert panel.mode == "live" and newest and all(newest), "Live shows every frame the moment it arrives"


def test_legend_explains_every_symbol_the_canvas_draws(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.set_pieces(PIECES, STOP, HIDDEN)
    draft = [2, 4, 5, 6, 0, 3, 1] + [0] * 9
    view.show_frame(Frame(0, 2, 8, draft, draft, [False] * 16, [0.1] * 16, 0.1))
    drawn = {view.cell_label(i) for i in range(16)} - {"a", "b"}
    assert drawn == {"␣", "↵", "⇥", "◦", "∎"}
    legend = _panel_legend(qtbot)
    for symbol in drawn | {"·"}:
        assert symbol in legend, symbol
    for words in ("noise", "guess", "settled", "padding", "end of the answer", "changed"):
        assert words in legend, words


def _panel_legend(qtbot) -> str:
    from app.canvas.canvas_panel import CanvasPanel

    panel = CanvasPanel()
    qtbot.addWidget(panel)
    return panel.findChild(QLabel, "canvasLegend").text()


def _luminance(color: QColor) -> float:
    return 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()


def test_padding_is_quieter_than_the_settled_answer_on_screen(qtbot):
    from app.canvas.canvas_panel import CanvasPanel
    from app.canvas.canvas_story import COLORS, CellState

    panel = CanvasPanel()
    qtbot.addWidget(panel)
    panel.resize(520, 620)
    panel.view.set_pieces(PIECES, STOP, HIDDEN)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_replay([_answer_frames()])  # a stored answer shows its committed last step
    qtbot.waitUntil(lambda: panel.view.paint_count > 0)
    image = panel.view.grab().toImage()

    def fill(index: int) -> QColor:  # a pixel inside the cell, clear of its text (the grid under a 28 px header)
        cols, rows = grid_shape(64)
        w, h = (panel.view.width() - 16) / cols, (panel.view.height() - 40) / rows
        r, c = divmod(index, cols)
        return image.pixelColor(int(8 + c * w) + 3, int(32 + r * h) + 3)

    answer, padding = fill(0), fill(20)
    assert _luminance(padding) < _luminance(answer) / 2, (padding.name(), answer.name())
    assert answer.name() == COLORS[CellState.SETTLED][0], "the committed answer is drawn settled"
    end = fill(5)
    assert _luminance(end) < _luminance(answer)


def test_tooltips_speak_plain_words_with_numbers_on_a_second_line(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.set_pieces(PIECES, STOP, HIDDEN)
    frames = _answer_frames(16)
    view.show_frame(frames[1])
    first, second = view.cell_tooltip(0).split("\n")
    assert first == "Position 1: “a” — noise — the model is still unsure here"
    assert "entropy" not in first and "id" not in first and "entropy 0.900" in second
    assert view.cell_tooltip(12).startswith("Position 13: “<pad>” — padding after the end")


def test_header_fits_the_canvas_in_plain_words(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.set_pieces(PIECES, STOP, HIDDEN)
    view.tokens_per_forward = 10.8
    view.resize(330, 300)
    view.show_frame(_answer_frames()[0])
    view.steps_in_canvas = 12  # the canvas is committed: its step count is known
    header = view.header_text()
    assert "tokens/forw" not in header and "forward" not in header
    from PySide6.QtGui import QFont, QFontMetrics

    font = QFont(view.font())
    font.setBold(True)
    fitted = view.fitted_header(font, view.width() - 20)
    assert QFontMetrics(font).horizontalAdvance(fitted) <= view.width() - 20
    assert fitted.startswith("canvas 1 · step 1/12") and "…" not in fitted
    assert "10.8" in view.header_tooltip(), "the expert figure stays in the header's tooltip"


def test_after_a_relaunch_no_cell_shows_a_raw_id_while_the_model_loads(qtbot, chat_em, tmp_path):
    path = tmp_path / "chats.sqlite3"
    desk = open_desktop(qtbot, chat_em, path)
    ask(qtbot, desk, "Remember my canvas")
    desk.window.close()

    relaunched = create_desktop(store_path=path, settings=AppSettings(), autoload=False)  # no model yet
    try:
        relaunched.window.show()
        view = relaunched.window.findChild(CanvasView, "canvasView")
        assert view.frame is not None, "the stored replay is there"
        qtbot.waitUntil(lambda: view.paint_count > 0)
        tips = [view.cell_tooltip(i) for i in range(TEST_CANVAS)]
        assert not any("#" in text for text in tips), "never a raw id such as #0"
        labels = [view.cell_label(i) for i in range(TEST_CANVAS)]
        assert not any(labels), "no cell text until the model's tokens are known"
        assert "Loading the model" in tips[0]
        with qtbot.waitSignal(relaunched.controller.model_ready, timeout=60_000):
            relaunched.worker.use_model(chat_em, "tiny-test")
        assert all(view.cell_label(i) for i in range(TEST_CANVAS)), "the text appears once the model is there"
    finally:
        relaunched.window.close()


def test_film_strip_png_has_one_tile_per_step(qtbot, desk, tmp_path):
    from PIL import Image

    _view, _scrubber, _label, panel = _widgets(desk)
    desk.controller.show_replay(ask(qtbot, desk, "Strip"))
    assert panel.film_strip.tile_count == 4, "the shown canvas: its random start and three steps"
    out = tmp_path / "strip.png"
    assert panel.write_film_strip(out, 0) == 4
    with Image.open(out) as image:
        assert image.format == "PNG" and image.text["Tiles"] == "4"
        assert image.width > image.height > 40
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_film_strip_scrolls_to_the_step_shown_when_an_answer_opens(qtbot, chat_em, tmp_path):
    """Opening an answer shows its last step: the strip (wider than the panel) is scrolled so that step's tile is in
    view — before, it stayed at "start … step 10" while step 40 was shown."""
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3", steps=40)
    desk.controller.sampler = desk.controller.sampler.with_(confidence_threshold=1e-12)  # all 40 steps run
    ask(qtbot, desk, "Strip")
    desk.window.close()
    desk = open_desktop(qtbot, chat_em, tmp_path / "c.sqlite3")  # a relaunch: the chat opens, then the model loads
    try:
        qtbot.wait(50)
        panel = desk.window.chat.canvas
        area, strip = panel.strip_area, panel.film_strip
        assert not area.isHidden() and strip.tile_count > 20
        assert strip.width() > area.viewport().width()  # the strip is wider than what it can show
        shown = strip.tile_rect(strip.tile_count - 1)
        left = area.horizontalScrollBar().value()
        assert left > 0 and left <= shown.left() and shown.right() <= left + area.viewport().width()
    finally:
        desk.window.close()


def _save_through_the_dialog(qtbot, desk, target: Path) -> str:
    """Click "Save animation…", let a QTimer fill in the real file dialog, wait for the confirmation."""
    directories: list[str] = []

    def answer() -> None:
        dialog = next((w for w in QApplication.topLevelWidgets()
                       if isinstance(w, QFileDialog) and w.objectName() == "saveAnimationDialog" and w.isVisible()),
                      None)
        if dialog is None:
            QTimer.singleShot(20, answer)
            return
        directories.append(dialog.directory().absolutePath())
        dialog.selectFile(str(target))
        dialog.accept()

    save = desk.window.findChild(QPushButton, "saveAnimationButton")
    assert save is not None and save.isEnabled(), "the canvas panel offers Save animation"
    QTimer.singleShot(0, answer)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    status = desk.window.findChild(QLabel, "canvasStatus")
    qtbot.waitUntil(lambda: bool(directories) and status.text().startswith(("Saved", "Could not")), timeout=30_000)
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert directories == [str(Path(documents).resolve())] or directories == [documents]
    return status.text()


def test_save_animation_writes_a_gif_with_one_frame_per_step(qtbot, desk, tmp_path, monkeypatch):
    from PIL import Image

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))  # the documents folder is made under this home, not the real one
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))

    _view, _scrubber, _label, panel = _widgets(desk)
    desk.controller.show_replay(ask(qtbot, desk, "Animate me"))
    target = tmp_path / "answer.gif"
    status = _save_through_the_dialog(qtbot, desk, target)
    assert status == f"Saved the animation (8 frames, one per step) to {target}"
    assert target.stat().st_mode & 0o044, "readable like any file the user saves (not a private temp file)"
    with Image.open(target) as image:
        assert image.format == "GIF" and image.n_frames == len(panel.frames) == 8
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "written atomically"
    assert (home / "Documents").is_dir()

    apng = tmp_path / "answer.png"
    _save_through_the_dialog(qtbot, desk, apng)
    with Image.open(apng) as image:
        assert image.format == "PNG" and getattr(image, "is_animated", False) and image.n_frames == 8


def test_live_draft_in_the_bubble_uses_the_canvas_colours(qtbot):
    from app.canvas.canvas_story import COLORS, CellState

    view = MessageView()
    qtbot.addWidget(view)
    from app.chat.message_view import draft_html

    html = draft_html("Done. ", [("kept", True), ("guess", False)])
    settled_fill, settled_text = COLORS[CellState.SETTLED]
    assert f"background-color:{settled_fill}" in html and settled_text in html
    assert COLORS[CellState.SETTLING][1] in html


def test_replays_stored_before_step_0_existed_still_decode():
    import struct
    import zlib
    from array import array

    from app.canvas.frame_codec import decode_canvas, encode_canvas

    frames = _answer_frames(16)
    v2 = encode_canvas(frames)
    data = zlib.decompress(v2)
    header = struct.Struct("<4sHHI")
    magic, _version, steps, length = header.unpack_from(data, 0)
    v1 = zlib.compress(header.pack(magic, 1, steps, length) + data[header.size + struct.calcsize("<BHf"):])
    old = decode_canvas(v1, 0)
    assert old.start is None and [f.step for f in old] == [1, 2] and old[1].draft == frames[1].draft
    start = Frame(0, 0, 8, list(array("I", range(16))), list(range(16)), [False] * 16, [4.0] * 16, 0.0)
    new = decode_canvas(encode_canvas(frames, start), 0)
    assert new.start.canvas == list(range(16)) and new.start.step == 0 and len(new) == 2


def test_replaying_another_answer_while_one_runs_keeps_the_live_frames_apart(qtbot):
    from app.canvas.canvas_panel import CanvasPanel

    panel = CanvasPanel()
    qtbot.addWidget(panel)
    panel.view.set_pieces(PIECES, STOP, HIDDEN)
    live = _answer_frames(16)
    stored = [Frame(0, s, 8, [2] * 16, [3] * 16, [True] * 16, [0.0] * 16, 0.0) for s in (1, 2, 3)]
    panel.begin_live()
    panel.live_frame(live[0])
    panel.set_replay([stored])  # the user opens another conversation meanwhile
    panel.live_frame(live[1])
    panel.add_canvas_frames(live)
    assert panel.frames == stored and panel.view.frame is stored[-1]
    panel.follow_live()  # back in the conversation whose answer is running
    assert panel.frames == live and panel.view.frame is live[-1] and panel.view.committed


def test_the_canvas_shows_a_focus_ring_while_its_keys_work(qtbot):
    # Before: Tab moved the focus onto the canvas (its arrow keys step through frames) with no sign of it.
    from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

    holder = QWidget()
    qtbot.addWidget(holder)
    other = QLineEdit(holder)
    view = CanvasView(holder)
    layout = QVBoxLayout(holder)
    layout.addWidget(other)
    layout.addWidget(view)
    view.set_pieces(PIECES, STOP, HIDDEN)
    view.show_frame(_answer_frames()[0])
    holder.resize(400, 400)
    holder.show()
    holder.activateWindow()
    other.setFocus()
    qtbot.waitUntil(other.hasFocus)
    edge = view.grab().toImage().pixelColor(0, view.height() // 2)
    view.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(view.hasFocus)
    ring = view.grab().toImage().pixelColor(0, view.height() // 2)
    assert edge != ring and ring.name() == "#60a5fa"
