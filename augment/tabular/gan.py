"""``TabularGAN``: a conditional WGAN-GP for tables (CTGAN-like) with PacGAN and
Gumbel-softmax categorical outputs."""

from __future__ import annotations

import torch
from torch import nn

from augment.base import Callback
from augment.runtime import autocast, torch_seeded
from augment.tabular.networks import CriticNet, GeneratorNet
from augment.tabular.neural import NeuralTabularGenerator
from features.errors import check_int, check_param, check_real, is_int


class TabularGAN(NeuralTabularGenerator):
    """A conditional WGAN-GP for tables (CTGAN-like), with PacGAN and Gumbel-softmax
    categorical outputs.

    Parameters are those of :class:`TabularVAE` (``latent_dim`` is the noise size, no
    ``beta``) plus ``critic_hidden`` (critic widths), ``pac`` (rows per critic input),
    ``critic_steps`` (critic updates per generator update) and ``gp_weight``.
    """

    def __init__(self, *, discrete_columns: list[str] | None = None, epochs: int = 300,
                 batch_size: int = 500, lr: float = 2e-4, latent_dim: int = 128,
                 hidden: tuple[int, ...] = (256, 256), critic_hidden: tuple[int, ...] = (256, 256),
                 pac: int = 10, critic_steps: int = 1, gp_weight: float = 10.0,
                 max_categories: int = 1000, validation_fraction: float = 0.2,
                 patience: int = 10, eval_every: int = 5, device: str = "auto",
                 random_state: int | None = None, show_progress: bool = False,
                 callback: Callback | None = None) -> None:
        super().__init__(
            discrete_columns=discrete_columns, epochs=epochs, batch_size=batch_size, lr=lr,
            latent_dim=latent_dim, hidden=hidden, max_categories=max_categories,
            validation_fraction=validation_fraction, patience=patience, eval_every=eval_every,
            device=device, random_state=random_state, show_progress=show_progress,
            callback=callback)
        self.critic_hidden = critic_hidden
        self.pac = pac
        self.critic_steps = critic_steps
        self.gp_weight = gp_weight

    def _pac(self) -> int:
        return self.pac

    def _architecture(self) -> tuple[str, ...]:
        return ("latent_dim", "hidden", "critic_hidden", "pac")

    def _check_params(self) -> None:
        super()._check_params()
        for p in ("pac", "critic_steps"):
            check_int("TabularGAN", p, getattr(self, p), 1)
        check_real("TabularGAN", "gp_weight", self.gp_weight, 0)
        check_param("TabularGAN", "critic_hidden", self.critic_hidden,
                    isinstance(self.critic_hidden, tuple | list) and len(self.critic_hidden) > 0
                    and all(is_int(h) and h > 0 for h in self.critic_hidden),
                    "a non-empty tuple of positive ints")
        check_param("TabularGAN", "batch_size", self.batch_size,
                    self.batch_size % self.pac == 0, f"a multiple of pac={self.pac}")

    def _build(self) -> None:
        cards = self.encoder_.cardinalities
        d_row = self.encoder_.n_continuous + sum(cards)
        with torch_seeded(self.torch_seed_):
            self.gen_ = GeneratorNet(self.encoder_.n_continuous, cards, self.latent_dim,
                                     tuple(self.hidden)).to(self.device_)
            self.critic_ = CriticNet(d_row, cards, tuple(self.critic_hidden),
                                     self.pac).to(self.device_)
        # The critic's dropout masks get their own stream, seeded from the fit's seed, so
        # that the other draws of a fit are the same as before they had one.
        self.critic_.seed_dropout(
            torch.Generator(device=self.device_).manual_seed(self.torch_seed_ + 1))
        self.opt_g_ = torch.optim.Adam(self.gen_.parameters(), lr=self.lr, betas=(0.5, 0.9),
                                       weight_decay=1e-6)
        self.opt_c_ = torch.optim.Adam(self.critic_.parameters(), lr=self.lr, betas=(0.5, 0.9),
                                       weight_decay=1e-6)

    def _modules(self) -> dict[str, nn.Module]:
        return {"generator": self.gen_, "critic": self.critic_} if hasattr(self, "gen_") else {}

    def _fake(self, cond: torch.Tensor, gen: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(len(cond), self.latent_dim, generator=gen,
                        device=gen.device).to(self.device_)
        with autocast(self.device_):
            out = self.gen_(z, cond).float()
        cont, logits = self._split(out)
        return torch.cat([cont, self.layout_.gumbel_softmax(logits, 0.2, gen)], dim=1), logits

    def _real_rows(self, cont: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return torch.cat([cont, self.layout_.one_hot(codes)], dim=1)

    def _step(self, cont: torch.Tensor, codes: torch.Tensor,
              gen: torch.Generator) -> dict[str, float]:
        real = self._real_rows(cont, codes)
        cond = self._mask(codes, gen)
        for _ in range(self.critic_steps):
            fake, _ = self._fake(cond, gen)
            fake = fake.detach()
            c_emb = self.critic_.cond(cond)
            d_real = self.critic_(real, c_emb).mean()
            d_fake = self.critic_(fake, c_emb).mean()
            alpha = torch.rand(len(real) // self.pac, 1, 1, generator=gen,
                               device=gen.device).to(self.device_)
            alpha = alpha.expand(-1, self.pac, real.shape[1]).reshape(real.shape)
            mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            score = self.critic_(mix, c_emb)
            grad = torch.autograd.grad(score.sum(), mix, create_graph=True)[0]
            grad = grad.reshape(-1, self.pac * real.shape[1])
            gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
            loss_c = d_fake - d_real + self.gp_weight * gp
            self.opt_c_.zero_grad(set_to_none=True)
            loss_c.backward()
            self.opt_c_.step()
        fake, logits = self._fake(cond, gen)
        loss_g = -self.critic_(fake, self.critic_.cond(cond)).mean()
        ce = self.layout_.cross_entropy(logits, cond.clamp_max(self._unknown - 1),
                                        mask=cond != self._unknown)
        self.opt_g_.zero_grad(set_to_none=True)
        (loss_g + ce).backward()
        self.opt_g_.step()
        return {"loss_critic": float(loss_c.detach()), "loss_generator": float(loss_g.detach()),
                "cond_ce": float(ce.detach())}

    def _decode_batch(self, n: int, cond: torch.Tensor, gen: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.latent_dim, generator=gen).to(self.device_)
        with autocast(self.device_):
            out = self.gen_(z, cond).float()
        return self._split(out)
