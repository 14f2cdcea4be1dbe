"""`python -m app.shell.screenshot OUT.png [--model PATH] [--prompt TEXT]... [--seed N] [--t-max T]`: the window caught
mid-answer.

Asks each prompt in turn (in a throwaway chat store, the canvas following Live) and saves the window at the first
step of the last answer where the canvas shows its whole story at once — cells still noisy, the model's guesses
settling, settled text and quiet padding after the end mark — or, when no step has all of them, at `--at` of
the canvas's steps. `--t-max` sets the start temperature (Settings → "Temperature at the start"): a model that settles
in two steps at its own default shows its steps from a hotter start. The picture the README shows. Not part of the
app's normal use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from ..canvas.canvas_story import CellState, cell_states

MIN_PADDING = 8
MIN_CELLS = 5


def tells_the_story(states: list[CellState]) -> bool:
    """Noise, a guess, settled text (or more guesses) and padding all on screen at once."""
    count = {state: states.count(state) for state in CellState}
    shown = count[CellState.SETTLED] + count[CellState.SETTLING]
    return count[CellState.NOISE] >= MIN_CELLS and count[CellState.SETTLING] >= MIN_CELLS and shown >= 3 and \
        count[CellState.PADDING] >= MIN_PADDING


async def capture(out: Path, model: str | None, prompts: list[str], at: float, seed: int = 7,
                  t_max: float | None = None) -> bool:
    """Run the prompts; save the window during the last answer (see the module's docstring). Returns whether a
    picture was saved (an answer that settles before step 2 leaves none)."""
    from ..models.model_sources import default_model_source
    from ..store.app_settings import AppSettings
    from .desktop import create_desktop

    with tempfile.TemporaryDirectory() as tmp:
        desktop = create_desktop(store_path=Path(tmp) / "chats.sqlite3", settings=AppSettings(read_only=True),
                                 autoload=False)
        window, controller = desktop.window, desktop.controller
        window.resize(1400, 860)
        window.show()
        loop = asyncio.get_running_loop()
        ready: asyncio.Future = loop.create_future()
        controller.model_ready.connect(lambda info: ready.done() or ready.set_result(info))
        desktop.worker.error.connect(lambda _rid, msg: ready.done() or ready.set_exception(RuntimeError(msg)))
        window.model_picker_controller.load(model or default_model_source())
        await ready
        if t_max is not None:
            controller.sampler = controller.sampler.with_(t_max=t_max)
        controller.new_seed = lambda: seed
        controller.new_conversation()
        canvas = window.chat.canvas
        canvas.follow_live()
        saved = False
        for n, prompt in enumerate(prompts):
            finished: asyncio.Future = loop.create_future()
            slot = None
            if n == len(prompts) - 1:
                def slot(_rid: int, frame, finished=finished) -> None:
                    if finished.done() or frame.step < 2:  # from step 2 on, the cells that changed are outlined
                        return
                    cells = canvas.view.cells
                    story = tells_the_story(cell_states(frame, cells.stop_ids, cells.hidden_ids))
                    if story or frame.step >= max(1, int(frame.max_steps * at)):
                        window.grab().save(str(out))
                        finished.set_result(True)
                desktop.worker.frame.connect(slot)
            controller.answer_finished.connect(lambda _mid, finished=finished: finished.done() or
                                               finished.set_result(False))
            window.chat.composer.setPlainText(prompt)
            window.chat.send_button.click()
            captured = await finished
            saved = saved or captured
            if captured:
                controller.stop()
                await asyncio.sleep(0.5)
        window.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the capture, print where the picture went."""
    parser = argparse.ArgumentParser(prog="python -m app.shell.screenshot")
    parser.add_argument("out", type=Path)
    parser.add_argument("--model")
    parser.add_argument("--prompt", action="append", help="repeat for several turns; the last one is captured")
    parser.add_argument("--at", type=float, default=0.6, help="fallback: fraction of the steps (default 0.6)")
    parser.add_argument("--seed", type=int, default=7, help="the answers' seed (default 7)")
    parser.add_argument("--t-max", type=float, help="start temperature (default: the model's)")
    args = parser.parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync

    from ..__main__ import _qt_app

    app = _qt_app([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        saved = loop.run_until_complete(capture(args.out, args.model, args.prompt or ["Hello! Who are you?"], args.at,
                                                args.seed, args.t_max))
    if not saved:
        print("nothing saved: the last answer settled before a step showed noise, guesses and text together "
              "(try another prompt, --seed or a hotter --t-max)", file=sys.stderr)
        return 1
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
