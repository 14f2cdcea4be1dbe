"""Soak: many consecutive answers in one process through the real window, worker and store; prints RSS growth.

`python -m tests.reliability.soak [--answers 200] [--model demo|tiny|PATH] [--max-new-tokens 256]`

The model loads once; every answer goes composer → controller → worker thread → store, like a user's. A new
conversation starts every few answers so prompts stay inside the context. RSS (after `gc.collect()`) is taken
after a warm-up of 10 answers and at the end; the growth between the two is the figure (target < 50 MB).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WARM_UP = 10
ANSWERS_PER_CONVERSATION = 4


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the figures; exit 1 when an answer fails or RSS grows by 50 MB or more."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--model", default="demo", help="demo (falls back to tiny when absent), tiny, or a folder")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.models.model_sources import TINY_MODEL, demo_model_available, demo_model_dir
    from app.shell.desktop import create_desktop
    from app.store.app_settings import AppSettings

    source = args.model
    if source == "demo":
        source = str(demo_model_dir()) if demo_model_available() else TINY_MODEL
    app = QApplication.instance() or QApplication(["soak"])
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    desktop = create_desktop(store_path=workdir / "chats.sqlite3", settings=AppSettings(read_only=True),
                             autoload=False)
    controller = desktop.controller
    state = {"asked": 0, "failed": 0, "rss": [], "started": 0.0}
    questions = ["What is the capital of France?", "Say hello.", "What is 2 + 3?", "Name a colour."]

    def measure(label: str) -> None:
        gc.collect()
        state["rss"].append((label, rss_mb()))
        print(f"{label}: RSS {state['rss'][-1][1]:.1f} MB", flush=True)

    def ask_next(message_id: int | None = None) -> None:
        if message_id is not None and desktop.store.message(message_id).status != "done":
            state["failed"] += 1
        if state["asked"] >= args.answers:
            measure(f"after {state['asked']} answers (end)")
            app.quit()
            return
        if state["asked"] == WARM_UP and message_id is not None:
            measure(f"after {WARM_UP} answers (baseline)")
        elif state["asked"] and state["asked"] % 50 == 0 and message_id is not None:
            measure(f"after {state['asked']} answers")
        if state["asked"] % ANSWERS_PER_CONVERSATION == 0:
            controller.new_conversation()
        desktop.window.chat.composer.setPlainText(questions[state["asked"] % len(questions)])
        state["asked"] += 1
        controller.send()

    def ready(_info: object) -> None:
        controller.sampler = controller.sampler.with_(
            max_new_tokens=min(controller.sampler.max_new_tokens, args.max_new_tokens)
        )
        measure("model loaded")
        state["started"] = time.monotonic()
        ask_next()

    controller.model_ready.connect(ready)
    controller.answer_finished.connect(ask_next)
    desktop.worker.error.connect(lambda rid, message: rid == 0 and (print(message), app.exit(2)))
    desktop.window.show()
    window_label = controller.model_title
    controller.load_model(source)
    rc = app.exec()
    elapsed = time.monotonic() - state["started"]
    title = window_label()
    desktop.window.close()
    if rc:
        return rc
    baseline = next(v for label, v in state["rss"] if "baseline" in label)
    final = state["rss"][-1][1]
    growth = final - baseline
    print(f"soak: {state['asked']} answers on {title} in {elapsed:.0f} s, {state['failed']} failed; RSS "
          f"{baseline:.1f} MB after {WARM_UP} answers → {final:.1f} MB at the end: growth {growth:+.1f} MB "
          f"(target < 50 MB)")
    return 0 if state["failed"] == 0 and growth < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
