"""Class 2 of issue 11: a hostile or broken hub mirror (`HF_ENDPOINT`) cannot make a pull write outside the cache.

The real local hub server answers with crafted file names, sha256 values, git blob ids, commit ids, ETags and
X-Repo-Commit headers. Each name is aimed at the user's chats database (`<data>/chats.sqlite3`, four or five
levels above the snapshot) or at a folder outside the home; every test checks those are untouched and that the
message names the hub and the bad value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import paths
from engine.models import HubAnswerError, find_local, list_local_models, pull, store, verify_model
from tests.fixtures.hub_server import HubRepo, HubServer, make_hub, tiny_repo_files
from tests.reliability.fs_tree import tree

ROOT = Path(__file__).resolve().parents[2]
REPO = "evil-org/diffusiongemma-tiny"
COMMIT = "e" * 40
SHARD = "model-00002-of-00003.safetensors"
FAST = {"base_delay": 0.01, "chunk_size": 16 * 1024, "retries": 0}
CHATS = b"SQLite format 3\x00 -- the user's chats"


@pytest.fixture
def guarded(tmp_path):
    """The user's chats and a folder outside the home; returns a function that checks both are untouched."""
    paths.chats_db_path().write_bytes(CHATS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("do not touch")
    before = tree(outside)

    def untouched() -> None:
        data = paths.data_dir()
        assert paths.chats_db_path().read_bytes() == CHATS and not paths.chats_db_path().is_symlink()
        assert tree(outside) == before
        strays = [p for p in data.iterdir() if p.name not in ("chats.sqlite3", "models", "model-manifests")]
        assert strays == []
        assert not list(Path(tmp_path).glob("*.incomplete")) and not list(data.glob("*.incomplete"))

    return untouched


@pytest.fixture
def hostile(monkeypatch):
    """Start a hub serving `HubRepo`s the test builds; `HF_ENDPOINT` points at it."""
    servers: list[HubServer] = []

    def start(repo: HubRepo) -> HubServer:
        server = HubServer({REPO: repo}).start()
        servers.append(server)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        return server

    yield start
    for server in servers:
        server.stop()


def with_extra(name: str, data: bytes = b"payload") -> dict[str, bytes]:
    return {**tiny_repo_files(), name: data}


BAD_NAMES = [
    "../../../../chats.sqlite3",  # snapshots/<commit>/ -> <data>/chats.sqlite3
    "../../../../chats.sqlite3.safetensors",
    "../x.safetensors",
    "a/../../../../../chats.sqlite3",
    "/etc/evil",
    "/tmp/evil-from-hub",
    "C:\\evil.safetensors",
    "C:evil",
    "\\\\attacker\\share\\x",
    "dir\\..\\..\\x",
    "a//b",
    "./config.json",
    "a/./b",
    "trailing/",
    "line\nbreak",
    "nul\x00byte",
]


def _entry(path: str) -> tuple | None:
    """What is at `path` without following a link (a dangling link counts): (inode, mtime), or None."""
    try:
        found = os.lstat(path)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_file_name_is_refused_before_anything_is_written(hostile, guarded, name):
    absolute = ("/etc/evil", "/tmp/evil-from-hub")
    before = {path: _entry(path) for path in absolute}
    server = hostile(HubRepo(with_extra(name), COMMIT))
    with pytest.raises(HubAnswerError) as info:
        pull(REPO, **FAST)
    message = str(info.value)
    assert f"The hub at {server.url} answered" in message and "nothing was written" in message
    assert "invalid file name" in message and "HF_ENDPOINT" in message
    assert "\n" not in message and "\x00" not in message
    guarded()
    assert not store.repo_dir(REPO).exists()
    assert not [e for e in server.log if "/resolve/" in e.path]
    assert {path: _entry(path) for path in absolute} == before  # nothing made or replaced there, links included


@pytest.mark.parametrize(
    "field, name, value, expected",
    [
        ("fake_sha256", SHARD, "../../../chats.sqlite3", "invalid sha256"),  # blobs/ -> <data>/chats.sqlite3
        ("fake_sha256", SHARD, "/etc/passwd", "invalid sha256"),
        ("fake_sha256", SHARD, "Z" * 64, "invalid sha256"),
        ("fake_sha256", SHARD, "ab" * 31, "invalid sha256"),
        ("fake_sha256", SHARD, "", "invalid sha256"),
        ("fake_blob_id", "config.json", "../../../chats.sqlite3", "invalid git blob id"),
        ("fake_blob_id", "config.json", "g" * 40, "invalid git blob id"),
    ],
    ids=["sha-traversal", "sha-absolute", "sha-non-hex", "sha-short", "sha-empty", "oid-traversal", "oid-non-hex"],
)
def test_invalid_hash_is_refused(hostile, guarded, field, name, value, expected):
    repo = HubRepo(dict(tiny_repo_files()), COMMIT)
    getattr(repo, field)[name] = value
    server = hostile(repo)
    with pytest.raises(HubAnswerError) as info:
        pull(REPO, **FAST)
    assert expected in str(info.value) and server.url in str(info.value) and "nothing was written" in str(info.value)
    guarded()
    assert not store.repo_dir(REPO).exists()


@pytest.mark.parametrize("commit", ["../../refs", "../../../../chats.sqlite3", "", "main", "E" * 40, "e" * 39,
                                    "e" * 40 + "/..", "e" * 64])
def test_invalid_commit_id_is_refused(hostile, guarded, commit):
    server = hostile(HubRepo(dict(tiny_repo_files()), commit))
    with pytest.raises(HubAnswerError) as info:
        pull(REPO, **FAST)
    assert "invalid commit id" in str(info.value) and server.url in str(info.value)
    guarded()
    assert not store.repo_dir(REPO).exists()


def test_a_file_that_is_also_a_folder_is_refused(hostile, guarded):
    hostile(HubRepo({**tiny_repo_files(), "sub": b"x", "sub/inner.json": b"{}"}, COMMIT))
    with pytest.raises(HubAnswerError) as info:
        pull(REPO, **FAST)
    assert "'sub' as both a file and a folder" in str(info.value)
    guarded()


@pytest.mark.parametrize("etag", ["../../../chats.sqlite3", "a/b", ".hidden", "x" * 300])
def test_invalid_etag_on_a_file_stops_the_download(hostile, guarded, etag):
    repo = HubRepo(dict(tiny_repo_files()), COMMIT)
    repo.fake_etag[SHARD] = etag
    server = hostile(repo)
    with pytest.raises(HubAnswerError) as info:
        pull(REPO, **FAST)
    message = str(info.value)
    assert "invalid ETag" in message and SHARD in message and server.url in message
    guarded()
    assert not [e for e in server.gets(SHARD) if e.method == "GET"]  # the shard's bytes were never asked for
    assert find_local(REPO).status == "partial"


def test_invalid_commit_header_on_a_file_stops_the_download(hostile, guarded):
    repo = HubRepo(dict(tiny_repo_files()), COMMIT)
    repo.fake_commit_header = "../../../../chats.sqlite3"
    hostile(repo)
    with pytest.raises(HubAnswerError) as info:
        pull(REPO, **FAST)
    assert "invalid X-Repo-Commit" in str(info.value)
    guarded()


def test_a_planted_ref_pointing_outside_is_ignored(guarded, tmp_path):
    """A `refs/main` written by another tool (or by hand) that names a path is not followed."""
    repo = store.cache_root() / "models--some--repo"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("../../../../outside")
    (repo / "snapshots").mkdir()
    assert store.read_commit("some/repo") is None
    assert [m.id for m in list_local_models()] == []
    guarded()


def test_a_tampered_manifest_is_not_trusted(guarded, monkeypatch):
    server = make_hub()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        result = pull("tiny-org/diffusiongemma-tiny", base_delay=0.01, chunk_size=16 * 1024)
        manifest = store.manifest_path("tiny-org/diffusiongemma-tiny")
        raw = json.loads(manifest.read_text())
        raw["files"].append({"path": "../../../../chats.sqlite3", "size": 1, "sha256": None, "blob_id": "0" * 40})
        manifest.write_text(json.dumps(raw))
        assert store.load_manifest("tiny-org/diffusiongemma-tiny") is None
        report = verify_model("tiny-org/diffusiongemma-tiny")  # falls back to the hub's answer, checked
        assert report.ok and "../../../../chats.sqlite3" not in report.checked and result.path.is_dir()
    finally:
        server.stop()
    guarded()


def test_cli_says_it_in_one_line(hostile, guarded):
    server = hostile(HubRepo(with_extra("../../../../chats.sqlite3"), COMMIT))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "engine.models", "pull", REPO], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: The hub at " + server.url) and "'../../../../chats.sqlite3'" in last
    guarded()
