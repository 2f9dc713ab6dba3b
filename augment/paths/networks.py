"""The networks of :class:`~augment.paths.neural.PricePathGenerator` (modules and the
tensor/array helpers they need; fitting and sampling are in augment/paths/neural.py)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

#: Decays of the EWMA variances PricePathGenerator feeds back (half-lives ~3, 11, 46 days).
EWMA_DECAYS = (0.8, 0.94, 0.985)


class PathNet(nn.Module):
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


def ewma_history(z: np.ndarray) -> np.ndarray:
    """EWMA variances known before each day (start 1 = the scaled unconditional
    variance), the same recursion as :meth:`PathNet.next_ewma`: (days, d, k)."""
    decays = np.asarray(EWMA_DECAYS, dtype=np.float64)
    sq = np.clip(z, -8.0, 8.0).astype(np.float64) ** 2
    out = np.empty(z.shape + (len(decays),))
    v = np.ones((z.shape[1], len(decays)))
    for t in range(z.shape[0]):
        out[t] = v
        v = decays * v + (1.0 - decays) * sq[t][:, None]
    return out.astype(np.float32)


class Critic(nn.Module):
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


def factor_loadings(z: np.ndarray, latent: int) -> np.ndarray:
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


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                      gen: torch.Generator) -> torch.Tensor:
    """WGAN-GP: (||grad critic(mix)|| - 1)^2 on random interpolates (Gulrajani et al.)."""
    alpha = torch.rand(real.shape[0], 1, 1, generator=gen, device=gen.device).to(real.device)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
