"""Names from outside, validated once at the border into values that are safe to put in a path.

- `ModelId` — what the CLI, the Models page and the store call a model: a hub repo id (`org/name`, or a bare
  `name`, with huggingface_hub's grammar, ASCII only) or `local/<name>` for an imported folder.
- `local_name` — the one folder name an import gets under `<data>/imported/`.
- `revision_name` — a branch, tag or commit (`--revision`), which becomes `refs/<revision>` in the cache.
- `file_name_problem`, `is_sha256`, `is_git_oid`, `is_commit`, `is_sane_etag` — checks for the hub's answers.

Anything else raises `InvalidNameError` whose message says what a valid name looks like. `shown(text)` is how a
rejected name is quoted back: escaped, so a name cannot move the cursor or colour a terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from .errors import InvalidNameError

LOCAL = "local"
MAX_PART = 96
# huggingface_hub's REPO_ID_REGEX part, ASCII only (its `\w` also takes Unicode look-alikes the hub never serves).
_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
_REVISION_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"} | {
    f"{dev}{n}" for dev in ("COM", "LPT") for n in "0123456789"
}

HUB_ID_HELP = ("A hub model id looks like org/name (e.g. google/diffusiongemma-26B-A4B-it): each part 1-96 ASCII "
               "letters, digits, '.', '_' or '-', starting and ending with a letter, digit or '_', without '--' or "
               "'..'. An imported model is local/<name>.")
LOCAL_NAME_HELP = ("A local name is one folder name (e.g. my-model): 1-96 ASCII letters, digits, '.', '_' or '-', "
                   "starting and ending with a letter, digit or '_'; no '/', '\\', '..', spaces or control "
                   "characters, and not a reserved Windows name such as CON or NUL.")
REVISION_HELP = ("A revision is a branch, tag or 40-hex commit (e.g. main, v1.0, refs/pr/1): '/'-separated parts of "
                 "ASCII letters, digits, '.', '_' or '-', none empty, none starting with '.'.")


def shown(text: object, limit: int = 80) -> str:
    """`text` quoted for a message: non-ASCII and control characters escaped, long names cut."""
    quoted = ascii(text) if isinstance(text, str) else ascii(str(text))
    return quoted if len(quoted) <= limit else quoted[: limit - 1] + "…"


def _part_problem(part: str) -> str | None:
    """What breaks the name-part grammar in `part` (said plainly), or None when it fits."""
    if not part:
        return "an empty name"
    if len(part) > MAX_PART:
        return f"more than {MAX_PART} characters"
    if ".." in part:
        return "'..'"
    if any(ord(c) < 32 or ord(c) == 127 for c in part):
        return "control characters"
    if "/" in part or "\\" in part:
        return "a '/' or '\\'"
    if not part.isascii():
        return "non-ASCII characters"
    if not _PART.fullmatch(part):
        bad = sorted({c for c in part if not (c.isalnum() or c in "._-")})
        if bad:
            return "the character" + ("s " if len(bad) > 1 else " ") + " ".join(map(repr, bad))
        return "a leading or trailing '.' or '-'"
    return None


@dataclass(frozen=True)
class ModelId:
    """A validated model id: `namespace` is the hub org (None for a bare hub name) or "local" for an import."""

    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def is_local(self) -> bool:
        """True for `local/<name>`: a folder under `<data>/imported/`, never a hub repo."""
        return self.namespace == LOCAL

    @property
    def cache_folder(self) -> str:
        """The repo's folder name in the hub cache (`models--org--name`), as huggingface_hub names it."""
        if self.is_local:
            raise InvalidNameError(f"{self} is an imported model, not a hub repo.")
        return "models--" + str(self).replace("/", "--")

    @property
    def file_stem(self) -> str:
        """A single file-name segment for this id (`org--name`, `local--name`), e.g. for its manifest."""
        return str(self).replace("/", "--")

    @classmethod
    def parse(cls, text: str | ModelId) -> ModelId:
        """`org/name`, a bare hub `name` or `local/<name>`; raises `InvalidNameError` otherwise."""
        if isinstance(text, ModelId):
            return text
        if not isinstance(text, str):
            raise InvalidNameError(f"A model id must be text, not {type(text).__name__}. {HUB_ID_HELP}")
        if text.startswith(LOCAL + "/"):
            return cls(LOCAL, local_name(text[len(LOCAL) + 1:], quoted=text))
        parts = text.split("/")
        if len(parts) > 2:
            problem = "more than one '/'"
        else:
            problem = next((p for p in map(_part_problem, parts) if p), None)
            if problem is None and text.endswith(".git"):
                problem = "a '.git' ending"
            if problem is None and "--" in text:
                problem = "'--'"
        if problem is not None:
            raise InvalidNameError(f"{shown(text)} is not a model id (it has {problem}). {HUB_ID_HELP}")
        return cls(parts[0], parts[1]) if len(parts) == 2 else cls(None, parts[0])

    @classmethod
    def from_cache_folder(cls, folder_name: str) -> ModelId | None:
        """The id of a `models--org--name` cache folder, or None when the folder is not one this app can name."""
        if not folder_name.startswith("models--"):
            return None
        try:
            model_id = cls.parse(folder_name[len("models--"):].replace("--", "/"))
        except InvalidNameError:
            return None
        return None if model_id.is_local else model_id


def parse_model_id(text: str | ModelId, *, hub: bool = False) -> ModelId:
    """A validated `ModelId`; with `hub=True` a `local/` id is refused (only hub repos can be pulled)."""
    if hub and str(text).startswith(LOCAL + "/"):
        raise InvalidNameError(
            f"{shown(str(text))} names an imported model, not a model id of the hub; only hub repos can be pulled. "
            + HUB_ID_HELP)
    return ModelId.parse(text)


def local_name(text: str, *, quoted: str | None = None) -> str:
    """`text` if it is a safe single folder name for an import, else `InvalidNameError` saying what is.

    `quoted` is what the message quotes back (the whole `local/<name>` id when the name came from one)."""
    if not isinstance(text, str):
        raise InvalidNameError(f"A local name must be text, not {type(text).__name__}. {LOCAL_NAME_HELP}")
    problem = _part_problem(text)
    stem = text.split(".", 1)[0].upper()
    if problem is None and stem in _WINDOWS_RESERVED:
        problem = "a reserved Windows device name"
    if problem is not None:
        raise InvalidNameError(
            f"{shown(quoted or text)} is not a valid local model name (it has {problem}). {LOCAL_NAME_HELP}")
    return text


def revision_name(text: str) -> str:
    """`text` if it is a safe branch, tag or commit name (it becomes `refs/<revision>`), else `InvalidNameError`."""
    parts = text.split("/") if isinstance(text, str) else [""]
    if len(text) > 255 or any(not _REVISION_PART.fullmatch(p) or p.endswith(".lock") for p in parts):
        raise InvalidNameError(f"{shown(text)} is not a valid revision. {REVISION_HELP}")
    return text


def file_name_problem(name: object) -> str | None:
    """Why a repo file name from the hub cannot be a path under the snapshot folder, or None when it can.

    The rules of huggingface_hub's `_validate_relative_filename`, plus no empty, `.` or control-character parts.
    """
    if not isinstance(name, str) or not name:
        return "it is empty or not text"
    if len(name) > 1024:
        return "it is longer than 1024 characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it has control characters"
    if "\\" in name:
        return "it has a backslash"
    parts = name.split("/")
    if ".." in parts:
        return "it has a '..' part"
    for pure in (PurePosixPath(name), *(PureWindowsPath(p) for p in parts)):
        if pure.drive or pure.root:
            return "it is an absolute, drive or UNC path"
    if any(p in ("", ".") for p in parts):
        return "it has an empty or '.' part"
    return None


def is_commit(text: object) -> bool:
    """A 40-hex git commit id, as the hub answers in `sha` and `X-Repo-Commit`."""
    return isinstance(text, str) and _HEX40.fullmatch(text) is not None


def is_git_oid(text: object) -> bool:
    """A 40-hex git blob id, the cache's blob name for a non-LFS file."""
    return is_commit(text)


def is_sha256(text: object) -> bool:
    """A 64-hex sha256, the cache's blob name for an LFS file."""
    return isinstance(text, str) and _HEX64.fullmatch(text) is not None


def is_sane_etag(text: object) -> bool:
    """An ETag huggingface_hub could use as a blob file name: 1-256 visible ASCII characters, no '/', '\\' or
    '"', not starting with '.'."""
    return (isinstance(text, str) and 0 < len(text) <= 256 and not text.startswith(".")
            and all(33 <= ord(c) <= 126 and c not in '/\\"' for c in text))
