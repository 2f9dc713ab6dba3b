"""Global LightGBM demand forecaster over store x item series, with a rolling-origin backtest.

Strategy: *direct*, one LightGBM booster per horizon ``h`` for the point forecast and one
per ``(h, quantile)`` (quantile objective). A training row pairs a forecast origin ``t``
with a target ``T = t + h``:

- **origin features** use only units/prices observed at or before ``t``
  (:func:`origin_features`): ``units_lag{k}`` is the value ``k - 1`` periods before the
  origin (``units_lag1`` = the origin period itself; the lags are counted from the target
  at horizon 1, and at horizon ``h`` each model sees the same most recent observations),
  rolling ``units_mean_{w}`` / ``units_std_{w}`` over the ``w`` periods ending at the
  origin, ``n_history``, the origin's price and promo and the mean price of the last
  ``max(windows)`` periods. Lags are taken on the calendar (a missing week is NaN, never
  the previous row), as in :func:`features.demand.demand_features`;
- **known-future features** are taken at the *target* date ``T``, for every horizon:
  price, log price, relative price against the other items of the store, promo, the
  ``exog`` columns (e.g. ``feat``), calendar (week of year, month), computed with
  :func:`features.demand.demand_features`, plus the price change against the origin.
  (mlforecast's direct mode is known to get this wrong by reusing the first step's
  covariates.) The store's attributes and store / item ids (LightGBM categoricals) are
  static.

Each series is scaled by ``scale`` = mean units over the last ``max(windows)`` periods at
the origin (at least 1): unit features and the target are divided by it, and each row is
weighted by it, so the Poisson / quantile losses equal the losses on raw units while one
model fits series of very different sizes.

Quantile boosters are calibrated by split conformal shifts on the last
``calibration_periods`` of the training data (see :class:`DemandModel`), then sorted per
row so they never cross. The forecast origin of :meth:`DemandModel.predict` is the last
date of ``history`` (or ``origin=``), the same for every series; a series without a row
on that date simply has missing recent lags.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import ndtr

from engine.forecast_metrics import bias, coverage, insample_scale, mase, pinball, rmsse, wape
from features.artifacts import ArtifactError, publish_dir, read_params, sha256_file, verify_files
from features.demand import demand_features
from features.errors import DataValidationError, check_param
from features.version import __version__

logger = logging.getLogger(__name__)

__all__ = ["DemandModel", "origin_features", "backtest", "score_backtest"]

KEYS = ["store_id", "item_id", "date"]
FORMAT_VERSION = 1
REFIT = "train the model (`genlift train demand`)"
_MIN_SCALE = 1.0
_TARGET_COLS = ["price", "log_price", "rel_price", "promo"]
_CALENDAR = ["week_of_year", "month"]


# ------------------------------------------------------------------------ validation
def _check_frame(frame: object, table: str, columns: Sequence[str], *,
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
    for col in columns:
        bad = out[col].isna().to_numpy()
        if bad.any():
            rows = (np.flatnonzero(bad)[:5] + 1).tolist()
            raise DataValidationError(
                f"{table}.{col} has {int(bad.sum())} missing values (rows {rows})",
                table=table, column=col, n_rows=int(bad.sum()), rows=rows,
                fix=f"drop those rows or fill {col}")
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


def _periods(dates: pd.Series, anchor: pd.Timestamp, freq_days: int, table: str) -> np.ndarray:
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


# ------------------------------------------------------------------ origin features
def _series_key(frame: pd.DataFrame) -> pd.Series:
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
    key_s, key_o = _series_key(sales), _series_key(origins)
    codes, uniq = pd.factorize(pd.concat([key_s, key_o], ignore_index=True))
    cs, co = codes[: len(sales)], codes[len(sales):]
    ps = _periods(sales["date"], anchor, freq_days, "sales")
    po = _periods(origins["date"], anchor, freq_days, "origins")
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


# ------------------------------------------------------------------------ the model
class DemandModel:
    """Direct multi-horizon LightGBM demand forecaster with quantiles.

    Parameters
    ----------
    horizon : int
        Periods ahead (``1..horizon``), one booster set per horizon.
    quantiles : sequence of float
        Quantile levels in (0, 1), one quantile-objective booster per level and horizon.
    objective : {"tweedie", "poisson"}
        Point-forecast objective on (scaled) units.
    lags : sequence of int
        Unit lags counted from the target at horizon 1 (``1`` = the origin period).
    windows : sequence of int
        Rolling mean / std windows ending at the origin.
    exog : sequence of str
        Extra known-in-advance sales columns, taken at the target date (e.g. ``feat``).
    n_estimators, learning_rate, num_leaves, min_child_samples
        LightGBM parameters, the same for every booster.
    random_state : int or None
        LightGBM seed (``None`` = 0).
    freq_days : int
        Days per period (7: weekly).
    calibration_periods : int
        The last periods of ``sales`` held out of the *quantile* boosters' training to
        calibrate them (split conformal, per horizon and level): each quantile is shifted
        by the held-out ``q``-quantile of its residuals, so that intervals reach their
        nominal coverage out of sample (quantile boosters under-cover on their own
        training data). 0 = no calibration, all rows train every booster. The point
        boosters always train on every row.
    n_jobs : int
        LightGBM threads (0 = OpenMP's default, all cores). On a busy machine with few
        cores, 1 avoids OpenMP threads spinning at barriers while a core is taken.

    Attributes
    ----------
    feature_names_ : list of str
        Columns every booster sees, in order.
    boosters_ : dict
        ``(h, "point")`` and ``(h, q)`` -> ``lightgbm.Booster``.
    store_categories_, item_categories_ : list of str
        Ids mapped to LightGBM categorical codes (unknown ids -> missing).
    fingerprint_ : str
        sha256 of the real training rows.

    Examples
    --------
    >>> model = DemandModel(horizon=4).fit(sales, stores)  # doctest: +SKIP
    >>> model.predict(history, future).head()  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        horizon: int = 4,
        quantiles: Sequence[float] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95),
        objective: str = "tweedie",
        lags: Sequence[int] = (1, 2, 3, 4, 8, 12),
        windows: Sequence[int] = (4, 8, 13),
        exog: Sequence[str] = ("feat",),
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        random_state: int | None = 0,
        freq_days: int = 7,
        calibration_periods: int = 8,
        n_jobs: int = 0,
    ) -> None:
        self.horizon = horizon
        self.quantiles = quantiles
        self.objective = objective
        self.lags = lags
        self.windows = windows
        self.exog = exog
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.freq_days = freq_days
        self.calibration_periods = calibration_periods
        self.n_jobs = n_jobs

    # -------------------------------------------------------------- parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly)."""
        return {"horizon": self.horizon, "quantiles": list(self.quantiles),
                "objective": self.objective, "lags": list(self.lags),
                "windows": list(self.windows), "exog": list(self.exog),
                "n_estimators": self.n_estimators, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples,
                "random_state": self.random_state, "freq_days": self.freq_days,
                "calibration_periods": self.calibration_periods,
                "n_jobs": self.n_jobs}

    def __repr__(self) -> str:
        return f"DemandModel({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _validate_params(self) -> None:
        own = "DemandModel"

        def is_int(v: object, low: int) -> bool:
            return bool(isinstance(v, int | np.integer) and not isinstance(v, bool)
                        and v >= low)

        for name, low in (("horizon", 1), ("n_estimators", 1), ("num_leaves", 2),
                          ("min_child_samples", 1), ("freq_days", 1), ("n_jobs", 0),
                          ("calibration_periods", 0)):
            value = getattr(self, name)
            check_param(own, name, value, is_int(value, low), f"an int in the range [{low}, inf)")
        lr = self.learning_rate
        check_param(own, "learning_rate", lr, isinstance(lr, int | float) and
                    not isinstance(lr, bool) and np.isfinite(lr) and lr > 0,
                    "a float in the range (0, inf)")
        q = self.quantiles
        check_param(own, "quantiles", q, isinstance(q, Sequence) and not isinstance(q, str)
                    and all(isinstance(v, float | int) and 0 < v < 1 for v in q) and
                    len(set(q)) == len(q), "a sequence of distinct floats in (0, 1) "
                    "(empty: point forecasts only)")
        check_param(own, "objective", self.objective, self.objective in ("tweedie", "poisson"),
                    "a str among {'tweedie', 'poisson'}")
        for name in ("lags", "windows"):
            v = getattr(self, name)
            check_param(own, name, v, isinstance(v, Sequence) and len(v) > 0 and
                        all(is_int(x, 1) for x in v), "a non-empty sequence of ints >= 1")
        check_param(own, "exog", self.exog, isinstance(self.exog, Sequence) and
                    not isinstance(self.exog, str) and all(isinstance(c, str) for c in self.exog),
                    "a sequence of column names")
        rs = self.random_state
        check_param(own, "random_state", rs, rs is None or is_int(rs, 0),
                    "None or an int in the range [0, inf)")

    @property
    def _levels(self) -> list[float]:
        return sorted(float(q) for q in self.quantiles)

    def _lgb_params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        params = {"objective": objective, "learning_rate": float(self.learning_rate),
                  "num_leaves": int(self.num_leaves),
                  "min_data_in_leaf": int(self.min_child_samples),
                  "seed": int(self.random_state or 0), "deterministic": True,
                  "force_row_wise": True, "verbose": -1, "num_threads": int(self.n_jobs)}
        if alpha is not None:
            params["alpha"] = alpha
        return params

    # ---------------------------------------------------------------- features
    def _columns(self) -> list[str]:
        return ["store_id", "item_id", "date", "units", "price", "promo", *self.exog]

    def _target_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Known-future features of each row at its own date (aligned to ``frame``)."""
        work = frame[self._columns()].copy()
        # rel_price compares items of one store and period; a synthetic window is its own store
        work["store_id"] = (frame["store_id"] + "\x1f" + frame["window_id"].astype(str)
                            if "window_id" in frame.columns else frame["store_id"])
        work["_row"] = np.arange(len(work))
        feats = demand_features(work, lags=(1,), windows=(1,), freq_days=self.freq_days,
                                exog=list(self.exog))
        feats = feats.merge(work[["store_id", "item_id", "date", "_row"]],
                            on=["store_id", "item_id", "date"], how="left")
        feats = feats.sort_values("_row")
        cols = [*_TARGET_COLS, *self.exog, *_CALENDAR]
        return pd.DataFrame(feats[cols].to_numpy(dtype=float), columns=cols, index=frame.index)

    def _store_attrs(self, stores: pd.DataFrame | None) -> pd.DataFrame | None:
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

    def _design(self, target_rows: pd.DataFrame, origin_rows: pd.DataFrame,
                history: pd.DataFrame, attrs: pd.DataFrame | None) -> pd.DataFrame:
        """Feature matrix: one row per (origin, target) pair."""
        orig = origin_features(history, origin_rows, lags=self.lags, windows=self.windows,
                               freq_days=self.freq_days)
        scale = orig.pop("scale").to_numpy()
        for col in orig.columns:
            if col.startswith("units_"):
                orig[col] = orig[col].to_numpy() / scale
        tgt = self._target_features(target_rows)
        feats = pd.DataFrame(index=target_rows.index)
        feats["store"] = pd.Categorical(target_rows["store_id"],
                                        categories=self.store_categories_).codes
        feats["item"] = pd.Categorical(target_rows["item_id"],
                                       categories=self.item_categories_).codes
        feats[["store", "item"]] = feats[["store", "item"]].replace(-1, np.nan)
        feats = pd.concat([feats, orig.set_axis(target_rows.index), tgt], axis=1)
        feats["log_scale"] = np.log(scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            feats["price_change"] = tgt["log_price"].to_numpy() - np.log(
                orig["price_origin"].to_numpy())
            feats["price_vs_mean"] = tgt["log_price"].to_numpy() - np.log(
                orig["price_mean"].to_numpy())
        if self.store_attr_names_:
            table = attrs if attrs is not None else self._fit_attrs
            if table is None:
                raise DataValidationError(
                    "the model was fit with store attributes but none are available",
                    table="stores", fix="pass the stores table to predict")
            vals = table.reindex(target_rows["store_id"].to_numpy())
            vals = vals.reindex(columns=self.store_attr_names_)
            feats[self.store_attr_names_] = vals.to_numpy(dtype=float)
        feats["_scale"] = scale
        return feats

    def _training_rows(self, sales: pd.DataFrame, attrs: pd.DataFrame | None,
                       h: int) -> pd.DataFrame:
        targets = sales
        origins = targets[["store_id", "item_id", "date"]
                          + (["window_id"] if "window_id" in sales.columns else [])].copy()
        origins["date"] = origins["date"] - pd.Timedelta(days=h * self.freq_days)
        feats = self._design(targets, origins, sales, attrs)
        keep = feats["n_history"].to_numpy() > 0
        feats = feats.loc[keep]
        feats["_y"] = targets["units"].to_numpy()[keep] / feats["_scale"].to_numpy()
        feats["_tdate"] = targets["date"].to_numpy()[keep]
        return feats

    # --------------------------------------------------------------------- fit
    def fit(self, sales: pd.DataFrame, stores: pd.DataFrame | None = None, *,
            synthetic: pd.DataFrame | None = None, synthetic_weight: float = 1.0) -> Self:
        """Train the point and quantile boosters for every horizon.

        Parameters
        ----------
        sales : DataFrame
            ``store_id, item_id, date, units, price, promo`` and the ``exog`` columns.
        stores : DataFrame, optional
            ``store_id`` and numeric attributes (demographics), remembered for predict.
        synthetic : DataFrame, optional
            Extra training rows in the same format, optionally with ``window_id``:
            series are then ``(store_id, item_id, window_id)`` so lags never cross windows.
        synthetic_weight : float
            LightGBM sample weight of the synthetic rows relative to real ones (0 = the
            synthetic rows are left out entirely).

        Returns
        -------
        DemandModel
            ``self``.
        """
        self._validate_params()
        check_param("DemandModel", "synthetic_weight", synthetic_weight,
                    isinstance(synthetic_weight, int | float) and
                    not isinstance(synthetic_weight, bool) and np.isfinite(synthetic_weight)
                    and synthetic_weight >= 0, "a float in the range [0, inf)")
        cols = self._columns()
        real = _check_frame(sales, "sales", cols, units=True)
        self.anchor_ = real["date"].min()
        _periods(real["date"], self.anchor_, self.freq_days, "sales")
        self.store_categories_ = sorted(real["store_id"].unique().tolist())
        self.item_categories_ = sorted(real["item_id"].unique().tolist())
        self._fit_attrs = self._store_attrs(stores)
        self.store_attr_names_ = ([] if self._fit_attrs is None
                                  else list(self._fit_attrs.columns))
        frames = [(real, 1.0)]
        if synthetic is not None and synthetic_weight > 0:
            syn = _check_frame(synthetic, "synthetic", cols, units=True)
            frames.append((syn, float(synthetic_weight)))
        elif synthetic is not None:
            logger.info("DemandModel: synthetic_weight=0, synthetic rows left out")
        digest = hashlib.sha256(pd.util.hash_pandas_object(
            real[cols], index=False).to_numpy().tobytes())
        self.fingerprint_ = digest.hexdigest()
        self.boosters_: dict[tuple[int, Any], lgb.Booster] = {}
        self.offsets_: dict[tuple[int, float], float] = {}
        calib_from = real["date"].max() - pd.Timedelta(
            days=self.calibration_periods * self.freq_days)
        start = time.perf_counter()
        for h in range(1, self.horizon + 1):
            parts = []
            for n_frame, (frame, weight) in enumerate(frames):
                rows = self._training_rows(frame, self._fit_attrs, h)
                rows["_w"] = rows["_scale"] * weight
                rows["_calib"] = (n_frame == 0) & (rows["_tdate"] > calib_from)
                parts.append(rows)
            train = pd.concat(parts, ignore_index=True)
            if len(train) == 0:
                raise DataValidationError(
                    f"sales has no (origin, target) pair {h} periods apart",
                    table="sales", column="date", n_rows=len(real),
                    fix="pass a longer history per series")
            self.feature_names_ = [c for c in train.columns if not c.startswith("_")]
            X = train[self.feature_names_].to_numpy(dtype=float)
            y, w = train["_y"].to_numpy(), train["_w"].to_numpy()
            data = lgb.Dataset(X, label=y, weight=w, feature_name=self.feature_names_,
                               categorical_feature=["store", "item"], free_raw_data=False)
            self.boosters_[(h, "point")] = self._train(h, "point", data)
            if not self._levels:
                continue
            calib = train["_calib"].to_numpy()
            if self.calibration_periods and (calib.all() or not calib.any()):
                logger.warning("DemandModel: horizon %d has %d calibration rows of %d; "
                               "quantiles left uncalibrated", h, int(calib.sum()), len(calib))
                calib[:] = False
            qdata = data if not calib.any() else lgb.Dataset(
                X[~calib], label=y[~calib], weight=w[~calib], feature_name=self.feature_names_,
                categorical_feature=["store", "item"], free_raw_data=False)
            for q in self._levels:
                booster = self._train(h, q, qdata)
                self.boosters_[(h, q)] = booster
                # split-conformal shift: the held-out periods' q-quantile of the residual
                # (scaled units) moves the booster's quantile to empirical level q
                self.offsets_[(h, q)] = (float(np.quantile(y[calib] - booster.predict(
                    X[calib]), q)) if calib.any() else 0.0)
            logger.info("DemandModel: horizon %d trained on %d rows, %d for calibration "
                        "(%.1fs so far)", h, len(train), int(calib.sum()),
                        time.perf_counter() - start)
        return self

    def _train(self, h: int, kind: str | float, data: lgb.Dataset) -> lgb.Booster:
        tick = time.perf_counter()
        params = (self._lgb_params(self.objective) if isinstance(kind, str)
                  else self._lgb_params("quantile", kind))
        booster = lgb.train(params, data, num_boost_round=self.n_estimators)
        logger.debug("DemandModel: h=%d %s booster %.2fs", h, kind, time.perf_counter() - tick)
        return booster

    # ----------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise RuntimeError("This DemandModel instance is not fitted yet; call "
                               "fit(sales) before using it.")

    def forecast_features(self, history: pd.DataFrame, future: pd.DataFrame,
                          stores: pd.DataFrame | None = None, *,
                          origin: Any = None) -> pd.DataFrame:
        """The feature rows :meth:`predict` feeds the boosters.

        Parameters
        ----------
        history : DataFrame
            Sales rows; those after ``origin`` are ignored.
        future : DataFrame
            ``store_id, item_id, date, price, promo`` and the ``exog`` columns, one row per
            series and period ``origin + 1 .. origin + horizon``.
        stores : DataFrame, optional
            Store attributes; those given to ``fit`` when omitted.
        origin : date-like, optional
            Forecast origin; the last date of ``history`` when omitted.

        Returns
        -------
        DataFrame
            ``store_id, item_id, date, horizon`` and :attr:`feature_names_`, sorted by
            store, item, horizon.
        """
        self._check_fitted()
        hist = _check_frame(history, "history", self._columns(), units=True)
        cols = [c for c in self._columns() if c != "units"]
        fut = _check_frame(future, "future", cols, units=False)
        t0 = hist["date"].max() if origin is None else pd.Timestamp(origin).normalize()
        hist = hist.loc[hist["date"] <= t0]
        if len(hist) == 0:
            raise DataValidationError(f"history has no rows at or before the origin {t0.date()}",
                                      table="history", column="date",
                                      fix="pass the sales up to the forecast origin")
        _periods(pd.concat([hist["date"], fut["date"]]), t0, self.freq_days, "future")
        step = ((fut["date"] - t0) / pd.Timedelta(days=self.freq_days)).round().astype(int)
        fut["horizon"] = step.to_numpy()
        known = set(_series_key(hist))
        fkey = _series_key(fut)
        unknown = ~fkey.isin(known)
        if unknown.any():
            ex = fut.loc[unknown, ["store_id", "item_id"]].drop_duplicates().head(5)
            raise DataValidationError(
                f"future has {int(unknown.sum())} rows of series with no history "
                f"({list(map(tuple, ex.to_numpy()))})", table="future", column="item_id",
                n_rows=int(unknown.sum()), fix="forecast only series present in history")
        bad_step = (fut["horizon"] < 1) | (fut["horizon"] > self.horizon)
        if bad_step.any():
            rows = (np.flatnonzero(bad_step.to_numpy())[:5] + 1).tolist()
            raise DataValidationError(
                f"future has {int(bad_step.sum())} rows outside the horizon 1..{self.horizon} "
                f"after the origin {t0.date()} (rows {rows})", table="future", column="date",
                n_rows=int(bad_step.sum()), rows=rows,
                fix="pass exactly the periods origin+1 .. origin+horizon")
        counts = fut.groupby(fkey)["horizon"].nunique()
        short = counts[counts < self.horizon]
        if len(short):
            raise DataValidationError(
                f"future lacks rows for some horizons of {len(short)} series (e.g. "
                f"{short.index[0].replace(chr(31), '/')} has {int(short.iloc[0])} of "
                f"{self.horizon})", table="future", column="date", n_rows=len(short),
                fix="pass price/promo for every period origin+1 .. origin+horizon "
                    "of every series")
        fut = fut.sort_values(["store_id", "item_id", "horizon"]).reset_index(drop=True)
        origins = fut[["store_id", "item_id"]].copy()
        origins["date"] = t0
        # target features need a units column; it is never read
        fut["units"] = 0.0
        attrs = self._store_attrs(stores)
        feats = self._design(fut, origins, hist, attrs)
        out = fut[["store_id", "item_id", "date", "horizon"]].copy()
        return pd.concat([out, feats[[*self.feature_names_, "_scale"]]], axis=1)

    def predict(self, history: pd.DataFrame, future: pd.DataFrame,
                stores: pd.DataFrame | None = None, *, origin: Any = None) -> pd.DataFrame:
        """Point and quantile forecasts for every series in ``future`` and horizon.

        Parameters are those of :meth:`forecast_features`.

        Returns
        -------
        DataFrame
            ``store_id, item_id, date, horizon, point`` and one ``q{level}`` column per
            quantile (``q0.05`` ...), non-negative and non-decreasing in the level.
        """
        feats = self.forecast_features(history, future, stores, origin=origin)
        out = feats[["store_id", "item_id", "date", "horizon"]].copy()
        scale = feats["_scale"].to_numpy()
        X = feats[self.feature_names_].to_numpy(dtype=float)
        hz = feats["horizon"].to_numpy()
        levels = self._levels
        point = np.zeros(len(feats))
        qs = np.zeros((len(feats), len(levels)))
        for h in range(1, self.horizon + 1):
            m = hz == h
            point[m] = np.asarray(self.boosters_[(h, "point")].predict(X[m]))
            for j, q in enumerate(levels):
                qs[m, j] = np.asarray(self.boosters_[(h, q)].predict(X[m])) + self.offsets_[(h, q)]
        out["point"] = np.maximum(point, 0) * scale
        # independent quantile boosters can cross; sorting restores a valid quantile function
        qs = np.sort(np.maximum(qs, 0) * scale[:, None], axis=1)
        for j, q in enumerate(levels):
            out[f"q{q:g}"] = qs[:, j]
        return out

    def sample_paths(self, history: pd.DataFrame, future: pd.DataFrame, n_paths: int,
                     random_state: int | np.random.Generator | None = None,
                     stores: pd.DataFrame | None = None, *, rho: float = 0.5) -> np.ndarray:
        """Demand paths consistent with the per-horizon quantiles.

        Each horizon's marginal is the predicted quantile function, linear between the
        quantile levels and extended beyond the outer levels with the slope of the outer
        segment (floored at 0). Horizons are tied with a Gaussian copula whose correlation
        is ``rho ** |i - j|`` between horizons ``i`` and ``j`` (AR(1)); ``rho=0`` gives
        independent periods, ``rho -> 1`` comonotone ones.

        Returns
        -------
        ndarray of shape (n_series, n_paths, horizon)
            Series in the order of :meth:`predict`'s rows (sorted by store, item).
        """
        check_param("DemandModel.sample_paths", "n_paths", n_paths,
                    isinstance(n_paths, int) and not isinstance(n_paths, bool) and n_paths >= 1,
                    "an int in the range [1, inf)")
        check_param("DemandModel.sample_paths", "rho", rho,
                    isinstance(rho, int | float) and -1 < rho < 1, "a float in (-1, 1)")
        self._check_fitted()
        if len(self._levels) < 2:
            raise ValueError("sample_paths needs a model fit with at least two quantiles; "
                             f"this one has {self._levels}")
        pred = self.predict(history, future, stores)
        levels = np.asarray(self._levels)
        H = self.horizon
        knots = pred[[f"q{q:g}" for q in levels]].to_numpy().reshape(-1, H, len(levels))
        rng = np.random.default_rng(random_state)
        lag = np.abs(np.arange(H)[:, None] - np.arange(H)[None, :])
        chol = np.linalg.cholesky(float(rho) ** lag)
        z = rng.standard_normal((knots.shape[0], n_paths, H)) @ chol.T
        u = ndtr(z)
        seg = np.clip(np.searchsorted(levels, u) - 1, 0, len(levels) - 2)
        kk = np.broadcast_to(knots[:, None, :, :], (*u.shape, len(levels)))
        v0 = np.take_along_axis(kk, seg[..., None], axis=-1)[..., 0]
        v1 = np.take_along_axis(kk, seg[..., None] + 1, axis=-1)[..., 0]
        l0, l1 = levels[seg], levels[seg + 1]
        return np.maximum(v0 + (v1 - v0) * (u - l0) / (l1 - l0), 0.0)

    # ------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to the folder ``path`` atomically.

        ``params.json`` (genlift version, config, fingerprint, feature names, categories,
        sha256 of every other file), ``arrays.npz`` (store attributes, no pickles) and one
        LightGBM text model per booster.
        """
        self._check_fitted()
        path = Path(path)
        if path.exists() and not (path / "params.json").is_file():
            raise FileExistsError(f"{path} exists and is not a saved genlift model; refusing "
                                  "to overwrite it")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            attrs = self._fit_attrs
            np.savez(tmp / "arrays.npz",
                     store_ids=np.asarray([] if attrs is None else attrs.index, dtype=str),
                     store_attrs=np.zeros((0, 0)) if attrs is None else attrs.to_numpy(float))
            files = {"arrays.npz": "arrays.npz"}
            for (h, kind), booster in self.boosters_.items():
                name = f"h{h}_{'point' if kind == 'point' else f'q{kind:g}'}.txt"
                booster.save_model(tmp / name)
                files[f"{h}|{kind}"] = name
            params = {"format_version": FORMAT_VERSION, "genlift_version": __version__,
                      "class": "DemandModel", "config": self.get_params(),
                      "fingerprint": self.fingerprint_, "anchor": str(self.anchor_.date()),
                      "feature_names": self.feature_names_,
                      "store_categories": self.store_categories_,
                      "item_categories": self.item_categories_,
                      "store_attr_names": self.store_attr_names_, "files": files,
                      "offsets": {f"{h}|{q!r}": v for (h, q), v in self.offsets_.items()},
                      "sha256": {f: sha256_file(tmp / f) for f in set(files.values())}}
            (tmp / "params.json").write_text(json.dumps(params, indent=2, sort_keys=True))
            publish_dir(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        logger.info("DemandModel: saved to %s", path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DemandModel:
        """Read a model written by :meth:`save` (checksums verified)."""
        path = Path(path)
        params = read_params(path, what="model", refit=REFIT)
        try:
            files, sums = dict(params["files"]), dict(params["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"model folder {path} is corrupted or incomplete: "
                                f"params.json is unreadable ({exc})", table="model",
                                fix=f"{REFIT} again") from exc
        if params.get("class") != "DemandModel":
            raise ArtifactError(f"{path} holds a {params.get('class')}, not a DemandModel",
                                table="model", fix="load it with its own class")
        verify_files(path, {name: sums.get(name, "") for name in set(files.values())},
                     what="model", refit=REFIT)
        try:
            config: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                      for k, v in params["config"].items()}
            model = cls(**config)
            model.anchor_ = pd.Timestamp(params["anchor"])
            model.fingerprint_ = params["fingerprint"]
            model.feature_names_ = list(params["feature_names"])
            model.store_categories_ = list(params["store_categories"])
            model.item_categories_ = list(params["item_categories"])
            model.store_attr_names_ = list(params["store_attr_names"])
            with np.load(path / "arrays.npz", allow_pickle=False) as data:
                ids, vals = data["store_ids"], data["store_attrs"]
            model._fit_attrs = (None if not model.store_attr_names_ else pd.DataFrame(
                vals, index=pd.Index(ids.astype(str), name="store_id"),
                columns=model.store_attr_names_))
            model.offsets_ = {(int(k.split("|")[0]), float(k.split("|")[1])): float(v)
                              for k, v in params.get("offsets", {}).items()}
            model.boosters_ = {}
            for key, name in files.items():
                if key == "arrays.npz":
                    continue
                h, kind = key.split("|")
                model.boosters_[(int(h), kind if kind == "point" else float(kind))] = \
                    lgb.Booster(model_file=str(path / name))
        except (KeyError, ValueError, TypeError, OSError, lgb.basic.LightGBMError) as exc:
            raise ArtifactError(f"model folder {path} is corrupted or incomplete: cannot "
                                f"rebuild the model ({type(exc).__name__}: {exc})",
                                table="model", fix=f"{REFIT} again") from exc
        return model


# ---------------------------------------------------------------------- backtest
def _cutoff_dates(dates: pd.Series, cutoffs: int | Sequence[Any], horizon: int,
                  freq_days: int) -> list[pd.Timestamp]:
    if isinstance(cutoffs, int | np.integer) and not isinstance(cutoffs, bool):
        check_param("backtest", "cutoffs", cutoffs, cutoffs >= 1,
                    "an int in the range [1, inf) or a sequence of dates")
        last = dates.max()
        step = pd.Timedelta(days=horizon * freq_days)
        return [last - step * i for i in range(int(cutoffs), 0, -1)]
    out = sorted(pd.Timestamp(c).normalize() for c in cutoffs)  # type: ignore[union-attr]
    check_param("backtest", "cutoffs", cutoffs, len(out) > 0,
                "an int in the range [1, inf) or a non-empty sequence of dates")
    return out


def backtest(
    sales: pd.DataFrame,
    stores: pd.DataFrame | None = None,
    *,
    cutoffs: int | Sequence[Any] = 4,
    horizon: int = 4,
    params: dict[str, Any] | None = None,
    ma_windows: Sequence[int] = (4, 8),
) -> dict[str, Any]:
    """Rolling-origin backtest of :class:`DemandModel` against naive baselines.

    For each cutoff ``c`` the model is fit on rows dated ``<= c`` only and forecasts
    ``c + 1 .. c + horizon`` for every series with a row in each of those periods (their
    price, promo and exog columns are the known future). Baselines from the same history:
    ``naive`` (last observed value) and ``ma{w}`` (mean of the observations in the last
    ``w`` periods, the last value when there are none).

    Parameters
    ----------
    sales, stores : DataFrame
        As in :meth:`DemandModel.fit`.
    cutoffs : int or sequence of dates
        ``N``: the last ``N`` origins spaced ``horizon`` periods apart, the latest being
        ``horizon`` periods before the last date; or explicit origin dates.
    horizon : int
        Periods ahead.
    params : dict, optional
        Other :class:`DemandModel` keyword arguments.
    ma_windows : sequence of int
        Moving-average baselines.

    Returns
    -------
    dict
        ``metrics`` (:func:`score_backtest` of all methods), ``predictions`` (one row per
        series, cutoff and horizon: actual ``units``, in-sample scales, every method's
        forecast and the model's quantiles), ``cutoffs`` and ``seconds`` (fit + predict
        time per cutoff).
    """
    kw = dict(params or {})
    kw["horizon"] = horizon
    proto = DemandModel(**kw)
    proto._validate_params()
    data = _check_frame(sales, "sales", proto._columns(), units=True)
    cuts = _cutoff_dates(data["date"], cutoffs, horizon, proto.freq_days)
    step = pd.Timedelta(days=proto.freq_days)
    frames, seconds = [], []
    for c in cuts:
        train = data.loc[data["date"] <= c]
        test = data.loc[(data["date"] > c) & (data["date"] <= c + step * horizon)]
        test = test.loc[_series_key(test).isin(set(_series_key(train)))]
        full = test.groupby(_series_key(test))["date"].transform("size") == horizon
        test = test.loc[full]
        if len(test) == 0:
            logger.warning("backtest: no series has a complete window after %s", c.date())
            continue
        start = time.perf_counter()
        model = DemandModel(**kw).fit(train, stores)
        pred = model.predict(train, test.drop(columns="units"))
        seconds.append(time.perf_counter() - start)
        pred = pred.merge(test[KEYS + ["units"]], on=KEYS, how="left")
        pred["cutoff"] = c
        srt = train.sort_values(["store_id", "item_id", "date"])
        key = _series_key(srt)
        s1 = insample_scale(srt["units"], key, power=1)
        s2 = insample_scale(srt["units"], key, power=2)
        pkey = _series_key(pred)
        pred["scale_mae"] = s1.reindex(pkey).to_numpy()
        pred["scale_mse"] = s2.reindex(pkey).to_numpy()
        last = srt.groupby(key)["units"].last()
        pred["naive"] = last.reindex(pkey).to_numpy()
        for w in ma_windows:
            recent = srt.loc[srt["date"] > c - step * w]
            ma = recent.groupby(_series_key(recent))["units"].mean()
            pred[f"ma{w}"] = ma.reindex(pkey).fillna(last.reindex(pkey)).to_numpy()
        pred["lightgbm"] = pred.pop("point")
        frames.append(pred)
        logger.info("backtest: cutoff %s, %d series, %.1fs", c.date(), len(pred) // horizon,
                    seconds[-1])
    if not frames:
        raise DataValidationError("backtest has no cutoff with a complete test window",
                                  table="sales", column="date",
                                  fix="use fewer or earlier cutoffs")
    predictions = pd.concat(frames, ignore_index=True)
    methods = ["lightgbm", "naive", *[f"ma{w}" for w in ma_windows]]
    return {"metrics": score_backtest(predictions, methods),
            "predictions": predictions, "cutoffs": cuts, "seconds": seconds}


def score_backtest(predictions: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Metrics per method and cutoff, plus ``"all"`` cutoffs pooled.

    ``predictions`` has ``cutoff, store_id, item_id, units, scale_mae, scale_mse``, one
    column per method and, optionally, ``q{level}`` quantile columns scored for the
    ``lightgbm`` method: mean pinball over the levels and the coverage of the 80% (q0.1 to
    q0.9) and 90% (q0.05 to q0.95) intervals.
    """
    qcols = [c for c in predictions.columns if c.startswith("q") and c[1:2].isdigit()]
    levels = [float(c[1:]) for c in qcols]
    rows = []
    groups = [(str(pd.Timestamp(c).date()), g) for c, g in predictions.groupby("cutoff")]
    for label, g in [*groups, ("all", predictions)]:
        series = _series_key(g) + "\x1f" + g["cutoff"].astype(str)
        y = g["units"].to_numpy()
        for m in methods:
            yhat = g[m].to_numpy()
            row = {"cutoff": label, "method": m, "n": len(g), "wape": wape(y, yhat),
                   "mase": mase(y, yhat, g["scale_mae"].to_numpy(), series),
                   "rmsse": rmsse(y, yhat, g["scale_mse"].to_numpy(), series),
                   "bias": bias(y, yhat), "pinball": np.nan, "coverage80": np.nan,
                   "coverage90": np.nan}
            if m == "lightgbm" and qcols:
                row["pinball"] = float(np.mean(pinball(y, g[qcols].to_numpy(), levels)))
                if "q0.1" in g and "q0.9" in g:
                    row["coverage80"] = coverage(y, g["q0.1"], g["q0.9"])
                if "q0.05" in g and "q0.95" in g:
                    row["coverage90"] = coverage(y, g["q0.05"], g["q0.95"])
            rows.append(row)
    return pd.DataFrame(rows)
