"""The rolling-origin backtest of forecasts (:func:`backtest`): :class:`DemandModel`
refit at each cutoff against naive and moving-average baselines, scored by
:func:`score_backtest` (WAPE, MASE, RMSSE, bias, pinball, interval coverage).

"Backtest" here means forecasts; strategy backtests live in :mod:`engine.portfolio`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.demand.features import KEYS, check_frame, series_key
from engine.demand.metrics import bias, coverage, insample_scale, mase, pinball, rmsse, wape
from engine.demand.model import DemandModel
from features.errors import DataValidationError, check_param

logger = logging.getLogger(__name__)


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
    data = check_frame(sales, "sales", proto._columns(), units=True)
    cuts = _cutoff_dates(data["date"], cutoffs, horizon, proto.freq_days)
    step = pd.Timedelta(days=proto.freq_days)
    frames, seconds = [], []
    for c in cuts:
        train = data.loc[data["date"] <= c]
        test = data.loc[(data["date"] > c) & (data["date"] <= c + step * horizon)]
        test = test.loc[series_key(test).isin(set(series_key(train)))]
        full = test.groupby(series_key(test))["date"].transform("size") == horizon
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
        key = series_key(srt)
        s1 = insample_scale(srt["units"], key, power=1)
        s2 = insample_scale(srt["units"], key, power=2)
        pkey = series_key(pred)
        pred["scale_mae"] = s1.reindex(pkey).to_numpy()
        pred["scale_mse"] = s2.reindex(pkey).to_numpy()
        last = srt.groupby(key)["units"].last()
        pred["naive"] = last.reindex(pkey).to_numpy()
        for w in ma_windows:
            recent = srt.loc[srt["date"] > c - step * w]
            ma = recent.groupby(series_key(recent))["units"].mean()
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
        series = series_key(g) + "\x1f" + g["cutoff"].astype(str)
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
