"""◆ `EngineModel`: a DiffusionGemma model and its tokenizer on one device, loaded with clear errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ModelLoadError, PromptTooLongError
from .load_profiles.load import (
    PROFILE_DTYPES,
    PROFILES,
    LoadProgress,
    ProgressCallback,
    check_profile,
    preflight,
    report,
)
from .load_profiles.quantize import quiet_torchao_import
from .model_checks import check_model_dir, check_safetensors, weight_files

quiet_torchao_import()

__all__ = [
    "PROFILES", "PROFILE_DTYPES", "EngineModel", "LoadProgress", "check_model_dir", "check_safetensors", "pick_device",
    "resolve_model_dir", "weight_files",
]
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
    _encoder: Any = field(default=None, repr=False)  # a `ChatEncoder`, built on the first chat
    _offload_dir: Any = field(default=None, repr=False)  # a TemporaryDirectory holding disk-offloaded layers

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
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        device: str = "auto",
        profile: str | None = None,
        on_progress: ProgressCallback | None = None,
        resident_layers: int | None = None,
    ) -> EngineModel:
        """Load a local model folder, or a hub id already in the cache, onto one device.

        `device` is "auto" (CUDA if usable, else CPU), "cpu", "cuda" or "cuda:N". `profile` is one of `PROFILES`:
        "bf16"; "fp8" / "int8" (the bf16 checkpoint quantized while it loads: weight-only, ≈ half the bytes);
        "offload" (bf16, the first layers on the device and the rest in system RAM — or on disk beside the CPU —
        streamed in at every step: slow); "cpu" (float32); "fp16" / "fp32"; "int4" is refused with the reason.
        None picks bf16 on CUDA with compute capability ≥ 8.0, fp16 on older CUDA, fp32 on CPU. `on_progress`
        receives `LoadProgress` items (files checked, bytes to read, tensors quantized). `resident_layers` sets
        how many layers `offload` keeps on the device (default: as many as fit; half of them beside the CPU).
        A profile that cannot fit raises `ProfileMemoryError` naming the card, GB needed vs free and a profile
        that would fit.
        """
        folder = resolve_model_dir(path)
        _check_files(folder, on_progress)
        target = pick_device(device)
        profile = profile or default_profile(target)
        check_profile(profile, target)
        from .load_profiles.weights import load_profile_weights

        config = _read_config(folder)
        preflight(config, profile, target)
        model, offload_dir = load_profile_weights(folder, target, profile, config, on_progress, resident_layers)
        report(on_progress, "tokenizer", 0, 1, "steps", "loading the tokenizer")
        tokenizer = _load_tokenizer(folder)
        em = cls(model=model, tokenizer=tokenizer, device=target, profile=profile, name=folder.name, path=folder)
        em._offload_dir = offload_dir
        _fill_generation_ids(model)
        report(on_progress, "done", 1, 1, "steps", f"{folder.name} loaded ({profile})")
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
        """Token ids `(1, n)` of a conversation in the model's chat template, ending with the model's turn.

        Message content (user, system and the model's earlier answers alike) is literal text: a `<|turn>` or
        `<eos>` typed or pasted into it becomes ordinary text pieces, never a control token (see chat_tokens.py).
        A chat template that fails raises `ChatTemplateError`.
        """
        if self.tokenizer is None:
            raise ModelLoadError("This model has no tokenizer, so it cannot take a chat; load a folder with one.")
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise ModelLoadError(
                f"{self.name} has no chat template in its tokenizer_config.json, so it cannot take a chat; "
                "re-download the model or use an instruction-tuned (-it) checkpoint."
            )
        ids = self._chat_encoder().ids(messages, enable_thinking=enable_thinking)
        return torch.tensor([ids], dtype=torch.long).to(self.device)

    def thought_ids(self, thought: str) -> list[int]:
        """Ids of a thought span as the model writes it ahead of its answer (`<|channel>thought\\n…<channel|>`), the
        thought itself literal text; [] for an empty thought or a tokenizer without thought markers."""
        if self.tokenizer is None or not thought.strip():
            return []
        open_id = self.tokenizer.convert_tokens_to_ids(THOUGHT_OPEN)
        close_id = self.tokenizer.convert_tokens_to_ids(THOUGHT_CLOSE)
        unk = getattr(self.tokenizer, "unk_token_id", None)
        if open_id in (None, unk) or close_id in (None, unk):
            return []
        return [open_id, *self._chat_encoder().literal("thought\n" + thought.strip()), close_id]

    def _chat_encoder(self):
        from .chat_tokens import ChatEncoder

        if self._encoder is None or self._encoder.tokenizer is not self.tokenizer:
            self._encoder = ChatEncoder(self.tokenizer, vocab_size=self.vocab_size)
        return self._encoder

    def tokens_needed(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """The context a prompt needs with room for the answer: the answer is denoised in whole canvases."""
        return prompt_tokens + -(-max_new_tokens // self.canvas_length) * self.canvas_length

    def check_prompt_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """Raise `PromptTooLongError` when the prompt plus whole canvases for the answer exceed the context."""
        needed = self.tokens_needed(prompt_tokens, max_new_tokens)
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
    text = str(path)
    if "\x00" in text or re.search("[\ud800-\udfff]", text):
        raise ModelLoadError("The model path is not valid text (a NUL or undecodable byte); choose the folder again.")
    try:
        candidate = Path(path).expanduser()
    except RuntimeError:
        user = text[1:].split("/", 1)[0]
        raise ModelLoadError(f"Model folder {text!r}: there is no user {user!r} whose home '~' could mean.") from None
    try:
        if candidate.is_dir():
            return candidate
        exists = candidate.exists()
    except OSError as exc:  # a name too long, a folder that cannot be searched …
        raise ModelLoadError(f"Model folder {text[:200]!r} cannot be opened ({exc.strerror or exc}).") from None
    if exists:
        raise ModelLoadError(f"{candidate} is a file, not a model folder. Choose the folder that holds config.json.")
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        from .models import model_path

        try:
            return model_path(text)  # raises ModelNotReadyError naming what is missing, partial or corrupt
        except RuntimeError as exc:  # a home folder in DIFFUSION_DESK_HOME / HF_HOME that cannot be expanded
            raise ModelLoadError(f"The models folder cannot be found ({exc}); check DIFFUSION_DESK_HOME.") from None
    raise ModelLoadError(f"Model folder {candidate} does not exist. Choose a folder that holds config.json.")


DEVICE = re.compile(r"(auto|cpu|cuda|mps)(:(\d{1,3}))?")


def pick_device(device: str) -> torch.device:
    """`auto`, `cpu`, `cuda`, `cuda:N` (or `mps` where PyTorch has it) as a usable `torch.device`."""
    match = DEVICE.fullmatch(str(device).strip().lower())
    if match is None or (match.group(1) in ("auto", "cpu") and match.group(2)):
        raise ModelLoadError(f"Unknown device {str(device)[:40]!r}: choose auto, cpu, cuda or cuda:N.")
    kind, index = match.group(1), match.group(3)
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("CUDA was requested but is not usable here (no NVIDIA driver or a CPU-only PyTorch).")
    if kind == "cuda" and index is not None and int(index) >= torch.cuda.device_count():
        raise ModelLoadError(
            f"There is no GPU cuda:{index}; this machine has {torch.cuda.device_count()} (cuda:0 to "
            f"cuda:{torch.cuda.device_count() - 1}). Use python -m engine.hardware to list them."
        )
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelLoadError("The Apple GPU (mps) was requested but is not usable here; choose cpu or auto.")
    return torch.device(f"{kind}:{index}" if index is not None else kind)


def default_profile(device: torch.device) -> str:
    if device.type != "cuda":
        return "cpu"
    major, _ = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


def _dtype_profile(dtype: torch.dtype) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def _check_files(folder: Path, on_progress: ProgressCallback | None) -> None:
    """`check_model_dir`, reporting each weights file as it is checked (names and sizes: a progress bar starts)."""
    if on_progress is not None and (folder / "config.json").is_file():
        try:
            files = weight_files(folder)
        except ModelLoadError:
            files = []
        total = sum(f.stat().st_size for f in files)
        done = 0
        for i, shard in enumerate(files, 1):
            done += shard.stat().st_size
            report(on_progress, "check", i, len(files), "files",
                   f"checking {shard.name} ({i}/{len(files)}, {done / 1e9:.2f} of {total / 1e9:.2f} GB)")
    check_model_dir(folder)


def _read_config(folder: Path) -> Any:
    from transformers import DiffusionGemmaConfig

    try:
        return DiffusionGemmaConfig.from_pretrained(str(folder))
    except Exception as exc:  # noqa: BLE001 — check_model_dir accepted it; anything left is still a load failure
        raise ModelLoadError(f"{folder.name}/config.json could not be read ({str(exc)[:200]}).") from None


def _load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # noqa: BLE001 — the tokenizers library raises a bare Exception for a bad tokenizer.json
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(
            f"The tokenizer in {folder.name} could not be loaded ({first[:200]}); re-download it."
        ) from None


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
