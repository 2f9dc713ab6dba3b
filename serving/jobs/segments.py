"""Jobs behind `genlift segment` and `genlift score segment`: customer segments from a
store table, their profiles and report, and the segment of new customers.

A segment run writes, under its ``out`` folder: ``model/`` (the fitted
:class:`engine.customers.segments.CustomerSegmenter`), ``segments.parquet`` (user_id,
segment, method, run_id), ``features.parquet`` (the customer feature table with its
segment), ``profiles.json``, ``segment.json`` (config, summary, data fingerprints) and
``report.html``; and in the store, ``segments`` (one row per customer and run, appended:
the monthly history) and ``segment_features`` (the latest run's feature table with its
segment: what `genlift augment fit tabular --table segment_features` learns from).
Every setting and the data are checked before the folder is created: bad input writes
nothing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.customers.profiles import segment_profiles
from engine.customers.segments import METHODS, CustomerSegmenter
from engine.customers.table import ID, SOURCES, CustomerTable, customer_table
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.io import write_parquet_atomic
from features.store import Store
from serving.reports.segments import write_segment_report

logger = logging.getLogger(__name__)

SEGMENTS_TABLE = "segments"
FEATURES_TABLE = "segment_features"
META = "segment.json"
#: tables read beside the source, where present (profiles: attributes, items, value)
EXTRA_TABLES = ("users", "interactions", "items", "customer_value")


def parse_k(text: str | int | None) -> int | None:
    """``--k``: ``auto`` (None) or an int >= 2."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "auto"):
        return None
    try:
        k = int(text)
    except (TypeError, ValueError):
        raise DataValidationError(f"--k {text!r} is neither 'auto' nor a whole number",
                                  fix="write --k auto or e.g. --k 5") from None
    if k < 2:
        raise DataValidationError(f"--k {k}: segments need k >= 2 (one segment is no "
                                  "segmentation)", fix="use --k 2 or more, or --k auto")
    return k


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise DataValidationError(f"unknown segmentation method {method!r}",
                                  fix=f"use one of {', '.join(METHODS)}")


def parse_as_of(text: str | None) -> pd.Timestamp | None:
    """``--as-of``: a date (or time) the features are computed at, or None (the data's
    last event)."""
    if text is None:
        return None
    try:
        return pd.Timestamp(text)
    except (TypeError, ValueError):
        raise DataValidationError(f"--as-of {text!r} is not a date",
                                  fix="write a date like 1998-01-01") from None


def read_customers(store: Store, table: str, as_of: pd.Timestamp | None = None
                   ) -> tuple[CustomerTable, dict[str, pd.DataFrame]]:
    """The customer feature table of store table ``table`` (events up to ``as_of``) and
    the frames read for it."""
    if table not in SOURCES:
        raise DataValidationError(f"cannot segment table {table!r}", table=table,
                                  fix=f"use --table {' | '.join(SOURCES)}")
    if not store.has(table):
        have = ", ".join(t.name for t in store.tables()) or "none"
        raise DataValidationError(f"table {table!r} is not in the store {store.path} "
                                  f"(tables: {have})", table=table,
                                  fix="fetch or import it first, or pass the right --db")
    frames = {table: store.read(table)}
    for name in EXTRA_TABLES:
        if name not in frames and store.has(name):
            frames[name] = store.read(name)
    customers = customer_table(frames, table, as_of=as_of)
    if len(customers) == 0:
        raise DataValidationError(f"{table} has no customer with an event on or before "
                                  f"--as-of {as_of}", table=table,
                                  fix="pick a later --as-of, or leave it out")
    return customers, frames


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / META).is_file())):
        raise DataValidationError(
            f"{out} exists and is not the folder of an earlier `genlift segment` run; "
            "refusing to write into it", fix="pass a new --out folder")


def _write_store_tables(store: Store, source: str, assignments: pd.DataFrame,
                        features: pd.DataFrame) -> None:
    """Append the run's assignments to ``segments`` and replace ``segment_features``
    (both checked against their contracts; each load is one transaction)."""
    store.load({SEGMENTS_TABLE: assignments}, source=f"genlift segment {source}",
               mode="append")
    store.load({FEATURES_TABLE: features}, source=f"genlift segment {source}")


def _map_2d(seg: CustomerSegmenter, frame: pd.DataFrame, labels: np.ndarray, seed: int,
            max_points: int = 4000) -> dict[str, Any]:
    """PCA of the scaled features: 2-D coordinates of (a sample of) the customers."""
    from sklearn.decomposition import PCA
    x = seg.transform(frame)
    n_comp = min(2, x.shape[1], len(x))
    pca = PCA(n_components=n_comp, random_state=seed).fit(x)
    idx = np.arange(len(x))
    if len(x) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
    xy = pca.transform(x[idx])
    if xy.shape[1] == 1:
        xy = np.hstack([xy, np.zeros((len(xy), 1))])
    return {"x": xy[:, 0], "y": xy[:, 1], "labels": labels[idx],
            "explained": [float(v) for v in pca.explained_variance_ratio_],
            "n_shown": len(idx), "n": len(x)}


def segment(store: Store, table: str, out: str | Path, *, method: str = "kmeans",
            k: int | str | None = None, seed: int = 0, as_of: str | None = None,
            show_progress: bool | None = None) -> dict[str, Any]:
    """Segment the customers of store table ``table``; see the module docstring for what
    is written. Returns the run's summary (JSON-ready)."""
    out = Path(out)
    _check_method(method)
    k_value = parse_k(k) if not isinstance(k, int) else parse_k(str(k))
    if seed < 0:
        raise DataValidationError(f"--seed {seed} is negative", fix="use a seed >= 0")
    seg = CustomerSegmenter(method=method, k=k_value, random_state=seed)
    seg.check_params()
    when = parse_as_of(as_of)
    customers, frames = read_customers(store, table, when)
    seg.check_params(len(customers))
    _check_out(out)
    config = {"table": table, "method": method, "k": "auto" if k_value is None else k_value,
              "seed": seed, "as_of": None if when is None else str(when)}
    tables = [t for t in (table, *EXTRA_TABLES) if t in frames]
    run_id = store.start_run("segment", config, seed=seed, tables=tables)
    try:
        seg.fit(customers, show_progress=bool(show_progress))
        frame = customers.frame
        labels = seg.labels_.reindex(frame[ID].to_numpy()).to_numpy(dtype=object)
        profiles = segment_profiles(
            customers, labels, order=seg.segment_names_,
            interactions=frames.get("interactions") if table != "transactions" else None,
            items=frames.get("items"), customer_value=frames.get("customer_value"))
        if when is not None and profiles["clv"].startswith("joined"):
            profiles["clv"] += ("; the values are customer_value's own, not recomputed as of "
                                "--as-of")
        assignments = pd.DataFrame({ID: frame[ID].astype(str), "segment": labels,
                                    "method": method, "run_id": run_id})
        features = frame[[ID, *customers.features, *customers.outcomes]].assign(
            segment=labels)
        out.mkdir(parents=True, exist_ok=True)
        seg.save(out / "model")
        write_parquet_atomic(assignments, out / "segments.parquet")
        write_parquet_atomic(features, out / "features.parquet")
        write_json_atomic(profiles, out / "profiles.json")
        mapped = _map_2d(seg, frame, labels, seed)
        tried = [int(c["k"]) for c in seg.k_curve_]
        edge = k_value is None and bool(tried) and seg.k_ == max(tried) and len(tried) > 1
        summary = {
            "run_id": run_id, "table": table, "method": method, "customers": len(frame),
            "k": seg.k_, "k_chosen": "auto" if k_value is None else "given",
            "score_name": seg.score_name_, "score": seg.score_,
            "k_note": (f"k reached the top of the range searched ({max(tried)}): the "
                       f"{seg.score_name_} still improves there; read the curve and give "
                       "--k") if edge else "",
            "sizes": seg.sizes_, "features": customers.features,
            "dropped_columns": customers.dropped, "clv": profiles["clv"],
            "map": f"PCA, {sum(mapped['explained']):.0%} of the scaled variance in 2-D",
            "out": str(out), "report": str(out / "report.html"),
        }
        write_segment_report(out / "report.html", summary=summary, curve=seg.k_curve_,
                             mapped=mapped, profiles=profiles["segments"])
        _write_store_tables(store, table, assignments, features)
        write_json_atomic({**config, **summary, "k_curve": seg.k_curve_,
                           "fingerprints": store.fingerprints(tables)}, out / META)
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    store.finish_run(run_id, metrics={k: v for k, v in summary.items()
                                      if k not in ("features", "dropped_columns")})
    return {**summary, "k_curve": seg.k_curve_, "profiles": profiles["segments"]}


def load_segmenter(model_dir: str | Path) -> tuple[CustomerSegmenter, dict[str, Any]]:
    """A `genlift segment` folder: the segmenter and its ``segment.json``."""
    model_dir = Path(model_dir)
    meta_file = model_dir / META
    if not meta_file.is_file():
        raise DataValidationError(f"{model_dir} is not a `genlift segment` folder (no {META})",
                                  fix="pass the --out folder of `genlift segment`")
    return CustomerSegmenter.load(model_dir / "model"), json.loads(meta_file.read_text())


def score_segment(store: Store, model_dir: str | Path, table: str, out: str | Path, *,
                  as_of: str | None = None) -> dict[str, Any]:
    """Assign the customers of store table ``table`` to the saved segments; parquet
    ``user_id, segment, method, run_id`` (the segment run's id) at ``out``."""
    seg, meta = load_segmenter(model_dir)
    customers, _ = read_customers(store, table, parse_as_of(as_of))
    labels = seg.predict(customers.frame)
    frame = pd.DataFrame({ID: customers.frame[ID].astype(str), "segment": labels,
                          "method": seg.method, "run_id": meta["run_id"]})
    write_parquet_atomic(frame, out)
    sizes = frame["segment"].value_counts()
    return {"out": str(out), "customers": len(frame), "model_run": meta["run_id"],
            "method": seg.method,
            "sizes": {s: int(sizes.get(s, 0)) for s in seg.segment_names_}}


__all__ = ["FEATURES_TABLE", "SEGMENTS_TABLE", "load_segmenter", "parse_k", "read_customers",
           "score_segment", "segment"]
