"""Backtester throughput, and a side-by-side with vectorbt on the same rebalance.

1. Throughput: ``--paths`` paths x ``--days`` traded days (after ``--burn-in`` days of
   history that only feed the estimation windows) x the 10 strategies of
   :func:`engine.portfolio.default_grid`, for each universe size in ``--assets``; reported
   as path-days x strategies per second against the issue's target (10,000 x 10 x 2,520
   in <= 60 s on a 2-core CPU).
2. vectorbt: the same equal-weight monthly rebalance (check dates every 21 trading days
   from the first traded day, target ``1/A`` per asset, proportional fees of
   ``cost_bps + slippage_bps`` per unit traded, the first purchase included) on the same
   ``--vbt-paths`` paths through ``vectorbt.Portfolio.from_orders`` (``targetpercent``
   orders on the check dates only, one group per path with shared cash, sells before
   buys), and genlift on exactly that subset. The value paths are compared: without
   costs they must agree to ``EXACT_TOL``; with costs vectorbt charges each order's fee
   to cash after that order, so the whole fee of a rebalance lands on the last asset
   bought (a partial fill) where genlift takes it pro rata from every asset, and the
   paths agree only to ``COST_TOL`` (off the check dates, where vectorbt's value is net
   of the day's fees and genlift's not yet). vectorbt is a benchmark-only peer
   (``pip install vectorbt``); when it is missing the run says so and goes on.

Paths are whole trading days drawn with replacement from the real daily returns of
``sp500-20`` (every asset of a path takes the same day, so cross-asset correlation is
kept): from the store ``--db`` (default ``genlift.duckdb`` when present) when it holds
``prices``, else from the dataset cache
(``fetch``), else a seeded fat-tailed synthetic one-factor model; the JSON says which.
Only the backtest calls are timed, not drawing the paths. Peak RSS is the process's peak
so far, read after each stage (stages run from the smallest footprint up).

    python -m benchmarks.bench_backtest [--paths 10000] [--assets 5 20] [--vbt-paths 1000]

About 3 minutes on 2 idle cores; peak memory about 11 GB (the 20-asset run).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import peak_rss_mb, timed, write_results
from engine.portfolio import default_grid, parse_strategy, run_backtest

logger = logging.getLogger("bench_backtest")

TARGET_S = 60.0  # the issue's target for 10,000 paths x 10 strategies x 2,520 days
STEP = 21  # monthly check dates, as in engine.portfolio.strategies.STEPS
EXACT_TOL = 1e-9  # relative, value paths without costs
# relative, value paths with 10 bps costs: the fees of a rebalance (at most 10 bps of the
# value, on the first purchase) sit in one asset in vectorbt and pro rata in genlift, so
# the paths part by that fee times one asset's move against the portfolio until the next
# rebalance, locked in afterwards: far below the fee rate itself
COST_TOL = 1e-3
# sp500-20 has no ETFs: five stocks from five sectors stand in for a robo-advisor's
# asset classes (tech, health care, financials, staples, energy)
FIVE = ("MSFT", "JNJ", "JPM", "PG", "XOM")


# ---------------------------------------------------------------------------- data
def real_returns(db: str | None) -> tuple[Any, str] | None:
    """Daily simple returns (date x asset) of sp500-20 and where they came from, or
    None when neither the store nor the dataset cache has them."""
    from features.returns import log_returns

    prices, source = None, ""
    path = Path(db or "genlift.duckdb")
    if path.exists():
        from features.store import Store

        try:
            with Store(path, read_only=True) as store:
                if store.has("prices"):
                    prices, source = store.read("prices"), f"store {path}: prices"
        except Exception as exc:  # a locked or foreign file: fall back to the cache
            logger.warning("could not read prices from %s: %s", path, exc)
    if prices is None:
        from features.datasets import fetch

        try:
            prices, source = fetch("sp500-20")["prices"], "dataset sp500-20 (fetch)"
        except Exception as exc:  # offline without a cache
            logger.warning("sp500-20 unavailable (%s): synthetic returns", exc)
            return None
    logs = log_returns(prices).dropna()
    return np.expm1(logs), source


def bootstrap_days(daily: np.ndarray, n_paths: int, n_days: int,
                   rng: np.random.Generator) -> np.ndarray:
    """(n_paths, n_days, assets): whole days drawn with replacement (iid bootstrap)."""
    return daily[rng.integers(0, daily.shape[0], size=(n_paths, n_days))]


def synthetic_paths(n_paths: int, n_days: int, n_assets: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Fat-tailed one-factor daily returns: Student-t(4) log returns scaled to 1% daily
    volatility, 0.4 pairwise correlation, 7.5% annual drift."""
    scale = 0.01 / np.sqrt(2.0)  # a t(4) draw has variance 2
    market = rng.standard_t(4, size=(n_paths, n_days, 1))
    own = rng.standard_t(4, size=(n_paths, n_days, n_assets))
    logs = scale * (np.sqrt(0.4) * market + np.sqrt(0.6) * own) + 0.0003
    # a t(4) tail is unbounded: cap at -50% / +65% a day so every price stays positive
    return np.expm1(np.clip(logs, -0.7, 0.5))


# ---------------------------------------------------------------------------- genlift
def _cpu_s() -> float:
    """CPU seconds of this process so far: against wall time, how much of the machine
    the run got (other processes may share the 2 cores)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def throughput(returns: np.ndarray, burn_in: int, chunk_paths: int | None) -> dict[str, Any]:
    """One timed run of the default grid over every path."""
    grid = default_grid()
    n_paths, n_total, n_assets = returns.shape
    n_days = n_total - burn_in
    cpu = _cpu_s()
    wall, res = timed(lambda: run_backtest(returns, grid, start=burn_in,
                                           chunk_paths=chunk_paths), repeat=1)
    cpu = _cpu_s() - cpu
    work = n_paths * n_days * len(grid)
    return {"n_assets": n_assets, "n_paths": n_paths, "traded_days": n_days,
            "n_strategies": len(grid), "wall_s": wall, "cpu_s": cpu,
            "path_days_strategies_per_s": work / wall,
            "seconds_for_target_work": wall * 10_000 * 2_520 * 10 / work,
            "target_s": TARGET_S, "target_met": wall * 10_000 * 2_520 * 10 / work <= TARGET_S,
            "input_mb": returns.nbytes / 2**20, "peak_rss_mb": peak_rss_mb(),
            "median_sharpe": {name: float(np.nanmedian(res.metrics["sharpe"][:, j]))
                              for j, name in enumerate(res.names)}}


def genlift_equal_weight(returns: np.ndarray, cost_bps: float, slippage_bps: float
                         ) -> np.ndarray:
    """Value paths (paths, days + 1) of equal weight rebalanced monthly, starting at 1
    before the first purchase, on traded days only (no history needed)."""
    res = run_backtest(returns, [parse_strategy("equal_weight:rebalance=monthly")], start=0,
                       cost_bps=cost_bps, slippage_bps=slippage_bps,
                       keep_returns=returns.shape[0])
    if res.returns is None:  # keep_returns asked for every path
        raise RuntimeError("run_backtest kept no returns")
    growth = np.cumprod(1.0 + res.returns[:, 0], axis=1)
    return np.concatenate([np.ones((returns.shape[0], 1)), growth], axis=1)


# ---------------------------------------------------------------------------- vectorbt
def vectorbt_equal_weight(returns: np.ndarray, fees: float) -> tuple[np.ndarray, float]:
    """The same rebalance in vectorbt: value paths (paths, days + 1) and the seconds of
    ``from_orders`` + ``value()`` (building the price frame is not timed).

    Row 0 is the close before the first traded day (price 1), where the first purchase
    happens, like genlift's trade before the first traded day's return; orders go in on
    rows 0, 21, 42, ... before the last row and nowhere else.
    """
    import pandas as pd
    import vectorbt as vbt

    n_paths, n_days, n_assets = returns.shape
    close = np.ones((n_days + 1, n_paths, n_assets))
    np.cumprod(1.0 + returns.transpose(1, 0, 2), axis=0, out=close[1:])
    columns = pd.MultiIndex.from_product([range(n_paths), range(n_assets)],
                                         names=["path", "asset"])
    index = pd.date_range("2000-01-03", periods=n_days + 1, freq="D")
    close_df = pd.DataFrame(close.reshape(n_days + 1, -1), index=index, columns=columns)
    size = np.full(close_df.shape, np.nan)
    size[:n_days:STEP] = 1.0 / n_assets  # genlift's check dates: none at the last close
    start = time.perf_counter()
    pf = vbt.Portfolio.from_orders(
        close_df, size=size, size_type="targetpercent", direction="longonly",
        group_by="path", cash_sharing=True, call_seq="auto", init_cash=1.0, fees=fees,
        freq="1D")
    value = pf.value().to_numpy()
    seconds = time.perf_counter() - start
    return value.T, seconds


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def compare_vectorbt(returns: np.ndarray, cost_bps: float, slippage_bps: float,
                     repeat: int) -> dict[str, Any]:
    """genlift vs vectorbt on the same equal-weight monthly rebalance of ``returns``
    (traded days only)."""
    try:
        import vectorbt as vbt
    except ImportError:
        return {"status": "vectorbt not installed (pip install vectorbt)"}
    n_paths, n_days, n_assets = returns.shape
    fees = (cost_bps + slippage_bps) / 1e4
    ours_s, ours = timed(lambda: genlift_equal_weight(returns, cost_bps, slippage_bps),
                         repeat=repeat)
    ours_rss = peak_rss_mb()
    # cold: the first call in this process, numba compilation (or loading vectorbt's
    # on-disk numba cache) included; warm: the best of the later calls
    theirs, cold_s = vectorbt_equal_weight(returns, fees)
    warm = [vectorbt_equal_weight(returns, fees)[1] for _ in range(repeat)]
    warm_s = min(warm)
    work = n_paths * n_days
    # the mechanics, without costs: the two must agree to rounding
    n_exact = min(n_paths, 200)
    exact = max_rel_diff(genlift_equal_weight(returns[:n_exact], 0.0, 0.0),
                         vectorbt_equal_weight(returns[:n_exact], 0.0)[0])
    # at a check date vectorbt's value is already net of that day's fees, genlift books
    # them in the next day's return: compare the other days, report the check dates apart
    check = np.zeros(n_days + 1, bool)
    check[:n_days:STEP] = True
    with_cost = max_rel_diff(ours[:, ~check], theirs[:, ~check])
    at_checks = max_rel_diff(ours[:, check], theirs[:, check])
    final = max_rel_diff(ours[:, -1], theirs[:, -1])
    return {
        "status": "ok", "vectorbt_version": vbt.__version__,
        "n_paths": n_paths, "traded_days": n_days, "n_assets": n_assets,
        "rebalance_every_days": STEP, "fees": fees,
        "genlift_s": ours_s, "vectorbt_cold_s": cold_s, "vectorbt_warm_s": warm_s,
        "genlift_path_days_per_s": work / ours_s,
        "vectorbt_warm_path_days_per_s": work / warm_s,
        "speedup_vs_warm": warm_s / ours_s, "speedup_vs_cold": cold_s / ours_s,
        "faster_than_vectorbt": ours_s < warm_s,
        "genlift_peak_rss_mb": ours_rss, "peak_rss_mb_after_vectorbt": peak_rss_mb(),
        "equal_no_costs": {"n_paths": n_exact, "max_rel_diff": exact, "tol": EXACT_TOL,
                           "ok": exact <= EXACT_TOL},
        "equal_with_costs": {"n_paths": n_paths, "max_rel_diff": with_cost,
                             "final_value_max_rel_diff": final,
                             "check_dates_max_rel_diff": at_checks, "tol": COST_TOL,
                             "ok": with_cost <= COST_TOL},
    }


def code_state() -> dict[str, Any]:
    """The commit measured and the backtester's files changed on top of it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "engine/portfolio"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}
    return {"commit": head, "uncommitted": [line[3:] for line in dirty if line.strip()]}


# ---------------------------------------------------------------------------- report
def table(payload: dict[str, Any], command: str) -> str:
    src = payload["data"]
    lines = [
        "# Backtest throughput and vectorbt side by side", "",
        f"`{command}`", "",
        f"Paths: {src['kind']} ({src['source']}); {payload['burn_in_days']} days of history "
        f"burn-in, then {payload['traded_days']:,} traded days; costs {payload['cost_bps']:g} "
        f"+ slippage {payload['slippage_bps']:g} bps. {payload['cpus']} CPUs, load average "
        f"{payload['load_average'][0]:.2f} at the start (other processes may share them). "
        f"Code: {payload['code']['commit']}"
        + (f" + uncommitted {', '.join(payload['code']['uncommitted'])}"
           if payload["code"].get("uncommitted") else "") + ".",
        "", "| assets | paths | strategies | wall s | path-days x strategies / s | "
        "s for 10k x 10 x 2,520 | target <= 60 s | CPU s / wall s | load after | "
        "peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in payload["runs"]:
        lines.append(
            f"| {run['n_assets']} | {run['n_paths']:,} | {run['n_strategies']} | "
            f"{run['wall_s']:.1f} | {run['path_days_strategies_per_s']:.3g} | "
            f"{run['seconds_for_target_work']:.1f} | "
            f"{'met' if run['target_met'] else 'NOT met'} | {run['cpu_s'] / run['wall_s']:.2f} | "
            f"{run['load_average_after'][0]:.2f} | {run['peak_rss_mb']:.0f} |")
    v = payload["vectorbt"]
    lines += ["", "Wall time of `run_backtest` alone (drawing the paths is not timed), chunk_paths "
              f"{payload['chunk_paths'] or 'default'}. CPU s / wall s near 2 means both cores "
              "were ours. Peak RSS is the process's peak so far (the vectorbt stage runs "
              "first).", ""]
    if v["status"] != "ok":
        lines.append(f"vectorbt side by side: {v['status']}.")
        return "\n".join(lines)
    eq0, eq1 = v["equal_no_costs"], v["equal_with_costs"]
    lines += [
        f"## Equal weight, monthly, {v['n_assets']} assets: {v['n_paths']:,} paths x "
        f"{v['traded_days']:,} days (vectorbt {v['vectorbt_version']})", "",
        "| engine | wall s | path-days / s |", "|---|---|---|",
        f"| genlift | {v['genlift_s']:.2f} | {v['genlift_path_days_per_s']:.3g} |",
        f"| vectorbt (warm) | {v['vectorbt_warm_s']:.2f} | "
        f"{v['vectorbt_warm_path_days_per_s']:.3g} |",
        f"| vectorbt (cold, first call) | {v['vectorbt_cold_s']:.2f} | "
        f"{v['n_paths'] * v['traded_days'] / v['vectorbt_cold_s']:.3g} |", "",
        f"Speed-up of genlift over warm vectorbt on the same work: "
        f"{v['speedup_vs_warm']:.2f}x ({'faster' if v['faster_than_vectorbt'] else 'NOT faster'}"
        "). Cold is the first call in the process: numba compilation on a fresh install, "
        "loading vectorbt's on-disk numba cache afterwards.",
        f"Equal results: without costs max relative difference of the value paths "
        f"{eq0['max_rel_diff']:.1e} on {eq0['n_paths']} paths (tol {eq0['tol']:.0e}: "
        f"{'ok' if eq0['ok'] else 'FAILED'}); with {v['fees'] * 1e4:g} bps costs "
        f"{eq1['max_rel_diff']:.1e} off the check dates (final value "
        f"{eq1['final_value_max_rel_diff']:.1e}; tol {eq1['tol']:.0e}: "
        f"{'ok' if eq1['ok'] else 'FAILED'}): vectorbt takes a rebalance's fees from the "
        "last asset bought, genlift pro rata. On check dates "
        f"{eq1['check_dates_max_rel_diff']:.1e}: vectorbt's value is net of that day's "
        "fees, genlift books them in the next day's return.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=2_520, help="traded days per path")
    ap.add_argument("--burn-in", type=int, default=252,
                    help="history days before the first trade (the grid needs 252)")
    ap.add_argument("--assets", type=int, nargs="+", default=[5, 20],
                    help="universe sizes (5: five sectors; 20: all of sp500-20)")
    ap.add_argument("--vbt-paths", type=int, default=1_000,
                    help="paths of the vectorbt side by side (0: skip it)")
    ap.add_argument("--cost-bps", type=float, default=5.0)
    ap.add_argument("--slippage-bps", type=float, default=5.0)
    ap.add_argument("--chunk-paths", type=int, default=None,
                    help="run_backtest's chunk_paths (default: its own)")
    ap.add_argument("--db", default=None, help="store with a prices table "
                    "(default genlift.duckdb when present, else the sp500-20 cache)")
    ap.add_argument("--synthetic", action="store_true", help="skip the real returns")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    command = "python -m benchmarks.bench_backtest" + "".join(f" {a}" for a in argv or [])

    real = None if args.synthetic else real_returns(args.db)
    rng = np.random.default_rng(args.seed)
    n_total = args.burn_in + args.days
    if real is not None:
        frame, source = real
        missing = [a for a in FIVE if a not in frame.columns]
        universes = {n: list(FIVE) if n == 5 and not missing else list(frame.columns[:n])
                     for n in args.assets}
        data = {"kind": "bootstrap of real days", "source": source,
                "history": [str(frame.index[0].date()), str(frame.index[-1].date())],
                "history_days": len(frame), "assets": universes}
    else:
        universes = {n: [f"synthetic_{i}" for i in range(n)] for n in args.assets}
        data = {"kind": "synthetic", "source": "Student-t(4) one-factor, seeded",
                "assets": universes}
    data["seed"] = args.seed

    def paths(n_paths: int, n_days: int, n_assets: int) -> np.ndarray:
        if real is None:
            return synthetic_paths(n_paths, n_days, n_assets, rng)
        daily = real[0][universes[n_assets]].to_numpy()
        return bootstrap_days(daily, n_paths, n_days, rng)

    payload: dict[str, Any] = {
        "data": data, "burn_in_days": args.burn_in, "traded_days": args.days,
        "n_paths": args.paths, "strategies": [s.name for s in default_grid()],
        "cost_bps": args.cost_bps, "slippage_bps": args.slippage_bps,
        "chunk_paths": args.chunk_paths, "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "code": code_state(), "runs": [],
        "command": command}

    if args.vbt_paths > 0:  # smallest footprint first: peak RSS reads stay per stage
        sub = paths(args.vbt_paths, args.days, args.assets[0])
        logger.info("vectorbt side by side: %d paths x %d days x %d assets", *sub.shape)
        payload["vectorbt"] = compare_vectorbt(sub, args.cost_bps, args.slippage_bps,
                                               repeat=2)
        logger.info("vectorbt: %s", payload["vectorbt"])
        del sub
    else:
        payload["vectorbt"] = {"status": "skipped (--vbt-paths 0)"}
    for n_assets in sorted(args.assets):
        start = time.perf_counter()
        returns = paths(args.paths, n_total, n_assets)
        paths_s = time.perf_counter() - start
        logger.info("%d paths x %d days x %d assets drawn in %.1f s; backtesting",
                    args.paths, n_total, n_assets, paths_s)
        run = throughput(returns, args.burn_in, args.chunk_paths)
        run["paths_s"] = paths_s
        run["load_average_after"] = os.getloadavg()
        logger.info("%d assets: %.1f s, %.3g path-days x strategies / s", n_assets,
                    run["wall_s"], run["path_days_strategies_per_s"])
        payload["runs"].append(run)
        del returns

    text = table(payload, command)
    out = write_results("backtest", payload, text)
    print(text)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
