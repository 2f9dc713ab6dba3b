"""The features of a demand forecast: checked sales frames, the period grid, features of
each forecast origin from the data at or before it (:func:`origin_features`: calendar
lags, rolling stats, the series' scale), and the known-future features at each target
date (:func:`target_features`: price, promo, exog, calendar) plus store attributes.

Lags are taken on the calendar (a missing week is NaN, never the previous row), as in
:func:`features.demand.demand_features`, which builds the target-date features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.demand import demand_features
from features.errors import DataValidationError

logger = logging.getLogger(__name__)

#: The columns that identify one sales row.
KEYS = ["store_id", "item_id", "date"]
_MIN_SCALE = 1.0
_TARGET_COLS = ["price", "log_price", "rel_price", "promo"]
_CALENDAR = ["week_of_year", "month"]


def check_no_missing(frame: pd.DataFrame, table: str, columns: Sequence[str]) -> None:
    """Raise DataValidationError naming the first of ``columns`` with missing values (rows
    counted from 1 on a frame with a fresh index)."""
    for col in columns:
        bad = frame[col].isna().to_numpy()
        if bad.any():
            rows = (np.flatnonzero(bad)[:5] + 1).tolist()
            raise DataValidationError(
                f"{table}.{col} has {int(bad.sum())} missing values (rows {rows})",
                table=table, column=col, n_rows=int(bad.sum()), rows=rows,
                fix=f"drop those rows or fill {col}")


def check_frame(frame: object, table: str, columns: Sequence[str], *,
                 units: bool) -> pd.DataFrame:
    """A validated copy with string ids and normalised dates."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{table} must be a pandas DataFrame; got {type(frame).__name__}")
    if len(frame) == 0:
        raise DataValidationError(f"{table} is empty", table=table, n_rows=0,
                                  fix=f"pass at least one row with columns {list(columns)}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{table} has no column(s) {missing} (columns: {list(map(str, frame.columns))})",
            table=table, column=missing[0], n_rows=len(frame),
            fix=f"add or rename the columns {missing}")
    out = frame.reset_index(drop=True)
    check_no_missing(out, table, columns)
    out["store_id"] = out["store_id"].astype(str)
    out["item_id"] = out["item_id"].astype(str)
    out["date"] = pd.to_datetime(out["date"]).dt.normalize()
    checks = [("price", lambda v: ~(v > 0) | ~np.isfinite(v), "prices must be finite and > 0")]
    if units:
        checks.append(("units", lambda v: ~(v >= 0) | ~np.isfinite(v),
                       "units must be finite and >= 0"))
    for col, rule, why in checks:
        vals = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float)
        bad = rule(vals)
        if bad.any():
            rows = (np.flatnonzero(bad)[:5] + 1).tolist()
            raise DataValidationError(
                f"{table}.{col} has {int(bad.sum())} invalid values (rows {rows})",
                table=table, column=col, n_rows=int(bad.sum()), rows=rows, fix=why)
        out[col] = vals
    keys = KEYS + (["window_id"] if "window_id" in out.columns else [])
    dup = out.duplicated(keys).to_numpy()
    if dup.any():
        rows = (np.flatnonzero(dup)[:5] + 1).tolist()
        raise DataValidationError(
            f"{table} has {int(dup.sum())} duplicate {'/'.join(keys)} rows (rows {rows})",
            table=table, column="date", n_rows=int(dup.sum()), rows=rows,
            fix="aggregate to one row per series and period")
    return out


def periods(dates: pd.Series, anchor: pd.Timestamp, freq_days: int, table: str) -> np.ndarray:
    """Period number of each date on the ``freq_days`` grid starting at ``anchor``;
    raises when a date is off that grid."""
    days = ((dates - anchor) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    off = np.mod(days, freq_days) != 0
    if off.any():
        rows = (np.flatnonzero(off)[:5] + 1).tolist()
        raise DataValidationError(
            f"{table}.date has {int(off.sum())} dates off the {freq_days}-day grid that "
            f"starts on {anchor.date()} (rows {rows})", table=table, column="date",
            n_rows=int(off.sum()), rows=rows,
            fix="use one date per period, on the same weekday (e.g. the week's start)")
    return (days // freq_days).astype(np.int64)


def series_key(frame: pd.DataFrame) -> pd.Series:
    """One text key per series: store, item (and ``window_id`` for synthetic windows)."""
    key = frame["store_id"] + "\x1f" + frame["item_id"]
    if "window_id" in frame.columns:
        key = key + "\x1f" + frame["window_id"].astype(str)
    return key


def origin_features(
    sales: pd.DataFrame,
    origins: pd.DataFrame,
    *,
    lags: Sequence[int] = (1, 2, 3, 4, 8, 12),
    windows: Sequence[int] = (4, 8, 13),
    freq_days: int = 7,
) -> pd.DataFrame:
    """Features of each forecast origin from the data at or before it (calendar lags).

    Parameters
    ----------
    sales : DataFrame
        ``store_id, item_id, date, units, price, promo`` (and ``window_id`` to keep
        synthetic windows apart), already validated.
    origins : DataFrame
        ``store_id, item_id, date`` (and ``window_id``): one row per origin ``t``.
    lags, windows, freq_days
        As in :class:`DemandModel`.

    Returns
    -------
    DataFrame
        Aligned with ``origins``: ``units_lag{k}`` (units ``k - 1`` periods before ``t``),
        ``units_mean_{w}`` / ``units_std_{w}`` over the ``w`` periods ending at ``t``,
        ``n_history`` (observations at or before ``t``), ``price_origin``,
        ``promo_origin``, ``price_mean`` (mean price over the last ``max(windows)``
        periods) and ``scale``. Every value is computed from rows dated ``<= t`` only.
    """
    depth = max(max(lags), max(windows))
    anchor = min(sales["date"].min(), origins["date"].min())
    key_s, key_o = series_key(sales), series_key(origins)
    codes, uniq = pd.factorize(pd.concat([key_s, key_o], ignore_index=True))
    cs, co = codes[: len(sales)], codes[len(sales):]
    ps = periods(sales["date"], anchor, freq_days, "sales")
    po = periods(origins["date"], anchor, freq_days, "origins")
    n = len(uniq)
    pmin = np.full(n, np.iinfo(np.int64).max)
    pmax = np.full(n, -1)
    np.minimum.at(pmin, cs, ps)
    np.maximum.at(pmax, cs, ps)
    has = pmax >= 0
    span = np.where(has, pmax - pmin + 1, 0)
    offset = np.concatenate([[0], np.cumsum(span)[:-1]])
    total = int(span.sum())
    pos = offset[cs] + ps - pmin[cs]
    grids = {}
    for col in ("units", "price", "promo"):
        grid = np.full(total, np.nan)
        grid[pos] = sales[col].to_numpy(dtype=float)
        grids[col] = grid
    seen = np.zeros(total, dtype=np.int64)
    seen[pos] = 1
    cum_seen = np.cumsum(seen)

    # values j = 0..depth-1 periods before each origin; NaN outside the series' span
    idx = po[:, None] - np.arange(depth)[None, :]
    ok = has[co, None] & (idx >= pmin[co, None]) & (idx <= pmax[co, None])
    flat = np.where(ok, offset[co, None] + idx - pmin[co, None], 0)
    u = np.where(ok, grids["units"][flat], np.nan)
    pr = np.where(ok, grids["price"][flat], np.nan)
    out: dict[str, np.ndarray] = {}
    for k in lags:
        out[f"units_lag{k}"] = u[:, k - 1]
    obs = ~np.isnan(u)
    filled = np.where(obs, u, 0.0)
    for w in windows:
        cnt = obs[:, :w].sum(axis=1)
        tot = filled[:, :w].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, tot / cnt, np.nan)
            sq = np.where(obs[:, :w], (u[:, :w] - mean[:, None]) ** 2, 0.0).sum(axis=1)
            out[f"units_mean_{w}"] = mean
            out[f"units_std_{w}"] = np.where(cnt > 1, np.sqrt(sq / (cnt - 1)), np.nan)
    # observations at or before t: prefix count within the series' own segment
    last = np.clip(po, pmin[co] - 1, pmax[co]) if n else po
    end = offset[co] + last - pmin[co]
    before = np.where(offset[co] > 0, cum_seen[np.maximum(offset[co] - 1, 0)], 0)
    out["n_history"] = np.where(has[co] & (last >= pmin[co]),
                                cum_seen[np.clip(end, 0, max(total - 1, 0))] - before, 0
                                ).astype(float)
    out["price_origin"] = pr[:, 0]
    out["promo_origin"] = np.where(ok[:, 0], grids["promo"][flat[:, 0]], np.nan)
    wmax = max(windows)
    pobs = ~np.isnan(pr[:, :wmax])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["price_mean"] = np.where(pobs.any(axis=1),
                                     np.where(pobs, pr[:, :wmax], 0).sum(axis=1)
                                     / pobs.sum(axis=1), np.nan)
        deep = obs.sum(axis=1)
        fallback = np.where(deep > 0, filled.sum(axis=1) / np.maximum(deep, 1), np.nan)
    scale = out[f"units_mean_{wmax}"]
    scale = np.where(np.isnan(scale), fallback, scale)
    out["scale"] = np.maximum(scale, _MIN_SCALE)
    return pd.DataFrame(out, index=origins.index)


def target_features(frame: pd.DataFrame, *, exog: Sequence[str], freq_days: int
                    ) -> pd.DataFrame:
    """Known-future features of each row at its own date (aligned to ``frame``): price,
    log price, relative price against the store's other items, promo, the ``exog``
    columns and the calendar."""
    work = frame[["store_id", "item_id", "date", "units", "price", "promo", *exog]].copy()
    # rel_price compares items of one store and period; a synthetic window is its own store
    work["store_id"] = (frame["store_id"] + "\x1f" + frame["window_id"].astype(str)
                        if "window_id" in frame.columns else frame["store_id"])
    work["_row"] = np.arange(len(work))
    feats = demand_features(work, lags=(1,), windows=(1,), freq_days=freq_days,
                            exog=list(exog))
    feats = feats.merge(work[["store_id", "item_id", "date", "_row"]],
                        on=["store_id", "item_id", "date"], how="left")
    feats = feats.sort_values("_row")
    cols = [*_TARGET_COLS, *exog, *_CALENDAR]
    return pd.DataFrame(feats[cols].to_numpy(dtype=float), columns=cols, index=frame.index)


def store_attributes(stores: pd.DataFrame | None) -> pd.DataFrame | None:
    """Numeric store attributes indexed by ``store_id``, as ``store_<name>`` floats
    (non-numeric columns are left out, with a log message)."""
    if stores is None:
        return None
    if not isinstance(stores, pd.DataFrame) or "store_id" not in stores.columns:
        raise DataValidationError("stores must be a DataFrame with a store_id column",
                                  table="stores", column="store_id",
                                  fix="pass the stores table (store_id + attributes)")
    attrs = stores.copy()
    attrs["store_id"] = attrs["store_id"].astype(str)
    numeric = [c for c in attrs.columns if c != "store_id"
               and pd.api.types.is_numeric_dtype(attrs[c])]
    dropped = [c for c in attrs.columns if c != "store_id" and c not in numeric]
    if dropped:
        logger.info("DemandModel: non-numeric store attributes ignored: %s", dropped)
    attrs = attrs.drop_duplicates("store_id").set_index("store_id")[numeric]
    return attrs.rename(columns=lambda c: f"store_{c}").astype(float)
