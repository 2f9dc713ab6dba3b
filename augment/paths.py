"""Generators of multivariate daily log-return paths of any length.

All of them fit on a **wide** frame of daily log returns (date index x asset columns, as
:func:`features.returns.log_returns` returns it) and share one sampling interface:

- :meth:`PathGenerator.sample_paths` ``(n_paths, length) -> ndarray (n_paths, length, n_assets)``
  of log returns, the natural input of backtests and of
  :func:`augment.quality_paths.path_scorecard`;
- :meth:`PathGenerator.sample` ``(n, conditions={"length": L})`` -> a **long** frame with
  columns ``path`` (0..n-1), ``step`` (0..L-1), one column per asset (log returns) and
  ``is_synthetic``; ``length`` defaults to :attr:`PathGenerator.default_length_`. It is the
  only condition key; synthetic paths carry no calendar dates.

Members: :class:`BlockBootstrap` (stationary bootstrap of whole cross-sections),
:class:`GarchT` (per-asset GARCH(1,1)-t with Gaussian-copula correlated innovations) and
:class:`PricePathGenerator` (a recurrent VAE, or the same network fine-tuned as a GAN).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from augment.base import Callback, EarlyStopping, Generator
from augment.quality_paths import fidelity_score
from augment.runtime import RandomState, autocast, make_rngs, resolve_device, torch_threads
from features.errors import DataValidationError, GenliftWarning, check_param, is_int

logger = logging.getLogger(__name__)

_RESERVED = ("path", "step", "is_synthetic")
_MAX_VALUES = 500_000_000  # n_paths x length x assets: about 4 GB of float64
#: Decays of the EWMA variances PricePathGenerator feeds back (half-lives ~3, 11, 46 days).
EWMA_DECAYS = (0.8, 0.94, 0.985)


class PathGenerator(Generator):
    """Base class of the price-path generators (``kind = "paths"``).

    Subclasses implement ``_fit_returns(X)`` on a clean ``(days, assets)`` float array,
    ``_sample_paths(n, length, rng)``, ``_path_state`` and ``_restore_path``.
    """

    kind: ClassVar[str] = "paths"
    #: Longest path one call may request (steps).
    max_length: ClassVar[int] = 100_000
    #: Fewest training days (after trimming leading missing values) a fit accepts.
    min_days: ClassVar[int] = 2

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        returns = self._clean_returns(frame)
        self.assets_ = [str(c) for c in frame.columns]
        self.n_train_days_ = int(returns.shape[0])
        self._fit_returns(returns)

    def _clean_returns(self, frame: pd.DataFrame) -> np.ndarray:
        """The frame as a float array; leading NaNs are trimmed (with a warning), any
        other missing or infinite value is a :class:`DataValidationError`."""
        name = type(self).__name__
        cols = [str(c) for c in frame.columns]
        if len(set(cols)) != len(cols) or set(cols) & set(_RESERVED):
            raise DataValidationError(
                f"{name}.fit: asset columns must be unique and not named "
                f"{', '.join(_RESERVED)}; got {cols[:10]}", table="returns",
                fix="rename the asset columns")
        bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
               or pd.api.types.is_bool_dtype(frame[c])]
        if bad:
            raise DataValidationError(
                f"returns.{bad[0]} is not numeric ({frame[bad[0]].dtype}): {name} needs "
                "daily log returns", table="returns", column=str(bad[0]),
                n_rows=len(frame), fix="pass features.returns.log_returns(prices)")
        if isinstance(frame.index, pd.DatetimeIndex) and not frame.index.is_monotonic_increasing:
            raise DataValidationError(f"{name}.fit: the date index is not sorted",
                                      table="returns", fix="call frame.sort_index() first")
        x = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(x).any():
            col = int(np.flatnonzero(np.isinf(x).any(axis=0))[0])
            rows = np.flatnonzero(np.isinf(x[:, col]))
            raise DataValidationError(
                f"returns.{cols[col]} has {len(rows)} infinite values (rows "
                f"{', '.join(str(r + 1) for r in rows[:5])}): a zero or negative price?",
                table="returns", column=cols[col], n_rows=len(rows), rows=(rows[:5] + 1).tolist(),
                fix="clean the prices before computing log returns")
        valid = ~np.isnan(x)
        first = valid.argmax(axis=0)  # every column has a value: check_frame ran before
        for j in range(x.shape[1]):
            holes = np.flatnonzero(~valid[first[j]:, j]) + first[j]
            if len(holes):
                raise DataValidationError(
                    f"returns.{cols[j]} has {len(holes)} missing values after its first "
                    f"observation (rows {', '.join(str(r + 1) for r in holes[:5])}); only "
                    "leading missing values (an asset listed later) are allowed",
                    table="returns", column=cols[j], n_rows=len(holes),
                    rows=(holes[:5] + 1).tolist(),
                    fix="fill (e.g. with 0) or drop those dates")
        start = int(first.max())
        if start:
            warnings.warn(f"{name}.fit: dropped the first {start} days, before asset "
                          f"{cols[int(first.argmax())]} starts, so that every asset has "
                          "a return on every day", GenliftWarning, stacklevel=4)
        x = x[start:]
        if x.shape[0] < self.min_days:
            raise DataValidationError(
                f"{name}.fit got {x.shape[0]} complete days of returns; it needs at least "
                f"{self.min_days}", table="returns", n_rows=x.shape[0],
                fix="pass a longer history (or a smaller window)")
        return x

    # -- sampling ------------------------------------------------------------------------
    @property
    def default_length_(self) -> int:
        """Path length of :meth:`sample` when no ``length`` condition is given."""
        return 252

    def sample_paths(self, n_paths: int, length: int | None = None, *,
                     random_state: RandomState = None) -> np.ndarray:
        """``n_paths`` paths of ``length`` daily log returns for every training asset.

        Parameters
        ----------
        n_paths : int
            Number of paths, >= 1.
        length : int, optional
            Steps per path, 1..:attr:`max_length`; defaults to :attr:`default_length_`.
        random_state : int, numpy Generator or None
            Seed of this draw; None uses the constructor's ``random_state`` (so an int
            there makes repeated calls identical, as in scikit-learn).

        Returns
        -------
        ndarray of shape (n_paths, length, n_assets), float64 log returns.
        """
        self._check_fitted()
        name = f"{type(self).__name__}.sample_paths"
        length = self.default_length_ if length is None else length
        check_param(name, "n_paths", n_paths, is_int(n_paths) and n_paths >= 1,
                    "an int in the range [1, inf)")
        check_param(name, "length", length,
                    is_int(length) and 1 <= length <= self.max_length,
                    f"an int in the range [1, {self.max_length}]")
        if int(n_paths) * int(length) * len(self.assets_) > _MAX_VALUES:
            raise ValueError(f"{name}: {n_paths} paths x {length} steps x "
                             f"{len(self.assets_)} assets exceeds {_MAX_VALUES} values; "
                             "sample in several calls")
        default: RandomState = getattr(self, "random_state", None)
        rng, _ = make_rngs(default if random_state is None else random_state)
        with torch_threads():
            return self._sample_paths(int(n_paths), int(length), rng)

    def _sample(self, n: int, conditions: dict[str, Any],
                random_state: RandomState) -> pd.DataFrame:
        unknown = sorted(set(conditions) - {"length"})
        if unknown:
            raise ValueError(f"Unknown condition key(s) {unknown} for "
                             f"{type(self).__name__}.sample: the only key is 'length'")
        paths = self.sample_paths(n, conditions.get("length"), random_state=random_state)
        n, length, d = paths.shape
        out = pd.DataFrame(paths.reshape(n * length, d), columns=self.assets_)
        out.insert(0, "step", np.tile(np.arange(length), n))
        out.insert(0, "path", np.repeat(np.arange(n), length))
        return out

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self._path_state()
        return {"assets": self.assets_, "n_train_days": self.n_train_days_, **meta}, arrays

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.assets_ = list(meta["assets"])
        self.n_train_days_ = int(meta["n_train_days"])
        self._restore_path(meta, arrays)

    # -- subclass hooks ----------------------------------------------------------------------
    def _fit_returns(self, returns: np.ndarray) -> None:
        raise NotImplementedError

    def _sample_paths(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _path_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def _restore_path(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


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
        check_param("BlockBootstrap", "mean_block", self.mean_block,
                    isinstance(self.mean_block, int | float | np.number)
                    and not isinstance(self.mean_block, bool) and self.mean_block >= 1,
                    "a float in the range [1, inf)")
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

        check_param("GarchT", "start", self.start, self.start in ("unconditional", "last"),
                    "'unconditional' or 'last'")
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


# -- the neural generator -------------------------------------------------------------------
class _PathNet(nn.Module):
    """GRU over past returns and their EWMA variances -> latent factors and t innovations.

    ``h_t = GRU(h_{t-1}, [x_{t-1}, |x_{t-1}|, log v_{t-1}])`` where ``v`` are exponentially
    weighted moving averages of ``x^2`` at the decays :data:`EWMA_DECAYS` (a GARCH-like
    memory the GRU alone learns slowly); ``(mu_t, log sd_t) = head(h_t, log v)``;
    ``x_t = mu_t + sd_t * (A z_t + e_t)`` with factor loadings ``A``. The shared latent
    ``z_t`` (prior N(0, I)) carries the cross-asset dependence, the variance feedback the
    volatility clustering and the heavy-tailed ``e_t`` (unit-variance Student-t, degrees
    of freedom per asset) the fat tails.
    """

    def __init__(self, n_assets: int, hidden: int, latent: int, df: float | None) -> None:
        super().__init__()
        self.latent = latent
        k = len(EWMA_DECAYS)
        self.register_buffer("decays", torch.tensor(EWMA_DECAYS), persistent=False)
        self.gru = nn.GRU((2 + k) * n_assets, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden + k * n_assets, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 2 * n_assets))
        self.loadings = nn.Linear(latent, n_assets, bias=False)
        # log sd = MLP + sum_k w_k log v_k: starts as an EWMA volatility model, the MLP
        # learns the corrections. w_k = sigmoid(raw_k) / (2k): sum w < 1/2 keeps the
        # variance feedback mean-reverting (1/2 would be RiskMetrics' unit root).
        self.vol_raw = nn.Parameter(torch.full((n_assets, k), math.log(0.8 / 0.2)))
        self.encoder = nn.Sequential(nn.Linear(hidden + n_assets, hidden), nn.SiLU(),
                                     nn.Linear(hidden, 2 * latent))
        init = 5.0 if df is None else float(df)
        # df = 2.05 + softplus(raw): finite variance always
        self.df_raw = nn.Parameter(torch.full((n_assets,), math.log(math.expm1(init - 2.05))),
                                   requires_grad=df is None)

    def df(self) -> torch.Tensor:
        return 2.05 + nn.functional.softplus(self.df_raw)

    @staticmethod
    def log_ewma(ewma: torch.Tensor) -> torch.Tensor:
        """(..., d, k) variances -> (..., d*k) log features."""
        return torch.log(ewma + 1e-3).flatten(-2)

    def features(self, prev: torch.Tensor, log_v: torch.Tensor) -> torch.Tensor:
        x = prev.clamp(-8.0, 8.0)  # bounds the volatility feedback: free runs cannot explode
        return torch.cat([x, x.abs(), log_v], dim=-1)

    def next_ewma(self, ewma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        decays: torch.Tensor = self.decays  # type: ignore[assignment]
        sq = x.clamp(-8.0, 8.0).square()[..., None]
        return decays * ewma + (1.0 - decays) * sq

    def heads(self, h: torch.Tensor, z: torch.Tensor, log_v: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Location ``mu + sd * (A z)`` and log scale ``log sd`` of ``x_t``. The scale
        depends on the history only: were it a function of ``z_t`` the encoder would
        explain each day's shock size by the latent, and free-running samples (iid prior
        ``z``) would lose the volatility clustering."""
        mu, log_sd = self.head(torch.cat([h, log_v], dim=-1)).chunk(2, dim=-1)
        weights = torch.sigmoid(self.vol_raw) / (2 * len(EWMA_DECAYS))
        skip = (log_v.unflatten(-1, (-1, len(EWMA_DECAYS))) * weights).sum(dim=-1)
        log_sd = (log_sd + skip).clamp(-5.0, 2.5)
        return mu + log_sd.exp() * self.loadings(z), log_sd

    def encode(self, h: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(torch.cat([h, x], dim=-1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-8.0, 4.0)


def _ewma_history(z: np.ndarray) -> np.ndarray:
    """EWMA variances known before each day (start 1 = the scaled unconditional
    variance), the same recursion as :meth:`_PathNet.next_ewma`: (days, d, k)."""
    decays = np.asarray(EWMA_DECAYS, dtype=np.float64)
    sq = np.clip(z, -8.0, 8.0).astype(np.float64) ** 2
    out = np.empty(z.shape + (len(decays),))
    v = np.ones((z.shape[1], len(decays)))
    for t in range(z.shape[0]):
        out[t] = v
        v = decays * v + (1.0 - decays) * sq[t][:, None]
    return out.astype(np.float32)


class _Critic(nn.Module):
    """A dilated-conv (TCN-like, same padding) critic over windows of ``[x, |x|]``, pooled by
    the mean and standard deviation over time."""

    def __init__(self, n_assets: int, hidden: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 2 * n_assets
        for dilation in (1, 2, 4, 8):
            layers += [nn.Conv1d(ch, hidden, 3, dilation=dilation, padding=dilation),
                       nn.LeakyReLU(0.2)]
            ch = hidden
        self.convs = nn.Sequential(*layers)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(-20.0, 20.0)
        f = self.convs(torch.cat([x, x.abs()], dim=-1).transpose(1, 2))
        return self.out(torch.cat([f.mean(dim=2), f.std(dim=2)], dim=1)).squeeze(1)


class PricePathGenerator(PathGenerator):
    """A recurrent VAE (``model="vae"``) or GAN (``model="gan"``) of daily log returns.

    One network serves both: a GRU reads the previous scaled returns and their EWMA
    variances and gives each asset's conditional mean and standard deviation ``sd_t``;
    ``x_t = mu_t + sd_t * (A z_t + e_t)`` with a per-step latent ``z_t ~ N(0, I)`` shared
    by all assets (factor loadings ``A``, started at the training correlation's principal
    factors) and a Student-t (``noise="student_t"``) or normal innovation ``e_t``. Paths
    of any length are generated by running the GRU forward on its own output (after a
    burn-in of ``window`` steps from the zero state, which is discarded).

    - ``"vae"``: a sequential VAE (VRNN-style filtering encoder ``q(z_t | h_t, x_t)``)
      trained on the ELBO of rolling training windows, teacher-forced, with ``warmup``
      leading steps that only warm up the state.
    - ``"gan"``: the same ELBO as a supervised term plus a WGAN-GP adversarial term
      (weight ``adv_weight``) whose critic is a dilated-conv network over free-running
      generated windows vs real ones, switched on after the first fifth of the epochs. The
      supervised term is TimeGAN's recipe for stable training on small budgets; a pure
      WGAN of return sequences needs far more critic steps than a CPU budget allows.

    Returns are standardized per asset (training mean and standard deviation) before
    training. The last ``validation_fraction`` of the days is held out: after every epoch
    ``n_val_paths`` paths are generated (with fixed noise) and scored by
    :func:`augment.quality_paths.fidelity_score` (daily-return quantiles, ACF of ``r`` and
    ``|r|``, leverage, cross-correlation). Early stopping and the kept weights follow this
    score, not the loss.

    Parameters
    ----------
    model : {"gan", "vae"}
    window : int
        Length of the training windows (scored steps), >= 2.
    warmup : int
        Extra leading steps per window that only warm up the recurrent state, >= 0.
    hidden : int
        GRU and MLP width.
    latent : int
        Size of the per-step latent vector.
    epochs : int
        Maximum epochs; an epoch visits windows starting every ``window // 8`` days.
    batch_size : int
    lr : float
        Adam learning rate of the generator (the critic uses the same with betas (0.5, 0.9)).
    noise : {"student_t", "normal"}
        Innovation distribution.
    df : float or None
        Degrees of freedom of the t innovations (> 2); None learns one per asset.
    adv_weight : float
        Weight of the adversarial term (``model="gan"`` only).
    n_critic : int
        Critic updates per generator update (``model="gan"`` only).
    validation_fraction : float
        Share of the (latest) training days held out for the fidelity score, in (0, 0.5].
    n_val_paths : int
        Paths generated for each validation score.
    patience : int
        Epochs without a better validation score before stopping; 0 never stops early.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    random_state : int, numpy Generator or None
    show_progress : bool
        Show a tqdm bar over epochs.
    callback : callable, optional
        ``callback(epoch, elapsed_s, metrics)`` after every epoch.

    Examples
    --------
    >>> gen = PricePathGenerator(model="vae", epochs=30, random_state=0)  # doctest: +SKIP
    >>> gen.fit(log_returns(prices).loc[:"2015"])                          # doctest: +SKIP
    >>> paths = gen.sample_paths(100, 1000)  # (100, 1000, n_assets)       # doctest: +SKIP
    """

    def __init__(self, *, model: str = "gan", window: int = 64, warmup: int = 16,
                 hidden: int = 64, latent: int = 8, epochs: int = 100, batch_size: int = 64,
                 lr: float = 2e-3, noise: str = "student_t", df: float | None = None,
                 adv_weight: float = 0.1, n_critic: int = 1,
                 validation_fraction: float = 0.15, n_val_paths: int = 64,
                 patience: int = 10, device: str = "auto", random_state: RandomState = None,
                 show_progress: bool = False, callback: Callback | None = None) -> None:
        self.model = model
        self.window = window
        self.warmup = warmup
        self.hidden = hidden
        self.latent = latent
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.noise = noise
        self.df = df
        self.adv_weight = adv_weight
        self.n_critic = n_critic
        self.validation_fraction = validation_fraction
        self.n_val_paths = n_val_paths
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress
        self.callback = callback

    @property
    def default_length_(self) -> int:
        return int(self.window)

    def _check_params(self) -> None:
        name = "PricePathGenerator"
        check_param(name, "model", self.model, self.model in ("gan", "vae"), "'gan' or 'vae'")
        for key, low in (("window", 2), ("warmup", 0), ("hidden", 1), ("latent", 1),
                         ("epochs", 1), ("batch_size", 1), ("n_critic", 1),
                         ("n_val_paths", 1), ("patience", 0)):
            value = getattr(self, key)
            check_param(name, key, value, is_int(value) and value >= low,
                        f"an int in the range [{low}, inf)")
        check_param(name, "lr", self.lr, _is_real(self.lr) and self.lr > 0,
                    "a float in the range (0, inf)")
        check_param(name, "adv_weight", self.adv_weight,
                    _is_real(self.adv_weight) and self.adv_weight >= 0,
                    "a float in the range [0, inf)")
        check_param(name, "validation_fraction", self.validation_fraction,
                    _is_real(self.validation_fraction) and 0 < self.validation_fraction <= 0.5,
                    "a float in the range (0, 0.5]")
        check_param(name, "noise", self.noise, self.noise in ("student_t", "normal"),
                    "'student_t' or 'normal'")
        check_param(name, "df", self.df, self.df is None or (_is_real(self.df) and self.df > 2.1),
                    "None or a float in the range (2.1, inf)")
        check_param(name, "callback", self.callback,
                    self.callback is None or callable(self.callback), "None or a callable")

    # -- training ----------------------------------------------------------------------------
    def _fit_returns(self, returns: np.ndarray) -> None:
        self._check_params()
        days, d = returns.shape
        n_val = max(int(round(days * self.validation_fraction)), 8)
        span = self.warmup + self.window
        if days - n_val < span + self.batch_size // 4:
            raise DataValidationError(
                f"PricePathGenerator.fit got {days} days; window + warmup = {span} and a "
                f"{self.validation_fraction:.0%} validation tail need at least "
                f"{span + self.batch_size // 4 + n_val}", table="returns", n_rows=days,
                fix="pass a longer history or lower window/warmup")
        self.device_ = resolve_device(self.device)
        rng, gen = make_rngs(self.random_state)
        self.mean_ = returns.mean(axis=0)
        sd = returns.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        z = ((returns - self.mean_) / self.scale_).astype(np.float32)
        train, val = z[:-n_val], z[-n_val:]
        # per day: the return, the previous return, the EWMA variances known before it
        prev = np.concatenate([np.zeros_like(train[:1]), train[:-1]])
        days_x = np.concatenate([train, prev, _ewma_history(train).reshape(len(train), -1)],
                                axis=1)
        windows = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(
            days_x, span, axis=0).transpose(0, 2, 1).copy())     # (n_windows, span, feats)
        self.net_ = self._build_net(d)
        _init_weights(self.net_, gen)
        with torch.no_grad():
            self.net_.loadings.weight.copy_(torch.from_numpy(_factor_loadings(train, self.latent)))
        self.net_.to(self.device_)
        net = self.net_
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        critic: _Critic | None = None
        if self.model == "gan":
            critic = _Critic(d, self.hidden)
            _init_weights(critic, gen)
            critic = critic.to(self.device_)
            opt_c = torch.optim.Adam(critic.parameters(), lr=self.lr, betas=(0.5, 0.9))
        use_fp16 = self.device_.type == "cuda" and not torch.cuda.is_bf16_supported()
        scaler = torch.amp.GradScaler(self.device_.type, enabled=use_fp16)
        val_len = min(len(val), 1024)
        val_seed = int(rng.integers(0, 2**63 - 1))
        stopper = EarlyStopping({"net": net}, self.patience)
        stride = max(1, self.window // 8)
        adv_start = self.epochs // 5
        start = time.perf_counter()
        bar = tqdm(range(self.epochs), disable=not self.show_progress,
                   desc=f"PricePathGenerator[{self.model}]")
        for epoch in bar:
            net.train()
            phase = int(rng.integers(0, min(stride, len(windows))))
            order = np.arange(phase, len(windows), stride)
            order = order[rng.permutation(len(order))]
            sums: dict[str, float] = {}
            n_batches = 0
            for b0 in range(0, len(order), self.batch_size):
                batch = windows[order[b0:b0 + self.batch_size]].to(self.device_)
                parts: dict[str, float] = {}
                if critic is not None and epoch >= adv_start:
                    for _ in range(self.n_critic):
                        fake = self._rollout(len(batch), self.window, rng, grad=False)
                        real = batch[:, self.warmup:, :d]
                        d_loss = critic(fake).mean() - critic(real).mean()
                        gp = _gradient_penalty(critic, real, fake, gen)
                        opt_c.zero_grad(set_to_none=True)
                        (d_loss + 10.0 * gp).backward()
                        opt_c.step()
                    parts["critic_loss"] = d_loss.item()
                    parts["gp"] = gp.item()
                with autocast(self.device_):
                    nll, kl = self._elbo(batch, gen)
                    loss = nll + kl
                    if critic is not None and epoch >= adv_start:
                        fake = self._rollout(len(batch), self.window, rng, grad=True)
                        g_adv = -critic(fake.float()).mean()
                        loss = loss + self.adv_weight * g_adv
                        parts["adv_loss"] = g_adv.item()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                scaler.step(opt)
                scaler.update()
                parts.update(loss=loss.item(), nll=nll.item(), kl=kl.item())
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                n_batches += 1
            score = self._validation_score(val, val_len, val_seed)
            metrics = {k: v / n_batches for k, v in sums.items()}
            metrics["val_score"] = score
            elapsed = time.perf_counter() - start
            self.history_.append({"epoch": epoch, "seconds": elapsed, **metrics})
            bar.set_postfix(loss=f"{metrics['loss']:.3f}", val=f"{score:.3f}")
            if self.callback is not None:
                self.callback(epoch, elapsed, metrics)
            if stopper.update(epoch, score):
                logger.info("PricePathGenerator: early stop at epoch %d (best %d, score %.4f)",
                            epoch, stopper.best_epoch, stopper.best)
                break
        bar.close()
        stopper.restore_best()
        net.eval()
        self.best_epoch_ = stopper.best_epoch
        self.best_score_ = float(stopper.best)

    def _build_net(self, n_assets: int) -> _PathNet:
        return _PathNet(n_assets, self.hidden, self.latent,
                        None if self.df is None else float(self.df))

    def _elbo(self, batch: torch.Tensor, gen: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced negative log-likelihood and KL, per scored value."""
        net = self.net_
        d = net.df_raw.shape[0]
        x, prev = batch[..., :d], batch[..., d:2 * d]
        log_v = net.log_ewma(batch[..., 2 * d:].unflatten(-1, (d, -1)))
        h, _ = net.gru(net.features(prev, log_v))
        h, x, log_v = h[:, self.warmup:], x[:, self.warmup:], log_v[:, self.warmup:]
        mu, logvar = net.encode(h, x)
        eps = torch.randn(mu.shape, generator=gen, device=gen.device).to(mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        loc, log_sd = net.heads(h, z, log_v)
        nll = -self._log_prob(x.float(), loc.float(), log_sd.float()).mean()
        kl = 0.5 * (mu.float() ** 2 + logvar.float().exp() - logvar.float() - 1.0)
        return nll, kl.sum(dim=-1).mean() / x.shape[-1]

    def _log_prob(self, x: torch.Tensor, loc: torch.Tensor, log_sd: torch.Tensor
                  ) -> torch.Tensor:
        if self.noise == "normal":
            return -0.5 * math.log(2 * math.pi) - log_sd - 0.5 * ((x - loc) / log_sd.exp()) ** 2
        v = self.net_.df()
        log_scale = log_sd + 0.5 * torch.log((v - 2.0) / v)  # sd -> t scale
        u = (x - loc) / log_scale.exp()
        return (torch.lgamma((v + 1) / 2) - torch.lgamma(v / 2) - 0.5 * torch.log(v * math.pi)
                - log_scale - (v + 1) / 2 * torch.log1p(u * u / v))

    def _rollout(self, n: int, length: int, rng: np.random.Generator, *, grad: bool,
                 burn_in: int | None = None) -> torch.Tensor:
        """Free-running generation of ``n`` scaled paths: tensor (n, length, d)."""
        net = self.net_
        burn = self.window if burn_in is None else burn_in
        d = net.df_raw.shape[0]
        df = net.df().detach().cpu().numpy().astype(np.float64)
        t_norm = np.sqrt((df - 2.0) / df)
        x = torch.zeros(n, d, device=self.device_)
        ewma = torch.ones(n, d, len(EWMA_DECAYS), device=self.device_)
        h: torch.Tensor | None = None
        out: list[torch.Tensor] = []
        total = burn + length
        with torch.set_grad_enabled(grad), autocast(self.device_):
            for c0 in range(0, total, 256):  # noise in chunks: memory stays bounded
                steps = min(256, total - c0)
                zs = torch.from_numpy(rng.standard_normal((steps, n, net.latent),
                                                          dtype=np.float32)).to(self.device_)
                if self.noise == "student_t":
                    e = rng.standard_t(df, size=(steps, n, d)) * t_norm
                else:
                    e = rng.standard_normal((steps, n, d))
                es = torch.from_numpy(e.astype(np.float32)).to(self.device_)
                for s in range(steps):
                    log_v = net.log_ewma(ewma)
                    o, h = net.gru(net.features(x, log_v)[:, None], h)
                    loc, log_sd = net.heads(o[:, 0], zs[s], log_v)
                    x = (loc + log_sd.exp() * es[s]).float()
                    ewma = net.next_ewma(ewma, x)
                    if c0 + s >= burn:
                        out.append(x)
        return torch.stack(out, dim=1)

    def _validation_score(self, val: np.ndarray, length: int, seed: int) -> float:
        self.net_.eval()
        paths = self._rollout(self.n_val_paths, length, np.random.default_rng(seed),
                              grad=False).cpu().numpy().astype(np.float64)
        self.net_.train()
        if not np.isfinite(paths).all():
            return -np.inf
        return fidelity_score(val.astype(np.float64), paths)

    # -- sampling and persistence ----------------------------------------------------------------
    def _sample_paths(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        self.net_.eval()
        chunks = []
        for p0 in range(0, n, 4096):  # bounded batch per forward pass
            m = min(4096, n - p0)
            chunks.append(self._rollout(m, length, rng, grad=False).cpu().numpy())
        paths = np.concatenate(chunks, axis=0).astype(np.float64)
        return paths * self.scale_ + self.mean_

    def _modules(self) -> dict[str, nn.Module]:
        return {"net": self.net_}

    def _path_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"best_epoch": self.best_epoch_, "best_score": self.best_score_},
                {"mean": self.mean_, "scale": self.scale_})

    def _restore_path(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.mean_ = arrays["mean"]
        self.scale_ = arrays["scale"]
        self.best_epoch_ = int(meta["best_epoch"])
        self.best_score_ = float(meta["best_score"])
        self.device_ = resolve_device(self.device)
        self.net_ = self._build_net(len(self.assets_)).to(self.device_)
        self.net_.eval()


def _factor_loadings(z: np.ndarray, latent: int) -> np.ndarray:
    """Loadings ``A`` (assets x latent) whose ``A z + e`` (unit ``e``) has the principal
    factor structure of the training correlation: the starting point of the latent's
    cross-asset dependence, which the ELBO otherwise finds slowly."""
    d = z.shape[1]
    corr = np.corrcoef(z, rowvar=False) if d > 1 else np.ones((1, 1))
    w, v = np.linalg.eigh(np.atleast_2d(corr))
    k = min(latent, d)
    b = np.zeros((d, latent))
    b[:, :k] = v[:, ::-1][:, :k] * np.sqrt(np.maximum(w[::-1][:k], 0.0))
    norm2 = (b**2).sum(axis=1, keepdims=True)
    b *= np.sqrt(np.minimum(norm2, 0.9) / np.maximum(norm2, 1e-12))  # keep idiosyncratic risk
    return (b / np.sqrt(1.0 - (b**2).sum(axis=1, keepdims=True))).astype(np.float32)


def _init_weights(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) initialisation, drawn from
    ``gen`` instead of the global generator (same seed -> same network)."""
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, nn.Linear | nn.Conv1d):
                fan_in = sub.weight[0].numel()
                params = [sub.weight] + ([sub.bias] if sub.bias is not None else [])
            elif isinstance(sub, nn.GRU):
                fan_in = sub.hidden_size
                params = list(sub.parameters())
            else:
                continue
            bound = 1.0 / math.sqrt(fan_in)
            for p in params:
                p.copy_(torch.rand(p.shape, generator=gen, device=gen.device) * 2 * bound
                        - bound)


def _gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                      gen: torch.Generator) -> torch.Tensor:
    """WGAN-GP: (||grad critic(mix)|| - 1)^2 on random interpolates (Gulrajani et al.)."""
    alpha = torch.rand(real.shape[0], 1, 1, generator=gen, device=gen.device).to(real.device)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and \
        not isinstance(value, bool)
