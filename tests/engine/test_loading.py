"""Loading: a saved folder loads; each broken folder gives an `EngineError` that names the problem and the fix."""

from __future__ import annotations

import json
import shutil

import pytest

from engine import EngineModel, ModelLoadError, PromptTooLongError, SamplerSettings
from engine.tiny import save_tiny_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-model", canvas_length=32)


def copy_of(saved, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(saved, target)
    return target


def test_folder_loads_on_cpu_in_float32_with_tokenizer_and_chat_template(saved):
    em = EngineModel.from_pretrained(saved)
    assert em.device.type == "cpu" and em.profile == "cpu"
    assert next(em.model.parameters()).dtype.is_floating_point
    ids = em.chat_ids([{"role": "user", "content": "hi"}])
    assert ids.shape[0] == 1 and ids.shape[1] > 2
    text = em.tokenizer.decode(ids[0].tolist())
    assert "<|turn>user\nhi<turn|>" in text and text.endswith("<|turn>model\n")
    assert em.name == "tiny-model" and em.canvas_length == 32
    assert em.eos_token_ids == [1, 5]


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        EngineModel.from_pretrained(tmp_path / "nowhere")


def test_hub_id_not_in_cache_says_download_first():
    with pytest.raises(ModelLoadError, match="not downloaded.*engine.models pull"):
        EngineModel.from_pretrained("google/diffusiongemma-26B-A4B-it")


def test_wrong_model_type(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "llama"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="llama model, not DiffusionGemma"):
        EngineModel.from_pretrained(folder)


def test_corrupt_config(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json is not valid JSON"):
        EngineModel.from_pretrained(folder)


def test_weights_missing(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="has no weights"):
        EngineModel.from_pretrained(folder)


def test_truncated_weights(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated.*resume or re-download"):
        EngineModel.from_pretrained(folder)


def test_corrupt_weights_header(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ModelLoadError, match="corrupt"):
        EngineModel.from_pretrained(folder)


def test_shard_named_in_index_missing(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="model-00002-of-00002.safetensors is missing"):
        EngineModel.from_pretrained(folder)


def test_tokenizer_missing(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        EngineModel.from_pretrained(folder)


def test_cuda_requested_without_cuda(saved):
    with pytest.raises(ModelLoadError, match="CUDA was requested but is not usable"):
        EngineModel.from_pretrained(saved, device="cuda")


def test_prompt_longer_than_context(saved):
    em = EngineModel.from_pretrained(saved)
    from engine import generate

    long_prompt = em.chat_ids([{"role": "user", "content": "x" * (em.context_length + 10)}])
    with pytest.raises(PromptTooLongError, match="context holds"):
        next(generate(em, long_prompt, SamplerSettings(max_new_tokens=32, max_denoising_steps=2, seed=0)))


def test_offload_profile_says_it_is_not_loadable_yet(saved):
    with pytest.raises(ModelLoadError, match="CPU-offload profile is not loadable yet"):
        EngineModel.from_pretrained(saved, profile="offload")


def test_unknown_profile_lists_the_choices(saved):
    with pytest.raises(ModelLoadError, match="choose bf16, fp16, fp32 or cpu"):
        EngineModel.from_pretrained(saved, profile="int3")
