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


def _changes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes over `a` and `b` as ("equal" | "change", i1, i2, j1, j2), a match of white space alone
    between two changes folded into them: "a b" → "x y" is one change, not a→x, " ", b→y read as "ax by"."""
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    merged: list[tuple[str, int, int, int, int]] = []
    for k, (op, i1, i2, j1, j2) in enumerate(opcodes):
        only_space = op == "equal" and 0 < k < len(opcodes) - 1 and not "".join(a[i1:i2]).strip()
        kind = "equal" if op == "equal" and not only_space else "change"
        if kind == "change" and merged and merged[-1][0] == "change":
            merged[-1] = ("change", merged[-1][1], i2, merged[-1][3], j2)
        else:
            merged.append((kind, i1, i2, j1, j2))
    return merged


def word_diff(left: str, right: str) -> list[tuple[str, str]]:
    """(op, text) runs turning `left` into `right`; op is "equal", "delete" (only in left) or "insert". The equal
    and deleted runs joined are `left`, the equal and inserted ones `right`; a change's removed words come before
    its added ones."""
    a, b = words(left), words(right)
    runs: list[tuple[str, str]] = []
    for kind, i1, i2, j1, j2 in _changes(a, b):
        if kind == "equal":
            runs.append(("equal", "".join(a[i1:i2])))
        else:
            runs += [("delete", "".join(a[i1:i2])), ("insert", "".join(b[j1:j2]))]
    return [(op, text) for op, text in runs if text]


def shown_runs(runs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`runs` as the diff shows them: a space between removed words and the added words right after them, so the
    two never read as one word ("Open" then "nepO" is "Open nepO", not "OpennepO")."""
    shown: list[tuple[str, str]] = []
    for op, text in runs:
        if shown and shown[-1][0] == "delete" and op == "insert" and not (shown[-1][1][-1:].isspace()
                                                                         or text[:1].isspace()):
            shown.append(("equal", " "))
        shown.append((op, text))
    return shown


def diff_summary(runs: list[tuple[str, str]]) -> str:
    """"3 words removed, 5 added" (or "identical")."""
    removed = sum(len([w for w in words(t) if w.strip()]) for op, t in runs if op == "delete")
    added = sum(len([w for w in words(t) if w.strip()]) for op, t in runs if op == "insert")
    if not removed and not added:
        return "identical"
    return f"{removed} word{'s' * (removed != 1)} removed, {added} added"


def _keep_spacing(escaped: str) -> str:
    """Line breaks, runs of spaces and tabs as HTML shows them (it folds white space into one space: an indented
    line of code lost its indentation in the diff)."""
    escaped = escaped.replace("\t", "    ")
    escaped = re.sub(r" {2,}", lambda m: " " + "&nbsp;" * (len(m.group()) - 1), escaped)
    escaped = re.sub(r"(^|\n) ", lambda m: m.group(1) + "&nbsp;", escaped)  # a line's first space is kept too
    return escaped.replace("\n", "<br>")


def diff_html(left: str, right: str) -> str:
    """The diff as HTML: removed words struck through in red, added words in green, the rest plain; escaped."""
    parts = []
    for op, text in shown_runs(word_diff(left, right)):
        escaped = _keep_spacing(html.escape(text))
        if op == "equal":
            parts.append(escaped)
        else:
            parts.append(f'<span style="{DELETED if op == "delete" else INSERTED}">{escaped}</span>')
    return "".join(parts)
