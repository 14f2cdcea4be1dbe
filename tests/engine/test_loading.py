"""Loading: a saved folder loads; each broken folder gives an `EngineError` that names the problem and the fix."""

from __future__ import annotations

import json
import shutil

import pytest

from engine import EngineModel, ModelLoadError, PromptTooLongError, SamplerSettings
from engine.errors import ProfileError, ProfileMemoryError
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


def test_unknown_profile_lists_the_choices(saved):
    with pytest.raises(ModelLoadError, match="choose one of bf16, fp8, int8, int4, offload, cpu"):
        EngineModel.from_pretrained(saved, profile="int3")


def test_int4_is_refused_with_what_was_found(saved):
    with pytest.raises(ProfileError, match="int4 is not loadable.*3-D experts.*24 GB card use 'offload'"):
        EngineModel.from_pretrained(saved, profile="int4")


def test_fp16_on_the_cpu_is_refused_with_a_choice(saved):
    with pytest.raises(ProfileError, match="choose cpu"):
        EngineModel.from_pretrained(saved, device="cpu", profile="fp16")


def test_a_profile_that_does_not_fit_names_profile_card_memory_and_a_profile_that_fits(saved, monkeypatch):
    from engine.load_profiles import load as profiles_load
    from engine.load_profiles.quantize import estimate_bytes

    config = EngineModel.from_pretrained(saved).model.config
    bf16 = estimate_bytes(config, "bf16").total_bytes
    int8 = estimate_bytes(config, "int8").total_bytes
    monkeypatch.setattr(profiles_load, "free_bytes", lambda device: (bf16 + int8) // 2)
    with pytest.raises(ProfileMemoryError) as caught:
        EngineModel.from_pretrained(saved, device="cpu", profile="bf16")
    error = caught.value
    assert error.profile == "bf16" and error.device_name == "the CPU" and error.suggestion == "fp8"
    assert error.needed_gb > error.free_gb
    message = str(error)
    assert "bf16 profile needs about" in message and "on the CPU" in message and "Choose the fp8 profile" in message
    monkeypatch.setattr(profiles_load, "free_bytes", lambda device: 10)
    with pytest.raises(ProfileMemoryError, match="No profile fits here"):
        EngineModel.from_pretrained(saved, device="cpu", profile="int8")


def test_load_reports_progress_files_bytes_and_quantized_tensors(saved):
    events = []
    em = EngineModel.from_pretrained(saved, device="cpu", profile="int8", on_progress=events.append)
    stages = [e.stage for e in events]
    assert stages[0] == "check" and stages[-1] == "done" and "tokenizer" in stages
    weights = [e for e in events if e.stage == "weights"]
    assert weights[0].unit == "bytes" and weights[0].total == (saved / "model.safetensors").stat().st_size
    assert weights[-1].fraction == 1.0
    quantized = [e for e in events if e.stage == "quantize"]
    assert [e.done for e in quantized] == list(range(1, len(quantized) + 1)) and quantized[-1].fraction == 1.0
    assert "layer 2/2" in quantized[-1].message and em.profile == "int8"


def test_a_progress_callback_that_raises_does_not_stop_the_load(saved):
    def broken(event):
        raise RuntimeError("display gone")

    assert EngineModel.from_pretrained(saved, on_progress=broken).profile == "cpu"


def test_engine_run_passes_the_profile_and_prints_load_progress_on_stderr():
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--model", "tiny", "--profile", "int8", "--prompt", "hi",
         "--max-new-tokens", "16", "--steps", "2", "--seed", "0", "--json"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["profile"] == "int8" and record["device"] == "cpu"
    assert "loading: quantizing to int8: tensor 1/" in result.stderr and "loaded (int8)" in result.stderr
