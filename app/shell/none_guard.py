"""A guard for PySide6 6.12 on Python ≤ 3.11: its bindings drop one reference to `None` on every call of a
method that returns nothing (measured: 1,000 `QColor.setAlphaF` calls lower `sys.getrefcount(None)` by ~1,000).
Python 3.12+ made `None` immortal, so there the leak is harmless; on 3.11 the count reaches zero after enough
painting and the interpreter aborts with "none_dealloc: deallocating None". Adding a huge constant to `None`'s
reference count once makes it immortal in practice (2**60 decrements would take centuries).
"""

from __future__ import annotations

import sys

_BOOST = 1 << 60


def make_none_immortal() -> bool:
    """Raise `None`'s reference count by 2**60 on CPython < 3.12 (once); True when it did."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if sys.getrefcount(None) > _BOOST // 2:
        return False
    import ctypes  # before measuring: importing it creates references to None

    before = sys.getrefcount(None)
    refcnt = ctypes.c_ssize_t.from_address(id(None))  # ob_refcnt is PyObject's first field in release builds
    if abs(refcnt.value - before) > 64:
        return False  # an unexpected object layout (debug build): leave it alone
    refcnt.value += _BOOST
    return True
