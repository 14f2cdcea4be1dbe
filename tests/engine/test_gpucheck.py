"""`python -m engine.gpucheck`: one JSON object on the CPU with the tiny model, within --minutes, failures as fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def gpucheck(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.gpucheck", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_tiny_on_the_cpu_reports_every_profile_as_one_json_object():
    result = gpucheck("--model", "tiny", "--profiles", "bf16,int8,offload,int4", "--minutes", "3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["device"] == "cpu" and report["scaled_down"] and report["within_minutes"]
    assert report["steps"] == [16, 48] and report["versions"]["torchao"]
    rows = {row["profile"]: row for row in report["profiles"]}
    assert list(rows) == ["bf16", "int8", "offload", "int4"]
    for name in ("bf16", "int8", "offload"):
        row = rows[name]
        assert row["status"] == "ok" and row["load_seconds"] >= 0 and row["weights_gb"] > 0
        for steps in ("16", "48"):
            timed = row["eager"][steps]
            assert timed["status"] in ("ok", "skipped"), timed
            if timed["status"] == "ok":
                assert timed["tok_s"] > 0 and timed["tokens"] == report["new_tokens"]
    assert rows["bf16"]["agreement_with_bf16"] == {"reference": True}
    assert rows["int8"]["agreement_with_bf16"]["logits_cosine"] > 0.95
    assert rows["int8"]["quantizable_ratio"] <= 0.55
    assert rows["offload"]["agreement_with_bf16"]["logits_cosine"] > 0.99999
    assert rows["int4"]["status"] == "failed" and "3-D experts" in rows["int4"]["reason"]
    assert "compiled" not in rows["bf16"], "on the CPU the compiled path is timed only with --compiled on"


def test_a_short_budget_is_kept_by_skipping_what_does_not_fit():
    result = gpucheck("--model", "tiny", "--profiles", "bf16,fp8", "--minutes", "0.05", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    statuses = [row.get("status") for row in report["profiles"]]
    timed = [t for row in report["profiles"] for t in row.get("eager", {}).values()]
    assert "skipped" in statuses or any(t["status"] == "skipped" for t in timed)
    assert report["elapsed_s"] < 60


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profiles", "bf16,int3"], "unknown 'int3'"),
        (["--minutes", "0"], "--minutes must be more than 0"),
        (["--model", "diffusiongemma-26b-a4b-random", "--device", "cpu"], "needs a CUDA GPU"),
    ],
)
def test_bad_arguments_are_one_error_line(args, message):
    result = gpucheck(*args, "--json", timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
