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


class ProfileError(ModelLoadError):
    """A load profile cannot be used here (unknown, not loadable by this engine, or missing a package or a GPU)."""


class ProfileMemoryError(OutOfMemoryError):
    """A load profile needs more memory than the device has free; the message names a profile that would fit.

    Attributes (for the app's dialog): `profile`, `device_name`, `needed_gb`, `free_gb`, `suggestion` (a profile
    name or None).
    """

    def __init__(self, message: str, *, profile: str = "", device_name: str = "", needed_gb: float = 0.0,
                 free_gb: float = 0.0, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.profile, self.device_name, self.suggestion = profile, device_name, suggestion
        self.needed_gb, self.free_gb = needed_gb, free_gb
