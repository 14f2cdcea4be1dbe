"""Class 8 — loader and CLI robustness: malformed model folders, arguments and environment values each give an
`EngineError` with a message a user can act on; the CLIs print it as one line on stderr and exit non-zero."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from engine import EngineError, EngineModel, ModelLoadError
from engine.tiny import save_tiny_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-model", canvas_length=32)


@pytest.fixture
def folder(saved, tmp_path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(saved, target)
    return target


def cli(*args, home: Path, env: dict | None = None, module: str = "engine") -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DIFFUSION_DESK_HOME": str(home), "PYTHONPATH": str(REPO), **(env or {})}
    argv = [sys.executable, "-m", module, *args]
    if any(isinstance(a, bytes) for a in args):
        argv = [a if isinstance(a, bytes) else os.fsencode(a) for a in argv]
    return subprocess.run(argv, env=full_env, capture_output=True, timeout=180)


def one_error_line(result: subprocess.CompletedProcess, pattern: str) -> str:
    import re

    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, (result.returncode, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


# -- safetensors headers -------------------------------------------------------------------------------------------
def write_safetensors(path: Path, header, data: bytes = b"", *, header_len: int | None = None) -> None:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data)


def entry(shape, begin, end, dtype="F32"):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


HEADERS = {
    "json-list": ([entry([2], 0, 8)], b"\0" * 8, "header is a JSON list"),
    "huge-shape": ({"w": entry([2**40, 2**40], 0, 8)}, b"\0" * 8, "does not match its 8 bytes"),
    "negative-offset": ({"w": entry([2], -8, 0)}, b"\0" * 8, "negative or reversed"),
    "reversed-offsets": ({"w": entry([0], 8, 0)}, b"\0" * 8, "negative or reversed"),
    "overlapping": ({"a": entry([2], 0, 8), "b": entry([2], 4, 12)}, b"\0" * 12, "overlaps"),
    "gap": ({"a": entry([2], 0, 8), "b": entry([2], 16, 24)}, b"\0" * 24, "leaves a gap"),
    "unknown-dtype": ({"w": entry([2], 0, 8, dtype="Q7")}, b"\0" * 8, "unknown dtype"),
    "string-shape": ({"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}, b"\0" * 8, "invalid shape"),
    "trailing-bytes": ({"w": entry([2], 0, 8)}, b"\0" * 4096, "bytes after the last tensor"),
    "metadata-not-strings": ({"__metadata__": {"format": 1}, "w": entry([2], 0, 8)}, b"\0" * 8, "__metadata__"),
    "duplicate-key": (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "w": {}}', b"\0" * 8,
                      "not valid JSON"),
    "not-utf8": (b'{"\xff": 1}', b"", "not valid JSON"),
}


@pytest.mark.parametrize("name", list(HEADERS))
def test_malformed_safetensors_headers(folder, name):
    header, data, message = HEADERS[name]
    write_safetensors(folder / "model.safetensors", header, data)
    with pytest.raises(ModelLoadError, match=f"model.safetensors is corrupt.*{message}.*re-download"):
        EngineModel.from_pretrained(folder)


def test_header_length_larger_than_the_file(folder):
    write_safetensors(folder / "model.safetensors", {"w": entry([2], 0, 8)}, b"\0" * 8, header_len=10_000)
    with pytest.raises(ModelLoadError, match="truncated or corrupt.*header claims 10,000 bytes"):
        EngineModel.from_pretrained(folder)


def test_file_shorter_than_a_header(folder):
    (folder / "model.safetensors").write_bytes(b"\1\2\3")
    with pytest.raises(ModelLoadError, match="shorter than a header"):
        EngineModel.from_pretrained(folder)


def test_weights_index_pointing_outside_the_folder(folder):
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "../../etc/x.safetensors"}}))
    with pytest.raises(ModelLoadError, match="outside the folder"):
        EngineModel.from_pretrained(folder)


def test_weights_with_a_tensor_missing(folder):
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    tensors.pop(sorted(k for k in tensors if "layers.0" in k)[0])
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"\d+ weight tensor\(s\) are missing.*layers\.0"):
        EngineModel.from_pretrained(folder)


# -- config.json and generation_config.json ------------------------------------------------------------------------
def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


CONFIGS = {
    "no-text-config": (lambda c: c.pop("text_config"), "has no text_config section"),
    "canvas-zero": (lambda c: c.update(canvas_length=0), "canvas_length to 0; it must be a whole number"),
    "canvas-negative": (lambda c: c.update(canvas_length=-256), "canvas_length to -256"),
    "canvas-string": (lambda c: c.update(canvas_length="256"), "canvas_length to '256'"),
    "canvas-past-context": (lambda c: c.update(canvas_length=8192), "longer than the context"),
    "absurd-layers": (lambda c: c["text_config"].update(num_hidden_layers=1_000_000), "from 1 to 1,024"),
    "layers-not-a-number": (lambda c: c["text_config"].update(num_hidden_layers="x"), "num_hidden_layers to 'x'"),
    "absurd-vocab": (lambda c: c["text_config"].update(vocab_size=10**12), "vocab_size"),
    "bool-hidden": (lambda c: c["text_config"].update(hidden_size=True), "hidden_size to True"),
    "vision-not-object": (lambda c: c.update(vision_config=[1, 2]), "vision_config must be an object"),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_bad_configs(folder, name):
    change, message = CONFIGS[name]
    edit_json(folder / "config.json", change)
    with pytest.raises(ModelLoadError, match=message):
        EngineModel.from_pretrained(folder)


def test_config_far_bigger_than_its_weights_is_refused_before_building(folder):
    """Within every per-field bound, but ~50 B parameters against ~1 M stored values: refused, nothing built."""
    edit_json(folder / "config.json", lambda c: c["text_config"].update(
        hidden_size=16384, num_hidden_layers=96, intermediate_size=65536,
        layer_types=["sliding_attention"] * 95 + ["full_attention"]))
    with pytest.raises(ModelLoadError, match=r"describes a model of about \d+\.\d+ B parameters.*do not belong"):
        EngineModel.from_pretrained(folder)


def test_config_with_inconsistent_layer_types(folder):
    edit_json(folder / "config.json", lambda c: c["text_config"].update(num_hidden_layers=3))
    with pytest.raises(ModelLoadError, match="not a usable DiffusionGemma config.*layer_types"):
        EngineModel.from_pretrained(folder)


def test_config_that_is_a_json_list(folder):
    (folder / "config.json").write_text("[1, 2, 3]")
    with pytest.raises(ModelLoadError, match="not DiffusionGemma"):
        EngineModel.from_pretrained(folder)


GENERATION = {
    "unknown-sampler": (lambda g: g.update(sampler_config={"_cls_name": "os", "entropy_bound": 0.1}),
                        "asks for the sampler 'os'.*does not know"),
    "sampler-not-object": (lambda g: g.update(sampler_config="greedy"), "asks for the sampler 'greedy'"),
    "bad-entropy-bound": (lambda g: g.update(sampler_config={"entropy_bound": -1}), "entropy_bound must be"),
    "steps-not-a-number": (lambda g: g.update(max_denoising_steps="many"), "max_denoising_steps to 'many'"),
    "eos-not-ids": (lambda g: g.update(eos_token_id=["<eos>"]), "eos_token_id must be token ids"),
}


@pytest.mark.parametrize("name", list(GENERATION))
def test_bad_generation_configs(folder, name):
    change, message = GENERATION[name]
    path = folder / "generation_config.json"
    if not path.exists():
        path.write_text("{}")
    edit_json(path, change)
    with pytest.raises(ModelLoadError, match=message):
        EngineModel.from_pretrained(folder)


def test_generation_config_that_is_not_json(folder):
    (folder / "generation_config.json").write_text("{nope")
    with pytest.raises(ModelLoadError, match="generation_config.json is not valid JSON"):
        EngineModel.from_pretrained(folder)


def test_tokenizer_file_that_is_not_a_tokenizer(folder):
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": 5}')
    with pytest.raises(ModelLoadError, match="tokenizer in model could not be loaded"):
        EngineModel.from_pretrained(folder)


@pytest.mark.parametrize("template", ["{{ raise_exception('no system role') }}", "{% for %}", "{{ messages.x.y }}"])
def test_chat_template_that_raises(folder, template):
    edit_json(folder / "tokenizer_config.json", lambda t: t.update(chat_template=template))
    em = EngineModel.from_pretrained(folder)
    with pytest.raises(EngineError, match="chat template failed"):
        em.chat_ids([{"role": "user", "content": "hi"}])


# -- paths and devices ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device, message", [
    ("nonsense", "Unknown device 'nonsense'"), ("cpu:3", "Unknown device"), ("cuda:abc", "Unknown device"),
    ("meta", "Unknown device"), ("cuda:7", "CUDA was requested|no GPU cuda:7"),
])
def test_bad_devices(saved, device, message):
    with pytest.raises(ModelLoadError, match=message):
        EngineModel.from_pretrained(saved, device=device)


@pytest.mark.parametrize("path, message", [
    ("~nosuchuser_xyz/model", "no user 'nosuchuser_xyz'"),
    ("x" * 5000, "cannot be opened"),
    ("bad\udcffname", "not valid text"),
])
def test_bad_paths(path, message):
    with pytest.raises(ModelLoadError, match=message):
        EngineModel.from_pretrained(path)


def test_a_file_instead_of_a_folder(folder):
    with pytest.raises(ModelLoadError, match="is a file, not a model folder"):
        EngineModel.from_pretrained(folder / "config.json")


# -- the real command lines ----------------------------------------------------------------------------------------
def test_cli_invalid_utf8_prompt(tmp_path):
    result = cli("run", "--model", "demo", "--prompt", b"caf\xe9 \xff", home=tmp_path)
    one_error_line(result, r"--prompt is not valid UTF-8 text \(byte 0xe9 at character 3\)")


@pytest.mark.parametrize("args, pattern", [
    (["--device", "nonsense"], "Unknown device 'nonsense': choose auto, cpu, cuda or cuda:N"),
    (["--model", "~nosuchuser_xyz/m"], "no user 'nosuchuser_xyz'"),
    (["--model", "tiny", "--device", "gpu"], "Unknown device 'gpu'"),
    (["--steps", "0"], "max_denoising_steps must be a whole number from 1"),
])
def test_cli_bad_arguments(tmp_path, args, pattern):
    one_error_line(cli("run", "--prompt", "hi", *(["--model", "demo"] if "--model" not in args else []), *args,
                       home=tmp_path), pattern)


def test_cli_broken_model_folder_is_one_line(folder, tmp_path):
    write_safetensors(folder / "model.safetensors", [1, 2], b"")
    one_error_line(cli("run", "--model", str(folder), "--prompt", "hi", home=tmp_path), "header is a JSON list")


def test_cli_chat_template_that_raises_is_one_line(folder, tmp_path):
    edit_json(folder / "tokenizer_config.json", lambda t: t.update(chat_template="{% if %}"))
    one_error_line(cli("run", "--model", str(folder), "--prompt", "hi", home=tmp_path), "chat template failed")


@pytest.mark.parametrize("name, value, pattern", [
    ("OMP_NUM_THREADS", "abc", "OMP_NUM_THREADS='abc' is not a thread count"),
    ("OMP_NUM_THREADS", "-3", "OMP_NUM_THREADS='-3' is not a thread count"),
    ("MKL_NUM_THREADS", "0", "MKL_NUM_THREADS='0'"),
    ("DIFFUSION_DESK_HOME", "~nosuchuser_xyz/desk", "DIFFUSION_DESK_HOME '~nosuchuser_xyz/desk': there is no user"),
    ("HF_HOME", "__FILE__", "HF_HOME points at .*, which is a file"),
])
def test_cli_bad_environment(tmp_path, name, value, pattern):
    if value == "__FILE__":
        value = str(tmp_path / "a-file")
        Path(value).write_text("x")
    for module, args in (("engine", ["run", "--model", "demo", "--prompt", "hi"]), ("engine.bench", [])):
        one_error_line(cli(*args, home=tmp_path, env={name: value}, module=module), pattern)


@pytest.mark.parametrize("args, pattern", [
    (["--model", "tiny", "--prompt-tokens", "100000"], r"--prompt-tokens 100,000 plus --new-tokens 512 .* holds"),
    (["--model", "demo", "--new-tokens", "10000000"], r"context holds"),
])
def test_bench_refuses_what_cannot_fit_the_context_before_building_it(tmp_path, args, pattern):
    one_error_line(cli(*args, home=tmp_path, module="engine.bench"), pattern)


def test_bench_prompt_holds_no_special_or_control_token():
    from engine.bench_setup import bench_prompt, load_bench_model
    from engine.chat_tokens import control_tokens

    em = load_bench_model("demo", "cpu")
    ids = bench_prompt(em, 4000)[0].tolist()
    special = set(em.tokenizer.all_special_ids) | set(control_tokens(em.tokenizer).values())
    assert len(ids) == 4000 and special.isdisjoint(ids) and min(ids) >= 3
    assert ids == bench_prompt(em, 4000)[0].tolist()  # the same prompt in every process


def test_cli_env_thread_list_is_accepted(tmp_path):
    result = cli("run", "--model", "demo", "--prompt", "hi", "--max-new-tokens", "4", "--json", home=tmp_path,
                 env={"OMP_NUM_THREADS": "2,1"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args, pattern", [
    (["--threads", "0"], "--threads must be from 1"),
    (["--eval", "--n", "0"], "--n must be at least 1"),
    (["--eval", "--skills", "xyz"], "letters a, b, c, d, e"),
    (["--export", "--work-dir", "~nosuchuser_xyz/run"], "no user 'nosuchuser_xyz'"),
])
def test_train_demo_bad_arguments_are_one_line(tmp_path, args, pattern):
    one_error_line(cli(*args, home=tmp_path, module="engine.train_demo"), pattern)


def test_train_demo_export_without_a_checkpoint_is_one_line(tmp_path):
    result = cli("--export", "--work-dir", str(tmp_path / "empty"), "--model", str(tmp_path / "out"), home=tmp_path,
                 module="engine.train_demo")
    one_error_line(result, r"no checkpoint at .*best\.pt; train first, or give --work-dir")
    assert not (tmp_path / "out").exists()
