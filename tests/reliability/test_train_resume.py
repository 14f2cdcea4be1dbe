"""Class 9 — `python -m engine.train_demo --resume` reads checkpoints as tensors and plain data only.

A hostile pickle (its unpickling would create a sentinel file) is refused without running anything; the real
CLI runs in a subprocess, in a working folder that holds a planted `train-demo/ckpt.pt`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.errors import CheckpointError
from engine.train_demo.checkpoint import load_checkpoint
from engine.train_demo.train import WORK_DIR, TrainConfig, train

REPO = Path(__file__).resolve().parents[2]
TINY = ["--steps", "2", "--batch-size", "2", "--phase2-batch", "2", "--hidden-size", "32", "--layers", "2",
        "--warmup", "1", "--ckpt-every", "1", "--eval-every", "1000", "--eval-n", "1", "--threads", "1"]


class Sentinel:
    """Unpickling this calls open(path, "w"): the file appears only if the loader ran code from the checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def hostile_checkpoint(path: Path, sentinel: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}, "opt": {}, "step": 0, "config": {}, "py_rng": Sentinel(sentinel), "torch_gen": None},
               path)
    return path


def cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DIFFUSION_DESK_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "engine.train_demo", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def one_error_line(result: subprocess.CompletedProcess, pattern: str) -> None:
    import re

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_the_hostile_pickle_really_runs_code_when_unpickled_the_old_way(tmp_path):
    """The premise: `weights_only=False` (the old --resume) executes the payload."""
    sentinel = tmp_path / "pwned"
    torch.load(hostile_checkpoint(tmp_path / "ckpt.pt", sentinel), weights_only=False)
    assert sentinel.exists()


def test_resume_refuses_a_hostile_pickle_without_running_it(tmp_path):
    sentinel = tmp_path / "pwned"
    ckpt = hostile_checkpoint(tmp_path / "evil" / "ckpt.pt", sentinel)
    result = cli("--resume", str(ckpt), *TINY, "--work-dir", str(tmp_path / "work"), cwd=tmp_path,
                 home=tmp_path / "home")
    one_error_line(result, r"not a plain Diffusion Desk checkpoint.*refused")
    assert not sentinel.exists()
    assert not (tmp_path / "work" / "log.jsonl").exists()  # refused before any training set-up


def test_resume_from_the_default_folder_ignores_the_working_folder(tmp_path, monkeypatch):
    """A `train-demo/ckpt.pt` planted in the folder the command runs from is never the default."""
    sentinel = tmp_path / "pwned"
    hostile_checkpoint(tmp_path / "train-demo" / "ckpt.pt", sentinel)
    monkeypatch.chdir(tmp_path)
    assert WORK_DIR.is_absolute() and WORK_DIR == REPO / "train-demo"
    # Through the CLI with --work-dir pointing at the planted folder: refused, nothing runs.
    result = cli("--resume", *TINY, "--work-dir", "train-demo", cwd=tmp_path, home=tmp_path / "home")
    one_error_line(result, r"not a plain Diffusion Desk checkpoint")
    assert not sentinel.exists()


def test_resume_from_a_missing_checkpoint_says_how_to_start(tmp_path):
    result = cli("--resume", str(tmp_path / "nothing.pt"), *TINY, cwd=tmp_path, home=tmp_path / "home")
    one_error_line(result, r"no checkpoint at .*nothing\.pt; run without --resume")


def test_resume_from_a_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "ckpt.pt"
    os.mkfifo(fifo)
    result = cli("--resume", str(fifo), *TINY, cwd=tmp_path, home=tmp_path / "home")
    one_error_line(result, r"not a regular file")


@pytest.mark.parametrize("content, pattern", [
    (b"", r"not a readable checkpoint"),
    (b"\x80\x04garbage", r"not a (readable|plain)"),
    (None, r"not a train_demo checkpoint \(missing"),
])
def test_resume_from_files_that_are_not_checkpoints(tmp_path, content, pattern):
    path = tmp_path / "ckpt.pt"
    if content is None:
        torch.save({"weights": torch.zeros(2)}, path)  # loads as tensors, but is not our format
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(path)


def test_resume_with_a_tilde_user_that_does_not_exist(tmp_path):
    result = cli("--resume", "~nosuchuser_xyz/ckpt.pt", *TINY, cwd=tmp_path, home=tmp_path / "home")
    one_error_line(result, r"no user 'nosuchuser_xyz'")


def test_a_checkpoint_config_with_wrong_types_is_refused(tmp_path):
    work = tmp_path / "run"
    train(TrainConfig(steps=1, batch_size=2, phase2_batch=2, hidden_size=32, layers=2, warmup=1, ckpt_every=1,
                      eval_every=1000, eval_n=1), resume=False, work_dir=work, threads=1)
    state = torch.load(work / "ckpt.pt", weights_only=True)
    state["config"]["experts"] = "4; rm -rf /"
    torch.save(state, work / "ckpt.pt")
    result = cli("--resume", *TINY, "--work-dir", str(work), cwd=tmp_path, home=tmp_path / "home")
    one_error_line(result, r"config sets experts to")


def test_the_real_cli_resumes_its_own_checkpoint(tmp_path):
    work = tmp_path / "run"
    first = cli(*TINY[:1], "1", *TINY[2:], "--work-dir", str(work), cwd=tmp_path, home=tmp_path / "home")
    assert first.returncode == 0, first.stderr
    second = cli("--resume", str(work / "ckpt.pt"), *TINY, "--work-dir", str(work), cwd=tmp_path,
                 home=tmp_path / "home")
    assert second.returncode == 0, second.stderr
    assert "resumed from step 1" in second.stdout
    assert load_checkpoint(work / "ckpt.pt")["step"] == 2
