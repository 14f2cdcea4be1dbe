"""Measured memory (and quality) per load profile, written to `engine/data/profile_memory.json` for engine.hardware.

`python -m engine.load_profiles.memory [--write]` loads the tiny and demo models with every profile this machine can
load, counts the bytes of parameters and buffers after loading (`quantize.count_bytes`), compares their logits
with bf16's, and computes the 26B-A4B release's bytes from its real parameter shapes on the meta device with the
same per-tensor formula (`quantize.estimate_bytes`, which equals the measured counts of the tiny and demo loads).
Figures not confirmed on a GPU are marked `"confirmed_on_gpu": false`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

FIGURES_PATH = Path(__file__).resolve().parents[1] / "data" / "profile_memory.json"
SCHEMA_VERSION = 1
RELEASE_ARCHITECTURE = "diffusiongemma-26b-a4b"
CPU_PROFILES = ("bf16", "fp8", "int8", "offload", "cpu")


def release_config() -> Any:
    """The release's config: its text stack (tiny.RELEASE_TEXT) and transformers' default Gemma 4 vision tower."""
    from transformers import DiffusionGemmaConfig

    from ..tiny import RELEASE_TEXT

    return DiffusionGemmaConfig(text_config=dict(RELEASE_TEXT), canvas_length=256)


def release_figures() -> dict[str, Any]:
    """Bytes per profile of the 26B-A4B shape, computed from its parameter shapes on the meta device."""
    from .quantize import estimate_bytes

    profiles = {}
    for profile in ("bf16", "fp8", "int8", "cpu"):
        count = estimate_bytes(release_config(), profile)
        profiles[profile] = {**count.as_json(), "gb": round(count.total_bytes / 1e9, 3)}
    profiles["offload"] = {**profiles["bf16"], "note": "bf16 bytes, split between the GPU and system RAM"}
    return {
        "method": "computed from the real parameter shapes on the meta device (quantize.estimate_bytes, the formula "
                  "that equals the measured bytes of the tiny and demo loads)",
        "confirmed_on_gpu": False,
        "vision_note": "vision tower from transformers' default Gemma 4 vision config (0.17 B parameters); the "
                       "release quotes ≈ 0.55 B, i.e. up to 0.8 GB more in bf16 (0.4 GB at 8 bits)",
        "profiles": profiles,
    }


def measure_folder(folder: Path, profiles: tuple[str, ...] = CPU_PROFILES) -> dict[str, Any]:
    """Load `folder` with each profile on the CPU: bytes after loading, seconds, and agreement with bf16."""
    import time

    from ..loading import EngineModel
    from .quality import compare_logits, decoder_logits, probe_inputs
    from .quantize import count_bytes

    results: dict[str, Any] = {}
    reference = None
    for profile in profiles:
        start = time.perf_counter()
        em = EngineModel.from_pretrained(folder, device="cpu", profile=profile)
        seconds = time.perf_counter() - start
        if reference is None:
            prompt, canvas = probe_inputs(em.vocab_size, em.canvas_length)
        logits = decoder_logits(em.model, prompt, canvas)
        reference = logits if profile == "bf16" else reference
        row: dict[str, Any] = {"load_seconds": round(seconds, 3)}
        if profile != "offload":  # offloaded layers sit on disk: their bytes are not in memory
            row.update(count_bytes(em.model).as_json())
        if reference is not None:
            row.update(compare_logits(reference, logits).as_json())
        results[profile] = row
        del em
    return results


def collect(demo_dir: Path | None = None) -> dict[str, Any]:
    """Every figure: tiny (random, saved to a temporary folder), demo (if present) and the 26B-A4B shape."""
    from ..paths import demo_model_dir
    from ..tiny import save_tiny_model

    measured: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tiny = save_tiny_model(Path(tmp) / "tiny", hidden_size=128, canvas_length=64)
        measured["tiny"] = {"method": "measured after loading on the CPU", "confirmed_on_gpu": False,
                            "config": "engine.tiny, hidden 128, 4 experts, random weights",
                            "profiles": measure_folder(tiny)}
    demo = demo_dir or demo_model_dir()
    if (demo / "config.json").is_file():
        measured["demo"] = {"method": "measured after loading on the CPU", "confirmed_on_gpu": False,
                            "profiles": measure_folder(demo)}
    measured[RELEASE_ARCHITECTURE] = release_figures()
    return {"schema_version": SCHEMA_VERSION, "generated_by": "python -m engine.load_profiles.memory --write",
            "architectures": measured}


def load_figures() -> dict[str, Any]:
    """The shipped figures ({} when the file is missing or unreadable)."""
    try:
        data = json.loads(FIGURES_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("architectures", {}) if isinstance(data, dict) else {}


def main(argv: list[str] | None = None) -> int:
    """Print the figures as JSON; `--write` also stores them where engine.hardware reads them."""
    parser = argparse.ArgumentParser(prog="python -m engine.load_profiles.memory", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {FIGURES_PATH.name} in engine/data")
    args = parser.parse_args(argv)
    from ..cli_common import quiet_libraries

    quiet_libraries()
    figures = collect()
    text = json.dumps(figures, indent=1)
    if args.write:
        from .hardware.measured import write_json_atomic

        write_json_atomic(FIGURES_PATH, figures)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
