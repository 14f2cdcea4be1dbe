"""◆ `EngineModel`: a DiffusionGemma model and its tokenizer on one device, loaded with clear errors."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ModelLoadError, OutOfMemoryError, PromptTooLongError

PROFILE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "cpu": torch.float32}
THOUGHT_OPEN = "<|channel>"
THOUGHT_CLOSE = "<channel|>"


@dataclass
class EngineModel:
    """A loaded model: `.model` (DiffusionGemmaForBlockDiffusion, eval), `.tokenizer`, `.device`, `.profile`."""

    model: Any
    tokenizer: Any = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    profile: str | None = None
    name: str = "model"
    path: Path | None = None
    compiled: Any = field(default=None, repr=False)  # a `CompiledPath` once `enable_compiled()` ran
    _pieces: list[str] | None = field(default=None, repr=False)

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def wrap(cls, model: Any, tokenizer: Any = None, *, name: str | None = None) -> EngineModel:
        """Wrap an already-built `DiffusionGemmaForBlockDiffusion` (tests build tiny random ones)."""
        model.eval()
        _fill_generation_ids(model)
        device = next(model.parameters()).device
        profile = "cpu" if device.type == "cpu" else _dtype_profile(next(model.parameters()).dtype)
        label = name or getattr(model.config, "_name_or_path", "") or "in-memory model"
        return cls(model=model, tokenizer=tokenizer, device=device, profile=profile, name=label)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str = "auto", profile: str | None = None) -> EngineModel:
        """Load a local model folder, or a hub id already in the cache, onto one device.

        `device` is "auto" (CUDA if usable, else CPU), "cpu", "cuda" or "cuda:N". `profile` is "bf16", "fp16",
        "fp32" or "cpu"; None picks bf16 on CUDA with compute capability ≥ 8.0, fp16 on older CUDA, fp32 on CPU.
        """
        folder = resolve_model_dir(path)
        check_model_dir(folder)
        target = pick_device(device)
        profile = profile or default_profile(target)
        dtype = PROFILE_DTYPES.get(profile)
        if profile == "offload":
            raise ModelLoadError(
                "The CPU-offload profile is not loadable yet (the engine has not been load-tested with part of the "
                "weights in system RAM). Choose a GPU with room for bf16 on the GPU page, or use the demo model."
            )
        if dtype is None:
            raise ModelLoadError(f"Unknown load profile {profile!r}: choose bf16, fp16, fp32 or cpu.")
        model = _load_weights(folder, target, dtype)
        tokenizer = _load_tokenizer(folder)
        em = cls(model=model, tokenizer=tokenizer, device=target, profile=profile, name=folder.name, path=folder)
        _fill_generation_ids(model)
        return em

    def enable_compiled(self, *, max_cache_len: int = 8192, mode: str | None = None) -> None:
        """Use the compiled path (static cache, one compiled step; CUDA graphs on CUDA) for later generations."""
        from .compiled import CompiledPath

        self.compiled = CompiledPath(self, max_cache_len=max_cache_len, mode=mode)

    # -- facts ----------------------------------------------------------------------------------------------------
    @property
    def canvas_length(self) -> int:
        return int(self.model.config.canvas_length)

    @property
    def context_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.text_config.vocab_size)

    @property
    def eos_token_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        return [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))

    # -- text -----------------------------------------------------------------------------------------------------
    def chat_ids(self, messages: list[dict[str, str]], enable_thinking: bool = False) -> torch.LongTensor:
        """Token ids `(1, n)` of a conversation in the model's chat template, ending with the model's turn."""
        if self.tokenizer is None:
            raise ModelLoadError("This model has no tokenizer, so it cannot take a chat; load a folder with one.")
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise ModelLoadError(
                f"{self.name} has no chat template in its tokenizer_config.json, so it cannot take a chat; "
                "re-download the model or use an instruction-tuned (-it) checkpoint."
            )
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, enable_thinking=enable_thinking, tokenize=True, return_dict=False
        )
        if hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        tensor = torch.as_tensor(ids, dtype=torch.long)
        if tensor.dim() == 1:
            tensor = tensor.unsqueeze(0)
        return tensor.to(self.device)

    def check_prompt_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """Raise `PromptTooLongError` when the prompt plus whole canvases for the answer exceed the context."""
        canvases = -(-max_new_tokens // self.canvas_length)
        needed = prompt_tokens + canvases * self.canvas_length
        if needed > self.context_length:
            raise PromptTooLongError(
                f"The conversation is {prompt_tokens:,} tokens; with room for the answer it needs {needed:,}, but this "
                f"model's context holds {self.context_length:,}. Start a new conversation, shorten the prompt, or "
                "lower max_new_tokens."
            )

    def decode(self, ids: list[int]) -> str:
        """Text of `ids` with special tokens dropped (ids as text when the model has no tokenizer)."""
        if self.tokenizer is None:
            return " ".join(str(i) for i in ids)
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def split_thinking(self, ids: list[int]) -> tuple[str, str]:
        """(answer, thought): the `<|channel>thought…<channel|>` span is folded out of the answer, never shown raw."""
        if self.tokenizer is None:
            return self.decode(ids), ""
        open_id = self.tokenizer.convert_tokens_to_ids(THOUGHT_OPEN)
        close_id = self.tokenizer.convert_tokens_to_ids(THOUGHT_CLOSE)
        unk = getattr(self.tokenizer, "unk_token_id", None)
        if open_id in (None, unk) or open_id not in ids:
            return self.decode(ids), ""
        start = ids.index(open_id)
        end = ids.index(close_id, start) if close_id in ids[start:] else len(ids)
        thought = self.decode(ids[start + 1 : end]).strip()
        if thought.startswith("thought"):
            thought = thought[len("thought") :].lstrip()
        answer = self.decode(ids[:start] + ids[end + 1 :]).strip()
        return answer, thought

    def token_pieces(self) -> list[str]:
        """One display piece per vocabulary id (for the canvas view); built once, off the GUI thread."""
        if self._pieces is None:
            self._pieces = _build_pieces(self.tokenizer, self.vocab_size)
        return self._pieces


# -- loading helpers ----------------------------------------------------------------------------------------------
def resolve_model_dir(path: str | Path) -> Path:
    """A local folder as is; otherwise a downloaded (and verified) hub id or imported model, offline."""
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        return candidate
    text = str(path)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        from .models import model_path

        return model_path(text)  # raises ModelNotReadyError naming what is missing, partial or corrupt
    raise ModelLoadError(f"Model folder {candidate} does not exist. Choose a folder that holds config.json.")


def check_model_dir(folder: Path) -> None:
    """Fail early, with the file named, on a folder that cannot hold a DiffusionGemma model."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{folder} has no config.json; it is not a model folder.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{config_path} is not valid JSON ({exc}); re-download or re-import the model.") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != "diffusion_gemma":
        raise ModelLoadError(
            f"{folder.name} is a {model_type or 'unknown'!s} model, not DiffusionGemma (model_type 'diffusion_gemma'); "
            "Diffusion Desk runs DiffusionGemma block-diffusion models only."
        )
    for shard in weight_files(folder):
        check_safetensors(shard)
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        raise ModelLoadError(f"{folder} has no tokenizer (tokenizer.json); re-download or re-import the model.")


def weight_files(folder: Path) -> list[Path]:
    """The safetensors shards the folder's index names (or the single file); missing ones raise."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{index} is unreadable ({exc}); re-download the model.") from None
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise ModelLoadError(f"Weights file {missing[0]} is missing from {folder}; re-download the model.")
        return [folder / n for n in names]
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    raise ModelLoadError(f"{folder} has no weights (model.safetensors); re-download or re-import the model.")


def check_safetensors(path: Path) -> None:
    """Header parses and the file is as long as the header says: catches truncated and corrupt downloads."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            if header_len <= 0 or header_len > min(size, 100_000_000):
                raise ValueError("bad header length")
            header = json.loads(handle.read(header_len))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        raise ModelLoadError(f"Weights file {path.name} is corrupt; re-download the model.") from None
    if 8 + header_len + end > size:
        raise ModelLoadError(
            f"Weights file {path.name} is truncated ({size:,} of {8 + header_len + end:,} bytes); "
            "the download did not finish — resume or re-download it."
        )


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("CUDA was requested but is not usable here (no NVIDIA driver or a CPU-only PyTorch).")
    return target


def default_profile(device: torch.device) -> str:
    if device.type != "cuda":
        return "cpu"
    major, _ = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


def _dtype_profile(dtype: torch.dtype) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def _load_weights(folder: Path, device: torch.device, dtype: torch.dtype) -> Any:
    from transformers import DiffusionGemmaForBlockDiffusion

    try:
        # One explicit device: device_map="auto" can leave tied encoder/decoder weights on meta (transformers #46566).
        placement = {"device_map": {"": str(device)}} if device.type != "cpu" else {}
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(str(folder), dtype=dtype, **placement)
    except torch.cuda.OutOfMemoryError:
        raise _oom_error(folder, device) from None
    except (OSError, ValueError, RuntimeError) as exc:
        if "out of memory" in str(exc).lower():
            raise _oom_error(folder, device) from None
        raise ModelLoadError(f"Could not load the weights in {folder.name}: {str(exc).splitlines()[0]}") from None
    if any(p.device.type == "meta" for p in model.parameters()):
        raise ModelLoadError(f"Some weights of {folder.name} did not load (left on the meta device); re-download it.")
    return model.eval()


def _oom_error(folder: Path, device: torch.device) -> OutOfMemoryError:
    needed = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 1e9
    free = torch.cuda.mem_get_info(device)[0] / 1e9 if device.type == "cuda" else 0.0
    torch.cuda.empty_cache()
    return OutOfMemoryError(
        f"{folder.name} needs about {needed:.1f} GB on {device} but only {free:.1f} GB is free. Choose a smaller "
        "profile (a quantized checkpoint or CPU offload) on the GPU page, or close other programs using the GPU."
    )


def _load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"The tokenizer in {folder.name} could not be loaded ({exc}); re-download it.") from None


def _fill_generation_ids(model: Any) -> None:
    """Give the generation config the text config's eos/pad ids when it has none (random test models)."""
    gc, text = model.generation_config, model.config.text_config
    if gc.eos_token_id is None and text.eos_token_id is not None:
        gc.eos_token_id = text.eos_token_id
    if gc.pad_token_id is None and text.pad_token_id is not None:
        gc.pad_token_id = text.pad_token_id


def _build_pieces(tokenizer: Any, vocab_size: int) -> list[str]:
    if tokenizer is None:
        return [f"#{i}" for i in range(vocab_size)]
    tokens = tokenizer.convert_ids_to_tokens(list(range(min(vocab_size, len(tokenizer)))))
    pieces = []
    for token in tokens:
        piece = str(token).replace("▁", " ").replace("Ġ", " ").replace("Ċ", "\n")
        if piece.startswith("<0x") and piece.endswith(">"):
            try:
                piece = chr(int(piece[3:-1], 16))
            except ValueError:
                pass
        pieces.append(piece)
    pieces.extend(f"#{i}" for i in range(len(pieces), vocab_size))
    return pieces
