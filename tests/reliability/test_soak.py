"""Soak, short version of `python -m tests.reliability.soak --answers 200`: consecutive answers in one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_consecutive_answers_in_one_process_all_finish_and_report_rss(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DIFFUSION_DESK_HOME": str(tmp_path / "home"),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.soak", "--answers", "14", "--model", "tiny",
         "--max-new-tokens", "64"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("soak: 14 answers") and "0 failed" in summary and "growth" in summary
