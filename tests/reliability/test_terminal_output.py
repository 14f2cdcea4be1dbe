"""Class 6 — terminal injection: model/hub/user text is shown, never obeyed, and piped output is plain.

A tiny model folder whose tokenizer pieces are escape sequences (OSC title change, clear screen, bidi override)
answers through the real `python -m engine run` in a subprocess: piped, under a pseudo-terminal, with NO_COLOR
and TERM=dumb, and with --json."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli_common import color_enabled, one_line, safe_text
from engine.tiny import save_tiny_model

REPO = Path(__file__).resolve().parents[2]
OSC_TITLE = "\x1b]0;pwned\x07"
ARGS = ["--max-new-tokens", "24", "--steps", "2", "--seed", "0"]


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory) -> Path:
    """Every ordinary vocabulary entry decodes to a terminal control sequence (or a bidi override)."""
    folder = save_tiny_model(tmp_path_factory.mktemp("hostile") / "m\x1b[31mred", canvas_length=32)
    tok_path = folder / "tokenizer.json"
    data = json.loads(tok_path.read_text())
    vocab = data["model"]["vocab"]
    for piece, index in list(vocab.items()):
        if index >= 11:
            del vocab[piece]
            kind = index % 3
            vocab[[f"\x1b]0;pwned{index}\x07", f"\x1b[2J\x1b[{index}m", f"\u202e{index}\r\x9b"][kind]] = index
    tok_path.write_text(json.dumps(data))
    return folder


def engine_run(*args: str, home: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DIFFUSION_DESK_HOME": str(home), "PYTHONPATH": str(REPO), **(env or {})}
    if "NO_COLOR" not in (env or {}):
        full_env.pop("NO_COLOR", None)
    return subprocess.run([sys.executable, "-m", "engine", "run", *args], env=full_env, capture_output=True,
                          timeout=180, **kw)


def test_the_hostile_folder_really_decodes_to_escape_sequences(hostile_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hostile_model)
    assert "\x1b]0;pwned" in tok.decode([12, 13, 14])


def test_piped_output_has_no_control_characters_and_no_colours(hostile_model, tmp_path):
    result = engine_run("--model", str(hostile_model), "--prompt", "hi", *ARGS, home=tmp_path)
    assert result.returncode == 0, result.stderr
    out, err = result.stdout.decode(), result.stderr.decode()
    for stream in (out, err):
        assert "\x1b" not in stream and "\x07" not in stream and "\r" not in stream and "\x9b" not in stream
        assert "\u202e" not in stream
    assert "\\x1b]0;pwned" in out or "\\x1b[2J" in out or "\\u202e" in out  # shown, visibly escaped
    assert "\\x1b[31mred" in err  # the folder name in the stats line is escaped too


def test_json_output_stays_valid_json_and_carries_the_text_escaped(hostile_model, tmp_path):
    result = engine_run("--model", str(hostile_model), "--prompt", "hi", *ARGS, "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout
    record = json.loads(result.stdout)
    assert record["token_ids"] and "\x1b" in record["text"] + record["model"]  # the real text, JSON-escaped


def read_pty(args: list[str], env: dict) -> str:
    """Run under a pseudo-terminal (stdout and stderr are a TTY) and collect what the terminal would receive."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "run", *args], stdout=slave, stderr=slave,
                            stdin=subprocess.DEVNULL, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, b"".join(chunks)[-2000:]
    return b"".join(chunks).decode("utf-8", "replace")


def tty_env(home: Path, **extra: str) -> dict:
    env = {**os.environ, "DIFFUSION_DESK_HOME": str(home), "PYTHONPATH": str(REPO), "TERM": "xterm", **extra}
    if "NO_COLOR" not in extra:
        env.pop("NO_COLOR", None)
    return env


def test_live_view_on_a_terminal_redraws_but_never_passes_model_escapes(hostile_model, tmp_path):
    text = read_pty(["--model", str(hostile_model), "--prompt", "hi", *ARGS], tty_env(tmp_path))
    assert "\x1b[2m" in text and "\x1b[J" in text  # our own dim colour and redraw: it is a terminal
    assert "\x1b]" not in text and "\x07" not in text and "\x1b[2J" not in text and "\u202e" not in text
    assert "\\x1b]0;pwned" in text or "\\x1b[2J" in text or "\\u202e" in text


def test_no_color_on_a_terminal_means_no_colour_codes(hostile_model, tmp_path):
    text = read_pty(["--model", str(hostile_model), "--prompt", "hi", *ARGS], tty_env(tmp_path, NO_COLOR="1"))
    assert "\x1b[2m" not in text and "\x1b[0m" not in text
    assert "\x1b]" not in text and "\x1b[2J" not in text


def test_dumb_terminal_gets_plain_text_without_cursor_movement(hostile_model, tmp_path):
    text = read_pty(["--model", str(hostile_model), "--prompt", "hi", *ARGS], tty_env(tmp_path, TERM="dumb"))
    assert "\x1b" not in text


def test_error_lines_escape_a_hostile_path(tmp_path):
    result = engine_run("--model", f"/nowhere/{OSC_TITLE}x", "--prompt", "hi", home=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: ") and "\\x1b]0;pwned\\x07" in err and "\x1b" not in err


def test_bench_escapes_its_model_argument(tmp_path):
    env = {**os.environ, "DIFFUSION_DESK_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "engine.bench", "--model", f"/nowhere/{OSC_TITLE}"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr and "\\x1b]0;pwned" in result.stderr


def test_hardware_escapes_an_unknown_gpu_name(tmp_path):
    env = {**os.environ, "DIFFUSION_DESK_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "engine.hardware", "--gpu", f"H{OSC_TITLE}"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "\x1b" not in result.stderr and "\\x1b]0;pwned" in result.stderr


def test_a_closed_pipe_ends_quietly(hostile_model, tmp_path):
    """`engine run … | head -c0`: the reader is gone before the first write — no traceback, no 'Exception ignored'."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "DIFFUSION_DESK_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "engine", "run", "--model", str(hostile_model), "--prompt", "hi",
                             *ARGS], stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=180)
    os.close(write_end)
    assert result.returncode == 141
    assert b"Traceback" not in result.stderr and b"Exception ignored" not in result.stderr


def test_an_ascii_only_terminal_encoding_does_not_crash(tmp_path):
    result = engine_run("--model", "demo", "--prompt", "caf\u00e9 \u2713", "--max-new-tokens", "8", home=tmp_path,
                        env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2J", "\\x1b[2J"), ("a\rb", "a\\x0db"), ("\x07", "\\x07"), ("\x7f", "\\x7f"), ("\x9b31m", "\\x9b31m"),
    ("abc\u202edef", "abc\\u202edef"), ("x\u2066y", "x\\u2066y"), ("bad\udcffbyte", "bad\\udcffbyte"),
    ("keep\nlines\tand tabs", "keep\nlines\tand tabs"), ("naïve ✓ 🙂", "naïve ✓ 🙂"),
])
def test_safe_text(raw, shown):
    assert safe_text(raw) == shown


def test_one_line_and_colour_rules(monkeypatch):
    assert one_line("first\n  second\x1b[0m") == "first second\\x1b[0m"
    assert safe_text("a\nb", newlines=False) == "a\\x0ab"

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert color_enabled(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_enabled(Tty())
    monkeypatch.delenv("NO_COLOR")
    assert not color_enabled(open(os.devnull, "w"))  # noqa: SIM115


def test_models_cli_escapes_folder_names_in_what_it_prints(tmp_path):
    """`python -m engine.models` names a hostile source folder escaped, in its errors and in what it imported."""
    from tests.fixtures.hub_server import tiny_repo_files, write_repo

    env = {**os.environ, "DIFFUSION_DESK_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    models = [sys.executable, "-m", "engine.models"]
    files = tiny_repo_files()
    broken = write_repo({k: v for k, v in files.items() if k != "config.json"}, tmp_path / f"broken{OSC_TITLE}")
    refused = subprocess.run([*models, "import", str(broken)], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "\\x1b]0;pwned\\x07" in refused.stderr
    source = write_repo(files, tmp_path / f"good{OSC_TITLE}")
    linked = subprocess.run([*models, "import", str(source), "--link", "--name", "mine"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert linked.returncode == 0, linked.stderr
    listed = subprocess.run([*models, "list"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "local/mine" in listed.stdout
    for result in (refused, linked, listed):
        assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
