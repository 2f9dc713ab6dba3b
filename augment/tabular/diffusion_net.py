"""The noise schedule, the reverse-process steps and the denoising network of
:class:`~augment.tabular.diffusion.TabularDiffusion` (modules and tensor maths only:
fitting and sampling are in augment/tabular/diffusion.py).

Continuous columns (the encoder's normal scores) diffuse with Gaussian noise (DDPM),
categorical codes with multinomial noise (Hoogeboom et al. 2021, as in TabDDPM): column
``j`` with ``k`` categories is kept with probability ``alpha_bar[t]`` and otherwise drawn
uniformly, ``q(x_t | x_0) = Cat(alpha_bar[t] x_0 + (1 - alpha_bar[t]) / k)``. Both share
one ``alpha_bar`` schedule over ``timesteps`` training steps; sampling may take a strided
subset of them (``respaced``), and every step is the exact posterior of the strided pair.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from augment.tabular.networks import CatEmbedding

SCHEDULES = ("cosine", "linear")
X0_CLIP = 5.0  # |normal score| of the encoder is at most ndtri(1 - 1e-6) = 4.75


def alpha_bars(timesteps: int, schedule: str) -> np.ndarray:
    """``alpha_bar[0..T]`` (``alpha_bar[0] = 1``: step 0 is the clean data).

    ``cosine``: Nichol & Dhariwal (2021), betas capped at 0.999 (TabDDPM's default);
    ``linear``: Ho et al. (2020)'s betas 1e-4..0.02, rescaled to ``timesteps`` steps.
    """
    steps = np.arange(timesteps + 1, dtype=np.float64)
    if schedule == "cosine":
        f = np.cos((steps / timesteps + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    else:
        scale = 1000.0 / timesteps
        betas = np.linspace(scale * 1e-4, min(scale * 0.02, 0.999), timesteps)
    return np.concatenate([[1.0], np.cumprod(1.0 - betas)])


def respaced(timesteps: int, steps: int) -> list[tuple[int, int]]:
    """The ``(t, s)`` pairs of a reverse process in ``steps`` strides, from ``timesteps``
    down to 0 (``s < t``; all ``timesteps`` single steps when ``steps >= timesteps``)."""
    grid = np.unique(np.round(np.linspace(0, timesteps, min(steps, timesteps) + 1)))
    grid = grid.astype(int).tolist()
    return [(grid[i], grid[i - 1]) for i in range(len(grid) - 1, 0, -1)]


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps ``t`` (shape ``(n,)``) -> ``(n, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device,
                                                        dtype=torch.float32) / max(half, 1))
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim - 2 * half))


class Denoiser(nn.Module):
    """TabDDPM's MLP denoiser, conditional: the noisy row (normal scores and the one-hot
    of the noisy categories) projected to ``dim_t``, plus the embedded step and the
    embedded condition, through SiLU layers of widths ``hidden`` to the predicted noise
    of the continuous columns and the x_0 logits of the categorical ones (in
    :class:`~augment.tabular.networks.CatLayout` order)."""

    def __init__(self, n_cont: int, cards: list[int], dim_t: int, hidden: tuple[int, ...]):
        super().__init__()
        self.dim_t = dim_t
        self.proj = nn.Linear(max(1, n_cont + sum(cards)), dim_t)
        self.time = nn.Sequential(nn.Linear(dim_t, dim_t), nn.SiLU(), nn.Linear(dim_t, dim_t))
        self.cond = CatEmbedding(cards, extra=1)
        self.cond_proj = nn.Linear(self.cond.dim, dim_t) if cards else None
        layers: list[nn.Module] = []
        d = dim_t
        for h in hidden:
            layers += [nn.Linear(d, h), nn.SiLU()]
            d = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(d, n_cont + sum(cards))

    def cond_context(self, cond: torch.Tensor) -> torch.Tensor:
        """The embedded condition, ``(n, dim_t)`` (zeros without categorical columns)."""
        if self.cond_proj is None:
            return cond.new_zeros((len(cond), self.dim_t), dtype=torch.float32)
        return self.cond_proj(self.cond(cond))

    def time_context(self, t: torch.Tensor) -> torch.Tensor:
        """The embedded steps, ``(len(t), dim_t)``."""
        return self.time(timestep_embedding(t, self.dim_t))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 0:
            x = x.new_zeros((len(x), 1))
        return self.head(self.body(self.proj(x) + context))


def gaussian_step(x: torch.Tensor, eps: torch.Tensor, ab_t: float, ab_s: float,
                  noise: torch.Tensor | None) -> torch.Tensor:
    """One reverse step ``t -> s`` of the continuous part: the posterior
    ``q(x_s | x_t, x_0)`` at the x_0 the predicted noise implies (clipped to the normal
    scores' range), sampled with ``noise`` (its mean when None, the last step)."""
    x0 = ((x - math.sqrt(1.0 - ab_t) * eps) / math.sqrt(ab_t)).clamp(-X0_CLIP, X0_CLIP)
    if noise is None:
        return x0
    a_ts = ab_t / ab_s
    c0 = math.sqrt(ab_s) * (1.0 - a_ts) / (1.0 - ab_t)
    ct = math.sqrt(a_ts) * (1.0 - ab_s) / (1.0 - ab_t)
    var = (1.0 - a_ts) * (1.0 - ab_s) / (1.0 - ab_t)
    return c0 * x0 + ct * x + math.sqrt(var) * noise


def log_q_t(one_hot: torch.Tensor, inv_k: torch.Tensor, ab_t: torch.Tensor) -> torch.Tensor:
    """``log q(x_t | x_0 = c)`` for every category ``c``, in the flat layout of
    ``one_hot`` (x_t's one-hot); ``inv_k`` is ``1 / k`` of each position's column and
    ``ab_t`` ``(n, 1)`` the rows' ``alpha_bar``."""
    return torch.log(ab_t * one_hot + (1.0 - ab_t) * inv_k)


def multinomial_step(codes: torch.Tensor, logits: torch.Tensor, ab_t: float, ab_s: float,
                     u: torch.Tensor) -> torch.Tensor:
    """One reverse step ``t -> s`` of ``c`` categorical columns with ``k`` categories.

    ``codes`` ``(n, c)`` are x_t, ``logits`` ``(n, c, k)`` the network's output ``f`` and
    ``u`` ``(n, c, 1)`` uniforms. The network's x_0 posterior is
    ``p(x_0 = c | x_t) ~ exp(f_c) q(x_t | x_0 = c)`` (training scores it so: the
    likelihood of x_t is built in, and the network need not learn to copy x_t at small
    ``t``), so the exact reverse step
    ``p(x_s = j | x_t) = sum_c q(x_s = j | x_t, x_0 = c) p(x_0 = c | x_t)`` is
    ``~ q(x_t | x_s = j) * (alpha_bar_s softmax(f)_j + (1 - alpha_bar_s) / k)``: the
    plug-in posterior of Hoogeboom et al. (2021), exact under this parameterisation.
    """
    k = logits.shape[-1]
    logits = logits.float()
    e = (logits - logits.amax(dim=-1, keepdim=True)).exp()  # softmax(f) * e.sum(): torch's
    m = ab_s * e + (1.0 - ab_s) / k * e.sum(dim=-1, keepdim=True)  # softmax is slow on small k
    a_ts = ab_t / ab_s
    probs = (a_ts * F.one_hot(codes, k).float() + (1.0 - a_ts) / k) * m
    cum = probs.cumsum(dim=-1)
    return (cum < u * cum[..., -1:]).sum(dim=-1).clamp_max(k - 1)
