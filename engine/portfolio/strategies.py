"""Robo-advisor strategies: target weights from a walk-forward estimation window.

Every rule maps trailing statistics of daily simple returns, batched over paths, to
long-only target weights ``(n_paths, n_assets)``; ``1 - sum(weights)`` is held in cash
(negative: borrowed, only with a leveraging volatility target). Estimates come from the
returns strictly before the rebalance day (see :mod:`engine.portfolio.backtest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from features.errors import DataValidationError

TRADING_DAYS = 252
STEPS = {"weekly": 5, "monthly": 21, "quarterly": 63}
KINDS = ("buy_and_hold", "fixed_mix", "equal_weight", "inverse_vol", "risk_parity",
         "min_variance", "mean_variance", "momentum")
NEEDS_COV = ("risk_parity", "min_variance", "mean_variance")


@dataclass(frozen=True)
class Strategy:
    """One strategy of the grid.

    Parameters
    ----------
    kind : str
        ``buy_and_hold`` (equal or ``weights`` at the start, never traded again),
        ``fixed_mix`` (``weights``, e.g. 60/40), ``equal_weight``, ``inverse_vol``,
        ``risk_parity`` (equal risk contribution), ``min_variance`` and ``mean_variance``
        (long-only, shrinkage covariance), ``momentum`` (time-series: equal weight in the
        assets whose compounded trailing return, ``sum log(1 + r)`` over the window less
        the skipped recent periods, is positive; the rest in cash).
    rebalance : {"weekly", "monthly", "quarterly"}
        Check dates every 5 / 21 / 63 trading days.
    threshold : float or None
        Trade at a check date only when some weight has drifted more than this from its
        target (tolerance-band rebalancing); None trades at every check date.
    window : int
        Estimation window in trading days, rounded up to whole check periods.
    weights : tuple of float, optional
        Fixed weights per asset for ``fixed_mix`` / ``buy_and_hold`` (sum <= 1; the rest
        is cash).
    target_vol : float or None
        Volatility-target overlay: scale the weights by ``target_vol / predicted vol``
        (annualised, from the window's covariance), capped at ``max_leverage``.
    max_leverage : float
        Cap on the sum of weights under the overlay.
    risk_aversion : float
        ``mean_variance``: maximise ``mu'w - risk_aversion / 2 * w' S w``.
    shrinkage : float
        Covariance shrinkage toward a scaled identity (and, for ``mean_variance``, of the
        means toward their cross-asset average), in [0, 1].
    skip : int
        ``momentum``: most recent trading days left out of the signal (rounded to whole
        check periods).
    name : str
        Label; default derived from the settings.
    """

    kind: str
    rebalance: str = "monthly"
    threshold: float | None = None
    window: int = 126
    weights: tuple[float, ...] | None = None
    target_vol: float | None = None
    max_leverage: float = 1.0
    risk_aversion: float = 5.0
    shrinkage: float = 0.3
    skip: int = 21
    name: str = field(default="")

    def __post_init__(self) -> None:
        bad = None
        if self.kind not in KINDS:
            bad = f"unknown strategy {self.kind!r}; use one of {', '.join(KINDS)}"
        elif self.rebalance not in STEPS:
            bad = f"rebalance {self.rebalance!r}; use one of {', '.join(STEPS)}"
        elif self.threshold is not None and not self.threshold > 0:
            bad = f"threshold {self.threshold} must be > 0 (or None)"
        elif not (isinstance(self.window, int) and self.window >= 2):
            bad = f"window {self.window} must be an int >= 2 trading days"
        elif self.target_vol is not None and not self.target_vol > 0:
            bad = f"target_vol {self.target_vol} must be > 0"
        elif not self.max_leverage > 0:
            bad = f"max_leverage {self.max_leverage} must be > 0"
        elif not 0 <= self.shrinkage <= 1:
            bad = f"shrinkage {self.shrinkage} must be in [0, 1]"
        elif not self.risk_aversion > 0:
            bad = f"risk_aversion {self.risk_aversion} must be > 0"
        elif not (isinstance(self.skip, int) and self.skip >= 0):
            bad = f"skip {self.skip} must be an int >= 0"
        elif self.kind == "momentum" and self.skip_periods >= self.periods:
            bad = (f"skip {self.skip} leaves no signal in window {self.window}: both round up "
                   f"to whole {self.rebalance} periods ({self.skip_periods} of "
                   f"{self.periods}); use a longer window or a shorter skip")
        elif self.weights is not None and (not all(np.isfinite(w) and w >= 0
                                                   for w in self.weights)
                                           or sum(self.weights) > 1 + 1e-9):
            bad = f"weights {self.weights} must be finite, >= 0 and sum to at most 1"
        elif self.kind == "fixed_mix" and self.weights is None:
            bad = "fixed_mix needs weights (one per asset, e.g. 0.6/0.4)"
        if bad:
            raise DataValidationError(f"strategy: {bad}",
                                      fix="see `genlift backtest --help` for the syntax")
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        if not self.name:
            object.__setattr__(self, "name", self._label())

    def _label(self) -> str:
        parts = [self.kind]
        if self.kind != "buy_and_hold":
            parts.append(self.rebalance)
        if self.kind in ("inverse_vol", "risk_parity", "min_variance", "mean_variance",
                         "momentum") or self.target_vol:
            parts.append(f"w{self.window}")
        if self.threshold:
            parts.append(f"band{self.threshold:g}")
        if self.weights is not None:
            parts.append("/".join(f"{w:g}" for w in self.weights))
        if self.target_vol:
            parts.append(f"tv{self.target_vol:g}")
        return ":".join(parts)

    @property
    def step(self) -> int:
        return STEPS[self.rebalance]

    @property
    def periods(self) -> int:
        """Check periods in the estimation window."""
        return -(-self.window // self.step)

    @property
    def skip_periods(self) -> int:
        return -(-self.skip // self.step) if self.skip else 0

    @property
    def needs_cov(self) -> bool:
        return self.kind in NEEDS_COV or self.target_vol is not None

    @property
    def needs_history(self) -> bool:
        return self.kind not in ("buy_and_hold", "fixed_mix", "equal_weight") or \
            self.target_vol is not None


def parse_strategy(text: str) -> Strategy:
    """``kind[:key=value...]``, e.g. ``fixed_mix:weights=0.6/0.4:threshold=0.05`` or
    ``inverse_vol:window=63:rebalance=weekly``."""
    kind, *pairs = [p.strip() for p in text.split(":")]
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise DataValidationError(f"strategy {text!r}: {pair!r} is not key=value",
                                      fix="write e.g. inverse_vol:window=63")
        known = ("weights", "window", "skip", "rebalance", "name", "threshold", "target_vol",
                 "max_leverage", "risk_aversion", "shrinkage")
        if key not in known:
            raise DataValidationError(f"strategy {text!r}: unknown setting {key!r}",
                                      fix=f"use {', '.join(known)}")
        try:
            if key == "weights":
                kwargs[key] = tuple(float(v) for v in value.split("/"))
            elif key in ("window", "skip"):
                kwargs[key] = int(value)
            elif key in ("rebalance", "name"):
                kwargs[key] = value
            else:
                kwargs[key] = float(value)
        except ValueError as exc:
            raise DataValidationError(f"strategy {text!r}: bad value for {key}: {value!r}",
                                      fix="numbers as 0.05, weights as 0.6/0.4") from exc
    return Strategy(kind, **kwargs)


DEFAULT_GRID: tuple[str, ...] = (
    "buy_and_hold", "equal_weight:rebalance=monthly", "equal_weight:rebalance=quarterly",
    "equal_weight:threshold=0.05", "inverse_vol:window=126", "risk_parity:window=126",
    "min_variance:window=252", "mean_variance:window=252", "momentum:window=252",
    "equal_weight:target_vol=0.1:window=63",
)


def default_grid() -> list[Strategy]:
    """Ten strategies a robo-advisor would compare."""
    return [parse_strategy(s) for s in DEFAULT_GRID]


def unique_names(strategies: Sequence[Strategy]) -> list[Strategy]:
    seen: dict[str, int] = {}
    out = []
    for s in strategies:
        n = seen.get(s.name, 0)
        seen[s.name] = n + 1
        out.append(s if n == 0 else replace(s, name=f"{s.name}#{n + 1}"))
    return out


# ---------------------------------------------------------------------------- weights
def _project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto {w >= 0, sum w = 1} (sort-based)."""
    n = v.shape[-1]
    u = -np.sort(-v, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    k = np.arange(1, n + 1)
    cond = u - css / k > 0
    rho = n - 1 - np.argmax(cond[..., ::-1], axis=-1)
    theta = np.take_along_axis(css, rho[..., None], axis=-1) / (rho[..., None] + 1)
    return np.maximum(v - theta, 0.0)


def shrink_cov(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    """``(1 - s) * cov + s * mean variance * I`` per path."""
    n = cov.shape[-1]
    avg = np.trace(cov, axis1=-2, axis2=-1) / n
    return (1 - shrinkage) * cov + shrinkage * avg[:, None, None] * np.eye(n)


def risk_parity(cov: np.ndarray, *, start: np.ndarray | None = None, tol: float = 1e-12,
                max_sweeps: int = 500) -> np.ndarray:
    """Equal-risk-contribution long-only weights per path: cyclical coordinate descent on
    ``min 1/2 y'Sy - sum log y / n`` (each step solves its quadratic exactly), then
    ``w = y / sum y``; from ``start`` (the previous solution) when given, each path until
    no relative change exceeds ``tol``."""
    n = cov.shape[-1]
    diag = np.maximum(np.diagonal(cov, axis1=-2, axis2=-1), 1e-18)
    if start is None:
        y = 1.0 / np.sqrt(diag) / n
    else:  # the optimum has y'Sy = 1: rescale the previous weights onto it
        y = np.maximum(start, 1e-12)
        y = y / np.sqrt(np.maximum(np.einsum("pi,pij,pj->p", y, cov, y), 1e-300))[:, None]
    b = 1.0 / n
    active = np.arange(cov.shape[0])  # paths still iterating: each stops on its own test
    for _ in range(max_sweeps):
        c, d, ya = cov[active], diag[active], y[active]
        before = ya.copy()
        for i in range(n):
            off = np.einsum("pj,pj->p", c[:, i, :], ya) - c[:, i, i] * ya[:, i]
            ya[:, i] = (-off + np.sqrt(off ** 2 + 4 * d[:, i] * b)) / (2 * d[:, i])
        y[active] = ya
        active = active[(np.abs(ya - before) / ya).max(axis=1) >= tol]
        if active.size == 0:
            break
    return y / y.sum(axis=1, keepdims=True)


def mean_variance(mu: np.ndarray, cov: np.ndarray, risk_aversion: float, *,
                  start: np.ndarray | None = None, tol: float = 1e-9,
                  max_iter: int = 2000) -> np.ndarray:
    """Long-only fully-invested ``argmax mu'w - ra/2 w'Sw`` per path.

    Accelerated projected gradient (FISTA with adaptive restarts) with step ``1 / L``,
    ``L`` the largest eigenvalue of ``ra * S`` (power iteration, padded 5%), from
    ``start`` (the previous rebalance's solution: weights move little between dates) or
    equal weights; stops when the gradient mapping (the projected step from the
    extrapolated point) is below ``tol`` for every path.
    """
    n_paths, n = mu.shape
    a = risk_aversion * cov
    v = np.ones((n_paths, n)) / np.sqrt(n)
    for _ in range(15):
        v = np.matmul(a, v[:, :, None])[:, :, 0]
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
    lip = 1.05 * np.einsum("pi,pij,pj->p", v, a, v) + 1e-18
    step = (1.0 / lip)[:, None]
    # Interior optimum first: with only "sum w = 1" the maximiser is closed-form; where it
    # has no negative weight it is also the long-only optimum (the KKT conditions hold).
    ones = np.ones((n_paths, n, 1))
    try:
        inv = np.linalg.solve(a, np.concatenate([mu[:, :, None], ones], axis=2))
        inv_mu, inv_1 = inv[:, :, 0], inv[:, :, 1]
        w_eq = inv_mu + ((1 - inv_mu.sum(axis=1)) / inv_1.sum(axis=1))[:, None] * inv_1
        interior = (w_eq >= 0).all(axis=1) & np.isfinite(w_eq).all(axis=1)
    except np.linalg.LinAlgError:  # a singular covariance somewhere: iterate everywhere
        w_eq, interior = np.full((n_paths, n), 1.0 / n), np.zeros(n_paths, bool)
    if start is None:
        w = _project_simplex(np.where(np.isfinite(w_eq), w_eq, 1.0 / n))
    else:
        w = _project_simplex(start)
    w[interior] = w_eq[interior]
    idx = np.flatnonzero(~interior)  # rows of the working set
    a_i, mu_i, step_i = a[idx], mu[idx], step[idx]
    w_i = w[idx]
    y_i, t_i = w_i.copy(), np.ones((idx.size, 1))
    alive = np.ones(idx.size, bool)  # a converged row keeps its answer (written to w)
    for _ in range(max_iter):
        if not alive.any():
            break
        if alive.mean() < 0.5:  # compact: drop converged rows from the working set
            idx, a_i, mu_i, step_i = idx[alive], a_i[alive], mu_i[alive], step_i[alive]
            w_i, y_i, t_i = w_i[alive], y_i[alive], t_i[alive]
            alive = np.ones(idx.size, bool)
        grad = mu_i - np.matmul(a_i, y_i[:, :, None])[:, :, 0]
        w_next = _project_simplex(y_i + step_i * grad)
        # Gradient mapping at y: zero exactly at the optimum (a step from the optimum
        # projects back onto it), unlike the change between two iterates.
        residual = np.abs(w_next - y_i).max(axis=1)
        # Adaptive restart (O'Donoghue & Candes): drop the momentum of a row whose step
        # went against its gradient.
        restart = ((grad * (w_next - w_i)).sum(axis=1, keepdims=True) < 0)
        t_next = (1 + np.sqrt(1 + 4 * t_i * t_i)) / 2
        momentum = np.where(restart, 0.0, (t_i - 1) / t_next)
        y_i = w_next + momentum * (w_next - w_i)
        w_i, t_i = w_next, np.where(restart, 1.0, t_next)
        done = alive & (residual < tol)
        w[idx[done]] = w_i[done]
        alive &= ~done
    w[idx[alive]] = w_i[alive]
    return w


def target_weights(strategy: Strategy, n_assets: int, stats: Mapping[str, np.ndarray]
                   ) -> np.ndarray:
    """Target weights ``(n_paths, n_assets)`` from the window statistics.

    ``stats``: ``mean`` (n_paths, A) daily mean return, ``var`` (n_paths, A), ``cov``
    (n_paths, A, A) when the strategy needs it, ``signal`` (n_paths, A) the momentum
    window's summed return, ``n_paths`` via any of them.
    """
    n_paths = next(iter(stats.values())).shape[0]
    kind = strategy.kind
    if kind in ("buy_and_hold", "fixed_mix") and strategy.weights is not None:
        if len(strategy.weights) != n_assets:
            raise DataValidationError(
                f"strategy {strategy.name}: {len(strategy.weights)} weights for {n_assets} "
                "assets", fix="give one weight per asset, in the order of the assets")
        w = np.tile(np.asarray(strategy.weights), (n_paths, 1))
    elif kind in ("buy_and_hold", "equal_weight", "fixed_mix"):
        w = np.full((n_paths, n_assets), 1.0 / n_assets)
    elif kind == "inverse_vol":
        inv = 1.0 / np.sqrt(np.maximum(stats["var"], 1e-18))
        w = inv / inv.sum(axis=1, keepdims=True)
    elif kind == "risk_parity":
        w = risk_parity(shrink_cov(stats["cov"], strategy.shrinkage),
                        start=stats.get("previous"))
    elif kind == "min_variance":
        w = mean_variance(np.zeros((n_paths, n_assets)),
                          shrink_cov(stats["cov"], strategy.shrinkage), 1.0,
                          start=stats.get("previous"))
    elif kind == "mean_variance":
        mu = stats["mean"]
        mu = (1 - strategy.shrinkage) * mu + strategy.shrinkage * mu.mean(axis=1,
                                                                         keepdims=True)
        w = mean_variance(mu, shrink_cov(stats["cov"], strategy.shrinkage),
                          strategy.risk_aversion, start=stats.get("previous"))
    else:  # momentum
        # Positive beyond rounding (1e-10 in log growth): a price back at exactly its
        # level of a window ago is flat, whatever the last bits of a sum say.
        w = (stats["signal"] > 1e-10) / n_assets
    if strategy.target_vol is not None:
        var_p = np.einsum("pi,pij,pj->p", w, stats["cov"], w) * TRADING_DAYS
        scale = strategy.target_vol / np.sqrt(np.maximum(var_p, 1e-18))
        total = w.sum(axis=1)
        cap = np.where(total > 0, strategy.max_leverage / np.maximum(total, 1e-18), 0.0)
        w = w * np.minimum(scale, cap)[:, None]
    return w


__all__ = ["DEFAULT_GRID", "KINDS", "STEPS", "TRADING_DAYS", "Strategy", "default_grid",
           "mean_variance", "parse_strategy", "risk_parity", "shrink_cov",
           "target_weights", "unique_names"]
