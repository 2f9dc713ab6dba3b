"""The lift experiment: does synthetic data make a model better on held-out real data?

See :mod:`engine.lift.protocol` for the protocol shared by every task and
:mod:`engine.lift.stats` for the paired bootstrap and the verdict rule.
"""

from __future__ import annotations

import importlib

from engine.lift.protocol import (
    BUDGETS,
    DEFAULT_MARGINS,
    MIN_SEEDS,
    REAL,
    Arm,
    ArmState,
    LiftConfig,
    LiftSplit,
    LiftTask,
    Piece,
    analyse,
    run_lift,
    work_units,
)
from features.errors import DataValidationError

# Task name -> "module:class"; imported on first use (each task pulls in its models).
TASKS: dict[str, str] = {
    "recs": "engine.lift.recs:RecsLiftTask",
    "credit": "engine.lift.credit:CreditLiftTask",
    "demand": "engine.lift.demand:DemandLiftTask",
    "paths": "engine.lift.paths:PathsLiftTask",
    "pricing": "engine.lift.pricing:PricingLiftTask",
    "segments": "engine.lift.segments:SegmentsLiftTask",
}
#: What ``genlift lift all`` runs: the tasks of the demo's four datasets (``pricing``
#: needs medical-insurance, which the demo does not fetch: run it by name).
ALL_TASKS: tuple[str, ...] = ("recs", "credit", "demand", "paths")


def get_task(name: str) -> LiftTask:
    """A new task object by name."""
    if name not in TASKS:
        raise DataValidationError(f"unknown lift task {name!r}",
                                  fix=f"use one of {', '.join(TASKS)} (or 'all')")
    module, cls = TASKS[name].split(":")
    task: LiftTask = getattr(importlib.import_module(module), cls)()
    return task


__all__ = ["ALL_TASKS", "BUDGETS", "DEFAULT_MARGINS", "MIN_SEEDS", "REAL", "TASKS", "Arm",
           "ArmState", "LiftConfig", "LiftSplit", "LiftTask", "Piece", "analyse", "get_task",
           "run_lift", "work_units"]
