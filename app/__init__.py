"""Diffusion Desk's PySide6 application. Talks to the engine only through the worker thread; imports no torch."""
