"""The network of :class:`~augment.sales.generator.SalesWindowGenerator` (the module and
its initialisation; fitting and sampling are in augment/sales/generator.py)."""

from __future__ import annotations

import math

import torch
from torch import nn

from augment.runtime import init_weights
from augment.sales.data import COVARIATES


class SalesNet(nn.Module):
    """GRU over ``[y_{t-1}, first-step flag, covariates_t, z]`` started from the series
    context; a head over ``[h_t, covariates_t, context, z]`` gives the Student-t location
    and log scale of the standardized deviation ``y_t - level``."""

    def __init__(self, n_stores: int, n_items: int, hidden: int, latent: int,
                 df: float | None, dims: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.latent = latent
        n_cov = len(COVARIATES)
        # embedding sizes: min(8, count), or a warm start's source's (more stores then)
        store_dim, item_dim = dims or (min(8, n_stores), min(8, n_items))
        self.store_emb = nn.Embedding(n_stores, store_dim)
        self.item_emb = nn.Embedding(n_items, item_dim)
        ctx = store_dim + item_dim + 2
        self.h0 = nn.Linear(ctx, hidden)
        self.gru = nn.GRU(2 + n_cov + latent, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden + n_cov + ctx + latent, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 2))
        if latent:
            self.enc_step = nn.Sequential(nn.Linear(1 + n_cov, hidden), nn.SiLU())
            self.enc_out = nn.Linear(hidden + ctx, 2 * latent)
        init = 5.0 if df is None else float(df)
        # df = 2.05 + softplus(raw): finite variance always
        self.df_raw = nn.Parameter(torch.tensor(math.log(math.expm1(init - 2.05))),
                                   requires_grad=df is None)

    def df(self) -> torch.Tensor:
        return 2.05 + nn.functional.softplus(self.df_raw)

    def context(self, ctx: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        store, item, num = ctx
        return torch.cat([self.store_emb(store), self.item_emb(item), num], dim=-1)

    def _head(self, h: torch.Tensor, cov: torch.Tensor, c: torch.Tensor, z: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        loc, log_scale = self.head(torch.cat([h, cov, c, z], dim=-1)).unbind(-1)
        return loc, log_scale.clamp(-5.0, 3.0)

    def elbo(self, ys: torch.Tensor, cov: torch.Tensor,
             ctx: tuple[torch.Tensor, torch.Tensor, torch.Tensor], gen: torch.Generator
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced negative log-likelihood per step and KL per step."""
        b, length = ys.shape
        c = self.context(ctx)
        kl = ys.new_zeros(())
        if self.latent:
            e = self.enc_step(torch.cat([ys[..., None], cov], dim=-1)).mean(dim=1)
            mu, logvar = self.enc_out(torch.cat([e, c], dim=-1)).chunk(2, dim=-1)
            logvar = logvar.clamp(-8.0, 4.0)
            eps = torch.randn(mu.shape, generator=gen, device=gen.device).to(mu.device)
            z = mu + torch.exp(0.5 * logvar) * eps
            kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1.0).sum(dim=-1).mean() / length
        else:
            z = ys.new_zeros(b, 0)
        prev = torch.cat([ys.new_zeros(b, 1), ys[:, :-1]], dim=1)
        first = torch.zeros_like(ys)
        first[:, 0] = 1.0
        zs = z[:, None].expand(b, length, z.shape[-1])
        inp = torch.cat([prev[..., None], first[..., None], cov, zs], dim=-1)
        h, _ = self.gru(inp, torch.tanh(self.h0(c))[None])
        cs = c[:, None].expand(b, length, c.shape[-1])
        loc, log_scale = self._head(h, cov, cs, zs)
        return -t_log_prob(ys.float(), loc.float(), log_scale.float(), self.df()).mean(), kl

    def rollout(self, cov: torch.Tensor, ctx: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                z: torch.Tensor, e: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
                ) -> torch.Tensor:
        """Free-running generation with unit-t noise ``e`` (n, L); ``y`` stays in [lo, hi]."""
        n, length, _ = cov.shape
        c = self.context(ctx)
        h = torch.tanh(self.h0(c))[None]
        prev = cov.new_zeros(n, 1)
        first = cov.new_ones(n, 1)
        out = []
        for t in range(length):
            o, h = self.gru(torch.cat([prev, first, cov[:, t], z], dim=-1)[:, None], h)
            loc, log_scale = self._head(o[:, 0], cov[:, t], c, z)
            y = torch.minimum(torch.maximum(loc + log_scale.exp() * e[:, t], lo), hi)
            out.append(y)
            prev, first = y[:, None].float(), torch.zeros_like(first)
        return torch.stack(out, dim=1)


def t_log_prob(x: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor,
                v: torch.Tensor) -> torch.Tensor:
    u = (x - loc) / log_scale.exp()
    return (torch.lgamma((v + 1) / 2) - torch.lgamma(v / 2) - 0.5 * torch.log(v * math.pi)
            - log_scale - (v + 1) / 2 * torch.log1p(u * u / v))


def init_net(net: SalesNet, gen: torch.Generator) -> None:
    """Seeded initialisation (the global torch generator is never used)."""
    init_weights(net, gen)
    with torch.no_grad():
        for emb in (net.store_emb, net.item_emb):
            emb.weight.copy_(torch.randn(emb.weight.shape, generator=gen, device=gen.device)
                             * 0.1)
