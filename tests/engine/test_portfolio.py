"""The vectorised backtester against a plain day-by-day reference loop written here.

The reference follows the conventions of :mod:`engine.portfolio.backtest` without sharing any
of its code: one path and one strategy at a time, a value and holdings updated day by
day, targets from the trailing window computed with ``np.cov`` / ``np.std`` and, for the
optimising strategies, with ``scipy.optimize``. On top of it: metrics by hand, cases with
known answers (constant returns, one crash day, all cash), a planted future spike that
no strategy may react to before it happens, ``summarize`` against numpy, and bad input.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

from engine.portfolio import (
    METRICS,
    BacktestResult,
    Strategy,
    default_grid,
    parse_strategy,
    required_history,
    run_backtest,
    summarize,
)
from engine.portfolio.strategies import mean_variance, risk_parity
from features.errors import DataValidationError

YEAR = 252
STEP = {"weekly": 5, "monthly": 21, "quarterly": 63}
COST_BPS, SLIP_BPS, CASH_RATE = 6.0, 4.0, 0.03
SIMPLE_GRID = (
    "buy_and_hold", "buy_and_hold:weights=0.1/0.2/0.3/0.3", "equal_weight",
    "equal_weight:rebalance=weekly", "equal_weight:rebalance=quarterly",
    "equal_weight:threshold=0.03", "fixed_mix:weights=0.5/0.2/0.1/0.1:threshold=0.02",
    "fixed_mix:weights=0.4/0.3/0.2/0.1:rebalance=weekly", "inverse_vol:window=126",
    "inverse_vol:window=40:rebalance=weekly", "inverse_vol:window=150:rebalance=quarterly",
    "momentum:window=252", "momentum:window=60:skip=10:rebalance=weekly",
    "momentum:window=126:skip=0", "equal_weight:target_vol=0.08:window=63",
    "inverse_vol:window=63:target_vol=0.25:max_leverage=1.5:rebalance=weekly",
    "momentum:window=126:target_vol=0.1",
)
OPT_GRID = (
    "risk_parity:window=126", "risk_parity:window=60:rebalance=weekly:shrinkage=0.1",
    "min_variance:window=252", "min_variance:window=126:threshold=0.02:shrinkage=0.5",
    "mean_variance:window=252", "mean_variance:window=126:risk_aversion=2:shrinkage=0.1",
    "risk_parity:window=126:target_vol=0.07", "mean_variance:window=63:target_vol=0.1:"
    "rebalance=weekly:max_leverage=1.3",
)
WEEKLY_GRID = (
    "inverse_vol:window=25:rebalance=weekly", "risk_parity:window=60:rebalance=weekly",
    "min_variance:window=40:rebalance=weekly:threshold=0.02",
    "mean_variance:window=60:rebalance=weekly", "momentum:window=60:skip=10:rebalance=weekly",
    "equal_weight:rebalance=weekly:target_vol=0.1:window=25",
)


def make_returns(n_paths: int, n_days: int, *, seed: int = 7) -> np.ndarray:
    """Four correlated assets, Student-t(4) shocks and slow volatility regimes, so the
    trailing estimates (and the weights built on them) keep moving."""
    rng = np.random.default_rng(seed)
    vol = np.array([0.004, 0.009, 0.013, 0.02])
    drift = np.array([0.0002, 0.0004, -0.0001, 0.0006])
    corr = np.full((4, 4), 0.35)
    np.fill_diagonal(corr, 1.0)
    shocks = rng.standard_t(4, size=(n_paths, n_days, 4)) / math.sqrt(2.0)
    shocks = shocks @ np.linalg.cholesky(corr).T
    regime = 1.0 + 0.7 * np.sin(np.arange(n_days) / 45.0 + np.arange(4)[:, None]).T
    return np.maximum(drift + vol * regime * shocks, -0.6)


@pytest.fixture(scope="module")
def paths() -> np.ndarray:
    return make_returns(3, 700)


# ----------------------------------------------------------------------- reference
def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def shrunk(cov: np.ndarray, s: float) -> np.ndarray:
    n = len(cov)
    return (1 - s) * cov + s * np.mean(np.diag(cov)) * np.eye(n)


def ref_erc(cov: np.ndarray) -> np.ndarray:
    """Equal risk contributions: the stationary point of ``1/2 y'Sy - sum(log y) / n``,
    found by scipy's root finder, then scaled to sum to one."""
    n = len(cov)
    sol = optimize.root(lambda y: cov @ y - 1.0 / (n * y), 1.0 / np.sqrt(np.diag(cov)) / n,
                        jac=lambda y: cov + np.diag(1.0 / (n * y ** 2)), method="hybr",
                        options={"xtol": 1e-15})
    y = sol.x  # ("xtol too small" just means machine precision was reached)
    assert (y > 0).all()
    w = y / y.sum()
    rc = w * (cov @ w)
    assert np.ptp(rc) < 1e-12 * rc.mean()
    return w


def ref_long_only_qp(mu: np.ndarray, cov: np.ndarray, ra: float) -> np.ndarray:
    """``argmin ra/2 w'Sw - mu'w`` over the simplex: SLSQP, then the KKT system solved
    exactly on the support SLSQP found (machine precision), then KKT checked."""
    n = len(mu)
    res = optimize.minimize(
        lambda w: 0.5 * ra * w @ cov @ w - mu @ w, np.full(n, 1.0 / n),
        jac=lambda w: ra * cov @ w - mu, method="SLSQP", bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                      "jac": lambda w: np.ones(n)}],
        options={"ftol": 1e-16, "maxiter": 1000})
    w = np.clip(res.x, 0.0, None)
    w /= w.sum()
    on = w > 1e-7
    k = int(on.sum())
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = ra * cov[np.ix_(on, on)]
    kkt[:k, k] = kkt[k, :k] = 1.0
    sol = np.linalg.solve(kkt, np.append(mu[on], 1.0))
    polished = np.zeros(n)
    polished[on] = sol[:k]
    if (polished >= 0).all():
        w = polished
    grad = ra * cov @ w - mu
    level = grad[w > 0].mean()
    assert np.abs(grad[w > 0] - level).max() < 1e-12
    assert (grad[w == 0] >= level - 1e-12).all()
    return w


def ref_target(s: Strategy, hist: np.ndarray, skip_days: int, n_assets: int) -> np.ndarray:
    """Target weights from the window ``hist`` (days, assets) of days before the date."""
    if s.kind in ("buy_and_hold", "fixed_mix") and s.weights is not None:
        w = np.array(s.weights, dtype=float)
    elif s.kind in ("buy_and_hold", "fixed_mix", "equal_weight"):
        w = np.full(n_assets, 1.0 / n_assets)
    elif s.kind == "inverse_vol":
        inv = 1.0 / hist.std(axis=0, ddof=1)
        w = inv / inv.sum()
    elif s.kind == "momentum":
        signal = hist[:len(hist) - skip_days]
        trailing = np.prod(1.0 + signal, axis=0) - 1.0  # the assets' trailing return
        # "Positive" beyond rounding: a price back at exactly its old level is flat.
        w = (trailing > 1e-10) / n_assets
    elif s.kind == "risk_parity":
        w = ref_erc(shrunk(np.cov(hist.T, ddof=1), s.shrinkage))
    elif s.kind == "min_variance":
        w = ref_long_only_qp(np.zeros(n_assets), shrunk(np.cov(hist.T, ddof=1), s.shrinkage),
                             1.0)
    else:
        mu = hist.mean(axis=0)
        mu = (1 - s.shrinkage) * mu + s.shrinkage * mu.mean()
        w = ref_long_only_qp(mu, shrunk(np.cov(hist.T, ddof=1), s.shrinkage),
                             s.risk_aversion)
    if s.target_vol is not None:
        total = w.sum()
        if total <= 0:
            return np.zeros(n_assets)
        vol = math.sqrt(w @ np.cov(hist.T, ddof=1) @ w * YEAR)
        w = w * min(s.target_vol / vol, s.max_leverage / total)
    return w


def reference(r: np.ndarray, s: Strategy, *, start: int, cost_bps: float,
              slippage_bps: float, cash_rate: float
              ) -> tuple[np.ndarray, np.ndarray, float]:
    """Day by day on one path: (daily returns, weights after each check date, units
    traded after the first purchase)."""
    n_days, n_assets = r.shape
    step = STEP[s.rebalance]
    periods = ceil_div(s.window, step)
    skip_days = ceil_div(s.skip, step) * step if s.kind == "momentum" else 0
    cost = (cost_bps + slippage_bps) / 1e4
    cash_daily = (1.0 + cash_rate) ** (1.0 / YEAR) - 1.0
    value, cash, hold = 1.0, 1.0, np.zeros(n_assets)
    rets, recorded, traded = [], [], 0.0
    for t in range(start, n_days):
        before = value  # the day's return includes the costs paid at its open
        if (t - start) % step == 0:
            first = t == start
            drifted = hold / value
            # check periods are anchored at ``start``: the last ``periods`` of them end
            # the day before ``t``
            hist = r[max(0, t - periods * step):t]
            target = ref_target(s, hist, skip_days, n_assets)
            if s.kind == "buy_and_hold":
                trade = first
            elif s.threshold is not None and not first:
                trade = bool(np.abs(drifted - target).max() > s.threshold)
            else:
                trade = True
            new = target if trade else drifted
            amount = float(np.abs(new - drifted).sum())
            if not first:
                traded += amount
            value *= 1.0 - cost * amount
            hold = new * value
            cash = (1.0 - new.sum()) * value
            recorded.append(new.copy())
        hold = hold * (1.0 + r[t])
        cash *= 1.0 + cash_daily
        value = hold.sum() + cash
        rets.append(value / before - 1.0)
    return np.array(rets), np.array(recorded), traded


def ref_metrics(rets: Sequence[float], traded: float, cash_rate: float) -> dict[str, float]:
    """Metrics with plain Python from one path's daily returns."""
    n = len(rets)
    years = n / YEAR
    cash_daily = (1.0 + cash_rate) ** (1.0 / YEAR) - 1.0
    equity, peak, worst, under = 1.0, 1.0, 0.0, 0
    for x in rets:
        equity *= 1.0 + x
        peak = max(peak, equity)
        worst = min(worst, equity / peak - 1.0)
        under += equity < peak
    cagr = equity ** (1.0 / years) - 1.0
    sd = statistics.stdev(rets)
    excess = statistics.fmean(rets) - cash_daily
    downside = math.sqrt(sum(min(x - cash_daily, 0.0) ** 2 for x in rets) / n)
    return {
        "cagr": cagr, "volatility": sd * math.sqrt(YEAR),
        "sharpe": excess / sd * math.sqrt(YEAR) if sd > 0 else math.nan,
        "sortino": excess / downside * math.sqrt(YEAR) if downside > 0 else math.nan,
        "max_drawdown": worst, "calmar": cagr / -worst if worst < 0 else math.nan,
        "turnover": traded / 2.0 / years, "time_under_water": under / n,
        "total_return": equity - 1.0,
    }


def run_both(r: np.ndarray, grid: Sequence[str], **kwargs: float
             ) -> tuple[BacktestResult, list[list[tuple[np.ndarray, np.ndarray, float]]]]:
    strategies = [parse_strategy(g) for g in grid]
    res = run_backtest(r, strategies, keep_returns=len(r), record_weights=True, **kwargs)
    ref_kw = {"cost_bps": 5.0, "slippage_bps": 5.0, "cash_rate": 0.0, **kwargs}
    ref_kw["start"] = res.start
    ref = [[reference(path, s, **ref_kw) for s in strategies] for path in r]
    return res, ref


def assert_matches(res: BacktestResult, ref: list[list[tuple[np.ndarray, np.ndarray, float]]],
                   *, atol_w: float, atol_r: float) -> None:
    """Every path and strategy checked; the failure lists all that differ."""
    assert res.returns is not None and res.weights is not None
    bad = []
    for p, per_path in enumerate(ref):
        for j, (rets, weights, _) in enumerate(per_path):
            k = len(weights)
            dw = np.abs(res.weights[p, j, :k] - weights).max()
            dr = np.abs(res.returns[p, j] - rets).max()
            if not (dw <= atol_w and dr <= atol_r and np.isnan(res.weights[p, j, k:]).all()):
                first = int(np.argmax(np.abs(res.weights[p, j, :k] - weights).max(axis=1)))
                bad.append(f"{res.names[j]} on path {p}: weights off by {dw:.3g} (first at "
                           f"check {first}: {res.weights[p, j, first]} vs {weights[first]}), "
                           f"returns off by {dr:.3g}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------- reference comparisons
@pytest.mark.parametrize("extra_start", [0, 7])
def test_closed_form_rules_equal_reference_loop(paths: np.ndarray, extra_start: int) -> None:
    strategies = [parse_strategy(g) for g in SIMPLE_GRID]
    start = required_history(strategies) + extra_start
    res, ref = run_both(paths, SIMPLE_GRID, start=start, cost_bps=COST_BPS,
                        slippage_bps=SLIP_BPS, cash_rate=CASH_RATE)
    assert res.start == start and res.n_days == paths.shape[1] - start
    for step in (5, 21, 63):
        np.testing.assert_array_equal(res.check_days[str(step)],
                                      np.arange(start, paths.shape[1], step))
    assert_matches(res, ref, atol_w=1e-9, atol_r=1e-9)
    # the grid exercises what it claims: the band skips some dates, momentum holds cash
    # sometimes, the leveraged overlay borrows
    w = res.weights
    assert w is not None
    band = res.names.index("equal_weight:monthly:band0.03")
    at_target = np.all(np.abs(w[:, band, 1:] - 0.25) < 1e-12, axis=-1)
    assert at_target.any() and (~at_target & ~np.isnan(w[:, band, 1:, 0])).any()
    lev = res.names.index("inverse_vol:weekly:w63:tv0.25")
    assert np.nanmax(w[:, lev].sum(axis=-1)) > 1.0
    mom = res.names.index("momentum:monthly:w252")
    assert np.nanmin(w[:, mom].sum(axis=-1)) < 1.0


def test_optimising_rules_equal_scipy_reference(paths: np.ndarray) -> None:
    """The engine's iterative solvers stop on small moves, the reference is exact to
    machine precision: weights agree to 1e-6 and daily returns, which move by a weight
    error times one day's return, to 1e-7. Each path alone (as the real history is run)
    and the paths in one batch."""
    paths = paths[:, :560]
    res, ref = run_both(paths, OPT_GRID, cost_bps=COST_BPS, slippage_bps=SLIP_BPS,
                        cash_rate=CASH_RATE)
    assert_matches(res, ref, atol_w=1e-6, atol_r=1e-7)
    grid = [parse_strategy(g) for g in OPT_GRID]
    for p in range(len(paths)):
        alone = run_backtest(paths[p], grid, keep_returns=1, record_weights=True,
                             cost_bps=COST_BPS, slippage_bps=SLIP_BPS, cash_rate=CASH_RATE)
        assert_matches(alone, [ref[p]], atol_w=1e-6, atol_r=1e-7)
    # some long-only constraint binds somewhere, or the QP comparison would be weak
    w = res.weights
    assert w is not None
    mv = [j for j, n in enumerate(res.names) if n.startswith(("min_var", "mean_var"))]
    assert (w[:, mv] == 0).any()


def test_long_only_solver_equals_exact_qp_one_problem_at_a_time() -> None:
    """Problems from trailing 63-day windows, solved cold as the first check date does.
    Where the optimum sits next to a corner of the simplex the accelerated gradient can
    land on the corner twice in a row and stop there (one zero move is not convergence)."""
    r = make_returns(6, 700, seed=5)
    mus, covs = [], []
    for p in range(6):
        for t in range(100, 700, 50):
            h = r[p, t - 63:t]
            mu = h.mean(axis=0)
            mus.append(0.7 * mu + 0.3 * mu.mean())
            covs.append(shrunk(np.cov(h.T, ddof=1), 0.3))
    mu_all, cov_all = np.array(mus), np.array(covs)
    erc = risk_parity(cov_all)
    for i in range(len(mus)):
        np.testing.assert_allclose(erc[i], ref_erc(cov_all[i]), rtol=0, atol=1e-10)
    exact = np.array([ref_long_only_qp(m, c, 5.0) for m, c in zip(mus, covs, strict=True)])
    batched = mean_variance(mu_all, cov_all, 5.0)
    np.testing.assert_allclose(batched, exact, rtol=0, atol=1e-6)
    for i in range(len(mus)):
        alone = mean_variance(mu_all[i:i + 1], cov_all[i:i + 1], 5.0)[0]
        np.testing.assert_allclose(alone, exact[i], rtol=0, atol=1e-6,
                                   err_msg=f"problem {i}: {alone} vs {exact[i]}")


def test_risk_parity_weights_have_equal_risk_contributions(paths: np.ndarray) -> None:
    s = parse_strategy("risk_parity:window=60:rebalance=weekly:shrinkage=0.2")
    res = run_backtest(paths, [s], record_weights=True)
    assert res.weights is not None
    for p in range(len(paths)):
        for k, t in enumerate(res.check_days["5"]):
            cov = shrunk(np.cov(paths[p, t - 60:t].T, ddof=1), 0.2)
            w = res.weights[p, 0, k]
            rc = w * (cov @ w)
            assert w.sum() == pytest.approx(1.0, abs=1e-12)
            assert np.ptp(rc) < 1e-8 * rc.mean(), (p, t, rc)


def test_batching_and_chunking_do_not_change_results(paths: np.ndarray) -> None:
    paths = paths[:, :560]
    grid = [parse_strategy(g) for g in SIMPLE_GRID + OPT_GRID]
    simple = slice(0, len(SIMPLE_GRID))
    kw = {"cost_bps": COST_BPS, "slippage_bps": SLIP_BPS, "cash_rate": CASH_RATE}
    batch = run_backtest(paths, grid, keep_returns=3, record_weights=True, **kw)
    chunked = run_backtest(paths, grid, keep_returns=2, record_weights=True, chunk_paths=1,
                           **kw)
    assert batch.returns is not None and chunked.returns is not None
    assert batch.weights is not None and chunked.weights is not None
    assert chunked.returns.shape == (2, len(grid), batch.n_days)
    # one path per chunk is that path run alone
    alone = run_backtest(paths[0], grid, keep_returns=1, record_weights=True, **kw)
    assert alone.returns is not None and alone.weights is not None
    np.testing.assert_array_equal(chunked.returns[0], alone.returns[0])
    np.testing.assert_array_equal(chunked.weights[0], alone.weights[0])
    for m in METRICS:
        np.testing.assert_array_equal(chunked.metrics[m][0], alone.metrics[m][0])
    # the closed-form rules give exactly the same numbers alone and in a batch
    for p in range(len(paths)):
        one = run_backtest(paths[p], grid[simple], keep_returns=1, record_weights=True, **kw)
        assert one.returns is not None and one.weights is not None
        np.testing.assert_array_equal(batch.returns[p, simple], one.returns[0])
        np.testing.assert_array_equal(batch.weights[p, simple], one.weights[0])
        np.testing.assert_array_equal(chunked.weights[p, simple], one.weights[0])
        for m in METRICS:
            np.testing.assert_array_equal(batch.metrics[m][p, simple], one.metrics[m][0])
    # the iterative solvers, batched over paths, stop on the batch's largest move, so a
    # path may take a few more iterations in company: equal up to the solvers' tolerance
    np.testing.assert_allclose(batch.weights, chunked.weights, rtol=0, atol=1e-6)
    np.testing.assert_allclose(batch.returns[:2], chunked.returns, rtol=0, atol=1e-8)
    for m in METRICS:
        np.testing.assert_allclose(batch.metrics[m], chunked.metrics[m], rtol=1e-6)


# ------------------------------------------------------------------------- metrics
def traded_from_weights(r: np.ndarray, weights: np.ndarray, checks: np.ndarray,
                        cash_rate: float) -> float:
    """Units traded after the first purchase, from the weights right after each check
    date: each is compared with the previous one drifted to the date."""
    cash_daily = (1.0 + cash_rate) ** (1.0 / YEAR) - 1.0
    traded = 0.0
    for k in range(1, len(checks)):
        w = weights[k - 1]
        days = r[checks[k - 1]:checks[k]]
        grown = w * np.prod(1.0 + days, axis=0)
        value = grown.sum() + (1.0 - w.sum()) * (1.0 + cash_daily) ** len(days)
        traded += float(np.abs(weights[k] - grown / value).sum())
    return traded


def test_metrics_equal_hand_computation(paths: np.ndarray) -> None:
    grid = [parse_strategy(g) for g in SIMPLE_GRID]
    res = run_backtest(paths, grid, keep_returns=3, record_weights=True, cost_bps=COST_BPS,
                       slippage_bps=SLIP_BPS, cash_rate=CASH_RATE)
    assert res.returns is not None and res.weights is not None
    for p in range(3):
        for j, s in enumerate(grid):
            checks = res.check_days[str(s.step)]
            traded = traded_from_weights(paths[p], res.weights[p, j], checks, CASH_RATE)
            want = ref_metrics(list(res.returns[p, j]), traded, CASH_RATE)
            for m in METRICS:
                assert res.metrics[m][p, j] == pytest.approx(want[m], rel=1e-9, abs=1e-12), \
                    (m, s.name, p)
    assert set(res.metrics) == set(METRICS)
    assert (res.metrics["turnover"] > 0).sum() > 10
    frame = res.frame(path_ids=["a", "b", "c"])
    assert len(frame) == 3 * len(grid)
    assert frame.loc[1, "sharpe"] == res.metrics["sharpe"][0, 1]


# ------------------------------------------------------------- hand-checked cases
@pytest.mark.parametrize("daily", [0.001, -0.0004])
def test_constant_returns_without_costs(daily: float) -> None:
    r = np.full((300, 3), daily)
    grid = [parse_strategy(g) for g in ("buy_and_hold", "equal_weight:rebalance=weekly",
                                        "fixed_mix:weights=0.5/0.3/0.2")]
    res = run_backtest(r, grid, start=48, cost_bps=0.0, slippage_bps=0.0, keep_returns=1)
    n = 300 - 48
    m = {k: v[0] for k, v in res.metrics.items()}
    np.testing.assert_allclose(m["cagr"], (1 + daily) ** 252 - 1.0, rtol=1e-11)
    np.testing.assert_allclose(m["total_return"], (1 + daily) ** n - 1.0, rtol=1e-11)
    assert res.returns is not None
    np.testing.assert_allclose(res.returns[0], daily, rtol=1e-11)
    np.testing.assert_allclose(m["volatility"], 0.0, atol=1e-12)
    np.testing.assert_allclose(m["turnover"], 0.0, atol=1e-12)
    if daily > 0:
        np.testing.assert_array_equal(m["max_drawdown"], 0.0)
        np.testing.assert_array_equal(m["time_under_water"], 0.0)
        assert np.isnan(m["calmar"]).all()
        assert np.isnan(m["sortino"]).all(), m["sortino"]
    else:  # a steady loss: every day a new low, downside deviation = |daily|
        np.testing.assert_allclose(m["max_drawdown"], (1 + daily) ** n - 1.0, rtol=1e-11)
        np.testing.assert_array_equal(m["time_under_water"], 1.0)
        np.testing.assert_allclose(m["sortino"], -math.sqrt(YEAR), rtol=1e-9)
        np.testing.assert_allclose(m["calmar"], m["cagr"] / -m["max_drawdown"], rtol=1e-12)
    # no variation at all: the Sharpe ratio is undefined, not +-1e13 from rounding noise
    assert np.isnan(m["sharpe"]).all(), m["sharpe"]


def test_constant_returns_with_costs_pay_only_the_first_purchase() -> None:
    r = np.full((252 + 63, 2), 0.001)
    grid = [parse_strategy(g) for g in ("buy_and_hold", "equal_weight",
                                        "buy_and_hold:weights=0.3/0.3")]
    res = run_backtest(r, grid, start=63, cost_bps=7.0, slippage_bps=3.0, cash_rate=0.0)
    c = 10.0 / 1e4
    invested = np.array([1.0, 1.0, 0.6])
    # one year exactly: CAGR is the total return; a 60% book pays on 0.6 and 40% idles
    want = (1 - c * invested) * (invested * 1.001 ** 252 + 1 - invested) - 1
    np.testing.assert_allclose(res.metrics["cagr"][0], want, rtol=1e-11)
    np.testing.assert_allclose(res.metrics["total_return"][0], want, rtol=1e-11)
    # the only loss is the first day's cost, if the cost beats that day's return
    first_day = (1 - c * invested) * (invested * 1.001 + 1 - invested) - 1
    np.testing.assert_allclose(res.metrics["max_drawdown"][0], np.minimum(first_day, 0),
                               rtol=1e-11, atol=1e-15)
    free = run_backtest(r, grid, start=63, cost_bps=0.0, slippage_bps=0.0)
    ratio = (1 + res.metrics["total_return"][0]) / (1 + free.metrics["total_return"][0])
    np.testing.assert_allclose(ratio, 1 - c * invested, rtol=1e-12)


def test_single_crash_day() -> None:
    n, crash, start = 400, 250, 100
    r = np.full((n, 2), 0.0005)
    r[crash] = [-0.30, 0.0]
    grid = [parse_strategy(g) for g in ("buy_and_hold", "equal_weight",
                                        "fixed_mix:weights=0.6/0.4")]
    res = run_backtest(r, grid, start=start, cost_bps=0.0, slippage_bps=0.0, keep_returns=1)
    # both assets grew alike until the crash, so every book still holds its target
    # weights: the crash day loses 30% of the first asset's weight, and with the steady
    # drift afterwards that day is the worst point of the run
    assert res.returns is not None
    np.testing.assert_allclose(res.returns[0, :, crash - start], [-0.15, -0.15, -0.18],
                               rtol=1e-12)
    mdd = res.metrics["max_drawdown"][0]
    np.testing.assert_allclose(mdd, [-0.15, -0.15, -0.18], rtol=1e-12)
    # recovering 15% at 0.05% a day takes 325 days; 150 are left
    days = n - start
    np.testing.assert_allclose(res.metrics["time_under_water"][0], (n - crash) / days,
                               rtol=1e-15)
    years = days / YEAR
    cagr = res.metrics["cagr"][0]
    np.testing.assert_allclose(cagr[0], (0.85 * 1.0005 ** (days - 1)) ** (1 / years) - 1,
                               rtol=1e-11)
    np.testing.assert_allclose(res.metrics["calmar"][0], cagr / -mdd, rtol=1e-12)


def test_all_cash_earns_the_cash_rate() -> None:
    r = np.full((300, 3), -0.001)  # every trailing return negative: momentum holds cash
    grid = [parse_strategy("momentum:window=63:skip=0"), parse_strategy("buy_and_hold:"
                                                                        "weights=0/0/0")]
    res = run_backtest(r, grid, cash_rate=0.04, keep_returns=1, record_weights=True)
    assert res.weights is not None
    np.testing.assert_array_equal(np.nan_to_num(res.weights[0]), 0.0)
    np.testing.assert_allclose(res.metrics["cagr"][0], 0.04, rtol=1e-12)
    np.testing.assert_allclose(res.metrics["max_drawdown"][0], 0.0)
    np.testing.assert_allclose(res.metrics["turnover"][0], 0.0)
    assert res.returns is not None
    np.testing.assert_allclose(res.returns[0], 1.04 ** (1 / 252) - 1, rtol=1e-9)


def test_turnover_of_a_drifting_fixed_mix() -> None:
    n = 21 * 12 + 1
    r = np.zeros((n, 2))
    r[:, 0] = 0.01  # asset 0 gains 1% a day, asset 1 stands still
    s = parse_strategy("fixed_mix:weights=0.5/0.5")
    res = run_backtest(r, [s], cost_bps=0.0, slippage_bps=0.0, record_weights=True)
    drift = 0.5 * 1.01 ** 21 / (0.5 * 1.01 ** 21 + 0.5)  # weight of asset 0 after a month
    trades = 12  # check dates 21, ..., 252 after the purchase at 0
    traded = trades * 2 * (drift - 0.5)
    np.testing.assert_allclose(res.metrics["turnover"][0, 0], traded / 2 / (n / YEAR),
                               rtol=1e-12)
    assert res.weights is not None
    np.testing.assert_allclose(res.weights[0, 0], 0.5, rtol=1e-15)


def test_momentum_signal_is_the_compounded_trailing_return() -> None:
    """A volatile asset alternating +3.02% / -2.98% has a positive sum of daily returns
    (+0.04% per pair) but lost 6% over the year: it is not in an uptrend, so time-series
    momentum must not hold it (the Strategy docstring: "equal weight in the assets whose
    trailing return is positive")."""
    n = 252 + 10
    r = np.zeros((n, 2))
    r[:, 0] = np.where(np.arange(n) % 2 == 0, 0.0302, -0.0298)
    r[:, 1] = 0.0002
    trailing = np.prod(1 + r[:252, 0]) - 1
    assert r[:252, 0].sum() > 0 > trailing
    s = parse_strategy("momentum:window=252:skip=0")
    res = run_backtest(r, [s], record_weights=True)
    assert res.weights is not None
    np.testing.assert_allclose(res.weights[0, 0, 0], [0.0, 0.5],
                               err_msg="momentum holds an asset whose trailing return is "
                                       f"{trailing:.1%}")


def test_momentum_skip_cannot_swallow_the_whole_window() -> None:
    """window=25, skip=21 on weekly checks: both round up to 5 periods, leaving no days to
    measure the trend on. Either the strategy is refused, or it still invests in assets
    that rise every day; silently holding cash forever is the bug."""
    try:
        s = Strategy("momentum", rebalance="weekly", window=25, skip=21)
    except DataValidationError as exc:
        assert "skip" in str(exc)
        return
    r = np.full((200, 2), 0.002)
    res = run_backtest(r, [s], record_weights=True, cost_bps=0.0, slippage_bps=0.0)
    assert res.weights is not None
    assert np.nansum(res.weights[0, 0, -1]) > 0, "momentum never invests in rising assets"


# ---------------------------------------------------------------- no look-ahead
LOOKAHEAD_GRID = [*default_grid(), *(parse_strategy(g) for g in WEEKLY_GRID)]
LOOKAHEAD_KW = {"keep_returns": 2, "record_weights": True, "cash_rate": 0.02}


@pytest.fixture(scope="module")
def unspiked() -> tuple[np.ndarray, BacktestResult]:
    r = make_returns(2, 252 + 240, seed=11)
    return r, run_backtest(r, LOOKAHEAD_GRID, **LOOKAHEAD_KW)


@pytest.mark.parametrize("offset", [105, 126, 37, 0])
def test_no_strategy_reacts_to_a_future_spike(unspiked: tuple[np.ndarray, BacktestResult],
                                              offset: int) -> None:
    r, base = unspiked
    start = required_history(LOOKAHEAD_GRID)
    assert base.start == start == 252
    # 105: a weekly and monthly check date, 126: quarterly and monthly, 0: the first
    t0 = start + offset
    spiked = r.copy()
    spiked[1, t0, 2] = 0.5
    hit = run_backtest(spiked, LOOKAHEAD_GRID, **LOOKAHEAD_KW)
    assert base.returns is not None and hit.returns is not None
    assert base.weights is not None and hit.weights is not None
    # the spiked path is untouched before the spike's day
    np.testing.assert_array_equal(hit.returns[1, :, :t0 - start],
                                  base.returns[1, :, :t0 - start])
    reacted = 0
    for j, s in enumerate(hit.strategies):
        checks = hit.check_days[str(s.step)]
        known = checks <= t0  # the spike is known only after its close
        np.testing.assert_array_equal(hit.weights[1, j, :len(checks)][known],
                                      base.weights[1, j, :len(checks)][known],
                                      err_msg=f"{s.name} reacts to day {t0} before it")
        later = ~known
        reacted += not np.allclose(hit.weights[1, j, :len(checks)][later],
                                   base.weights[1, j, :len(checks)][later])
    # the spike is large enough that the estimating strategies do react afterwards
    assert reacted >= 5
    # the other path is untouched, up to the batched solvers' stopping tolerance (they
    # stop on the largest move over the batch)
    np.testing.assert_allclose(hit.weights[0], base.weights[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(hit.returns[0], base.returns[0], rtol=0, atol=1e-8)


# ------------------------------------------------------------------------ summarize
def test_summarize_equals_numpy() -> None:
    r = make_returns(60, 160, seed=3) + 0.0005
    grid = [parse_strategy(g) for g in ("equal_weight:rebalance=weekly",
                                        "inverse_vol:window=25:rebalance=weekly",
                                        "momentum:window=20:skip=0:rebalance=weekly")]
    res = run_backtest(r, grid)
    thresholds, qs = (0.05, 0.1, 0.2), (1, 10, 50, 90, 99)
    table = summarize(res, drawdown_thresholds=thresholds, percentiles=qs)
    assert list(table["strategy"]) == res.names
    for j, name in enumerate(res.names):
        row = table.iloc[j]
        for m in METRICS:
            v = res.metrics[m][:, j]
            v = v[np.isfinite(v)]
            for q in qs:
                assert row[f"{m}_p{q}"] == pytest.approx(np.percentile(v, q), rel=1e-12,
                                                         abs=1e-15), (name, m, q)
        total = res.metrics["total_return"][:, j]
        assert row["p_loss"] == np.mean(total < 0)
        for thr in thresholds:
            assert row[f"p_drawdown_{thr}"] == np.mean(res.metrics["max_drawdown"][:, j] < -thr)
    # the thresholds split the paths, so the probabilities are not trivially 0 or 1
    assert 0 < table["p_loss"].iloc[0] < 1
    assert 0 < table["p_drawdown_0.05"].iloc[0] < 1
    assert 0 < table["p_drawdown_0.1"].iloc[0] < 1


# ------------------------------------------------------------------------ bad input
def _ew() -> list[Strategy]:
    return [parse_strategy("equal_weight")]


@pytest.mark.parametrize("value, match", [
    (np.nan, r"returns has 1 missing or infinite values \(first: path 0, day 5, asset 1\)"),
    (np.inf, r"returns has 1 missing or infinite values \(first: path 0, day 5, asset 1\)"),
    (-1.0, r"returns has values <= -100%"),
    (-1.5, r"returns has values <= -100%.*not prices"),
])
def test_bad_return_values(value: float, match: str) -> None:
    r = np.full((50, 2), 0.001)
    r[5, 1] = value
    with pytest.raises(DataValidationError, match=match):
        run_backtest(r, _ew())


@pytest.mark.parametrize("shape", [(50,), (1, 1, 50, 2)])
def test_bad_return_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(DataValidationError,
                       match=r"returns must be \(days, assets\) or \(paths, days, assets\); "
                             rf"got shape {re_tuple(shape)}"):
        run_backtest(np.zeros(shape), _ew())


def re_tuple(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


def test_too_few_days_and_too_little_history() -> None:
    with pytest.raises(DataValidationError,
                       match="100 days leave no trading days after 126 days of history"):
        run_backtest(np.zeros((100, 2)), [parse_strategy("inverse_vol:window=126")])
    with pytest.raises(DataValidationError, match="10 days leave no trading days after 9"):
        run_backtest(np.zeros((10, 2)), _ew(), start=9)
    with pytest.raises(DataValidationError,
                       match=r"start 40 leaves less history than the grid's longest window "
                             r"\(63 days\)"):
        run_backtest(np.zeros((200, 2)), [parse_strategy("inverse_vol:window=63")], start=40)
    with pytest.raises(DataValidationError, match="no strategy to backtest"):
        run_backtest(np.zeros((200, 2)), [])
    with pytest.raises(DataValidationError, match="cost_bps and slippage_bps must be >= 0"):
        run_backtest(np.zeros((200, 2)), _ew(), slippage_bps=-1.0)


@pytest.mark.parametrize("rate", [math.nan, -1.0, -2.0])
def test_bad_cash_rate_is_refused_not_turned_into_nan_metrics(rate: float) -> None:
    with pytest.raises(DataValidationError, match="cash_rate"):
        run_backtest(np.full((60, 2), 0.001), _ew(), cash_rate=rate)


def test_wrong_number_of_weights_for_the_assets() -> None:
    with pytest.raises(DataValidationError, match="2 weights for 3 assets"):
        run_backtest(np.zeros((100, 3)), [parse_strategy("fixed_mix:weights=0.6/0.4")])


@pytest.mark.parametrize("text, match", [
    ("risk_party", r"unknown strategy 'risk_party'; use one of buy_and_hold, fixed_mix"),
    ("equal_weight:colour=red", r"unknown setting 'colour'"),
    ("inverse_vol:window=abc", r"bad value for window: 'abc'"),
    ("inverse_vol:window=63.5", r"bad value for window: '63.5'"),
    ("fixed_mix:weights=0.6/x", r"bad value for weights: '0.6/x'"),
    ("equal_weight:threshold", r"'threshold' is not key=value"),
    ("fixed_mix", r"fixed_mix needs weights"),
    ("fixed_mix:weights=0.7/0.5",
     r"weights \(0.7, 0.5\) must be finite, >= 0 and sum to at most 1"),
    ("fixed_mix:weights=1.2/-0.2", r"must be finite, >= 0 and sum to at most 1"),
    ("fixed_mix:weights=nan/0.5", r"weights"),
    ("equal_weight:rebalance=daily", r"rebalance 'daily'; use one of weekly, monthly"),
    ("equal_weight:threshold=0", r"threshold 0.0 must be > 0"),
    ("inverse_vol:window=1", r"window 1 must be an int >= 2"),
    ("risk_parity:shrinkage=1.5", r"shrinkage 1.5 must be in \[0, 1\]"),
    ("momentum:window=63:skip=63", r"skip 63 leaves no signal in window 63"),
    ("equal_weight:target_vol=-0.1", r"target_vol -0.1 must be > 0"),
])
def test_bad_strategy_strings(text: str, match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        parse_strategy(text)


@pytest.mark.parametrize("text", ["inverse_vol:window=20:rebalance=weekly",
                                  "equal_weight:target_vol=0.1:window=10:rebalance=weekly",
                                  "risk_parity:window=21"])
def test_short_windows_are_valid_for_strategies_without_skip(text: str) -> None:
    """``skip`` only means something for momentum; its default (21) must not forbid a
    20-day volatility window for the other kinds."""
    s = parse_strategy(text)
    res = run_backtest(make_returns(1, 120)[0], [s], record_weights=True)
    assert res.weights is not None and np.isfinite(res.weights[0, 0, 0]).all()


def test_strategy_names_and_grid() -> None:
    grid = default_grid()
    assert len(grid) == 10 and len({s.name for s in grid}) == 10
    res = run_backtest(np.zeros((30, 2)), [parse_strategy("equal_weight")] * 2)
    assert res.names == ["equal_weight:monthly", "equal_weight:monthly#2"]


@pytest.mark.network
def test_real_prices_equal_reference_loop(tmp_path: Path) -> None:
    """Four real assets of sp500-20 over 1990-2022 (fetched, or read from the archive
    cache) equal the reference loop to 1e-9."""
    from features.datasets import fetch
    from features.returns import log_returns
    from features.store import Store

    with Store(tmp_path / "s.duckdb") as store:  # the prices as the store holds them
        store.load(fetch("sp500-20"), source="test")
        prices = store.read("prices")
    real = np.expm1(log_returns(prices).iloc[:, :4].to_numpy())[None]
    res, ref = run_both(real, SIMPLE_GRID, cost_bps=6.0, slippage_bps=4.0, cash_rate=0.03)
    assert res.n_days > 7_500
    assert_matches(res, ref, atol_w=1e-9, atol_r=1e-9)
