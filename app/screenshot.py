"""`python -m app.screenshot OUT.png [--model PATH] [--prompt TEXT]...`: the window caught mid-denoising.

Asks each prompt in turn (in a throwaway chat store) and saves the window while the last answer's canvas is
halfway through its denoising steps — the picture the README shows. Not part of the app's normal use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path


async def capture(out: Path, model: str | None, prompts: list[str], at: float) -> None:
    from .app_settings import AppSettings
    from .desktop import create_desktop
    from .model_sources import default_model_source

    with tempfile.TemporaryDirectory() as tmp:
        desktop = create_desktop(store_path=Path(tmp) / "chats.sqlite3", settings=AppSettings(read_only=True),
                                 autoload=False)
        window, controller = desktop.window, desktop.controller
        window.show()
        loop = asyncio.get_running_loop()
        ready: asyncio.Future = loop.create_future()
        controller.model_ready.connect(lambda info: ready.done() or ready.set_result(info))
        desktop.worker.error.connect(lambda _rid, msg: ready.done() or ready.set_exception(RuntimeError(msg)))
        window.model_picker_controller.load(model or default_model_source())
        await ready
        controller.new_conversation()
        for n, prompt in enumerate(prompts):
            finished: asyncio.Future = loop.create_future()
            slot = None
            if n == len(prompts) - 1:
                def slot(_rid: int, frame, finished=finished) -> None:
                    if not finished.done() and frame.step >= max(1, int(frame.max_steps * at)):
                        window.grab().save(str(out))
                        finished.set_result(True)
                desktop.worker.frame.connect(slot)
            controller.answer_finished.connect(lambda _mid, finished=finished: finished.done() or
                                               finished.set_result(False))
            window.chat.composer.setPlainText(prompt)
            window.chat.send_button.click()
            captured = await finished
            if captured:
                controller.stop()
                await asyncio.sleep(0.5)
        window.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the capture, print where the picture went."""
    parser = argparse.ArgumentParser(prog="python -m app.screenshot")
    parser.add_argument("out", type=Path)
    parser.add_argument("--model")
    parser.add_argument("--prompt", action="append", help="repeat for several turns; the last one is captured")
    parser.add_argument("--at", type=float, default=0.35, help="fraction of the canvas's steps (default 0.35)")
    args = parser.parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync

    from .__main__ import _qt_app

    app = _qt_app([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(capture(args.out, args.model, args.prompt or ["Hello! Who are you?"], args.at))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
