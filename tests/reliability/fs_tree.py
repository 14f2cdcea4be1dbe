"""A snapshot of a folder tree, to assert that an operation changed nothing outside the place it may touch."""

from __future__ import annotations

import os
from pathlib import Path


def tree(root: Path) -> dict[str, object]:
    """Every entry under `root`: relative path -> link target, file bytes or "dir" (links are not followed)."""
    found: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = path.read_bytes()
    return found
