"""Demand forecasting on Dominick's orange juice: DemandModel vs naive baselines vs mlforecast.

Rolling-origin backtest (``--cutoffs`` origins spaced ``--horizon`` weeks apart, the last
one ``--horizon`` weeks before the end of the data), every method trained only on the
rows up to each cutoff and scored on the weeks after it:

- ``lightgbm``: :class:`engine.demand.DemandModel` (direct, known-future price / deal /
  feature ad at every horizon, quantiles);
- ``naive`` (last value) and ``ma4`` / ``ma8`` (moving averages);
- ``mlforecast`` (recursive) and ``mlforecast_direct`` (``max_horizon``): Nixtla's
  mlforecast with the same LightGBM parameters, lags and rolling windows, the same
  exogenous columns (``X_df``) and store attributes; its lags are positional across the
  data's missing weeks (``validate_data=False``). Each mode is also fitted with
  mlforecast's conformal prediction intervals (``PredictionIntervals``, level 80): the
  conformal probabilistic baseline, scored against DemandModel's q0.1 / q0.9 (pinball
  loss at both, coverage). The conformal windows need regular series, so that second fit
  runs on the training rows with the missing weeks filled (values carried forward); its
  lower ends are clipped at 0 (units are never negative).

mlforecast caps pandas below 3, so it runs in the peers' own venv (``make bench-env``),
in a subprocess per cutoff (``benchmarks/peers/mlforecast_oj.py``); its seconds are
measured there, without the interpreter start. Without that venv the run says so and goes
on without the mlforecast rows.

All methods are scored on the same rows: series with a row at the cutoff and in each of
the ``horizon`` weeks after it. Writes ``results/<--out-name>.json`` and ``.md`` (default
``demand``; ``--no-write``: print only).

Run: ``.venv/bin/python -m benchmarks.bench_demand`` (about 6-7 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import write_results
from benchmarks.peers import run_peer
from engine.demand import DemandModel, backtest, score_backtest
from engine.demand.metrics import coverage, pinball
from features.datasets import fetch

logger = logging.getLogger("bench_demand")

LAGS = (1, 2, 3, 4, 8, 12)
WINDOWS = (4, 8, 13)
EXOG = ("feat",)
LEVEL = 80  # the interval scored: q0.1 - q0.9, mlforecast's conformal lo-80 / hi-80
LO, HI = 0.1, 0.9
MLF_MODES = {"mlforecast": False, "mlforecast_direct": True}  # name -> direct


def model_params(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one place for the models' parameters: DemandModel's keyword arguments, and
    mlforecast's LightGBM parameters (the same trees, leaves and rate)."""
    shared = dict(n_estimators=args.n_estimators, learning_rate=args.learning_rate,
                  num_leaves=31, min_child_samples=20, random_state=0)
    # one LightGBM thread each: on a small shared machine OpenMP barriers stall when a
    # core is busy, and the comparison stays fair
    demand = dict(shared, lags=LAGS, windows=WINDOWS, exog=EXOG, n_jobs=1,
                  quantiles=tuple(args.quantiles), objective="tweedie")
    lgb_params = dict(shared, objective="tweedie", verbosity=-1, deterministic=True,
                      force_row_wise=True, n_jobs=1)
    return demand, lgb_params


def mlforecast_frames(sales: pd.DataFrame, stores: pd.DataFrame, cutoff: pd.Timestamp,
                      eval_rows: pd.DataFrame, horizon: int
                      ) -> tuple[pd.DataFrame, pd.DataFrame, list[str], dict[str, list[str]],
                                 list[str]]:
    """mlforecast's training rows up to ``cutoff``, its future exogenous rows, the
    series to forecast (those of ``eval_rows``), the category levels and the static
    features."""
    attrs = stores.copy()
    attrs["store_id"] = attrs["store_id"].astype(str)
    attr_cols = [c for c in attrs.columns if c != "store_id"]
    frame = sales.merge(attrs, on="store_id", how="left")
    frame["unique_id"] = frame["store_id"] + "/" + frame["item_id"]
    frame = frame.rename(columns={"date": "ds", "units": "y"})
    # the category levels of the whole data, as the in-process run had them
    categories = {col: sorted(frame[col].astype(str).unique().tolist())
                  for col in ("store_id", "item_id")}
    cols = ["unique_id", "ds", "y", "price", "promo", *EXOG, "store_id", "item_id", *attr_cols]
    train = frame.loc[frame["ds"] <= cutoff, cols]
    step = pd.Timedelta(weeks=1)
    future = frame.loc[(frame["ds"] > cutoff) & (frame["ds"] <= cutoff + step * horizon),
                       ["unique_id", "ds", "price", "promo", *EXOG]]
    ids = sorted(set(eval_rows["store_id"] + "/" + eval_rows["item_id"]))
    future = future.loc[future["unique_id"].isin(ids)]
    return train, future, ids, categories, ["store_id", "item_id", *attr_cols]


def run_mlforecast(sales: pd.DataFrame, stores: pd.DataFrame, pred: pd.DataFrame,
                   horizon: int, lgb_params: dict[str, Any], modes: dict[str, bool], *,
                   conformal_windows: int | None, timeout: float = 1800.0
                   ) -> tuple[pd.DataFrame | None, dict[str, list[float]], str]:
    """mlforecast's forecasts for every cutoff of ``pred`` (keys, date and one column per
    mode, plus ``<mode>-lo-80`` / ``<mode>-hi-80`` with conformal intervals), seconds per
    mode and cutoff (``<mode>_conformal`` for the interval fits), and a note. None when
    the peer did not run."""
    parts: list[pd.DataFrame] = []
    seconds: dict[str, list[float]] = {}
    note = "mlforecast not run"
    for cutoff, rows in pred.groupby("cutoff"):
        train, future, ids, categories, static = mlforecast_frames(
            sales, stores, pd.Timestamp(cutoff), rows, horizon)
        params = {"freq": "W-THU", "horizon": horizon, "lags": list(LAGS),
                  "windows": list(WINDOWS), "lgb_params": lgb_params,
                  "static_features": static, "categories": categories, "ids": ids,
                  "modes": modes,
                  "conformal": None if conformal_windows is None else
                  {"level": LEVEL, "n_windows": conformal_windows}}
        run = run_peer("mlforecast_oj.py", {"train": train, "future": future,
                                            "params": params}, timeout=timeout)
        if not run.ok:
            logger.warning("%s\n%s", run.note, run.result.get("log", ""))
            return None, {}, run.note
        note = run.note
        out = run.frames["predictions"]
        out[["store_id", "item_id"]] = out["unique_id"].astype(str).str.split(
            "/", expand=True)
        out["date"] = pd.to_datetime(out["ds"]).astype(pred["date"].dtype)
        parts.append(out.drop(columns=["unique_id", "ds"]))
        for name, s in run.result["seconds"].items():
            seconds.setdefault(name, []).append(float(s))
        for name, s in run.result.get("conformal_seconds", {}).items():
            seconds.setdefault(f"{name}_conformal", []).append(float(s))
        logger.info("mlforecast: cutoff %s %s (%.1fs with the subprocess; %d missing "
                    "weeks filled for the conformal fits)", pd.Timestamp(cutoff).date(),
                    ", ".join(f"{k} {v:.1f}s" for k, v in run.result["seconds"].items()),
                    run.wall_s, run.result.get("conformal_rows_filled", 0))
    return (pd.concat(parts, ignore_index=True) if parts else None), seconds, note


def interval_scores(frame: pd.DataFrame, lo: str, hi: str) -> dict[str, float]:
    """Pinball loss of ``lo`` as the q0.1 and ``hi`` as the q0.9 forecast, and the share
    of actuals inside ``[lo, hi]``."""
    y = frame["units"].to_numpy()
    return {"pinball_lo": float(pinball(y, frame[lo].to_numpy(), LO)),
            "pinball_hi": float(pinball(y, frame[hi].to_numpy(), HI)),
            "coverage80": coverage(y, frame[lo], frame[hi])}


def best_mlforecast(overall: pd.DataFrame) -> str | None:
    """The mlforecast mode with the lowest WAPE (None when none ran)."""
    mlf = [m for m in MLF_MODES if m in overall.index]
    return min(mlf, key=lambda m: float(overall.loc[m, "wape"])) if mlf else None


def vs_mlforecast(overall: pd.DataFrame, timing: dict[str, float]) -> dict[str, Any]:
    """genlift (``lightgbm``) against the best mlforecast: WAPE and time ratios and the
    two targets (WAPE <= mlforecast's, time <= 2x mlforecast's); None where not run."""
    best = best_mlforecast(overall)
    if best is None:
        return {"best_mlforecast": None, "wape_ratio": None, "time_ratio": None,
                "wape_vs_mlforecast_met": None, "time_vs_mlforecast_met": None}
    wape_ratio = float(overall.loc["lightgbm", "wape"] / overall.loc[best, "wape"])
    time_ratio = (timing["lightgbm"] / timing[best]
                  if "lightgbm" in timing and timing.get(best) else None)
    return {"best_mlforecast": best, "wape_ratio": wape_ratio, "time_ratio": time_ratio,
            "wape_vs_mlforecast_met": bool(wape_ratio <= 1.0),
            "time_vs_mlforecast_met": None if time_ratio is None else bool(time_ratio <= 2.0)}


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None or not np.isfinite(v) else fmt.format(v)


def _met(flag: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "n/a"}[flag]


def results_table(overall: pd.DataFrame, methods: list[str], timing: dict[str, float],
                  probabilistic: dict[str, dict[str, float]]) -> list[str]:
    """The markdown rows of the methods table: ``overall`` is score_backtest's ``all``
    rows indexed by method; ``probabilistic`` the interval scores per method."""
    best = best_mlforecast(overall)
    ref_wape = float(overall.loc[best, "wape"]) if best else None
    ref_time = timing.get(best) if best else None
    lines = ["| method | WAPE | WAPE / best mlforecast | MASE | RMSSE | bias | mean pinball "
             f"| pinball q{LO}/q{HI} | {LEVEL}% cov | fit+predict s/cutoff "
             "| time / best mlforecast |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        r = overall.loc[m]
        p = probabilistic.get(m, {})
        secs = timing.get(m)
        pin2 = (f"{p['pinball_lo']:.0f} / {p['pinball_hi']:.0f}"
                if "pinball_lo" in p else "-")
        cov = p.get("coverage80", r["coverage80"])
        wape_ratio = r["wape"] / ref_wape if ref_wape else None
        time_ratio = secs / ref_time if secs is not None and ref_time else None
        lines.append(
            f"| {m} | {r['wape']:.3f} | {_num(wape_ratio, '{:.2f}')} | {r['mase']:.3f} | "
            f"{r['rmsse']:.3f} | {r['bias']:+.3f} | {_num(r['pinball'], '{:.0f}')} | "
            f"{pin2} | {_num(cov, '{:.3f}')} | {_num(secs, '{:.1f}')} | "
            f"{_num(time_ratio, '{:.2f}x')} |")
    return lines


def target_lines(targets: dict[str, Any], peer_note: str) -> list[str]:
    """The targets as markdown bullets."""
    lines = [f"- WAPE gain over the best naive baseline: {targets['wape_gain_vs_best_naive']:.1%}"
             f" (target >= 15%): {_met(targets['wape_target_met'])}",
             f"- {LEVEL}% interval coverage (q{LO}-q{HI}): {targets['coverage80']:.3f} "
             f"(target 0.75-0.85): {_met(targets['coverage_target_met'])}"]
    best = targets.get("best_mlforecast")
    if best is None:
        why = f" ({peer_note})" if peer_note else ""
        return [*lines, f"- genlift WAPE <= best mlforecast WAPE: n/a{why}",
                f"- genlift time <= 2x mlforecast's: n/a{why}"]
    time_ratio = targets.get("time_ratio")
    return [*lines,
            f"- genlift WAPE <= best mlforecast WAPE ({best}): ratio "
            f"{targets['wape_ratio']:.3f}: {_met(targets['wape_vs_mlforecast_met'])}",
            f"- genlift time <= 2x mlforecast's ({best}, fit+predict per cutoff): "
            f"{_num(time_ratio, '{:.2f}x')}: {_met(targets['time_vs_mlforecast_met'])}"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoffs", type=int, default=4)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.1, 0.5, 0.9])
    parser.add_argument("--no-mlforecast", action="store_true")
    parser.add_argument("--no-direct", action="store_true",
                        help="skip mlforecast's direct (max_horizon) mode")
    parser.add_argument("--no-conformal", action="store_true",
                        help="skip mlforecast's conformal intervals (a second fit per mode)")
    parser.add_argument("--conformal-windows", type=int, default=2,
                        help="mlforecast PredictionIntervals n_windows (of --horizon weeks)")
    parser.add_argument("--peer-timeout", type=float, default=1800.0,
                        help="seconds per mlforecast subprocess (one per cutoff)")
    parser.add_argument("--out-name", default="demand",
                        help="write results/<NAME>.json and .md (default: demand)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the table, leave benchmarks/results alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    tables = fetch("dominicks-oj")
    sales, stores = tables["sales"], tables["stores"]
    params, lgb_params = model_params(args)
    res = backtest(sales, stores, cutoffs=args.cutoffs, horizon=args.horizon, params=params)
    pred = res["predictions"]

    # the common scoring set: series with a row at the cutoff (mlforecast's lags are
    # positional, so its forecast dates start right after each series' last row)
    data = sales.assign(store_id=sales["store_id"].astype(str),
                        item_id=sales["item_id"].astype(str))
    at_cut = data[["store_id", "item_id", "date"]].rename(columns={"date": "cutoff"})
    at_cut["has_origin"] = True
    pred = pred.merge(at_cut, on=["store_id", "item_id", "cutoff"], how="left")
    pred = pred.loc[pred["has_origin"].eq(True)].drop(columns="has_origin")

    methods = ["lightgbm", "naive", "ma4", "ma8"]
    seconds: dict[str, list[float]] = {"lightgbm": list(res["seconds"])}
    intervals = {"lightgbm": (f"q{LO}", f"q{HI}")} if {f"q{LO}", f"q{HI}"} <= set(
        pred.columns) else {}
    mlf_note = "not run (--no-mlforecast)"
    if not args.no_mlforecast:
        modes = {k: v for k, v in MLF_MODES.items() if not (v and args.no_direct)}
        mlf, mlf_seconds, mlf_note = run_mlforecast(
            data, stores, pred, args.horizon, lgb_params, modes,
            conformal_windows=None if args.no_conformal else args.conformal_windows,
            timeout=args.peer_timeout)
        if mlf is not None:
            pred = pred.merge(mlf, on=["store_id", "item_id", "date"], how="left")
            methods += list(modes)
            seconds.update(mlf_seconds)
            for name in modes:
                lo, hi = f"{name}-lo-{LEVEL}", f"{name}-hi-{LEVEL}"
                if lo in pred and hi in pred:
                    # units are never negative: the peer's lower end clipped at 0 (this
                    # lowers its q0.1 loss, never its coverage)
                    pred[lo] = pred[lo].clip(lower=0)
                    intervals[name] = (lo, hi)
    needed = methods + [c for pair in intervals.values() for c in pair]
    complete = pred[needed].notna().all(axis=1)
    if not complete.all():
        logger.info("dropping %d rows some method did not forecast", int((~complete).sum()))
    pred = pred.loc[complete]

    # point-only speed of DemandModel (4 boosters, as many trees as mlforecast direct)
    last = max(res["cutoffs"])
    train = data.loc[data["date"] <= last]
    fut = pred.loc[pred["cutoff"] == last, ["store_id", "item_id", "date"]].merge(
        data, on=["store_id", "item_id", "date"]).drop(columns="units")
    start = time.perf_counter()
    DemandModel(**dict(params, quantiles=(), horizon=args.horizon)).fit(train, stores).predict(
        train, fut)
    point_only = time.perf_counter() - start

    metrics = score_backtest(pred, methods)
    overall = metrics.loc[metrics["cutoff"] == "all"].set_index("method")
    probabilistic = {m: interval_scores(pred, lo, hi) for m, (lo, hi) in intervals.items()}
    naive_best = overall.loc[["naive", "ma4", "ma8"], "wape"].min()
    gain = 1 - overall.loc["lightgbm", "wape"] / naive_best
    cov80 = float(overall.loc["lightgbm", "coverage80"])
    timing = {m: float(np.mean(s)) for m, s in seconds.items()}
    timing["lightgbm_point_only"] = point_only
    targets = {"wape_gain_vs_best_naive": float(gain), "wape_target_met": bool(gain >= 0.15),
               "coverage80": cov80, "coverage_target_met": bool(0.75 <= cov80 <= 0.85),
               **vs_mlforecast(overall, timing)}

    lines = [f"# Demand forecasting: Dominick's OJ, {args.cutoffs} cutoffs x h={args.horizon}",
             "", f"{len(pred)} scored forecasts ({pred.groupby('cutoff').size().min()}-"
             f"{pred.groupby('cutoff').size().max()} per cutoff); LightGBM "
             f"n_estimators={args.n_estimators}, learning_rate={args.learning_rate}, "
             f"num_leaves=31, lags={list(LAGS)}, windows={list(WINDOWS)}; {mlf_note}.", "",
             *results_table(overall, methods, timing, probabilistic), "",
             f"lightgbm fit+predict with point boosters only (last cutoff): "
             f"{point_only:.1f}s; the row above trains {1 + len(args.quantiles)} boosters "
             "per horizon. Ratios are to the mlforecast mode with the lowest WAPE."]
    conf = [m for m in MLF_MODES if f"{m}_conformal" in timing]
    if conf:
        conf_secs = ", ".join(f"{m} {timing[f'{m}_conformal']:.1f}s/cutoff" for m in conf)
        lines += ["", f"mlforecast's {LEVEL}% intervals are conformal (PredictionIntervals, "
                  f"n_windows={args.conformal_windows}, h={args.horizon}; lower end clipped "
                  "at 0), from a second fit per mode on the training rows with the missing "
                  f"weeks filled (mlforecast's windows need regular series): {conf_secs}; "
                  f"genlift's are its q{LO} / q{HI} quantile boosters."]
    lines += ["", *target_lines(targets, mlf_note)]
    table = "\n".join(lines)
    payload = {"config": {"cutoffs": [str(c.date()) for c in res["cutoffs"]],
                          "horizon": args.horizon, "params": {k: list(v) if isinstance(
                              v, tuple) else v for k, v in params.items()},
                          "conformal_windows": None if args.no_conformal
                          else args.conformal_windows},
               "peer": mlf_note, "metrics": metrics.to_dict(orient="records"),
               "intervals80": probabilistic, "seconds_per_cutoff": timing,
               "targets": targets, "n_scored": len(pred)}
    if not args.no_write:
        write_results(args.out_name, payload, table)
    print(table)
    return payload


if __name__ == "__main__":
    main()
