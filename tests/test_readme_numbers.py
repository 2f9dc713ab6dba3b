"""The README's result tables are pasted from named runs: a table preceded by
``<!-- source: benchmarks/results/NAME.json -->`` must show only numbers that the JSON of
that run holds, at the precision the table prints them (1,229,809 / 0.949 / 36.6 / 51% /
5.3x / 6.89e+06). A number changed by hand, or a table left behind by a newer run, fails."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = re.compile(r"<!--\s*source:\s*(\S+\.json)\s*-->")
NUMBER = re.compile(r"(?<![\w.])([-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?)(%|x)?(?![\w.])")


def sourced_tables(text: str) -> list[tuple[str, int, list[list[str]]]]:
    """(json path, line, body rows) of every table that follows a source comment (the
    comment holds for the table right after it, blank or prose lines between allowed)."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        found = SOURCE.search(line)
        if not found:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("|"):
            assert not SOURCE.search(lines[j]), f"README line {i + 1}: a source with no table"
            j += 1
        rows = []
        while j < len(lines) and lines[j].startswith("|"):
            rows.append([c.strip() for c in lines[j].strip().strip("|").split("|")])
            j += 1
        assert len(rows) >= 3, f"README line {i + 1}: no table after the source comment"
        out.append((found.group(1), i + 1, rows[2:]))  # header and |---| rows left out
    return out


def json_numbers(doc: Any) -> Iterator[float]:
    if isinstance(doc, bool):
        return
    if isinstance(doc, int | float):
        yield float(doc)
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from json_numbers(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from json_numbers(v)


def shown_as(value: float, text: str, suffix: str | None) -> bool:
    """Whether ``value`` printed the way ``text`` is printed reads ``text``."""
    if not math.isfinite(value):
        return False
    plain = text.replace(",", "").lstrip("+")
    if "e" in plain.lower():
        digits = len(plain.lower().split("e")[0].split(".")[-1]) if "." in plain else 0
        return f"{value:.{digits}e}" == plain.replace("e+0", "e+0")
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    target = float(plain)
    candidates = [value, 100 * value] if suffix == "%" else [value]
    return any(abs(round(v, decimals) - target) < 0.5 * 10 ** -decimals + 1e-12
               for v in candidates)


def stale_numbers(rows: list[list[str]], doc: Any) -> list[str]:
    values = list(json_numbers(doc))
    bad = []
    for row in rows:
        for cell in row:
            for number, suffix in NUMBER.findall(cell.replace("**", "")):
                if not any(shown_as(v, number, suffix or None) for v in values):
                    bad.append(f"{number}{suffix} (row {row[0]!r})")
    return bad


def test_shown_as() -> None:
    assert shown_as(1229809.0, "1,229,809", None)
    assert shown_as(0.94912, "0.949", None) and not shown_as(0.9496, "0.949", None)
    assert shown_as(0.5103, "51", "%") and shown_as(6891333.85, "6.89e+06", None)
    assert shown_as(-0.0386, "-0.039", None) and shown_as(0.0123, "+0.012", None)


def test_a_changed_number_fails() -> None:
    doc = {"runs": [{"wall_s": 36.56, "peak_mb": 7394.7}]}
    assert stale_numbers([["5", "36.6", "7395"]], doc) == ["5 (row '5')"]
    assert stale_numbers([["36.6", "7395"]], doc) == []
    assert stale_numbers([["36.7", "7395"]], doc) == ["36.7 (row '36.7')"]


README = (ROOT / "README.md").read_text()


def test_the_readme_names_sources() -> None:
    assert len(sourced_tables(README)) >= 1


@pytest.mark.parametrize(("source", "line", "rows"), sourced_tables(README),
                         ids=[f"{s}:{n}" for s, n, _ in sourced_tables(README)])
def test_readme_table_matches_its_run(source: str, line: int, rows: list[list[str]]) -> None:
    path = ROOT / source
    assert path.is_file(), f"README line {line} names {source}, which does not exist"
    bad = stale_numbers(rows, json.loads(path.read_text()))
    assert bad == [], (f"README line {line}: numbers not in {source} at the precision shown "
                       f"(paste the table again from the run): {bad}")
