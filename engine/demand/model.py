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
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import ndtr
from tqdm.auto import tqdm

from engine.demand.features import (
    check_frame,
    origin_features,
    periods,
    series_key,
    store_attributes,
    target_features,
)
from engine.estimator import Estimator
from features.artifacts import Artifact
from features.errors import (
    DataValidationError,
    check_choice,
    check_int,
    check_param,
    check_real,
    is_int,
)

logger = logging.getLogger(__name__)

REFIT = "train the model (`genlift train demand`)"
ARRAYS_FILE = "arrays.npz"
STATE_LISTS = ("feature_names", "store_categories", "item_categories", "store_attr_names")
#: Point objectives: name -> the LightGBM objective trained on the scaled units.
OBJECTIVES = ("tweedie", "poisson", "l1", "mape")


class DemandModel(Estimator, Artifact):
    """Direct multi-horizon LightGBM demand forecaster with quantiles.

    Parameters
    ----------
    horizon : int
        Periods ahead (``gap + 1 .. horizon``), one booster set per horizon.
    gap : int
        Periods right after the origin that are never forecast (e.g. 1 when orders are
        placed a week ahead and next week's demand is already committed): boosters are
        trained for horizons ``gap + 1 .. horizon`` only.
    quantiles : sequence of float
        Quantile levels in (0, 1), one quantile-objective booster per level and horizon.
    objective : {"tweedie", "poisson", "l1", "mape"}
        Point-forecast objective on (scaled) units: ``tweedie`` / ``poisson`` forecast the
        mean; ``l1`` the median (the forecast that minimises WAPE / MAE); ``mape`` the
        forecast that minimises the mean absolute percentage error (the weighted median
        with weights ``1 / max(units, 1)``, below the median: under-forecasts cost less in
        percent than over-forecasts).
    lags : sequence of int
        Unit lags counted from the target at horizon 1 (``1`` = the origin period).
    windows : sequence of int
        Rolling mean / std windows ending at the origin.
    exog : sequence of str
        Extra known-in-advance sales columns, taken at the target date (e.g. ``feat``).
    n_estimators, learning_rate, num_leaves, min_child_samples, max_bin
        LightGBM parameters, the same for every booster (``max_bin``: histogram bins
        per feature; fewer train faster).
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
    train_end_ : Timestamp or None
        The last date of the real training rows (None for models saved before it was
        recorded).

    Examples
    --------
    >>> model = DemandModel(horizon=4).fit(sales, stores)  # doctest: +SKIP
    >>> model.predict(history, future).head()  # doctest: +SKIP
    """

    artifact_kind: ClassVar[str] = "demand"
    artifact_refit: ClassVar[str] = REFIT

    def __init__(
        self,
        *,
        horizon: int = 4,
        gap: int = 0,
        quantiles: Sequence[float] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95),
        objective: str = "tweedie",
        lags: Sequence[int] = (1, 2, 3, 4, 8, 12),
        windows: Sequence[int] = (4, 8, 13),
        exog: Sequence[str] = ("feat",),
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        max_bin: int = 255,
        random_state: int | None = 0,
        freq_days: int = 7,
        calibration_periods: int = 8,
        n_jobs: int = 0,
    ) -> None:
        self.horizon = horizon
        self.gap = gap
        self.quantiles = quantiles
        self.objective = objective
        self.lags = lags
        self.windows = windows
        self.exog = exog
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_bin = max_bin
        self.random_state = random_state
        self.freq_days = freq_days
        self.calibration_periods = calibration_periods
        self.n_jobs = n_jobs

    # -------------------------------------------------------------- parameters
    def _validate_params(self) -> None:
        own = "DemandModel"
        for name, low in (("horizon", 1), ("gap", 0), ("n_estimators", 1), ("num_leaves", 2),
                          ("min_child_samples", 1), ("max_bin", 2), ("freq_days", 1),
                          ("n_jobs", 0), ("calibration_periods", 0)):
            check_int(own, name, getattr(self, name), low)
        check_real(own, "learning_rate", self.learning_rate, 0.0, low_open=True)
        q = self.quantiles
        check_param(own, "quantiles", q, isinstance(q, Sequence) and not isinstance(q, str)
                    and all(isinstance(v, float | int) and 0 < v < 1 for v in q) and
                    len(set(q)) == len(q), "a sequence of distinct floats in (0, 1) "
                    "(empty: point forecasts only)")
        check_choice(own, "objective", self.objective, OBJECTIVES)
        for name in ("lags", "windows"):
            v = getattr(self, name)
            check_param(own, name, v, isinstance(v, Sequence) and len(v) > 0 and
                        all(is_int(x) and x >= 1 for x in v), "a non-empty sequence of ints >= 1")
        check_param(own, "exog", self.exog, isinstance(self.exog, Sequence) and
                    not isinstance(self.exog, str) and all(isinstance(c, str) for c in self.exog),
                    "a sequence of column names")
        rs = self.random_state  # no Generator: LightGBM takes an int seed
        check_param(own, "random_state", rs, rs is None or (is_int(rs) and rs >= 0),
                    "None or an int in the range [0, inf)")
        check_param(own, "gap", self.gap, self.gap < self.horizon,
                    f"an int below horizon={self.horizon} (horizons gap+1..horizon are "
                    "forecast)")

    @property
    def _horizons(self) -> range:
        return range(int(getattr(self, "gap", 0)) + 1, self.horizon + 1)

    @property
    def _levels(self) -> list[float]:
        return sorted(float(q) for q in self.quantiles)

    def _lgb_params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        params = {"objective": objective, "learning_rate": float(self.learning_rate),
                  "num_leaves": int(self.num_leaves),
                  "min_data_in_leaf": int(self.min_child_samples),
                  "max_bin": int(getattr(self, "max_bin", 255)),
                  "seed": int(self.random_state or 0), "deterministic": True,
                  "force_row_wise": True, "verbose": -1, "num_threads": int(self.n_jobs)}
        if alpha is not None:
            params["alpha"] = alpha
        return params

    def _dataset_params(self) -> dict[str, Any]:
        return {"max_bin": int(getattr(self, "max_bin", 255)), "verbose": -1}

    def _booster_params(self, kind: str | float) -> dict[str, Any]:
        """LightGBM parameters of the ``"point"`` booster or of quantile level ``kind``
        (``mape`` trains an L1 booster on weighted rows, see :meth:`fit`)."""
        if isinstance(kind, str):
            return self._lgb_params("l1" if self.objective == "mape" else self.objective)
        return self._lgb_params("quantile", kind)

    # ---------------------------------------------------------------- features
    def _columns(self) -> list[str]:
        return ["store_id", "item_id", "date", "units", "price", "promo", *self.exog]

    def _design(self, target_rows: pd.DataFrame, origin_rows: pd.DataFrame,
                history: pd.DataFrame, attrs: pd.DataFrame | None) -> pd.DataFrame:
        """Feature matrix: one row per (origin, target) pair."""
        orig = origin_features(history, origin_rows, lags=self.lags, windows=self.windows,
                               freq_days=self.freq_days)
        scale = orig.pop("scale").to_numpy()
        for col in orig.columns:
            if col.startswith("units_"):
                orig[col] = orig[col].to_numpy() / scale
        tgt = target_features(target_rows, exog=self.exog, freq_days=self.freq_days)
        feats = pd.DataFrame(index=target_rows.index)
        for col, cats in (("store", self.store_categories_), ("item", self.item_categories_)):
            codes = pd.Index(cats).get_indexer(target_rows[f"{col}_id"])  # unseen: -1
            feats[col] = np.where(codes < 0, np.nan, codes)
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
            synthetic: pd.DataFrame | None = None, synthetic_weight: float = 1.0,
            show_progress: bool | None = False) -> Self:
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
        show_progress : bool or None, default False
            A tqdm bar over the horizons on stderr; None: only when it is a terminal.

        Returns
        -------
        DemandModel
            ``self``.
        """
        self._validate_params()
        check_real("DemandModel", "synthetic_weight", synthetic_weight, 0.0)
        cols = self._columns()
        real = check_frame(sales, "sales", cols, units=True)
        self.anchor_ = real["date"].min()
        self.train_end_ = real["date"].max()
        periods(real["date"], self.anchor_, self.freq_days, "sales")
        self.store_categories_ = sorted(real["store_id"].unique().tolist())
        self.item_categories_ = sorted(real["item_id"].unique().tolist())
        self._fit_attrs = store_attributes(stores)
        self.store_attr_names_ = ([] if self._fit_attrs is None
                                  else list(self._fit_attrs.columns))
        frames = [(real, 1.0)]
        if synthetic is not None and synthetic_weight > 0:
            syn = check_frame(synthetic, "synthetic", cols, units=True)
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
        for h in tqdm(self._horizons, desc="demand model", unit="horizon",
                      disable=None if show_progress is None else not show_progress):
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
                               categorical_feature=["store", "item"], free_raw_data=False,
                               params=self._dataset_params())
            point_data = data
            if self.objective == "mape":
                # |y - f| / y on raw units = |y/s - f/s| * s / y: an L1 loss on the scaled
                # units weighted by s / max(y, 1) (times the frame's weight)
                raw = y * train["_scale"].to_numpy()
                point_data = lgb.Dataset(
                    X, label=y, weight=w / np.maximum(raw, 1.0),
                    feature_name=self.feature_names_, categorical_feature=["store", "item"],
                    free_raw_data=False, reference=data, params=self._dataset_params())
            self.boosters_[(h, "point")] = self._train(h, "point", point_data)
            if not self._levels:
                continue
            calib = train["_calib"].to_numpy()
            if self.calibration_periods and (calib.all() or not calib.any()):
                logger.warning("DemandModel: horizon %d has %d calibration rows of %d; "
                               "quantiles left uncalibrated", h, int(calib.sum()), len(calib))
                calib[:] = False
            qdata = data if not calib.any() else lgb.Dataset(
                X[~calib], label=y[~calib], weight=w[~calib], feature_name=self.feature_names_,
                categorical_feature=["store", "item"], free_raw_data=False,
                               params=self._dataset_params())
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
        params = self._booster_params(kind)
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
        hist = check_frame(history, "history", self._columns(), units=True)
        cols = [c for c in self._columns() if c != "units"]
        fut = check_frame(future, "future", cols, units=False)
        t0 = hist["date"].max() if origin is None else pd.Timestamp(origin).normalize()
        hist = hist.loc[hist["date"] <= t0]
        if len(hist) == 0:
            raise DataValidationError(f"history has no rows at or before the origin {t0.date()}",
                                      table="history", column="date",
                                      fix="pass the sales up to the forecast origin")
        periods(pd.concat([hist["date"], fut["date"]]), t0, self.freq_days, "future")
        step = ((fut["date"] - t0) / pd.Timedelta(days=self.freq_days)).round().astype(int)
        fut["horizon"] = step.to_numpy()
        known = set(series_key(hist))
        fkey = series_key(fut)
        unknown = ~fkey.isin(known)
        if unknown.any():
            ex = fut.loc[unknown, ["store_id", "item_id"]].drop_duplicates().head(5)
            raise DataValidationError(
                f"future has {int(unknown.sum())} rows of series with no history "
                f"({list(map(tuple, ex.to_numpy()))})", table="future", column="item_id",
                n_rows=int(unknown.sum()), fix="forecast only series present in history")
        first = self._horizons.start
        bad_step = (fut["horizon"] < first) | (fut["horizon"] > self.horizon)
        if bad_step.any():
            rows = (np.flatnonzero(bad_step.to_numpy())[:5] + 1).tolist()
            raise DataValidationError(
                f"future has {int(bad_step.sum())} rows outside the horizon "
                f"{first}..{self.horizon} "
                f"after the origin {t0.date()} (rows {rows})", table="future", column="date",
                n_rows=int(bad_step.sum()), rows=rows,
                fix=f"pass exactly the periods origin+{first} .. origin+{self.horizon}")
        counts = fut.groupby(fkey)["horizon"].nunique()
        short = counts[counts < len(self._horizons)]
        if len(short):
            raise DataValidationError(
                f"future lacks rows for some horizons of {len(short)} series (e.g. "
                f"{short.index[0].replace(chr(31), '/')} has {int(short.iloc[0])} of "
                f"{len(self._horizons)})", table="future", column="date", n_rows=len(short),
                fix="pass price/promo for every period origin+1 .. origin+horizon "
                    "of every series")
        fut = fut.sort_values(["store_id", "item_id", "horizon"]).reset_index(drop=True)
        origins = fut[["store_id", "item_id"]].copy()
        origins["date"] = t0
        # target features need a units column; it is never read
        fut["units"] = 0.0
        attrs = store_attributes(stores)
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
        for h in self._horizons:
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
        ndarray of shape (n_series, n_paths, horizon - gap)
            Series in the order of :meth:`predict`'s rows (sorted by store, item).
        """
        check_int("DemandModel.sample_paths", "n_paths", n_paths, 1)
        check_real("DemandModel.sample_paths", "rho", rho, -1.0, 1.0, low_open=True,
                   high_open=True)
        self._check_fitted()
        if len(self._levels) < 2:
            raise ValueError("sample_paths needs a model fit with at least two quantiles; "
                             f"this one has {self._levels}")
        pred = self.predict(history, future, stores)
        levels = np.asarray(self._levels)
        H = len(self._horizons)
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
    # save(path) / load(path) come from features.artifacts.Artifact; the folder holds
    # arrays.npz (store attributes) and one LightGBM text model per booster.
    def _save_state(self, folder: Path) -> dict[str, Any]:
        attrs = self._fit_attrs
        np.savez(folder / ARRAYS_FILE,
                 store_ids=np.asarray([] if attrs is None else attrs.index, dtype=str),
                 store_attrs=np.zeros((0, 0)) if attrs is None else attrs.to_numpy(float))
        files = {ARRAYS_FILE: ARRAYS_FILE}
        for (h, kind), booster in self.boosters_.items():
            name = f"h{h}_{'point' if kind == 'point' else f'q{kind:g}'}.txt"
            booster.save_model(folder / name)
            files[f"{h}|{kind}"] = name
        return {"anchor": str(self.anchor_.date()), "train_end": str(self.train_end_.date()),
                **{name: getattr(self, f"{name}_") for name in STATE_LISTS}, "files": files,
                "offsets": {f"{h}|{q!r}": v for (h, q), v in self.offsets_.items()}}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> DemandModel:
        # JSON gave lists where the constructor got tuples
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in config.items()}
        model = cls(**kwargs)
        model.anchor_ = pd.Timestamp(state["anchor"])
        # models saved before train_end was recorded: unknown (None)
        model.train_end_ = (pd.Timestamp(state["train_end"]) if "train_end" in state
                            else None)
        for name in STATE_LISTS:
            setattr(model, f"{name}_", list(state[name]))
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as data:
            ids, vals = data["store_ids"], data["store_attrs"]
        model._fit_attrs = (None if not model.store_attr_names_ else pd.DataFrame(
            vals, index=pd.Index(ids.astype(str), name="store_id"),
            columns=model.store_attr_names_))
        model.offsets_ = {(int(k.split("|")[0]), float(k.split("|")[1])): float(v)
                          for k, v in state.get("offsets", {}).items()}
        model.boosters_ = {}
        for key, name in dict(state["files"]).items():
            if key == ARRAYS_FILE:
                continue
            h, kind = key.split("|")
            if Path(name).name != name:
                raise ValueError(f"files must name files of the folder; got {name!r}")
            try:
                booster = lgb.Booster(model_file=str(folder / name))
            except lgb.basic.LightGBMError as exc:
                raise ValueError(f"LightGBMError: {exc}") from exc
            model.boosters_[(int(h), kind if kind == "point" else float(kind))] = booster
        return model
