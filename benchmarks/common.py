"""Shared helpers for benchmarks: timing, peak memory, and writing results."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform()}


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def parse_torch_args(ap: argparse.ArgumentParser,
                     argv: list[str] | None) -> argparse.Namespace:
    """Add ``--seed`` and ``--threads`` to a recurrent-network benchmark's flags, parse
    them, log at INFO and set torch's thread count."""
    import torch  # not every benchmark needs it

    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads: tiny recurrent steps run fastest on one")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(name: str, payload: dict[str, Any], table: str) -> Path:
    """``results/<name>.json`` and ``results/<name>.md``, each written atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **payload}
    for suffix, text in ((".json", json.dumps(payload, indent=2, default=str)),
                         (".md", table)):
        path = RESULTS / f"{name}{suffix}"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + "\n")
        tmp.replace(path)
    return RESULTS / f"{name}.json"
