"""Published forecasting protocols, reproduced on the store's data.

``msf-oj``: the retail benchmark of Microsoft's forecasting repository
(github.com/microsoft/forecasting, ``OrangeJuice_Pt_3Weeks_Weekly``) on Dominick's orange
juice (bayesm ``orangeJuice``, 83 stores x 11 brands), the data of ``data fetch
dominicks-oj``:

- weeks 40..156 (Dominick's week 1 starts on Thursday 1989-09-14);
- 10 rounds; in round ``r`` (1..10) the last training week is ``T = 135 + 2 (r - 1)`` and
  the model forecasts weeks ``T + 2`` and ``T + 3`` (a one-week gap); the price, deal and
  feature ad of the forecast weeks are known;
- the score is the MAPE of units (``round(exp(logmove))``, the ``units`` column) over every
  store x brand x week of the test weeks of every round that has a sales row.

The model is :class:`DemandModel` with ``gap=1, horizon=3`` (boosters for horizons 2 and
3 only) and the ``mape`` objective, refit in every round on that round's rows only. Its
hyperparameters (:data:`MSF_OJ_PARAMS`) were chosen on pseudo-rounds inside the first
round's training data (last training weeks 113, 115, ..., 131, forecasting weeks up to
134), never on a test week.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from engine.demand.features import check_frame
from engine.demand.model import DemandModel
from features.errors import DataValidationError, check_int

logger = logging.getLogger(__name__)

#: Dominick's week 1 starts on this Thursday (as in :mod:`features.datasets`).
WEEK1 = pd.Timestamp("1989-09-14")
FIRST_WEEK, LAST_WEEK, FIRST_TRAIN_END, ROUNDS, GAP, HORIZON = 40, 156, 135, 10, 1, 2

#: DemandModel settings of the protocol (chosen on pseudo-rounds within weeks <= 134).
MSF_OJ_PARAMS: dict[str, Any] = dict(
    horizon=GAP + HORIZON, gap=GAP, quantiles=(), objective="mape", n_estimators=300,
    learning_rate=0.05, num_leaves=63, min_child_samples=100, lags=(1, 2, 3, 4, 8, 12),
    windows=(4, 8, 13), exog=("feat",), calibration_periods=0)

#: MAPE (%) of the published leaderboard (microsoft/forecasting, OJ retail benchmark).
PUBLISHED_MSF_OJ: dict[str, float] = {
    "LightGBM (single-round)": 35.58, "LightGBM (multi-round)": 35.97,
    "DilatedCNN": 37.09, "RNN encoder-decoder": 37.68, "ARIMA with own price": 48.88,
    "Prophet": 66.35, "AutoARIMA": 68.30, "mean forecast": 69.77, "ETS": 70.99,
    "naive": 109.67,
}


def week_dates(week: pd.Series | np.ndarray) -> pd.DatetimeIndex:
    """The start date of Dominick's week numbers."""
    return pd.DatetimeIndex(WEEK1 + pd.to_timedelta((np.asarray(week) - 1) * 7, unit="D"))


def _weeks(dates: pd.Series) -> np.ndarray:
    return ((dates - WEEK1) / pd.Timedelta(days=7)).to_numpy(dtype=float).round().astype(
        int) + 1


def _future(data: pd.DataFrame, test: pd.DataFrame, train_end: int,
            exog: tuple[str, ...]) -> pd.DataFrame:
    """Known-future rows of weeks ``T + 2 .. T + 3`` for every series scored in the round:
    the data's own price/deal/feature where the week has a row, else the series' latest
    known values at or before that week (a week without sales has no recorded price)."""
    keys = test[["store_id", "item_id"]].drop_duplicates()
    weeks = pd.DataFrame({"week": np.arange(train_end + GAP + 1, train_end + GAP + HORIZON + 1)})
    grid = keys.merge(weeks, how="cross")
    cols = ["price", "promo", *exog]
    known = data.loc[data["week"] <= train_end + GAP + HORIZON,
                     ["store_id", "item_id", "week", *cols]]
    grid = pd.concat([grid.assign(_grid=True), known.assign(_grid=False)], ignore_index=True)
    grid = grid.sort_values(["store_id", "item_id", "week", "_grid"], kind="stable")
    grid = grid.drop_duplicates(["store_id", "item_id", "week"], keep="first")
    grid[cols] = grid.groupby(["store_id", "item_id"])[cols].ffill()
    out = grid.merge(weeks, on="week").merge(keys, on=["store_id", "item_id"])
    out["date"] = week_dates(out["week"])
    return out[["store_id", "item_id", "date", *cols]].reset_index(drop=True)


def msf_oj(sales: pd.DataFrame, stores: pd.DataFrame | None = None, *,
           params: dict[str, Any] | None = None, rounds: int = ROUNDS,
           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the ``msf-oj`` protocol (see the module docstring).

    Parameters
    ----------
    sales : DataFrame
        Dominick's orange juice sales (``store_id, item_id, date, units, price, promo,
        feat``), weekly on Thursdays.
    stores : DataFrame, optional
        Store demographics, used as static features.
    params : dict, optional
        Overrides of :data:`MSF_OJ_PARAMS`.
    rounds : int
        The first ``rounds`` of the 10 (fewer: a quicker, partial run).
    progress : callable, optional
        Called as ``progress(done, total)`` after each round.

    Returns
    -------
    dict
        ``mape`` (% over every scored row), ``rounds`` (per round: train end week, test
        weeks, rows, MAPE, seconds), ``seconds`` (fit + predict, all rounds), ``n``
        (scored rows), ``params`` and ``predictions`` (a frame).
    """
    check_int("msf_oj", "rounds", rounds, 1, ROUNDS)
    kw = {**MSF_OJ_PARAMS, **(params or {})}
    proto = DemandModel(**kw)
    proto._validate_params()
    data = check_frame(sales, "sales", proto._columns(), units=True)
    data["week"] = _weeks(data["date"])
    if (data["week"].min() > FIRST_WEEK or data["week"].max() < LAST_WEEK
            or data["date"].dt.day_of_week.ne(WEEK1.day_of_week).any()):
        raise DataValidationError(
            f"msf-oj needs Dominick's weekly orange juice sales covering weeks {FIRST_WEEK}.."
            f"{LAST_WEEK} on Thursdays; sales covers {data['date'].min().date()}.."
            f"{data['date'].max().date()}", table="sales", column="date",
            fix="load it with `genlift data fetch dominicks-oj`")
    data = data.loc[data["week"].between(FIRST_WEEK, LAST_WEEK)].reset_index(drop=True)
    cols = proto._columns()
    exog = tuple(kw["exog"])
    parts, per_round, total = [], [], 0.0
    for r in range(1, rounds + 1):
        end = FIRST_TRAIN_END + HORIZON * (r - 1)
        train = data.loc[data["week"] <= end]
        test = data.loc[data["week"].between(end + GAP + 1, end + GAP + HORIZON)
                        & (data["units"] > 0)]  # MAPE is undefined on zero units
        future = _future(data, test, end, exog)
        start = time.perf_counter()
        model = DemandModel(**kw).fit(train[cols], stores)
        pred = model.predict(train[cols], future, origin=week_dates([end])[0])
        seconds = time.perf_counter() - start
        total += seconds
        pred = pred.merge(test[["store_id", "item_id", "date", "units"]],
                          on=["store_id", "item_id", "date"], how="inner")
        ape = np.abs(pred["point"].to_numpy() - pred["units"].to_numpy()) / pred[
            "units"].to_numpy()
        pred["round"] = r
        parts.append(pred)
        per_round.append({"round": r, "train_end_week": end,
                          "test_weeks": [end + GAP + 1, end + GAP + HORIZON],
                          "n": len(pred), "mape": float(100 * ape.mean()), "seconds": seconds})
        logger.info("msf-oj round %d (train to week %d): MAPE %.2f, %.1fs", r, end,
                    per_round[-1]["mape"], seconds)
        if progress is not None:
            progress(r, rounds)
    predictions = pd.concat(parts, ignore_index=True)
    ape = np.abs(predictions["point"] - predictions["units"]) / predictions["units"]
    return {"protocol": "msf-oj", "mape": float(100 * ape.mean()), "n": len(predictions),
            "rounds": per_round, "seconds": total, "params": kw,
            "published": PUBLISHED_MSF_OJ, "predictions": predictions}
