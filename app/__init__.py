"""Diffusion Desk's PySide6 application. Talks to the engine only through the worker thread; imports no torch."""

from .none_guard import make_none_immortal

make_none_immortal()
