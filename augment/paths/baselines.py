"""The mandatory baselines of the price-path generators: :class:`BlockBootstrap`
(stationary bootstrap of whole cross-sections) and :class:`GarchT` (per-asset
GARCH(1,1)-t with Gaussian-copula correlated innovations)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import stats

from augment.paths.base import PathGenerator
from augment.runtime import RandomState
from features.errors import check_choice, check_real

logger = logging.getLogger(__name__)


class BlockBootstrap(PathGenerator):
    """Stationary bootstrap (Politis and Romano, 1994) of whole cross-sections.

    Paths are glued from blocks of consecutive training days with geometric lengths of
    mean ``mean_block``, starting at uniform random days and wrapping around the end.
    Every asset takes the same days, so cross-asset correlation is kept exactly; serial
    dependence is kept within blocks.

    Parameters
    ----------
    mean_block : float
        Mean block length in days, >= 1 (1 is the iid bootstrap).
    random_state : int, numpy Generator or None
        Default seed of :meth:`sample_paths`.
    """

    def __init__(self, *, mean_block: float = 20, random_state: RandomState = None) -> None:
        self.mean_block = mean_block
        self.random_state = random_state

    def _fit_returns(self, returns: np.ndarray) -> None:
        check_real("BlockBootstrap", "mean_block", self.mean_block, 1)
        self.returns_ = returns.copy()

    def _sample_paths(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        days = self.returns_.shape[0]
        new_block = rng.random((n, length)) < 1.0 / float(self.mean_block)
        new_block[:, 0] = True
        starts = rng.integers(0, days, size=(n, length))
        t = np.arange(length)
        last = np.maximum.accumulate(np.where(new_block, t, 0), axis=1)
        idx = (np.take_along_axis(starts, last, axis=1) + (t - last)) % days
        return self.returns_[idx]

    def _path_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"returns": self.returns_}

    def _restore_path(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.returns_ = arrays["returns"]


class GarchT(PathGenerator):
    """Per-asset GARCH(1,1) with Student-t innovations, correlated across assets.

    Each asset gets ``r_t = mu + sigma_t z_t``, ``sigma_t^2 = omega + alpha eps_{t-1}^2 +
    beta sigma_{t-1}^2`` with standardized t innovations, fit by maximum likelihood with
    ``arch`` (constant mean). The dependence between assets is a Gaussian copula: the
    correlation of the normal scores of the standardized residuals. Simulation draws
    correlated normals, maps them through each asset's t quantile function and runs the
    recursions forward.

    Parameters
    ----------
    start : {"unconditional", "last"}
        Start every path at the unconditional variance, or at the variance and shock of
        the last training day (a forecast-like continuation). An asset whose fit is not
        covariance-stationary (alpha + beta >= 1) starts at its sample variance.
    random_state : int, numpy Generator or None
        Default seed of :meth:`sample_paths`.
    """

    min_days = 100
    _SCALE = 100.0  # arch's optimiser is best conditioned on percent returns

    def __init__(self, *, start: str = "unconditional", random_state: RandomState = None
                 ) -> None:
        self.start = start
        self.random_state = random_state

    def _fit_returns(self, returns: np.ndarray) -> None:
        from arch import arch_model  # a heavy import, only for this baseline

        check_choice("GarchT", "start", self.start, ("unconditional", "last"))
        d = returns.shape[1]
        params = np.empty((d, 5))
        std_resid = np.empty_like(returns)
        last = np.empty((d, 2))
        for j in range(d):
            res = arch_model(returns[:, j] * self._SCALE, mean="Constant", vol="GARCH",
                             p=1, q=1, dist="t", rescale=False).fit(disp="off",
                                                                    show_warning=False)
            if res.convergence_flag != 0:
                logger.warning("GarchT: the GARCH fit of %s did not converge (flag %s)",
                               self.assets_[j], res.convergence_flag)
            p = res.params
            params[j] = [p["mu"], p["omega"], p["alpha[1]"], p["beta[1]"], p["nu"]]
            vol = np.asarray(res.conditional_volatility)
            resid = np.asarray(res.resid)
            std_resid[:, j] = resid / vol
            last[j] = [vol[-1] ** 2, resid[-1]]
        nu = params[:, 4]
        # normal scores of the standardized residuals -> Gaussian copula correlation
        u = stats.t.cdf(std_resid * np.sqrt(nu / (nu - 2.0)), nu)
        scores = stats.norm.ppf(np.clip(u, 1e-10, 1 - 1e-10))
        corr = np.corrcoef(scores, rowvar=False) if d > 1 else np.ones((1, 1))
        w, v = np.linalg.eigh(np.atleast_2d(corr))
        corr = (v * np.maximum(w, 1e-8)) @ v.T  # nearest PSD, then unit diagonal
        dsd = np.sqrt(np.diag(corr))
        self.params_ = params
        self.corr_ = corr / np.outer(dsd, dsd)
        self.last_state_ = last
        self.sample_var_ = (returns * self._SCALE).var(axis=0)

    def _sample_paths(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        mu, omega, alpha, beta, nu = self.params_.T
        d = len(mu)
        chol = np.linalg.cholesky(self.corr_ + 1e-12 * np.eye(d))
        persist = alpha + beta
        uncond = np.where(persist < 1, omega / np.maximum(1 - persist, 1e-12), self.sample_var_)
        if self.start == "last":
            var = np.broadcast_to(self.last_state_[:, 0], (n, d)).copy()
            eps = np.broadcast_to(self.last_state_[:, 1], (n, d)).copy()
            var = omega + alpha * eps**2 + beta * var
        else:
            var = np.broadcast_to(uncond, (n, d)).copy()
        out = np.empty((n, length, d))
        norm_t = np.sqrt((nu - 2.0) / nu)
        for c0 in range(0, length, 1024):  # chunks bound the innovation memory
            steps = min(1024, length - c0)
            g = rng.standard_normal((n, steps, d)) @ chol.T
            z = stats.t.ppf(stats.norm.cdf(g), nu) * norm_t
            for s in range(steps):
                eps = np.sqrt(var) * z[:, s]
                out[:, c0 + s] = mu + eps
                var = omega + alpha * eps**2 + beta * var
        return out / self._SCALE

    def _path_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"params": self.params_, "corr": self.corr_, "last_state": self.last_state_,
                    "sample_var": self.sample_var_}

    def _restore_path(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.params_ = arrays["params"]
        self.corr_ = arrays["corr"]
        self.last_state_ = arrays["last_state"]
        self.sample_var_ = arrays["sample_var"]
