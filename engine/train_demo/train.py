"""Training loop for the demo model: seeded, checkpointed, resumable; exports resources/demo-model."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..errors import CheckpointError
from .checkpoint import load_checkpoint
from .config import EXPORT_DIR, GENERATION_DEFAULTS, V2_MIX, WORK_DIR, TrainConfig
from .data import SKILLS, TRAIN_MIX
from .objective import diffusion_loss, make_batch
from .tokenizer import BOI_ID, BOS_ID, EOI_ID, EOS_ID, IMAGE_ID, PAD_ID, CharCodec

SHORT_MIX = {"a": 0.45, "b": 0.30, "c": 0.25}
FULL_MIX = {"a": 0.2, "b": 0.2, "c": 0.15, "d": 0.2, "e": 0.25}
PHASE3_MIX = {"a": 0.30, "b": 0.22, "c": 0.18, "d": 0.10, "e": 0.20}
PHASE4_MIX = {"a": 0.40, "b": 0.30, "c": 0.10, "d": 0.08, "e": 0.12}


def model_config(tc: TrainConfig):
    """The `DiffusionGemmaConfig` of the demo model (tiny vision tower from engine.tiny)."""
    from transformers import DiffusionGemmaConfig

    from ..tiny import TINY_VISION

    h = tc.hidden_size
    text = {
        "vocab_size": CharCodec(tc.word_tokens).vocab_size,
        "hidden_size": h,
        "intermediate_size": 2 * h,
        "num_hidden_layers": tc.layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": h // 4,
        "global_head_dim": h // 4,
        "sliding_window": 512,
        "layer_types": ["sliding_attention"] * (tc.layers - 1) + ["full_attention"],
        "num_experts": tc.experts,
        "top_k_experts": tc.top_k,
        "moe_intermediate_size": h,
        "max_position_embeddings": 4096,
        "pad_token_id": PAD_ID,
        "eos_token_id": EOS_ID,
        "bos_token_id": BOS_ID,
    }
    return DiffusionGemmaConfig(
        text_config=text,
        vision_config=dict(TINY_VISION),
        canvas_length=256,
        boi_token_id=BOI_ID,
        eoi_token_id=EOI_ID,
        image_token_id=IMAGE_ID,
    )


def build_model(tc: TrainConfig):
    """A freshly initialised demo model (float32)."""
    from transformers import DiffusionGemmaForBlockDiffusion

    torch.manual_seed(tc.seed)
    model = DiffusionGemmaForBlockDiffusion(model_config(tc))
    model.set_experts_implementation("eager")  # fastest on CPU for 4 experts (measured)
    return model


def lr_at(step: int, tc: TrainConfig) -> float:
    """Linear warmup then cosine decay to `min_lr_ratio * lr`."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = min(1.0, (step - tc.warmup) / max(1, tc.steps - tc.warmup))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _next_batch(step: int, tc: TrainConfig, rng: random.Random, codec: CharCodec):
    """The batch of one step: the v2 recipe (shipped), v1's phased schedule, or the "mixed" experiment."""
    if tc.recipe == "v2":
        mix = dict(zip(SKILLS, (float(x) for x in tc.v2_mix.split(",")))) if tc.v2_mix else V2_MIX
        return make_batch(rng, codec, tc.phase2_batch, 256, tc.pad_weight, mix, multi_turn=True, pad_near=tc.pad_near,
                          augment_p=tc.augment)
    if tc.recipe == "mixed":
        mix = dict(zip(SKILLS, (float(x) for x in tc.mix.split(","))))
        full = rng.random() < tc.full_prob
        skills = mix if full else {k: v for k, v in mix.items() if k in tc.short_skills}
        return make_batch(rng, codec, tc.batch_size, 256 if full else tc.short_canvas, tc.pad_weight, skills)
    if step >= tc.phase4_step:
        return make_batch(rng, codec, tc.phase2_batch, 256, tc.pad_weight, PHASE4_MIX)
    if step >= tc.phase3_step:
        return make_batch(rng, codec, tc.phase2_batch, 256, tc.pad_weight, PHASE3_MIX)
    if step >= tc.phase2_step:
        return make_batch(rng, codec, tc.phase2_batch, 256, tc.pad_weight, TRAIN_MIX)
    if step % tc.full_every == 0:
        return make_batch(rng, codec, tc.batch_size, 256, tc.pad_weight, FULL_MIX)
    return make_batch(rng, codec, tc.batch_size, None, tc.pad_weight, SHORT_MIX)


def _save(path: Path, model, opt, step: int, tc: TrainConfig, rng: random.Random, gen: torch.Generator) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": asdict(tc),
         "py_rng": rng.getstate(), "torch_gen": gen.get_state()},
        tmp,
    )
    tmp.replace(path)  # atomic: a kill mid-save never corrupts the last checkpoint


def train(tc: TrainConfig, resume: bool | Path, work_dir: Path = WORK_DIR, threads: int = 2) -> None:
    """Train (or resume) and write checkpoints + a JSON-lines log under `work_dir`.

    `resume` is False, True (continue from `work_dir/ckpt.pt` when it exists) or the checkpoint file to continue
    from; checkpoints are read as tensors and plain data only (`checkpoint.load_checkpoint`).
    """
    from .evaluate import quick_eval

    torch.set_num_threads(threads)
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = work_dir / "ckpt.pt"
    codec = CharCodec(tc.word_tokens)
    rng = random.Random(tc.seed)
    gen = torch.Generator().manual_seed(tc.seed)
    model = build_model(tc)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=(0.9, 0.98), weight_decay=tc.weight_decay)
    step = 0
    resume_path = resume if isinstance(resume, Path) else (ckpt_path if resume and ckpt_path.exists() else None)
    if resume_path is not None:
        step = _restore(load_checkpoint(resume_path), model, opt, rng, gen, resume_path)
        print(f"resumed from step {step}", flush=True)
    elif tc.init_from:
        _init_from(model, Path(tc.init_from))
        print(f"initialised from {tc.init_from}", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params / 1e6:.3f} M; steps {tc.steps}; config {asdict(tc)}", flush=True)
    log = (work_dir / "log.jsonl").open("a")
    model.train()
    t_last, best = time.time(), -1.0
    if resume and (work_dir / "best.pt").exists():
        best_acc = load_checkpoint(work_dir / "best.pt", "best")["acc"]
        best = sum(best_acc.values()) / max(1, len(best_acc))
    while step < tc.steps:
        batch = _next_batch(step, tc, rng, codec)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tc)
        loss, stats = diffusion_loss(model, batch, gen, tc.sc_prob, t_power=tc.t_power)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 10 == 0:
            dt = (time.time() - t_last) / 10
            t_last = time.time()
            rec = {"step": step, "lr": round(lr_at(step, tc), 6), "s_per_step": round(dt, 3), **stats}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % tc.ckpt_every == 0 or step == tc.steps:
            _save(ckpt_path, model, opt, step, tc, rng, gen)
        if step % tc.eval_every == 0 or step == tc.steps:
            model.eval()
            acc = quick_eval(model, tc.eval_n, seed=10_000 + step)
            model.train()
            mean_acc = sum(acc.values()) / len(acc)
            log.write(json.dumps({"step": step, "quick_eval": acc}) + "\n")
            log.flush()
            print({"step": step, "quick_eval": acc}, flush=True)
            if mean_acc >= best:  # keep the best-so-far weights for export
                best = mean_acc
                torch.save({"model": model.state_dict(), "step": step, "config": asdict(tc), "acc": acc},
                           work_dir / "best.pt")
            t_last = time.time()
    log.close()


def _init_from(model, folder: Path) -> None:
    """Start from a saved demo model's weights (safetensors through transformers: tensors only, never code)."""
    from transformers import DiffusionGemmaForBlockDiffusion

    try:
        saved = DiffusionGemmaForBlockDiffusion.from_pretrained(folder, dtype=torch.float32)
        model.load_state_dict(saved.state_dict())
    except (OSError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"--init-from {folder} is not a demo model this run can start from ({first[:200]})."
        ) from None


def _restore(state: dict, model, opt, rng: random.Random, gen: torch.Generator, path: Path) -> int:
    """Load a checked checkpoint into the training objects; a mismatch is a `CheckpointError`, not a traceback."""
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        rng.setstate(state["py_rng"])
        gen.set_state(state["torch_gen"])
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path} does not fit this training run ({first[:200]}).") from None
    return int(state["step"])


def export(work_dir: Path = WORK_DIR, out_dir: Path = EXPORT_DIR, which: str = "best") -> None:
    """Write the checkpoint as a plain transformers model directory plus tokenizer files."""
    from transformers import GenerationConfig  # noqa: F401  (ensures generation classes are importable)
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import DiffusionGemmaGenerationConfig

    from .tokenizer import save_tokenizer

    state = load_checkpoint(work_dir / f"{which}.pt", which)
    tc = TrainConfig.from_dict(state["config"])
    model = build_model(tc)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{which}.pt does not fit the demo model ({str(exc).splitlines()[0]}).") from None
    model.generation_config = DiffusionGemmaGenerationConfig(**json.loads(json.dumps(GENERATION_DEFAULTS)))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    save_tokenizer(out_dir, words=tc.word_tokens)
    print(f"exported step {state['step']} to {out_dir}", flush=True)
