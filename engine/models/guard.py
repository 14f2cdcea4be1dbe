"""Containment: every path built from a name or a hub answer is checked to stay inside its root before use.

`inside(root, path)` resolves both (symlinks included) and raises `UnsafePathError` unless `path` lies strictly
below `root`. With `follow_last=False` the last part is not resolved, for paths that are themselves links
(a linked import, a snapshot's pointer to its blob) whose target may rightly lie elsewhere.
`remove_inside(root, path)` deletes a file, a link or a folder after that check, never the root itself and never
what a link points at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import UnsafePathError


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def inside(root: Path, path: Path, *, follow_last: bool = True) -> Path:
    """`path` unchanged, once checked to lie strictly inside `root` after resolving; else `UnsafePathError`."""
    real_root = _resolved(root)
    if follow_last:
        real = _resolved(path)
    else:
        if path.name in ("", ".", ".."):
            raise UnsafePathError(f"{path} does not name an entry inside {root}; nothing was written or deleted.")
        real = _resolved(path.parent) / path.name
    if real == real_root or real_root not in real.parents:
        raise UnsafePathError(f"{path} would be outside {root}; nothing was written or deleted.")
    return path


def remove_inside(root: Path, path: Path) -> None:
    """Delete `path` (a link is unlinked, a folder removed without following links in it) after `inside`."""
    inside(root, path, follow_last=False)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
