"""Files dropped on the composer: a UTF-8 text file's content is inserted; anything else is refused with a
message (binary files, other encodings, huge files, folders) and the composer keeps what it had."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData

MAX_DROP_BYTES = 2_000_000


def local_files(mime: QMimeData) -> list[Path]:
    """The local files a drag carries (none for plain text or web links)."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


def read_dropped(paths: list[Path]) -> tuple[str, list[str]]:
    """The text to insert (files joined by blank lines) and a message per file that was refused."""
    texts, problems = [], []
    for path in paths:
        try:
            if path.is_dir():
                problems.append(f"{path.name} is a folder; drop a text file instead.")
                continue
            size = path.stat().st_size
            if size > MAX_DROP_BYTES:
                problems.append(f"{path.name} is {size / 1e6:.1f} MB; files over {MAX_DROP_BYTES // 1_000_000} MB "
                                "are not inserted. Paste the part you need.")
                continue
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"Could not read {path.name}: {exc.strerror or exc}.")
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems.append(f"{path.name} is not UTF-8 text, so it was not inserted. Save it as UTF-8 "
                            "(or paste the part you need).")
            continue
        if "\x00" in text:
            problems.append(f"{path.name} looks like a binary file, so it was not inserted.")
            continue
        texts.append(text)
    return "\n\n".join(texts), problems
