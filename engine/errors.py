"""Every failure a user can meet, as an `EngineError` whose message says what to do next."""

from __future__ import annotations


class EngineError(Exception):
    """An expected failure with a message written for the person at the keyboard."""


class ModelLoadError(EngineError):
    """The model folder, its config, weights or tokenizer could not be used."""


class OutOfMemoryError(EngineError):
    """The model did not fit on the chosen device."""


class PromptTooLongError(EngineError):
    """The prompt (plus the answer budget) is longer than the model's context."""


class DownloadError(EngineError):
    """A model download failed; the message says why and whether it can be resumed."""


class AuthRequiredError(DownloadError):
    """The hub refused the request: a licence must be accepted or a token given."""
