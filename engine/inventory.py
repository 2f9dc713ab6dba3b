"""Inventory math from sampled demand paths: safety stock, reorder point, order suggestion.

Quantiles of weekly demand do not add up: the 95% quantile of demand over four weeks is
not four times the weekly 95% quantile. Every number here is therefore computed from
*sampled demand paths* (``paths[series, path, period]``, e.g. from
``DemandModel.sample_paths``): each path is summed over the protection interval and the
statistics are read off those sums, vectorised over all store x item series at once.

Definitions (``L`` = lead time, ``R`` = review period, both in periods; ``D`` = demand over
the protection interval ``L + R``, one sample per path; ``alpha`` = target cycle service
level of the series' ABC class):

- ``reorder_point`` ``s`` = the ``alpha`` quantile of ``D`` (the smallest sampled value
  with ``P(D <= s) >= alpha``, ``inverted_cdf``, so the sampled cycle service level is
  never below the target);
- ``safety_stock`` = ``s - E[D]``;
- ``order_up_to`` ``S``: policy ``"s,S"`` -> ``s + mu * max(R, 1)`` with ``mu`` the mean
  demand per period (one review period of cycle stock, at least one period so that an
  order is never empty under continuous review); policy ``"R,S"`` -> ``S = s`` (order up
  to the protection-interval quantile at every review);
- ``inventory_position`` = ``on_hand + on_order``; ``suggested_order`` =
  ``max(0, S - position)`` when ``position <= s``, else ``0``;
- ``expected_cycle_service_level`` = ``P(D <= s)`` from the samples;
- ``expected_fill_rate`` = ``1 - E[(D - s)^+] / (mu * max(R, 1))``, clipped to ``[0, 1]``:
  the expected units short per replenishment cycle over the expected demand per cycle
  (the textbook approximation that ignores undershoot of ``s``);
- ``stockout_probability`` = ``P(D > position)`` for the current position, before any
  order (the risk of not ordering now);
- ``status``: ``"reorder now"`` if ``position <= s``; ``"overstock"`` if
  ``position > S + mu * L`` (more than one lead time of demand above the order-up-to
  level); else ``"ok"``. Without stock data (``on_hand=None``) the position is unknown:
  position, order and stockout probability are NaN and the status is ``"unknown"``.

For normal i.i.d. demand (``mu``, ``sigma`` per period) these converge to the textbook
``SS = z * sigma * sqrt(L + R)``, ``ROP = mu * (L + R) + SS`` (:func:`normal_plan_reference`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from features.errors import DataValidationError, check_int, check_param, check_real

logger = logging.getLogger(__name__)

__all__ = [
    "PLAN_COLUMNS",
    "POLICIES",
    "STATUSES",
    "abc_classes",
    "lead_time_demand",
    "newsvendor",
    "normal_plan_reference",
    "plan",
    "sample_quantile",
]

#: Columns of :func:`plan`, in order.
PLAN_COLUMNS = (
    "store_id", "item_id", "abc",
    "mean_lead_time_demand", "sd_lead_time_demand",
    "ltd_p05", "ltd_p50", "ltd_p95",
    "service_level", "reorder_point", "safety_stock", "order_up_to",
    "on_hand", "on_order", "inventory_position", "suggested_order",
    "expected_cycle_service_level", "expected_fill_rate", "stockout_probability", "status",
)
#: Replenishment policies understood by :func:`plan`.
POLICIES = ("s,S", "R,S")
#: Status buckets of :func:`plan`.
STATUSES = ("reorder now", "ok", "overstock", "unknown")


def _check_paths(paths: ArrayLike, owner: str) -> NDArray[np.float64]:
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 3:
        raise DataValidationError(
            f"paths must be a 3-d array (series, n_paths, horizon); got shape {arr.shape}",
            table="paths", fix=f"pass one row of sampled paths per series to {owner}")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise DataValidationError(f"paths is empty (shape {arr.shape})", table="paths",
                                  fix="sample at least one path of one period per series")
    bad = ~np.isfinite(arr)
    if bad.any():
        series = np.flatnonzero(bad.any(axis=(1, 2)))
        raise DataValidationError(
            f"paths has {int(bad.sum())} NaN or infinite values in {len(series)} series "
            f"(series {', '.join(map(str, series[:5]))}{', ...' if len(series) > 5 else ''})",
            table="paths", n_rows=len(series), rows=[int(s) + 1 for s in series[:5]],
            fix="demand paths must be finite; check the demand model's samples")
    return arr


def sample_quantile(samples: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """Per-row quantiles with a per-row level (``inverted_cdf``).

    Parameters
    ----------
    samples : array of shape (n_series, n_samples)
    q : float or array of shape (n_series,)
        Levels in ``(0, 1)``.

    Returns
    -------
    ndarray of shape (n_series,)
        For each row the smallest sample ``x`` with ``mean(samples <= x) >= q``.
    """
    s = np.sort(np.asarray(samples, dtype=np.float64), axis=-1)
    n = s.shape[-1]
    qq = np.broadcast_to(np.asarray(q, dtype=np.float64), s.shape[:-1])
    # The small epsilon keeps q * n = 190000.00000000003 from stepping to the next order
    # statistic through floating-point noise.
    k = np.clip(np.ceil(qq * n - 1e-9).astype(np.int64) - 1, 0, n - 1)
    return np.take_along_axis(s, k[..., None], axis=-1)[..., 0]


def lead_time_demand(paths: ArrayLike, lead_time: int, review_period: int = 0
                     ) -> NDArray[np.float64]:
    """Demand over the protection interval, one value per sampled path.

    Parameters
    ----------
    paths : array of shape (n_series, n_paths, horizon)
        Sampled demand per period (e.g. weekly units per store x item).
    lead_time : int
        Lead time ``L`` in periods, ``>= 1``.
    review_period : int, default 0
        Review period ``R`` in periods, ``>= 0`` (0 = continuous review).

    Returns
    -------
    ndarray of shape (n_series, n_paths)
        The sum of the first ``L + R`` periods of every path.

    Raises
    ------
    ValueError
        Bad ``lead_time`` / ``review_period``, or a horizon shorter than ``L + R``.
    DataValidationError
        Paths that are not 3-d or hold NaN / inf.

    Examples
    --------
    >>> lead_time_demand(np.ones((2, 3, 5)), lead_time=2, review_period=1)[0]
    array([3., 3., 3.])
    """
    owner = "lead_time_demand"
    check_int(owner, "lead_time", lead_time, 1)
    check_int(owner, "review_period", review_period, 0)
    arr = _check_paths(paths, owner)
    horizon = arr.shape[2]
    if horizon < lead_time + review_period:
        raise ValueError(
            f"The paths cover {horizon} periods but lead_time + review_period = "
            f"{lead_time + review_period}: sample paths with a horizon of at least "
            f"{lead_time + review_period} periods.")
    return arr[:, :, : lead_time + review_period].sum(axis=2)


def abc_classes(volume: ArrayLike, shares: Sequence[float] = (0.8, 0.95)) -> NDArray[np.str_]:
    """ABC classes by cumulative share of volume.

    Series are ranked by volume (largest first, ties in input order). A series is ``"A"``
    when the volume of the series ranked above it is less than ``shares[0]`` of the total,
    ``"B"`` when it is less than ``shares[1]``, else ``"C"``; so the largest series is
    always ``"A"``. All-zero volume gives all ``"C"``.

    Parameters
    ----------
    volume : array of shape (n_series,)
        Non-negative volume (units, or revenue) per series.
    shares : (float, float), default (0.8, 0.95)
        Cumulative-share cut-offs, ``0 < shares[0] < shares[1] <= 1``.

    Returns
    -------
    ndarray of str, shape (n_series,)

    Examples
    --------
    >>> abc_classes([50, 30, 10, 5, 3, 2]).tolist()
    ['A', 'A', 'B', 'B', 'C', 'C']
    """
    owner = "abc_classes"
    sh = tuple(float(s) for s in shares)
    check_param(owner, "shares", shares, len(sh) == 2 and 0 < sh[0] < sh[1] <= 1,
                "a pair (a, b) with 0 < a < b <= 1")
    v = np.asarray(volume, dtype=np.float64).ravel()
    bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataValidationError(
            f"volume has {len(rows)} negative or NaN values (rows "
            f"{', '.join(str(r + 1) for r in rows[:5])})", column="volume",
            n_rows=len(rows), rows=[int(r) + 1 for r in rows[:5]],
            fix="volumes must be finite and >= 0")
    out = np.full(v.shape, "C", dtype="<U1")
    total = v.sum()
    if total <= 0:
        return out
    order = np.argsort(-v, kind="stable")
    before = (np.cumsum(v[order]) - v[order]) / total
    ranked = np.where(before < sh[0], "A", np.where(before < sh[1], "B", "C"))
    out[order] = ranked
    return out


def _per_series(value: ArrayLike | None, n: int, name: str, *, default: float | None
                ) -> NDArray[np.float64]:
    if value is None:
        return np.full(n, np.nan if default is None else default)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise DataValidationError(
            f"{name} has shape {arr.shape} but the paths hold {n} series",
            column=name, fix=f"pass one {name} value per series, in the order of the paths")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataValidationError(
            f"{name} has {len(rows)} negative or NaN values (rows "
            f"{', '.join(str(r + 1) for r in rows[:5])})", column=name, n_rows=len(rows),
            rows=[int(r) + 1 for r in rows[:5]], fix=f"{name} must be finite and >= 0")
    return arr


def _service_levels(service_level: float | Mapping[str, float], abc: NDArray[np.str_]
                    ) -> NDArray[np.float64]:
    owner = "plan"
    if isinstance(service_level, Mapping):
        levels = {str(k): check_real(owner, f"service_level[{k!r}]", v, 0.0, 1.0,
                                     low_open=True, high_open=True)
                  for k, v in service_level.items()}
        missing = sorted(set(abc.tolist()) - set(levels))
        if missing:
            raise ValueError(
                f"The 'service_level' parameter of plan has no target for ABC class(es) "
                f"{missing}; got targets for {sorted(levels)}. Give one per class present.")
        return np.array([levels[c] for c in abc], dtype=np.float64)
    level = check_real(owner, "service_level", service_level, 0.0, 1.0, low_open=True,
                       high_open=True)
    return np.full(len(abc), level)


def plan(
    series: pd.DataFrame,
    paths: ArrayLike,
    *,
    lead_time: int,
    service_level: float | Mapping[str, float],
    on_hand: ArrayLike | None = None,
    on_order: ArrayLike | None = None,
    review_period: int = 0,
    policy: str = "s,S",
    abc: ArrayLike | None = None,
    abc_shares: Sequence[float] = (0.8, 0.95),
) -> pd.DataFrame:
    """Per store x item inventory plan from sampled demand paths.

    See the module docstring for every definition.

    Parameters
    ----------
    series : DataFrame with columns ``store_id``, ``item_id``
        One row per series, in the order of ``paths``.
    paths : array of shape (n_series, n_paths, horizon)
        Sampled demand per period; ``horizon >= lead_time + review_period``.
    lead_time : int
        Lead time in periods, ``>= 1``.
    service_level : float or mapping of ABC class to float
        Target cycle service level in ``(0, 1)``, one for all series or one per ABC class
        (e.g. ``{"A": 0.98, "B": 0.95, "C": 0.9}``).
    on_hand, on_order : array of shape (n_series,) or scalar, optional
        Current stock and open orders (>= 0). Without ``on_hand`` the position is unknown
        (status ``"unknown"``); without ``on_order`` it is 0.
    review_period : int, default 0
        Review period in periods (0 = continuous review).
    policy : {"s,S", "R,S"}, default "s,S"
        How ``order_up_to`` is set (module docstring).
    abc : array of str, optional
        ABC class per series; by default from the mean sampled demand over the horizon
        with :func:`abc_classes`.
    abc_shares : (float, float), default (0.8, 0.95)
        Cut-offs for :func:`abc_classes`.

    Returns
    -------
    DataFrame
        Columns :data:`PLAN_COLUMNS`, one row per series; ``attrs`` holds
        ``lead_time``, ``review_period``, ``policy`` and ``n_paths``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> paths = rng.normal(100, 20, size=(1, 20_000, 4))
    >>> p = plan(pd.DataFrame({"store_id": ["s"], "item_id": ["i"]}), paths,
    ...          lead_time=4, service_level=0.95, on_hand=[300])
    >>> p.loc[0, "status"]
    'reorder now'
    """
    owner = "plan"
    check_param(owner, "policy", policy, policy in POLICIES, f"one of {list(POLICIES)}")
    ltd = lead_time_demand(paths, lead_time, review_period)
    n_series, n_paths = ltd.shape
    if not isinstance(series, pd.DataFrame) or not {"store_id", "item_id"} <= set(series):
        raise DataValidationError(
            "series must be a DataFrame with columns store_id, item_id", table="series",
            fix="pass the series keys in the order of the paths")
    if len(series) != n_series:
        raise DataValidationError(
            f"series has {len(series)} rows but paths hold {n_series} series",
            table="series", fix="pass one row of series keys per row of paths")
    arr = np.asarray(paths, dtype=np.float64)
    mu = arr.mean(axis=(1, 2))  # mean demand per period, over the whole horizon
    if abc is None:
        classes = abc_classes(np.clip(mu, 0, None), abc_shares)
    else:
        classes = np.asarray(abc).astype(str)
        if classes.shape != (n_series,):
            raise DataValidationError(f"abc has shape {classes.shape} but paths hold "
                                      f"{n_series} series", column="abc",
                                      fix="pass one ABC class per series")
    alpha = _service_levels(service_level, classes)
    hand = _per_series(on_hand, n_series, "on_hand", default=None)
    order = _per_series(on_order, n_series, "on_order", default=0.0)

    mean_ltd = ltd.mean(axis=1)
    sd_ltd = ltd.std(axis=1, ddof=1) if n_paths > 1 else np.zeros(n_series)
    rop = sample_quantile(ltd, alpha)
    cycle_periods = max(review_period, 1)
    mu_ltd_period = mean_ltd / (lead_time + review_period)
    cycle_demand = mu_ltd_period * cycle_periods
    up_to = rop + cycle_demand if policy == "s,S" else rop.copy()
    shortage = np.maximum(ltd - rop[:, None], 0.0).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(cycle_demand > 0, 1.0 - shortage / cycle_demand, 1.0)
    fill = np.clip(fill, 0.0, 1.0)
    csl = (ltd <= rop[:, None]).mean(axis=1)

    position = hand + order
    known = np.isfinite(position)
    reorder = known & (position <= rop)
    suggested = np.where(reorder, np.maximum(up_to - position, 0.0), 0.0)
    suggested[~known] = np.nan
    stockout = np.full(n_series, np.nan)
    if known.any():
        stockout[known] = (ltd[known] > position[known, None]).mean(axis=1)
    over = known & ~reorder & (position > up_to + mu_ltd_period * lead_time)
    status = np.where(~known, "unknown",
                      np.where(reorder, "reorder now", np.where(over, "overstock", "ok")))
    q = np.quantile(ltd, [0.05, 0.5, 0.95], axis=1, method="inverted_cdf")

    out = pd.DataFrame({
        "store_id": series["store_id"].to_numpy(),
        "item_id": series["item_id"].to_numpy(),
        "abc": classes,
        "mean_lead_time_demand": mean_ltd,
        "sd_lead_time_demand": sd_ltd,
        "ltd_p05": q[0], "ltd_p50": q[1], "ltd_p95": q[2],
        "service_level": alpha,
        "reorder_point": rop,
        "safety_stock": rop - mean_ltd,
        "order_up_to": up_to,
        "on_hand": hand,
        "on_order": order,
        "inventory_position": position,
        "suggested_order": suggested,
        "expected_cycle_service_level": csl,
        "expected_fill_rate": fill,
        "stockout_probability": stockout,
        "status": status,
    }, columns=list(PLAN_COLUMNS))
    out.attrs.update({"lead_time": int(lead_time), "review_period": int(review_period),
                      "policy": policy, "n_paths": int(n_paths)})
    logger.info("inventory plan: %d series, %d paths, L=%d, R=%d, policy %s; %d to reorder",
                n_series, n_paths, lead_time, review_period, policy, int(reorder.sum()))
    return out


def normal_plan_reference(
    mu_per_period: ArrayLike,
    sigma_per_period: ArrayLike,
    lead_time: int,
    service_level: ArrayLike,
    review_period: int = 0,
) -> dict[str, Any]:
    """Textbook plan for normal i.i.d. demand per period.

    ``z = Phi^-1(alpha)``, ``sigma_L = sigma * sqrt(L + R)``, ``SS = z * sigma_L``,
    ``ROP = mu * (L + R) + SS``, expected units short per cycle ``sigma_L * G(z)`` with the
    standard normal loss function ``G(z) = phi(z) - z * (1 - Phi(z))``.

    Parameters
    ----------
    mu_per_period, sigma_per_period : float or array
        Mean and standard deviation of demand per period.
    lead_time : int
        Lead time in periods, ``>= 1``.
    service_level : float or array
        Target cycle service level in ``(0, 1)``.
    review_period : int, default 0

    Returns
    -------
    dict
        ``z``, ``mean_lead_time_demand``, ``sd_lead_time_demand``, ``safety_stock``,
        ``reorder_point``, ``expected_shortage`` (floats or arrays, broadcast).

    Examples
    --------
    >>> round(float(normal_plan_reference(100, 20, 4, 0.95)["safety_stock"]), 1)
    65.8
    """
    owner = "normal_plan_reference"
    check_int(owner, "lead_time", lead_time, 1)
    check_int(owner, "review_period", review_period, 0)
    alpha = np.asarray(service_level, dtype=np.float64)
    check_param(owner, "service_level", service_level,
                bool(np.all((alpha > 0) & (alpha < 1))), "a float in the range (0, 1)")
    sigma = np.asarray(sigma_per_period, dtype=np.float64)
    check_param(owner, "sigma_per_period", sigma_per_period, bool(np.all(sigma >= 0)),
                "a float in the range [0, inf)")
    mu = np.asarray(mu_per_period, dtype=np.float64)
    periods = lead_time + review_period
    z = special.ndtri(alpha)
    sd = sigma * math.sqrt(periods)
    ss = z * sd
    loss = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi) - z * special.ndtr(-z)
    return {"z": z, "mean_lead_time_demand": mu * periods, "sd_lead_time_demand": sd,
            "safety_stock": ss, "reorder_point": mu * periods + ss,
            "expected_shortage": sd * loss}


def newsvendor(samples: ArrayLike, price: ArrayLike, cost: ArrayLike,
               salvage: ArrayLike = 0.0) -> float | NDArray[np.float64]:
    """Newsvendor order quantity for one-period items.

    The quantity is the critical-ratio quantile ``(p - c) / (p - s)`` of the demand samples
    (``inverted_cdf``: the smallest sampled demand ``q`` with ``P(D <= q) >= ratio``).

    Parameters
    ----------
    samples : array of shape (n_samples,) or (n_series, n_samples)
        Sampled demand for the period (e.g. ``lead_time_demand(paths, 1)``).
    price, cost, salvage : float or array of shape (n_series,)
        Selling price, unit cost and salvage value; ``salvage <= cost < price``.

    Returns
    -------
    float or ndarray of shape (n_series,)

    Examples
    --------
    >>> newsvendor(np.arange(1, 101), price=10, cost=6, salvage=2)
    50.0
    """
    owner = "newsvendor"
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise DataValidationError(
            f"samples must be 1-d (n_samples,) or 2-d (n_series, n_samples) and non-empty; "
            f"got shape {arr.shape}", table="samples", fix="pass sampled demand per series")
    if not np.isfinite(arr).all():
        raise DataValidationError(
            f"samples has {int((~np.isfinite(arr)).sum())} NaN or infinite values",
            table="samples", fix="demand samples must be finite")
    p, c, s = (np.asarray(v, dtype=np.float64) for v in (price, cost, salvage))
    check_param(owner, "price", price, bool(np.all(np.isfinite(p) & (p > c))),
                "greater than cost")
    check_param(owner, "salvage", salvage, bool(np.all(np.isfinite(s) & (s <= c))),
                "at most cost")
    ratio = (p - c) / (p - s)
    if arr.ndim == 1:
        check_param(owner, "price", price, ratio.ndim == 0,
                    "a scalar for 1-d samples")
        return float(sample_quantile(arr[None, :], float(ratio))[0])
    if ratio.ndim and ratio.shape != (arr.shape[0],):
        raise DataValidationError(
            f"price / cost / salvage have shape {ratio.shape} but samples hold "
            f"{arr.shape[0]} series", fix="pass scalars or one value per series")
    return sample_quantile(arr, ratio)
