"""Run every benchmark in turn (what `make bench` does); each writes its own results."""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = ["bench_import", "bench_augment", "bench_baskets", "bench_paths", "bench_backtest",
              "bench_api"]


def main() -> None:
    for name in BENCHMARKS:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main([])
        print(f"== {name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
