"""The data of the lift protocol (:mod:`engine.lift.protocol`): an arm, the fitted state
of an augmenter and a split of a task's real data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Arm:
    """One way of adding data: a cheap baseline or a generator, at each of ``ratios``
    (synthetic rows per real training row); an empty ``ratios`` means the arm has no
    ratio (class weights)."""

    name: str
    family: str  # "baseline" | "generator"
    ratios: tuple[float, ...] = ()
    label: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class LiftSplit:
    """The one split of a task's real data.

    ``train``, ``validation`` and ``test`` are whatever the task needs (frames, matrices).
    Units are the things the test metrics average over; ``segments_*`` map a segment name
    to a boolean mask over those units (``"all"`` is always there).
    """

    train: Any
    validation: Any
    test: Any
    units_validation: np.ndarray
    units_test: np.ndarray
    segments_validation: dict[str, np.ndarray]
    segments_test: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)
    # Units in time order whose neighbours depend on each other (backtest windows): the
    # bootstrap resamples runs of ``block`` neighbouring units.
    block: int = 1
    # Task-private real data that is neither train, validation nor test (e.g. an early-
    # stopping holdout carved from train); never passed to ``fit_arm``.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ArmState:
    """What ``fit_arm`` returns: the fitted augmenter and how good its data looks."""

    state: Any
    quality: float | None = None
    quality_name: str = ""
    fit_seconds: float = 0.0


__all__ = ["Arm", "ArmState", "LiftSplit"]
