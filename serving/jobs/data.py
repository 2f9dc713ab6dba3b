"""Jobs behind `genlift data fetch | import` and `genlift features`: fetching the real
datasets, importing a user's file, building feature sets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.credit import CreditFeatures
from features.datasets import fetch, source_label
from features.demand import demand_features
from features.errors import DataValidationError
from features.io import parse_mapping, read_table_file, write_parquet_atomic
from features.matrix import build_user_items
from features.returns import log_returns
from features.store import Store
from features.users import user_features

logger = logging.getLogger(__name__)


def tqdm_disable(show_progress: bool | None) -> bool | None:
    """tqdm's ``disable``: None (the default) shows bars only on a terminal."""
    return None if show_progress is None else not show_progress


# What a person checks first about each table: its shape in business terms.
TABLE_NOTES: dict[str, str] = {
    "interactions": "SELECT count(DISTINCT user_id) || ' users x ' || count(DISTINCT item_id) "
                    "|| ' items, ' || strftime(min(ts), '%Y-%m-%d') || '..' || "
                    "strftime(max(ts), '%Y-%m-%d') FROM interactions",
    "applicants": "SELECT sum(\"default\") || ' defaults (' || round(100 * avg(\"default\"), 1) "
                  "|| '%), ' || (SELECT count(*) - 2 FROM (DESCRIBE applicants)) || ' features' "
                  "FROM applicants",
    "prices": "SELECT count(DISTINCT date) || ' trading days x ' || count(DISTINCT asset) || "
              "' assets, ' || min(date) || '..' || max(date) FROM prices",
    "sales": "SELECT count(DISTINCT store_id) || ' stores x ' || count(DISTINCT item_id) || "
             "' items x ' || count(DISTINCT date) || ' periods, ' || min(date) || '..' || "
             "max(date) FROM sales",
}


def table_note(store: Store, table: str) -> str:
    """A one-line description of a loaded table (empty for tables without one)."""
    query = TABLE_NOTES.get(table)
    if query is None or not store.has(table):
        return ""
    rows = store.query(query)
    value = rows.iloc[0, 0] if len(rows) else None
    return "" if value is None or pd.isna(value) else str(value)


def read_synthetic_table(store: Store, table: str, family: str) -> pd.DataFrame:
    """The store's ``table`` of synthetic rows for ``--with-synthetic``; without it, a
    DataValidationError that says how a ``family`` generator fills it."""
    if not store.has(table):
        raise DataValidationError(
            f"--with-synthetic: the store has no {table}",
            fix=f"run `genlift augment fit {family} ...` and `genlift augment sample DIR "
                "-n N --to-store` first")
    return store.read(table)


def fetch_datasets(
    store: Store,
    names: Sequence[str],
    *,
    cache_dir: Path | None = None,
    show_progress: bool | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Fetch each dataset and load its tables into ``store`` (one transaction each)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    bar = tqdm(list(dict.fromkeys(names)), desc="fetch", unit="dataset",
               disable=tqdm_disable(show_progress))
    for name in bar:
        bar.set_postfix_str(name)
        tables = fetch(name, cache_dir=cache_dir)
        infos = store.load(tables, source=source_label(name, cache_dir))
        out[name] = {t: {"n_rows": i.n_rows, "fingerprint": i.fingerprint,
                         "note": table_note(store, t)} for t, i in infos.items()}
    return out


def _matrix(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    m = build_user_items(store.read("interactions"), weight="count")
    density = m.matrix.nnz / max(1, m.shape[0] * m.shape[1])
    return m.to_frame(), {"rows": m.shape[0], "columns": m.shape[1], "nnz": int(m.matrix.nnz),
                          "note": f"users x items CSR, {m.matrix.nnz:,} cells, "
                                  f"density {density:.2%}"}


def _users(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    users = store.read("users") if store.has("users") else None
    f = user_features(store.read("interactions"), users)
    return f, {"rows": len(f), "columns": f.shape[1],
               "note": f"median frequency {f['frequency'].median():g}, "
                       f"median recency {f['recency_days'].median():.0f} days"}


def _demand(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    sales = store.read("sales")
    stores = store.read("stores") if store.has("stores") else None
    exog = [c for c in ("feat",) if c in sales.columns]
    f = demand_features(sales, stores, exog=exog)
    with_lag = float(f["units_lag1"].notna().mean())
    return f, {"rows": len(f), "columns": f.shape[1],
               "note": f"{f['store_id'].nunique()} stores x {f['item_id'].nunique()} items, "
                       f"lag-1 available on {with_lag:.0%} of rows"}


def _credit(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    applicants = store.read("applicants")
    builder = CreditFeatures().fit(applicants)
    X, y = builder.transform(applicants)
    if y is None:  # cannot happen for a validated applicants table
        raise RuntimeError("applicants has no 'default' column")
    frame = X.assign(default=y.to_numpy())
    return frame, {"rows": len(X), "columns": X.shape[1],
                   "note": f"{len(builder.numeric_)} numeric + {len(builder.categories_)} "
                           f"categorical, default rate {y.mean():.1%}"}


def _returns(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    r = log_returns(store.read("prices"))
    ann_vol = float(np.nanmean(r.std(ddof=1).to_numpy()) * np.sqrt(252))
    frame = r.reset_index()
    return frame, {"rows": len(r), "columns": r.shape[1],
                   "note": f"daily log returns {r.index.min():%Y-%m-%d}..{r.index.max():%Y-%m-%d},"
                           f" mean annual vol {ann_vol:.0%}"}


BUILDERS: dict[str, tuple[str, Callable[[Store], tuple[pd.DataFrame, dict[str, Any]]]]] = {
    "matrix": ("interactions", _matrix),
    "users": ("interactions", _users),
    "demand": ("sales", _demand),
    "credit": ("applicants", _credit),
    "returns": ("prices", _returns),
}


def build_features(
    store: Store, names: Sequence[str], *, show_progress: bool | None = None
) -> dict[str, dict[str, Any]]:
    """Build the named feature sets from the store; each returns a frame and a summary."""
    out: dict[str, dict[str, Any]] = {}
    for name in tqdm(list(names), desc="features", unit="set",
                     disable=tqdm_disable(show_progress)):
        table, builder = BUILDERS[name]
        if not store.has(table):
            store.row_count(table)  # raises the "not in the store" error with its fix
        start = time.perf_counter()
        frame, summary = builder(store)
        summary["seconds"] = round(time.perf_counter() - start, 3)
        out[name] = {"frame": frame, "summary": summary}
    return out


def feature_set(store: Store, name: str, *, out: str | Path | None = None,
                show_progress: bool | None = None) -> dict[str, Any]:
    """Build one feature set and return its summary; with ``out`` also write it as
    parquet (the summary then names the file)."""
    built = build_features(store, [name], show_progress=show_progress)
    summary: dict[str, Any] = built[name]["summary"]
    if out:
        write_parquet_atomic(built[name]["frame"], out)
        summary["out"] = str(out)
    return summary


def read_import_file(file: str | Path, table: str, *, mapping: Sequence[str] | None = None,
                     sep: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """A user's CSV or parquet file read for ``table``; ``mapping`` holds
    ``TARGET=SOURCE`` column renames."""
    return read_table_file(file, table, mapping=parse_mapping(list(mapping or [])),
                           sep=sep, encoding=encoding)


def import_table(store: Store, table: str, frame: pd.DataFrame, *, file: str | Path,
                 append: bool = False) -> dict[str, Any]:
    """Validate ``frame`` against the contract of ``table`` and load it in one
    transaction (replacing the table, or appending to it)."""
    mode: Literal["replace", "append"] = "append" if append else "replace"
    info = store.load({table: frame}, source=f"import {file}", mode=mode)[table]
    return {"table": info.name, "n_rows": info.n_rows, "fingerprint": info.fingerprint,
            "mode": mode, "file": str(file)}
