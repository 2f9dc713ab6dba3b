"""The one epoch loop of the torch generators, with early stopping on a validation
*fidelity* score.

Each generator family supplies what is its own: the batches of an epoch, one optimisation
step on a batch, and a validation that samples from the model and scores the samples
against held-out real data (higher is better). The loop does the rest the same way for
every family: train/eval modes, mean losses per epoch, ``history_`` rows, the
``callback(epoch, elapsed_s, metrics)``, the progress bar, early stopping after
``patience`` validations without improvement, and restoring the best weights.

The loop draws no random numbers itself: the family's ``batches`` and ``step`` draw from
the family's own generators, in the order they did before the loop was shared, so that
the same seed gives the same model.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from augment.base import Callback

logger = logging.getLogger(__name__)

B = TypeVar("B")


class EarlyStopping:
    """Keep the best model by a validation fidelity score (higher is better) and stop
    after ``patience`` checks without improvement (0: never stop early)."""

    def __init__(self, modules: Mapping[str, nn.Module], patience: int) -> None:
        self.modules = modules
        self.patience = patience
        self.best = -np.inf
        self.best_epoch = -1
        self.bad_checks = 0
        self._best_state: dict[str, dict[str, torch.Tensor]] | None = None

    def update(self, epoch: int, score: float) -> bool:
        """Record ``score``; True when training should stop."""
        if score > self.best + 1e-6:
            self.best, self.best_epoch, self.bad_checks = score, epoch, 0
            self._best_state = {k: copy.deepcopy(m.state_dict())
                                for k, m in self.modules.items()}
            return False
        self.bad_checks += 1
        return self.patience > 0 and self.bad_checks >= self.patience

    def restore_best(self) -> None:
        if self._best_state is not None:
            for k, m in self.modules.items():
                m.load_state_dict(self._best_state[k])


def train_epochs(
    modules: Mapping[str, nn.Module],
    *,
    epochs: int,
    batches: Callable[[int], Iterable[B]],
    step: Callable[[B, int], Mapping[str, float]],
    validate: Callable[[int], Mapping[str, float] | None],
    score: str,
    patience: int,
    history: list[dict[str, float]],
    callback: Callback | None = None,
    show_progress: bool = False,
    desc: str = "training",
    first_epoch: int = 0,
    timed: bool = True,
    losses: Sequence[str] = (),
) -> EarlyStopping:
    """Train ``modules`` for up to ``epochs`` epochs; returns the early stopper, whose
    best weights are already restored (``best_epoch`` -1 when nothing was validated).

    Parameters
    ----------
    modules : mapping of name to nn.Module
        The networks: set to train mode for the steps and eval mode for validation, and
        saved whenever the validation score improves.
    epochs : int
        Maximum number of epochs, numbered from ``first_epoch``.
    batches : callable(epoch) -> iterable
        The batches of one epoch (drawn when the epoch starts).
    step : callable(batch, epoch) -> dict of float
        One optimisation step; returns the batch's losses. An epoch's losses are their
        sums over its batches divided by the number of batches (``{}`` counts as a batch
        that reported nothing).
    validate : callable(epoch) -> dict of float or None
        The validation metrics of the model after the epoch, among them ``score``
        (higher is better); None when this epoch is not validated.
    score : str
        The key of the validation metrics that early stopping follows.
    patience : int
        Validations without a better score before training stops; 0 never stops early.
    history : list
        Receives one row per epoch: ``epoch``, the mean losses, the validation metrics
        and (``timed``) ``seconds`` since training started.
    callback : callable(epoch, elapsed_s, metrics), optional
        Called after every epoch with the losses and validation metrics.
    show_progress : bool
        Show a tqdm bar over the epochs, labelled ``desc``.
    first_epoch : int
        The number of the first epoch (0; the tabular generators count from 1).
    timed : bool
        Whether the history rows carry ``seconds``.
    losses : sequence of str
        Loss keys every epoch reports, 0.0 when it had no batch.
    """
    stopper = EarlyStopping(modules, patience)
    start = time.perf_counter()
    bar = tqdm(range(first_epoch, first_epoch + epochs), desc=desc, unit="epoch",
               disable=not show_progress)
    for epoch in bar:
        for m in modules.values():
            m.train()
        sums: dict[str, float] = dict.fromkeys(losses, 0.0)
        n_batches = 0
        for batch in batches(epoch):
            for k, v in step(batch, epoch).items():
                sums[k] = sums.get(k, 0.0) + v
            n_batches += 1
        metrics = {k: v / max(n_batches, 1) for k, v in sums.items()}
        for m in modules.values():
            m.eval()
        checked = validate(epoch)
        if checked is not None:
            metrics.update(checked)
        elapsed = time.perf_counter() - start
        history.append({"epoch": epoch, **metrics, **({"seconds": elapsed} if timed else {})})
        shown = [k for k in ("loss", score) if k in metrics]
        bar.set_postfix({k: f"{metrics[k]:.3f}" for k in shown})
        if callback is not None:
            callback(epoch, elapsed, metrics)
        if checked is not None and stopper.update(epoch, checked[score]):
            logger.info("%s: no better %s for %d validations, stopping at epoch %d",
                        desc, score, patience, epoch)
            break
    bar.close()
    stopper.restore_best()
    for m in modules.values():
        m.eval()
    if stopper.best_epoch >= first_epoch:
        logger.info("%s: kept epoch %d (%s %.4f) after %.1fs", desc, stopper.best_epoch,
                    score, stopper.best, time.perf_counter() - start)
    return stopper
