"""Class 1 of issue 11: model ids and local names from the command line or the Models page never delete or write
outside the app's folders; `remove` deletes only what `list` shows unless --force, and never leaves its roots.

Each test builds a real portable home (chats database, an imported model, other tools' repos in the cache, a
folder outside everything), runs the real CLI (`main()` in-process, or a subprocess for the exit code and the
one-line message), and compares every file under tmp_path before and after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import paths
from engine.models import (
    ForceRequiredError,
    InvalidNameError,
    ModelId,
    UnsafePathError,
    delete_model,
    import_folder,
    inside,
    list_local_models,
    local_name,
    parse_model_id,
    store,
)
from engine.models.__main__ import main
from tests.fixtures.hub_server import tiny_repo_files, write_repo
from tests.reliability.fs_tree import tree

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "c" * 40


def foreign_repo(name: str, files: dict[str, bytes]) -> Path:
    """Another HF tool's repo in the shared cache: blobs, a snapshot of links and refs/main."""
    repo = store.cache_root() / ("models--" + name.replace("/", "--"))
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for i, (fname, data) in enumerate(files.items()):
        blob = repo / "blobs" / (f"{i:x}" * 40)[:40]
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snap), snap / fname)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return repo


@pytest.fixture
def world(tmp_path):
    """A home with chats, an imported model, a llama repo and a gguf-only repo in the cache, and an outside folder."""
    paths.chats_db_path().write_bytes(b"SQLite format 3\x00 -- the user's chats")
    import_folder(write_repo(tiny_repo_files(), tmp_path / "src" / "keep"), mode="copy")
    foreign_repo("other-org/llama-thing", {"config.json": json.dumps({"model_type": "llama"}).encode(),
                                           "model.safetensors": b"llama weights"})
    foreign_repo("someone/gguf-only", {"model.gguf": b"GGUF weights"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("do not touch")
    return tmp_path


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


BAD_IDS = [
    "../..",
    "..",
    "local/..",
    "local/../data",
    "local/../../desk-home",
    "local/",
    "local/.",
    "local//",
    "local/.keep.importing",
    "local/keep/../..",
    "local/..\\..\\data",
    "local/a\\..\\..",
    "local/x\x00y",
    "local/x\ny",
    "local/\x1b[31mred",
    "local/C:x",
    "local/CON",
    "local/" + "a" * 200,
    "org/name/../..",
    "org/../../data",
    "/etc",
    "C:\\Windows",
    "\\\\host\\share",
    "ｌocal/keep",
    "оther-org/llama-thing",  # Cyrillic о
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_remove_with_a_crafted_id_deletes_nothing(world, capsys, bad, force):
    before = tree(world)
    code, out, err = run(["remove", bad, *(["--force"] if force else [])], capsys)
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line and "\x1b" not in line and "\x00" not in line
    assert line.startswith("error: ") and ("not a valid local model name" in line or "not a model id" in line)
    assert "org/name" in line or "one folder name" in line  # says what a valid name looks like
    assert tree(world) == before


def test_remove_an_absolute_path_of_the_data_folder_deletes_nothing(world, capsys):
    before = tree(world)
    for bad in (str(paths.data_dir()), "local/" + str(paths.data_dir()), str(store.imported_root())):
        code, _, err = run(["remove", bad, "--force"], capsys)
        assert code == 2 and "error:" in err
    assert tree(world) == before and paths.chats_db_path().exists()


def test_verify_and_pull_refuse_crafted_ids_before_any_io(world, capsys):
    before = tree(world)
    for argv in (["verify", "local/../data"], ["pull", "../../x"], ["pull", "local/keep"],
                 ["pull", "org/name", "--revision", "../../../../chats.sqlite3"],
                 ["pull", "org/name", "--revision", "/etc/passwd"], ["pull", "org/name", "--revision", "a/../../b"]):
        code, _, err = run(argv, capsys)
        assert code == 2, argv
        assert "valid" in err or "not a model id" in err or "only hub repos" in err
    assert tree(world) == before


@pytest.mark.parametrize("name", ["../escaped", "../../data/evil", "/tmp/abs-import", "a/b", ".hidden", "..", "",
                                  "CON", "nul.txt", "x\ny", "a" * 200, "tab\tname", "back\\slash", "C:evil"])
def test_import_name_outside_imported_writes_nothing(world, capsys, name):
    before = tree(world)
    code, _, err = run(["import", str(world / "src" / "keep"), "--name", name], capsys)
    assert code == 2 and "not a valid local model name" in err and "one folder name" in err
    assert tree(world) == before
    assert not Path("/tmp/abs-import").exists()


def test_remove_of_another_tools_repo_needs_force_and_says_what_it_is(world, capsys):
    code, out, _ = run(["list", "--json"], capsys)
    listed = [m["id"] for m in json.loads(out)["local"]]
    assert listed == ["local/keep"]  # the llama and gguf repos are not shown
    before = tree(world)
    code, _, err = run(["remove", "other-org/llama-thing"], capsys)
    assert code == 1 and "'llama' model" in err and "--force" in err and "other tools" in err
    code, _, err = run(["remove", "someone/gguf-only"], capsys)
    assert code == 1 and "without a DiffusionGemma config" in err and "--force" in err
    assert tree(world) == before

    code, out, _ = run(["remove", "other-org/llama-thing", "--force", "--json"], capsys)
    assert code == 0 and json.loads(out)["freed_bytes"] == len(b"llama weights") + len(
        json.dumps({"model_type": "llama"}))
    after = tree(world)
    gone = {k for k in before if k not in after}
    assert gone and all(k.startswith("desk-home/data/models/models--other-org--llama-thing") for k in gone)
    assert (store.cache_root() / "models--someone--gguf-only").is_dir()


def test_listed_models_are_removed_without_force(world, capsys):
    code, out, _ = run(["remove", "local/keep", "--json"], capsys)
    assert code == 0 and json.loads(out)["freed_bytes"] > 0
    assert not (store.imported_root() / "keep").exists()
    assert paths.chats_db_path().exists() and (world / "outside" / "precious.txt").exists()
    code, _, err = run(["remove", "local/keep"], capsys)
    assert code == 4 and "not an imported model" in err


def test_force_removes_a_linked_repo_folder_but_not_what_it_points_at(world):
    target = world / "outside"
    link = store.cache_root() / "models--linked--elsewhere"
    os.symlink(target, link, target_is_directory=True)
    with pytest.raises(ForceRequiredError):
        delete_model("linked/elsewhere")
    assert delete_model("linked/elsewhere", force=True) == 0
    assert not link.is_symlink() and (target / "precious.txt").read_text() == "do not touch"


def test_linked_import_removal_keeps_the_users_folder(world):
    model = import_folder(world / "src" / "keep", mode="link", name="linked-keep")
    assert delete_model(model.id) == 0
    assert (world / "src" / "keep" / "config.json").is_file()


def test_a_link_planted_in_imported_is_unlinked_not_followed(world, tmp_path):
    evil = store.imported_root() / "escape"
    os.symlink(tmp_path / "outside", evil)  # as if someone planted a link; remove unlinks it, never follows
    assert [m.id for m in list_local_models()].count("local/escape") == 1
    assert delete_model("local/escape") == 0
    assert (tmp_path / "outside" / "precious.txt").exists()


def test_inside_refuses_escapes_and_the_root_itself(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    os.symlink(tmp_path, root / "out")
    assert inside(root, root / "sub" / "file") == root / "sub" / "file"
    for bad in (root, root / "..", root / "sub" / ".." / "..", root / "out" / "x", Path("/etc/passwd")):
        with pytest.raises(UnsafePathError) as info:
            inside(root, bad)
        assert "nothing was written or deleted" in str(info.value)
    assert inside(root, root / "out", follow_last=False) == root / "out"  # the link itself is inside
    with pytest.raises(UnsafePathError):
        inside(root, root / "out" / "x", follow_last=False)


def test_model_id_type():
    assert str(ModelId.parse("google/diffusiongemma-26B-A4B-it")) == "google/diffusiongemma-26B-A4B-it"
    assert ModelId.parse("org/name").cache_folder == "models--org--name"
    assert ModelId.parse("gpt2") == ModelId(None, "gpt2")
    local = parse_model_id("local/my_model.v2")
    assert local.is_local and local.name == "my_model.v2" and local.file_stem == "local--my_model.v2"
    with pytest.raises(InvalidNameError):
        local.cache_folder  # noqa: B018 - an imported model has no cache folder
    with pytest.raises(InvalidNameError) as info:
        parse_model_id("local/x", hub=True)
    assert "only hub repos can be pulled" in str(info.value)
    assert ModelId.from_cache_folder("models--a--..") is None and ModelId.from_cache_folder("datasets--a--b") is None
    assert ModelId.from_cache_folder("models--org--name") == ModelId("org", "name")
    for bad in ("org/na--me", "org/name.git", "-org/name", "org/name-", "a" * 97, 7, None):
        with pytest.raises(InvalidNameError):
            parse_model_id(bad)
    assert local_name("Model_1.5-b") == "Model_1.5-b"
    assert isinstance(InvalidNameError("x"), ValueError)


def test_models_page_refuses_a_crafted_repo_id(qtbot):
    from PySide6.QtWidgets import QPushButton

    from app.models.models_page import ModelManagerPage

    page = ModelManagerPage(catalogue=[])
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.listing_changed, timeout=60_000):
        pass
    for bad in ("../../data", "local/../data", "<b>org</b>/x", "org/name/../.."):
        page.repo_input.setText(bad)
        page.findChild(QPushButton, "repoDownloadButton").click()
        assert "not a " in page.message.text() and "org/name" in page.message.text()
        assert page.row(bad) is None
    assert page.message.textFormat().name == "PlainText"
    page.shutdown()


def test_cli_subprocess_prints_one_line_and_exit_2(world):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = tree(world)
    out = subprocess.run([sys.executable, "-m", "engine.models", "remove", "local/../data"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "local/../data" in out.stderr
    assert tree(world) == before
