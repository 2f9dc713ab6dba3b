"""BG/NBD (how often customers buy, and when they stop) and Gamma-Gamma (how much they
spend per purchase), each fitted by maximum likelihood with scipy.

- BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284. While alive a
  customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after each
  repeat purchase she drops out with probability ``p ~ Beta(a, b)``.
- Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for
  Customer Base Analysis", Journal of Marketing Research 42(4), 415-430 (and Fader &
  Hardie's note "The Gamma-Gamma Model of Monetary Value", 2013). A purchase's value is
  ``Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)`` per customer, independent of how often
  she buys.

Per customer the models take the calibration summary: ``frequency`` x (repeat
purchases), ``recency`` t_x (time of the last purchase, from the first), ``T`` (time from
the first purchase to the end of calibration), in one time unit (weeks in genlift), and
``monetary`` (the average value of the repeat purchases). The log-likelihoods are the
papers' closed forms in logs (``gammaln``); the conditional expectation uses Euler's
transformation of ``2F1`` so that heavy buyers (large x) do not overflow.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaincinv, expit, gammaln, hyp2f1

from features.errors import DataValidationError, check_int, check_random_state, check_real

logger = logging.getLogger(__name__)

Array = NDArray[np.float64]
BGNBD_PARAMS = ("r", "alpha", "a", "b")
GG_PARAMS = ("p", "q", "gamma")


def _rows(mask: NDArray[np.bool_]) -> str:
    idx = np.flatnonzero(mask)[:5] + 1
    return ", ".join(map(str, idx)) + (", ..." if mask.sum() > 5 else "")


def check_summary(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
                  ) -> tuple[Array, Array, Array]:
    """The calibration summary as float arrays, or a DataValidationError naming the rows
    that no purchase history can produce."""
    x, t_x, big_t = (np.asarray(v, dtype=float).ravel() for v in (frequency, recency, T))
    if not x.size == t_x.size == big_t.size:
        raise ValueError(f"frequency, recency and T must have one value per customer; got "
                         f"{x.size}, {t_x.size} and {big_t.size}")
    if x.size == 0:
        raise DataValidationError("the customer summary has no customers", table="summary",
                                  fix="give at least one customer with a first purchase "
                                  "before the calibration end")
    checks = [
        ("frequency", ~np.isfinite(x) | (x < 0) | (x != np.round(x)),
         "repeat purchases must be whole numbers >= 0"),
        ("T", ~np.isfinite(big_t) | (big_t < 0),
         "T (first purchase to calibration end) must be >= 0"),
        ("recency", ~np.isfinite(t_x) | (t_x < 0) | (t_x > big_t),
         "recency must lie between 0 and T"),
        ("recency", (x == 0) & (t_x != 0), "a customer without repeat purchases has "
         "recency 0"),
    ]
    for column, bad, rule in checks:
        if bad.any():
            raise DataValidationError(
                f"summary.{column} has {int(bad.sum())} impossible values (rows "
                f"{_rows(bad)})", table="summary", column=column, n_rows=int(bad.sum()),
                fix=rule)
    return x, t_x, big_t


#: the box the log-parameters stay in: e^20 is far beyond any customer base's
#: parameters; a fit that reaches it says that the data cannot pin that parameter down
BOUND = 20.0


def _minimize(objective: Any, start: Array, max_iter: int, tol: float) -> Any:
    """L-BFGS-B in the box to the basin, Nelder-Mead (no gradients to go wrong) to the
    optimum, L-BFGS-B again to polish; the best of the three."""
    box = [(-BOUND, BOUND)] * start.size
    lbfgs = {"maxiter": max_iter, "ftol": tol * 1e-4, "gtol": tol}
    first = minimize(objective, start, method="L-BFGS-B", bounds=box, options=lbfgs)
    second = minimize(objective, first.x, method="Nelder-Mead", bounds=box,
                      options={"maxiter": max_iter, "maxfev": min(max_iter, 5_000),
                              "xatol": tol, "fatol": tol * 1e-2, "adaptive": True})
    third = minimize(objective, second.x, method="L-BFGS-B", bounds=box, options=lbfgs)
    return min((first, second, third), key=lambda res: res.fun)


def _at_bound(names: tuple[str, ...], theta: Array) -> list[str]:
    return [n for n, v in zip(names, theta, strict=True) if abs(v) > BOUND - 1e-3]


class BetaGeoModel:
    """BG/NBD model of repeat purchases and dropout.

    Parameters
    ----------
    max_iter : int
        Iterations for each optimiser pass.
    tol : float
        Tolerance on the log-parameters.

    Attributes
    ----------
    params_ : dict
        ``r, alpha, a, b`` after :meth:`fit` (or :meth:`from_params`).
    log_likelihood_ : float
        The summed log-likelihood at ``params_``.

    Examples
    --------
    >>> m = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> round(float(m.p_alive([2], [30.43], [38.86])[0]), 3)
    0.936
    """

    def __init__(self, *, max_iter: int = 20_000, tol: float = 1e-10) -> None:
        self.max_iter = max_iter
        self.tol = tol

    @classmethod
    def from_params(cls, *, r: float, alpha: float, a: float, b: float) -> BetaGeoModel:
        """A model with known parameters (a published fit, or a simulation's truth)."""
        model = cls()
        for name, v in zip(BGNBD_PARAMS, (r, alpha, a, b), strict=True):
            check_real("BetaGeoModel", name, v, 0.0, low_open=True)
        model.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
        model.log_likelihood_ = float("nan")
        return model

    @staticmethod
    def _ll(log_params: Array, x: Array, t_x: Array, big_t: Array) -> Array:
        r, alpha, a, b = np.exp(log_params)
        ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        ln_a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        ln_a3 = -(r + x) * np.log(alpha + big_t)
        # the dropout term exists only after a repeat purchase (x > 0)
        ln_a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
        return ln_a1 + ln_a2 + np.logaddexp(ln_a3, np.where(x > 0, ln_a4, -np.inf))

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:
        """Maximise the BG/NBD likelihood (log-parameterised) over the customers given."""
        check_int("BetaGeoModel", "max_iter", self.max_iter, 1)
        check_real("BetaGeoModel", "tol", self.tol, 0.0, low_open=True)
        x, t_x, big_t = check_summary(frequency, recency, T)
        # customers with the same (x, t_x, T) share a likelihood term: fit on the distinct ones
        rows, weight = np.unique(np.column_stack([x, t_x, big_t]), axis=0, return_counts=True)
        total = float(weight.sum())

        def objective(theta: Array) -> float:
            return float(-(weight * self._ll(theta, *rows.T)).sum() / total)

        start = np.log([1.0, max(float(np.mean(big_t)) / 10, 1e-3), 1.0, 1.0])
        res = _minimize(objective, start, self.max_iter, self.tol)
        self.params_ = dict(zip(BGNBD_PARAMS, map(float, np.exp(res.x)), strict=True))
        self.log_likelihood_ = float(-res.fun * total)
        self.n_customers_ = int(total)
        self.at_bound_ = _at_bound(BGNBD_PARAMS, res.x)
        if self.at_bound_:  # e.g. a, b -> inf: every customer has the same dropout chance
            logger.warning("BG/NBD: %s ran to the bound e^%g: the data cannot pin them down "
                           "(little heterogeneity); predictions use the bounded values",
                           ", ".join(self.at_bound_), BOUND)
        logger.info("BG/NBD fit on %d customers: %s (LL %.3f)", total, self.params_,
                    self.log_likelihood_)
        return self

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError("this BetaGeoModel is not fitted yet; call fit() first")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
                       ) -> Array:
        """Each customer's log-likelihood under ``params_``."""
        theta = np.log(np.array(self._params()))
        return self._ll(theta, *check_summary(frequency, recency, T))

    def expected_purchases(self, t: ArrayLike) -> Array:
        """E[X(t)]: repeat purchases a new customer makes in her first ``t`` time units."""
        r, alpha, a, b = self._params()
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        # Euler: (alpha/(alpha+t))^r 2F1(r, b; a+b-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1; z)
        h = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
        return np.asarray((a + b - 1) / (a - 1) * (1 - h), dtype=float)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Array:
        """P(alive at T | x, t_x, T): 1 for a customer without repeat purchases, since
        in the BG/NBD a customer can drop out only right after a repeat purchase."""
        r, alpha, a, b = self._params()
        x, t_x, big_t = check_summary(frequency, recency, T)
        log_odds = (np.log(a) - np.log(b + np.maximum(x, 1) - 1)
                    + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x)))
        return np.where(x > 0, expit(-log_odds), 1.0)

    def conditional_expected_purchases(self, t: float, frequency: ArrayLike,
                                       recency: ArrayLike, T: ArrayLike) -> Array:
        """E[Y(t) | x, t_x, T]: each customer's expected repeat purchases in the next
        ``t`` time units after T (FHL 2005, eq. 10)."""
        check_real("BetaGeoModel.conditional_expected_purchases", "t", t, 0.0)
        r, alpha, a, b = self._params()
        x, t_x, big_t = check_summary(frequency, recency, T)
        z = t / (alpha + big_t + t)
        # Euler's transformation: ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
        # = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays finite for any x
        with np.errstate(all="ignore"):
            h = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
            alive = (a + b + x - 1) / (a - 1) * (1 - h)
        bad = ~np.isfinite(alive) | (alive < 0)
        if bad.any():  # huge a (a near-homogeneous dropout chance): 2F1 over/underflows
            alive[bad] = _alive_purchases_by_quadrature(t, r, alpha, a, b, x[bad], big_t[bad])
        return np.asarray(alive * self.p_alive(x, t_x, big_t), dtype=float)


_U, _W = np.polynomial.legendre.leggauss(96)
_U, _W = (_U + 1) / 2, _W / 2


def _alive_purchases_by_quadrature(t: float, r: float, alpha: float, a: float, b: float,
                                   x: Array, big_t: Array) -> Array:
    """E[Y(t) | alive, x, T] as an integral over the dropout chance p: given alive,
    lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x), and a customer with (lambda,
    p) makes (1 - e^(-lambda p t)) / p purchases in t on average, so E = E_p[(1 -
    ((alpha+T)/(alpha+T+p t))^(r+x)) / p], taken over Beta quantiles with Gauss-Legendre
    (relative error about 1e-5 for a >= 0.5, where the closed form is the one that fails)."""
    out = np.empty(x.size)
    for xv in np.unique(x):
        idx = x == xv
        p = np.maximum(betaincinv(a, b + xv, _U), 1e-300)
        base = (alpha + big_t[idx])[:, None]
        g = -np.expm1((r + xv) * (np.log(base) - np.log(base + p[None, :] * t))) / p[None, :]
        out[idx] = g @ _W
    return out


class GammaGammaModel:
    """Gamma-Gamma model of the average value of a customer's purchases.

    Fitted on the customers with at least one repeat purchase and a positive average
    value (``monetary`` is the mean of the repeat purchases' values).

    Attributes
    ----------
    params_ : dict
        ``p, q, gamma``.
    n_customers_ : int
        Customers the fit used.
    """

    def __init__(self, *, max_iter: int = 20_000, tol: float = 1e-10) -> None:
        self.max_iter = max_iter
        self.tol = tol

    @classmethod
    def from_params(cls, *, p: float, q: float, gamma: float) -> GammaGammaModel:
        model = cls()
        for name, v in zip(GG_PARAMS, (p, q, gamma), strict=True):
            check_real("GammaGammaModel", name, v, 0.0, low_open=True)
        model.params_ = {"p": p, "q": q, "gamma": gamma}
        return model

    @staticmethod
    def _ll(log_params: Array, x: Array, m: Array) -> Array:
        p, q, g = np.exp(log_params)
        px = p * x
        return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
                + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + m * x))

    @staticmethod
    def _check(frequency: ArrayLike, monetary: ArrayLike) -> tuple[Array, Array]:
        x, m = (np.asarray(v, dtype=float).ravel() for v in (frequency, monetary))
        if x.size != m.size:
            raise ValueError(f"frequency and monetary must have one value per customer; "
                             f"got {x.size} and {m.size}")
        bad = ~np.isfinite(m) | (m < 0)
        if bad.any():
            raise DataValidationError(
                f"summary.monetary has {int(bad.sum())} negative or missing values (rows "
                f"{_rows(bad)})", table="summary", column="monetary", n_rows=int(bad.sum()),
                fix="average purchase values must be >= 0: drop refunds from the "
                "transactions first")
        return x, m

    def fit(self, frequency: ArrayLike, monetary: ArrayLike) -> GammaGammaModel:
        check_int("GammaGammaModel", "max_iter", self.max_iter, 1)
        check_real("GammaGammaModel", "tol", self.tol, 0.0, low_open=True)
        x, m = self._check(frequency, monetary)
        use = (x > 0) & (m > 0)
        if use.sum() < 3:
            raise DataValidationError(
                f"only {int(use.sum())} customers have a repeat purchase with a positive "
                "value; the Gamma-Gamma spend model needs at least 3", table="summary",
                column="monetary", fix="use a longer calibration period or more customers")
        rows, weight = np.unique(np.column_stack([x[use], m[use]]), axis=0,
                                 return_counts=True)
        total = float(weight.sum())

        def objective(theta: Array) -> float:
            return float(-(weight * self._ll(theta, *rows.T)).sum() / total)

        res = _minimize(objective, np.log([1.0, 2.0, max(float(m[use].mean()), 1e-3)]),
                        self.max_iter, self.tol)
        self.params_ = dict(zip(GG_PARAMS, map(float, np.exp(res.x)), strict=True))
        self.log_likelihood_ = float(-res.fun * total)
        self.n_customers_ = int(total)
        self.at_bound_ = _at_bound(GG_PARAMS, res.x)
        logger.info("Gamma-Gamma fit on %d customers: %s", total, self.params_)
        return self

    def expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> Array:
        """E[M | x, m_x]: the expected value of a customer's future purchases, shrunk from
        her own average toward the population mean (all of it when x = 0)."""
        if not hasattr(self, "params_"):
            raise RuntimeError("this GammaGammaModel is not fitted yet; call fit() first")
        p, q, g = (self.params_[k] for k in GG_PARAMS)
        if q <= 1:
            raise DataValidationError(
                f"the Gamma-Gamma fit has q = {q:.3f} <= 1, so the mean spend is infinite",
                table="summary", column="monetary", fix="check the amounts for outliers "
                "(a few huge orders) and drop or cap them")
        x, m = self._check(frequency, monetary)
        m = np.where(x > 0, m, 0.0)
        return np.asarray((g + m * x) * p / (p * x + q - 1), dtype=float)


def sample_bgnbd(T: ArrayLike, *, r: float, alpha: float, a: float, b: float,
                 random_state: int | np.random.Generator | None = None
                 ) -> tuple[NDArray[np.int64], Array]:
    """Simulate the BG/NBD story for customers observed for ``T`` time units after their
    first purchase; returns each one's ``(frequency, recency)``."""
    check_random_state("sample_bgnbd", random_state)
    rng = np.random.default_rng(random_state)
    big_t = np.asarray(T, dtype=float).ravel()
    n = big_t.size
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    x = np.zeros(n, dtype=np.int64)
    t_x = np.zeros(n)
    now = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        now[idx] += rng.exponential(1 / lam[idx])
        late = now[idx] > big_t[idx]
        alive[idx[late]] = False
        buy = idx[~late]
        x[buy] += 1
        t_x[buy] = now[buy]
        alive[buy[rng.random(buy.size) < drop[buy]]] = False
    return x, t_x


def sample_gamma_gamma(frequency: ArrayLike, *, p: float, q: float, gamma: float,
                       random_state: int | np.random.Generator | None = None) -> Array:
    """Simulate each customer's average purchase value over ``frequency`` purchases
    (0 where there are none)."""
    check_random_state("sample_gamma_gamma", random_state)
    rng = np.random.default_rng(random_state)
    x = np.asarray(frequency, dtype=float).ravel()
    nu = rng.gamma(q, 1 / gamma, x.size)
    # the mean of x Gamma(p, nu) values is Gamma(p x, nu x)
    safe = np.maximum(x, 1)
    return np.where(x > 0, rng.gamma(p * safe, 1 / (nu * safe)), 0.0)


__all__ = ["BGNBD_PARAMS", "GG_PARAMS", "BetaGeoModel", "GammaGammaModel", "check_summary",
           "sample_bgnbd", "sample_gamma_gamma"]
