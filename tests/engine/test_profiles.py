"""Load profiles on the CPU: int8 / fp8 (quantized while loading), offload (a hand-written split with part on
disk) — bytes after loading, encoder/decoder still tied, logits against bf16, generation through the engine."""

from __future__ import annotations

import pytest
import torch

from engine import EngineModel, SamplerSettings, generate
from engine.load_profiles.memory import load_figures
from engine.load_profiles.offload import DECODER_LAYERS, ENCODER_LAYERS, offload_device_map
from engine.load_profiles.quality import compare_logits, decoder_logits, probe_inputs
from engine.load_profiles.quantize import count_bytes, estimate_bytes, quantize_in_memory, untied_layers
from engine.paths import demo_model_dir
from engine.tiny import save_tiny_model

# Thresholds per profile. The demo model (trained) meets the 0.99; the tiny model's random-init weights
# (std 0.02, 128-wide rows) give near-flat logits where FP8's 3-bit mantissa shows: measured 0.973-0.979 there.
COSINE = {("demo", "int8"): 0.99, ("demo", "fp8"): 0.99, ("tiny", "int8"): 0.985, ("tiny", "fp8"): 0.95}
EIGHT_BIT_RATIO = 0.55


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("profiles") / "tiny", hidden_size=128, canvas_length=64)


@pytest.fixture(scope="module")
def folders(tiny_dir):
    return {"tiny": tiny_dir, "demo": demo_model_dir()}


@pytest.fixture(scope="module")
def references(folders):
    """bf16 logits of each model on fixed inputs."""
    refs = {}
    for name, folder in folders.items():
        em = EngineModel.from_pretrained(folder, device="cpu", profile="bf16")
        prompt, canvas = probe_inputs(em.vocab_size, em.canvas_length)
        refs[name] = (prompt, canvas, decoder_logits(em.model, prompt, canvas), count_bytes(em.model))
    return refs


@pytest.mark.parametrize("model", ["tiny", "demo"])
@pytest.mark.parametrize("profile", ["int8", "fp8"])
def test_8_bit_profiles_halve_the_quantized_parts_keep_ties_and_track_bf16(folders, references, model, profile):
    em = EngineModel.from_pretrained(folders[model], device="cpu", profile=profile)
    assert em.profile == profile and em.device.type == "cpu"
    prompt, canvas, reference, bf16 = references[model]
    count = count_bytes(em.model)
    assert count.quantized_tensors > 0
    assert count.quantizable_bf16_bytes == bf16.quantizable_bytes
    assert count.quantizable_bytes <= EIGHT_BIT_RATIO * bf16.quantizable_bytes, count.as_json()
    assert count.total_bytes < 0.6 * bf16.total_bytes
    layers = em.model.model.encoder.language_model.layers
    experts = layers[0].experts.gate_up_proj
    assert type(experts).__name__ in ("Int8Tensor", "Float8Tensor"), "the 3-D experts are quantized too"
    assert experts is em.model.model.decoder.layers[0].experts.gate_up_proj
    assert untied_layers(em.model) == []
    assert type(layers[0].router.proj.weight) in (torch.Tensor, torch.nn.Parameter), "routers stay bf16"
    agreement = compare_logits(reference, decoder_logits(em.model, prompt, canvas))
    assert agreement.logits_cosine >= COSINE[(model, profile)], agreement
    assert agreement.greedy_agreement >= 0.95, agreement
    assert estimate_bytes(em.model.config, profile) == count, "the meta-device formula is the measured count"


@pytest.mark.parametrize("profile", ["int8", "fp8"])
def test_quantized_tiny_generates_through_the_engine(folders, profile):
    em = EngineModel.from_pretrained(folders["tiny"], device="cpu", profile=profile)
    settings = SamplerSettings(max_new_tokens=64, max_denoising_steps=3, seed=0)
    events = list(generate(em, em.chat_ids([{"role": "user", "content": "hi"}]), settings))
    assert events[-1].reason in ("eos", "length") and len(events[-1].token_ids) > 0
    assert any(type(e).__name__ == "Frame" for e in events)


def test_offload_splits_by_hand_with_layer_i_of_encoder_and_decoder_together(folders, references):
    em = EngineModel.from_pretrained(folders["demo"], device="cpu", profile="offload")
    placement = em.model.hf_device_map
    layers = em.model.config.text_config.num_hidden_layers
    for i in range(layers):
        assert placement[f"{ENCODER_LAYERS}.{i}"] == placement[f"{DECODER_LAYERS}.{i}"]
    assert {placement[f"{ENCODER_LAYERS}.{i}"] for i in range(layers)} == {"cpu", "disk"}
    offloaded = em.model.model.encoder.language_model.layers[layers - 1].experts.gate_up_proj
    assert offloaded.device.type == "meta" and em._offload_dir is not None
    prompt, canvas, reference, _ = references["demo"]
    agreement = compare_logits(reference, decoder_logits(em.model, prompt, canvas))
    assert agreement.logits_cosine > 0.99999 and agreement.greedy_agreement == 1.0
    settings = SamplerSettings(max_new_tokens=32, max_denoising_steps=2, seed=0)
    assert list(generate(em, em.chat_ids([{"role": "user", "content": "hi"}]), settings))[-1].token_ids


def test_offload_map_is_complete_and_never_auto():
    device_map = offload_device_map(30, 12, "cuda:0", "cpu")
    assert set(device_map.values()) == {"cuda:0", "cpu"} and "auto" not in device_map.values()
    assert device_map["lm_head"] == "cuda:0" and device_map["model.encoder.vision_tower"] == "cpu"
    assert [device_map[f"{ENCODER_LAYERS}.{i}"] for i in (0, 11, 12, 29)] == ["cuda:0", "cuda:0", "cpu", "cpu"]
    with pytest.raises(ValueError):
        offload_device_map(30, 31, "cuda:0", "cpu")


def test_in_memory_quantization_matches_the_load_time_one(folders):
    from transformers import DiffusionGemmaForBlockDiffusion

    model = DiffusionGemmaForBlockDiffusion.from_pretrained(str(folders["tiny"]), dtype=torch.bfloat16).eval()
    loaded = EngineModel.from_pretrained(folders["tiny"], device="cpu", profile="int8")
    quantize_in_memory(model, "int8")
    assert count_bytes(model) == count_bytes(loaded.model) and untied_layers(model) == []


def test_shipped_figures_match_a_fresh_measurement_of_the_demo(references):
    figures = load_figures()
    assert figures["demo"]["profiles"]["bf16"]["total_bytes"] == references["demo"][3].total_bytes
    release = figures["diffusiongemma-26b-a4b"]
    assert release["confirmed_on_gpu"] is False
    for profile in ("fp8", "int8"):
        assert release["profiles"][profile]["quantizable_ratio"] <= EIGHT_BIT_RATIO
        assert figures["demo"]["profiles"][profile]["logits_cosine"] >= 0.99
