"""Reading the weights for one load profile: dtype, quantization, device map, and every failure as an EngineError."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import EngineError, ModelLoadError
from .load import GIB, PROFILE_DTYPES, ProgressCallback, free_bytes, is_quantized, memory_error, report
from .offload import offload_device_map, resident_layers
from .quantize import estimate_bytes, load_kwargs, untied_layers


def load_profile_weights(
    folder: Path,
    device: torch.device,
    profile: str,
    config: Any,
    on_progress: ProgressCallback | None = None,
    resident: int | None = None,
) -> tuple[Any, Any]:
    """(model in eval mode, TemporaryDirectory of disk-offloaded layers or None) for `profile` on `device`."""
    from transformers import DiffusionGemmaForBlockDiffusion

    dtype = PROFILE_DTYPES[profile]
    kwargs: dict[str, Any] = {"dtype": dtype, "output_loading_info": True}
    offload_dir = None
    total_bytes = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    if is_quantized(profile):
        expected = estimate_bytes(config, profile).quantized_tensors
        layers = config.text_config.num_hidden_layers
        counter = [0]

        def on_tensor() -> None:
            counter[0] += 1
            layer = min(layers, 1 + (counter[0] - 1) * layers // max(1, expected))
            report(on_progress, "quantize", counter[0], expected, "tensors",
                   f"quantizing to {profile}: tensor {counter[0]}/{expected} (≈ layer {layer}/{layers})")

        kwargs.update(load_kwargs(profile, on_tensor))
    if profile == "offload":
        kwargs["device_map"], offload_dir = _offload_placement(config, device, resident)
        if offload_dir is not None:
            kwargs["offload_folder"] = offload_dir.name
    elif device.type != "cpu":
        # One explicit device: device_map="auto" can leave tied encoder/decoder weights on meta (transformers #46566).
        kwargs["device_map"] = {"": str(device)}
    report(on_progress, "weights", 0, total_bytes, "bytes",
           f"reading {total_bytes / 1e9:.2f} GB of weights from {folder.name} ({profile})")
    try:
        # Inference tensors: torchao's weight subclasses must be, or a view of one under inference_mode fails.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Config Deprecation: _default")  # torchao 0.18 still runs it
            model, info = DiffusionGemmaForBlockDiffusion.from_pretrained(str(folder), **kwargs)
    except torch.cuda.OutOfMemoryError:
        raise memory_error(config, profile, device) from None
    except MemoryError:
        raise memory_error(config, profile, device) from None
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 — safetensors, torch and transformers raise many kinds for bad files
        if "out of memory" in str(exc).lower():
            raise memory_error(config, profile, device) from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"Could not load the weights in {folder.name} ({profile}): {first[:300]}") from None
    report(on_progress, "weights", total_bytes, total_bytes, "bytes", f"read {total_bytes / 1e9:.2f} GB")
    _check_loaded(folder, model, info, profile, offloaded=offload_dir is not None)
    return model.eval(), offload_dir


def _offload_placement(config: Any, device: torch.device, resident: int | None) -> tuple[dict[str, str], Any]:
    """The hand-written map: beside a GPU the rest goes to system RAM; beside the CPU, to a temporary disk folder."""
    layers = config.text_config.num_hidden_layers
    if device.type == "cuda":
        if resident is None:
            fixed = estimate_bytes(config, "bf16").total_bytes - _layers_bytes(config)
            budget = 0.9 * (free_bytes(device) or 0)
            resident = resident_layers(config, budget, fixed + 2.5 * GIB)
        return offload_device_map(layers, min(resident, layers), str(device), "cpu"), None
    resident = layers // 2 if resident is None else min(resident, layers)
    from ..paths import cache_dir

    root = cache_dir() / "offload"
    root.mkdir(parents=True, exist_ok=True)
    folder = tempfile.TemporaryDirectory(prefix="layers-", dir=root)
    return offload_device_map(layers, resident, "cpu", "disk"), folder


def _layers_bytes(config: Any) -> int:
    from .offload import layer_bytes

    return layer_bytes(config) * config.text_config.num_hidden_layers


def _check_loaded(folder: Path, model: Any, info: dict, profile: str, *, offloaded: bool) -> None:
    missing = sorted(info.get("missing_keys") or [])
    if missing:  # transformers would fill them with random numbers and answer noise
        raise ModelLoadError(
            f"{len(missing)} weight tensor(s) are missing from {folder.name} (e.g. {missing[0][:80]}): the weights are "
            "incomplete or for another model; re-download or re-import it."
        )
    if info.get("conversion_errors"):
        raise ModelLoadError(f"Quantizing {folder.name} to {profile} failed; choose bf16 or another profile.")
    # Offloaded layers sit on meta until accelerate's hooks bring them in; anything else on meta did not load.
    if not offloaded and any(p.device.type == "meta" for p in model.parameters()):
        raise ModelLoadError(f"Some weights of {folder.name} did not load (left on the meta device); re-download it.")
    broken = untied_layers(model)
    if broken:
        raise ModelLoadError(
            f"Loading {folder.name} as {profile} split the shared encoder/decoder weights of layer {broken[0]}; "
            "choose bf16 (this is a bug: please report it)."
        )
