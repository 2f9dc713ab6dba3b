"""`genlift clv`: BG/NBD + Gamma-Gamma customer lifetime value from a purchase log in
the store (:mod:`engine.customers.clv`).

Writes under ``out``: ``customers.parquet`` (one row per customer: the summary as of the
data's last day and the values), ``holdout.parquet`` (when the calibration ends before
the data: each customer's predicted and actual holdout purchases), ``clv.json`` (config,
parameters, holdout totals and table) and ``report.html``; then replaces the store table
``customer_value``. Everything is computed before anything is written, and each file goes
through a temporary name: bad input leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from engine.customers.clv import VALUE_COLUMNS, ClvConfig, ClvResult, fit_clv
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.io import write_parquet_atomic
from features.store import Store
from features.version import __version__
from serving.reports.clv import write_clv_report

logger = logging.getLogger(__name__)

NEEDED = ("user_id", "ts", "quantity", "amount")
VALUE_TABLE = "customer_value"


@dataclass(frozen=True)
class ClvJobConfig:
    """One `genlift clv` run (CLI flags map 1:1 onto the fields)."""

    table: str = "transactions"
    calibration_end: str | None = None
    horizon_weeks: float = 52.0
    discount_rate: float = 0.10
    margin: float = 1.0
    to_store: bool = True

    def clv(self) -> ClvConfig:
        return ClvConfig(calibration_end=self.calibration_end,
                         horizon_weeks=self.horizon_weeks,
                         discount_rate=self.discount_rate, margin=self.margin)


def read_purchases(store: Store, table: str) -> pd.DataFrame:
    """``table`` of the store, refused by name when it is not a purchase log."""
    if not store.has(table):
        raise DataValidationError(
            f"the store has no table {table!r}", table=table,
            fix="run `genlift data fetch cdnow` (or import a purchase log with "
            "`genlift data import transactions FILE`), or name another --table")
    frame = store.read(table)
    missing = [c for c in NEEDED if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{table} has no column(s) {', '.join(missing)} (found: "
            f"{', '.join(map(str, frame.columns))}); genlift clv needs a purchase log with "
            f"{', '.join(NEEDED)}", table=table, column=missing[0],
            fix="use the transactions table (`genlift data fetch cdnow`, or `genlift data "
            "import transactions FILE --map amount=YOUR_COLUMN ...`)")
    return frame[list(NEEDED)]


def summary_payload(result: ClvResult, cfg: ClvJobConfig) -> dict[str, Any]:
    """What `genlift clv --json` prints and clv.json holds."""
    payload: dict[str, Any] = {
        "genlift_version": __version__, "config": cfg.__dict__, "as_of": result.as_of,
        "customers": len(result.values), "params": result.params(),
        "total_clv": float(result.values["clv"].sum()),
        "expected_purchases": float(result.values["expected_purchases"].sum()),
        "notes": result.notes, "holdout": None,
    }
    if result.holdout is not None:
        attrs = result.summary.attrs
        payload["holdout"] = {
            "calibration_end": attrs["calibration_end"], "holdout_end": attrs["holdout_end"],
            **result.holdout.totals,
            "by_frequency": result.holdout.by_frequency.to_dict(orient="records"),
        }
    return payload


def run_clv(store: Store, cfg: ClvJobConfig, out: str | Path, *,
            show_progress: bool | None = None) -> dict[str, Any]:
    """Fit, value and check; write the outputs under ``out`` and ``customer_value``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataValidationError(f"--out {out} is a file", fix="give a folder for --out")
    # None: a bar on a terminal only (tqdm decides), never in a log or a pipe
    bar = tqdm(total=3, desc="clv", unit="step",
               disable=None if show_progress is None else not show_progress)
    bar.set_postfix_str("read")
    frame = read_purchases(store, cfg.table)
    bar.update()
    bar.set_postfix_str("fit")
    result = fit_clv(frame, cfg.clv())
    bar.update()
    bar.set_postfix_str("write")
    values = result.values[["user_id", *VALUE_COLUMNS]]
    current = result.current[["user_id", "first_purchase", "frequency", "recency", "T",
                              "monetary"]]
    full = values.merge(current, on="user_id", how="left", validate="one_to_one")
    payload = summary_payload(result, cfg)
    run_id = store.start_run("clv", payload["config"], tables=[cfg.table]) \
        if cfg.to_store else None
    out.mkdir(parents=True, exist_ok=True)
    files = {"customers": write_parquet_atomic(full, out / "customers.parquet")}
    if result.holdout is not None:
        files["holdout"] = write_parquet_atomic(result.holdout.per_customer,
                                                out / "holdout.parquet")
    payload["files"] = {k: str(v) for k, v in files.items()}
    files["report"] = write_clv_report(result, out / "report.html", table_name=cfg.table)
    payload["files"]["report"] = str(files["report"])
    if cfg.to_store:
        store.load({VALUE_TABLE: values}, source=f"clv {cfg.table} as of {result.as_of}")
        payload["table"] = VALUE_TABLE
        assert run_id is not None
        store.finish_run(run_id, metrics={k: payload[k] for k in (
            "customers", "total_clv")} | {"holdout": {k: v for k, v in (
                payload["holdout"] or {}).items() if k != "by_frequency"}})
        payload["run_id"] = run_id
    write_json_atomic(payload, out / "clv.json")
    payload["files"]["json"] = str(out / "clv.json")
    bar.update()
    bar.close()
    return payload


__all__ = ["NEEDED", "ClvJobConfig", "read_purchases", "run_clv", "summary_payload"]
