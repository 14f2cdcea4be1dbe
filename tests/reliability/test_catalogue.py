"""The bad-input catalogue stays honest: every test it names exists, and the security table covers every class."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CATALOGUE = TESTS / "reliability" / "CATALOGUE.md"
FILE = re.compile(r"(?:(BI)|([\w/]+\.py))((?:::[\w…]+(?:\[[^\]]*\])?)*)")
NAME = re.compile(r"::(\w+)")


def table_rows(title: str | None = None) -> list[list[str]]:
    """The cells of each data row, of every table (or of the one under the heading `title`)."""
    rows, section = [], None
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("| ") and not line.startswith("| #") and (title is None or section == title):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def referenced_tests(cell: str) -> list[tuple[str, str]]:
    """(file, test name) for each `file.py::name`, `BI::name` and `, ::name` (same file as the one before)."""
    found, current = [], None
    for part in re.split(r"[;,]", cell):
        match = FILE.search(part)
        if match and (match.group(1) or match.group(2)):
            current = "app/test_bad_inputs.py" if match.group(1) else match.group(2)
        if current is None:
            continue
        found += [(current, name) for name in NAME.findall(part)]
    return found


def test_every_named_test_exists():
    missing, named = [], 0
    for row in table_rows():
        for path, name in referenced_tests(row[-1]):
            named += 1
            source = TESTS / path
            if not source.is_file() or not re.search(rf"^\s*def {name}\(", source.read_text(), re.MULTILINE):
                missing.append(f"{path}::{name}")
    assert named > 100 and not missing, missing


def test_security_table_covers_every_class_with_at_least_45_rows():
    rows = table_rows("Security and hardening (issue 11)")
    assert len(rows) >= 45
    classes = {int(row[1].split()[0]) for row in rows}
    assert classes == set(range(1, 11))
    assert all(referenced_tests(row[-1]) for row in rows), [row[0] for row in rows if not referenced_tests(row[-1])]
