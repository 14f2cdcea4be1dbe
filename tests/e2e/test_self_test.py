"""◆ `diffusion-desk --self-test DIR`: the real window, in a subprocess, answers one question and reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_self_test_writes_window_png_canvas_steps_and_report(tmp_path):
    out = tmp_path / "self-test"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "app", "--self-test", str(out), "--prompt", "Say hello."],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "self-test passed" in proc.stdout
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in ("answer", "frames", "canvases", "max_gui_stall_ms", "tokens_per_second", "model", "device"):
        assert key in report, key
    assert report["frames"] > 0 and report["canvases"] >= 1 and report["tokens_per_second"] > 0
    assert report["device"] and report["model"]
    # The self-test's own gate: generation never ran on the GUI thread (that would stall it for seconds).
    assert report["max_gui_stall_ms"] < 1000
    png = (out / "window.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    from PIL import Image

    with Image.open(out / "canvas-steps.png") as strip:  # the film strip of the first canvas: one tile per step
        assert strip.format == "PNG" and int(strip.text["Tiles"]) == report["canvas_steps_tiles"] >= 2
        assert strip.width > 100 and strip.height > 60


def test_self_test_fails_with_a_message_for_a_bad_model(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-m", "app", "--self-test", str(tmp_path / "out"), "--model", str(tmp_path / "nothing")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    assert "self-test failed" in proc.stderr and "does not exist" in proc.stderr
