"""The compiled path (CUDA graphs on CUDA; inductor "default" here on CPU): frames, step math, compile once, cache."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from engine import CanvasDone, EngineModel, Frame, SamplerSettings, generate
from engine.compiled import CompiledPath, CompiledPathError, compile_count
from engine.generation import CacheState, _denoising_step, _encode, _new_cache, _prepare_canvas
from engine.session import ChatSession
from engine.static_cache import RingKVCache
from engine.tiny import tiny_model

L = 16


@pytest.fixture(scope="module")
def compiled_em(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("DIFFUSION_DESK_HOME", str(home))
    torch._dynamo.reset()
    counters.clear()
    em = EngineModel.wrap(tiny_model(seed=2, canvas_length=L, num_hidden_layers=2, sliding_window=24))
    em.model.generation_config.eos_token_id = None
    em.compiled = CompiledPath(em, max_cache_len=256, strict=True)
    yield em, home
    mp.undo()


def prompt(n: int, seed: int = 3) -> torch.Tensor:
    return torch.randint(3, 500, (1, n), generator=torch.Generator().manual_seed(seed))


def test_compiled_generation_yields_frames_canvases_and_saves_its_compile_cache(compiled_em):
    em, home = compiled_em
    settings = SamplerSettings(max_new_tokens=2 * L + 6, max_denoising_steps=4, seed=1, confidence_threshold=1e-12)
    events = list(generate(em, prompt(20), settings))
    frames = [e for e in events if isinstance(e, Frame)]
    done = events[-1]

    assert [(f.canvas_index, f.step) for f in frames] == [(c, s) for c in range(3) for s in range(1, 5)]
    assert all(len(f.draft) == len(f.accepted) == len(f.entropy) == L for f in frames)
    assert [c.canvas_index for c in events if isinstance(c, CanvasDone)] == [0, 1, 2]
    assert len(done.token_ids) == 2 * L + 6 and done.reason == "length"
    assert list((home / "cache" / "compile").glob("mega-*.bin")), "compiled artifacts were not persisted"
    # Seeded runs repeat exactly on the compiled path too.
    again = list(generate(em, prompt(20), settings))[-1]
    assert again.token_ids == done.token_ids


def test_fused_step_matches_the_eager_step_on_the_same_state(compiled_em):
    em, _ = compiled_em
    settings = SamplerSettings(max_new_tokens=L, max_denoising_steps=4, seed=0)
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
        EntropyBoundSampler,
        EntropyBoundSamplerConfig,
        LinearTemperatureScheduleLogitsProcessor,
    )

    ids, fast = prompt(12, seed=5), em.compiled
    mask = torch.ones((1, 12), dtype=torch.bool)
    with torch.inference_mode():
        state = CacheState(cache=_new_cache(em.model))
        _encode(em.model, em.model.model.encoder, ids, mask, torch.arange(12).unsqueeze(0), state)
        compiled_state = CacheState()
        compiled_state.cache = fast.claim(compiled_state)
        fast.encode(ids, compiled_state)
        sampler = EntropyBoundSampler(EntropyBoundSamplerConfig(entropy_bound=0.1), L, em.vocab_size, 4)
        eager = _prepare_canvas(em.model, sampler, state.cache, torch.nn.functional.pad(mask, (0, L), value=True),
                                em.device)
        fast.begin_answer(settings)
        fast.start_canvas(eager.current)
        positions = torch.arange(12, 12 + L, dtype=torch.int32).unsqueeze(0)
        temperature = LinearTemperatureScheduleLogitsProcessor(0.4, 0.8, 4)
        _, eager_data = _denoising_step(em.model, eager, state.cache, positions, 4, sampler, temperature, settings,
                                        torch.float32, True)
        fast_data = fast.step()
    n = L
    assert fast_data[n : 2 * n] == eager_data[n : 2 * n]  # draft
    assert fast_data[2 * n : 3 * n] == eager_data[2 * n : 3 * n]  # accepted mask
    assert fast_data[3 * n : 4 * n] == pytest.approx(eager_data[3 * n : 4 * n], rel=1e-4, abs=1e-5)  # entropy
    accepted = [v > 0.5 for v in fast_data[2 * n : 3 * n]]
    assert any(accepted) and not all(accepted)


def test_compiled_path_not_used_when_the_answer_outgrows_its_static_cache(compiled_em, caplog):
    em, _ = compiled_em
    settings = SamplerSettings(max_new_tokens=L * 16, max_denoising_steps=2, seed=1, confidence_threshold=1e-12)
    state = CacheState()
    with caplog.at_level("WARNING", logger="engine.generation"):
        done = list(generate(em, prompt(10), settings, state=state))[-1]
    assert "runs on the eager path" in caplog.text  # said, not silent
    assert len(done.token_ids) == L * 16
    assert not isinstance(state.cache, RingKVCache)  # 10 + 16 canvases > 256: the eager path with a dynamic cache


def test_ten_answers_compile_two_graphs_in_all_and_never_fall_back(compiled_em):
    em, _ = compiled_em
    fast = em.compiled
    settings = SamplerSettings(max_new_tokens=2 * L + 3, max_denoising_steps=3, seed=2, confidence_threshold=1e-12)
    answers = []
    for n in (1, 9, 17, 30, 41):  # 5 one-shot answers, prompt lengths across 1..3 chunks
        answers.append(list(generate(em, prompt(n, seed=n), settings.with_(seed=n)))[-1])
    session = ChatSession(em)
    turn1 = prompt(7, seed=7)[0].tolist()
    answers.append(list(session.send_ids(turn1, settings))[-1])
    turn2 = turn1 + answers[-1].token_ids + [11, 12, 13]
    answers.append(list(session.send_ids(turn2, settings))[-1])  # a second turn
    answers.append(list(session.send_ids(turn2, settings.with_(seed=9)))[-1])  # regenerate: crop
    other = ChatSession(em)
    answers.append(list(other.send_ids(prompt(12, seed=12)[0].tolist(), settings))[-1])
    answers.append(list(other.send_ids(prompt(12, seed=12)[0].tolist() + [4] * 20, settings))[-1])

    assert len(answers) == 10 and all(len(a.token_ids) == 2 * L + 3 for a in answers)
    assert answers[6].stats.cached_tokens > 0 and answers[7].stats.cached_tokens == len(turn2) - 1
    print(f"graphs compiled: {compile_count()} (path: {fast.compiles}); graph breaks: {dict(counters['graph_break'])}")
    assert fast.compiles == compile_count() <= 3  # whatever ran before in this module, with this path
    assert not counters["graph_break"]  # fullgraph: a break would have raised


def test_a_recompile_is_an_error_in_strict_mode(compiled_em):
    em, _ = compiled_em
    fast = em.compiled
    settings = SamplerSettings(max_new_tokens=L, max_denoising_steps=2, seed=2)
    list(generate(em, prompt(5), settings))  # both graphs exist
    canvas = fast.buffers.canvas
    with torch.inference_mode():
        fast.buffers.canvas = torch.zeros((1, L), dtype=torch.int32)  # another dtype: the guards fail
        try:
            with pytest.raises(CompiledPathError, match="recompile"):
                fast.step()
        finally:
            fast.buffers.canvas = canvas


def test_corrupt_compiled_artifacts_are_detected_and_rebuilt(compiled_em, caplog):
    em, home = compiled_em
    fast = em.compiled
    fast._artifacts.write_bytes(b"not a torch cache")
    with caplog.at_level("WARNING", logger="engine.compiled"):
        assert fast._load_artifacts() is False
    assert not fast._artifacts.exists() and "unusable" in caplog.text
    fast.saved = False
    fast.after_first_answer()  # the next answer's save writes them again
    assert fast._artifacts.is_file() and fast._load_artifacts() is True


def test_warm_up_compiles_both_graphs_up_front_and_reports_progress(compiled_em):
    em, _ = compiled_em
    stages = []
    seconds = em.compiled.warm_up(lambda stage, done, total: stages.append((stage, done, total)))
    assert stages == [("encoder", 0, 2), ("step", 1, 2), ("ready", 2, 2)] and seconds >= 0
    assert em.compiled.compiles == 2 and em.compiled.cache.owner is None and em.compiled.cache.tokens == 0
