"""`diffusion-desk` / `python -m app`: open the window, run the ◆ self-test (`--self-test DIR`), or ◆ `serve …`
(the same as `python -m engine.serve …`: an OpenAI-compatible server, no window and no Qt).

Every entry point turns an expected failure (an unusable DIFFUSION_DESK_HOME or data folder, a chat database
that is locked, foreign, newer or damaged) into one clear message — a dialog where a window can exist, one line
on stderr otherwise — and a non-zero exit, never a bare traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="diffusion-desk", description="Chat with DiffusionGemma models.",
                                     epilog="diffusion-desk serve [--help]: serve a model over an OpenAI-compatible "
                                     "API, without a window (= python -m engine.serve).")
    parser.add_argument("--self-test", metavar="DIR", type=Path, help="ask one question, write DIR/report.json")
    parser.add_argument("--model", metavar="PATH", help="model folder (or cached hub id) to load")
    parser.add_argument("--prompt", metavar="TEXT", help="the self-test's question")
    parser.add_argument(
        "--install-desktop-entry", action="store_true", help="add a launcher and icon to this user's desktop menu"
    )
    return parser.parse_args(argv)


def _qt_app(argv: list[str]):
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .shell.theme import apply_theme, icon_path

    app = QApplication.instance() or QApplication(["diffusion-desk", *argv])
    app.setApplicationName("Diffusion Desk")
    app.setOrganizationName("Diffusion Desk")
    app.setDesktopFileName("diffusion-desk")
    if icon_path().is_file():
        app.setWindowIcon(QIcon(str(icon_path())))
    apply_theme(app)
    return app


def startup_error(text: str, *, dialog: bool) -> None:
    """Say why Diffusion Desk cannot start: one stderr line, and (where a window can exist) a plain-text dialog."""
    print(f"diffusion-desk: {text}", file=sys.stderr)
    if dialog:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.Critical, "Diffusion Desk cannot start", text)
        box.setObjectName("startupErrorDialog")
        box.setAccessibleName("startupErrorDialog")
        box.setTextFormat(Qt.TextFormat.PlainText)  # paths and names are data, never markup
        box.exec()


def log_fatal_start(text: str) -> None:
    """Append why the app could not start to the log file (best effort: the log folder may be the problem)."""
    import time

    from .shell.crash import safe_log_path

    path = safe_log_path()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            first = text.strip().splitlines()[0] if text.strip() else "unknown reason"
            detail = " | ".join(line.strip() for line in text.strip().splitlines()[1:] if line.strip())
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} CRITICAL app: could not start: {first}"
                      + (f" | {detail}" if detail else "") + "\n")
    except OSError:
        pass


def check_places() -> str:
    """"" when DIFFUSION_DESK_HOME and the config, data and cache folders are usable, else the reason."""
    from engine.paths import AppDirError, cache_dir, config_dir, data_dir

    try:
        config_dir(), data_dir(), cache_dir()
    except AppDirError as exc:
        return str(exc)
    return ""


async def _run_window(model: str | None) -> int:
    from PySide6.QtWidgets import QApplication

    from .shell.crash import startup_failure_message
    from .shell.desktop import create_desktop
    from .shell.single_instance import SingleInstance, bring_to_front
    from .store.chats import NewerSchemaError

    try:
        instance = SingleInstance()
        claimed = instance.claim()
    except Exception as exc:  # noqa: BLE001 - an unusable config or cache folder: say so and exit
        startup_error(startup_failure_message(exc), dialog=True)
        return 1
    if not claimed:
        print("Diffusion Desk is already running: its window was brought to the front.")
        return 0
    try:
        desktop = create_desktop(model=model)
    except NewerSchemaError as exc:
        instance.release()
        startup_error(str(exc), dialog=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - a locked, foreign or damaged chats database: say so, log it, exit
        instance.release()
        startup_error(startup_failure_message(exc), dialog=True)
        return 1
    instance.activated.connect(lambda: bring_to_front(desktop.window))
    desktop.window.show()
    closed = asyncio.Event()
    QApplication.instance().lastWindowClosed.connect(closed.set)
    await closed.wait()
    instance.release()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `diffusion-desk` gui-script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # before any Qt import: a headless server needs no display libraries
        from engine.serve.__main__ import main as serve

        return serve(argv[1:])
    args = _parse(argv)
    if args.install_desktop_entry:
        from .shell.desktop_entry import main as install_desktop_entry

        try:
            return install_desktop_entry()
        except Exception as exc:  # noqa: BLE001 - it reports OSError itself; anything else is one line too
            startup_error(f"could not install the desktop entry: {exc}", dialog=False)
            return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.self_test:
        if args.self_test.exists() and not args.self_test.is_dir():
            startup_error(f"--self-test needs a folder, but {args.self_test} is a file.", dialog=False)
            return 1
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync

    from .shell.qt_libs import check_qt_platform

    hint = check_qt_platform()  # before QApplication: missing X11 libraries end in a bare "Aborted" otherwise
    if hint:
        print(hint, file=sys.stderr)
        log_fatal_start(hint)
        return 3
    from .shell.crash import enable_fatal_log

    enable_fatal_log()  # a crash while Qt starts still leaves the Python stacks in <logs>/fatal.log
    app = _qt_app([])
    problem = check_places()
    if problem:
        startup_error(problem, dialog=not args.self_test)
        return 1
    from .shell.crash import install_crash_handling

    app.crash_reporter = install_crash_handling()  # every unhandled exception → log + dialog; the app keeps running
    loop = qasync.QEventLoop(app)
    loop.set_exception_handler(app.crash_reporter.asyncio_exception)
    asyncio.set_event_loop(loop)
    with loop:
        if args.self_test:
            from .shell.selftest import DEFAULT_PROMPT, run_self_test

            try:
                test = run_self_test(args.self_test, args.model, args.prompt or DEFAULT_PROMPT)
                report = loop.run_until_complete(test)
            except Exception as exc:  # noqa: BLE001 - the self-test reports every failure as one line and rc 1
                print(f"self-test failed: {exc}", file=sys.stderr)
                return 1
            print(
                f"self-test passed: {report['canvases']} canvases, {report['frames']} frames, "
                f"{report['tokens_per_second']:.1f} tok/s, max GUI stall {report['max_gui_stall_ms']:.1f} ms "
                f"({report['model']} on {report['device']}) → {args.self_test}"
            )
            return 0
        return loop.run_until_complete(_run_window(args.model))


if __name__ == "__main__":
    sys.exit(main())
