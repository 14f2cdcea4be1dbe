"""The compiled path (CUDA graphs on CUDA; inductor "default" here on CPU): same step math, frames, cache on disk."""

from __future__ import annotations

import copy

import pytest
import torch

from engine import CanvasDone, EngineModel, Frame, SamplerSettings, generate
from engine.compiled import fused_step, temperature_at
from engine.generation import CacheState, _Canvas, _denoising_step, _encode, _prepare_canvas
from engine.tiny import tiny_model


@pytest.fixture(scope="module")
def compiled_em(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("DIFFUSION_DESK_HOME", str(home))
    torch._dynamo.reset()
    em = EngineModel.wrap(tiny_model(seed=2, canvas_length=32, num_hidden_layers=2))
    em.model.generation_config.eos_token_id = None
    em.enable_compiled(max_cache_len=256)
    yield em, home
    mp.undo()


def test_compiled_generation_yields_frames_canvases_and_saves_its_compile_cache(compiled_em):
    em, home = compiled_em
    settings = SamplerSettings(max_new_tokens=70, max_denoising_steps=4, seed=1, confidence_threshold=1e-12)
    prompt = torch.randint(3, 500, (1, 20), generator=torch.Generator().manual_seed(3))
    events = list(generate(em, prompt, settings))
    frames = [e for e in events if isinstance(e, Frame)]
    done = events[-1]

    assert [(f.canvas_index, f.step) for f in frames] == [(c, s) for c in range(3) for s in range(1, 5)]
    assert all(len(f.draft) == len(f.accepted) == len(f.entropy) == 32 for f in frames)
    assert [c.canvas_index for c in events if isinstance(c, CanvasDone)] == [0, 1, 2]
    assert len(done.token_ids) == 70 and done.reason == "length"
    assert list((home / "cache" / "compile").glob("mega-*.bin")), "compiled artifacts were not persisted"
    # Seeded runs repeat exactly on the compiled path too.
    again = list(generate(em, prompt, settings))[-1]
    assert again.token_ids == done.token_ids


def test_fused_step_matches_the_eager_step_on_the_same_state(compiled_em):
    em, _ = compiled_em
    settings = SamplerSettings(max_new_tokens=32, max_denoising_steps=4, seed=0)
    state = CacheState(cache=em.compiled.new_cache())
    prompt = torch.randint(3, 500, (1, 12), generator=torch.Generator().manual_seed(5))
    mask = torch.ones((1, 12), dtype=torch.bool)
    with torch.inference_mode():
        _encode(em.model, em.model.model.encoder, prompt, mask, torch.arange(12).unsqueeze(0), state)
        from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
            EntropyBoundSampler,
            EntropyBoundSamplerConfig,
            LinearTemperatureScheduleLogitsProcessor,
        )

        sampler = EntropyBoundSampler(EntropyBoundSamplerConfig(entropy_bound=0.1), 32, em.vocab_size, 4)
        decoder_mask = torch.nn.functional.pad(mask, (0, 32), value=True)
        eager = _prepare_canvas(em.model, sampler, state.cache, decoder_mask, em.device)
        fast = _Canvas(eager.current.clone(), eager.draft.clone(), None, eager.mask_mapping, [])
        positions = torch.arange(12, 44, dtype=torch.int32).unsqueeze(0)
        temperature = LinearTemperatureScheduleLogitsProcessor(0.4, 0.8, 4)
        _, eager_data = _denoising_step(em.model, eager, state.cache, positions, 4, sampler, temperature, settings,
                                        torch.float32, True)
        packed = em.compiled.step(fast, state.cache, positions, temperature_at(settings, 4), settings, torch.float32)
    fast_data = packed.tolist()
    n = 32
    assert fast_data[n : 2 * n] == eager_data[n : 2 * n]  # draft
    assert fast_data[2 * n : 3 * n] == eager_data[2 * n : 3 * n]  # accepted mask
    assert fast_data[3 * n : 4 * n] == pytest.approx(eager_data[3 * n : 4 * n], rel=1e-4, abs=1e-5)  # entropy
    accepted = [v > 0.5 for v in fast_data[2 * n : 3 * n]]
    assert any(accepted) and not all(accepted)


def test_eager_fused_step_equals_compiled_fused_step(compiled_em):
    em, _ = compiled_em
    state = CacheState(cache=em.compiled.new_cache())
    prompt = torch.randint(3, 500, (1, 12), generator=torch.Generator().manual_seed(6))
    mask = torch.ones((1, 12), dtype=torch.bool)
    with torch.inference_mode():
        _encode(em.model, em.model.model.encoder, prompt, mask, torch.arange(12).unsqueeze(0), state)
        canvas = torch.randint(0, em.vocab_size, (1, 32), generator=torch.Generator().manual_seed(7))
        masks = em.model.model.decoder.create_diffusion_decoder_attention_mask(
            config=em.model.config, inputs_embeds=canvas.unsqueeze(-1), cache=state.cache,
            decoder_attention_mask=torch.nn.functional.pad(mask, (0, 32), value=True),
        )
        sc = torch.randn(1, 32, em.vocab_size)
        args = (canvas, sc, torch.ones(1, dtype=torch.bool), masks, state.cache,
                torch.arange(12, 44, dtype=torch.int32).unsqueeze(0), torch.tensor([0.5, 0.1, 0.005]))
        eager = fused_step(em.model, *copy.copy(args))
        compiled = em.compiled._step(em.model, *args)
    assert torch.equal(eager[1], compiled[1])  # draft
    torch.testing.assert_close(eager[2], compiled[2], rtol=1e-4, atol=1e-4)  # next self-conditioning logits


def test_compiled_path_not_used_when_the_answer_outgrows_its_static_cache(compiled_em):
    em, _ = compiled_em
    settings = SamplerSettings(max_new_tokens=32 * 9, max_denoising_steps=2, seed=1, confidence_threshold=1e-12)
    state = CacheState()
    prompt = torch.randint(3, 500, (1, 10), generator=torch.Generator().manual_seed(3))
    done = list(generate(em, prompt, settings, state=state))[-1]
    from transformers import StaticCache

    assert len(done.token_ids) == 32 * 9
    assert not isinstance(state.cache, StaticCache)  # 10 + 9 canvases > 256: the eager path with a dynamic cache


