"""`python -m engine compare` and `python -m engine infill`: exit codes, JSON keys, and arguments refused as data."""

from __future__ import annotations

import json

import pytest

from engine.__main__ import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_json_has_one_record_per_seed_in_order(capsys):
    code, out, _ = run(capsys, "compare", "--model", "tiny", "--prompt", "Hi", "--seeds", "3,1", "--steps", "3",
                       "--max-new-tokens", "16", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["batched"] is True and result["seconds"] > 0
    assert [v["seed"] for v in result["variants"]] == [3, 1]
    for v in result["variants"]:
        assert set(v) >= {"seed", "text", "canvas_steps", "tokens", "reason", "seconds", "decoder_forwards"}
        assert 1 <= len(v["canvas_steps"]) and all(1 <= s <= 3 for s in v["canvas_steps"])
        assert 1 <= v["tokens"] <= 16
    # Deterministic per seed: the same seeds again give the same texts.
    code, again, _ = run(capsys, "compare", "--model", "tiny", "--prompt", "Hi", "--seeds", "3,1", "--steps", "3",
                         "--max-new-tokens", "16", "--json")
    assert [v["text"] for v in json.loads(again)["variants"]] == [v["text"] for v in result["variants"]]


def test_compare_text_output_names_each_seed(capsys):
    code, out, err = run(capsys, "compare", "--model", "tiny", "--prompt", "Hi", "--seeds", "7", "--steps", "2",
                         "--max-new-tokens", "8")
    assert code == 0 and "── seed 7 · " in out and "denoised together" in err


@pytest.mark.parametrize("seeds, message", [
    ("1,2,a", "comma-separated"), ("", "comma-separated"), ("1,,2", "comma-separated"), ("-1", "comma-separated"),
    ("1,2,3,4,5,6,7,8,9", "1 to 8"), ("99999999999999999999", "comma-separated"), ("9999999999999999999", "at most"),
])
def test_compare_refuses_bad_seed_lists(capsys, seeds, message):
    code, out, err = run(capsys, "compare", "--model", "tiny", "--prompt", "Hi", "--seeds", seeds)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err


def test_infill_json_generates_then_rewrites_only_the_span(capsys):
    code, out, _ = run(capsys, "infill", "--model", "demo", "--prompt", "Hi", "--span", "12:28", "--seed", "3",
                       "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) >= {"original", "result", "answer", "span", "requested_span", "token_span", "canvases",
                           "steps", "reason", "seed"}
    a, b = result["span"]
    assert result["requested_span"] == [12, 28] and a <= 12 and b >= 28
    assert result["result"].startswith(result["original"][:a]) and result["result"].endswith(result["original"][b:])
    assert result["answer"] == result["result"] and result["steps"] >= 1 and result["seed"] == 3
    assert result["token_span"] == result["canvases"][0]["token_span"]


def test_infill_with_a_given_answer_and_instruction_prints_the_new_answer(capsys):
    answer = "A canvas is a block of tokens."
    code, out, err = run(capsys, "infill", "--model", "tiny", "--prompt", "What is a canvas?", "--answer", answer,
                         "--span", "2:8", "--instruction", "more formal", "--steps", "3")
    assert code == 0 and out.startswith("A ") and out.rstrip("\n").endswith(answer[8:])
    assert "rewrote characters 2:8" in err


@pytest.mark.parametrize("span, message", [
    ("5:5", "empty or reversed"), ("8:2", "empty or reversed"), ("a:b", "START:END"), ("3", "START:END"),
    ("2:99", "outside the answer"),
])
def test_infill_refuses_bad_spans(capsys, span, message):
    code, out, err = run(capsys, "infill", "--model", "tiny", "--prompt", "Hi", "--answer", "Hello there",
                         "--span", span)
    assert code == 2 and out == "" and message in err


def test_infill_refuses_a_negative_seed(capsys):
    code, _, err = run(capsys, "infill", "--model", "tiny", "--prompt", "Hi", "--answer", "Hello", "--span", "0:2",
                       "--seed", "-4")
    assert code == 2 and "--seed" in err
