"""engine.hardware's advice per card: the family and precisions read from injected NVML readings, the load profile
that fits and is recommended (or why not), memory and speed estimates, fit badges, and invariants over every table
card × catalogue model × profile. Discovery itself, the table, selection and the CLI are in test_hardware.py."""

from __future__ import annotations

import json

import pytest

from engine.hardware import (
    HardwareReport,
    catalogue_models,
    estimate_tok_s,
    evaluate_gpu,
    find_gpus,
    fit_badge,
    fit_badge_text,
    gpu_from_spec,
    gpu_json,
    load_table,
    recommended,
    record_measurement,
    report_json,
)
from engine.hardware.discovery import GIB
from engine.hardware.fake import FakeGpu
from engine.hardware.profiles import gpu_profiles, kv_cache_gb, load_catalogue
from engine.load_profiles.load import PROFILES as LOADER_PROFILES
from engine.load_profiles.memory import load_figures
from tests.engine.hardware_cards import (
    BF16,
    DEMO,
    FP8,
    GB10,
    H100,
    NVFP4,
    RTX_4090,
    RTX_5090,
    RTX_PRO_6000,
    all_verified,
    detect,
    rec,
)

# --- what each card is offered ---------------------------------------------------------------------------------


def test_rtx_4090():
    report = detect(RTX_4090)
    (gpu,) = report.gpus
    assert report.cpu_mode is None
    assert gpu.family == "GeForce RTX 40 (Ada)"
    assert gpu.supports == {"bf16": True, "fp8": True, "fp4": False}
    assert gpu.bandwidth_gbs == 1008 and gpu.torch_index == 0
    assert gpu.driver_version == "580.95.05" and gpu.cuda_version == "13.0"
    recs = evaluate_gpu(gpu)
    assert rec(recs, BF16, "bf16").colour == "red"
    best = recommended(recs, BF16)
    assert best.profile == "offload" and best.colour == "yellow" and "slow" in best.reason
    assert best.memory_needed_gb <= gpu.memory_budget_gb
    assert recommended(recs, DEMO).profile == "bf16"
    assert not rec(recs, NVFP4, "nvfp4").supported
    assert "not yet supported" in rec(recs, NVFP4, "nvfp4").reason and "vLLM server" in rec(recs, NVFP4, "nvfp4").reason
    # 8-bit of the bf16 checkpoint (≈ 26 GB of weights) does not fit 24 GB: offload is what the engine can load.
    for profile in ("fp8", "int8"):
        assert rec(recs, BF16, profile).colour == "red" and not rec(recs, BF16, profile).fits


def test_offload_needs_enough_system_ram():
    recs = evaluate_gpu(detect(RTX_4090, ram=16.0).gpus[0])
    offload = rec(recs, BF16, "offload")
    assert offload.colour == "red" and "system RAM" in offload.reason
    assert recommended(recs, BF16) is None


def test_rtx_5090():
    (gpu,) = detect(RTX_5090).gpus
    assert gpu.family == "GeForce RTX 50 (Blackwell)"
    assert gpu.supports == {"bf16": True, "fp8": True, "fp4": True}
    recs = evaluate_gpu(gpu)
    best = recommended(recs, BF16)
    assert best.profile == "fp8" and best.fits and best.memory_source == "computed from parameter shapes"
    assert not best.confirmed_on_gpu and best.as_json()["confirmed_on_gpu"] is False
    assert rec(recs, BF16, "int8").fits and "one at a time" in rec(recs, BF16, "int8").reason
    assert rec(recs, BF16, "bf16").colour == "red"


def test_ampere_24_gb_card_offers_int8_but_not_fp8():
    (gpu,) = detect(FakeGpu("NVIDIA RTX A6000", 47.99, (8, 6))).gpus
    recs = evaluate_gpu(gpu)
    assert not rec(recs, BF16, "fp8").supported and "CC 8.9" in rec(recs, BF16, "fp8").reason
    assert recommended(recs, BF16).profile == "int8"


def test_8_bit_memory_comes_from_the_figures_file():
    from engine.load_profiles.memory import load_figures

    figures = load_figures()["diffusiongemma-26b-a4b"]
    assert figures["confirmed_on_gpu"] is False
    bf16, fp8, int8 = (figures["profiles"][p]["total_bytes"] for p in ("bf16", "fp8", "int8"))
    assert 49e9 < bf16 < 53e9 and 0.5 < fp8 / bf16 < 0.55 and 0.5 < int8 / bf16 < 0.55
    (gpu,) = detect(H100).gpus
    recs = evaluate_gpu(gpu)
    assert rec(recs, BF16, "int8").memory_needed_gb - rec(recs, BF16, "fp8").memory_needed_gb == pytest.approx(
        (int8 - fp8) * 1.05 / GIB, abs=0.01
    )


def test_rtx_pro_6000_blackwell_runs_bf16():
    (gpu,) = detect(RTX_PRO_6000).gpus
    assert gpu.family == "RTX PRO (Blackwell)"
    assert gpu.supports["fp4"]
    recs = evaluate_gpu(gpu)
    best = recommended(recs, BF16)
    assert (best.profile, best.colour) == ("bf16", "green")
    fastest = [(r.model, r.profile) for r in recs if r.fastest]
    assert fastest == [(BF16, "fp8")], "FP8 of the bf16 checkpoint loads; the NVFP4 / FP8 checkpoints do not"
    assert fit_badge_text(BF16, gpu) == "fits (bf16)"


def test_rtx_pro_6000_never_offers_nvfp4_even_once_verified():
    (gpu,) = detect(RTX_PRO_6000).gpus
    recs = evaluate_gpu(gpu, models=all_verified())
    assert rec(recs, BF16, "bf16").recommended
    nvfp4 = rec(recs, NVFP4, "nvfp4")
    assert not nvfp4.supported and not nvfp4.fits and not nvfp4.fastest and "vLLM server" in nvfp4.reason
    fastest = [r for r in recs if r.fastest]
    assert len(fastest) == 1 and fastest[0].estimated_tok_s > rec(recs, BF16, "bf16").estimated_tok_s


def test_dgx_spark_gb10_budgets_unified_memory_against_system_ram():
    report = detect(GB10, ram=119.7)
    (gpu,) = report.gpus
    assert gpu.family == "DGX Spark" and gpu.unified_memory
    assert gpu.memory_total_gb is None
    assert 100 < gpu.memory_budget_gb < 119.7
    assert gpu.supports == {"bf16": True, "fp8": True, "fp4": True}
    best = recommended(evaluate_gpu(gpu), BF16)
    assert best.profile == "bf16" and best.colour == "green"
    assert rec(evaluate_gpu(gpu), BF16, "offload").supported is False
    assert gpu_json(gpu)["memory_gb"] > 100


def test_dgx_spark_is_never_zero_gb_even_without_a_ram_reading():
    (gpu,) = detect(GB10, ram=None).gpus
    assert gpu.memory_budget_gb > 64
    assert gpu_json(gpu)["memory_gb"] > 64
    assert "0 GB" not in json.dumps(report_json(HardwareReport(gpus=(gpu,))))


def test_h100():
    (gpu,) = detect(H100).gpus
    assert gpu.family == "Data center" and gpu.bandwidth_gbs == 3350
    assert gpu.supports == {"bf16": True, "fp8": True, "fp4": False}
    best = recommended(evaluate_gpu(gpu), BF16)
    assert best.profile == "bf16" and best.colour == "green" and best.estimate

# --- invariants over every table card × catalogue model × profile --------------------------------------------------


@pytest.mark.parametrize("spec", load_table(), ids=lambda s: s.name)
@pytest.mark.parametrize("verified", [False, True], ids=["catalogue", "all-verified"])
def test_invariants_for_every_table_card(spec, verified):
    gpu = gpu_from_spec(spec)
    assert gpu.memory_budget_gb > 0
    models = all_verified() if verified else catalogue_models()
    recs = evaluate_gpu(gpu, models=models)
    status = {m["id"]: m.get("status") for m in models}
    assert len(recs) == sum(len(gpu_profiles(m)) for m in models)
    for r in recs:
        if r.recommended or r.fastest or r.fits:
            assert r.supported and r.memory_needed_gb <= r.memory_available_gb, (r.model, r.profile)
        if r.profile == "fp8" and spec.compute_capability < (8, 9):
            assert not r.supported and not r.fits
        if r.profile == "nvfp4" and spec.compute_capability < (10, 0):
            assert not r.supported and not r.fits
        if status[r.model] != "verified" or r.profile == "nvfp4":
            assert not r.recommended and not r.fits, "checkpoints the loader has not loaded are never offered"
        if r.fits:
            assert r.profile in LOADER_PROFILES, "every profile offered is one EngineModel.from_pretrained accepts"
    architectures = {m["id"]: m["architecture"] for m in models}
    for arch in set(architectures.values()):
        assert sum(r.recommended for r in recs if architectures[r.model] == arch) <= 1
    if spec.unified_memory:
        assert gpu_json(gpu)["memory_gb"] > 0 and gpu.memory_budget_gb > 64


def test_memory_need_includes_kv_cache_and_canvas_buffers():
    arch = load_catalogue()["architectures"]["diffusiongemma-26b-a4b"]
    tokens = 8192 + 256
    expected = (25 * 1024 * 2 * 8 * 256 * 2 + 5 * tokens * 2 * 2 * 512 * 2) / GIB
    assert kv_cache_gb(arch, 8192) == pytest.approx(expected)
    # Sliding layers hold at most their window, so a longer context grows only the full-attention layers.
    assert kv_cache_gb(arch, 16384) - kv_cache_gb(arch, 8192) == pytest.approx(5 * 8192 * 4096 / GIB)
    (gpu,) = detect(H100).gpus
    need = rec(evaluate_gpu(gpu), BF16, "bf16").memory_needed_gb
    weights = load_figures()["diffusiongemma-26b-a4b"]["profiles"]["bf16"]["total_bytes"] / GIB
    assert weights + kv_cache_gb(arch, 8192) + 256 * 262144 * 4 * 3 / GIB < need < weights * 1.15


def test_speed_estimate_follows_the_weight_streaming_model():
    assert estimate_tok_s(50.6e9 / GIB, 1000.0, steps=16) == pytest.approx(256 / (17 * 0.0506))
    slower = estimate_tok_s(50.6e9 / GIB, 1000.0, steps=16, offloaded_gb=20.0)
    assert slower < estimate_tok_s(50.6e9 / GIB, 1000.0) / 10


def test_measured_figure_replaces_the_estimate():
    (gpu,) = detect(H100).gpus
    assert rec(evaluate_gpu(gpu), BF16, "bf16").estimate
    record_measurement("NVIDIA H100 80GB HBM3", BF16, "bf16", 412.5, steps=16)
    measured = rec(evaluate_gpu(gpu), BF16, "bf16")
    assert measured.estimated_tok_s == 412.5 and not measured.estimate
    assert measured.as_json()["estimate"] is False


def test_fit_badges():
    (small,) = detect(RTX_4090).gpus
    (big,) = detect(RTX_PRO_6000).gpus
    assert fit_badge(BF16, big).colour == "green"
    badge = fit_badge(BF16, small)
    assert badge.colour == "yellow" and "offload" in badge.text
    assert fit_badge(NVFP4, big).colour == "grey" and fit_badge_text(FP8, big) == "not yet supported"
    (tiny,) = detect(FakeGpu("NVIDIA GeForce RTX 3060", 11.8, (8, 6))).gpus
    assert fit_badge(BF16, tiny).colour == "yellow"
    assert fit_badge_text(BF16, gpu_from_spec(find_gpus("RTX 5060 Ti 8GB")[0])).startswith("too big")
    assert fit_badge_text(DEMO, None) == "runs on CPU" and fit_badge(BF16, None).colour == "red"
