"""The networks of the neural tabular generators (modules only: fitting and sampling are
in augment/tabular/neural.py).

Rows come in as the :class:`~augment.encoding.TabularEncoder`'s encodings: normal scores
of the continuous columns and integer codes of the categorical ones. Categorical inputs
and conditions are embedded (:class:`CatEmbedding`); categorical outputs are logits laid
out by :class:`CatLayout`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def emb_dim(k: int) -> int:
    """Embedding width of a column with ``k`` categories."""
    return int(min(16, max(2, round(1.6 * k ** 0.56))))


class CatEmbedding(nn.Module):
    """All categorical columns in one embedding table (one lookup, not one per column).

    ``extra=1`` adds an 'unknown' token per column, for conditions.
    """

    offsets: torch.Tensor

    def __init__(self, cards: list[int], extra: int = 0) -> None:
        super().__init__()
        self.n_cols = len(cards)
        self.size = emb_dim(max(cards)) if cards else 0
        offsets = np.cumsum([0] + [k + extra for k in cards[:-1]]) if cards else np.zeros(0)
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long),
                             persistent=False)
        self.emb = nn.Embedding(max(1, sum(k + extra for k in cards)), max(1, self.size))
        self.dim = self.n_cols * self.size

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if not self.n_cols:
            return codes.new_zeros((codes.shape[0], 0), dtype=torch.float32)
        return self.emb(codes + self.offsets).reshape(codes.shape[0], -1)


class CatLayout:
    """Categorical outputs grouped by cardinality: the logits of all columns with ``k``
    categories sit side by side, so each group is one ``(n, columns, k)`` view and one
    kernel, not one kernel per column (the network's output order is ours to choose)."""

    def __init__(self, cards: list[int], device: torch.device) -> None:
        self.groups: list[tuple[int, torch.Tensor, slice]] = []
        start = 0
        for k in sorted(set(cards)):
            cols = [j for j, c in enumerate(cards) if c == k]
            self.groups.append((k, torch.as_tensor(cols, device=device),
                                slice(start, start + k * len(cols))))
            start += k * len(cols)
        self.n_cols = len(cards)

    def grouped(self, flat: torch.Tensor) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
        """(k, column indices, logits of shape (n, columns, k)) per group."""
        return [(k, cols, flat[:, part].reshape(len(flat), -1, k))
                for k, cols, part in self.groups]

    def cross_entropy(self, flat: torch.Tensor, codes: torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum over columns of the mean cross-entropy over the (masked) rows."""
        total = flat.new_zeros(())
        for k, cols, x in self.grouped(flat):
            ce = F.cross_entropy(x.reshape(-1, k), codes[:, cols].reshape(-1),
                                 reduction="none").view(len(flat), -1)
            if mask is None:
                total = total + ce.mean(dim=0).sum()
            else:
                m = mask[:, cols].float()
                total = total + ((ce * m).sum(dim=0) / m.sum(dim=0).clamp_min(1.0)).sum()
        return total

    def one_hot(self, codes: torch.Tensor) -> torch.Tensor:
        """Real rows in the grouped layout the critic reads."""
        parts = [F.one_hot(codes[:, cols], k).float().reshape(len(codes), -1)
                 for k, cols, _ in self.groups]
        return torch.cat(parts, dim=1) if parts else codes.new_zeros((len(codes), 0)).float()

    def gumbel_softmax(self, flat: torch.Tensor, tau: float, gen: torch.Generator
                       ) -> torch.Tensor:
        """Relaxed one-hot samples in the same grouped layout (local generator)."""
        parts = []
        for _, _, x in self.grouped(flat):
            u = torch.rand(x.shape, generator=gen, device=gen.device).to(x.device)
            g = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))
            parts.append(torch.softmax((x + g) / tau, dim=-1).reshape(len(flat), -1))
        return torch.cat(parts, dim=1) if parts else flat.new_zeros((len(flat), 0))

    def gumbel_max(self, flat: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Exact categorical draws: argmax(logits + Gumbel noise), per group."""
        out = torch.zeros((len(flat), self.n_cols), dtype=torch.long)
        for _, cols, x in self.grouped(flat.float().cpu()):
            u = torch.rand(x.shape, generator=gen).clamp_(1e-12, 1.0 - 1e-7)
            out[:, cols.cpu()] = (x - torch.log(-torch.log(u))).argmax(dim=-1)
        return out


def mlp(d_in: int, hidden: tuple[int, ...], *, norm: bool = True) -> tuple[nn.Sequential, int]:
    """Linear (+ BatchNorm) + ReLU layers of widths ``hidden``; returns it and its output
    width."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h)] + ([nn.BatchNorm1d(h)] if norm else []) + [nn.ReLU()]
        d_in = h
    return nn.Sequential(*layers), d_in


class VAENet(nn.Module):
    """Conditional VAE: the encoder reads a row and its condition, the decoder a latent
    code and the condition; continuous outputs have learned per-column noise scales."""

    def __init__(self, n_cont: int, cards: list[int], latent: int, hidden: tuple[int, ...]):
        super().__init__()
        self.n_cont, self.cards = n_cont, cards
        self.row = CatEmbedding(cards)  # the row's own categories, embedded
        self.cond = CatEmbedding(cards, extra=1)
        self.encoder, h = mlp(n_cont + self.row.dim + self.cond.dim, hidden)
        self.to_stats = nn.Linear(h, 2 * latent)
        self.decoder, h = mlp(latent + self.cond.dim, tuple(reversed(hidden)))
        self.head = nn.Linear(h, n_cont + sum(cards))
        self.log_sigma = nn.Parameter(torch.full((n_cont,), float(np.log(0.5))))

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(torch.cat([z, self.cond(cond)], dim=1)))

    def forward(self, cont: torch.Tensor, codes: torch.Tensor, cond: torch.Tensor,
                eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([cont, self.row(codes), self.cond(cond)], dim=1))
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z, cond), mu, logvar


class GeneratorNet(nn.Module):
    """Conditional GAN generator: noise and the embedded condition -> a row's outputs
    (continuous values, then the categorical logits in :class:`CatLayout` order)."""

    def __init__(self, n_cont: int, cards: list[int], noise: int, hidden: tuple[int, ...]):
        super().__init__()
        self.cond = CatEmbedding(cards, extra=1)
        self.body, h = mlp(noise + self.cond.dim, hidden)
        self.head = nn.Linear(h, n_cont + sum(cards))

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([z, self.cond(cond)], dim=1)))


class SeededDropout(nn.Dropout):
    """Dropout whose masks are drawn from ``generator``, never from torch's global one
    (same seed -> same training); without a generator it is the identity."""

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.generator is None:
            return x
        u = torch.rand(x.shape, generator=self.generator, device=self.generator.device)
        return x * (u.to(x.device) >= self.p).to(x.dtype) / (1.0 - self.p)


class CriticNet(nn.Module):
    """PacGAN critic: ``pac`` rows are judged together, which penalises mode collapse."""

    def __init__(self, d_row: int, cards: list[int], hidden: tuple[int, ...], pac: int):
        super().__init__()
        self.pac = pac
        self.cond = CatEmbedding(cards, extra=1)
        layers: list[nn.Module] = []
        d = pac * (d_row + self.cond.dim)
        for h in hidden:
            layers += [nn.Linear(d, h), nn.LeakyReLU(0.2), SeededDropout(0.5)]
            d = h
        self.body = nn.Sequential(*layers, nn.Linear(d, 1))

    def seed_dropout(self, generator: torch.Generator) -> None:
        """Draw the dropout masks from ``generator``."""
        for m in self.modules():
            if isinstance(m, SeededDropout):
                m.generator = generator

    def forward(self, rows: torch.Tensor, cond_emb: torch.Tensor) -> torch.Tensor:
        x = torch.cat([rows, cond_emb], dim=1)
        return self.body(x.reshape(-1, self.pac * x.shape[1]))
