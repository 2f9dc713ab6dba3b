"""Fitting, sampling and persistence shared by the neural tabular generators
(:class:`~augment.tabular.vae.TabularVAE`, :class:`~augment.tabular.gan.TabularGAN`).

Both read the vectorised :class:`~augment.encoding.TabularEncoder`'s encodings, take a
conditional input built from every categorical column (its value, or an "unknown" token)
and train in the shared epoch loop (augment/training.py) with early stopping on a
validation fidelity score. During training each row's own categories are revealed as its
condition at random (half the rows see none), so one model samples unconditionally and
conditioned on any subset of categorical columns. Conditioned columns are also written
straight into the output, so a conditional sample has exactly ``n`` rows with exactly the
requested values and no rejection loop.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from augment.base import Callback, Generator
from augment.encoding import DEPENDENCE, TabularEncoder, encoding_problems
from augment.quality import encoded_fidelity
from augment.runtime import RandomState, make_rngs, resolve_device
from augment.tabular.networks import CatLayout
from augment.training import train_epochs
from augment.warmstart import check_same_params, load_weights, mismatch
from features.errors import check_int, check_param, check_random_state, check_real, is_int

logger = logging.getLogger(__name__)


class NeuralTabularGenerator(Generator):
    """Shared fitting, sampling and persistence of the neural tabular generators.

    Subclasses list every constructor argument in their own ``__init__`` (``get_params``
    reads it), store the shared ones through this ``__init__``, and implement ``_build``
    (networks and optimisers), ``_modules``, ``_step`` (one optimisation step on a batch of
    encoded rows) and ``_decode_batch`` (encoded outputs for ``n`` conditions).
    """

    kind = "tabular"
    warm_start = True

    def __init__(self, *, discrete_columns: list[str] | None, epochs: int, batch_size: int,
                 lr: float, latent_dim: int, hidden: tuple[int, ...], max_categories: int,
                 validation_fraction: float, patience: int, eval_every: int, device: str,
                 random_state: int | None, show_progress: bool,
                 callback: Callback | None) -> None:
        self.discrete_columns = discrete_columns
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.max_categories = max_categories
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.eval_every = eval_every
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress
        self.callback = callback

    def _check_params(self) -> None:
        name = type(self).__name__
        for p, lo in (("epochs", 1), ("batch_size", 2), ("latent_dim", 1), ("eval_every", 1),
                      ("patience", 0), ("max_categories", 1)):
            check_int(name, p, getattr(self, p), lo)
        check_real(name, "lr", self.lr, 0, low_open=True)
        check_param(name, "hidden", self.hidden,
                    isinstance(self.hidden, tuple | list) and len(self.hidden) > 0 and
                    all(is_int(h) and h > 0 for h in self.hidden),
                    "a non-empty tuple of positive ints")
        check_real(name, "validation_fraction", self.validation_fraction, 0, 0.5,
                   high_open=True)
        check_random_state(name, self.random_state)
        check_param(name, "callback", self.callback,
                    self.callback is None or callable(self.callback), "None or a callable")

    # -- fit ---------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        self._train(frame, None)

    def _fit_from(self, frame: pd.DataFrame, source: Generator) -> None:
        """Fine-tune from ``source``: its encoder and weights, checked against ``frame``
        and this generator's architecture (augment/warmstart.py)."""
        assert isinstance(source, NeuralTabularGenerator)
        self._check_params()
        check_same_params(self, source, self._architecture())
        problems = encoding_problems(source.encoder_, frame.set_axis(
            [str(c) for c in frame.columns], axis=1))
        if problems:
            raise mismatch("encoding", problems,
                           "fit on a table with the source's columns, kinds of values and "
                           "categories (or fit without --init)")
        self._train(frame, source)

    def _architecture(self) -> tuple[str, ...]:
        """Parameters that shape the networks (a warm start needs them equal)."""
        return ("latent_dim", "hidden")

    def _train(self, frame: pd.DataFrame, source: NeuralTabularGenerator | None) -> None:
        self._check_params()
        self.device_ = resolve_device(self.device)
        rng, gen = make_rngs(self.random_state)
        self.torch_seed_ = int(rng.integers(0, 2**31 - 1))
        torch_gen = torch.Generator(device=self.device_).manual_seed(self.torch_seed_)
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        if source is None:
            self.columns_ = list(frame.columns)
            frame = frame.reset_index(drop=True)
            self.encoder_ = TabularEncoder(discrete_columns=self.discrete_columns,
                                           max_categories=self.max_categories,
                                           dependence=DEPENDENCE).fit(frame)
        else:  # the source's encoding and column order: its weights mean that
            self.columns_ = list(source.columns_)
            frame = frame[self.columns_].reset_index(drop=True)
            self.encoder_ = copy.deepcopy(source.encoder_)
        order = rng.permutation(len(frame))
        n_val = int(round(self.validation_fraction * len(frame))) if len(frame) >= 50 else 0
        val = frame.iloc[order[:n_val]] if n_val else None
        if val is not None:
            val_cont, val_codes = self.encoder_.transform(val, rng)
        train = frame.iloc[order[n_val:]]
        cont, codes = self.encoder_.transform(train, rng)
        self._build()
        if source is not None:
            load_weights(self, source)
            self._loaded()
        t_cont = torch.as_tensor(cont, device=self.device_)
        t_codes = torch.as_tensor(codes, device=self.device_)
        self._unknown = torch.as_tensor(self.encoder_.cardinalities, device=self.device_,
                                        dtype=torch.long)
        self.layout_ = CatLayout(self.encoder_.cardinalities, self.device_)
        pac = self._pac()
        batch = min(self.batch_size, len(train))
        batch -= batch % pac if batch >= pac else 0
        step_gen = gen if self.device_.type == "cpu" else torch_gen

        def batches(epoch: int) -> Iterator[torch.Tensor]:
            perm = torch.randperm(len(train), generator=gen, device="cpu").to(self.device_)
            for s in range(-(-len(train) // batch)):
                idx = perm[s * batch:(s + 1) * batch]
                yield idx[:len(idx) - len(idx) % pac]

        def step(idx: torch.Tensor, epoch: int) -> dict[str, float]:
            if len(idx) < max(2, pac):
                return {}  # too small for a pac: skipped, but counted in the epoch's mean
            return self._step(t_cont[idx], t_codes[idx], step_gen)

        def validate(epoch: int) -> dict[str, float] | None:
            if val is None or (epoch % self.eval_every and epoch != self.epochs):
                return None
            cont_s, codes_s = self._generate_arrays(max(len(val), 500), {}, gen)
            return {"val_fidelity": encoded_fidelity(val_cont, val_codes, cont_s, codes_s,
                                                     self.encoder_.cardinalities)}

        # Epochs count from 1 here, and the rows carry no seconds (as they always did:
        # saved histories and the report's loss plot read them so).
        stopper = train_epochs(self._modules(), epochs=self.epochs, batches=batches,
                               step=step, validate=validate, score="val_fidelity",
                               patience=self.patience, history=self.history_,
                               callback=self.callback, show_progress=self.show_progress,
                               desc=type(self).__name__, first_epoch=1, timed=False)
        self.best_epoch_ = stopper.best_epoch if stopper.best_epoch > 0 else len(self.history_)

    def _pac(self) -> int:
        return 1

    def _loaded(self) -> None:
        """After a warm start loaded the saved modules: sync any network not saved."""

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

