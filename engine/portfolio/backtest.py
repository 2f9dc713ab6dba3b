"""The vectorised backtester: paths x strategies x days at once, in numpy.

Conventions (the reference loop in the tests follows them line by line):

- ``returns[p, t, a]`` are daily *simple* returns; day ``t`` is traded at its close.
- Strategies with the same rebalance frequency (``step`` trading days) share check dates
  ``start, start + step, ...``; at a check date the target weights come from the returns
  of the previous ``periods`` check periods only (days strictly before the date: no
  look-ahead), then the book is traded to them (or, with a tolerance band, only when a
  drifted weight is more than ``threshold`` from its target; buy and hold trades once).
- Trading ``|w_new - w_old|`` summed over assets costs ``(cost_bps + slippage_bps) / 1e4``
  of it, taken from the portfolio value on the trade date (the first purchase included).
- Between check dates weights drift with prices; ``1 - sum(w)`` earns ``cash_rate``.
- Within a check period the value path is ``V_l = (1 - cost) * (w . G_l + cash_l)``
  with ``G_l`` the assets' cumulative growth, so a whole period is one batched product
  instead of a loop over days.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from engine.portfolio.strategies import TRADING_DAYS, Strategy, target_weights, unique_names
from features.errors import DataValidationError

logger = logging.getLogger(__name__)

METRICS = ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "turnover",
           "time_under_water", "total_return")


@dataclass
class BacktestResult:
    """Metrics per path and strategy, plus what was asked to be kept.

    Attributes
    ----------
    strategies : list of Strategy
    metrics : dict of str -> ndarray (n_paths, n_strategies)
        ``cagr``, ``volatility`` (annualised), ``sharpe`` and ``sortino`` (annualised,
        excess over the cash rate), ``max_drawdown`` (<= 0), ``calmar``, ``turnover``
        (annual one-way, the first purchase excluded), ``time_under_water`` (share of
        days below the running peak), ``total_return``.
    start : int
        First traded day; days before it are estimation history only.
    n_days : int
        Traded days per path.
    returns : ndarray (n_kept, n_strategies, n_days) or None
        Daily portfolio returns of the first ``keep_returns`` paths.
    weights : ndarray (n_kept, n_strategies, n_checks, n_assets) or None
        Weights right after each check date (``record_weights``), per strategy's own
        check dates padded with NaN.
    """

    strategies: list[Strategy]
    metrics: dict[str, np.ndarray]
    start: int
    n_days: int
    returns: np.ndarray | None = None
    weights: np.ndarray | None = None
    check_days: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.strategies]

    def frame(self, path_ids: Sequence[Any] | np.ndarray | None = None) -> Any:
        """Long table: one row per path and strategy, one column per metric."""
        import pandas as pd

        n_paths, n_strats = next(iter(self.metrics.values())).shape
        ids = np.arange(n_paths) if path_ids is None else np.asarray(path_ids)
        out = pd.DataFrame({"path": np.repeat(ids, n_strats),
                            "strategy": np.tile(self.names, n_paths)})
        for name, values in self.metrics.items():
            out[name] = values.reshape(-1)
        return out


def required_history(strategies: Sequence[Strategy]) -> int:
    """Trading days of history the grid needs before its first trade."""
    need = [s.periods * s.step for s in strategies if s.needs_history]
    return max(need, default=0)


def _check_returns(returns: np.ndarray) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim == 2:
        r = r[None]
    if r.ndim != 3:
        raise DataValidationError(f"returns must be (days, assets) or (paths, days, assets); "
                                  f"got shape {np.shape(returns)}", table="returns",
                                  fix="pass daily simple returns, one column per asset")
    bad = ~np.isfinite(r)
    if bad.any():
        p, t, a = np.argwhere(bad)[0]
        raise DataValidationError(
            f"returns has {int(bad.sum())} missing or infinite values (first: path {p}, "
            f"day {t}, asset {a})", table="returns",
            fix="fill or drop the days with missing prices before backtesting")
    if (r <= -1).any():
        raise DataValidationError("returns has values <= -100%", table="returns",
                                  fix="pass simple returns (price_t / price_t-1 - 1), "
                                      "not prices; a price cannot go to zero or below")
    return r


def run_backtest(
    returns: np.ndarray,
    strategies: Sequence[Strategy],
    *,
    start: int | None = None,
    cost_bps: float = 5.0,
    slippage_bps: float = 5.0,
    cash_rate: float = 0.0,
    chunk_paths: int | None = None,
    keep_returns: int = 0,
    record_weights: bool = False,
    show_progress: bool = False,
    n_jobs: int | None = None,
) -> BacktestResult:
    """Run every strategy on every path.

    Parameters
    ----------
    returns : ndarray (n_paths, n_days, n_assets) or (n_days, n_assets)
        Daily simple returns.
    strategies : sequence of Strategy
    start : int, optional
        First traded day; default the history the grid needs (:func:`required_history`).
    cost_bps, slippage_bps : float
        Proportional cost and slippage per unit traded, in basis points.
    cash_rate : float
        Annual rate earned by cash (and paid on borrowing), compounded daily.
    chunk_paths : int, optional
        Paths simulated at once (bounds memory); default about 64 MB of growth arrays.
    keep_returns : int
        Keep the daily portfolio returns of the first this many paths.
    record_weights : bool
        Keep the weights after each check date (for tests and inspection; small runs).
    show_progress : bool
        A tqdm bar over path chunks.
    n_jobs : int, optional
        Threads running path chunks side by side (default: every core); each chunk's
        result does not depend on it.
    """
    r = _check_returns(returns)
    strategies = unique_names(list(strategies))
    if not strategies:
        raise DataValidationError("no strategy to backtest", fix="pass at least one strategy")
    n_paths, n_days, n_assets = r.shape
    need = required_history(strategies)
    start = need if start is None else int(start)
    if start < need:
        raise DataValidationError(
            f"start {start} leaves less history than the grid's longest window ({need} days)",
            fix=f"start at day {need} or later, or shorten the windows")
    if start >= n_days - 1:
        raise DataValidationError(
            f"{n_days} days leave no trading days after {start} days of history",
            table="returns", fix=f"pass more than {start + 1} days of returns")
    if not (np.isfinite(cash_rate) and cash_rate > -1):
        raise DataValidationError(f"cash_rate {cash_rate} must be a finite annual rate > -1",
                                  fix="pass e.g. 0.02 for 2% a year")
    if not (cost_bps >= 0 and slippage_bps >= 0):
        raise DataValidationError("cost_bps and slippage_bps must be >= 0",
                                  fix="pass basis points, e.g. 5")
    cost = (cost_bps + slippage_bps) / 1e4
    cash_daily = (1 + cash_rate) ** (1 / TRADING_DAYS) - 1
    n_eval = n_days - start
    chunk = chunk_paths or max(1, min(int(8e6 // max(1, 63 * n_assets)),
                                      -(-n_paths // (2 * (os.cpu_count() or 1)))))
    metrics = {m: np.empty((n_paths, len(strategies))) for m in METRICS}
    n_keep = min(keep_returns, n_paths)
    kept = np.empty((n_keep, len(strategies), n_eval)) if n_keep else None
    groups: dict[int, list[int]] = {}
    for j, s in enumerate(strategies):
        groups.setdefault(s.step, []).append(j)
    checks = {step: np.arange(start, n_days, step) for step in groups}
    max_checks = max(len(c) for c in checks.values())
    weights = np.full((n_paths, len(strategies), max_checks, n_assets), np.nan) \
        if record_weights else None
    def run_chunk(lo: int) -> None:
        hi = min(n_paths, lo + chunk)
        rets = np.empty((hi - lo, len(strategies), n_eval))
        traded = np.zeros((hi - lo, len(strategies)))
        for step, idx in groups.items():
            sub = [strategies[j] for j in idx]
            w_rec = weights[lo:hi][:, idx] if weights is not None else None
            out, trade = _simulate_group(r[lo:hi], sub, start, step, cost, cash_daily, w_rec)
            rets[:, idx] = out
            traded[:, idx] = trade
            if weights is not None and w_rec is not None:
                weights[lo:hi, idx] = w_rec
        for name, value in _metrics(rets, traded, cash_daily).items():
            metrics[name][lo:hi] = value
        if kept is not None and lo < n_keep:
            kept[lo:min(hi, n_keep)] = rets[:min(hi, n_keep) - lo]

    starts = list(range(0, n_paths, chunk))
    workers = max(1, min(n_jobs or os.cpu_count() or 1, len(starts)))
    with tqdm(total=len(starts), desc="backtest", unit="chunk", disable=not show_progress) \
            as bar, threadpool_limits(1 if workers > 1 else None):
        if workers == 1:
            for lo in starts:
                run_chunk(lo)
                bar.update(1)
        else:  # numpy releases the GIL in the heavy work: chunks run side by side
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for done in as_completed([pool.submit(run_chunk, lo) for lo in starts]):
                    done.result()
                    bar.update(1)
    return BacktestResult(strategies=strategies, metrics=metrics, start=start, n_days=n_eval,
                          returns=kept, weights=weights,
                          check_days={str(k): v for k, v in checks.items()})


def _segment_bounds(start: int, n_days: int, step: int) -> list[tuple[int, int, bool]]:
    """(first day, end day, traded?) of the history periods before ``start`` (newest
    last; the oldest may be shorter) and the traded periods after it."""
    hist = []
    b = start
    while b > 0:
        hist.append((max(0, b - step), b, False))
        b -= step
    trade = [(a, min(a + step, n_days), True) for a in range(start, n_days, step)]
    return hist[::-1] + trade


def _simulate_group(r: np.ndarray, strategies: list[Strategy], start: int, step: int,
                    cost: float, cash_daily: float, w_rec: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Daily returns (paths, strategies, traded days) and units traded after the first
    purchase, for strategies sharing one check frequency."""
    n_paths, n_days, n_assets = r.shape
    n_s = len(strategies)
    need_cov = any(s.needs_cov for s in strategies)
    need_stats = any(s.needs_history for s in strategies)
    max_periods = max((s.periods for s in strategies), default=1)
    out = np.empty((n_paths, n_s, n_days - start))
    traded = np.zeros((n_paths, n_s))
    w_prev = np.zeros((n_paths, n_s, n_assets))
    last_target: dict[int, np.ndarray] = {}  # warm starts of the iterative optimisers
    need_log = any(s.kind == "momentum" for s in strategies)
    # Prefix sums over periods (the oldest entry: zeros); a window is a difference.
    zero = _Sums(np.zeros((n_paths, n_assets)),
                 np.zeros((n_paths, n_assets, n_assets)) if need_cov else None,
                 np.zeros((n_paths, n_assets)), 0,
                 np.zeros((n_paths, n_assets)) if need_log else None)
    cums = [zero]
    k = 0
    for a, b, is_trade in _segment_bounds(start, n_days, step):
        seg = r[:, a:b]
        if is_trade:
            w_new = np.empty_like(w_prev)
            cache: dict[tuple[int, int], dict[str, np.ndarray]] = {}
            for j, s in enumerate(strategies):
                if s.needs_history:
                    key = (s.periods, s.skip_periods if s.kind == "momentum" else -1)
                    if key not in cache:
                        cache[key] = _window_stats(cums, s, need_cov)
                    stats = dict(cache[key])
                else:
                    stats = {"mean": np.zeros((n_paths, n_assets))}
                if j in last_target:
                    stats["previous"] = last_target[j]
                target = target_weights(s, n_assets, stats)
                last_target[j] = target
                first = k == 0
                if s.kind == "buy_and_hold":
                    do = np.full(n_paths, first)
                elif s.threshold is not None and not first:
                    do = np.abs(w_prev[:, j] - target).max(axis=1) > s.threshold
                else:
                    do = np.ones(n_paths, bool)
                w_new[:, j] = np.where(do[:, None], target, w_prev[:, j])
            trade_amount = np.abs(w_new - w_prev).sum(axis=2)  # (paths, strategies)
            if k > 0:
                traded += trade_amount
            keep = 1.0 - cost * trade_amount
            growth = np.cumprod(1.0 + seg, axis=1)  # (paths, days, assets)
            days = b - a
            cash_growth = (1.0 + cash_daily) ** np.arange(1, days + 1)
            value = np.matmul(w_new, growth.transpose(0, 2, 1))  # (paths, strategies, days)
            value += (1.0 - w_new.sum(axis=2))[:, :, None] * cash_growth
            value *= keep[:, :, None]
            prev = np.concatenate([np.ones((n_paths, n_s, 1)), value[:, :, :-1]], axis=2)
            out[:, :, a - start:b - start] = value / prev - 1.0
            w_prev = keep[:, :, None] * w_new * growth[:, None, -1, :] / value[:, :, -1:]
            if w_rec is not None:
                w_rec[:, :, k] = w_new
            k += 1
        if need_stats:
            last = cums[-1]
            s2 = last.s2 + np.matmul(seg.transpose(0, 2, 1), seg) if last.s2 is not None \
                else None
            cums.append(_Sums(last.s1 + seg.sum(axis=1), s2,
                              last.sq + np.einsum("pta,pta->pa", seg, seg), last.n + b - a,
                              last.log + np.log1p(seg).sum(axis=1) if last.log is not None
                              else None))
            if len(cums) > max_periods + 1:
                cums.pop(0)
    return out, traded


@dataclass
class _Sums:
    """Running totals of one check group's returns up to a period boundary."""

    s1: np.ndarray
    s2: np.ndarray | None
    sq: np.ndarray
    n: int
    log: np.ndarray | None


def _window_stats(cums: list[_Sums], s: Strategy, need_cov: bool) -> dict[str, np.ndarray]:
    """Mean, variance (ddof 1), covariance and momentum signal of the last ``s.periods``
    periods (fewer when the history is shorter), as differences of prefix sums."""
    hi = cums[-1]
    lo = cums[max(0, len(cums) - 1 - s.periods)]
    n = hi.n - lo.n
    mean = (hi.s1 - lo.s1) / n
    stats: dict[str, np.ndarray] = {"mean": mean}
    if need_cov and hi.s2 is not None and lo.s2 is not None:
        cov = (hi.s2 - lo.s2 - n * mean[:, :, None] * mean[:, None, :]) / max(n - 1, 1)
        stats["cov"] = cov
        stats["var"] = np.diagonal(cov, axis1=1, axis2=2).copy()
    else:
        stats["var"] = (hi.sq - lo.sq - n * mean ** 2) / max(n - 1, 1)
    if s.kind == "momentum" and hi.log is not None:
        top = cums[max(0, len(cums) - 1 - s.skip_periods)]
        assert top.log is not None and lo.log is not None
        stats["signal"] = top.log - lo.log
    return stats


def _metrics(rets: np.ndarray, traded: np.ndarray, cash_daily: float) -> dict[str, np.ndarray]:
    """Per path and strategy, from daily returns (paths, strategies, days)."""
    n = rets.shape[-1]
    years = n / TRADING_DAYS
    equity = np.cumprod(1.0 + rets, axis=-1)
    total = equity[..., -1] - 1.0
    cagr = np.exp(np.log(equity[..., -1]) / years) - 1.0
    mean = rets.mean(axis=-1)
    sd = rets.std(axis=-1, ddof=1) if n > 1 else np.full(rets.shape[:-1], np.nan)
    mean_ex = mean - cash_daily
    below = np.minimum(rets, cash_daily) - cash_daily
    downside = np.sqrt(np.einsum("...t,...t->...", below, below) / n)
    # Constant returns leave rounding noise (~1e-15) in the standard deviation: no ratio.
    flat = sd <= 1e-12 * np.maximum(np.abs(mean), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(flat, np.nan, mean_ex / sd * np.sqrt(TRADING_DAYS))
        sortino = np.where(downside > 1e-12 * np.maximum(np.abs(mean), 1e-12),
                           mean_ex / downside * np.sqrt(TRADING_DAYS), np.nan)
    peak = np.maximum.accumulate(equity, axis=-1)
    np.maximum(peak, 1.0, out=peak)
    dd = np.divide(equity, peak, out=peak)
    dd -= 1.0
    mdd = np.minimum(dd.min(axis=-1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        calmar = np.where(mdd < 0, cagr / -mdd, np.nan)
    return {"cagr": cagr, "volatility": sd * np.sqrt(TRADING_DAYS), "sharpe": sharpe,
            "sortino": sortino, "max_drawdown": mdd, "calmar": calmar,
            "turnover": 0.5 * traded / years, "time_under_water": (dd < 0).mean(axis=-1),
            "total_return": total}


def summarize(result: BacktestResult, *, drawdown_thresholds: Sequence[float] = (0.1, 0.2, 0.3),
              percentiles: Sequence[float] = (5, 25, 50, 75, 95)) -> Any:
    """Across paths, per strategy: percentiles of every metric, the probability of a
    loss over the horizon and of a drawdown beyond each threshold."""
    import pandas as pd

    rows = []
    for j, name in enumerate(result.names):
        row: dict[str, Any] = {"strategy": name}
        for metric, values in result.metrics.items():
            v = values[:, j]
            v = v[np.isfinite(v)]
            for q in percentiles:
                row[f"{metric}_p{q:g}"] = float(np.percentile(v, q)) if v.size else np.nan
        row["p_loss"] = float((result.metrics["total_return"][:, j] < 0).mean())
        for thr in drawdown_thresholds:
            row[f"p_drawdown_{thr:g}"] = float((result.metrics["max_drawdown"][:, j] < -thr
                                                ).mean())
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["METRICS", "BacktestResult", "required_history", "run_backtest", "summarize"]
