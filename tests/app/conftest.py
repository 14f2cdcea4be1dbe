"""App test fixtures: a tiny random model with a character tokenizer, the real window around it, and the Models
page shown with its first listing done."""

from __future__ import annotations

import pytest

from tests.app.helpers import TEST_CANVAS, open_desktop


@pytest.fixture(scope="session")
def chat_em(tmp_path_factory):
    """A tiny random DiffusionGemma (vocab 128, canvas 64) with a Gemma-4-style char tokenizer. Its end-of-turn
    id is one the model can never produce, so every answer runs to max_new_tokens (whole canvases)."""
    from transformers import PreTrainedTokenizerFast

    from app.models.model_sources import write_char_tokenizer
    from engine import EngineModel
    from engine.tiny import tiny_model

    folder = tmp_path_factory.mktemp("char-tokenizer")
    write_char_tokenizer(folder)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder))
    model = tiny_model(seed=0, vocab_size=128, canvas_length=TEST_CANVAS)
    model.generation_config.eos_token_id = -1
    model.generation_config.pad_token_id = 0
    return EngineModel.wrap(model, tokenizer, name="tiny-test-random")


@pytest.fixture
def desk(qtbot, chat_em, tmp_path):
    desktop = open_desktop(qtbot, chat_em, tmp_path / "chats.sqlite3")
    yield desktop
    desktop.window.close()


@pytest.fixture
def models_page(qtbot):
    """The Models page, shown at 900x700 once its first listing has arrived; shut down after the test."""
    from app.models.models_page import ModelManagerPage

    page = ModelManagerPage()
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    with qtbot.waitSignal(page.listing_changed, timeout=60_000):
        pass
    yield page
    page.shutdown()


@pytest.fixture
def session_token_only():
    """No OS keyring (as on CI): a pasted token is kept for this session only; forgotten and the keyring restored
    afterwards."""
    import keyring
    from keyring.backends import fail

    from engine.models import tokens

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    tokens.forget_token()
    keyring.set_keyring(previous)
