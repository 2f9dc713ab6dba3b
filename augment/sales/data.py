"""The sales rows a :class:`~augment.sales.generator.SalesWindowGenerator` fits on:
their checks, and array helpers over rows and windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import DataValidationError

REQUIRED = ("store_id", "item_id", "date", "units", "price", "promo")
#: Per-step covariates the network reads, in this order (standardized).
COVARIATES = ("log_price_dev", "log_rel_price", "promo", "feat")


def check_sales(frame: pd.DataFrame, owner: str) -> pd.DataFrame:
    """The required columns (and ``feat`` when present) of ``frame``, checked, with
    ``date`` as datetimes and the ids as text; raises :class:`DataValidationError`
    naming the column and rows at the first problem."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"sales is missing column(s) {', '.join(missing)}: {owner}.fit needs "
            f"{', '.join(REQUIRED)} (and optionally feat)", table="sales",
            column=missing[0], fix="pass the sales table (features.datasets / the store)")
    cols = [*REQUIRED, "feat"] if "feat" in frame.columns else list(REQUIRED)
    df = frame[cols].copy()
    for col in cols:
        nulls = np.flatnonzero(df[col].isna().to_numpy())
        if len(nulls):
            bad_rows(col, nulls, "missing values", "fill or drop those rows")
    try:
        df["date"] = pd.to_datetime(df["date"])
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"sales.date cannot be read as dates ({exc})",
                                  table="sales", column="date", n_rows=len(df),
                                  fix="pass datetime64 dates") from exc
    for col in cols[3:]:  # units, price, promo (, feat)
        numeric = pd.api.types.is_numeric_dtype(df[col]) and not (
            col in ("units", "price") and pd.api.types.is_bool_dtype(df[col]))
        if not numeric:
            raise DataValidationError(f"sales.{col} is not numeric ({df[col].dtype})",
                                      table="sales", column=col, n_rows=len(df),
                                      fix=f"cast {col} to a number")
        values = df[col].to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            bad_rows(col, bad, "infinite values", "drop those rows")
    units = df["units"].to_numpy(dtype=np.float64)
    price = df["price"].to_numpy(dtype=np.float64)
    if (units < 0).any():
        bad_rows("units", np.flatnonzero(units < 0), "negative values",
                 "units must be >= 0; drop returns or clip them at 0")
    if (price <= 0).any():
        bad_rows("price", np.flatnonzero(price <= 0), "non-positive values",
                 "prices must be > 0 (the model reads log prices)")
    df["store_id"] = df["store_id"].astype(str)
    df["item_id"] = df["item_id"].astype(str)
    dup = df.duplicated(["store_id", "item_id", "date"]).to_numpy()
    if dup.any():
        bad_rows("date", np.flatnonzero(dup), "duplicate (store_id, item_id, date) keys",
                 "aggregate to one row per store, item and period")
    return df


def lag1_acf(x: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each row of ``x`` (n, L); 0 for a constant row."""
    d = x - x.mean(axis=1, keepdims=True)
    den = (d * d).sum(axis=1)
    num = (d[:, 1:] * d[:, :-1]).sum(axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def run_end(continues: np.ndarray) -> np.ndarray:
    """For each row, one past the last row of its run; ``continues[i]`` says row ``i``
    extends row ``i - 1``'s run."""
    n = len(continues)
    starts = np.flatnonzero(~continues) if n else np.zeros(0, dtype=np.int64)
    if n and (len(starts) == 0 or starts[0] != 0):
        starts = np.r_[0, starts]
    ends = np.r_[starts[1:], n]
    return np.repeat(ends, np.diff(np.r_[starts, n])).astype(np.int64)


def robust_sd(x: np.ndarray) -> float:
    sd = float(np.std(x))
    return sd if sd > 1e-8 else 1.0


def bad_rows(column: str, rows: np.ndarray, what: str, fix: str) -> None:
    shown = ", ".join(str(r + 1) for r in rows[:5])
    raise DataValidationError(f"sales.{column} has {len(rows)} {what} (rows {shown})",
                              table="sales", column=column, n_rows=len(rows),
                              rows=(rows[:5] + 1).tolist(), fix=fix)
