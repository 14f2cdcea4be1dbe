"""engine.hardware: discovery with injected NVML readings, fit and profile advice, invariants, selection, CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pynvml
import pytest

from engine.hardware import (
    HardwareReport,
    Selection,
    catalogue_models,
    discover,
    estimate_tok_s,
    evaluate_gpu,
    find_gpus,
    fit_badge,
    fit_badge_text,
    gpu_from_spec,
    gpu_json,
    load_selection,
    load_table,
    match_nvml_name,
    recommended,
    record_measurement,
    report_json,
    save_selection,
)
from engine.hardware.__main__ import main as cli_main
from engine.hardware.discovery import CPU_ONLY_TORCH, GIB, TorchCuda
from engine.hardware.fake import CPU_ONLY_TORCH_BUILD, FakeGpu, FakeNvml, torch_seeing
from engine.hardware.profiles import gpu_profiles, kv_cache_gb, load_catalogue
from engine.load_profiles.load import PROFILES as LOADER_PROFILES
from engine.load_profiles.memory import load_figures

REPO = Path(__file__).resolve().parents[2]
BF16 = "google/diffusiongemma-26B-A4B-it"
NVFP4 = "nvidia/diffusiongemma-26B-A4B-it-NVFP4"
FP8 = "RedHatAI/diffusiongemma-26B-A4B-it-FP8-dynamic"
DEMO = "diffusion-desk/demo"
HOST_RAM = 64.0

# Every row of shared GPUS.md, as written there.
GPUS_MD_ROWS = [
    "RTX 5090", "RTX 5080", "RTX 5070 Ti", "RTX 5070", "RTX 5060 Ti",
    "RTX 4090", "RTX 4080 / 4080 Super", "RTX 4070 Ti Super", "RTX 4070 / 4070 Super", "RTX 4060 Ti",
    "RTX 3090 / 3090 Ti", "RTX 3080", "RTX 3060",
    "RTX PRO 6000 Blackwell", "RTX PRO 5000 Blackwell", "RTX PRO 4500 Blackwell", "RTX PRO 4000 Blackwell",
    "RTX 6000 Ada", "RTX 5000 Ada", "RTX 4500 Ada", "RTX 4000 Ada",
    "RTX A6000", "RTX A5000", "RTX A4000",
    "GB10 Grace Blackwell",
    "H100 SXM / PCIe", "H200", "A100", "L40S", "L4",
]  # fmt: skip

RTX_4090 = FakeGpu("NVIDIA GeForce RTX 4090", 23.99, (8, 9))
RTX_5090 = FakeGpu("NVIDIA GeForce RTX 5090", 31.84, (12, 0))
RTX_PRO_6000 = FakeGpu("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 95.59, (12, 0))
GB10 = FakeGpu("NVIDIA GB10", None, (12, 1))
H100 = FakeGpu("NVIDIA H100 80GB HBM3", 79.65, (9, 0))


def detect(*gpus: FakeGpu, ram: float | None = HOST_RAM, torch: TorchCuda | None = None) -> HardwareReport:
    """Discovery over fake NVML readings, a torch that sees them all (unless given) and `ram` GiB of RAM."""
    nvml = FakeNvml([copy.copy(g) for g in gpus])
    return discover(nvml, torch_probe=lambda: torch or torch_seeing(nvml), system_memory=lambda: ram)


def rec(recs, model, profile):
    return next(r for r in recs if r.model == model and r.profile == profile)


def all_verified() -> list[dict]:
    """The catalogue as if every entry had been load-tested, so the CC gates are what decides."""
    return [{**entry, "status": "verified"} for entry in copy.deepcopy(catalogue_models())]


# --- the table ---------------------------------------------------------------------------------------------


def test_table_covers_every_gpus_md_row():
    assert {spec.row for spec in load_table()} == set(GPUS_MD_ROWS)
    for spec in load_table():
        assert spec.memory_gb > 0 and spec.bandwidth_gbs > 0 and spec.compute_capability >= (8, 0)
        assert all(name.startswith("NVIDIA ") for name in spec.nvml_names), spec.name


@pytest.mark.parametrize(
    ("nvml_name", "memory", "expected"),
    [
        ("NVIDIA GeForce RTX 4090", 23.99, "GeForce RTX 4090"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 95.6, "RTX PRO 6000 Blackwell"),
        ("NVIDIA GB10", None, "DGX Spark (GB10)"),
        ("NVIDIA H100 80GB HBM3", 79.6, "H100 SXM"),
        ("NVIDIA H100 PCIe", 79.6, "H100 PCIe"),
        ("NVIDIA GeForce RTX 4060 Ti", 15.7, "GeForce RTX 4060 Ti 16GB"),
        ("NVIDIA GeForce RTX 4060 Ti", 7.6, "GeForce RTX 4060 Ti 8GB"),
        ("NVIDIA RTX 6000 Ada Generation", 47.9, "RTX 6000 Ada"),
        ("NVIDIA A100-SXM4-80GB", 79.2, "A100 80GB"),
    ],
)
def test_nvml_names_match_the_table(nvml_name, memory, expected):
    assert match_nvml_name(nvml_name, memory).name == expected


def test_unknown_nvml_name_has_no_table_entry():
    assert match_nvml_name("NVIDIA Tesla T4", 15.0) is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("GeForce RTX 4090", ["GeForce RTX 4090"]),
        ("geforce rtx 4090", ["GeForce RTX 4090"]),
        ("rtx pro 6000", ["RTX PRO 6000 Blackwell"]),
        ("GB10", ["DGX Spark (GB10)"]),
        ("DGX Spark", ["DGX Spark (GB10)"]),
        ("rtx 4080", ["GeForce RTX 4080"]),
        ("4080 super", ["GeForce RTX 4080 Super"]),
        ("RTX 6000", ["RTX 6000 Ada"]),
        ("H100", ["H100 SXM", "H100 PCIe"]),
        ("RTX 4060 Ti", ["GeForce RTX 4060 Ti 8GB", "GeForce RTX 4060 Ti 16GB"]),
        ("rtx 9090", []),
        ("rtx", []),
    ],
)
def test_find_gpus_by_partial_case_insensitive_name(query, expected):
    assert [spec.name for spec in find_gpus(query)] == expected


# --- discovery with injected NVML readings --------------------------------------------------------------------


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


def test_two_different_gpus_at_once():
    report = detect(RTX_4090, RTX_PRO_6000)
    assert [g.name for g in report.gpus] == [RTX_4090.name, RTX_PRO_6000.name]
    assert [g.index for g in report.gpus] == [0, 1] and [g.torch_index for g in report.gpus] == [0, 1]
    assert [recommended(evaluate_gpu(g), BF16).profile for g in report.gpus] == ["offload", "bf16"]
    data = report_json(report)
    assert [g["family"] for g in data["gpus"]] == ["GeForce RTX 40 (Ada)", "RTX PRO (Blackwell)"]


def test_torch_device_order_is_matched_by_uuid():
    nvml = FakeNvml([copy.copy(RTX_4090), copy.copy(RTX_PRO_6000)])
    seen = torch_seeing(nvml)
    reversed_torch = TorchCuda(
        cuda_version="13.0",
        available=True,
        device_names=seen.device_names[::-1],
        device_uuids=seen.device_uuids[::-1],
        device_ccs=seen.device_ccs[::-1],
    )
    report = discover(nvml, torch_probe=lambda: reversed_torch, system_memory=lambda: HOST_RAM)
    assert [g.torch_index for g in report.gpus] == [1, 0]
    assert Selection(gpu_index=0, profile="offload", torch_index=1).device == "cuda:1"


def test_gpu_hidden_from_torch_is_listed_as_unusable():
    nvml = FakeNvml([copy.copy(RTX_4090), copy.copy(H100)])
    seen = torch_seeing(nvml)
    only_h100 = TorchCuda(cuda_version="13.0", available=True, device_names=seen.device_names[1:],
                          device_uuids=seen.device_uuids[1:], device_ccs=seen.device_ccs[1:])  # fmt: skip
    report = discover(nvml, torch_probe=lambda: only_h100, system_memory=lambda: HOST_RAM)
    assert [g.name for g in report.gpus] == [H100.name]
    assert [g.name for g in report.unusable_gpus] == [RTX_4090.name]
    assert report.cpu_mode is None and "CUDA_VISIBLE_DEVICES" in report.warnings[0]


def test_nvml_init_failure_is_cpu_mode_with_a_reason():
    report = discover(FakeNvml(init_error=12), torch_probe=pytest.fail)
    assert report.gpus == () and report.cpu_mode == "NVIDIA driver not found (NVML could not load)"
    report = discover(FakeNvml(init_error=9), torch_probe=pytest.fail)
    assert "not loaded" in report.cpu_mode


def test_real_pynvml_error_is_understood():
    class BrokenNvml:
        def nvmlInit(self):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    report = discover(BrokenNvml(), torch_probe=pytest.fail)
    assert report.cpu_mode == "NVIDIA driver not found (NVML could not load)"


def test_real_nvml_fallback_on_this_machine():
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        report = discover()
        assert report.gpus == () and report.cpu_mode
        assert report_json(report)["cpu_recommendation"]["model"] == DEMO
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVIDIA driver; the fallback is covered by the injected failures")


def test_no_gpu_is_cpu_mode():
    report = discover(FakeNvml([]), torch_probe=pytest.fail)
    assert report.gpus == () and "No NVIDIA GPU" in report.cpu_mode
    assert report_json(report)["gpus"] == []


def test_cpu_only_torch_build_is_cpu_mode_but_shows_the_gpu():
    report = detect(RTX_4090, torch=CPU_ONLY_TORCH_BUILD)
    assert report.gpus == () and report.cpu_mode == CPU_ONLY_TORCH
    assert [g.name for g in report.unusable_gpus] == [RTX_4090.name]
    data = report_json(report)
    assert data["gpus"] == [] and data["cpu_recommendation"]["profile"] == "cpu"
    assert data["unusable_gpus"][0]["family"] == "GeForce RTX 40 (Ada)"


def test_torch_that_cannot_reach_the_driver_is_cpu_mode():
    report = detect(RTX_4090, torch=TorchCuda(cuda_version="13.0", available=False))
    assert report.gpus == () and "cannot use the GPU" in report.cpu_mode


def test_unknown_gpu_uses_nvml_numbers():
    (gpu,) = detect(FakeGpu("NVIDIA Tesla T4", 15.0, (7, 5))).gpus
    assert gpu.family == "other" and gpu.spec is None
    assert gpu.memory_total_gb == pytest.approx(15.0) and gpu.compute_capability == (7, 5)
    assert gpu.supports == {"bf16": False, "fp8": False, "fp4": False}
    recs = evaluate_gpu(gpu)
    assert recommended(recs, BF16) is None and recommended(recs, DEMO) is None
    assert rec(recs, DEMO, "bf16").estimated_tok_s is None


def test_unlisted_geforce_gets_its_generation():
    (gpu,) = detect(FakeGpu("NVIDIA GeForce RTX 5060", 7.6, (12, 0))).gpus
    assert gpu.family == "GeForce RTX 50 (Blackwell)" and gpu.bandwidth_gbs is None


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


# --- selection ------------------------------------------------------------------------------------------------


def test_selection_is_persisted(portable_home):
    assert load_selection() is None
    chosen = Selection(gpu_index=1, profile="bf16", gpu_name=RTX_PRO_6000.name, torch_index=0, model=BF16)
    path = save_selection(chosen)
    assert path.parent == portable_home / "config"
    assert load_selection() == chosen and chosen.device == "cuda:0"
    assert Selection(gpu_index=None, profile="cpu").device == "cpu"
    path.write_text("{not json", encoding="utf-8")
    assert load_selection() is None


# --- CLI --------------------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.hardware", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_cli_json_on_this_machine():
    result = run_cli("--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data["gpus"], list)
    if not data["gpus"]:
        assert data["cpu_mode"] and data["cpu_recommendation"]["model"] == DEMO
    for gpu in data["gpus"]:
        assert {"name", "family", "memory_gb", "unified_memory", "compute_capability", "supports"} <= set(gpu)


def test_cli_named_gpu_subprocess_json_and_text():
    result = run_cli("--gpu", "GeForce RTX 4090", "--json")
    assert result.returncode == 0, result.stderr
    (gpu,) = json.loads(result.stdout)["gpus"]
    assert (gpu["name"], gpu["family"], gpu["memory_gb"], gpu["compute_capability"]) == (
        "GeForce RTX 4090", "GeForce RTX 40 (Ada)", 24.0, "8.9",
    )  # fmt: skip
    assert gpu["supports"] == {"bf16": True, "fp8": True, "fp4": False}
    for r in gpu["recommendations"]:
        assert {"model", "profile", "fits", "memory_needed_gb", "estimated_tok_s"} <= set(r)
    text = run_cli("--gpu", "GeForce RTX 4090")
    assert text.returncode == 0 and "recommended" in text.stdout and "estimate" in text.stdout


def test_cli_unknown_gpu_fails_with_close_matches():
    result = run_cli("--gpu", "RTX 9090")
    assert result.returncode != 0 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "RTX 5090" in result.stderr


@pytest.mark.parametrize("query", GPUS_MD_ROWS + [spec.name for spec in load_table()])
def test_cli_every_table_row(query, capsys):
    assert cli_main(["--gpu", query, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gpus"], query
    names = {spec.name for spec in load_table() if spec.row == query or spec.name == query}
    assert {g["name"] for g in data["gpus"]} <= names
    for gpu in data["gpus"]:
        assert gpu["memory_gb"] > 0 and gpu["recommendations"]
        assert any(r["recommended"] for r in gpu["recommendations"] if r["model"] == DEMO)


def test_torch_without_matching_uuids_falls_back_to_device_order():
    nvml = FakeNvml([copy.copy(RTX_4090), copy.copy(H100)])
    odd = TorchCuda(cuda_version="13.0", available=True, device_names=("a", "b"), device_uuids=("?", "?"))
    report = discover(nvml, torch_probe=lambda: odd, system_memory=lambda: HOST_RAM)
    assert report.cpu_mode is None and [g.torch_index for g in report.gpus] == [0, 1]


@pytest.mark.parametrize(
    "query, profile",
    [("GeForce RTX 4090", "offload"), ("RTX 5090", "fp8"), ("RTX PRO 4500", "fp8"), ("DGX Spark", "bf16")],
)
def test_named_cards_recommend_a_profile_the_loader_accepts(query, profile, capsys):
    assert cli_main(["--gpu", query, "--json"]) == 0
    (gpu,) = json.loads(capsys.readouterr().out)["gpus"]
    (best,) = [r for r in gpu["recommendations"] if r["model"] == BF16 and r["recommended"]]
    assert best["profile"] == profile and best["profile"] in LOADER_PROFILES and best["fits"]
    assert best["memory_source"] == "computed from parameter shapes" and best["confirmed_on_gpu"] is False
    assert best["memory_needed_gb"] <= best["memory_available_gb"]
    nvfp4 = [r for r in gpu["recommendations"] if r["profile"] == "nvfp4"]
    assert nvfp4 and all(not r["fits"] and "vLLM server" in r["reason"] for r in nvfp4)
