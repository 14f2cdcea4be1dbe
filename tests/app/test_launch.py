"""Launching: `--install-desktop-entry`, the icon sizes, and one window per user (single instance)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from app.shell.desktop_entry import REQUIRED_KEYS, desktop_entry_text, install_desktop_entry, parse_desktop_entry
from app.shell.single_instance import SingleInstance
from app.shell.theme import RESOURCES

REPO = Path(__file__).resolve().parents[2]
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # packaging/render_icons.py


def _validate(path: Path) -> None:
    """Our own checks of the spec's rules, plus `desktop-file-validate` where it is installed."""
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "[Desktop Entry]"
    keys = parse_desktop_entry(text)
    for key in REQUIRED_KEYS:
        assert keys.get(key), key
    assert keys["Type"] == "Application" and keys["Terminal"] == "false"
    assert keys["Icon"] == "diffusion-desk" and keys["Categories"].endswith(";")
    assert all(line.count("=") >= 1 or line.startswith("[") or not line for line in text.splitlines())
    assert len(set(k for k in keys)) == len([line for line in text.splitlines()[1:] if "=" in line])
    tool = shutil.which("desktop-file-validate")
    if tool:
        result = subprocess.run([tool, str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "error" not in (result.stdout + result.stderr).lower()


def test_install_desktop_entry_command_writes_a_valid_entry_and_icons(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share"), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "app", "--install-desktop-entry"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    entry = tmp_path / "share" / "applications" / "diffusion-desk.desktop"
    assert str(entry) in proc.stdout
    _validate(entry)
    keys = parse_desktop_entry(entry.read_text(encoding="utf-8"))
    assert "-m app" in keys["Exec"] or keys["Exec"].endswith("diffusion-desk")
    for size in ICON_SIZES:
        png = tmp_path / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "diffusion-desk.png"
        assert png.is_file(), png
    assert (tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "diffusion-desk.svg").is_file()


def test_exec_with_spaces_is_quoted_and_still_valid(tmp_path):
    files = install_desktop_entry(tmp_path, exec_command='"/opt/My Apps/diffusion-desk"')
    _validate(files[0])
    assert parse_desktop_entry(files[0].read_text(encoding="utf-8"))["Exec"] == '"/opt/My Apps/diffusion-desk"'


def test_reinstalling_replaces_the_entry(tmp_path):
    install_desktop_entry(tmp_path, exec_command="/old/diffusion-desk")
    files = install_desktop_entry(tmp_path, exec_command="/new/diffusion-desk")
    text = files[0].read_text(encoding="utf-8")
    assert "/new/diffusion-desk" in text and "/old/" not in text and text.count("Exec=") == 1
    assert not list((tmp_path / "applications").glob(".*.tmp"))


def test_template_keeps_its_keys():
    keys = parse_desktop_entry(desktop_entry_text("diffusion-desk"))
    assert keys["Name"] == "Diffusion Desk" and keys["StartupWMClass"] == "diffusion-desk"


def test_icon_pngs_exist_in_every_size(qapp):
    for size in ICON_SIZES:
        image = QImage(str(RESOURCES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "diffusion-desk.png"))
        assert not image.isNull() and image.width() == size and image.height() == size
        assert image.hasAlphaChannel()


def test_second_instance_brings_the_first_to_the_front(qtbot, tmp_path):
    first = SingleInstance("dd-test-" + tmp_path.name[-12:], tmp_path / "instance.lock")
    assert first.claim()
    try:
        with qtbot.waitSignal(first.activated, timeout=5000):
            second = SingleInstance(first.key, tmp_path / "instance.lock")
            assert not second.claim()
        third = SingleInstance(first.key, tmp_path / "instance.lock")
        with qtbot.waitSignal(first.activated, timeout=5000):
            assert not third.claim()
    finally:
        first.release()
    fourth = SingleInstance(first.key, tmp_path / "instance.lock")
    assert fourth.claim()  # the first one is gone: the next launch is the running instance
    fourth.release()


def test_a_lock_that_cannot_be_created_starts_at_once_and_still_finds_a_running_window(qtbot, tmp_path, caplog):
    missing = tmp_path / "no-such-folder" / "instance.lock"  # cannot be created (as in a read-only cache)
    first = SingleInstance("dd-test-ro-" + tmp_path.name[-12:], missing)
    with caplog.at_level(logging.WARNING, logger="app.shell.single_instance"):
        assert first.claim()
    assert "starting without the one-window lock" in caplog.text and "does not answer" not in caplog.text
    try:
        with qtbot.waitSignal(first.activated, timeout=5000):  # a second launch still reaches the first window
            assert not SingleInstance(first.key, missing).claim()
    finally:
        first.release()


def test_stale_lock_and_socket_of_a_killed_instance_are_taken_over(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DIFFUSION_DESK_HOME": str(tmp_path / "home")}
    code = (
        "import os, sys\n"
        "from PySide6.QtCore import QCoreApplication\n"
        "from app.shell.single_instance import SingleInstance\n"
        "app = QCoreApplication([])\n"
        "assert SingleInstance().claim()\n"
        "print('claimed', flush=True)\n"
        "os._exit(0) if sys.argv[1] == 'die' else app.exec()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "die"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert "claimed" in proc.stdout, proc.stderr
    again = subprocess.run([sys.executable, "-c", code, "die"], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=60)
    assert "claimed" in again.stdout, again.stderr


@pytest.mark.parametrize("flag", ["--install-desktop-entry"])
def test_help_lists_the_flag(flag):
    from app.__main__ import _parse

    assert _parse([flag]).install_desktop_entry


def test_second_launch_of_the_app_exits_and_raises_the_first(tmp_path):
    import time

    home = tmp_path / "home"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DIFFUSION_DESK_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    first = subprocess.Popen([sys.executable, "-m", "app", "--model", "tiny"], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = home / "logs" / "diffusion-desk.log"
        deadline = time.monotonic() + 120
        while not (home / "cache" / "instance.lock").is_file():
            assert first.poll() is None and time.monotonic() < deadline, "the first instance did not start"
            time.sleep(0.2)
        second = subprocess.run([sys.executable, "-m", "app"], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0 and "already running" in second.stdout, second.stderr[-2000:]
        assert first.poll() is None
        deadline = time.monotonic() + 30
        while "bringing it to the front" not in log.read_text(encoding="utf-8", errors="replace"):
            assert time.monotonic() < deadline, "the first instance was not asked to come to the front"
            time.sleep(0.2)
    finally:
        first.kill()
        first.wait(30)


def test_serve_subcommand_is_the_engine_server_without_qt():
    code = ("import sys\nfrom app.__main__ import main\ntry:\n    main(['serve', '--help'])\nexcept SystemExit as e:\n"
            "    print('rc', e.code)\nprint('qt loaded' if 'PySide6' in sys.modules else 'no qt')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "--api-key" in proc.stdout and "rc 0" in proc.stdout and "no qt" in proc.stdout, proc.stderr[-2000:]
    helped = subprocess.run([sys.executable, "-m", "app", "serve", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert helped.returncode == 0 and "--port" in helped.stdout, helped.stderr[-2000:]


def test_serve_subcommand_answers_v1_models_on_an_ephemeral_port(tmp_path):
    import json
    import re
    import urllib.request

    env = {**os.environ, "DIFFUSION_DESK_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    env.pop("DIFFUSION_DESK_API_KEY", None)
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--model", "tiny", "--port", "0"], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "Serving <model> at http://127.0.0.1:PORT/v1 (no key); Ctrl+C stops."
        found = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        assert found, (line, server.stderr.read() if server.poll() is not None else "")
        with urllib.request.urlopen(found.group(1) + "/models", timeout=30) as answer:
            models = json.load(answer)
        assert models["object"] == "list" and models["data"][0]["diffusion"]["per_step_drafts"] is True
    finally:
        server.kill()
        server.wait(30)
