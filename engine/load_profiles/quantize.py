"""Load-time quantization of a bf16 DiffusionGemma checkpoint with torchao: which tensors, which config, how big.

DiffusionGemma ties its whole text encoder to its decoder and keeps its experts as fused 3-D parameters
(`experts.gate_up_proj`, `experts.down_proj`, ≈ 88 % of the weights), not `nn.Linear`s. So the torchao config
names the experts explicitly (an `FqnToConfig` regex), quantizes every other `nn.Linear` through "_default", and
lists only `lm_head` (and the tiny routers, whose top-k choice is sensitive) in `modules_to_not_convert` — the
transformers default would skip every tied weight, i.e. almost the whole model.

Loading happens under `torch.inference_mode()`: torchao's weight tensors are wrapper subclasses, and a view of
one (the experts' `transpose` / `select`) made inside the engine's inference mode fails with "Cannot set
version_counter for inference tensor" unless the weights themselves are inference tensors.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ProfileError

EXPERT_PATTERN = r"re:.*experts\.(gate_up_proj|down_proj)"
EXPERT_RE = re.compile(r".*experts\.(gate_up_proj|down_proj)$")
# transformers matches these against parameter names from the start, at module boundaries, or as a suffix.
NOT_CONVERTED = ["lm_head", r".*\.router"]
# Profiles quantized at load time from the bf16 checkpoint (weight-only; activations stay bf16).
QUANTIZED_PROFILES = ("int8", "fp8")
# int8 weight-only: `Int8Tensor` has no transpose, so the experts run one by one ("eager"), not grouped_mm.
EXPERTS_IMPLEMENTATION = {"int8": "eager"}
QUANTIZED_BITS = {"int8": 8, "fp8": 8, "int4": 4}
INT4_FINDING = (
    "int4 is not loadable: torchao's Int4Tensor quantizes the 3-D experts (one expert at a time) but needs the "
    "CUDA-only mslk kernels, implements neither grouped_mm nor the per-expert select the eager experts use, and "
    "bitsandbytes/HQQ/quanto/NVFP4 leave the experts in bf16. On a 24 GB card use 'offload'; on 32 GB use 'fp8' "
    "or 'int8'."
)


def quiet_torchao_import() -> None:
    """Silence what importing torchao prints on a CPU-only or other-arch build (its CUDA extensions "failed to
    load", and torch's pytree notes on its enums): harmless, yet it would break every one-line CLI error, and
    transformers imports torchao as soon as it is installed. Loggers someone configured are left alone."""
    import logging

    for name in ("torchao", "torch.utils._pytree"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)


def torchao_available() -> bool:
    """True when torchao can be imported (a quantized profile needs it)."""
    try:
        import torchao  # noqa: F401
    except ImportError:
        return False
    return True


def _weight_config(profile: str) -> Any:
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig

    if profile == "int8":
        return Int8WeightOnlyConfig()
    if profile == "fp8":
        return Float8WeightOnlyConfig()
    raise ProfileError(INT4_FINDING if profile == "int4" else f"{profile!r} is not a quantized load profile.")


def quantization_config(profile: str, on_tensor: Callable[[], None] | None = None) -> Any:
    """The `TorchAoConfig` for `profile`; `on_tensor()` is called once per tensor quantized (load progress)."""
    if not torchao_available():
        raise ProfileError(
            f"The {profile} profile needs the torchao package, which is not installed: pip install 'torchao>=0.18'."
        )
    from torchao.quantization import FqnToConfig
    from transformers import TorchAoConfig

    class ReportingTorchAoConfig(TorchAoConfig):
        """transformers asks the config once per tensor it quantizes: the one hook that sees each tensor go by."""

        def get_apply_tensor_subclass(self):  # noqa: D102 — see the class docstring
            if on_tensor is not None:
                on_tensor()
            return super().get_apply_tensor_subclass()

    weight = _weight_config(profile)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Config Deprecation")  # "_default": still how 0.18 does it
        fqn = FqnToConfig({EXPERT_PATTERN: weight, "_default": weight})
    return ReportingTorchAoConfig(fqn, modules_to_not_convert=list(NOT_CONVERTED))


def load_kwargs(profile: str, on_tensor: Callable[[], None] | None = None) -> dict[str, Any]:
    """Extra `from_pretrained` arguments for a quantized profile (empty for the others)."""
    if profile not in QUANTIZED_PROFILES:
        if profile == "int4":
            raise ProfileError(INT4_FINDING)
        return {}
    kwargs: dict[str, Any] = {"quantization_config": quantization_config(profile, on_tensor)}
    if profile in EXPERTS_IMPLEMENTATION:
        kwargs["experts_implementation"] = EXPERTS_IMPLEMENTATION[profile]
    return kwargs


def is_quantized_name(name: str, module: Any) -> bool:
    """Whether the loader quantizes parameter `name` of `module`: the experts and every `nn.Linear` weight,
    except the `NOT_CONVERTED` modules (the same rule transformers applies with `quantization_config`)."""
    from transformers.quantizers.quantizers_utils import should_convert_module

    if not should_convert_module(name, NOT_CONVERTED):
        return False
    if EXPERT_RE.fullmatch(name):
        return True
    return isinstance(module, torch.nn.Linear) and name.endswith(".weight")


def quantize_in_memory(model: Any, profile: str) -> Any:
    """Quantize an already-built bf16 model in place (random-weight benches, tests); re-ties encoder/decoder."""
    if profile not in QUANTIZED_PROFILES:
        raise ProfileError(INT4_FINDING if profile == "int4" else f"{profile!r} is not a quantized load profile.")
    from torchao.quantization import FqnToConfig, quantize_

    weight = _weight_config(profile)
    names = {n for n, m in _named_params_with_module(model) if is_quantized_name(n, m)}
    configs = {f"{n}" if EXPERT_RE.fullmatch(n) else n.rsplit(".", 1)[0]: weight for n in names}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Config Deprecation")
        quantize_(model, FqnToConfig(configs), filter_fn=None)
        _retie_layers(model)
    if profile in EXPERTS_IMPLEMENTATION:
        model.set_experts_implementation(EXPERTS_IMPLEMENTATION[profile])
    return model


def _retie_layers(model: Any) -> None:
    """Point decoder layer i's parameters at encoder layer i's again (quantize_ replaced only the encoder's)."""
    for enc, dec in zip(model.model.encoder.language_model.layers, model.model.decoder.layers):
        for name, param in enc.named_parameters():
            owner, _, leaf = name.rpartition(".")
            target = dec.get_submodule(owner) if owner else dec
            if leaf in target._parameters:
                target._parameters[leaf] = param


def _named_params_with_module(model: Any) -> list[tuple[str, Any]]:
    """(name, owning module) of every unique parameter (tied copies counted once, under their first name)."""
    modules = dict(model.named_modules())
    return [(name, modules[name.rsplit(".", 1)[0]]) for name, _ in model.named_parameters()]


# -- counting bytes ---------------------------------------------------------------------------------------------
def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds, counting every inner tensor of a torchao subclass (data, scales, zero points)."""
    flatten = getattr(type(tensor), "__tensor_flatten__", None)
    if flatten is not None and type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        names, _ = tensor.__tensor_flatten__()
        return sum(tensor_bytes(getattr(tensor, n)) for n in names)
    return tensor.numel() * tensor.element_size()


@dataclass(frozen=True)
class MemoryCount:
    """Bytes after loading: all unique parameters and buffers, and the quantizable part (now and as bf16)."""

    total_bytes: int
    quantizable_bytes: int
    quantizable_bf16_bytes: int
    quantized_tensors: int

    @property
    def quantizable_ratio(self) -> float:
        """Quantizable part's bytes ÷ the same tensors in bf16 (1.0 for an unquantized load)."""
        return self.quantizable_bytes / max(1, self.quantizable_bf16_bytes)

    def as_json(self) -> dict[str, Any]:
        """Plain numbers for JSON."""
        return {"total_bytes": self.total_bytes, "quantizable_bytes": self.quantizable_bytes,
                "quantizable_bf16_bytes": self.quantizable_bf16_bytes, "quantized_tensors": self.quantized_tensors,
                "quantizable_ratio": round(self.quantizable_ratio, 4)}


def count_bytes(model: Any) -> MemoryCount:
    """Measure a loaded model: unique parameters and buffers (tied ones once), wherever they live (not meta)."""
    from torchao.utils import TorchAOBaseTensor

    seen: set[int] = set()
    total = quant = quant_bf16 = n_quant = 0
    for name, module in _named_params_with_module(model):
        param = module._parameters[name.rsplit(".", 1)[1]]
        seen.add(id(param))
        size = 0 if param.device.type == "meta" else tensor_bytes(param)
        total += size
        if is_quantized_name(name, module):
            quant += size
            quant_bf16 += math.prod(param.shape) * 2
            n_quant += isinstance(param, TorchAOBaseTensor) or isinstance(getattr(param, "data", None),
                                                                         TorchAOBaseTensor)
    for buffer in model.buffers():
        if id(buffer) not in seen and buffer.device.type != "meta":
            seen.add(id(buffer))
            total += tensor_bytes(buffer)
    return MemoryCount(total, quant, quant_bf16, int(n_quant))


def estimated_param_bytes(shape: tuple[int, ...], profile: str, quantized: bool) -> int:
    """Bytes one parameter takes under `profile` (the formula `count_bytes` confirms on real loads):
    8-bit weight-only stores one byte per value plus a float32 scale (+ an int8 zero point for int8) per output row."""
    numel = math.prod(shape)
    if not quantized or profile not in QUANTIZED_PROFILES:
        return numel * (4 if profile in ("cpu", "fp32") else 2)
    rows = math.prod(shape[:-1])
    return numel + rows * (5 if profile == "int8" else 4)


def estimate_bytes(config: Any, profile: str) -> MemoryCount:
    """Bytes of a model built from `config` under `profile`, from its real parameter shapes on the meta device."""
    from transformers import DiffusionGemmaForBlockDiffusion

    with torch.device("meta"):
        model = DiffusionGemmaForBlockDiffusion._from_config(config, dtype=torch.bfloat16)
    total = quant = quant_bf16 = n = 0
    for name, module in _named_params_with_module(model):
        shape = tuple(module._parameters[name.rsplit(".", 1)[1]].shape)
        quantized = is_quantized_name(name, module)
        size = estimated_param_bytes(shape, profile, quantized)
        total += size
        if quantized:
            quant += size
            quant_bf16 += math.prod(shape) * 2
            n += profile in QUANTIZED_PROFILES
    for buffer in model.buffers():
        total += buffer.numel() * buffer.element_size()
    return MemoryCount(total, quant, quant_bf16, n)


def untied_layers(model: Any) -> list[int]:
    """Indices of text layers whose encoder and decoder copies no longer share every parameter (should be [])."""
    try:
        encoder = model.model.encoder.language_model.layers
        decoder = model.model.decoder.layers
    except AttributeError:
        return []
    broken = []
    for i, (enc, dec) in enumerate(zip(encoder, decoder)):
        enc_params = dict(enc.named_parameters(remove_duplicate=False))
        dec_params = dict(dec.named_parameters(remove_duplicate=False))
        if any(dec_params.get(k) is not v for k, v in enc_params.items()):
            broken.append(i)
    return broken
