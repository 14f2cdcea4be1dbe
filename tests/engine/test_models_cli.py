"""◆ `python -m engine.models ...` against the local hub: progress, --json, exit codes, kill -9 and resume."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from engine.models import store  # noqa: E402
from tests.fixtures import hub_server as hubfix  # noqa: E402
from tests.fixtures.hub_server import GATED_REPO, TINY_REPO, tiny_repo_files, write_repo  # noqa: E402

hub_server = hubfix.hub_server
SHARD = "model-00002-of-00003.safetensors"


def cli_env(server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")}
    env.update(HF_ENDPOINT=server.url, DIFFUSION_DESK_CHUNK_BYTES="16384", PYTHONPATH=str(ROOT))
    return env


def run_cli(server, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.models", *args], cwd=ROOT, env=env or cli_env(server),
                          capture_output=True, text=True, timeout=300)


def test_pull_shows_progress_and_prints_json(hub_server):
    out = run_cli(hub_server, "pull", TINY_REPO, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "ready" and Path(result["path"]).is_dir()
    assert re.search(r"\[#+ *\] +100\.0%", out.stderr)
    listing = json.loads(run_cli(hub_server, "list", "--json").stdout)
    assert [m["status"] for m in listing["local"] if m["id"] == TINY_REPO] == ["ready"]
    assert any(row["id"] == "google/diffusiongemma-26B-A4B-it" for row in listing["catalogue"])
    verify = run_cli(hub_server, "verify", TINY_REPO, "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"]
    removed = run_cli(hub_server, "remove", TINY_REPO, "--json")
    assert json.loads(removed.stdout)["freed_bytes"] == sum(len(b) for b in tiny_repo_files().values())


def test_pull_killed_mid_download_resumes_on_restart(hub_server):
    hold = hub_server.hold_after(SHARD, 100_000)  # the shard cannot finish before the kill, however slow the box
    partial = store.partial_path(TINY_REPO, hub_server.repos[TINY_REPO].etag(SHARD))
    proc = subprocess.Popen([sys.executable, "-m", "engine.models", "pull", TINY_REPO], cwd=ROOT,
                            env=cli_env(hub_server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (partial.exists() and partial.stat().st_size >= 64 * 1024):
            assert proc.poll() is None, "the pull ended before it could be killed"
            assert time.monotonic() < deadline, "the download never reached the second shard"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
        hold.release()
    kept = partial.stat().st_size
    assert 64 * 1024 <= kept < 100_000

    out = run_cli(hub_server, "pull", TINY_REPO, "--json")
    assert out.returncode == 0, out.stderr
    last = hub_server.gets(SHARD)[-1]
    assert last.range == f"bytes={kept}-" and last.sent == len(tiny_repo_files()[SHARD]) - kept
    assert json.loads(out.stdout)["status"] == "ready" and not partial.exists()


def test_failures_exit_non_zero_with_one_line(hub_server, tmp_path):
    missing = run_cli(hub_server, "pull", "tiny-org/nope")
    assert missing.returncode == 4
    reason = missing.stderr.strip().splitlines()[-1]
    assert reason.startswith("error: ") and "not found" in reason

    gated = run_cli(hub_server, "pull", GATED_REPO)
    assert gated.returncode == 3 and f"https://huggingface.co/{GATED_REPO}" in gated.stderr
    env = cli_env(hub_server) | {"HF_TOKEN": hub_server.repos[GATED_REPO].token}
    assert run_cli(hub_server, "pull", GATED_REPO, env=env).returncode == 0

    hub_server.repos[TINY_REPO].corrupt.add(SHARD)
    bad = run_cli(hub_server, "pull", TINY_REPO)
    assert bad.returncode == 6 and SHARD in bad.stderr.splitlines()[-1]
    verify = run_cli(hub_server, "verify", TINY_REPO)
    assert verify.returncode == 6 and SHARD in verify.stderr and "sha256" in verify.stderr

    folder = write_repo(tiny_repo_files(), tmp_path / "imp")
    (folder / "tokenizer.json").unlink()
    refused = run_cli(hub_server, "import", str(folder))
    assert refused.returncode != 0 and "tokenizer" in refused.stderr


def test_import_and_offline_list(hub_server, tmp_path):
    folder = write_repo(tiny_repo_files(), tmp_path / "mine")
    out = run_cli(hub_server, "import", str(folder), "--link", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["id"] == "local/mine"
    env = cli_env(hub_server) | {"HF_HUB_OFFLINE": "1"}
    listing = json.loads(run_cli(hub_server, "list", "--json", env=env).stdout)
    assert [(m["id"], m["status"]) for m in listing["local"]] == [("local/mine", "ready")]
