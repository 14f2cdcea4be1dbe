"""A word-level diff of two answers (difflib over words, spaces and punctuation), as runs and as escaped HTML.

Model output is data: every run is HTML-escaped before it is wrapped in the diff's own markup.
"""

from __future__ import annotations

import difflib
import html
import re

TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
INSERTED = "background-color:#14532d;color:#dcfce7"
DELETED = "background-color:#7f1d1d;color:#fee2e2;text-decoration:line-through"


def words(text: str) -> list[str]:
    """`text` split into words, runs of white space and single punctuation marks (joined back, it is `text`)."""
    return TOKEN.findall(text)


def word_diff(left: str, right: str) -> list[tuple[str, str]]:
    """(op, text) runs turning `left` into `right`; op is "equal", "delete" (only in left) or "insert"."""
    a, b = words(left), words(right)
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("equal", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            runs.append(("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            runs.append(("insert", "".join(b[j1:j2])))
    return [(op, text) for op, text in runs if text]


def diff_summary(runs: list[tuple[str, str]]) -> str:
    """"3 words removed, 5 added" (or "identical")."""
    removed = sum(len([w for w in words(t) if w.strip()]) for op, t in runs if op == "delete")
    added = sum(len([w for w in words(t) if w.strip()]) for op, t in runs if op == "insert")
    if not removed and not added:
        return "identical"
    return f"{removed} word{'s' * (removed != 1)} removed, {added} added"


def diff_html(left: str, right: str) -> str:
    """The diff as HTML: removed words struck through in red, added words in green, the rest plain; escaped."""
    parts = []
    for op, text in word_diff(left, right):
        escaped = html.escape(text).replace("\n", "<br>")
        if op == "equal":
            parts.append(escaped)
        else:
            parts.append(f'<span style="{DELETED if op == "delete" else INSERTED}">{escaped}</span>')
    return "".join(parts)
