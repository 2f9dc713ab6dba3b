"""Inventory policy backtest: replay order-up-to policies on the real demand.

Did the plan work? :func:`backtest_inventory` replays a periodic-review order-up-to
(``R, S``) policy week by week on the demand that actually happened, for every store x
item series at once, and reports what it achieved against what it promised.

Sequence of events in period ``t`` (``L`` = lead time, ``R`` = review period, both in
periods; ``t = 0 .. T-1`` are the replayed periods):

1. orders due in ``t`` arrive (an order placed in ``t`` arrives in ``t + L``);
2. if ``t`` is a review period (``t % R == 0``) the policy sets its order-up-to level
   ``S_t`` and orders ``max(0, S_t - position)``, with ``position = net inventory +
   orders not yet arrived``; with ``L = 0`` the order arrives at once, before demand;
3. the demand of ``t`` is served from on-hand stock; what cannot be served is lost
   (``unmet="lost"``) or backordered (``unmet="backorder"``: net inventory goes
   negative and the backlog is delivered, late, from the next arrivals first).

``S_t`` sees only what is known at the start of ``t``: the demand up to ``t - 1`` (the
``forecaster`` is handed exactly that, and its forecasts are made at origin ``t - 1``
for periods ``t .. t + L + R - 1``, the protection interval of the order), plus the
known future (prices, promotions) the forecaster reads itself. Initial on hand is each
policy's own order-up-to level ``S_0`` (so nothing is ordered in period 0 and the first
``L`` periods live off that stock); nothing is on order.

Policies, each at every target service level ``alpha`` where it has one:

- ``model``: ``S_t`` = the ``alpha`` quantile (``inverted_cdf``) of the sampled demand
  paths summed over the protection interval, as :func:`engine.inventory.plan` sets its
  ``"R,S"`` order-up-to level (:func:`engine.inventory.lead_time_demand`,
  :func:`engine.inventory.sample_quantile`);
- ``moving_average``: textbook normal, ``S_t = m * (L + R) + z * s * sqrt(L + R)`` with
  ``m``, ``s`` the mean and standard deviation (ddof 1) of the last ``ma_window``
  observed periods and ``z = Phi^-1(alpha)``
  (:func:`engine.inventory.normal_plan_reference`), floored at 0; missing weeks are
  skipped, ``s = 0`` with fewer than two observations, ``S = 0`` with none;
- ``point``: ``S_t`` = the sum of the point forecasts over the protection interval (no
  safety stock, no target).

Metrics, per series and in total (``demand``, ``served``, ``units_short`` summed):

- ``fill_rate`` = units served from stock in the period of their demand / demand (a
  backordered unit delivered late counts as short); 1 for a series without demand;
- ``cycle_service_level``: the textbook share of replenishment cycles without a
  stockout. The cycle of the review in period ``t_k`` is the ``R`` periods
  ``t_k + L .. t_k + L + R - 1`` (from the arrival of its order to the arrival of the
  next one); it counts when it ends inside the replay, and it is a stockout cycle when
  any of its periods has ``units_short > 0``. The first ``L`` periods, served by the
  initial stock, belong to no cycle (they count in every other metric). With
  backorders the target ``alpha`` promises exactly this share (``P(D_{L+R} <= S)``);
  with lost sales the position ignores lost demand, which shifts it slightly;
- ``avg_on_hand``: mean end-of-period on-hand units (after demand); the total is the sum
  over series (units held on average); ``weeks_of_supply`` = ``avg_on_hand`` / mean
  demand per period;
- ``stockout_weeks``: periods with ``units_short > 0`` (series-periods in total);
- ``units_short``: demand not served from stock in its period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from tqdm.auto import tqdm

from engine.inventory import lead_time_demand, normal_plan_reference, sample_quantile
from features.errors import DataValidationError, check_choice, check_int, check_param, check_real

logger = logging.getLogger(__name__)

__all__ = [
    "COMPARISON_COLUMNS",
    "DEFAULT_TARGETS",
    "METRIC_COLUMNS",
    "POLICIES",
    "UNMET",
    "Forecast",
    "Forecaster",
    "Simulation",
    "backtest_inventory",
    "check_backtest_params",
    "equal_service_inventory",
    "moving_average_levels",
    "simulate",
    "summarize",
]

#: How demand that cannot be served from stock is treated.
UNMET = ("lost", "backorder")
#: Policies of :func:`backtest_inventory`, in report order.
POLICIES = ("model", "moving_average", "point")
#: Target cycle service levels of the calibration and trade-off curves: the usual targets
#: plus low and very high ones, so that a policy that over- or under-delivers still has a
#: point at the other policy's achieved service (inventory at equal service).
DEFAULT_TARGETS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
#: Metric columns of :func:`summarize`, in order.
METRIC_COLUMNS = ("demand", "served", "units_short", "fill_rate", "cycles",
                  "cycles_with_stockout", "cycle_service_level", "avg_on_hand",
                  "weeks_of_supply", "stockout_weeks")


@dataclass(frozen=True)
class Forecast:
    """Forecasts made at origin ``t - 1`` for periods ``t, t + 1, ...``.

    Attributes
    ----------
    point : array of shape (n_series, horizon)
        Point forecast per period.
    paths : array of shape (n_series, n_paths, horizon)
        Sampled demand paths (e.g. :meth:`engine.demand.DemandModel.sample_paths`).
    """

    point: NDArray[np.float64]
    paths: NDArray[np.float64]


#: ``forecaster(t, observed) -> Forecast``: ``observed`` is the demand known at the start
#: of replayed period ``t``, shape ``(n_series, n_history + t)`` (NaN = not observed).
Forecaster = Callable[[int, NDArray[np.float64]], Forecast]


@dataclass(frozen=True)
class Simulation:
    """Trajectories of :func:`simulate`, each of shape ``(n_rows, n_periods)``."""

    orders: NDArray[np.float64]
    on_hand: NDArray[np.float64]  # end of period, after demand
    served: NDArray[np.float64]
    short: NDArray[np.float64]
    cycle_stockout: NDArray[np.bool_]  # (n_rows, n_cycles)


def check_backtest_params(owner: str, *, lead_time: int, review_period: int,
                          service_level: float, targets: Sequence[float], unmet: str,
                          ma_window: int) -> tuple[float, ...]:
    """Validate the replay's parameters; returns the sorted target levels, including
    ``service_level``."""
    check_int(owner, "lead_time", lead_time, 0)
    check_int(owner, "review_period", review_period, 1)
    check_real(owner, "service_level", service_level, 0.0, 1.0, low_open=True,
               high_open=True)
    check_choice(owner, "unmet", unmet, UNMET)
    check_int(owner, "ma_window", ma_window, 1)
    ok = (isinstance(targets, Sequence) and not isinstance(targets, str)
          and all(isinstance(v, float | int) and 0 < v < 1 for v in targets))
    check_param(owner, "targets", targets, ok, "a sequence of floats in (0, 1)")
    return tuple(sorted({float(v) for v in targets} | {float(service_level)}))


def _demand_matrix(value: ArrayLike, name: str, *, allow_nan: bool) -> NDArray[np.float64]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        raise DataValidationError(f"{name} must be a 2-d array (series, periods); got shape "
                                  f"{arr.shape}", table=name,
                                  fix="pass one row of weekly demand per series")
    bad = (arr < 0) | (np.isinf(arr) if allow_nan else ~np.isfinite(arr))
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataValidationError(
            f"{name} has {int(bad.sum())} negative{'' if allow_nan else ', NaN'} or infinite "
            f"values in {len(rows)} series (series {', '.join(map(str, rows[:5] + 1))})",
            table=name, n_rows=len(rows), rows=[int(r) + 1 for r in rows[:5]],
            fix="demand must be finite and >= 0" + ("" if not allow_nan
                                                   else " (NaN marks a missing week)"))
    return arr


def simulate(demand: ArrayLike, levels: ArrayLike, *, lead_time: int, review_period: int = 1,
             unmet: str = "lost", initial_on_hand: ArrayLike | None = None) -> Simulation:
    """Replay order-up-to levels on realised demand (module docstring for the events).

    Parameters
    ----------
    demand : array of shape (n_rows, n_periods)
        Realised demand per period, finite and >= 0.
    levels : array of shape (n_rows, n_periods)
        Order-up-to level ``S_t`` per period; read at review periods only.
    lead_time : int
        ``L >= 0`` periods (0 = delivered in the period of the order, before demand).
    review_period : int, default 1
        ``R >= 1``: orders in periods ``0, R, 2R, ...``.
    unmet : {"lost", "backorder"}, default "lost"
    initial_on_hand : array of shape (n_rows,), optional
        Stock at the start of period 0; ``levels[:, 0]`` when omitted.

    Returns
    -------
    Simulation

    Examples
    --------
    >>> sim = simulate(np.full((1, 4), 10.0), np.full((1, 4), 30.0), lead_time=2)
    >>> sim.on_hand[0].tolist(), sim.orders[0].tolist()
    ([20.0, 10.0, 0.0, 0.0], [0.0, 10.0, 10.0, 10.0])
    """
    owner = "simulate"
    check_int(owner, "lead_time", lead_time, 0)
    check_int(owner, "review_period", review_period, 1)
    check_choice(owner, "unmet", unmet, UNMET)
    d = _demand_matrix(demand, "demand", allow_nan=False)
    s = np.asarray(levels, dtype=np.float64)
    if s.shape != d.shape or not np.isfinite(s).all():
        raise DataValidationError(f"levels has shape {s.shape} (or non-finite values) but "
                                  f"demand has shape {d.shape}", table="levels",
                                  fix="pass one finite order-up-to level per series and period")
    n, horizon = d.shape
    net = (s[:, 0].copy() if initial_on_hand is None
           else np.broadcast_to(np.asarray(initial_on_hand, dtype=np.float64), (n,)).copy())
    arrivals = np.zeros((n, horizon + lead_time + 1))
    orders, on_hand, served, short = (np.zeros((n, horizon)) for _ in range(4))
    for t in range(horizon):
        net += arrivals[:, t]
        if t % review_period == 0:
            # orders placed in t-L+1 .. t-1 arrive in t+1 .. t+L-1
            position = net + arrivals[:, t + 1: t + lead_time].sum(axis=1)
            q = np.maximum(s[:, t] - position, 0.0)
            orders[:, t] = q
            if lead_time == 0:
                net += q
            else:
                arrivals[:, t + lead_time] += q
        served[:, t] = np.minimum(d[:, t], np.maximum(net, 0.0))
        short[:, t] = d[:, t] - served[:, t]
        net -= served[:, t] if unmet == "lost" else d[:, t]
        on_hand[:, t] = np.maximum(net, 0.0)
    starts = np.arange(0, horizon, review_period)
    starts = starts[starts + lead_time + review_period - 1 <= horizon - 1]
    stocked_out = short > 0
    cycle = np.zeros((n, len(starts)), dtype=bool)
    for k, t0 in enumerate(starts):
        cycle[:, k] = stocked_out[:, t0 + lead_time: t0 + lead_time + review_period].any(axis=1)
    return Simulation(orders=orders, on_hand=on_hand, served=served, short=short,
                      cycle_stockout=cycle)


def _metrics(demand: NDArray[np.float64], served: NDArray[np.float64],
             on_hand_sum: NDArray[np.float64], n_periods: int,
             cycles: NDArray[np.float64], bad_cycles: NDArray[np.float64],
             stockout_weeks: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(demand > 0, served / demand, 1.0)
        csl = np.where(cycles > 0, 1.0 - bad_cycles / cycles, np.nan)
        avg = on_hand_sum / n_periods
        wos = np.where(demand > 0, avg / (demand / n_periods), np.nan)
    return {"demand": demand, "served": served, "units_short": demand - served,
            "fill_rate": fill, "cycles": cycles, "cycles_with_stockout": bad_cycles,
            "cycle_service_level": csl, "avg_on_hand": avg, "weeks_of_supply": wos,
            "stockout_weeks": stockout_weeks}


def summarize(sim: Simulation, demand: ArrayLike) -> pd.DataFrame:
    """Per-row metrics of a simulation (:data:`METRIC_COLUMNS`, module docstring)."""
    d = np.asarray(demand, dtype=np.float64)
    cyc = sim.cycle_stockout
    out = _metrics(d.sum(axis=1), sim.served.sum(axis=1), sim.on_hand.sum(axis=1), d.shape[1],
                   np.full(len(d), float(cyc.shape[1])), cyc.sum(axis=1).astype(float),
                   (sim.short > 0).sum(axis=1).astype(float))
    return pd.DataFrame(out, columns=list(METRIC_COLUMNS))


def _totals(per_series: pd.DataFrame, n_periods: int) -> pd.DataFrame:
    keys = ["policy", "target"]
    g = per_series.groupby(keys, sort=False, dropna=False)[
        ["demand", "served", "avg_on_hand", "cycles", "cycles_with_stockout",
         "stockout_weeks"]].sum()
    out = _metrics(g["demand"].to_numpy(), g["served"].to_numpy(),
                   g["avg_on_hand"].to_numpy() * n_periods, n_periods, g["cycles"].to_numpy(),
                   g["cycles_with_stockout"].to_numpy(), g["stockout_weeks"].to_numpy())
    frame = pd.DataFrame(out, index=g.index, columns=list(METRIC_COLUMNS)).reset_index()
    frame.insert(2, "series", per_series.groupby(keys, sort=False, dropna=False).size().to_numpy())
    return frame


def moving_average_levels(observed: ArrayLike, *, window: int, lead_time: int,
                          review_period: int, service_levels: Sequence[float]
                          ) -> NDArray[np.float64]:
    """Order-up-to levels of the moving-average policy (module docstring).

    Parameters
    ----------
    observed : array of shape (n_series, n_observed)
        Demand up to the period before the order (NaN = missing week).
    window : int
        The last ``window`` periods are averaged.
    lead_time, review_period : int
    service_levels : sequence of float

    Returns
    -------
    ndarray of shape (n_series, n_levels)

    Examples
    --------
    >>> moving_average_levels([[8.0, 12.0, 8.0, 12.0]], window=4, lead_time=2,
    ...                       review_period=2, service_levels=[0.5]).round(6).tolist()
    [[40.0]]
    """
    obs = np.asarray(observed, dtype=np.float64)[:, -window:]
    count = (~np.isnan(obs)).sum(axis=1)
    mu = np.where(count > 0, np.nansum(obs, axis=1) / np.maximum(count, 1), 0.0)
    dev = np.where(np.isnan(obs), 0.0, obs - mu[:, None])
    sigma = np.where(count > 1, np.sqrt((dev**2).sum(axis=1) / np.maximum(count - 1, 1)), 0.0)
    # the textbook formula only needs the protection interval L + R, given here as one
    # "lead time" so that L = 0 is allowed
    ref = normal_plan_reference(mu[:, None], sigma[:, None], lead_time + review_period,
                                np.asarray(service_levels, dtype=np.float64)[None, :])
    return np.maximum(np.asarray(ref["reorder_point"], dtype=np.float64), 0.0)


def _forecast_levels(fc: Forecast, n_series: int, periods: int, levels: Sequence[float],
                     t: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    point = np.asarray(fc.point, dtype=np.float64)
    paths = np.asarray(fc.paths, dtype=np.float64)
    if point.ndim != 2 or point.shape[0] != n_series or point.shape[1] < periods:
        raise DataValidationError(
            f"the forecaster's point forecasts for period {t} have shape {point.shape}; "
            f"expected ({n_series}, >= {periods})", table="forecast",
            fix="forecast every series for the whole protection interval lead_time + "
                "review_period")
    if paths.ndim != 3 or paths.shape[0] != n_series:
        raise DataValidationError(
            f"the forecaster's paths for period {t} have shape {paths.shape}; expected "
            f"({n_series}, n_paths, >= {periods})", table="forecast",
            fix="sample demand paths for every series")
    if not np.isfinite(point).all():
        raise DataValidationError(f"the forecaster's point forecasts for period {t} hold "
                                  "NaN or infinite values", table="forecast",
                                  fix="point forecasts must be finite")
    # the protection interval as one "lead time", so that L = 0 is allowed
    ltd = lead_time_demand(paths, periods, 0)
    model = np.stack([sample_quantile(ltd, q) for q in levels], axis=1)
    return model, np.maximum(point[:, :periods].sum(axis=1), 0.0)


def backtest_inventory(
    demand: ArrayLike,
    history: ArrayLike,
    forecaster: Forecaster,
    *,
    lead_time: int,
    service_level: float,
    review_period: int = 1,
    unmet: str = "lost",
    targets: Sequence[float] = DEFAULT_TARGETS,
    ma_window: int = 8,
    series: pd.DataFrame | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Replay the model, moving-average and point-forecast policies on the real demand.

    See the module docstring for the policies, the sequence of events and every metric.

    Parameters
    ----------
    demand : array of shape (n_series, n_periods)
        Realised demand of the replayed periods, finite and >= 0.
    history : array of shape (n_series, n_history)
        Demand before the first replayed period (NaN = missing week), for the
        moving-average policy and handed to the forecaster.
    forecaster : callable ``(t, observed) -> Forecast``
        Called once per review period ``t`` with the demand observed before ``t``;
        forecasts for periods ``t .. t + lead_time + review_period - 1`` (at least).
    lead_time : int
        ``>= 0`` periods (0 = delivered before the demand of the ordering period).
    service_level : float
        The target cycle service level of the run, in ``(0, 1)``.
    review_period : int, default 1
    unmet : {"lost", "backorder"}, default "lost"
    targets : sequence of float, default :data:`DEFAULT_TARGETS`
        Levels of the calibration and trade-off curves (``service_level`` is added).
    ma_window : int, default 8
        Periods averaged by the moving-average policy.
    series : DataFrame, optional
        Keys per series (e.g. ``store_id``, ``item_id``), copied into ``per_series``.
    show_progress : bool, default False

    Returns
    -------
    dict
        ``per_series`` (one row per policy, target and series: keys + :data:`METRIC_COLUMNS`),
        ``totals`` (one row per policy and target), ``comparison``
        (:func:`equal_service_inventory`), ``orders`` (policy -> array of orders at the
        run's ``service_level``, shape (n_series, n_periods)), ``levels`` (the targets),
        ``n_periods``, ``n_series``.
    """
    owner = "backtest_inventory"
    levels = check_backtest_params(owner, lead_time=lead_time, review_period=review_period,
                                   service_level=service_level, targets=targets, unmet=unmet,
                                   ma_window=ma_window)
    d = _demand_matrix(demand, "demand", allow_nan=False)
    hist = _demand_matrix(history, "history", allow_nan=True)
    n, horizon = d.shape
    periods = lead_time + review_period
    if hist.shape[0] != n:
        raise DataValidationError(f"history has {hist.shape[0]} series but demand has {n}",
                                  table="history", fix="pass the same series in the same order")
    if n == 0 or horizon < periods + 1:
        raise ValueError(f"backtest_inventory needs at least lead_time + review_period + 1 = "
                         f"{periods + 1} periods of demand for at least one series; got "
                         f"{horizon} periods of {n} series")
    if series is not None and len(series) != n:
        raise DataValidationError(f"series has {len(series)} rows but demand has {n} series",
                                  table="series", fix="pass one row of keys per series")
    n_levels = len(levels)
    model_s = np.zeros((n_levels, n, horizon))
    ma_s = np.zeros((n_levels, n, horizon))
    point_s = np.zeros((n, horizon))
    observed_all = np.concatenate([hist, d], axis=1)
    reviews = range(0, horizon, review_period)
    for t in tqdm(reviews, desc="replay", unit="review", disable=not show_progress):
        observed = observed_all[:, : hist.shape[1] + t]
        model_lv, point_lv = _forecast_levels(forecaster(t, observed.copy()), n, periods,
                                              levels, t)
        ma_lv = moving_average_levels(observed, window=ma_window, lead_time=lead_time,
                                      review_period=review_period, service_levels=levels)
        model_s[:, :, t] = model_lv.T
        ma_s[:, :, t] = ma_lv.T
        point_s[:, t] = point_lv
    # levels do not depend on the stock, so every policy and target replays at once
    stacked = np.concatenate([model_s.reshape(-1, horizon), ma_s.reshape(-1, horizon),
                              point_s], axis=0)
    sim = simulate(np.tile(d, (2 * n_levels + 1, 1)), stacked, lead_time=lead_time,
                   review_period=review_period, unmet=unmet)
    metrics = summarize(sim, np.tile(d, (2 * n_levels + 1, 1)))
    policy = np.repeat(np.array(["model", "moving_average", "point"]),
                       [n_levels * n, n_levels * n, n])
    target = np.concatenate([np.repeat(levels, n), np.repeat(levels, n), np.full(n, np.nan)])
    keys = (series.reset_index(drop=True) if series is not None
            else pd.DataFrame({"series": np.arange(n)}))
    per_series = pd.concat([
        pd.DataFrame({"policy": policy, "target": target}),
        pd.concat([keys] * (2 * n_levels + 1), ignore_index=True), metrics], axis=1)
    totals = _totals(per_series, horizon)
    main = levels.index(float(service_level))
    orders = {"model": sim.orders[main * n: (main + 1) * n],
              "moving_average": sim.orders[(n_levels + main) * n: (n_levels + main + 1) * n],
              "point": sim.orders[2 * n_levels * n:]}
    logger.info("inventory backtest: %d series x %d periods, L=%d, R=%d, %s sales, %d levels",
                n, horizon, lead_time, review_period, unmet, n_levels)
    return {"per_series": per_series, "totals": totals,
            "comparison": equal_service_inventory(totals), "orders": orders,
            "levels": levels, "n_periods": horizon, "n_series": n}


#: Columns of :func:`equal_service_inventory`.
COMPARISON_COLUMNS = ("anchor", "target", "anchor_csl", "anchor_fill_rate", "anchor_on_hand",
                      "other_on_hand_same_csl", "other_on_hand_same_fill",
                      "model_saving_same_csl", "model_saving_same_fill")


def _interp(curve: pd.DataFrame, metric: str, at: float) -> float:
    """``avg_on_hand`` along ``curve`` at ``metric == at``; NaN outside the curve."""
    c = curve.sort_values(metric)
    x = c[metric].to_numpy(dtype=float)
    y = c["avg_on_hand"].to_numpy(dtype=float)
    if len(x) == 0 or not x[0] <= at <= x[-1]:
        return float("nan")
    return float(np.interp(at, x, y))


def equal_service_inventory(totals: pd.DataFrame) -> pd.DataFrame:
    """Inventory of the model and the moving-average policy at equal achieved service.

    For every target of one policy (the *anchor*), the other policy's total
    ``avg_on_hand`` is interpolated linearly along its own trade-off curve (avg on hand
    against achieved ``cycle_service_level``, and against ``fill_rate``) at the anchor's
    achieved value; NaN where that value lies outside the other curve (no
    extrapolation). ``model_saving_*`` = ``1 - model on hand / moving-average on hand``
    at that equal service (positive: the model holds less).

    Returns
    -------
    DataFrame
        :data:`COMPARISON_COLUMNS`, the model-anchored rows first, each by target.
    """
    curves = {p: totals[totals["policy"] == p].sort_values("target")
              for p in ("model", "moving_average")}
    rows = []
    for anchor, other in (("model", "moving_average"), ("moving_average", "model")):
        for r in curves[anchor].itertuples():
            row: dict[str, Any] = {
                "anchor": anchor, "target": float(r.target),
                "anchor_csl": float(r.cycle_service_level),
                "anchor_fill_rate": float(r.fill_rate), "anchor_on_hand": float(r.avg_on_hand)}
            for metric, name, key in (("cycle_service_level", "csl", "anchor_csl"),
                                      ("fill_rate", "fill", "anchor_fill_rate")):
                value = _interp(curves[other], metric, row[key])
                row[f"other_on_hand_same_{name}"] = value
                model, ma = ((row["anchor_on_hand"], value) if anchor == "model"
                             else (value, row["anchor_on_hand"]))
                row[f"model_saving_same_{name}"] = (1.0 - model / ma if ma > 0
                                                    else float("nan"))
            rows.append(row)
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
