"""The basket generator's networks and its distinct-item sampling (modules and tensor
functions only: fitting and sampling are in augment/baskets/generator.py)."""

from __future__ import annotations

import math

import torch
from torch import nn


class MultVAE(nn.Module):
    """Mult-VAE with the profile fed to both the encoder and the decoder."""

    def __init__(self, n_items: int, p: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.enc = mlp([n_items + p, hidden, 2 * latent], act=nn.Tanh)
        self.dec = mlp([latent + p, hidden, n_items], act=nn.Tanh)
        self.latent = latent

    def encode(self, x: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(torch.cat([x, p], dim=1))
        return h[:, : self.latent], h[:, self.latent:].clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.cat([z, p], dim=1))


def mlp(sizes: list[int], act: type[nn.Module] | None = None) -> nn.Sequential:
    """Linear layers (made without touching torch's global RNG) with activations between
    (LeakyReLU(0.2) by default)."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.utils.skip_init(nn.Linear, a, b))
        if k < len(sizes) - 2:
            layers.append(act() if act is not None else nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def init_xavier(module: nn.Module, gen: torch.Generator) -> None:
    """Xavier-uniform weights and zero biases from an explicit generator."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            bound = math.sqrt(6.0 / (m.in_features + m.out_features))
            with torch.no_grad():
                m.weight.uniform_(-bound, bound, generator=gen)
                m.bias.zero_()


def gumbel_topk(logits: torch.Tensor, k: torch.Tensor, gen: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``k[i]`` distinct columns per row, drawn from softmax(logits) without replacement:
    the top-k of logits + Gumbel noise. Returns (indices, keep mask), both (rows, max k)."""
    u = torch.rand(logits.shape, generator=gen, device=logits.device)
    gumbel = -torch.log(-torch.log(u.clamp(1e-12, 1.0 - 1e-7)))
    kmax = int(k.max())
    idx = torch.topk(logits + gumbel, kmax, dim=1).indices
    keep = torch.arange(kmax, device=logits.device)[None, :] < k.reshape(-1, 1)
    return idx, keep


def multi_hot(logits: torch.Tensor, sizes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Gumbel top-k baskets of ``sizes`` items as multi-hot rows."""
    idx, keep = gumbel_topk(logits, sizes.reshape(-1).long(), gen)
    return torch.zeros_like(logits).scatter_(1, idx, keep.to(logits.dtype))

