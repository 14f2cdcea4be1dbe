"""Pulls against the local hub server: full pull, resume, retries, auth, not found, sha mismatch, disk, offline."""

from __future__ import annotations

import re
import shutil
import sys
import threading
from collections import namedtuple
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from engine.models import (  # noqa: E402
    AuthRequiredError,
    ChecksumError,
    DiskSpaceError,
    DownloadCancelled,
    ModelNotFoundError,
    ModelNotReadyError,
    delete_model,
    find_local,
    list_local_models,
    model_path,
    pull,
    store,  # noqa: E402
    verify_model,
)
from tests.fixtures import hub_server as hubfix  # noqa: E402
from tests.fixtures.hub_server import GATED_REPO, TINY_REPO  # noqa: E402

hub_server = hubfix.hub_server
SHARD = "model-00002-of-00003.safetensors"
FAST = {"base_delay": 0.01, "chunk_size": 16 * 1024}


def range_start(header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match.group(1)) if match else 0


def test_full_pull_is_ready_and_loads(hub_server):
    seen = []
    result = pull(TINY_REPO, on_progress=seen.append, **FAST)
    files = hub_server.repos[TINY_REPO].files
    assert result.downloaded_bytes == sum(len(b) for b in files.values())
    for name, data in files.items():
        assert (result.path / name).read_bytes() == data
    assert {"checking", "downloading", "done"} <= {p.phase for p in seen}
    assert seen[-1].done == seen[-1].total
    assert any(p.filename == SHARD for p in seen)
    assert find_local(TINY_REPO).status == "ready"
    assert model_path(TINY_REPO) == result.path
    assert str(store.cache_root()).startswith(str(Path(result.path).parents[3]))

    from engine import EngineModel, SamplerSettings, generate

    em = EngineModel.from_pretrained(TINY_REPO)  # the hub id resolves to the verified snapshot, offline
    assert em.path == result.path and em.model.config.model_type == "diffusion_gemma"
    ids = em.tokenizer("hi", return_tensors="pt")["input_ids"]  # the fixture's tokenizer has no chat template
    done = list(generate(em, ids, SamplerSettings(max_new_tokens=8, max_denoising_steps=2, seed=0)))[-1]
    assert done.reason in {"eos", "length"} and len(done.token_ids) <= 8


def test_second_pull_fetches_nothing(hub_server):
    pull(TINY_REPO, **FAST)
    before = len([e for e in hub_server.log if e.method == "GET" and "/resolve/" in e.path])
    result = pull(TINY_REPO, **FAST)
    after = len([e for e in hub_server.log if e.method == "GET" and "/resolve/" in e.path])
    assert after == before and result.downloaded_bytes == 0


def test_resume_after_cut_connection_does_not_refetch(hub_server):
    hub_server.cut_after(SHARD, 100_000)
    pull(TINY_REPO, **FAST)
    first, second = hub_server.gets(SHARD)
    size = len(hub_server.repos[TINY_REPO].files[SHARD])
    assert first.sent == 100_000
    start = range_start(second.range)
    # The client keeps whole chunks only: what it resumes from is what it had written to disk.
    assert 100_000 - FAST["chunk_size"] < start <= 100_000
    assert second.status == 206 and second.sent == size - start


def test_resume_after_cancel_and_restart(hub_server):
    # Deterministic on a busy machine: every chunk is reported (progress_interval=0), the cancel is set from the
    # report of the shard's 7th chunk, and the hub holds the shard at byte 150,000 until then, so the cancel always
    # lands mid-shard whatever the scheduling.
    cancel = threading.Event()
    hold = hub_server.hold_after(SHARD, 150_000)

    def progress(p):
        if p.phase == "downloading" and p.filename == SHARD and p.file_done >= 100_000 and not cancel.is_set():
            cancel.set()
            hold.release()

    with pytest.raises(DownloadCancelled):
        pull(TINY_REPO, cancel=cancel, on_progress=progress, progress_interval=0, **FAST)
    assert cancel.is_set() and hold.reached.is_set()
    etag = hub_server.repos[TINY_REPO].etag(SHARD)
    partial = store.partial_path(TINY_REPO, etag)
    kept = partial.stat().st_size
    assert 100_000 <= kept < 150_000
    assert not store.blob_path(TINY_REPO, etag).exists()
    assert find_local(TINY_REPO).status == "partial"
    with pytest.raises(ModelNotReadyError):
        model_path(TINY_REPO)

    pull(TINY_REPO, **FAST)
    last = hub_server.gets(SHARD)[-1]
    size = len(hub_server.repos[TINY_REPO].files[SHARD])
    assert range_start(last.range) == kept
    assert last.status == 206 and last.sent == size - kept
    assert find_local(TINY_REPO).status == "ready"


def test_retry_after_500(hub_server):
    hub_server.fail(SHARD, 500, method="GET")
    hub_server.fail("/api/models/", 503)
    result = pull(TINY_REPO, **FAST)
    statuses = [e.status for e in hub_server.gets(SHARD)]
    assert statuses[0] == 500 and statuses[-1] in (200, 206)
    assert find_local(TINY_REPO).status == "ready" and result.path.is_dir()


def test_gated_repo_names_licence_page_and_token(hub_server, monkeypatch):
    with pytest.raises(AuthRequiredError) as info:
        pull(GATED_REPO, **FAST)
    message = str(info.value)
    assert f"https://huggingface.co/{GATED_REPO}" in message and "token" in message.lower()
    assert "refused access" in message and "did not find" not in message
    assert not list(store.cache_root().glob("models--*"))

    token = hub_server.repos[GATED_REPO].token
    with pytest.raises(AuthRequiredError) as wrong:
        pull(GATED_REPO, token="hf_wrong_token_value", **FAST)
    assert "hf_wrong_token_value" not in str(wrong.value)
    result = pull(GATED_REPO, token=token, **FAST)
    assert find_local(GATED_REPO).status == "ready" and result.path.is_dir()


def test_hf_token_env_is_honoured(hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_server.repos[GATED_REPO].token)
    assert pull(GATED_REPO, **FAST).path.is_dir()


def test_unknown_repo_is_a_clear_not_found(hub_server):
    with pytest.raises(ModelNotFoundError) as info:
        pull("tiny-org/does-not-exist", **FAST)
    assert "tiny-org/does-not-exist" in str(info.value) and "not found" in str(info.value)


def test_unknown_repo_answered_401_mentions_both_causes(hub_server):
    hub_server.missing_status = 401
    with pytest.raises(AuthRequiredError) as info:
        pull("tiny-org/does-not-exist", **FAST)
    assert "did not find" in str(info.value) and "https://huggingface.co/tiny-org/does-not-exist" in str(info.value)


def test_sha_mismatch_is_refused_and_reported_by_verify(hub_server):
    hub_server.repos[TINY_REPO].corrupt.add(SHARD)
    with pytest.raises(ChecksumError) as info:
        pull(TINY_REPO, **FAST)
    assert info.value.path == SHARD and SHARD in str(info.value)
    assert find_local(TINY_REPO).status == "corrupt"
    with pytest.raises(ModelNotReadyError):
        model_path(TINY_REPO)
    report = verify_model(TINY_REPO)
    assert not report.ok
    assert [p.split(":")[0] for p in report.problems] == [SHARD]
    assert "sha256 mismatch" in report.problems[0]

    hub_server.repos[TINY_REPO].corrupt.clear()
    pull(TINY_REPO, **FAST)
    assert verify_model(TINY_REPO).ok and find_local(TINY_REPO).status == "ready"


def test_verify_names_a_file_changed_on_disk(hub_server):
    result = pull(TINY_REPO, **FAST)
    blob = (result.path / SHARD).resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    assert find_local(TINY_REPO).status == "unverified"
    with pytest.raises(ModelNotReadyError):
        model_path(TINY_REPO)
    report = verify_model(TINY_REPO)
    assert report.problems and report.problems[0].startswith(SHARD)


def test_disk_full_is_refused_before_any_byte(hub_server):
    Usage = namedtuple("Usage", "total used free")

    with pytest.raises(DiskSpaceError) as info:
        pull(TINY_REPO, disk_usage=lambda path: Usage(10**9, 10**9 - 1000, 1000), **FAST)
    assert "disk space" in str(info.value) and "GB" in str(info.value)
    assert not [e for e in hub_server.log if "/resolve/" in e.path]
    assert not store.repo_dir(TINY_REPO).exists()


def test_offline_finds_cached_model(hub_server, monkeypatch):
    pull(TINY_REPO, **FAST)
    hub_server.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert [m.id for m in list_local_models() if m.status == "ready"] == [TINY_REPO]
    assert pull(TINY_REPO).path == model_path(TINY_REPO)
    store.manifest_path(TINY_REPO).unlink()
    assert find_local(TINY_REPO).status == "unverified"
    assert verify_model(TINY_REPO).ok
    assert find_local(TINY_REPO).status == "ready"


def test_shared_hf_cache_is_used_without_portable_home(hub_server, monkeypatch, tmp_path):
    monkeypatch.delenv("DIFFUSION_DESK_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    result = pull(TINY_REPO, **FAST)
    assert result.path.is_relative_to(tmp_path / "hf-cache")


def test_delete_reports_freed_space(hub_server):
    result = pull(TINY_REPO, **FAST)
    size = sum(len(b) for b in hub_server.repos[TINY_REPO].files.values())
    assert delete_model(TINY_REPO) == size
    assert not result.path.exists() and find_local(TINY_REPO) is None
    with pytest.raises(ModelNotReadyError):
        delete_model(TINY_REPO)
    shutil.rmtree(store.cache_root(), ignore_errors=True)
