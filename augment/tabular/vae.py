"""``TabularVAE``: a conditional tabular VAE (TVAE-like) over the vectorised encodings."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from augment.base import Callback
from augment.runtime import autocast, torch_seeded
from augment.tabular.networks import VAENet
from augment.tabular.neural import NeuralTabularGenerator
from features.errors import check_real


class TabularVAE(NeuralTabularGenerator):
    """A conditional tabular VAE (TVAE-like) over the vectorised encodings.

    Parameters
    ----------
    discrete_columns : list of str, optional
        Columns to treat as categorical (default: text/bool/category and 0/1 columns).
    epochs, batch_size, lr : training budget and Adam step size.
    latent_dim : int
        Size of the latent code.
    hidden : tuple of int
        Encoder layer widths (the decoder mirrors them).
    beta : float
        Weight of the KL term.
    max_categories : int
        Categories modelled per column (rarer ones share a resampled bucket).
    validation_fraction : float
        Share of the frame held out to score fidelity for early stopping (0 disables).
    patience, eval_every : early stopping: checks without improvement before stopping,
        and epochs between checks.
    device : "auto", "cpu" or "cuda[:N]"
    random_state : int, numpy Generator or None
    show_progress : bool
    callback : callable(epoch, elapsed_s, metrics), optional

    Examples
    --------
    >>> vae = TabularVAE(epochs=5, random_state=0).fit(frame)  # doctest: +SKIP
    >>> vae.sample(100, conditions={"default": 1}, random_state=1)  # doctest: +SKIP
    """

    def __init__(self, *, discrete_columns: list[str] | None = None, epochs: int = 300,
                 batch_size: int = 500, lr: float = 1e-3, latent_dim: int = 16,
                 hidden: tuple[int, ...] = (128, 128), beta: float = 1.0,
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
        self.beta = beta

    def _check_params(self) -> None:
        super()._check_params()
        check_real("TabularVAE", "beta", self.beta, 0)

    def _build(self) -> None:
        with torch_seeded(self.torch_seed_):
            self.net_ = VAENet(self.encoder_.n_continuous, self.encoder_.cardinalities,
                               self.latent_dim, tuple(self.hidden)).to(self.device_)
        self.opt_ = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=1e-5)

    def _modules(self) -> dict[str, nn.Module]:
        return {"net": self.net_} if hasattr(self, "net_") else {}

    def _step(self, cont: torch.Tensor, codes: torch.Tensor,
              gen: torch.Generator) -> dict[str, float]:
        cond = self._mask(codes, gen)
        eps = torch.randn(len(cont), self.latent_dim, generator=gen,
                          device=gen.device).to(self.device_)
        with autocast(self.device_):
            out, mu, logvar = self.net_(cont, codes, cond, eps)
        out, mu, logvar = out.float(), mu.float(), logvar.float()
        mean, logits = self._split(out)
        sigma = self.net_.log_sigma.clamp(np.log(0.01), np.log(1.0))
        rec_cont = (0.5 * ((cont - mean) / sigma.exp()) ** 2 + sigma).sum(dim=1).mean()
        rec_cat = self.layout_.cross_entropy(logits, codes)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
        loss = 2.0 * (rec_cont + rec_cat) + self.beta * kl
        self.opt_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_.step()
        return {"loss": float(loss.detach()),
                "reconstruction": float((rec_cont + rec_cat).detach()), "kl": float(kl.detach())}

    def _decode_batch(self, n: int, cond: torch.Tensor, gen: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.latent_dim, generator=gen).to(self.device_)
        with autocast(self.device_):
            out = self.net_.decode(z, cond).float()
        mean, logits = self._split(out)
        sigma = self.net_.log_sigma.clamp(np.log(0.01), np.log(1.0)).exp()
        noise = torch.randn(mean.shape, generator=gen).to(self.device_)
        return mean + noise * sigma, logits
