"""Run DuckDB SQL over pandas frames: the feature builders' common engine."""

from __future__ import annotations

import duckdb
import pandas as pd


def sql(query: str, **frames: pd.DataFrame) -> pd.DataFrame:
    """Run ``query`` on a private in-memory DuckDB where each keyword is a table.

    >>> sql("SELECT sum(x) AS s FROM t", t=pd.DataFrame({"x": [1, 2]}))["s"].item()
    3
    """
    con = duckdb.connect(":memory:")
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.execute(query).df()
    finally:
        con.close()
