"""The Hugging Face token: kept only in the OS keyring (service "Diffusion Desk").

With no keyring backend (headless Linux, containers) the token is held in this process's memory for the session
only, and `token_status().persistent` is False so the UI can tell the user. The token is never written to files,
logs, exceptions or reprs; `HF_TOKEN` in the environment wins over a stored token.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

SERVICE = "Diffusion Desk"
USERNAME = "huggingface-token"
SESSION_ONLY_NOTE = (
    "No system keyring is available, so the token is kept for this session only; "
    "paste it again after restarting the app."
)

_lock = threading.Lock()
_session_token: str | None = None


@dataclass(frozen=True)
class TokenStatus:
    """Where the token in use comes from: "env", "keyring", "session" or None; never the token itself."""

    source: str | None
    persistent: bool
    note: str = ""

    @property
    def present(self) -> bool:
        return self.source is not None


def _keyring_errors() -> tuple[type[BaseException], ...]:
    import keyring.errors

    return (keyring.errors.KeyringError, RuntimeError, OSError)


def keyring_available() -> bool:
    """True when a real keyring backend is installed (not keyring's `fail` or `null` stand-ins)."""
    import keyring

    backend = keyring.get_keyring()
    module = type(backend).__module__
    return not (module.endswith(".fail") or module.endswith(".null")) and getattr(backend, "priority", 1) > 0


def save_token(token: str) -> TokenStatus:
    """Store `token` in the keyring, or for this session only when there is no backend."""
    global _session_token
    token = token.strip()
    if not token:
        raise ValueError("The token is empty: paste the token from https://huggingface.co/settings/tokens.")
    if keyring_available():
        import keyring

        try:
            keyring.set_password(SERVICE, USERNAME, token)
            with _lock:
                _session_token = None
            return TokenStatus("keyring", True)
        except _keyring_errors():
            pass
    with _lock:
        _session_token = token
    return TokenStatus("session", False, SESSION_ONLY_NOTE)


def load_token() -> str | None:
    """The token to send: `HF_TOKEN`, else the session token, else the keyring's; None when there is none."""
    env = os.environ.get("HF_TOKEN")
    if env:
        return env
    with _lock:
        if _session_token:
            return _session_token
    if keyring_available():
        import keyring

        try:
            return keyring.get_password(SERVICE, USERNAME) or None
        except _keyring_errors():
            return None
    return None


def token_status() -> TokenStatus:
    """Which token would be used, without revealing it."""
    if os.environ.get("HF_TOKEN"):
        return TokenStatus("env", False, "Using the token from the HF_TOKEN environment variable.")
    with _lock:
        if _session_token:
            return TokenStatus("session", False, SESSION_ONLY_NOTE)
    if keyring_available():
        import keyring

        try:
            if keyring.get_password(SERVICE, USERNAME):
                return TokenStatus("keyring", True)
        except _keyring_errors():
            pass
    return TokenStatus(None, keyring_available(), "" if keyring_available() else SESSION_ONLY_NOTE)


def forget_token() -> None:
    """Remove the stored token from the keyring and from the session."""
    global _session_token
    with _lock:
        _session_token = None
    if keyring_available():
        import keyring

        try:
            keyring.delete_password(SERVICE, USERNAME)
        except _keyring_errors():
            pass
