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


class ChatTemplateError(EngineError):
    """A conversation could not be turned into token ids (a broken chat template or a malformed message)."""


class UsageError(EngineError):
    """A command-line argument or an environment value is not usable; the message names it and what to give."""


class CheckpointError(EngineError):
    """A training checkpoint is missing, unsafe (not the project's own format) or unreadable."""


class DownloadError(EngineError):
    """A model download failed; the message says why and whether it can be resumed."""


class AuthRequiredError(DownloadError):
    """The hub refused the request: a licence must be accepted or a token given."""
