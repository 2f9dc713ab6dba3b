"""`genlift backtest inventory`: did the inventory plan work?

Replays the order-up-to policy of `genlift plan inventory` week by week on the store's
real sales (:func:`engine.inventory_backtest.backtest_inventory`), with the demand
model's forecasts made at each week's origin, beside a moving-average policy and the
model's point forecasts; writes an HTML report with the per-series results as parquet
and the run's config as JSON beside it.

A model trained on data inside the replay would have seen the demand it is judged on:
it is then refit with the same parameters on the sales before the first replayed week.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.demand import DemandModel
from engine.inventory_backtest import (
    DEFAULT_TARGETS,
    Forecast,
    Forecaster,
    backtest_inventory,
    check_backtest_params,
)
from features.errors import DataValidationError, check_int
from serving.reports.inventory_backtest import write_backtest_report

logger = logging.getLogger(__name__)

__all__ = ["InventoryBacktestConfig", "Replay", "model_forecaster", "prepare_sales",
           "replay_data", "run_inventory_backtest"]

KEYS = ["store_id", "item_id"]


@dataclass(frozen=True)
class InventoryBacktestConfig:
    """One `genlift backtest inventory` run (CLI flags map 1:1 onto the fields)."""

    lead_time: int
    service_level: float
    start: str  # --from: the first replayed week is the first data week on or after it
    end: str | None = None  # --to: the last replayed week (default: the last data week)
    review_period: int = 1
    unmet: str = "lost"
    paths: int = 1000
    seed: int = 0
    ma_window: int = 8
    targets: tuple[float, ...] = DEFAULT_TARGETS

    def check(self) -> None:
        owner = "backtest inventory"
        check_backtest_params(owner, lead_time=self.lead_time,
                              review_period=self.review_period,
                              service_level=self.service_level, targets=self.targets,
                              unmet=self.unmet, ma_window=self.ma_window)
        check_int(owner, "paths", self.paths, 1)


def _date(text: str, flag: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(pd.to_datetime(text, format="ISO8601")).normalize()
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{flag} {text!r} is not a date",
                                  fix=f"give {flag} as YYYY-MM-DD") from exc


def _replay_dates(sales: pd.DataFrame, cfg: InventoryBacktestConfig, freq_days: int
                  ) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """The weekly grid of the sales and its replayed part."""
    first, last = sales["date"].min(), sales["date"].max()
    grid = pd.date_range(first, last, freq=f"{freq_days}D")
    span = f"the sales run from {first.date()} to {last.date()}"
    start = _date(cfg.start, "--from")
    end = last if cfg.end is None else _date(cfg.end, "--to")
    if not first < start <= last:
        raise DataValidationError(
            f"--from {start.date()} lies outside the data: {span}, and the replay needs "
            "history before it", table="sales", column="date",
            fix=f"choose --from after {first.date()} and at most {last.date()}")
    if not start <= end <= last:
        raise DataValidationError(
            f"--to {end.date()} lies outside the replay window: {span} and --from is "
            f"{start.date()}", table="sales", column="date",
            fix=f"choose --to between {start.date()} and {last.date()}")
    replay = grid[(grid >= start) & (grid <= end)]
    need = cfg.lead_time + cfg.review_period + 1
    if len(replay) < need:
        window = (f"{replay[0].date()}..{replay[-1].date()}" if len(replay)
                  else "no week")
        raise DataValidationError(
            f"--from {start.date()} / --to {end.date()} leave {len(replay)} weeks "
            f"({window}) but lead time {cfg.lead_time} + review period "
            f"{cfg.review_period} needs at least {need}; {span}", table="sales",
            column="date", fix="choose an earlier --from or a later --to")
    return grid, replay


def _out_of_sample(model: DemandModel, sales: pd.DataFrame, stores: pd.DataFrame | None,
                   first: pd.Timestamp) -> tuple[DemandModel, str | None]:
    """The model, or a refit on the rows before ``first`` when it was trained on later
    data (or it is not known on what)."""
    train_end = getattr(model, "train_end_", None)
    if train_end is not None and train_end < first:
        return model, None
    cutoff = first - pd.Timedelta(days=model.freq_days)
    seen = ("the model's training end is unknown" if train_end is None
            else f"the model was trained to {pd.Timestamp(train_end).date()}")
    note = f"refit on data to {cutoff.date()} so the replay is out of sample ({seen})"
    logger.warning("backtest inventory: %s", note)
    fresh = DemandModel(**model.get_params()).fit(sales[sales["date"] < first], stores)
    return fresh, note


def _panel(sales: pd.DataFrame, keys: pd.DataFrame, grid: pd.DatetimeIndex, extra: int,
           exog: tuple[str, ...], freq: pd.Timedelta) -> dict[str, np.ndarray]:
    """Wide (series, period) arrays over the grid plus ``extra`` periods: units (NaN =
    missing), price carried forward, promo and exog (0 where missing)."""
    n, width = len(keys), len(grid) + extra
    code = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(sales[KEYS]))
    pos = ((sales["date"] - grid[0]) / freq).round().astype(int).to_numpy()
    out = {}
    for col in ("units", "price", "promo", *exog):
        arr = np.full((n, width), np.nan)
        arr[code, pos] = sales[col].to_numpy(dtype=float)
        out[col] = arr
    out["observed"] = ~np.isnan(out["units"])
    out["price"] = pd.DataFrame(out["price"]).ffill(axis=1).to_numpy()
    for col in ("promo", *exog):
        out[col] = np.nan_to_num(out[col], nan=0.0)
    return out


@dataclass(frozen=True)
class Replay:
    """The replay's data: the series keys (sorted), the weekly grid, the replayed weeks and
    the wide panel of :func:`_panel`; ``rows`` are the replayed series."""

    keys: pd.DataFrame
    grid: pd.DatetimeIndex
    replay: pd.DatetimeIndex
    first: int  # grid position of the first replayed week
    panel: dict[str, np.ndarray]
    rows: np.ndarray
    exog: tuple[str, ...]

    @property
    def demand(self) -> np.ndarray:
        return self.panel["units"][self.rows, self.first: self.first + len(self.replay)]

    @property
    def history(self) -> np.ndarray:
        return self.panel["units"][self.rows, : self.first]


def prepare_sales(sales: pd.DataFrame) -> pd.DataFrame:
    """Sales with parsed dates and text ids."""
    return sales.assign(date=pd.to_datetime(sales["date"]),
                        store_id=sales["store_id"].astype(str),
                        item_id=sales["item_id"].astype(str))


def replay_data(sales: pd.DataFrame, cfg: InventoryBacktestConfig, model: DemandModel
                ) -> Replay:
    """The replayed weeks and series of ``sales`` (:func:`prepare_sales`): series with a
    row in every replayed week and at least one before it."""
    freq = pd.Timedelta(days=model.freq_days)
    grid, replay = _replay_dates(sales, cfg, model.freq_days)
    keys = sales[KEYS].drop_duplicates().sort_values(KEYS).reset_index(drop=True)
    # a missing exog column is left to the model's own error message
    exog = tuple(c for c in model.exog if c in sales.columns)
    panel = _panel(sales, keys, grid, model.horizon, exog, freq)
    first = int(np.searchsorted(grid, replay[0]))
    obs = panel["observed"]
    replayable = obs[:, first: first + len(replay)].all(axis=1) & obs[:, :first].any(axis=1)
    if not replayable.any():
        raise DataValidationError(
            f"no series has a sales row in every week from {replay[0].date()} to "
            f"{replay[-1].date()} and one before it", table="sales", column="date",
            fix="choose a window the series cover without gaps")
    return Replay(keys=keys, grid=grid, replay=replay, first=first, panel=panel,
                  rows=np.flatnonzero(replayable), exog=exog)


def model_forecaster(model: DemandModel, sales: pd.DataFrame, stores: pd.DataFrame | None,
                     data: Replay, *, n_paths: int, seed: int = 0) -> Forecaster:
    """The engine's forecaster for replayed week ``t``: point forecasts and ``n_paths``
    sampled paths of the replayed series from origin ``replay[t] - 1 week``, fed the sales
    up to the origin and the known future (each week's recorded price, carried forward
    where a week has no row or lies past the data, promotion and exog 0 there). Every
    series with history is forecast (the model's relative-price features compare the
    items of a store), the replayed ones returned."""
    freq = pd.Timedelta(days=model.freq_days)
    has_rows = pd.DatetimeIndex(sales["date"].unique())
    obs = data.panel["observed"]
    horizon = model.horizon
    wanted = pd.MultiIndex.from_frame(data.keys.iloc[data.rows])
    rng = np.random.default_rng(seed)

    def forecaster(t: int, observed: np.ndarray) -> Forecast:
        # `observed` is the engine's view of the demand up to t - 1; the model reads the
        # same rows from `sales` (<= origin) plus the known future prices/promotions
        origin = data.replay[t] - freq
        if origin not in has_rows:
            raise DataValidationError(f"sales has no row on {origin.date()}, a forecast "
                                      "origin of the replay", table="sales", column="date",
                                      fix="replay weeks whose previous week has sales")
        at = data.first + t  # grid position of the first forecast period
        active = np.flatnonzero(obs[:, :at].any(axis=1))  # series with history
        future = pd.DataFrame({
            "store_id": np.repeat(data.keys["store_id"].to_numpy()[active], horizon),
            "item_id": np.repeat(data.keys["item_id"].to_numpy()[active], horizon),
            "date": np.tile(origin + freq * np.arange(1, horizon + 1), len(active)),
            **{col: data.panel[col][active, at: at + horizon].ravel()
               for col in ("price", "promo", *data.exog)}})
        hist = sales[sales["date"] <= origin]
        pred = model.predict(hist, future, stores, origin=origin)
        paths = model.sample_paths(hist, future, n_paths, random_state=rng, stores=stores)
        order = pd.MultiIndex.from_frame(pred.loc[pred["horizon"] == 1, KEYS])
        idx = order.get_indexer(wanted)
        point = pred["point"].to_numpy().reshape(len(order), horizon)
        return Forecast(point=point[idx], paths=paths[idx])

    return forecaster


def run_inventory_backtest(model: DemandModel, sales: pd.DataFrame,
                           stores: pd.DataFrame | None, out: str | Path,
                           cfg: InventoryBacktestConfig, *, show_progress: bool = False
                           ) -> dict[str, Any]:
    """Replay the model's order-up-to policy, the moving-average and the point-forecast
    policies on the real sales from ``cfg.start``; write the report (HTML at ``out``, the
    per-series table as parquet and the config as JSON beside it).

    Only series with a sales row in every replayed week and at least one before it are
    replayed (an unrecorded week's demand is unknown, so it cannot be replayed); the
    others are counted in ``series_skipped``.

    Returns
    -------
    dict
        The summary: paths written, replay window, series, refit note, ``totals`` and
        ``comparison`` as records, wall seconds.
    """
    tick = time.perf_counter()
    cfg.check()
    periods = cfg.lead_time + cfg.review_period
    if periods > model.horizon:
        raise ValueError(
            f"The 'lead_time' parameter of backtest inventory plus the review period must "
            f"be at most the model's horizon {model.horizon}; got lead time {cfg.lead_time} "
            f"+ review period {cfg.review_period} = {periods}. Train a model with "
            f"--horizon {periods} or more.")
    sales = prepare_sales(sales)
    data = replay_data(sales, cfg, model)
    model, refit = _out_of_sample(model, sales, stores, data.replay[0])
    forecaster = model_forecaster(model, sales, stores, data, n_paths=cfg.paths,
                                  seed=cfg.seed)
    result = backtest_inventory(
        data.demand, data.history, forecaster, lead_time=cfg.lead_time,
        service_level=cfg.service_level, review_period=cfg.review_period, unmet=cfg.unmet,
        targets=cfg.targets, ma_window=cfg.ma_window,
        series=data.keys.iloc[data.rows].reset_index(drop=True),
        show_progress=show_progress)
    skipped = len(data.keys) - len(data.rows)
    replay = data.replay
    summary: dict[str, Any] = {
        "from": str(replay[0].date()), "to": str(replay[-1].date()),
        "periods": len(replay), "series": len(data.rows), "series_skipped": skipped,
        "lead_time": cfg.lead_time, "review_period": cfg.review_period,
        "service_level": cfg.service_level, "unmet": cfg.unmet, "paths": cfg.paths,
        "refit": refit}
    if skipped:
        summary["skipped_reason"] = (f"{skipped} series lack a sales row in some replayed "
                                     "week (unknown demand cannot be replayed) or have "
                                     "no history before it")
    summary["seconds"] = round(time.perf_counter() - tick, 1)
    written = write_backtest_report(result, out, summary=summary,
                                    config=asdict(cfg) | {"model_params": model.get_params()})
    summary.update(written)
    summary["totals"] = result["totals"].to_dict(orient="records")
    summary["comparison"] = result["comparison"].to_dict(orient="records")
    return summary
