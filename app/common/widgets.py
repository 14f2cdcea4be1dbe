"""Naming widgets: objectName = accessibleName (◆ scripts and screen readers find widgets by it)."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, object_name: str, *, tip: str = "", description: str = "") -> W:
    """`widget` with objectName = accessibleName = `object_name`, and an optional tooltip and accessible
    description (what a screen reader says after the name)."""
    widget.setObjectName(object_name)
    widget.setAccessibleName(object_name)
    if tip:
        widget.setToolTip(tip)
    if description:
        widget.setAccessibleDescription(description)
    return widget
