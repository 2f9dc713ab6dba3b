"""genlift's synthetic development scenarios: a generator of paid development patterns
fitted across the many companies of one line ("transfer"), which simulates a company's
future paid losses.

The model is empirical Bayes on log age-to-age factors ``y[c, i, j] = log(C[i, j+1] /
C[i, j])`` of company c, accident year i, lag j:

- ``y = mu[j] + a[c, j] + noise``: a line-level pattern ``mu``, a company deviation
  ``a ~ N(0, tau[j]^2)`` (estimated across companies, shrunk toward the line where the
  company's own factors are few or noisy: the late lags rest on the line) and noise of
  scale ``sigma[j] * sqrt(s[c])`` (``s[c]``: the company's own noise level, shrunk to 1);
- the noise has a calendar-year part (a shock shared by one diagonal, share ``omega2``
  of the variance: inflation and settlement-speed changes hit every accident year at
  once) and heavy tails (Student t, ``df`` degrees of freedom);
- a spread ``kappa[j]`` per lag on every noise term, set by a **pseudo-backtest on the
  known history** of every company of the line: refit on the triangles as known
  ``holdout`` years earlier, predict the age-to-age factors that the last ``holdout``
  diagonals revealed (all known at the valuation) and scale each lag's noise so that
  the standardized one-step errors have the spread the model assumes (lags without
  enough history keep 1). Nothing after the valuation year is ever used.

Learned parameters end in ``_``; ``sample`` draws the future cumulative paid losses.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from features.errors import check_param, is_int

logger = logging.getLogger(__name__)

def log_links(known: np.ndarray) -> np.ndarray:
    """``log(C[i, j+1] / C[i, j])`` where both are known and > 0, else NaN; (n, n-1)."""
    with np.errstate(all="ignore"):
        a, b = known[:, :-1], known[:, 1:]
        ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        return np.where(ok, np.log(np.where(ok, b, 1.0) / np.where(ok, a, 1.0)), np.nan)


def truncate(known: np.ndarray, years_back: int) -> np.ndarray:
    """The triangle as known ``years_back`` calendar years earlier."""
    n = known.shape[0]
    i, j = np.indices(known.shape)
    return np.where(i + j <= n - 1 - years_back, known, np.nan)


def _trimmed_mean(x: np.ndarray, w: np.ndarray, trim: float = 0.1) -> float:
    """The weighted mean of ``x`` without its lowest and highest ``trim`` (by weight)."""
    ok = np.isfinite(x)
    x, w = x[ok], w[ok]
    if not x.size:
        return 0.0
    order = np.argsort(x)
    x, w = x[order], w[order]
    cw = np.cumsum(w) / w.sum()
    keep = (cw > trim) & (cw - w / w.sum() < 1 - trim)
    return float(np.average(x[keep], weights=w[keep])) if keep.any() else float(np.median(x))


def _t_clipped_sd(df: float, clip: float = 4.0) -> float:
    """The sd of unit-variance Student-t noise clipped at +-clip (exact, by quadrature)."""
    if not np.isfinite(df):
        dist: Any = stats.norm()
    else:
        dist = stats.t(df, scale=np.sqrt((df - 2) / df))
    inner = dist.expect(lambda x: x * x, lb=-clip, ub=clip)
    return float(np.sqrt(inner + 2 * clip * clip * dist.sf(clip)))


class DevelopmentScenarios:
    """Synthetic paid development scenarios for one line, fitted across its companies.

    Parameters
    ----------
    n_scenarios : int
        Scenarios drawn by :meth:`sample` when ``n`` is not given.
    df : float
        Degrees of freedom of the Student-t noise (heavy tails); ``inf`` for normal.
    prior_weight : float
        Pseudo-observations pulling a company's noise level toward the line's.
    holdout : int
        Diagonals of the known history the pseudo-backtest predicts to set ``kappa_``
        (0: ``kappa_ = 1``, no calibration).
    random_state : int, Generator or None
        The default seed of :meth:`sample`.

    Examples
    --------
    >>> gen = DevelopmentScenarios(random_state=0).fit(known_triangles)  # doctest: +SKIP
    >>> paths = gen.sample(one_known_triangle, 1000)  # (1000, n, n) cumulative paid
    """

    def __init__(self, *, n_scenarios: int = 2000, df: float = 5.0,
                 prior_weight: float = 5.0, holdout: int = 3,
                 random_state: int | np.random.Generator | None = None) -> None:
        self.n_scenarios = n_scenarios
        self.df = df
        self.prior_weight = prior_weight
        self.holdout = holdout
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------
    def _check(self) -> None:
        owner = type(self).__name__
        check_param(owner, "n_scenarios", self.n_scenarios,
                    is_int(self.n_scenarios) and self.n_scenarios >= 1,
                    "an int in the range [1, inf)")
        check_param(owner, "df", self.df, isinstance(self.df, int | float) and self.df > 2,
                    "a float in the range (2, inf]")
        check_param(owner, "prior_weight", self.prior_weight,
                    isinstance(self.prior_weight, int | float) and self.prior_weight >= 0,
                    "a float in the range [0, inf)")
        check_param(owner, "holdout", self.holdout,
                    is_int(self.holdout) and 0 <= self.holdout <= 5, "an int in [0, 5]")

    @staticmethod
    def _line_params(triangles: Sequence[np.ndarray], prior_weight: float) -> dict[str, Any]:
        with warnings.catch_warnings():  # lags no company has reached yet are all-NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return DevelopmentScenarios._line_params_(triangles, prior_weight)

    @staticmethod
    def _line_params_(triangles: Sequence[np.ndarray], prior_weight: float
                      ) -> dict[str, Any]:
        ys = np.stack([log_links(t) for t in triangles])  # (C, n, n-1)
        n_lags = ys.shape[2]
        # trim the extreme factors of the line (restated or tiny triangles), per lag
        lo = np.nanquantile(ys, 0.01, axis=(0, 1)) if np.isfinite(ys).any() else None
        hi = np.nanquantile(ys, 0.99, axis=(0, 1)) if lo is not None else None
        if lo is not None and hi is not None:
            ys = np.clip(ys, lo[None, None, :], hi[None, None, :])
        cnt = np.isfinite(ys).sum(axis=1)  # (C, lags)
        with np.errstate(all="ignore"):
            m = np.nanmean(ys, axis=1)  # company means (C, lags)
            resid = ys - m[:, None, :]
        # bigger books weigh more: tiny ones often show no development at all (factor 1)
        size = np.array([np.nansum(np.clip(t[:, 0], 0, None)) for t in triangles])
        weight = np.sqrt(np.maximum(size, 1.0))
        mu = np.zeros(n_lags)
        sigma2 = np.zeros(n_lags)
        for j in range(n_lags):
            have = cnt[:, j] >= 1
            mu[j] = _trimmed_mean(m[have, j], weight[have])
            dof = np.clip(cnt[:, j] - 1, 0, None).sum()
            ss = np.nansum(resid[:, :, j] ** 2)
            sigma2[j] = ss / dof if dof > 0 else 0.0
        floor = 1e-8 + 1e-4 * np.nanmax(sigma2) if np.isfinite(sigma2).any() else 1e-8
        sigma2 = np.maximum(np.nan_to_num(sigma2), floor)
        # the company's own noise level, shrunk toward the line's (s = 1)
        z2 = resid ** 2 / sigma2[None, None, :]
        dofc = np.clip(cnt - 1, 0, None).sum(axis=1)
        s = (prior_weight + np.nansum(z2, axis=(1, 2))) / (prior_weight + dofc)
        s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
        tau2 = np.zeros(n_lags)
        for j in range(n_lags):
            have = cnt[:, j] >= 1
            if have.sum() < 3:
                tau2[j] = sigma2[j]
                continue
            within = np.average(sigma2[j] * s[have] / cnt[have, j], weights=weight[have])
            spread = _trimmed_mean((m[have, j] - mu[j]) ** 2, weight[have])
            tau2[j] = max(spread - within, 0.05 * sigma2[j])
        # calendar-year share omega2: the correlation of two standardized factors on the
        # same diagonal of one company. A residual about the mean of k factors has
        # variance (k-1)/k: that is undone, and lags with one factor (a residual of 0 by
        # construction) are left out; each company's residuals are scaled to unit RMS.
        unbias = np.sqrt(cnt / np.maximum(cnt - 1, 1))[:, None, :]
        z = np.where((cnt >= 2)[:, None, :], resid * unbias / np.sqrt(sigma2)[None, None, :],
                     np.nan)
        rms = np.sqrt(np.nanmean(z ** 2, axis=(1, 2)))
        z = z / np.where(np.isfinite(rms) & (rms > 0), rms, 1.0)[:, None, None]
        n = ys.shape[1]
        num = den = 0.0
        for d in range(n):
            cells = [(i, d - i) for i in range(n) if 0 <= d - i < n_lags]
            if len(cells) < 2:
                continue
            zi = np.stack([z[:, i, j] for i, j in cells], axis=1)
            k = np.isfinite(zi).sum(axis=1)
            total, squares = np.nansum(zi, axis=1), np.nansum(zi ** 2, axis=1)
            num += float(np.sum(total ** 2 - squares))  # twice the sum over pairs
            den += float(np.sum(k * (k - 1)))
        omega2 = float(np.clip(num / den, 0.0, 0.8)) if den > 0 else 0.0
        return {"mu": mu, "sigma2": sigma2, "tau2": tau2, "omega2": omega2,
                "trim": (lo, hi), "count": cnt.sum(axis=0)}

    def fit(self, triangles: Sequence[np.ndarray]) -> DevelopmentScenarios:
        """Fit the line's development pattern on the known (upper-left) triangles of its
        companies, each an (n, n) array of cumulative paid with NaN after the valuation."""
        self._check()
        tris = [np.asarray(t, dtype=float) for t in triangles]
        if len(tris) < 3:
            raise ValueError(f"DevelopmentScenarios needs the triangles of at least 3 "
                             f"companies of the line, got {len(tris)}")
        n = tris[0].shape[0]
        if any(t.shape != (n, n) for t in tris) or n < 3:
            raise ValueError("DevelopmentScenarios needs square triangles of one size "
                             ">= 3 x 3")
        self.n_ = n
        self.n_companies_ = len(tris)
        self.kappa_ = np.ones(n - 1)
        self.calibration_: dict[str, Any] = {}
        if self.holdout > 0 and n - self.holdout >= 3:
            self._calibrate([truncate(t, self.holdout) for t in tris], tris)
        params = self._line_params(tris, self.prior_weight)
        self.mu_ = params["mu"]
        self.sigma2_ = params["sigma2"]
        self.tau2_ = params["tau2"]
        self.omega2_ = params["omega2"]
        self.trim_ = params["trim"]
        return self

    def _calibrate(self, past: list[np.ndarray], now: list[np.ndarray]) -> None:
        """Per lag j, ``kappa[j]`` = the robust spread of the one-step-ahead standardized
        errors of the factors that the last ``holdout`` diagonals revealed, predicted
        from the triangles as known ``holdout`` years earlier (t-noise's MAD matched)."""
        params = self._line_params(past, self.prior_weight)
        n, h = self.n_, self.holdout
        errors: list[list[float]] = [[] for _ in range(n - 1)]
        for p, k in zip(past, now, strict=True):
            post, pvar, s = self._company(p, params)
            sd = np.sqrt(pvar + params["sigma2"] * s)
            y = log_links(k)
            lo, hi = params["trim"]
            if lo is not None and hi is not None:
                y = np.clip(y, lo[None, :], hi[None, :])
            for i in range(n):
                for j in range(n - 1):
                    if n - 1 - h < i + j + 1 <= n - 1 and np.isfinite(y[i, j]):
                        errors[j].append(float((y[i, j] - post[j]) / sd[j]))
        ref = _t_clipped_sd(self.df)
        kappa = np.ones(n - 1)
        counts = []
        for j, e in enumerate(errors):
            arr = np.asarray(e)
            counts.append(int(arr.size))
            if arr.size >= 10 and params["count"][j] >= 20:
                # clipped at 4: one restated triangle must not set the line's spread
                rms = float(np.sqrt(np.mean(np.clip(arr, -4, 4) ** 2)))
                kappa[j] = float(np.clip(rms / ref, 0.5, 4.0))
        self.kappa_ = kappa
        self.calibration_ = {"kappa_by_lag": kappa.tolist(), "errors_by_lag": counts,
                             "holdout": h, "companies": len(past)}
        logger.info("pseudo-backtest over %d companies: kappa by lag %s", len(past),
                    np.round(kappa, 2).tolist())

    # -- simulation ---------------------------------------------------------------------
    def _noise(self, rng: np.random.Generator, n_sims: int, n: int) -> dict[str, np.ndarray]:
        def t(shape: tuple[int, ...]) -> np.ndarray:
            if not np.isfinite(self.df):
                return rng.standard_normal(shape)
            return rng.standard_t(self.df, shape) * np.sqrt((self.df - 2) / self.df)
        return {"param": rng.standard_normal((n_sims, n - 1)), "diag": t((n_sims, 2 * n)),
                "cell": t((n_sims, n, n - 1))}

    def _company(self, known: np.ndarray, params: dict[str, Any]
                 ) -> tuple[np.ndarray, np.ndarray, float]:
        """The company's posterior mean log factors, their variances and noise level."""
        y = log_links(known)
        lo, hi = params["trim"]
        if lo is not None and hi is not None:
            y = np.clip(y, lo[None, :], hi[None, :])
        cnt = np.isfinite(y).sum(axis=0)
        sigma2, tau2, mu = params["sigma2"], params["tau2"], params["mu"]
        with np.errstate(all="ignore"):
            m = np.where(cnt > 0, np.nansum(y, axis=0) / np.maximum(cnt, 1), mu)
            resid2 = np.nansum((y - m[None, :]) ** 2 / sigma2[None, :])
        dof = np.clip(cnt - 1, 0, None).sum()
        s = (self.prior_weight + resid2) / (self.prior_weight + dof)
        s = float(s) if np.isfinite(s) and s > 0 else 1.0
        omega2 = params["omega2"]
        n_eff = cnt / (1.0 + omega2 * np.maximum(cnt - 1, 0))
        prec = 1.0 / tau2 + n_eff / (sigma2 * s)
        post = (mu / tau2 + n_eff * m / (sigma2 * s)) / prec
        return post, 1.0 / prec, s

    def _paths(self, known: np.ndarray, params: dict[str, Any], z: dict[str, np.ndarray],
               kappa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log cumulative paid per scenario as ``base + dev`` (n_sims, n, n), the noise of
        lag j scaled by ``kappa[j]``:
        known cells as given, later ones developed from the last known value (a
        non-positive last value stays as it is)."""
        n = known.shape[0]
        post, pvar, s = self._company(known, params)
        omega2 = params["omega2"]
        sd = np.sqrt(params["sigma2"] * s)
        n_sims = z["param"].shape[0]
        base = np.zeros((n_sims, n, n))
        dev = np.zeros((n_sims, n, n))
        param_dev = z["param"] * np.sqrt(pvar)[None, :]
        with np.errstate(all="ignore"):
            for i in range(n):
                known_lags = np.flatnonzero(np.isfinite(known[i]))
                last = int(known_lags.max()) if known_lags.size else -1
                if last < 0:
                    base[:, i, :] = -np.inf
                    continue
                v = known[i, :last + 1]
                base[:, i, :last + 1] = np.log(np.where(v > 0, v, np.nan))
                start = known[i, last]
                growing = start > 0
                acc_b = np.log(start) if growing else np.log(max(start, 0.0))
                acc_d = np.zeros(n_sims)
                for j in range(last, n - 1):
                    if growing:
                        cy = z["diag"][:, i + j]
                        cell = (np.sqrt(omega2) * cy
                                + np.sqrt(1.0 - omega2) * z["cell"][:, i, j])
                        acc_b = acc_b + post[j]
                        acc_d = acc_d + kappa[j] * (param_dev[:, j] + sd[j] * cell)
                    base[:, i, j + 1] = acc_b
                    dev[:, i, j + 1] = acc_d
        return base, dev

    def sample(self, known: np.ndarray, n: int | None = None, *,
               random_state: int | np.random.Generator | None = None) -> np.ndarray:
        """``n`` scenarios of the company's cumulative paid losses, (n, years, lags): the
        known cells as given, the later ones simulated from the line's fitted pattern."""
        known = np.asarray(known, dtype=float)
        if known.shape != (self.n_, self.n_):
            raise ValueError(f"DevelopmentScenarios was fitted on {self.n_} x {self.n_} "
                             f"triangles, got {known.shape}")
        n_sims = self.n_scenarios if n is None else int(n)
        rng = np.random.default_rng(self.random_state if random_state is None
                                    else random_state)
        params = {"mu": self.mu_, "sigma2": self.sigma2_, "tau2": self.tau2_,
                  "omega2": self.omega2_, "trim": self.trim_}
        base, dev = self._paths(known, params, self._noise(rng, n_sims, self.n_), self.kappa_)
        with np.errstate(all="ignore"):
            out = np.exp(base + dev)
        # cells that cannot grow (a non-positive last value) keep that value
        for i in range(self.n_):
            lags = np.flatnonzero(np.isfinite(known[i]))
            if lags.size and known[i, lags.max()] <= 0:
                out[:, i, lags.max():] = known[i, lags.max()]
            out[:, i, lags] = known[i, lags]
        return out
