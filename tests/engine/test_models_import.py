"""Importing model folders (copy or link, validated) and the catalogue data file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from engine.models import (  # noqa: E402
    ImportValidationError,
    delete_model,
    find_entry,
    find_local,
    import_folder,
    load_catalogue,
    model_path,
    validate_folder,
)
from tests.fixtures.hub_server import tiny_repo_files, write_repo  # noqa: E402


@pytest.fixture
def model_folder(tmp_path):
    return write_repo(tiny_repo_files(), tmp_path / "my-tiny-model")


def test_copy_import_is_ready_and_independent(model_folder):
    model = import_folder(model_folder, mode="copy")
    assert model.id == "local/my-tiny-model" and model.status == "ready"
    assert not model.path.is_symlink()
    assert model_path(model.id) == model.path
    size = sum(p.stat().st_size for p in model_folder.iterdir())
    assert delete_model(model.id) == size
    assert model_folder.exists() and find_local(model.id) is None


def test_link_import_points_at_the_folder_and_delete_keeps_it(model_folder):
    model = import_folder(model_folder, mode="link")
    assert model.path.is_symlink() and model.path.resolve() == model_folder.resolve()
    assert find_local(model.id).status == "ready"
    assert delete_model(model.id) == 0
    assert (model_folder / "config.json").exists()


def test_same_name_gets_a_new_suffix(model_folder):
    first = import_folder(model_folder, mode="link")
    second = import_folder(model_folder, mode="link")
    assert first.id != second.id


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda d: (d / "model-00002-of-00003.safetensors").unlink(), "model-00002-of-00003.safetensors: missing"),
        (lambda d: (d / "tokenizer.json").unlink(), "tokenizer"),
        (lambda d: (d / "config.json").write_text(json.dumps({"model_type": "llama"})), "model_type is 'llama'"),
        (lambda d: (d / "config.json").unlink(), "config.json"),
        (
            lambda d: (d / "model-00001-of-00003.safetensors").write_bytes(
                (d / "model-00001-of-00003.safetensors").read_bytes()[:5000]
            ),
            "not a complete safetensors file",
        ),
    ],
)
def test_invalid_folders_are_refused_with_the_reason(model_folder, damage, expected):
    damage(model_folder)
    assert any(expected in problem for problem in validate_folder(model_folder))
    with pytest.raises(ImportValidationError) as info:
        import_folder(model_folder, mode="copy")
    assert expected in str(info.value)
    assert find_local("local/my-tiny-model") is None


def test_catalogue_schema_and_lookup():
    entries = load_catalogue()
    ids = [e.id for e in entries]
    assert "google/diffusiongemma-26B-A4B-it" in ids and "diffusion-desk/demo" in ids
    for entry in entries:
        assert entry.status in ("verified", "not yet supported")
        assert entry.supported or entry.reason
        assert entry.memory_gb and entry.licence
        assert entry.embedded or entry.repo_id
    gated = find_entry("GOOGLE/diffusiongemma-26b-a4b-it")
    assert gated is not None and gated.gated and gated.licence_url.startswith("https://huggingface.co/")
