"""One OS-keyring entry of Diffusion Desk (service "Diffusion Desk"), read or written by its username.

Keyring calls can block (a locked wallet asks for a password, D-Bus may be slow): call these off the GUI thread.
"""

from __future__ import annotations

from engine.models.tokens import SERVICE, keyring_available

SESSION_ONLY = "No system keyring is available: the key is kept for this session only."


def _errors() -> tuple[type[BaseException], ...]:
    import keyring.errors

    return (keyring.errors.KeyringError, RuntimeError, OSError)


def read_entry(username: str) -> str:
    """The stored value ("" when none, no keyring, or the keyring refused)."""
    if not keyring_available():
        return ""
    import keyring

    try:
        return keyring.get_password(SERVICE, username) or ""
    except _errors():
        return ""


def write_entry(username: str, value: str) -> str:
    """Store `value` ("" deletes it); "" when the keyring holds it, else why it is kept for the session only."""
    if not keyring_available():
        return SESSION_ONLY
    import keyring

    try:
        if value:
            keyring.set_password(SERVICE, username, value)
        elif keyring.get_password(SERVICE, username) is not None:
            keyring.delete_password(SERVICE, username)
    except _errors() as exc:
        return f"The keyring refused the key ({type(exc).__name__}): it is kept for this session only."
    return ""
