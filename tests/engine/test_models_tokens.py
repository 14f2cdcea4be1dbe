"""The HF token: OS keyring when there is one, session-only otherwise, and never written or logged."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from engine.models import (  # noqa: E402
    AuthRequiredError,
    pull,
    tokens,  # noqa: E402
)
from tests.fixtures import hub_server as hubfix  # noqa: E402
from tests.fixtures.hub_server import GATED_REPO  # noqa: E402
from tests.fixtures.memory_keyring import MemoryKeyring  # noqa: E402

hub_server = hubfix.hub_server


@pytest.fixture(autouse=True)
def clean_tokens(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # defining MemoryKeyring registers it; start every test with no backend
    tokens.forget_token()
    yield
    tokens.forget_token()
    keyring.set_keyring(previous)


def test_token_goes_to_the_keyring_under_the_app_service():
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    status = tokens.save_token("  hf_secret_in_keyring  ")
    assert status.source == "keyring" and status.persistent
    assert backend.store == {("Diffusion Desk", tokens.USERNAME): "hf_secret_in_keyring"}
    assert tokens.load_token() == "hf_secret_in_keyring"
    assert tokens.token_status().source == "keyring"
    tokens.forget_token()
    assert tokens.load_token() is None and backend.store == {}


def test_no_backend_keeps_the_token_for_the_session_and_says_so():
    keyring.set_keyring(fail.Keyring())
    assert not tokens.keyring_available()
    status = tokens.save_token("hf_session_only_token")
    assert status.source == "session" and not status.persistent
    assert "session" in status.note
    assert tokens.load_token() == "hf_session_only_token"
    current = tokens.token_status()
    assert current.source == "session" and not current.persistent
    assert "hf_session_only_token" not in repr(status) + repr(current)


def test_the_real_keyring_choice_falls_back_when_there_is_none(tmp_path):
    """Run in a fresh process: keyring picks its backend there exactly as the app would."""
    code = (
        "import keyring\n"
        "from engine.models import tokens\n"
        "available = tokens.keyring_available()\n"
        "status = tokens.save_token('hf_real_fallback')\n"
        "assert tokens.load_token() == 'hf_real_fallback'\n"
        "print(available, status.source, status.persistent)\n"
    )
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "session", "False"]


def test_environment_token_wins():
    keyring.set_keyring(MemoryKeyring())
    tokens.save_token("hf_stored")
    os.environ["HF_TOKEN"] = "hf_from_env"
    try:
        assert tokens.load_token() == "hf_from_env"
        assert tokens.token_status().source == "env"
    finally:
        del os.environ["HF_TOKEN"]


def test_empty_token_is_rejected():
    with pytest.raises(ValueError):
        tokens.save_token("   ")


def test_token_never_reaches_logs_files_or_errors(hub_server, caplog, portable_home):
    keyring.set_keyring(fail.Keyring())
    caplog.set_level(logging.DEBUG)
    wrong = "hf_wrong_value_never_logged"
    tokens.save_token(wrong)
    with pytest.raises(AuthRequiredError) as info:
        pull(GATED_REPO, base_delay=0.01)
    assert wrong not in str(info.value) and wrong not in repr(info.value)
    right = hub_server.repos[GATED_REPO].token
    tokens.save_token(right)
    result = pull(GATED_REPO, base_delay=0.01)
    assert result.path.is_dir()
    assert wrong not in caplog.text and right not in caplog.text
    for path in portable_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert wrong.encode() not in data and right.encode() not in data, path
