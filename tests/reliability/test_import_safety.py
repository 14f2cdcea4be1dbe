"""Class 3 of issue 11: importing a folder never follows links out of it or around it, is capped in size, and
is atomic — an interrupted import leaves nothing that `list` shows, and the next list or import cleans it up.

Real folders in tmp_path (links, loops, fifos, sparse files), the real CLI in a subprocess, and a real import
process killed with SIGKILL halfway through its copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.models import (
    ImportTooLargeError,
    ImportValidationError,
    find_local,
    import_folder,
    list_local_models,
    model_path,
    store,
)
from engine.models.importing import DEFAULT_MAX_BYTES, MAX_BYTES_ENV
from tests.fixtures.hub_server import tiny_repo_files, write_repo

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = "tokenizer.json"


@pytest.fixture
def model(tmp_path):
    return write_repo(tiny_repo_files(), tmp_path / "my-model")


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("private")
    return folder


def imported_entries() -> list[str]:
    root = store.imported_root()
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def refused(folder: Path, mode: str = "copy", **kwargs) -> str:
    with pytest.raises(ImportValidationError) as info:
        import_folder(folder, mode=mode, **kwargs)
    assert imported_entries() == [] and find_local("local/my-model") is None
    return str(info.value)


@pytest.mark.parametrize("mode", ["copy", "link"])
def test_symlink_loop_to_the_folder_itself_is_refused(model, mode):
    os.symlink(".", model / "loop")
    message = refused(model, mode)
    assert "'loop'" in message and "links to folders are not followed" in message and "nothing was imported" in message


def test_nested_loop_and_link_to_a_parent_are_refused(model):
    (model / "extra" / "deeper").mkdir(parents=True)
    os.symlink("../..", model / "extra" / "deeper" / "up")
    message = refused(model)
    assert "'extra/deeper/up'" in message and "links to folders" in message


def test_file_links_that_loop_are_refused(model):
    os.symlink("b.json", model / "a.json")
    os.symlink("a.json", model / "b.json")
    assert "broken or looping link" in refused(model)


def test_broken_link_is_refused(model):
    os.symlink("does-not-exist", model / "dangling.json")
    assert "'dangling.json' is a broken or looping link" in refused(model)


@pytest.mark.parametrize("mode", ["copy", "link"])
def test_link_to_a_file_outside_the_folder_is_refused(model, outside, mode):
    os.symlink(outside / "secret.txt", model / "notes.txt")
    message = refused(model, mode)
    assert "'notes.txt'" in message and "outside the folder being imported" in message
    assert (outside / "secret.txt").read_text() == "private"


def test_weights_linked_from_outside_are_refused(model, outside):
    shard = "model-00001-of-00003.safetensors"
    (model / shard).rename(outside / shard)
    os.symlink(outside / shard, model / shard)
    assert "outside the folder being imported" in refused(model)


def test_link_to_a_file_inside_is_copied_as_a_file(model):
    (model / "files").mkdir()
    (model / TOKENIZER).rename(model / "files" / TOKENIZER)
    os.symlink(f"files/{TOKENIZER}", model / TOKENIZER)
    imported = import_folder(model, mode="copy")
    copy = imported.path / TOKENIZER
    assert imported.status == "ready" and not copy.is_symlink()
    assert copy.read_bytes() == (model / "files" / TOKENIZER).read_bytes()


def test_a_hub_cache_snapshot_with_links_into_its_blobs_is_imported(tmp_path):
    repo = tmp_path / "other-cache" / "models--org--tiny"
    snap, blobs = repo / "snapshots" / ("f" * 40), repo / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir()
    for i, (name, data) in enumerate(tiny_repo_files().items()):
        (blobs / f"blob{i}").write_bytes(data)
        os.symlink(f"../../blobs/blob{i}", snap / name)
    imported = import_folder(snap, mode="copy", name="from-snapshot")
    assert imported.status == "ready" and model_path("local/from-snapshot") == imported.path
    assert not any(p.is_symlink() for p in imported.path.iterdir())


def test_fifo_is_refused_without_blocking(model):
    os.mkfifo(model / "pipe")
    assert "'pipe' is not a regular file" in refused(model)


def test_a_file_name_that_is_not_portable_is_refused(model):
    (model / "weird\\name.txt").write_text("x")
    assert "not portable" in refused(model)


def test_a_huge_sparse_file_is_refused_by_the_default_cap_before_any_copy(model):
    with open(model / "huge.bin", "wb") as f:
        f.truncate(DEFAULT_MAX_BYTES + 1)  # sparse: takes no disk space, but the copy would take 200 GB
    with pytest.raises(ImportTooLargeError) as info:
        import_folder(model, mode="copy")
    message = str(info.value)
    assert "200.0 GB" in message and "size cap" in message and MAX_BYTES_ENV in message and "--link" in message
    assert imported_entries() == []


def test_link_mode_is_not_capped(model, monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, "1000")
    with open(model / "huge.bin", "wb") as f:
        f.truncate(10**12)
    assert import_folder(model, mode="link").status == "ready"


def test_the_cap_can_be_set_small_and_the_cli_says_so(model, monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, "100000")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "engine.models", "import", str(model)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "100.0 KB, the import size cap" in line and MAX_BYTES_ENV in line
    assert imported_entries() == []


def test_a_file_growing_past_the_cap_during_the_copy_leaves_nothing(model, monkeypatch):
    from engine.models import importing

    size = sum(len(b) for b in tiny_repo_files().values())
    real_copy = importing._copy

    def grow_then_copy(plan, temp, max_bytes):
        with open(model / TOKENIZER, "ab") as f:  # the folder changes after it was measured
            f.write(b"\0" * 200_000)
        return real_copy(plan, temp, max_bytes)

    monkeypatch.setattr(importing, "_copy", grow_then_copy)
    with pytest.raises(ImportTooLargeError):
        import_folder(model, mode="copy", max_bytes=size + 100_000)
    assert imported_entries() == []


DRIVER = """
import sys, threading
from pathlib import Path
from engine.models import importing

real_copy = importing._copy

def copy_then_stall(plan, temp, max_bytes):
    first = plan.files[:1]
    real_copy(importing.ImportPlan(plan.source, plan.folders, first, 0), temp, max_bytes)
    Path(sys.argv[2]).write_text("copied one file")
    threading.Event().wait()  # killed here, halfway through

importing._copy = copy_then_stall
importing.import_folder(sys.argv[1], mode="copy")
"""


def test_an_interrupted_import_is_never_listed_and_is_cleaned_next_time(model, tmp_path):
    marker = tmp_path / "halfway"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(model), str(marker)], cwd=ROOT, env=env)
    temp = store.imported_root() / ".my-model.importing"
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the import ended before it could be interrupted"
            assert time.monotonic() < deadline, "the import never started copying"
            time.sleep(0.05)
        assert any(temp.iterdir())
        # While it runs: not listed, and its folder is left alone (the import holds its lock).
        assert [m.id for m in list_local_models()] == [] and temp.is_dir()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert temp.is_dir()  # what a crash leaves behind
    assert [m.id for m in list_local_models()] == []  # never shown, and this listing cleans it
    assert imported_entries() == []
    assert import_folder(model, mode="copy").id == "local/my-model"
    assert imported_entries() == ["my-model"]


def test_a_leftover_from_an_older_run_is_cleaned_by_import(model):
    leftover = store.imported_root() / ".old-model.importing"
    leftover.mkdir(parents=True)
    (leftover / "config.json").write_text("{}")
    imported = import_folder(model, mode="copy")
    assert imported_entries() == ["my-model"] and imported.status == "ready"
