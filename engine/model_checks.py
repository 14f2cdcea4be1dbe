"""Checks of a model folder before anything is built from it: config, generation config, safetensors headers.

A model folder is data from outside (a download, an import, a folder the user picked). Everything here reads
small JSON documents and file headers only, so a broken or hostile folder is refused in milliseconds with a
`ModelLoadError` that names the file and the fix — never a traceback, and never minutes spent building a model
whose config does not match its weights.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

MAX_HEADER_BYTES = 100_000_000
# Bits per element of each safetensors dtype (sub-byte float formats pack several values per byte).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
# Upper bounds far above any DiffusionGemma checkpoint (the release: 30 layers, hidden 2816, 128 experts).
TEXT_LIMITS = {
    "vocab_size": (1, 1 << 24), "hidden_size": (1, 131_072), "num_hidden_layers": (1, 1024),
    "num_attention_heads": (1, 1024), "num_key_value_heads": (1, 1024), "head_dim": (1, 8192),
    "global_head_dim": (1, 8192), "intermediate_size": (1, 1 << 20), "moe_intermediate_size": (0, 1 << 20),
    "num_experts": (0, 4096), "top_k_experts": (0, 4096), "max_position_embeddings": (1, 1 << 24),
    "sliding_window": (1, 1 << 24),
}
VISION_LIMITS = {"hidden_size": (1, 65_536), "num_hidden_layers": (1, 1024), "intermediate_size": (1, 1 << 20)}
KNOWN_SAMPLERS = ("EntropyBoundSamplerConfig",)
# Quantized checkpoints pack up to 8 values in one stored element (int4 in int32); beyond that the config lies.
PACKING_SLACK, PARAM_SLACK = 16, 50_000_000


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file that must hold an object (duplicate keys count as corruption)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON ({exc}); re-download or re-import the model.") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} holds a {type(data).__name__}, not the JSON object {what} must be.")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice")
        result[key] = value
    return result


def check_config(folder: Path, config: dict[str, Any], weights_numel: int) -> None:
    """The config describes a DiffusionGemma model of sane size, and one its weights can actually fill."""
    text = config.get("text_config")
    if not isinstance(text, dict):
        raise ModelLoadError(
            f"{folder.name}/config.json has no text_config section, so it does not say how big the model is; "
            "re-download the model (a complete DiffusionGemma config has text_config and vision_config)."
        )
    canvas = config.get("canvas_length", 256)
    if not _is_int(canvas) or not 1 <= canvas <= 65_536:
        raise ModelLoadError(
            f"{folder.name}/config.json sets canvas_length to {canvas!r}; it must be a whole number from 1 to "
            "65536 (the release uses 256). Fix the config or re-download the model."
        )
    _check_ints(folder, "text_config", text, TEXT_LIMITS)
    vision = config.get("vision_config")
    if vision is not None and not isinstance(vision, dict):
        raise ModelLoadError(f"{folder.name}/config.json: vision_config must be an object; re-download the model.")
    _check_ints(folder, "vision_config", vision or {}, VISION_LIMITS)
    resolved = _resolved_config(folder, config)
    context = resolved.text_config.to_dict().get("max_position_embeddings")
    if _is_int(context) and canvas > context:
        raise ModelLoadError(
            f"{folder.name}/config.json: canvas_length {canvas} is longer than the context ({context}); fix the "
            "config or re-download the model."
        )
    needed = estimate_parameters(resolved)
    if needed > PACKING_SLACK * weights_numel + PARAM_SLACK:
        raise ModelLoadError(
            f"{folder.name}/config.json describes a model of about {needed / 1e9:.2f} B parameters, but its weights "
            f"hold only {weights_numel / 1e9:.3f} B values: the config and the weights do not belong together. "
            "Re-download or re-import the model."
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ints(folder: Path, section: str, values: dict[str, Any], limits: dict[str, tuple[int, int]]) -> None:
    for name, (low, high) in limits.items():
        value = values.get(name)
        if value is None:
            continue
        if not _is_int(value) or not low <= value <= high:
            raise ModelLoadError(
                f"{folder.name}/config.json sets {section}.{name} to {value!r}; it must be a whole number from {low} "
                f"to {high:,}. The config is corrupt or not for DiffusionGemma; re-download the model."
            )


def _resolved_config(folder: Path, config: dict[str, Any]) -> Any:
    from transformers import DiffusionGemmaConfig

    try:
        return DiffusionGemmaConfig.from_dict(dict(config))
    except Exception as exc:  # noqa: BLE001 — transformers raises many kinds for a bad field; all mean the same
        detail = " ".join(line.strip() for line in str(exc).splitlines()[:3] if line.strip()) or type(exc).__name__
        raise ModelLoadError(
            f"{folder.name}/config.json is not a usable DiffusionGemma config ({detail[:300]}); re-download the model."
        ) from None


def estimate_parameters(config: Any) -> int:
    """A lower estimate of the parameter count a config builds (embedding, attention, MLP, experts, vision)."""
    t = config.text_config.to_dict()  # per-layer attributes read as their global value

    def get(d: dict[str, Any], name: str) -> int:
        value = d.get(name)
        return value if _is_int(value) and value > 0 else 0

    h, layers = get(t, "hidden_size"), get(t, "num_hidden_layers")
    head_dims = [x for x in (get(t, "head_dim"), get(t, "global_head_dim")) if x]
    attention = 2 * h * get(t, "num_attention_heads") * (min(head_dims) if head_dims else 0)
    dense = 3 * h * get(t, "intermediate_size")
    experts = 3 * get(t, "num_experts") * h * get(t, "moe_intermediate_size")
    total = get(t, "vocab_size") * h + layers * (attention + dense + experts)
    if getattr(config, "vision_config", None) is not None:
        v = config.vision_config.to_dict()
        vh = get(v, "hidden_size")
        total += get(v, "num_hidden_layers") * (4 * vh * vh + 2 * vh * get(v, "intermediate_size"))
    return total


def check_generation_config(folder: Path) -> None:
    """generation_config.json (optional) names a sampler this version has and sane numbers."""
    path = folder / "generation_config.json"
    if not path.is_file():
        return
    gc = read_json_object(path, "generation_config.json")
    sampler = gc.get("sampler_config")
    if sampler is not None:
        name = sampler.get("_cls_name") if isinstance(sampler, dict) else None
        if not isinstance(sampler, dict) or name not in (None, *KNOWN_SAMPLERS):
            raise ModelLoadError(
                f"{folder.name}/generation_config.json asks for the sampler {name or sampler!r}, which Diffusion "
                f"Desk does not know (it runs {', '.join(KNOWN_SAMPLERS)}). Update Diffusion Desk, or remove "
                "sampler_config from that file to use the default sampler."
            )
        bound = sampler.get("entropy_bound", 0.1)
        if not _is_number(bound) or bound <= 0:
            raise ModelLoadError(f"{folder.name}/generation_config.json: entropy_bound must be a number > 0.")
    for name, kind in (("max_denoising_steps", "int"), ("max_new_tokens", "int"), ("stability_threshold", "int"),
                       ("t_min", "number"), ("t_max", "number"), ("confidence_threshold", "number")):
        value = gc.get(name)
        if value is None:
            continue
        ok = (_is_int(value) and value >= 0) if kind == "int" else (_is_number(value) and value >= 0)
        if not ok:
            raise ModelLoadError(
                f"{folder.name}/generation_config.json sets {name} to {value!r}; it must be a non-negative "
                f"{'whole number' if kind == 'int' else 'number'}. Fix or delete that file."
            )
    for name in ("eos_token_id", "pad_token_id", "bos_token_id"):
        value = gc.get(name)
        items = value if isinstance(value, list) else [value]
        if value is not None and not all(_is_int(v) and v >= 0 for v in items):
            raise ModelLoadError(f"{folder.name}/generation_config.json: {name} must be token ids (got {value!r}).")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_safetensors(path: Path) -> int:
    """Validate a safetensors file's header against its size; return the number of values it stores.

    Catches truncated downloads and corrupt or hostile headers (a list instead of an object, unknown dtypes,
    shapes whose size does not match their data, negative, overlapping or gapped offsets, trailing bytes).
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            raw_len = handle.read(8)
            if len(raw_len) < 8:
                raise ModelLoadError(f"Weights file {path.name} is corrupt (shorter than a header); re-download it.")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len == 0 or header_len > MAX_HEADER_BYTES:
                raise ModelLoadError(f"Weights file {path.name} is corrupt (impossible header length); re-download.")
            if 8 + header_len > size:
                raise ModelLoadError(
                    f"Weights file {path.name} is truncated or corrupt (its header claims {header_len:,} bytes but "
                    f"the file has {size:,}); resume or re-download the model."
                )
            header = json.loads(handle.read(header_len).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except OSError as exc:
        raise ModelLoadError(f"Weights file {path} could not be read ({exc.strerror or exc}).") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelLoadError(
            f"Weights file {path.name} is corrupt (its header is not valid JSON); re-download it."
        ) from None
    end, numel = _check_header(path, header)
    if 8 + header_len + end > size:
        raise ModelLoadError(
            f"Weights file {path.name} is truncated ({size:,} of {8 + header_len + end:,} bytes); "
            "the download did not finish — resume or re-download it."
        )
    if 8 + header_len + end < size:
        raise ModelLoadError(
            f"Weights file {path.name} is corrupt ({size - 8 - header_len - end:,} bytes after the last tensor); "
            "re-download it."
        )
    return numel


def _check_header(path: Path, header: Any) -> tuple[int, int]:
    """(end of the data, values stored); raise on any entry a loader would misread."""
    def corrupt(why: str) -> ModelLoadError:
        return ModelLoadError(f"Weights file {path.name} is corrupt ({why}); re-download the model.")

    if not isinstance(header, dict):
        raise corrupt(f"its header is a JSON {type(header).__name__}, not an object")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise corrupt("__metadata__ must map names to strings")
    spans, numel = [], 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise corrupt(f"entry {name[:80]!r} is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPE_BITS:
            raise corrupt(f"tensor {name[:80]!r} has unknown dtype {str(dtype)[:20]!r}")
        if not isinstance(shape, list) or len(shape) > 16 or not all(_is_int(d) and d >= 0 for d in shape):
            raise corrupt(f"tensor {name[:80]!r} has an invalid shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise corrupt(f"tensor {name[:80]!r} has invalid data_offsets")
        begin, end = offsets
        if begin < 0 or end < begin:
            raise corrupt(f"tensor {name[:80]!r} has negative or reversed data offsets")
        count = math.prod(shape)
        if (count * DTYPE_BITS[dtype] + 7) // 8 != end - begin:
            raise corrupt(f"tensor {name[:80]!r} of shape {shape} does not match its {end - begin:,} bytes of data")
        spans.append((begin, end, name))
        numel += count
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            why = "overlaps the tensor before it" if begin < position else "leaves a gap before it"
            raise corrupt(f"tensor {name[:80]!r} {why}")
        position = end
    return position, numel


def weight_files(folder: Path) -> list[Path]:
    """The safetensors shards the folder's index names (or the single file); missing ones raise."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json_object(index, "a weights index").get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise ModelLoadError(f"{index} has no usable weight_map; re-download the model.")
        names = sorted(set(weight_map.values()))
        outside = [n for n in names if Path(n).name != n or not n.endswith(".safetensors")]
        if outside:
            raise ModelLoadError(f"{index} names a weights file outside the folder ({outside[0][:80]!r}); refused.")
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise ModelLoadError(f"Weights file {missing[0]} is missing from {folder}; re-download the model.")
        return [folder / n for n in names]
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    raise ModelLoadError(f"{folder} has no weights (model.safetensors); re-download or re-import the model.")


def check_model_dir(folder: Path) -> None:
    """Fail early, with the file named, on a folder that cannot hold a DiffusionGemma model."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{folder} has no config.json; it is not a model folder.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{config_path} is not valid JSON ({exc}); re-download or re-import the model.") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != "diffusion_gemma":
        raise ModelLoadError(
            f"{folder.name} is a {model_type or 'unknown'!s} model, not DiffusionGemma (model_type 'diffusion_gemma'); "
            "Diffusion Desk runs DiffusionGemma block-diffusion models only."
        )
    numel = sum(check_safetensors(shard) for shard in weight_files(folder))
    check_config(folder, config, numel)
    check_generation_config(folder)
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        raise ModelLoadError(f"{folder} has no tokenizer (tokenizer.json); re-download or re-import the model.")
