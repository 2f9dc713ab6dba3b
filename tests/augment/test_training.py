"""The shared epoch loop (augment/training.py) on a one-weight network with scripted
validation scores: known stopping epoch, restored weights, history rows and callbacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from augment.training import EarlyStopping, train_epochs


def weight(net: nn.Linear) -> float:
    return float(net.weight.detach())


def scripted(scores: list[float | None], *, patience: int = 2, first_epoch: int = 0,
             **kw: object) -> tuple[nn.Linear, list[dict[str, float]], list[tuple],
                                    EarlyStopping]:
    """Train a 1x1 Linear whose weight becomes the epoch number; validation reads
    ``scores[epoch - first_epoch]`` (None: not validated)."""
    net = nn.Linear(1, 1, bias=False)
    history: list[dict[str, float]] = []
    calls: list[tuple] = []
    modes: list[bool] = []

    def batches(epoch: int) -> Iterator[float]:
        yield from (1.0, 2.0, 0.0)

    def step(batch: float, epoch: int) -> dict[str, float]:
        modes.append(net.training)
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        return {"loss": batch} if batch else {}  # the last batch reports nothing

    def validate(epoch: int) -> dict[str, float] | None:
        assert not net.training
        score = scores[epoch - first_epoch]
        return None if score is None else {"fidelity": score}

    stopper = train_epochs({"net": net}, epochs=len(scores), batches=batches, step=step,
                           validate=validate, score="fidelity", history=history,
                           patience=patience, first_epoch=first_epoch,
                           callback=lambda *a: calls.append(a), **kw)  # type: ignore[arg-type]
    assert all(modes) and not net.training
    return net, history, calls, stopper


def test_stops_after_patience_and_restores_the_best_weights() -> None:
    net, history, calls, stopper = scripted([0.1, 0.5, 0.3, 0.2, 0.9])
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]  # epochs 2 and 3: no better
    assert stopper.best_epoch == 1 and stopper.best == 0.5
    assert weight(net) == 1.0  # the weights after epoch 1, not the last ones
    assert len(calls) == 4 and [c[0] for c in calls] == [0, 1, 2, 3]


def test_history_rows_and_callback_metrics() -> None:
    _, history, calls, _ = scripted([0.1, 0.2])
    row = history[0]
    assert list(row) == ["epoch", "loss", "fidelity", "seconds"]
    assert row["loss"] == pytest.approx(1.0)  # (1 + 2) / 3 batches: {} still counts
    epoch, elapsed, metrics = calls[1]
    assert epoch == 1 and elapsed >= 0 and metrics == {"loss": 1.0, "fidelity": 0.2}


def test_unvalidated_epochs_neither_stop_nor_count() -> None:
    net, history, _, stopper = scripted([None, 0.4, None, None, 0.3, 0.2, 0.1],
                                        first_epoch=1, timed=False, losses=("loss", "kl"))
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    assert "fidelity" not in history[0] and "seconds" not in history[0]
    assert history[0]["kl"] == 0.0  # a declared loss no step reported
    assert stopper.best_epoch == 2 and weight(net) == 2.0


def test_patience_zero_never_stops_and_nothing_validated_keeps_the_last_weights() -> None:
    _, history, _, _ = scripted([0.5, 0.4, 0.3, 0.2], patience=0)
    assert len(history) == 4
    net, history, _, stopper = scripted([None, None, None])
    assert stopper.best_epoch == -1 and weight(net) == 2.0
