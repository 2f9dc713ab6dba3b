"""Validated import vs a bare DuckDB load of the same file, in one run.

genlift's `data import` reads a CSV as text, validates every contract rule, types the
columns and writes in one transaction with a fingerprint. The peer is DuckDB's own
`read_csv` into a table with no checks at all: the ratio is the price of validation.

    python -m benchmarks.bench_import [--rows 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from benchmarks.common import peak_rss_mb, timed, write_results
from features.io import read_table_file
from features.store import Store


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "user_id": rng.integers(0, rows // 20 + 1, rows).astype(str),
        "item_id": rng.integers(0, 5_000, rows).astype(str),
        "ts": 1_600_000_000 + np.arange(rows),  # unique keys
        "qty": rng.integers(1, 4, rows),
        "value": rng.gamma(2.0, 10.0, rows).round(2),
    })
    frame.to_csv(path, index=False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "interactions.csv"
        make_csv(csv, args.rows)

        def genlift_import() -> int:
            with Store(Path(tmp) / "genlift.duckdb") as store:
                frame = read_table_file(csv, "interactions")
                return store.load({"interactions": frame}, source="bench")[
                    "interactions"].n_rows

        def duckdb_bare() -> int:
            con = duckdb.connect(str(Path(tmp) / "bare.duckdb"))
            con.execute(f"CREATE OR REPLACE TABLE interactions AS "
                        f"SELECT * FROM read_csv('{csv}')")
            n = con.execute("SELECT count(*) FROM interactions").fetchone()
            con.close()
            return int(n[0]) if n else 0

        t_peer, n_peer = timed(duckdb_bare)
        t_ours, n_ours = timed(genlift_import)
    if n_ours != n_peer:
        raise RuntimeError(f"row counts differ: genlift {n_ours}, duckdb {n_peer}")
    payload = {
        "rows": args.rows,
        "genlift_import_s": round(t_ours, 3),
        "duckdb_read_csv_s": round(t_peer, 3),
        "genlift_rows_per_s": round(args.rows / t_ours),
        "duckdb_rows_per_s": round(args.rows / t_peer),
        "time_ratio_genlift_over_duckdb": round(t_ours / t_peer, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    table = (
        "| rows | genlift import (validated) | duckdb read_csv (no checks) | ratio | peak RSS |\n"
        "|---:|---:|---:|---:|---:|\n"
        f"| {args.rows:,} | {t_ours:.2f} s ({payload['genlift_rows_per_s']:,} rows/s) "
        f"| {t_peer:.2f} s ({payload['duckdb_rows_per_s']:,} rows/s) "
        f"| {payload['time_ratio_genlift_over_duckdb']}x | {payload['peak_rss_mb']:.0f} MB |"
    )
    write_results("import", payload, table)
    print(table)


if __name__ == "__main__":
    main()
