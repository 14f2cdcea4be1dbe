"""kill -9 during generation: nothing committed before the kill is lost, and the database stays sound.

Each trial starts `kill_child` (the real window chatting into one shared chats database, answers of many
canvases), polls the database from this process while it writes, and sends SIGKILL at a random moment —
during model load, between answers, mid-canvas or mid-commit. Afterwards:
- `PRAGMA integrity_check` is "ok";
- every message seen in the last poll before the kill is there: same role and conversation, a user message's
  text unchanged, an answer's text starting with what was committed (it only grows), every stored canvas's
  frames byte-identical;
- the app's store opens the file, and an answer cut off mid-generation is marked "interrupted" with its text.
Later trials keep the earlier trials' history, so every trial re-checks everything before it. A second kind of
trial kills the real `diffusion-desk --self-test --model tiny` mid-answer (its own fresh database each run).

By hand: `python -m tests.reliability.kill_trials --trials 50 [--self-test-trials 10]` (prints the figures; exit 1
on any failure).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POLL_S = 0.01
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Row:
    """What the parent saw of one message (and its canvases) in one consistent read."""

    conversation_id: int
    role: str
    text: str
    status: str
    canvases: tuple[tuple[int, str], ...]


@dataclass
class Trials:
    """The figures of a run."""

    trials: int = 0
    failures: list[str] = field(default_factory=list)
    killed_generating: int = 0
    killed_before_first_answer: int = 0
    messages_checked: int = 0
    canvases_checked: int = 0
    finished_before_kill: int = 0


def snapshot(db: Path) -> dict[int, Row]:
    """Every message with its canvases' hashes, read in one transaction (an empty dict before the schema)."""
    if not db.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        if not db.exists():  # deleted between the check and the open (the self-test clears its folder first)
            return {}
        raise
    try:
        conn.execute("BEGIN")
        frames: dict[int, list[tuple[int, str]]] = {}
        for mid, index, data in conn.execute("SELECT message_id, canvas_index, data FROM canvas_frames"):
            frames.setdefault(mid, []).append((index, hashlib.sha1(data).hexdigest()))
        rows = {
            mid: Row(conv, role, text, status, tuple(sorted(frames.get(mid, []))))
            for mid, conv, role, text, status in conn.execute(
                "SELECT id, conversation_id, role, text, status FROM messages"
            )
        }
        conn.execute("COMMIT")
        return rows
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise
    finally:
        conn.close()


def check(db: Path, before: dict[int, Row]) -> list[str]:
    """Problems after a kill: integrity, and every message of `before` intact (empty list: all good)."""
    problems = []
    conn = sqlite3.connect(str(db), timeout=5)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            problems.append(f"integrity_check: {result[:3]}")
    finally:
        conn.close()
    after = snapshot(db)
    for mid, seen in before.items():
        now = after.get(mid)
        if now is None:
            problems.append(f"message {mid} ({seen.role}) is gone")
            continue
        if (now.conversation_id, now.role) != (seen.conversation_id, seen.role):
            problems.append(f"message {mid} moved or changed role")
        if seen.role == "user" and now.text != seen.text:
            problems.append(f"user message {mid} changed: {seen.text[:40]!r} → {now.text[:40]!r}")
        if seen.role == "assistant" and not now.text.startswith(seen.text):
            problems.append(f"answer {mid} lost committed text ({len(seen.text)} → {len(now.text)} chars)")
        if seen.status != "generating" and now.status != seen.status:
            problems.append(f"message {mid} status {seen.status} → {now.status}")
        missing = set(seen.canvases) - set(now.canvases)
        if missing:
            problems.append(f"answer {mid}: {len(missing)} stored canvases lost or changed")
    return problems


def reopen_with_the_app(db: Path, before: dict[int, Row]) -> list[str]:
    """The app's store opens the killed database; a cut-off answer becomes "interrupted" and keeps its text."""
    from app.store.chats import ChatStore

    store = ChatStore(db)
    try:
        problems = []
        for mid, seen in before.items():
            try:
                message = store.message(mid)
            except KeyError:  # already reported by `check` as gone
                continue
            if message.status == "generating":
                problems.append(f"answer {mid} still 'generating' after reopening")
            if seen.role == "assistant" and not message.text.startswith(seen.text):
                problems.append(f"answer {mid} lost text on reopening")
        return problems
    finally:
        store.close()


def child_env(home: Path) -> dict[str, str]:
    """Offscreen, a portable home, one intra-op thread (a busy machine makes OpenMP spin-waits crawl)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DIFFUSION_DESK_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def one_trial(db: Path, home: Path, rng: random.Random, stats: Trials, *, max_delay_s: float = 2.0,
              command: list[str] | None = None) -> list[str]:
    """Start the child (`kill_child`, or `command`), kill it at a random moment, check the database; returns the
    problems found. A `command` run (the real `--self-test`) may finish before the kill: that is no failure."""
    known = {} if command else snapshot(db)  # the self-test starts from an empty database of its own
    early = command is None and rng.random() < 0.1  # sometimes kill while it is still starting or loading
    log = db.with_name("child-stderr.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            command or [sys.executable, "-m", "tests.reliability.kill_child", str(db)],
            cwd=REPO, env=child_env(home), stdout=subprocess.DEVNULL, stderr=stderr,
        )
    last = known
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        if early:
            time.sleep(rng.uniform(0.0, 3.0))
        else:
            while not any(r.status == "generating" for mid, r in last.items() if mid not in known):
                if command and proc.poll() == 0:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    return [f"child never started answering (rc {proc.poll()}): {_tail(log)}"]
                time.sleep(POLL_S)
                last = snapshot(db)
            kill_at = time.monotonic() + rng.uniform(0.0, max_delay_s)
            while time.monotonic() < kill_at:
                last = snapshot(db)
                time.sleep(rng.uniform(0.0, 2 * POLL_S))
        last = snapshot(db)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    if command and proc.returncode == 0:
        stats.finished_before_kill += 1
    elif proc.returncode != -signal.SIGKILL:
        return [f"child ended by itself (rc {proc.returncode}) before the kill: {_tail(log)}"]
    stats.killed_generating += any(r.status == "generating" for r in last.values())
    stats.killed_before_first_answer += early
    stats.messages_checked += len(last)
    stats.canvases_checked += sum(len(r.canvases) for r in last.values())
    return check(db, last) + reopen_with_the_app(db, last)


def _tail(path: Path) -> str:
    try:
        return path.read_bytes()[-2000:].decode("utf-8", "replace")
    except OSError:
        return ""


def run_trials(n: int, workdir: Path, seed: int = 0, *, verbose: bool = False) -> Trials:
    """`n` trials against one database in `workdir`."""
    rng = random.Random(seed)
    db, home = workdir / "chats.sqlite3", workdir / "home"
    stats = Trials()
    for i in range(n):
        problems = one_trial(db, home, rng, stats)
        stats.trials += 1
        stats.failures += [f"trial {i + 1}: {p}" for p in problems]
        if verbose:
            print(f"trial {i + 1}/{n}: {'ok' if not problems else '; '.join(problems)} "
                  f"({len(snapshot(db))} messages so far)", flush=True)
    return stats


def run_self_test_trials(n: int, workdir: Path, seed: int = 0) -> Trials:
    """`n` runs of the real `diffusion-desk --self-test` (tiny model) killed mid-answer."""
    rng = random.Random(seed)
    out = workdir / "self-test"
    command = [sys.executable, "-m", "app", "--self-test", str(out), "--model", "tiny", "--prompt",
               "Tell me a long story about a lighthouse."]
    stats = Trials()
    db = out / "self-test-chats.sqlite3"
    for i in range(n):
        # The self-test deletes the last run's database as it starts; clear it first so that the parent's polls never
        # race that delete (nor read the last trial's rows as this one's).
        for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            leftover.unlink(missing_ok=True)
        problems = one_trial(db, workdir / "home", rng, stats, max_delay_s=1.0, command=command)
        stats.trials += 1
        stats.failures += [f"self-test trial {i + 1}: {p}" for p in problems]
    return stats


def main(argv: list[str] | None = None) -> int:
    """The hand-run: ≥ 50 trials, the figures printed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--self-test-trials", type=int, default=10, help="kills of the real --self-test as well")
    parser.add_argument("--keep", metavar="DIR", type=Path, help="work in DIR and keep the database")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        stats = run_trials(args.trials, workdir, args.seed, verbose=True)
        final = snapshot(workdir / "chats.sqlite3")
        self_test = run_self_test_trials(args.self_test_trials, workdir, args.seed)
    print(
        f"kill -9 trials: {stats.trials}, failures: {len(stats.failures)}, killed mid-answer: "
        f"{stats.killed_generating}, killed early (start/load): {stats.killed_before_first_answer}, "
        f"messages checked: {stats.messages_checked}, canvases checked: {stats.canvases_checked}, "
        f"messages at the end: {len(final)}, {time.monotonic() - started:.0f} s"
    )
    print(
        f"--self-test kill trials: {self_test.trials}, failures: {len(self_test.failures)}, killed mid-answer: "
        f"{self_test.killed_generating}, finished before the kill: {self_test.finished_before_kill}"
    )
    for failure in stats.failures + self_test.failures:
        print("FAIL", failure)
    return 1 if stats.failures or self_test.failures else 0


if __name__ == "__main__":
    sys.exit(main())
