"""engine.hardware: the GPU table, discovery with injected NVML readings (several GPUs, torch's view of them,
every way to end in CPU mode), selection, CLI. The advice per card (fit, profiles, estimates, badges, invariants)
is in test_hardware_advice.py."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pynvml
import pytest

from engine.hardware import (
    Selection,
    discover,
    evaluate_gpu,
    find_gpus,
    load_selection,
    load_table,
    match_nvml_name,
    recommended,
    report_json,
    save_selection,
)
from engine.hardware.__main__ import main as cli_main
from engine.hardware.discovery import CPU_ONLY_TORCH, TorchCuda
from engine.hardware.fake import CPU_ONLY_TORCH_BUILD, FakeGpu, FakeNvml, torch_seeing
from engine.load_profiles.load import PROFILES as LOADER_PROFILES
from tests.engine.hardware_cards import (
    BF16,
    DEMO,
    H100,
    HOST_RAM,
    RTX_4090,
    RTX_PRO_6000,
    detect,
    rec,
)

REPO = Path(__file__).resolve().parents[2]

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
