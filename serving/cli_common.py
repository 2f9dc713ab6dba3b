"""Shared pieces of the `genlift` command line: output helpers and exit codes."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EXIT_BAD_INPUT = 2
EXIT_FETCH = 3
METRIC_COLUMNS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


@dataclass(frozen=True)
class Groups:
    """The parsers a command module adds its subcommands to."""

    sub: Any  # the top-level subparsers action
    common: argparse.ArgumentParser  # --db / --json / --no-progress, on every command
    train: Any
    evaluate: Any
    score: Any


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    """One JSON document with --json, else the human text."""
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain-text table; numeric columns right-aligned."""
    cells = [list(map(str, header))] + [[fmt(v) for v in r] for r in rows]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) for r in rows)
               for i in range(len(header))]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w)
                       for c, w, num in zip(r, widths, numeric, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
