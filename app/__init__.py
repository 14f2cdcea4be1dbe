"""Diffusion Desk's PySide6 application. Talks to the engine only through the worker thread; imports no torch."""

from importlib.metadata import PackageNotFoundError, version

from .shell.none_guard import make_none_immortal

try:
    _pyside = version("PySide6_Essentials")
except PackageNotFoundError:
    _pyside = ""


def app_version() -> str:
    """Diffusion Desk's installed version (About, crash details), or "(not installed)" in a bare source folder."""
    try:
        return version("diffusion-desk")
    except PackageNotFoundError:
        return "(not installed)"


if _pyside.startswith("6.12."):  # pyproject pins <6.12; this guards an environment that has 6.12 anyway
    make_none_immortal()
