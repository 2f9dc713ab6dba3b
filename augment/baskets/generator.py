"""The basket generator: synthetic users = a resampled profile + a basket of distinct
items from a profile-conditioned Mult-VAE or WGAN-GP (see the package docstring)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from augment.base import Callback, Generator, check_n, resolve_source
from augment.baskets.interactions import InteractionMarginals
from augment.baskets.networks import MultVAE, gumbel_topk, init_xavier, mlp, multi_hot
from augment.baskets.profiles import OWNER, Profiles, check_users
from augment.quality_baskets import fidelity_score, scorecard_from_matrices
from augment.runtime import RandomState, autocast, make_rngs, resolve_device
from augment.training import train_epochs
from features.errors import (
    DataValidationError,
    check_choice,
    check_int,
    check_param,
    check_random_state,
    check_real,
)
from features.matrix import build_user_items
from features.store import fingerprint_frame

MODELS = ("vae", "gan")
INPUT_DROPOUT = 0.5  # Mult-VAE's input dropout
ANNEAL_EPOCHS = 10  # beta rises linearly from 0 over these epochs
GP_WEIGHT = 10.0
EVAL_MIN_USERS = 512  # validation profiles are repeated up to this many synthetic users
EVAL_TOP_PAIRS = 500
SAMPLE_BATCH = 1024


class BasketGenerator(Generator):
    """Synthetic users = profile + basket, from a profile-conditioned Mult-VAE or WGAN-GP.

    Parameters
    ----------
    model : {"vae", "gan"}, default "vae"
        The basket decoder (see the module docstring).
    latent_dim : int, default 64
        Size of ``z``.
    hidden : int, default 256
        Width of the hidden layers.
    epochs : int, default 100
        Maximum number of passes over the training users.
    batch_size : int, default 128
        Users per optimisation step.
    lr : float, optional
        Adam learning rate; default 1e-3 for the VAE and 1e-4 for the GAN (WGAN-GP is
        unstable at the VAE's rate).
    beta : float, default 0.5
        Final weight of the KL term (VAE only).
    profile_columns : list of str, optional
        Users columns that make the profile; default all but ``user_id`` (see the module
        docstring for what is dropped).
    profile_jitter : float, default 0.05
        Jitter of resampled continuous numeric profile values, in standard deviations.
    validation_fraction : float, default 0.1
        Share of training users held out for the early-stopping fidelity score (with
        fewer than 10 users, or none held out, the training users are scored instead).
    patience : int, default 20
        Epochs without a better fidelity score before training stops; 0 never stops early.
    device : str, default "auto"
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    random_state : int, numpy Generator or None
        Seeds training, and sampling when ``sample`` gets no ``random_state``.
    show_progress : bool, default False
        Show a tqdm bar over epochs.
    callback : callable, optional
        ``callback(epoch, elapsed_s, metrics)`` after every epoch.

    Attributes
    ----------
    item_ids_ : ndarray of str
        The catalogue (sorted item ids seen in training).
    profile_columns_ : list of str
        The profile columns actually used.
    basket_sizes_ : ndarray of int
        Distinct items per training user (the size distribution that is sampled).
    best_epoch_ : int
        The epoch whose weights were kept.
    history_ : list of dict
        Per epoch: losses, ``fidelity``, ``popularity_spearman``, ``pmi_pearson``, seconds.

    Examples
    --------
    >>> gen = BasketGenerator(epochs=5, random_state=0).fit(interactions, users)
    >>> users_df, baskets_df = gen.sample_users(100, conditions={"gender": "F"})
    """

    kind: ClassVar[str] = "baskets"
    profiles_: Profiles
    marginals_: InteractionMarginals

    def __init__(
        self,
        *,
        model: str = "vae",
        latent_dim: int = 64,
        hidden: int = 256,
        epochs: int = 100,
        batch_size: int = 128,
        lr: float | None = None,
        beta: float = 0.5,
        profile_columns: Sequence[str] | None = None,
        profile_jitter: float = 0.05,
        validation_fraction: float = 0.1,
        patience: int = 20,
        device: str = "auto",
        random_state: RandomState = None,
        show_progress: bool = False,
        callback: Callback | None = None,
    ) -> None:
        self.model = model
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.beta = beta
        self.profile_columns = profile_columns
        self.profile_jitter = profile_jitter
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress
        self.callback = callback

    # -- public API --------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, users: pd.DataFrame | None = None, *,
            init: Generator | str | os.PathLike[str] | None = None) -> BasketGenerator:
        """Learn baskets from ``frame`` (interactions) and profiles from ``users``.

        Parameters
        ----------
        frame : DataFrame
            The ``interactions`` table: ``user_id``, ``item_id``, ``ts`` and optionally
            ``value``. A user's basket is the set of distinct items they interacted with.
        users : DataFrame, optional
            The ``users`` table (``user_id`` plus attribute columns); every user of
            ``frame`` must be in it. Without it the generator is unconditional.

        init : None
            Basket generators have no warm start yet; anything else is refused.

        Returns
        -------
        self
        """
        if init is not None:
            resolve_source(self, init)  # raises: no warm start for baskets
        if users is not None:
            check_users(users)
        self._users_frame = users
        try:
            super().fit(frame)
        finally:
            del self._users_frame
        if users is not None:
            self.fingerprint_ = f"{self.fingerprint_}+{fingerprint_frame(users)}"
        return self

    def sample_users(
        self,
        n: int,
        *,
        conditions: Mapping[str, Any] | None = None,
        random_state: RandomState = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``n`` synthetic users and their baskets.

        Returns
        -------
        users : DataFrame
            What :meth:`sample` returns for the same arguments: ``user_id`` (``syn-000001``,
            ...), the profile columns, ``basket_size`` and ``is_synthetic``.
        interactions : DataFrame
            ``user_id, item_id, ts, qty, value``: ``basket_size`` distinct items per user.
        """
        self._check_fitted()
        check_n(n, f"{OWNER}.sample_users")
        users, interactions = self._draw(int(n), dict(conditions or {}), random_state,
                                         baskets=True)
        users["is_synthetic"] = True
        assert interactions is not None
        return users.reset_index(drop=True), interactions

    # -- Generator hooks ---------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        self._check_params()
        users = getattr(self, "_users_frame", None)
        missing = [c for c in ("user_id", "item_id", "ts") if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"{OWNER}.fit: interactions is missing column(s) {', '.join(missing)}",
                table="interactions", column=missing[0],
                fix="pass the interactions table (user_id, item_id, ts, qty, value)")
        im = build_user_items(frame, weight="binary")
        if im.shape[1] < 2:
            raise DataValidationError(f"{OWNER}.fit: interactions hold {im.shape[1]} "
                                      "distinct item(s)", table="interactions",
                                      column="item_id", fix="fit on at least 2 items")
        matrix = im.matrix
        self.item_ids_ = np.asarray(im.item_ids, dtype=str)
        self.n_items_ = int(matrix.shape[1])
        self.basket_sizes_ = np.diff(matrix.indptr).astype(np.int64)
        self.profiles_ = Profiles.fit(users, np.asarray(im.user_ids, dtype=str),
                                      self.profile_columns)
        self.profile_columns_ = self.profiles_.names
        self.marginals_ = InteractionMarginals.fit(frame, self.item_ids_, OWNER)

        self.device_ = resolve_device(self.device)
        rng, gen = make_rngs(self.random_state, self.device_)
        init_gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
        self._build(init_gen)
        # Output biases start at log item popularity: the untrained sampler is the
        # popularity baseline, and training learns the profile- and z-dependent deviations.
        pop = np.log(np.asarray(matrix.sum(axis=0)).ravel() + 0.5)
        with torch.no_grad():
            last = self._logits_layer()
            last.bias.copy_(torch.as_tensor(pop - pop.mean(), dtype=last.bias.dtype))
        self._sample_rng = _sampling_rng(self.random_state)
        train, val = self._split(matrix.shape[0], rng)
        self._train(matrix, train, val, rng, gen)

    def _sample(self, n: int, conditions: dict[str, Any],
                random_state: RandomState) -> pd.DataFrame:
        users, _ = self._draw(n, conditions, random_state, baskets=False)
        return users

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        m = self.marginals_
        columns, profile_arrays = self.profiles_.state()
        arrays: dict[str, np.ndarray] = {
            "item_ids": self.item_ids_,
            "basket_sizes": self.basket_sizes_,
            "ts_quantiles": m.ts_quantiles,
            "value_offsets": m.value_offsets,
            "values": m.values,
            **profile_arrays,
        }
        meta = {"columns": columns, "ts_kind": m.ts_kind, "best_epoch": self.best_epoch_}
        return meta, arrays

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._check_params()
        self.item_ids_ = arrays["item_ids"].astype(str)
        self.n_items_ = len(self.item_ids_)
        self.basket_sizes_ = arrays["basket_sizes"]
        self.marginals_ = InteractionMarginals(meta["ts_kind"], arrays["ts_quantiles"],
                                               arrays["values"], arrays["value_offsets"])
        self.best_epoch_ = meta["best_epoch"]
        self.profiles_ = Profiles.from_state(meta["columns"], arrays, len(self.basket_sizes_))
        self.profile_columns_ = self.profiles_.names
        self.device_ = resolve_device(self.device)
        self._build(torch.Generator().manual_seed(0))  # weights are loaded next
        self._sample_rng = _sampling_rng(self.random_state)

    def _modules(self) -> dict[str, nn.Module]:
        if self.model == "vae":
            return {"vae": self._vae}
        return {"generator": self._gen, "critic": self._critic}

    # -- parameters --------------------------------------------------------------------
    def _check_params(self) -> None:
        check_choice(OWNER, "model", self.model, MODELS)
        for name in ("latent_dim", "hidden", "epochs", "batch_size"):
            check_int(OWNER, name, getattr(self, name), 1)
        check_int(OWNER, "patience", self.patience, 0)
        if self.lr is not None:
            check_real(OWNER, "lr", self.lr, 0, low_open=True)
        check_real(OWNER, "beta", self.beta, 0)
        check_real(OWNER, "profile_jitter", self.profile_jitter, 0)
        check_real(OWNER, "validation_fraction", self.validation_fraction, 0, 1,
                   high_open=True)
        pc = self.profile_columns
        check_param(OWNER, "profile_columns", pc,
                    pc is None or (not isinstance(pc, str) and isinstance(pc, Sequence)
                                   and all(isinstance(c, str) for c in pc)),
                    "None or a list of column names")
        check_param(OWNER, "show_progress", self.show_progress,
                    isinstance(self.show_progress, bool), "a bool")
        check_random_state(OWNER, self.random_state)
        check_param(OWNER, "callback", self.callback,
                    self.callback is None or callable(self.callback), "None or a callable")

    # -- networks and training -----------------------------------------------------------
    def _build(self, init_gen: torch.Generator) -> None:
        p = self.profiles_.encoder.width
        n, h, d = self.n_items_, self.hidden, self.latent_dim
        if self.model == "vae":
            self._vae = MultVAE(n, p, h, d)
            init_xavier(self._vae, init_gen)
            self._vae.to(self.device_)
        else:
            self._gen = mlp([d + p, h, h, n])
            self._critic = mlp([n + p, h, h // 2 or 1, 1])
            init_xavier(self._gen, init_gen)
            init_xavier(self._critic, init_gen)
            self._gen.to(self.device_)
            self._critic.to(self.device_)

    def _logits_layer(self) -> nn.Linear:
        net = self._vae.dec if self.model == "vae" else self._gen
        last = net[-1]
        if not isinstance(last, nn.Linear):  # pragma: no cover - the networks end so
            raise TypeError(f"the decoder ends with {type(last).__name__}, not Linear")
        return last

    def _logits(self, z: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if self.model == "vae":
            return self._vae.decode(z, p)
        return self._gen(torch.cat([z, p], dim=1))

    def _split(self, n_users: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n_val = int(round(self.validation_fraction * n_users))
        perm = rng.permutation(n_users)
        if n_users < 10 or n_val < 1:
            return perm, perm  # too few users to hold any out: validate on the training set
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _train(self, matrix: sp.csr_matrix, train: np.ndarray, val: np.ndarray,
               rng: np.random.Generator, gen: torch.Generator) -> None:
        dev = self.device_
        prof = torch.from_numpy(self.profiles_.encoded).to(dev)
        opts: list[torch.optim.Optimizer]
        if self.model == "vae":
            opts = [torch.optim.Adam(self._vae.parameters(), lr=self.lr or 1e-3)]
        else:
            opts = [torch.optim.Adam(m.parameters(), lr=self.lr or 1e-4, betas=(0.5, 0.9))
                    for m in (self._critic, self._gen)]
        reps = max(1, math.ceil(EVAL_MIN_USERS / len(val)))
        val_rows = np.tile(val, reps)
        eval_seed = int(rng.integers(0, 2**63 - 1))
        model_step = self._vae_step if self.model == "vae" else self._gan_step

        def batches(epoch: int) -> Iterator[np.ndarray]:
            order = rng.permutation(train)
            for b in range(0, len(order), self.batch_size):
                yield order[b:b + self.batch_size]

        def step(rows: np.ndarray, epoch: int) -> dict[str, float]:
            x = torch.from_numpy(matrix[rows].toarray()).to(dev)
            return model_step(x, prof[rows], opts, gen, epoch)

        stopper = train_epochs(
            self._modules(), epochs=self.epochs, batches=batches, step=step,
            validate=lambda epoch: self._validate(matrix, val, val_rows, prof, eval_seed),
            score="fidelity", patience=self.patience, history=self.history_,
            callback=self.callback, show_progress=self.show_progress,
            desc=f"{OWNER}({self.model})")
        self.best_epoch_ = int(stopper.best_epoch)

    def _validate(self, matrix: sp.csr_matrix, val: np.ndarray, val_rows: np.ndarray,
                  prof: torch.Tensor, seed: int) -> dict[str, float]:
        """Fidelity of baskets sampled for the validation users' profiles and sizes.

        Every epoch draws with the same seed (common random numbers), so the scores of two
        epochs differ by the model, not by the sampling noise.

        The mean of the popularity Spearman correlation, the PMI agreement and, when the
        profile has categorical columns, the Pearson correlation of the (profile value x
        item) count tables: the last one checks that baskets follow their profile.
        """
        sizes = self.basket_sizes_[val_rows]
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        with torch.no_grad():
            synth = to_csr(self._baskets(prof[val_rows], sizes, gen), sizes, self.n_items_)
        card = scorecard_from_matrices(matrix[val], synth, top_pairs=EVAL_TOP_PAIRS)
        out = {"popularity_spearman": card["popularity_spearman"],
               "pmi_pearson": card["pmi_pearson"]}
        parts = [fidelity_score(card)] * 2
        onehot = self.profiles_.encoder.one_hot_mask()
        if onehot.any():
            enc = self.profiles_.encoded[:, onehot]
            real = np.asarray(matrix[val].T @ enc[val]).ravel() / len(val)
            fake = np.asarray(synth.T @ enc[val_rows]).ravel() / len(val_rows)
            corr = float(np.corrcoef(real, fake)[0, 1]) if real.std() and fake.std() else 0.0
            out["profile_item_pearson"] = corr
            parts.append(corr)
        out["fidelity"] = float(np.mean(parts))
        return out

    def _vae_step(self, x: torch.Tensor, p: torch.Tensor, opts: list[torch.optim.Optimizer],
                  gen: torch.Generator, epoch: int) -> dict[str, float]:
        keep = torch.rand(x.shape, generator=gen, device=x.device) >= INPUT_DROPOUT
        xin = nn.functional.normalize(x * keep / (1 - INPUT_DROPOUT), dim=1)
        with autocast(self.device_):
            mu, logvar = self._vae.encode(xin, p)
            eps = torch.randn(mu.shape, generator=gen, device=x.device)
            z = mu + eps * torch.exp(0.5 * logvar)
            logits = self._vae.decode(z, p)
        logits, mu, logvar = logits.float(), mu.float(), logvar.float()
        nll = -(torch.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
        weight = self.beta * min(1.0, (epoch + 1) / ANNEAL_EPOCHS)
        loss = nll + weight * kl
        opts[0].zero_grad(set_to_none=True)
        loss.backward()
        opts[0].step()
        return {"loss": loss.item(), "nll": nll.item(), "kl": kl.item()}

    def _gan_step(self, x: torch.Tensor, p: torch.Tensor, opts: list[torch.optim.Optimizer],
                  gen: torch.Generator, epoch: int) -> dict[str, float]:
        opt_c, opt_g = opts
        sizes = x.sum(dim=1, keepdim=True)
        real = x / sizes
        b, dev = x.shape[0], x.device
        # critic
        with torch.no_grad(), autocast(self.device_):
            z = torch.randn((b, self.latent_dim), generator=gen, device=dev)
            fake = multi_hot(self._logits(z, p).float(), sizes, gen) / sizes
        alpha = torch.rand((b, 1), generator=gen, device=dev)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        with autocast(self.device_):
            d_real = self._critic(torch.cat([real, p], dim=1)).float()
            d_fake = self._critic(torch.cat([fake, p], dim=1)).float()
            d_mixed = self._critic(torch.cat([mixed, p], dim=1)).float()
        grad = torch.autograd.grad(d_mixed.sum(), mixed, create_graph=True)[0]
        gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
        loss_c = d_fake.mean() - d_real.mean() + GP_WEIGHT * gp
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        opt_c.step()
        # generator: hard Gumbel top-k basket forward, softmax gradient (straight-through)
        z = torch.randn((b, self.latent_dim), generator=gen, device=dev)
        with autocast(self.device_):
            logits = self._logits(z, p).float()
            soft = torch.softmax(logits, dim=1)
            hard = multi_hot(logits.detach(), sizes, gen) / sizes
            fake = hard + soft - soft.detach()
            loss_g = -self._critic(torch.cat([fake, p], dim=1)).float().mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"critic_loss": loss_c.item(), "generator_loss": loss_g.item(),
                "wasserstein": (d_real.mean() - d_fake.mean()).item()}

    def _baskets(self, prof: torch.Tensor, sizes: np.ndarray,
                 gen: torch.Generator) -> np.ndarray:
        """Item columns of each user's basket, concatenated in user order (Gumbel top-k)."""
        out = []
        dev = self.device_
        for b in range(0, len(sizes), SAMPLE_BATCH):
            p = prof[b:b + SAMPLE_BATCH]
            k = torch.as_tensor(sizes[b:b + SAMPLE_BATCH], device=dev)
            z = torch.randn((len(p), self.latent_dim), generator=gen, device=dev)
            with autocast(self.device_):
                logits = self._logits(z, p).float()
            idx, keep = gumbel_topk(logits, k, gen)
            out.append(idx[keep].cpu().numpy())
        return np.concatenate(out).astype(np.int64)

    # -- sampling ----------------------------------------------------------------------
    def _draw(self, n: int, conditions: dict[str, Any], random_state: RandomState, *,
              baskets: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        pool, fixed = self.profiles_.condition_pool(conditions)
        if random_state is None:
            random_state = self._sample_rng
        rng, gen = make_rngs(random_state, self.device_)
        rows = pool[rng.integers(0, len(pool), n)]
        sizes = np.clip(self.basket_sizes_[pool[rng.integers(0, len(pool), n)]], 1,
                        self.n_items_)
        raw = self.profiles_.resample(rows, fixed, self.profile_jitter, rng)
        width = max(6, len(str(n)))
        ids = np.array([f"syn-{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
        users = self.profiles_.frame(raw, ids)
        users["basket_size"] = sizes.astype(np.int64)
        if not baskets:
            return users, None
        prof = torch.from_numpy(self.profiles_.encoder.transform(raw, n)).to(self.device_)
        with torch.no_grad():
            for m in self._modules().values():
                m.eval()
            cols = self._baskets(prof, sizes, gen)
        total = len(cols)
        value = self.marginals_.draw_values(cols, rng)
        inter = pd.DataFrame({
            "user_id": np.repeat(ids, sizes),
            "item_id": self.item_ids_[cols].astype(object),
            "ts": self.marginals_.draw_ts(rng, total),
            "qty": np.ones(total),
            "value": value,
        })
        return users, inter


def to_csr(cols: np.ndarray, sizes: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Baskets given as concatenated item columns and their sizes, as a binary matrix."""
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    return sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                         shape=(len(sizes), n_items))


def _sampling_rng(random_state: RandomState) -> np.random.Generator:
    """The stream ``sample`` uses when it gets no ``random_state``: seeded like training
    (so fit -> sample and load -> sample agree), or the caller's own Generator."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(None if random_state is None else int(random_state))
