"""`diffusion-desk` / `python -m app`: open the window, or run the ◆ self-test (`--self-test DIR`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="diffusion-desk", description="Chat with DiffusionGemma models.")
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

    from .theme import apply_theme, icon_path

    app = QApplication.instance() or QApplication(["diffusion-desk", *argv])
    app.setApplicationName("Diffusion Desk")
    app.setOrganizationName("Diffusion Desk")
    app.setDesktopFileName("diffusion-desk")
    if icon_path().is_file():
        app.setWindowIcon(QIcon(str(icon_path())))
    apply_theme(app)
    return app


async def _run_window(model: str | None) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from .desktop import create_desktop
    from .single_instance import SingleInstance, bring_to_front
    from .store import NewerSchemaError

    instance = SingleInstance()
    if not instance.claim():
        print("Diffusion Desk is already running: its window was brought to the front.")
        return 0
    try:
        desktop = create_desktop(model=model)
    except NewerSchemaError as exc:
        instance.release()
        QMessageBox.critical(None, "Diffusion Desk", str(exc))
        return 2
    except Exception as exc:  # noqa: BLE001 - e.g. a damaged chats database: say so, log it, exit cleanly
        from .crash import startup_failure_message

        instance.release()
        QMessageBox.critical(None, "Diffusion Desk", startup_failure_message(exc))
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
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.install_desktop_entry:
        from .desktop_entry import main as install_desktop_entry

        return install_desktop_entry()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.self_test and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync

    app = _qt_app([])
    from .crash import install_crash_handling

    app.crash_reporter = install_crash_handling()  # every unhandled exception → log + dialog; the app keeps running
    loop = qasync.QEventLoop(app)
    loop.set_exception_handler(app.crash_reporter.asyncio_exception)
    asyncio.set_event_loop(loop)
    with loop:
        if args.self_test:
            from .selftest import DEFAULT_PROMPT, run_self_test

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
