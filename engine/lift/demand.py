"""Lift task ``demand``: synthetic sales windows for the LightGBM demand forecaster
(dominicks-oj: store x item weekly orange-juice sales).

One time-ordered split of the ``sales`` table with ``H = horizon`` periods per window:
the test window is the last ``H`` periods, validation the ``H`` before it and train
everything earlier. The validation origin ``t1`` is the last training date, the test
origin ``t2`` the last validation date. The model (:class:`engine.demand.DemandModel`)
is fit on train only; it forecasts validation from the history up to ``t1`` and test
from the history up to ``t2`` (the real validation rows are history then; no refit).

To mimic new items, ``short_share`` of the series (drawn with ``split_seed``) keep only
their last ``short_periods`` training periods: the ``short_history`` segment.

Arms: ``jitter`` (real training windows of ``window`` periods with units multiplied by
``exp(N(0, jitter_sigma))`` and rounded, prices unchanged) and the sales generators of
:mod:`augment.sales` (``vae``, ``ar``) fitted on the training rows only. Every synthetic
window carries its own ``window_id``, so the model keeps it a separate series (lags never
cross windows). A ratio is synthetic rows per real training row; the windows of a smaller
ratio are a prefix of those of the largest (one draw per arm and seed).

Transfer arms (``transfer`` and its control ``short_only``) target the series with a
short history: those with at most ``short_periods`` training periods (the
``short_history`` segment's, and any genuinely new series). ``transfer`` pretrains a
sales-window generator (``transfer_model``, windows of ``transfer_window`` periods, by default
short_periods // 2) on
the other series' full training history - other stores, or other items of the same
store - and fine-tunes it on the targets' short histories (warm start,
augment/warmstart.py); ``short_only`` fits the same generator on the short histories
alone. Both sample windows of up to ``short_periods`` periods of the target series only,
and their ratio counts synthetic rows per real training row *of the target series*.
``--param short_by=store`` makes the short-history units whole stores (a new store: every
series of ``short_share`` of the stores), so that ``transfer`` pretrains on other stores.

Data-efficiency curves (``fractions``): a fraction keeps the last ``fraction`` of the
training dates for every series (as if the records started later: a chain, or a store,
with a short history), the same cut for every seed; validation and test are unchanged. A
fraction must keep at least ``max(2 x window, short_periods + 1)`` dates, the split's own
minimum, so that the long series stay longer than the short ones.

Units are the series (``"store|item"``) with a row in every period of the validation /
test window and some history before its origin. Metrics per series over the window:
``wape`` (primary, ``sum|y - point| / sum y``) and ``pinball`` (sum over periods and
quantile levels of the pinball loss over ``n_levels * sum y``), both pooled as ratios of
totals over the units (:func:`engine.lift.stats.ratio_metric`); lower is better.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from augment.registry import make_generator
from engine.demand import DemandModel
from engine.demand.features import check_no_missing
from engine.lift.demand_arms import (
    FREQ_DAYS,
    TRANSFER_ARMS,
    fidelity,
    jitter_windows,
    n_windows,
    short_rows,
    transfer_windows,
)
from engine.lift.protocol import Arm, ArmState, LiftConfig, LiftSplit, LiftTask
from engine.lift.stats import Metric, Units, ratio_metric
from features.errors import DataValidationError, check_param, is_int, is_real

logger = logging.getLogger(__name__)

REQUIRED = ("store_id", "item_id", "date", "units", "price", "promo")
QUALITY_NAME = "-W1 of log1p(units), synthetic vs real validation rows"
_OWNER = "lift demand"


@dataclass
class DemandWindow:
    """One forecast window of the split (validation or test).

    Attributes
    ----------
    origin : Timestamp
        The forecast origin: the last date of the history the model may read.
    rows : DataFrame
        Every real sales row dated in the window (all series).
    future : DataFrame
        The units' rows without ``units``: the known future (price, promo, exog).
    actual : ndarray of shape (n_units, horizon)
        Real units per unit and period.
    keys : MultiIndex
        ``(store_id, item_id)`` of the units, in unit order.
    stores : DataFrame or None
        Store attributes passed to the model.
    """

    origin: pd.Timestamp
    rows: pd.DataFrame
    future: pd.DataFrame
    actual: np.ndarray
    keys: pd.MultiIndex
    stores: pd.DataFrame | None


# ------------------------------------------------------------------------ parameters
def _params(cfg: LiftConfig) -> dict[str, Any]:
    """The task's parameters from ``cfg``, validated."""
    p = dict(cfg.params)
    for name, low in (("horizon", 1), ("short_periods", 1), ("window", 2), ("n_estimators", 1),
                      ("num_leaves", 2), ("min_child_samples", 1), ("calibration_periods", 0),
                      ("n_jobs", 0), ("epochs", 1)):
        check_param(_OWNER, name, p[name], is_int(p[name]) and p[name] >= low,
                    f"an int in the range [{low}, inf)")
    if p["transfer_window"] is None:  # the longest that fits a training + held-out window
        p["transfer_window"] = p["short_periods"] // 2
    tw = p["transfer_window"]
    if set(cfg.generators or ()) & set(TRANSFER_ARMS):
        if p["short_share"] == 0:
            raise DataValidationError(
                "lift demand: the transfer arms fine-tune on the short-history series, and "
                "short_share = 0 makes none", fix="use --param short_share=0.25 (or drop "
                "transfer and short_only from --generators)")
        check_param(_OWNER, "transfer_window", tw,
                    is_int(tw) and 2 <= tw <= p["short_periods"] // 2,
                    f"an int in the range [2, short_periods // 2 = {p['short_periods'] // 2}]"
                    " (the short histories must hold a training and a held-out window)")
    check_param(_OWNER, "transfer_model", p["transfer_model"],
                p["transfer_model"] in ("vae", "ar"), "'vae' or 'ar'")
    check_param(_OWNER, "short_by", p["short_by"], p["short_by"] in ("series", "store"),
                "'series' or 'store'")
    check_param(_OWNER, "short_share", p["short_share"],
                is_real(p["short_share"]) and 0 <= p["short_share"] < 1,
                "a float in the range [0, 1)")
    check_param(_OWNER, "jitter_sigma", p["jitter_sigma"],
                is_real(p["jitter_sigma"]) and p["jitter_sigma"] >= 0,
                "a float in the range [0, inf)")
    check_param(_OWNER, "learning_rate", p["learning_rate"],
                is_real(p["learning_rate"]) and p["learning_rate"] > 0,
                "a float in the range (0, inf)")
    check_param(_OWNER, "synthetic_weight", p["synthetic_weight"],
                is_real(p["synthetic_weight"]) and p["synthetic_weight"] >= 0,
                "a float in the range [0, inf)")
    q = p["quantiles"]
    check_param(_OWNER, "quantiles", q, isinstance(q, Sequence) and not isinstance(q, str)
                and len(q) > 0 and all(is_real(v) and 0 < v < 1 for v in q)
                and len(set(q)) == len(q), "a non-empty sequence of distinct floats in (0, 1)")
    t = p["tune_leaves"]
    check_param(_OWNER, "tune_leaves", t, isinstance(t, Sequence) and not isinstance(t, str)
                and all(is_int(v) and v >= 2 for v in t) and len(set(t)) == len(t),
                "a sequence of distinct ints >= 2 (empty: no tuning)")
    p["quantiles"] = tuple(sorted(float(v) for v in q))
    p["tune_leaves"] = tuple(int(v) for v in t)
    return p


# ------------------------------------------------------------------------ the task
class DemandLiftTask(LiftTask):
    """Does synthetic sales data lift the LightGBM demand forecaster? See the module
    docstring for the split, arms, units and metrics.

    Examples
    --------
    >>> from engine.lift import LiftConfig, run_lift                      # doctest: +SKIP
    >>> result = run_lift(DemandLiftTask(), {"sales": sales, "stores": stores},
    ...                   LiftConfig(task="demand", budget="small"))      # doctest: +SKIP
    """

    name: ClassVar[str] = "demand"
    dataset: ClassVar[str] = "dominicks-oj"
    tables: ClassVar[tuple[str, ...]] = ("sales", "stores")
    optional_tables: ClassVar[tuple[str, ...]] = ("stores",)
    unit: ClassVar[str] = "series"
    metrics: ClassVar[tuple[Metric, ...]] = (
        ratio_metric("wape", "abs_error", "actual", higher_is_better=False, label="WAPE"),
        ratio_metric("pinball", "pinball_loss", "actual", higher_is_better=False,
                     label="scaled pinball"),
    )
    primary: ClassVar[str] = "wape"
    known_generators: ClassVar[tuple[str, ...]] = ("vae", "ar", *TRANSFER_ARMS)
    known_baselines: ClassVar[tuple[str, ...]] = ("jitter",)
    known_models: ClassVar[tuple[str, ...]] = ("lightgbm",)

    def __init__(self) -> None:
        # log1p(units) of the real validation rows: the reference of the fidelity score
        # (set by split; generators never see it)
        self._reference: np.ndarray | None = None
        self._reference_ids: np.ndarray | None = None

    def defaults(self, budget: str) -> dict[str, Any]:
        small = budget == "small"
        return {
            "generators": ("vae",) if small else self.known_generators,
            "baselines": self.known_baselines,
            "ratios": (0.5, 1.0) if small else (0.25, 0.5, 1.0, 2.0),
            "models": self.known_models,
            "params": {
                "horizon": 1 if small else 2, "short_share": 0.25, "short_periods": 8,
                "window": 12, "jitter_sigma": 0.15,
                "n_estimators": 30 if small else 60,
                "learning_rate": 0.2 if small else 0.15, "num_leaves": 31,
                "min_child_samples": 20, "quantiles": (0.1, 0.5, 0.9),
                # 0: conformal calibration would score quantiles on weeks that jittered
                # copies and generators were made from (a leak into the offsets).
                "calibration_periods": 0, "n_jobs": 1,
                "epochs": 3 if small else 30, "synthetic_weight": 1.0,
                "tune_leaves": () if small else (15, 31),
                "transfer_window": None, "transfer_model": "vae", "short_by": "series",
            },
        }

    def validate(self, cfg: LiftConfig) -> None:
        _params(cfg)

    # ----------------------------------------------------------------------- split
    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        p = _params(cfg)
        H = p["horizon"]
        sales, stores = self._read(tables)
        step = pd.Timedelta(days=FREQ_DAYS)
        dates = np.sort(sales["date"].unique())
        n_train_dates = len(dates) - 2 * H
        need = max(2 * p["window"], p["short_periods"] + 1)
        if n_train_dates < need:
            raise DataValidationError(
                f"sales has {len(dates)} distinct dates; horizon {H} takes {2 * H} for "
                f"validation and test and training needs at least {need} more "
                f"(2 x window {p['window']}, short_periods {p['short_periods']} + 1)",
                table="sales", column="date", n_rows=len(sales),
                fix="use a longer history or smaller 'horizon' / 'window' params")
        tail = pd.DatetimeIndex(dates[-(2 * H + 1):])
        if not (np.diff(tail.asi8) == step.value).all():
            raise DataValidationError(
                f"the last {2 * H + 1} dates of sales are not consecutive weeks "
                f"({', '.join(str(d.date()) for d in tail)})", table="sales", column="date",
                fix="fill the missing weeks (one date per week on the same weekday)")
        t1, t2 = tail[0], tail[H]
        train = sales.loc[sales["date"] <= t1]
        series = pd.MultiIndex.from_frame(train[["store_id", "item_id"]]).unique()
        order = np.argsort((series.get_level_values(0) + "|" + series.get_level_values(1))
                           .to_numpy(dtype=str), kind="stable")
        series = series[order]
        ids = (series.get_level_values(0) + "|" + series.get_level_values(1)).to_numpy(dtype=str)
        rng = np.random.default_rng(cfg.split_seed)
        row_ids = train["store_id"] + "|" + train["item_id"]
        if p["short_by"] == "store":  # new stores: every series of the drawn stores
            store_ids = np.sort(train["store_id"].unique().astype(str))
            n_stores = int(round(p["short_share"] * len(store_ids)))
            drawn = set(rng.choice(store_ids, size=n_stores, replace=False).tolist())
            short = set(ids[np.isin(series.get_level_values(0), list(drawn))].tolist())
        else:
            short = set(rng.choice(ids, size=int(round(p["short_share"] * len(ids))),
                                   replace=False).tolist())
        n_short = len(short)
        cut = t1 - step * p["short_periods"]
        drop = row_ids.isin(short).to_numpy() & (train["date"] <= cut).to_numpy()
        train = train.loc[~drop].reset_index(drop=True)
        val_rows = sales.loc[(sales["date"] > t1) & (sales["date"] <= t2)]
        test_rows = sales.loc[sales["date"] > t2]
        validation = self._window(val_rows, train, t1, H, stores)
        test = self._window(test_rows, pd.concat([train, val_rows]), t2, H, stores)
        if len(validation.keys) == 0 or len(test.keys) == 0:
            part = "validation" if len(validation.keys) == 0 else "test"
            raise DataValidationError(
                f"no series has a row in every period of the {part} window and history "
                "before it",
                table="sales", column="date", n_rows=len(sales),
                fix="use series observed every week at the end of the data")
        self._reference = np.log1p(val_rows["units"].to_numpy(dtype=float))
        self._reference_ids = (val_rows["store_id"] + "|" + val_rows["item_id"]
                               ).to_numpy(dtype=str)

        def unit_ids(w: DemandWindow) -> np.ndarray:
            return (w.keys.get_level_values(0) + "|" + w.keys.get_level_values(1)
                    ).to_numpy(dtype=str)

        uv, ut = unit_ids(validation), unit_ids(test)
        seg_v = {"all": np.ones(len(uv), bool), "short_history": np.isin(uv, list(short))}
        seg_t = {"all": np.ones(len(ut), bool), "short_history": np.isin(ut, list(short))}

        def span(frame: pd.DataFrame) -> list[str]:
            return [str(frame["date"].min().date()), str(frame["date"].max().date())]

        info = {
            "method": f"time-ordered: test = last {H} periods, validation = the {H} before, "
                      f"train = earlier; {n_short} series ({p['short_share']:g} of the "
                      f"{'stores' if p['short_by'] == 'store' else 'series'}, split_seed "
                      f"{cfg.split_seed}) keep only their last {p['short_periods']} "
                      "training periods",
            "horizon": H, "periods": len(dates), "train_periods": n_train_dates,
            "origin_validation": str(t1.date()), "origin_test": str(t2.date()),
            "dates": {"train": span(train), "validation": span(val_rows),
                      "test": span(test_rows)},
            "rows": {"train": len(train), "validation": len(val_rows),
                     "test": len(test_rows), "dropped_short_history": int(drop.sum())},
            "series": len(ids), "short_series": n_short,
            "units": {"validation": len(uv), "test": len(ut)},
            "short_units": {"validation": int(seg_v["short_history"].sum()),
                            "test": int(seg_t["short_history"].sum())},
        }
        logger.info("lift demand: train %d rows to %s, %d validation / %d test series",
                    len(train), t1.date(), len(uv), len(ut))
        return LiftSplit(train=train, validation=validation, test=test,
                         units_validation=uv, units_test=ut, segments_validation=seg_v,
                         segments_test=seg_t, info=info)

    @staticmethod
    def _read(tables: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Validated copies of ``sales`` (the columns the task uses) and ``stores``."""
        if "sales" not in tables:
            raise DataValidationError(
                "lift demand needs the sales table", table="sales",
                fix="genlift data fetch dominicks-oj, or import your weekly sales")
        sales = tables["sales"]
        if not isinstance(sales, pd.DataFrame):
            raise DataValidationError(f"sales must be a DataFrame; got {type(sales).__name__}",
                                      table="sales", fix="pass the sales table as a DataFrame")
        missing = [c for c in REQUIRED if c not in sales.columns]
        if missing:
            raise DataValidationError(
                f"sales has no column(s) {', '.join(missing)}", table="sales",
                column=missing[0], n_rows=len(sales),
                fix=f"add or rename them; lift demand needs {', '.join(REQUIRED)}")
        cols = [*REQUIRED, *(["feat"] if "feat" in sales.columns else [])]
        frame = sales[cols].reset_index(drop=True)
        check_no_missing(frame, "sales", cols)
        frame["store_id"] = frame["store_id"].astype(str)
        frame["item_id"] = frame["item_id"].astype(str)
        try:
            frame["date"] = pd.to_datetime(frame["date"]).dt.normalize().astype(
                "datetime64[ns]")
        except (ValueError, TypeError) as exc:
            raise DataValidationError(f"sales.date cannot be read as dates ({exc})",
                                      table="sales", column="date", n_rows=len(frame),
                                      fix="pass datetime64 dates") from exc
        stores = tables.get("stores")
        if stores is not None:
            if not isinstance(stores, pd.DataFrame) or "store_id" not in stores.columns:
                raise DataValidationError("stores must be a DataFrame with a store_id column",
                                          table="stores", column="store_id",
                                          fix="pass the stores table (store_id + attributes)")
            stores = stores.assign(store_id=stores["store_id"].astype(str)).sort_values(
                "store_id", kind="stable").reset_index(drop=True)
        # One canonical row order: a store's scan order is not fixed (DuckDB reads in
        # parallel), and the model and the samplers must not depend on it.
        frame = frame.sort_values(["store_id", "item_id", "date"], kind="stable"
                                  ).reset_index(drop=True)
        return frame, stores

    @staticmethod
    def _window(rows: pd.DataFrame, history: pd.DataFrame, origin: pd.Timestamp, H: int,
                stores: pd.DataFrame | None) -> DemandWindow:
        """The window's units: series with a row in each of its ``H`` periods and some
        history at or before ``origin``."""
        key = rows["store_id"] + "|" + rows["item_id"]
        full = rows.groupby(key)["date"].transform("size").to_numpy() == H
        known = key.isin(set(history["store_id"] + "|" + history["item_id"])).to_numpy()
        units = rows.loc[full & known].assign(_key=key[full & known])
        units = units.sort_values(["_key", "date"], kind="stable").reset_index(drop=True)
        first = units.iloc[::H]
        keys = pd.MultiIndex.from_arrays([first["store_id"].to_numpy(),
                                          first["item_id"].to_numpy()],
                                         names=["store_id", "item_id"])
        actual = units["units"].to_numpy(dtype=float).reshape(len(keys), H)
        future = units.drop(columns=["units", "_key"])
        return DemandWindow(origin=origin, rows=rows.reset_index(drop=True), future=future,
                            actual=actual, keys=keys, stores=stores)

    # ------------------------------------------------------------------------ tune
    def tune(self, split: LiftSplit, cfg: LiftConfig) -> dict[str, dict[str, Any]]:
        """``num_leaves`` among the ``tune_leaves`` param by validation WAPE of the
        real-only model (first seed); no tuning when that param is empty."""
        p = _params(cfg)
        out: dict[str, dict[str, Any]] = {m: {} for m in cfg.models or ()}
        if not p["tune_leaves"] or "lightgbm" not in out:
            return out
        wape = self.metric("wape")
        seed = (cfg.seeds or (0,))[0]
        scores = {}
        for leaves in p["tune_leaves"]:
            model = self._fit(split, {"num_leaves": leaves}, None, seed, p)
            scores[leaves] = wape.point(self._score(model, split.validation, split.train,
                                                    p["quantiles"]))
        finite = {k: v for k, v in scores.items() if np.isfinite(v)}
        best = min(finite, key=lambda k: finite[k]) if finite else p["num_leaves"]
        logger.info("lift demand: validation WAPE by num_leaves %s -> %d", scores, best)
        out["lightgbm"] = {"num_leaves": int(best)}
        return out

    # ------------------------------------------------------------------------ arms
    def arms(self, cfg: LiftConfig) -> list[Arm]:
        ratios = tuple(cfg.ratios or ())
        sigma = cfg.params.get("jitter_sigma")
        out = [Arm(name, "baseline", ratios, f"jittered real windows (sigma {sigma})")
               for name in cfg.baselines or ()]
        model = cfg.params.get("transfer_model")
        labels = {"transfer": f"sales {model} generator pretrained on the long series, "
                              "fine-tuned on the short histories",
                  "short_only": f"sales {model} generator fitted on the short histories alone"}
        out += [Arm(name, "generator", ratios, labels.get(name, f"sales window generator "
                                                                f"({name})"))
                for name in cfg.generators or ()]
        return out

    # ------------------------------------------------------------------------ curves
    def subsample(self, train: Any, fraction: float, seed: int, cfg: LiftConfig) -> Any:
        """The last ``fraction`` of the training dates, for every series (nested across
        fractions, the same for every seed: a later start of the records, not a random
        draw)."""
        p = _params(cfg)
        frame: pd.DataFrame = train
        dates = np.sort(frame["date"].unique())
        keep = int(np.ceil(float(fraction) * len(dates)))
        need = max(2 * p["window"], p["short_periods"] + 1)
        if keep < need:
            raise DataValidationError(
                f"lift demand: fraction {fraction:g} keeps {keep} of the {len(dates)} "
                f"training dates; the task needs at least {need} (2 x window "
                f"{p['window']}, short_periods {p['short_periods']} + 1)", table="sales",
                column="date", fix=f"use fractions >= {need / len(dates):.3g}, or smaller "
                                   "'window' / 'short_periods' params")
        return frame.loc[frame["date"].to_numpy() >= dates[-keep]].reset_index(drop=True)

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        """Draw the synthetic windows of the arm's largest ratio from ``train`` only."""
        p = _params(cfg)
        frame: pd.DataFrame = train
        n = n_windows(max(arm.ratios or cfg.ratios or (1.0,)), len(frame), p["window"])
        start = time.perf_counter()
        if arm.name == "jitter":
            synthetic = jitter_windows(frame, n, window=p["window"],
                                       sigma=float(p["jitter_sigma"]), seed=seed)
        elif arm.name in TRANSFER_ARMS:
            synthetic, reference_ids = transfer_windows(
                arm.name, frame, p, seed, max(arm.ratios or cfg.ratios or (1.0,)))
        elif arm.name in self.known_generators:
            gen = make_generator("sales", arm.name, epochs=p["epochs"], window=p["window"],
                                 random_state=seed).fit(frame)
            synthetic = gen.sample(n, random_state=seed)
        else:
            raise DataValidationError(f"lift demand: unknown arm {arm.name!r}",
                                      fix=f"use {', '.join(self.known_baselines)} or "
                                          f"{', '.join(self.known_generators)}")
        seconds = time.perf_counter() - start
        reference = self._reference
        if arm.name in TRANSFER_ARMS and reference is not None and \
                self._reference_ids is not None:  # the target series' validation rows
            reference = reference[np.isin(self._reference_ids, reference_ids)]
        quality = None if reference is None or not len(reference) else \
            fidelity(synthetic, reference)
        return ArmState(synthetic, quality=quality,
                        quality_name=QUALITY_NAME if quality is not None else "",
                        fit_seconds=seconds)

    # ------------------------------------------------------------------------ evaluate
    def _fit(self, split: LiftSplit, params: Mapping[str, Any], synthetic: pd.DataFrame | None,
             seed: int, p: Mapping[str, Any]) -> DemandModel:
        exog = ("feat",) if "feat" in split.train.columns else ()
        model = DemandModel(
            horizon=p["horizon"], quantiles=p["quantiles"], exog=exog,
            n_estimators=p["n_estimators"], learning_rate=float(p["learning_rate"]),
            num_leaves=int(params.get("num_leaves", p["num_leaves"])),
            min_child_samples=int(params.get("min_child_samples", p["min_child_samples"])),
            calibration_periods=p["calibration_periods"], n_jobs=p["n_jobs"],
            random_state=seed)
        stores = split.validation.stores
        return model.fit(split.train, stores, synthetic=synthetic,
                         synthetic_weight=float(p["synthetic_weight"]))

    @staticmethod
    def _score(model: DemandModel, window: DemandWindow, history: pd.DataFrame,
               quantiles: Sequence[float]) -> Units:
        """Per-unit sums over the window's periods: absolute error of the point forecast,
        pinball loss averaged over the levels, and actual units."""
        pred = model.predict(history, window.future, window.stores, origin=window.origin)
        n, H = window.actual.shape
        idx = window.keys.get_indexer(pd.MultiIndex.from_frame(pred[["store_id", "item_id"]]))
        h = pred["horizon"].to_numpy() - 1
        levels = np.asarray(sorted(quantiles), dtype=float)
        point = np.full((n, H), np.nan)
        qs = np.full((n, H, len(levels)), np.nan)
        point[idx, h] = pred["point"].to_numpy(dtype=float)
        qs[idx, h] = pred[[f"q{q:g}" for q in levels]].to_numpy(dtype=float)
        if (idx < 0).any() or np.isnan(point).any():
            raise RuntimeError("lift demand: the forecasts do not cover every unit and period")
        y = window.actual
        diff = y[..., None] - qs
        loss = np.maximum(levels * diff, (levels - 1.0) * diff)
        return {"abs_error": np.abs(y - point).sum(axis=1),
                "pinball_loss": loss.sum(axis=(1, 2)) / len(levels),
                "actual": y.sum(axis=1)}

    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        if model not in self.known_models:
            raise DataValidationError(f"lift demand: unknown model {model!r}",
                                      fix=f"use {', '.join(self.known_models)}")
        p = _params(cfg)
        synthetic = None
        if arm is not None and state is not None:
            frame: pd.DataFrame = state.state
            r = float(ratio if ratio is not None else max(arm.ratios))
            if arm.name in TRANSFER_ARMS:  # per target row, windows as long as drawn
                length = int((frame["window_id"].to_numpy() == 0).sum())
                n = n_windows(r, int(short_rows(split.train, p["short_periods"]).sum()),
                              length)
            else:
                n = n_windows(r, len(split.train), p["window"])
            synthetic = frame.loc[frame["window_id"].to_numpy() < n]
        fitted = self._fit(split, params, synthetic, seed, p)
        test_history = pd.concat([split.train, split.validation.rows], ignore_index=True)
        return {"validation": self._score(fitted, split.validation, split.train,
                                          p["quantiles"]),
                "test": self._score(fitted, split.test, test_history, p["quantiles"])}


__all__ = ["TRANSFER_ARMS", "DemandLiftTask", "DemandWindow", "jitter_windows", "n_windows",
           "short_rows"]
