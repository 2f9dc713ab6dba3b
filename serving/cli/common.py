"""Shared pieces of the `genlift` command line: exit codes, the one place a command
opens the store, the ``--cluster`` flag and output helpers."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.store import Store

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


def open_store(args: argparse.Namespace, *, read_only: bool) -> Store:
    """The store of ``--db``; every command opens it here (read-only when it only
    reads), waiting up to ``--wait`` seconds while another process holds it."""
    return Store(args.db, read_only=read_only, wait=args.wait)


def wait_seconds(text: str) -> float:
    """``--wait``: seconds, a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def add_cluster_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--cluster`` flag of a command; ``what`` says what runs on the cluster (the
    value is checked by :func:`serving.jobs.cluster.parse_cluster`)."""
    parser.add_argument("--cluster", default=None, metavar="SPEC",
                        help=f"{what} on Dask: local (one worker per core), local:N or "
                             "tcp://HOST:PORT (needs genlift[scale])")


def add_train_arguments(parser: argparse.ArgumentParser, *, seed: int,
                        weight_help: str | None = None) -> None:
    """The flags every ``train`` command ends with: the synthetic rows' weight, the seed and
    the model folder."""
    parser.add_argument("--synthetic-weight", type=float, default=1.0, help=weight_help)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--out", required=True, type=Path, help="model folder")


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    """One JSON document with --json, else the human text."""
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def emit_summary(args: argparse.Namespace, summary: dict[str, Any]) -> dict[str, Any]:
    """:func:`emit` a job's summary (JSON, or ``key: value`` lines) and return it."""
    emit(args, summary, summary_text(summary))
    return summary


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


def summary_text(summary: dict[str, Any]) -> str:
    """A job's summary as ``key: value`` lines."""
    return "\n".join(f"{k}: {v}" for k, v in summary.items())
