"""Neural tabular generators: ``TabularVAE`` (TVAE-like) and ``TabularGAN`` (CTGAN-like
conditional WGAN-GP with PacGAN).

Both share the vectorised :class:`~augment.encoding.TabularEncoder`, a conditional input
built from every categorical column (its value, or an "unknown" token), and one training
loop with early stopping on a validation fidelity score. During training each row's own
categories are revealed as its condition at random (half the rows see none), so one
model samples unconditionally and conditioned on any subset of categorical columns.
Conditioned columns are also written straight into the output, so a conditional sample
has exactly ``n`` rows with exactly the requested values and no rejection loop.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from augment.base import Callback, EarlyStopping, Generator
from augment.encoding import TabularEncoder
from augment.quality import encoded_fidelity
from augment.runtime import RandomState, autocast, make_rngs, resolve_device
from features.errors import check_param

logger = logging.getLogger(__name__)


def _emb_dim(k: int) -> int:
    return int(min(16, max(2, round(1.6 * k ** 0.56))))


class CatEmbedding(nn.Module):
    """All categorical columns in one embedding table (one lookup, not one per column).

    ``extra=1`` adds an 'unknown' token per column, for conditions.
    """

    offsets: torch.Tensor

    def __init__(self, cards: list[int], extra: int = 0) -> None:
        super().__init__()
        self.n_cols = len(cards)
        self.size = _emb_dim(max(cards)) if cards else 0
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


def _mlp(d_in: int, hidden: tuple[int, ...], *, norm: bool = True) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h)] + ([nn.BatchNorm1d(h)] if norm else []) + [nn.ReLU()]
        d_in = h
    return nn.Sequential(*layers), d_in


class _VAENet(nn.Module):
    def __init__(self, n_cont: int, cards: list[int], latent: int, hidden: tuple[int, ...]):
        super().__init__()
        self.n_cont, self.cards = n_cont, cards
        self.row = CatEmbedding(cards)  # the row's own categories, embedded
        self.cond = CatEmbedding(cards, extra=1)
        self.encoder, h = _mlp(n_cont + self.row.dim + self.cond.dim, hidden)
        self.to_stats = nn.Linear(h, 2 * latent)
        self.decoder, h = _mlp(latent + self.cond.dim, tuple(reversed(hidden)))
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


class _GenNet(nn.Module):
    def __init__(self, n_cont: int, cards: list[int], noise: int, hidden: tuple[int, ...]):
        super().__init__()
        self.cond = CatEmbedding(cards, extra=1)
        self.body, h = _mlp(noise + self.cond.dim, hidden)
        self.head = nn.Linear(h, n_cont + sum(cards))

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([z, self.cond(cond)], dim=1)))


class _CriticNet(nn.Module):
    """PacGAN critic: ``pac`` rows are judged together, which penalises mode collapse."""

    def __init__(self, d_row: int, cards: list[int], hidden: tuple[int, ...], pac: int):
        super().__init__()
        self.pac = pac
        self.cond = CatEmbedding(cards, extra=1)
        layers: list[nn.Module] = []
        d = pac * (d_row + self.cond.dim)
        for h in hidden:
            layers += [nn.Linear(d, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            d = h
        self.body = nn.Sequential(*layers, nn.Linear(d, 1))

    def forward(self, rows: torch.Tensor, cond_emb: torch.Tensor) -> torch.Tensor:
        x = torch.cat([rows, cond_emb], dim=1)
        return self.body(x.reshape(-1, self.pac * x.shape[1]))


class _TabularNeural(Generator):
    """Shared fitting, sampling and persistence of the two neural tabular generators."""

    kind = "tabular"
    # Constructor arguments shared by both subclasses (stored by their __init__).
    discrete_columns: list[str] | None
    epochs: int
    batch_size: int
    lr: float
    latent_dim: int
    hidden: tuple[int, ...]
    max_categories: int
    validation_fraction: float
    patience: int
    eval_every: int
    device: str
    random_state: int | None
    show_progress: bool
    callback: Callback | None

    def _check_params(self) -> None:
        name = type(self).__name__
        for p, lo in (("epochs", 1), ("batch_size", 2), ("latent_dim", 1), ("eval_every", 1)):
            v = getattr(self, p)
            check_param(name, p, v, isinstance(v, int) and not isinstance(v, bool) and v >= lo,
                        f"an int in the range [{lo}, inf)")
        check_param(name, "lr", self.lr, isinstance(self.lr, float | int) and self.lr > 0,
                    "a float > 0")
        check_param(name, "hidden", self.hidden,
                    isinstance(self.hidden, tuple | list) and len(self.hidden) > 0 and
                    all(isinstance(h, int) and h > 0 for h in self.hidden),
                    "a non-empty tuple of positive ints")
        check_param(name, "validation_fraction", self.validation_fraction,
                    0.0 <= self.validation_fraction < 0.5, "a float in [0, 0.5)")

    # -- fit ---------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        self._check_params()
        self.device_ = resolve_device(self.device)
        rng, gen = make_rngs(self.random_state)
        self.torch_seed_ = int(rng.integers(0, 2**31 - 1))
        torch_gen = torch.Generator(device=self.device_).manual_seed(self.torch_seed_)
        self.columns_ = [str(c) for c in frame.columns]
        frame = frame.set_axis(self.columns_, axis=1).reset_index(drop=True)
        self.encoder_ = TabularEncoder(discrete_columns=self.discrete_columns,
                                       max_categories=self.max_categories).fit(frame)
        order = rng.permutation(len(frame))
        n_val = int(round(self.validation_fraction * len(frame))) if len(frame) >= 50 else 0
        val = frame.iloc[order[:n_val]] if n_val else None
        if val is not None:
            val_cont, val_codes = self.encoder_.transform(val, rng)
        train = frame.iloc[order[n_val:]]
        cont, codes = self.encoder_.transform(train, rng)
        self._build()
        t_cont = torch.as_tensor(cont, device=self.device_)
        t_codes = torch.as_tensor(codes, device=self.device_)
        self._unknown = torch.as_tensor(self.encoder_.cardinalities, device=self.device_,
                                        dtype=torch.long)
        self.layout_ = CatLayout(self.encoder_.cardinalities, self.device_)
        stopper = EarlyStopping(self._modules(), self.patience)
        batch = min(self.batch_size, len(train))
        batch -= batch % self._pac() if batch >= self._pac() else 0
        start = time.perf_counter()
        bar = tqdm(range(1, self.epochs + 1), desc=type(self).__name__, unit="epoch",
                   disable=not self.show_progress)
        for epoch in bar:
            for m in self._modules().values():
                m.train()
            perm = torch.randperm(len(train), generator=gen, device="cpu").to(self.device_)
            sums: dict[str, float] = {}
            steps = -(-len(train) // batch)
            for s in range(steps):
                idx = perm[s * batch:(s + 1) * batch]
                idx = idx[:len(idx) - len(idx) % self._pac()]
                if len(idx) < max(2, self._pac()):
                    continue
                losses = self._step(t_cont[idx], t_codes[idx], gen if self.device_.type == "cpu"
                                    else torch_gen)
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
            record = {"epoch": float(epoch), **{k: v / steps for k, v in sums.items()}}
            stop = False
            if val is not None and (epoch % self.eval_every == 0 or epoch == self.epochs):
                cont_s, codes_s = self._generate_arrays(max(len(val), 500), {}, gen)
                record["val_fidelity"] = encoded_fidelity(val_cont, val_codes, cont_s, codes_s,
                                                          self.encoder_.cardinalities)
                stop = stopper.update(epoch, record["val_fidelity"])
            self.history_.append(record)
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k != "epoch"})
            if self.callback is not None:
                self.callback(epoch, time.perf_counter() - start, record)
            if stop:
                logger.info("%s: early stop at epoch %d (best %d, fidelity %.4f)",
                            type(self).__name__, epoch, stopper.best_epoch, stopper.best)
                break
        stopper.restore_best()
        self.best_epoch_ = stopper.best_epoch if stopper.best_epoch > 0 else len(self.history_)

    def _pac(self) -> int:
        return 1

    # -- sampling ----------------------------------------------------------------------
    def _cond_matrix(self, n: int, fixed: dict[int, int]) -> torch.Tensor:
        cond = self._unknown.expand(n, -1).clone()
        for j, code in fixed.items():
            cond[:, j] = code
        return cond

    def _mask(self, codes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Reveal each row's own categories as its condition: none for half the rows,
        each column with probability 0.3 for the other half."""
        n, c = codes.shape
        none = torch.rand(n, 1, generator=gen, device=gen.device).to(codes.device) < 0.5
        reveal = (torch.rand(n, c, generator=gen, device=gen.device).to(codes.device) < 0.3)
        return torch.where(reveal & ~none, codes, self._unknown.expand(n, c))

    def _split(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous outputs and the flat categorical logits."""
        n_cont = self.encoder_.n_continuous
        return out[:, :n_cont], out[:, n_cont:]

    def _generate_arrays(self, n: int, fixed: dict[int, int], gen: torch.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Encoded synthetic rows: normal scores and category codes."""
        for m in self._modules().values():
            m.eval()
        conts, codes = [], []
        with torch.no_grad():
            for lo in range(0, n, 65536):
                size = min(65536, n - lo)
                cont, logits = self._decode_batch(size, self._cond_matrix(size, fixed), gen)
                conts.append(cont.float().cpu().numpy())
                c = self.layout_.gumbel_max(logits, gen).numpy()
                for j, code in fixed.items():
                    c[:, j] = code
                codes.append(c)
        return np.vstack(conts), np.vstack(codes)

    def _generate(self, n: int, fixed: dict[int, int], rng: np.random.Generator,
                  gen: torch.Generator) -> pd.DataFrame:
        return self.encoder_.inverse(*self._generate_arrays(n, fixed, gen), rng)

    def _sample(self, n: int, conditions: dict[str, Any], random_state: RandomState
                ) -> pd.DataFrame:
        fixed = self.encoder_.condition_codes(conditions)
        rng, gen = make_rngs(random_state)
        return self._generate(n, fixed, rng, gen)

    # -- persistence -------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self.encoder_.state()
        return {"encoder": meta, "columns": self.columns_, "best_epoch": self.best_epoch_,
                "torch_seed": self.torch_seed_}, arrays

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.encoder_ = TabularEncoder.from_state(meta["encoder"], arrays)
        self.columns_ = meta["columns"]
        self.best_epoch_ = meta["best_epoch"]
        self.torch_seed_ = meta["torch_seed"]
        self.device_ = resolve_device(self.device)
        self._unknown = torch.as_tensor(self.encoder_.cardinalities, device=self.device_,
                                        dtype=torch.long)
        self.layout_ = CatLayout(self.encoder_.cardinalities, self.device_)
        self._build()

    # -- model-specific ----------------------------------------------------------------
    def _build(self) -> None:
        raise NotImplementedError

    def _step(self, cont: torch.Tensor, codes: torch.Tensor,
              gen: torch.Generator) -> dict[str, float]:
        raise NotImplementedError

    def _decode_batch(self, n: int, cond: torch.Tensor, gen: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class TabularVAE(_TabularNeural):
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
        self.discrete_columns = discrete_columns
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.beta = beta
        self.max_categories = max_categories
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.eval_every = eval_every
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress
        self.callback = callback

    def _build(self) -> None:
        with _seeded(self.torch_seed_):
            self.net_ = _VAENet(self.encoder_.n_continuous, self.encoder_.cardinalities,
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


class TabularGAN(_TabularNeural):
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
        self.discrete_columns = discrete_columns
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.critic_hidden = critic_hidden
        self.pac = pac
        self.critic_steps = critic_steps
        self.gp_weight = gp_weight
        self.max_categories = max_categories
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.eval_every = eval_every
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress
        self.callback = callback

    def _pac(self) -> int:
        return self.pac

    def _check_params(self) -> None:
        super()._check_params()
        for p in ("pac", "critic_steps"):
            v = getattr(self, p)
            check_param("TabularGAN", p, v, isinstance(v, int) and v >= 1,
                        "an int in the range [1, inf)")
        check_param("TabularGAN", "batch_size", self.batch_size,
                    self.batch_size % self.pac == 0, f"a multiple of pac={self.pac}")

    def _build(self) -> None:
        cards = self.encoder_.cardinalities
        d_row = self.encoder_.n_continuous + sum(cards)
        with _seeded(self.torch_seed_):
            self.gen_ = _GenNet(self.encoder_.n_continuous, cards, self.latent_dim,
                                tuple(self.hidden)).to(self.device_)
            self.critic_ = _CriticNet(d_row, cards, tuple(self.critic_hidden),
                                      self.pac).to(self.device_)
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


class _seeded:
    """Initialise weights from a seed without touching the caller's global RNG state."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self) -> None:
        self._ctx = torch.random.fork_rng(devices=[])
        self._ctx.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)
