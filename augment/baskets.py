"""Synthetic users with baskets: a tabular profile plus a set of distinct item ids.

:class:`BasketGenerator` learns from an ``interactions`` table (and, optionally, the
``users`` table with the profile attributes) and makes new users. A synthetic user is

1. a **profile**: a real training profile drawn at random (bootstrap), with small Gaussian
   jitter on continuous numeric columns (``profile_jitter`` x the column's standard
   deviation, rounded back to integers for integer columns and clipped to the training
   range). Categorical values are copied as they are, so every combination is one that
   exists. (A learned tabular model belongs to ``augment.tabular``; this simple one keeps
   the basket model's evaluation independent of it.)
2. a **basket size**, drawn from the empirical distribution of the number of distinct items
   per training user; when ``conditions`` fix categorical profile values, from the users
   that share those values.
3. a **basket**: ``z ~ N(0, I)`` goes through a decoder conditioned on the profile that
   outputs logits over *all* catalogue items, and the basket is that many *distinct* items
   drawn from the softmax without replacement with the Gumbel top-k trick (vectorised
   over users).

Two decoders:

- ``model="vae"``: a Mult-VAE (Liang et al., 2018): the encoder reads the user's
  L2-normalised binary item vector (with input dropout) and the profile; the decoder maps
  ``(z, profile)`` to a multinomial over items; the loss is the multinomial log-likelihood
  plus ``beta`` x KL, with ``beta`` annealed linearly from 0 over the first epochs.
- ``model="gan"``: a WGAN-GP. The generator maps ``(z, profile)`` to item logits; a fake
  basket is the Gumbel top-k multi-hot vector of the real user's basket size, divided by
  that size (so real and fake inputs have the same form), with a straight-through gradient
  through the softmax. The critic reads ``(basket vector, profile)``.

Profile encoding for the networks: numeric columns are standardised (missing -> 0),
categorical columns one-hot over their ``MAX_CATEGORIES`` most frequent values plus an
"other" slot (a one-hot into a linear layer is an embedding). With
``profile_columns=None`` every users column except ``user_id`` is used, except categorical
columns with more than ``MAX_CATEGORIES`` distinct values (a zip code) and date/time
columns, which are dropped with a :class:`~features.errors.GenliftWarning`; list them in
``profile_columns`` to keep them (they are then bucketed as above).

Training keeps the epoch whose sampled baskets best match held-out training users
(:func:`augment.quality_baskets.fidelity_score`: popularity Spearman and PMI agreement),
not the one with the lowest loss.

Interactions of synthetic users have ``ts`` drawn from the training timestamps'
distribution (inverse CDF over 1001 quantiles), ``qty = 1.0`` and ``value`` resampled from
the training values of the same item (1.0 when the training frame has no ``value``).

Privacy note: the artifact stores the training profiles (they are resampled) and the
quantiles / per-item values above; treat it like the training data.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn
from tqdm.auto import tqdm

from augment.base import Callback, EarlyStopping, Generator
from augment.quality_baskets import fidelity_score, scorecard_from_matrices
from augment.runtime import RandomState, autocast, make_rngs, resolve_device
from features.errors import DataValidationError, GenliftWarning, check_param
from features.matrix import build_user_items
from features.store import fingerprint_frame

logger = logging.getLogger(__name__)

MODELS = ("vae", "gan")
MAX_CATEGORIES = 50  # more distinct values: dropped by default, else bucketed
JITTER_MIN_LEVELS = 20  # numeric columns with fewer distinct values are not jittered
N_TS_QUANTILES = 1001
INPUT_DROPOUT = 0.5  # Mult-VAE's input dropout
ANNEAL_EPOCHS = 10  # beta rises linearly from 0 over these epochs
GP_WEIGHT = 10.0
EVAL_MIN_USERS = 512  # validation profiles are repeated up to this many synthetic users
EVAL_TOP_PAIRS = 500
SAMPLE_BATCH = 1024
_OWNER = "BasketGenerator"


@dataclass(frozen=True)
class _Column:
    """How one profile column is resampled and encoded."""

    name: str
    kind: str  # "numeric" or "categorical"
    integer: bool = False
    jitter: bool = False
    mean: float = 0.0
    std: float = 1.0
    lo: float = 0.0
    hi: float = 0.0
    levels: tuple[str, ...] = ()  # categorical: one-hot levels (an "other" slot follows)

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.levels) + 1


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
    _columns: list[_Column]
    _raw: dict[str, np.ndarray]

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
    def fit(self, frame: pd.DataFrame, users: pd.DataFrame | None = None) -> BasketGenerator:
        """Learn baskets from ``frame`` (interactions) and profiles from ``users``.

        Parameters
        ----------
        frame : DataFrame
            The ``interactions`` table: ``user_id``, ``item_id``, ``ts`` and optionally
            ``value``. A user's basket is the set of distinct items they interacted with.
        users : DataFrame, optional
            The ``users`` table (``user_id`` plus attribute columns); every user of
            ``frame`` must be in it. Without it the generator is unconditional.

        Returns
        -------
        self
        """
        if users is not None:
            _check_users(users)
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
        _check_n(n, "sample_users")
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
                f"{_OWNER}.fit: interactions is missing column(s) {', '.join(missing)}",
                table="interactions", column=missing[0],
                fix="pass the interactions table (user_id, item_id, ts, qty, value)")
        im = build_user_items(frame, weight="binary")
        if im.shape[1] < 2:
            raise DataValidationError(f"{_OWNER}.fit: interactions hold {im.shape[1]} "
                                      "distinct item(s)", table="interactions",
                                      column="item_id", fix="fit on at least 2 items")
        matrix = im.matrix
        self.item_ids_ = np.asarray(im.item_ids, dtype=str)
        self.n_items_ = int(matrix.shape[1])
        self.basket_sizes_ = np.diff(matrix.indptr).astype(np.int64)
        self._fit_profiles(users, np.asarray(im.user_ids, dtype=str))
        self._fit_marginals(frame)

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
        arrays: dict[str, np.ndarray] = {
            "item_ids": self.item_ids_,
            "basket_sizes": self.basket_sizes_,
            "ts_quantiles": self._ts_quantiles,
            "value_offsets": self._value_offsets,
            "values": self._values,
        }
        for k, col in enumerate(self._columns):
            arrays[f"profile_{k}"] = self._raw[col.name]
        meta = {
            "columns": [asdict(c) for c in self._columns],
            "ts_kind": self._ts_kind,
            "best_epoch": self.best_epoch_,
        }
        return meta, arrays

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._check_params()
        self.item_ids_ = arrays["item_ids"].astype(str)
        self.n_items_ = len(self.item_ids_)
        self.basket_sizes_ = arrays["basket_sizes"]
        self._ts_quantiles = arrays["ts_quantiles"]
        self._value_offsets = arrays["value_offsets"]
        self._values = arrays["values"]
        self._ts_kind = meta["ts_kind"]
        self.best_epoch_ = meta["best_epoch"]
        self._columns = [_Column(**{**c, "levels": tuple(c["levels"])}) for c in meta["columns"]]
        self._raw = {c.name: arrays[f"profile_{k}"] for k, c in enumerate(self._columns)}
        self.profile_columns_ = [c.name for c in self._columns]
        self._encoded = self._encode(self._raw, len(self.basket_sizes_))
        self.device_ = resolve_device(self.device)
        self._build(torch.Generator().manual_seed(0))  # weights are loaded next
        self._sample_rng = _sampling_rng(self.random_state)

    def _modules(self) -> dict[str, nn.Module]:
        if self.model == "vae":
            return {"vae": self._vae}
        return {"generator": self._gen, "critic": self._critic}

    # -- parameters and data -----------------------------------------------------------
    def _check_params(self) -> None:
        check_param(_OWNER, "model", self.model, self.model in MODELS,
                    "a str among {'vae', 'gan'}")
        for name in ("latent_dim", "hidden", "epochs", "batch_size"):
            _check_int(name, getattr(self, name), 1)
        _check_int("patience", self.patience, 0)
        if self.lr is not None:
            _check_float("lr", self.lr, "(0, inf)", lambda v: v > 0)
        _check_float("beta", self.beta, "[0, inf)", lambda v: v >= 0)
        _check_float("profile_jitter", self.profile_jitter, "[0, inf)", lambda v: v >= 0)
        _check_float("validation_fraction", self.validation_fraction, "[0, 1)",
                     lambda v: 0 <= v < 1)
        pc = self.profile_columns
        check_param(_OWNER, "profile_columns", pc,
                    pc is None or (not isinstance(pc, str) and isinstance(pc, Sequence)
                                   and all(isinstance(c, str) for c in pc)),
                    "None or a list of column names")
        check_param(_OWNER, "show_progress", self.show_progress,
                    isinstance(self.show_progress, bool), "a bool")
        check_param(_OWNER, "callback", self.callback,
                    self.callback is None or callable(self.callback), "None or a callable")

    def _fit_profiles(self, users: pd.DataFrame | None, user_ids: np.ndarray) -> None:
        """Align the users table on the matrix rows; choose and describe the columns."""
        self._columns = []
        self._raw = {}
        if users is None:
            if self.profile_columns:
                raise ValueError(f"{_OWNER}: profile_columns={list(self.profile_columns)!r} "
                                 "needs the users table: fit(interactions, users)")
            self.profile_columns_ = []
            self._encoded = np.zeros((len(user_ids), 0), dtype=np.float32)
            return
        ids = users["user_id"].astype(str).to_numpy()
        pos = pd.Index(ids).get_indexer(user_ids)
        if (pos < 0).any():
            absent = user_ids[pos < 0]
            raise DataValidationError(
                f"interactions.user_id has {absent.size} users missing from users "
                f"(e.g. {', '.join(map(repr, absent[:5]))})", table="interactions",
                column="user_id", n_rows=int(absent.size),
                fix="add them to the users table or drop their interactions")
        aligned = users.iloc[pos].reset_index(drop=True)
        chosen = self._choose_columns(users)
        for name in chosen:
            col, raw = _describe(aligned[name], name)
            self._columns.append(col)
            self._raw[name] = raw
        self.profile_columns_ = [c.name for c in self._columns]
        self._encoded = self._encode(self._raw, len(self.basket_sizes_))

    def _choose_columns(self, users: pd.DataFrame) -> list[str]:
        if self.profile_columns is not None:
            unknown = [c for c in self.profile_columns if c not in users.columns]
            if unknown or "user_id" in self.profile_columns:
                bad = unknown[0] if unknown else "user_id"
                raise DataValidationError(
                    f"{_OWNER}: profile column {bad!r} is not an attribute column of users "
                    f"(columns: {', '.join(map(str, users.columns))})", table="users",
                    column=bad, fix="list attribute columns of the users table")
            return list(self.profile_columns)
        chosen = []
        for name in users.columns:
            if name == "user_id":
                continue
            s = users[name]
            if pd.api.types.is_datetime64_any_dtype(s.dtype):
                why = "it holds dates/times"
            elif not _is_numeric(s) and s.nunique(dropna=True) > MAX_CATEGORIES:
                why = f"it has {s.nunique(dropna=True)} distinct values (> {MAX_CATEGORIES})"
            elif s.isna().all():
                why = "it holds only missing values"
            else:
                chosen.append(str(name))
                continue
            warnings.warn(f"{_OWNER}: users.{name} is left out of the profile because {why}; "
                          "pass profile_columns=[...] to choose the columns",
                          GenliftWarning, stacklevel=6)
        return chosen

    def _fit_marginals(self, frame: pd.DataFrame) -> None:
        """Timestamp quantiles and per-item values for the synthetic interactions."""
        ts = frame["ts"]
        if pd.api.types.is_numeric_dtype(ts.dtype):
            self._ts_kind = "int" if pd.api.types.is_integer_dtype(ts.dtype) else "float"
            t = ts.to_numpy(dtype=np.float64)
        else:
            dt = pd.to_datetime(ts, utc=True, format="mixed" if ts.dtype == object else None)
            self._ts_kind = "datetime"
            t = dt.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
            t = np.where(dt.isna().to_numpy(), np.nan, t.astype(np.float64))
        t = t[np.isfinite(t)]
        if t.size == 0:
            raise DataValidationError(f"{_OWNER}.fit: interactions.ts holds no usable time",
                                      table="interactions", column="ts",
                                      fix="give timestamps")
        self._ts_quantiles = np.quantile(t, np.linspace(0, 1, N_TS_QUANTILES))
        col = self.item_ids_.searchsorted(frame["item_id"].astype(str).to_numpy())
        if "value" in frame.columns:
            vals = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=np.float64)
            fill = np.nanmedian(vals) if np.isfinite(vals).any() else 1.0
            vals = np.where(np.isfinite(vals), vals, fill)
        else:
            vals = np.ones(len(frame))
        order = np.argsort(col, kind="stable")
        self._values = vals[order]
        self._value_offsets = np.searchsorted(col[order], np.arange(self.n_items_ + 1))

    def _encode(self, raw: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Network input for ``n`` profiles: standardised numerics, one-hot categoricals
        (``n`` rows of width 0 when the fit had no profile columns)."""
        blocks = [np.zeros((n, 0), dtype=np.float32)]
        for col in self._columns:
            v = raw[col.name]
            if col.kind == "numeric":
                z = (v.astype(np.float64) - col.mean) / col.std
                blocks.append(np.nan_to_num(z, nan=0.0)[:, None].astype(np.float32))
            else:
                idx = pd.Index(col.levels).get_indexer(v)
                idx = np.where(idx < 0, len(col.levels), idx)
                onehot = np.zeros((n, col.width), dtype=np.float32)
                onehot[np.arange(n), idx] = 1.0
                blocks.append(onehot)
        return np.concatenate(blocks, axis=1)

    # -- networks ----------------------------------------------------------------------
    def _build(self, init_gen: torch.Generator) -> None:
        p = sum(c.width for c in self._columns)
        n, h, d = self.n_items_, self.hidden, self.latent_dim
        if self.model == "vae":
            self._vae = _MultVAE(n, p, h, d)
            _init(self._vae, init_gen)
            self._vae.to(self.device_)
        else:
            self._gen = _mlp([d + p, h, h, n])
            self._critic = _mlp([n + p, h, h // 2 or 1, 1])
            _init(self._gen, init_gen)
            _init(self._critic, init_gen)
            self._gen.to(self.device_)
            self._critic.to(self.device_)

    def _logits_layer(self) -> nn.Linear:
        net = self._vae.dec if self.model == "vae" else self._gen
        last = net[-1]
        assert isinstance(last, nn.Linear)
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
        prof = torch.from_numpy(self._encoded).to(dev)
        modules = self._modules()
        opts: list[torch.optim.Optimizer]
        if self.model == "vae":
            opts = [torch.optim.Adam(self._vae.parameters(), lr=self.lr or 1e-3)]
        else:
            opts = [torch.optim.Adam(m.parameters(), lr=self.lr or 1e-4, betas=(0.5, 0.9))
                    for m in (self._critic, self._gen)]
        stopper = EarlyStopping(modules, self.patience)
        reps = max(1, math.ceil(EVAL_MIN_USERS / len(val)))
        val_rows = np.tile(val, reps)
        eval_seed = int(rng.integers(0, 2**63 - 1))
        start = time.perf_counter()
        bar = tqdm(range(self.epochs), disable=not self.show_progress,
                   desc=f"{_OWNER}({self.model})")
        for epoch in bar:
            for m in modules.values():
                m.train()
            order = rng.permutation(train)
            sums: dict[str, float] = {}
            n_batches = 0
            for b in range(0, len(order), self.batch_size):
                rows = order[b:b + self.batch_size]
                x = torch.from_numpy(matrix[rows].toarray()).to(dev)
                step = self._vae_step if self.model == "vae" else self._gan_step
                losses = step(x, prof[rows], opts, gen, epoch)
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                n_batches += 1
            for m in modules.values():
                m.eval()
            metrics = {k: v / n_batches for k, v in sums.items()}
            metrics.update(self._validate(matrix, val, val_rows, prof, eval_seed))
            elapsed = time.perf_counter() - start
            self.history_.append({"epoch": epoch, **metrics, "seconds": elapsed})
            bar.set_postfix(fidelity=f"{metrics['fidelity']:.3f}")
            if self.callback is not None:
                self.callback(epoch, elapsed, metrics)
            if stopper.update(epoch, metrics["fidelity"]):
                logger.info("%s: no better fidelity for %d epochs, stopping at epoch %d",
                            _OWNER, self.patience, epoch)
                break
        bar.close()
        stopper.restore_best()
        for m in modules.values():
            m.eval()
        self.best_epoch_ = int(stopper.best_epoch)
        logger.info("%s(%s): kept epoch %d (fidelity %.3f) after %.1fs", _OWNER, self.model,
                    self.best_epoch_, stopper.best, time.perf_counter() - start)

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
            synth = _to_csr(self._baskets(prof[val_rows], sizes, gen), sizes, self.n_items_)
        card = scorecard_from_matrices(matrix[val], synth, top_pairs=EVAL_TOP_PAIRS)
        out = {"popularity_spearman": card["popularity_spearman"],
               "pmi_pearson": card["pmi_pearson"]}
        parts = [fidelity_score(card)] * 2
        onehot = np.concatenate([np.full(c.width, c.kind == "categorical")
                                 for c in self._columns] or [np.zeros(0, dtype=bool)])
        if onehot.any():
            enc = self._encoded[:, onehot]
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
            fake = _multi_hot(self._logits(z, p).float(), sizes, gen) / sizes
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
            hard = _multi_hot(logits.detach(), sizes, gen) / sizes
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
            idx, keep = _gumbel_topk(logits, k, gen)
            out.append(idx[keep].cpu().numpy())
        return np.concatenate(out).astype(np.int64)

    # -- sampling ----------------------------------------------------------------------
    def _draw(self, n: int, conditions: dict[str, Any], random_state: RandomState, *,
              baskets: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        pool, fixed = self._condition_pool(conditions)
        if random_state is None:
            random_state = self._sample_rng
        rng, gen = make_rngs(random_state, self.device_)
        rows = pool[rng.integers(0, len(pool), n)]
        sizes = np.clip(self.basket_sizes_[pool[rng.integers(0, len(pool), n)]], 1,
                        self.n_items_)
        raw: dict[str, np.ndarray] = {}
        for col in self._columns:
            v = self._raw[col.name][rows]
            if col.kind == "numeric":
                v = v.astype(np.float64)
                noise = rng.normal(0.0, self.profile_jitter * col.std, n)
                if col.jitter:
                    v = np.clip(v + noise, col.lo, col.hi)
                    v = np.round(v) if col.integer else v
            if col.name in fixed:
                v = np.full(n, fixed[col.name], dtype=v.dtype)
            raw[col.name] = v
        width = max(6, len(str(n)))
        ids = np.array([f"syn-{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
        users = pd.DataFrame({"user_id": ids})
        for col in self._columns:
            v = raw[col.name]
            if col.kind == "numeric" and col.integer and not np.isnan(v).any():
                users[col.name] = v.astype(np.int64)
            elif col.kind == "numeric":
                users[col.name] = v
            else:
                users[col.name] = pd.Series(v, dtype="string").replace("", pd.NA)
        users["basket_size"] = sizes.astype(np.int64)
        if not baskets:
            return users, None
        prof = torch.from_numpy(self._encode(raw, n)).to(self.device_)
        with torch.no_grad():
            for m in self._modules().values():
                m.eval()
            cols = self._baskets(prof, sizes, gen)
        total = len(cols)
        start, count = self._value_offsets[cols], np.diff(self._value_offsets)[cols]
        value = self._values[start + (rng.random(total) * count).astype(np.int64)]
        inter = pd.DataFrame({
            "user_id": np.repeat(ids, sizes),
            "item_id": self.item_ids_[cols].astype(object),
            "ts": self._draw_ts(rng, total),
            "qty": np.ones(total),
            "value": value,
        })
        return users, inter

    def _draw_ts(self, rng: np.random.Generator, size: int) -> Any:
        q = self._ts_quantiles
        t = np.interp(rng.random(size) * (len(q) - 1), np.arange(len(q)), q)
        if self._ts_kind == "int":
            return np.round(t).astype(np.int64)
        if self._ts_kind == "datetime":
            return np.round(t).astype(np.int64).astype("datetime64[ns]")
        return t

    def _condition_pool(self, conditions: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """Training rows that agree with the conditions, and the values to set."""
        cols = {c.name: c for c in self._columns}
        match = np.ones(len(self.basket_sizes_), dtype=bool)
        fixed: dict[str, Any] = {}
        for name, value in conditions.items():
            if name not in cols:
                known = ", ".join(cols) or "none: fit had no users table"
                raise ValueError(f"{_OWNER}: unknown condition column {name!r}; the profile "
                                 f"columns are: {known}")
            col, raw = cols[name], self._raw[name]
            if col.kind == "categorical":
                seen = np.unique(raw[raw != ""])
                if str(value) not in set(seen.tolist()):
                    shown = ", ".join(map(repr, seen[:10].tolist()))
                    raise ValueError(f"{_OWNER}: condition {name}={value!r} was never seen in "
                                     f"training; seen values include {shown}")
                fixed[name] = str(value)
                match &= raw == str(value)
                continue
            ok = isinstance(value, int | float | np.integer | np.floating) and \
                not isinstance(value, bool) and np.isfinite(value) and \
                col.lo <= float(value) <= col.hi
            if not ok:
                raise ValueError(f"{_OWNER}: condition {name}={value!r} must be a number in "
                                 f"the training range [{col.lo:g}, {col.hi:g}]")
            fixed[name] = float(value)
            if not col.jitter:
                match &= raw == float(value)
        pool = np.flatnonzero(match)
        if pool.size == 0:
            warnings.warn(f"{_OWNER}: no training user has {conditions!r}; profiles and "
                          "basket sizes are drawn from all users, with those values set",
                          GenliftWarning, stacklevel=4)
            pool = np.arange(len(self.basket_sizes_))
        return pool, fixed


def to_store_frames(users: pd.DataFrame, interactions: pd.DataFrame, run_id: str,
                    generator_name: str) -> dict[str, pd.DataFrame]:
    """The store tables ``synthetic_users`` and ``synthetic_interactions`` of one run.

    Adds ``run_id`` and ``generator``; drops ``is_synthetic`` and ``basket_size`` from the
    users (the table says the first, the interactions the second). The result loads with
    ``Store.load(frames, source=...)``.

    Examples
    --------
    >>> frames = to_store_frames(*gen.sample_users(100), "run-1", "BasketGenerator(vae)")
    >>> store.load(frames, source="BasketGenerator")
    """
    for name, value in (("run_id", run_id), ("generator_name", generator_name)):
        check_param("to_store_frames", name, value, isinstance(value, str) and value != "",
                    "a non-empty str")
    u = users.drop(columns=[c for c in ("is_synthetic", "basket_size") if c in users.columns])
    i = interactions.copy()
    for frame in (u, i):
        frame["run_id"] = run_id
        frame["generator"] = generator_name
    return {"synthetic_users": u.reset_index(drop=True),
            "synthetic_interactions": i.reset_index(drop=True)}


# -- networks ----------------------------------------------------------------------------
class _MultVAE(nn.Module):
    """Mult-VAE with the profile fed to both the encoder and the decoder."""

    def __init__(self, n_items: int, p: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.enc = _mlp([n_items + p, hidden, 2 * latent], act=nn.Tanh)
        self.dec = _mlp([latent + p, hidden, n_items], act=nn.Tanh)
        self.latent = latent

    def encode(self, x: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(torch.cat([x, p], dim=1))
        return h[:, : self.latent], h[:, self.latent:].clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.cat([z, p], dim=1))


def _mlp(sizes: list[int], act: type[nn.Module] | None = None) -> nn.Sequential:
    """Linear layers (made without touching torch's global RNG) with activations between."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.utils.skip_init(nn.Linear, a, b))
        if k < len(sizes) - 2:
            layers.append(act() if act is not None else nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _init(module: nn.Module, gen: torch.Generator) -> None:
    """Xavier-uniform weights and zero biases from an explicit generator."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            bound = math.sqrt(6.0 / (m.in_features + m.out_features))
            with torch.no_grad():
                m.weight.uniform_(-bound, bound, generator=gen)
                m.bias.zero_()


def _gumbel_topk(logits: torch.Tensor, k: torch.Tensor, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``k[i]`` distinct columns per row, drawn from softmax(logits) without replacement:
    the top-k of logits + Gumbel noise. Returns (indices, keep mask), both (rows, max k)."""
    u = torch.rand(logits.shape, generator=gen, device=logits.device)
    gumbel = -torch.log(-torch.log(u.clamp(1e-12, 1.0 - 1e-7)))
    kmax = int(k.max())
    idx = torch.topk(logits + gumbel, kmax, dim=1).indices
    keep = torch.arange(kmax, device=logits.device)[None, :] < k.reshape(-1, 1)
    return idx, keep


def _multi_hot(logits: torch.Tensor, sizes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    idx, keep = _gumbel_topk(logits, sizes.reshape(-1).long(), gen)
    return torch.zeros_like(logits).scatter_(1, idx, keep.to(logits.dtype))


def _to_csr(cols: np.ndarray, sizes: np.ndarray, n_items: int) -> sp.csr_matrix:
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    return sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                         shape=(len(sizes), n_items))


# -- helpers -------------------------------------------------------------------------------
def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _describe(s: pd.Series, name: str) -> tuple[_Column, np.ndarray]:
    """A profile column's spec and its raw training values (float64 or str, "" = missing)."""
    if _is_numeric(s):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        fin = v[np.isfinite(v)]
        if fin.size == 0:
            raise DataValidationError(f"users.{name} holds no numbers", table="users",
                                      column=name, fix="drop it from profile_columns")
        std = float(fin.std()) or 1.0
        integer = bool(pd.api.types.is_integer_dtype(s.dtype)) or bool(np.all(fin == np.round(fin)))
        col = _Column(name, "numeric", integer=integer,
                      jitter=np.unique(fin).size >= JITTER_MIN_LEVELS, mean=float(fin.mean()),
                      std=std, lo=float(fin.min()), hi=float(fin.max()))
        return col, v
    txt = s.astype("string").fillna("").to_numpy(dtype=object).astype(str)
    vc = pd.Series(txt[txt != ""]).value_counts(sort=True)
    levels = tuple(sorted(vc.index[:MAX_CATEGORIES].tolist()))
    return _Column(name, "categorical", levels=levels), txt


def _check_users(users: pd.DataFrame) -> None:
    if not isinstance(users, pd.DataFrame):
        raise DataValidationError(f"{_OWNER}.fit: users must be a pandas DataFrame, got "
                                  f"{type(users).__name__}", table="users",
                                  fix="pass the users table or None")
    if len(users) == 0 or "user_id" not in users.columns:
        raise DataValidationError(f"{_OWNER}.fit: users is empty or has no user_id column",
                                  table="users", column="user_id",
                                  fix="pass the users table (user_id + attribute columns)")
    dup = users["user_id"].astype(str).duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataValidationError(
            f"users.user_id has {int(dup.sum())} duplicate keys (rows "
            f"{', '.join(str(i + 1) for i in np.flatnonzero(dup)[:5])})", table="users",
            column="user_id", n_rows=int(dup.sum()), fix="each user_id may appear once")


def _check_n(n: object, method: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"The 'n' parameter of {_OWNER}.{method} must be an int >= 1. "
                         f"Got {n!r} instead.")


def _check_int(name: str, value: object, low: int) -> None:
    check_param(_OWNER, name, value,
                bool(isinstance(value, int | np.integer) and not isinstance(value, bool)
                     and value >= low), f"an int in the range [{low}, inf)")


def _check_float(name: str, value: object, interval: str, ok: Any) -> None:
    check_param(_OWNER, name, value,
                bool(isinstance(value, int | float | np.integer | np.floating)
                     and not isinstance(value, bool) and np.isfinite(value) and ok(value)),
                f"a float in the range {interval}")


def _sampling_rng(random_state: RandomState) -> np.random.Generator:
    """The stream ``sample`` uses when it gets no ``random_state``: seeded like training
    (so fit -> sample and load -> sample agree), or the caller's own Generator."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(None if random_state is None else int(random_state))
