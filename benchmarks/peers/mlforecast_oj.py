"""mlforecast on Dominick's OJ for benchmarks/bench_demand.py, run in the bench venv.

    python mlforecast_oj.py --train train.parquet --future future.parquet \
        --params params.json --out FOLDER

``train``: ``unique_id, ds, y``, the exogenous columns and the static features (one row
per series and week up to the cutoff); ``future``: ``unique_id, ds`` and the exogenous
columns for the weeks to forecast; ``params``: ``freq``, ``horizon``, ``lags``,
``windows``, ``lgb_params``, ``static_features``, ``categories`` (the category levels of
the static features that are categorical, so their codes match the product run's),
``ids`` (the series to forecast), ``modes`` (output name -> direct or not) and
``conformal`` (``{"level": 80, "n_windows": 2}`` or null).

Each mode is one mlforecast fit and predict, as the benchmark always ran it: LightGBM,
lags and rolling means / standard deviations of lag 1, month and ISO week as date
features, the static features, the future exogenous columns as ``X_df``, and
``validate_data=False`` (mlforecast rejects series with missing weeks otherwise; its
lags are then positional). ``modes`` maps the output column to direct (``max_horizon``)
or recursive. With ``conformal`` each mode is fitted a second time with
``PredictionIntervals`` (conformal, ``n_windows`` windows of ``horizon`` weeks) and
predicted at ``level``: columns ``<mode>-lo-<level>`` and ``<mode>-hi-<level>`` (and that
fit's own point, ``<mode>-conformal``). mlforecast's conformal windows need regular series,
so that second fit runs on the training rows with the missing weeks filled as mlforecast's
error message advises (``fill_gaps``; the values carried forward from the week before);
the point columns stay those of the plain fit on the real rows.

Writes ``FOLDER/predictions.parquet`` (``unique_id, ds`` and those columns) and
``FOLDER/result.json``: fit+predict seconds per mode, measured here, without the
interpreter start and the imports.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlforecast
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean, RollingStd
from mlforecast.utils import PredictionIntervals


def _week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.isocalendar().week.to_numpy(dtype=int)


def prepare(frame: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    frame["unique_id"] = frame["unique_id"].astype(str)
    frame["ds"] = pd.to_datetime(frame["ds"]).astype("datetime64[ns]")
    for col, levels in params.get("categories", {}).items():
        if col in frame:
            frame[col] = pd.Categorical(frame[col].astype(str), categories=levels)
    return frame


def fill_weeks(train: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, int]:
    """``train`` with a row for every week of every series, from its first week to the
    last week of the data: the missing weeks carry the previous week's values forward.
    mlforecast's conformal windows need regular series (its cross-validation validates
    the data whatever ``fit(validate_data=...)`` says, and recursive prediction needs an
    exogenous row at every step). Returns the frame and the number of rows added."""
    from utilsforecast.preprocessing import fill_gaps

    grid = fill_gaps(train[["unique_id", "ds"]], freq=freq, start="per_serie", end="global")
    out = grid.merge(train, on=["unique_id", "ds"], how="left")
    out = out.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    cols = [c for c in out.columns if c not in ("unique_id", "ds")]
    out[cols] = out.groupby("unique_id", sort=False)[cols].ffill()
    return out, len(out) - len(train)


def forecaster(params: dict[str, Any]) -> MLForecast:
    windows = params["windows"]
    return MLForecast(
        models={"lgbm": lgb.LGBMRegressor(**params["lgb_params"])}, freq=params["freq"],
        lags=list(params["lags"]),
        lag_transforms={1: [*(RollingMean(window_size=w) for w in windows),
                            *(RollingStd(window_size=w) for w in windows)]},
        date_features=["month", _week_of_year])


def run(train: pd.DataFrame, future: pd.DataFrame, params: dict[str, Any], *, direct: bool,
        level: int | None = None, n_windows: int = 2) -> tuple[pd.DataFrame, float]:
    horizon = int(params["horizon"])
    fcst = forecaster(params)
    intervals = None if level is None else PredictionIntervals(n_windows=n_windows,
                                                               h=horizon)
    start = time.perf_counter()
    fcst.fit(train, static_features=list(params["static_features"]),
             max_horizon=horizon if direct else None, validate_data=False,
             prediction_intervals=intervals)
    pred = fcst.predict(horizon, X_df=future, ids=list(params["ids"]),
                        level=None if level is None else [level])
    return pred, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--future", type=Path, required=True)
    ap.add_argument("--params", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    params = json.loads(args.params.read_text())
    train = prepare(pd.read_parquet(args.train), params)
    future = prepare(pd.read_parquet(args.future), params)
    conformal = params.get("conformal")
    filled, added = fill_weeks(train, params["freq"]) if conformal else (train, 0)
    out: pd.DataFrame | None = None
    seconds: dict[str, float] = {}
    conformal_seconds: dict[str, float] = {}
    for name, direct in params["modes"].items():
        pred, seconds[name] = run(train, future, params, direct=bool(direct))
        cols = pred[["unique_id", "ds", "lgbm"]].rename(columns={"lgbm": name})
        if conformal:
            level = int(conformal["level"])
            ci, conformal_seconds[name] = run(filled, future, params, direct=bool(direct),
                                              level=level,
                                              n_windows=int(conformal["n_windows"]))
            ci = ci.rename(columns={f"lgbm-lo-{level}": f"{name}-lo-{level}",
                                    f"lgbm-hi-{level}": f"{name}-hi-{level}",
                                    "lgbm": f"{name}-conformal"})
            cols = cols.merge(ci.drop(columns=[c for c in ci.columns if c.startswith("lgbm")]),
                              on=["unique_id", "ds"], how="left")
        out = cols if out is None else out.merge(cols, on=["unique_id", "ds"], how="outer")
    assert out is not None, "no modes"
    out.to_parquet(args.out / "predictions.parquet", index=False)
    note = (f"mlforecast {mlforecast.__version__} (lightgbm {lgb.__version__}, "
            f"pandas {pd.__version__}, bench venv)")
    (args.out / "result.json").write_text(json.dumps({
        "note": note, "frames": {"predictions": "predictions.parquet"},
        "seconds": seconds, "conformal_seconds": conformal_seconds,
        "conformal_rows_filled": added,
        "versions": {"mlforecast": mlforecast.__version__, "lightgbm": lgb.__version__,
                     "pandas": pd.__version__}}))


if __name__ == "__main__":
    main()
