"""The process the kill trials shoot: the real window, chatting without pause into one chats database.

`python -m tests.reliability.kill_child DB [--answers N]` opens the real window (offscreen) on `DB`, loads a
tiny random model whose answers never end early (its end-of-turn id is unreachable, so every answer runs to
`max_new_tokens`: many canvases, each one a commit), and asks question after question through the composer.
It prints `ready` once the model is loaded; the parent polls the database and kills it with SIGKILL.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CANVAS = 64
CANVASES_PER_ANSWER = 24
STEPS = 4


def tiny_endless_model():
    """A tiny random DiffusionGemma with the app's character tokenizer and no reachable end of turn."""
    from transformers import PreTrainedTokenizerFast

    from app.models.model_sources import tiny_tokenizer_dir
    from engine import EngineModel
    from engine.tiny import tiny_model

    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tiny_tokenizer_dir()))
    model = tiny_model(seed=0, vocab_size=128, canvas_length=CANVAS)
    model.generation_config.eos_token_id = -1
    model.generation_config.pad_token_id = 0
    return EngineModel.wrap(model, tokenizer, name="tiny-random-endless")


def main(argv: list[str] | None = None) -> int:
    """Chat until killed (or until `--answers` answers are stored)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--answers", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.shell.desktop import create_desktop
    from app.store.app_settings import AppSettings

    app = QApplication.instance() or QApplication(["kill-child"])
    desktop = create_desktop(store_path=args.db, settings=AppSettings(read_only=True), autoload=False)
    controller = desktop.controller
    state = {"asked": 0}

    def ask_next(*_: object) -> None:
        if state["asked"] >= args.answers:
            desktop.window.close()
            app.quit()
            return
        state["asked"] += 1
        # each question in a chat of its own: trials reopen the same database, and one growing chat soon outgrows
        # the tiny model's context — then every answer is refused at once and no kill lands mid-generation
        controller.new_conversation()
        composer = desktop.window.chat.composer
        composer.setPlainText(f"Question {state['asked']} from process {os.getpid()}: tell me a long story.")
        controller.send()

    def ready(_info: object) -> None:
        controller.sampler = controller.sampler.with_(
            max_new_tokens=CANVAS * CANVASES_PER_ANSWER, max_denoising_steps=STEPS
        )
        print("ready", flush=True)
        ask_next()

    controller.model_ready.connect(ready)
    controller.answer_finished.connect(ask_next)
    desktop.worker.error.connect(lambda _rid, message: print(f"error: {message}", file=sys.stderr, flush=True))
    desktop.worker.use_model(tiny_endless_model(), "tiny-random-endless")
    desktop.window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
