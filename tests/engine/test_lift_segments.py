"""Lift task ``segments`` on constructed customers: segments learned on train only, the
small segments augmented with segment-conditioned synthetic customers, verdicts per
small segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.lift import LiftConfig, get_task, run_lift
from engine.lift.segments import SEGMENT, SegmentsLiftTask
from features.errors import DataValidationError


def customers(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Three account groups of different sizes; churn rises with the charges and falls
    with tenure, more steeply in the small group."""
    rng = np.random.default_rng(seed)
    group = rng.choice(3, n, p=[0.55, 0.33, 0.12])
    tenure = rng.gamma(2.0, np.array([20.0, 8.0, 3.0])[group])
    charges = rng.normal(np.array([30.0, 70.0, 100.0])[group], 8.0)
    contract = np.where(group == 0, "two year", np.where(group == 1, "one year",
                                                         "month-to-month"))
    logit = -1.0 + 0.03 * (charges - 60) - 0.05 * tenure + 1.5 * (group == 2) * (
        charges > 100)
    return pd.DataFrame({"customer_id": [f"{i:04d}" for i in range(n)],
                         "churn": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
                         "tenure": tenure.round(), "monthly_charges": charges,
                         "contract": contract})


FAST: dict[str, Any] = {"seeds": (0, 1), "folds": 1, "n_boot": 100, "ratios": (1.0,),
                        "generators": ("copula",), "params": {"k": 3, "n_small": 1}}


def test_registered_and_runs_with_a_verdict_for_the_small_segment() -> None:
    task = get_task("segments")
    assert isinstance(task, SegmentsLiftTask)
    result = run_lift(task, {"customers": customers()}, LiftConfig(task="segments", **FAST))
    small = result["split"]["small_segments"]
    assert small == ["S3"]  # the smallest of the three, named by size
    assert set(result["segments"]) == {"all", "segment S3"}
    assert result["segments"]["segment S3"] < result["segments"]["all"]
    rows = [r for r in result["rows"] if r["metric"] == "auc" and r["arm"] != "real"]
    assert {(r["arm"], r["segment"]) for r in rows} == {
        (a, s) for a in ("oversample", "copula-segment") for s in ("all", "segment S3")}
    for r in rows:
        assert r["verdict"] in ("helps", "hurts", "equivalent", "inconclusive")
        assert r["ci_low"] <= r["delta"] <= r["ci_high"]
    assert 0.0 < result["quality"]["copula-segment"]["mean"] <= 1.0


def test_cross_fitting_tests_every_customer_once_with_the_same_segments() -> None:
    frame = customers(300)
    cfg = LiftConfig(task="segments", **{**FAST, "seeds": (0,), "folds": 3,
                                         "baselines": (), "generators": ()})
    result = run_lift(SegmentsLiftTask(), {"customers": frame}, cfg)
    assert result["split"]["test"] == 300 and result["split"]["folds"] == 3
    assert set(result["segments"]) == {"all", "segment S3"}
    task = SegmentsLiftTask()
    splits = task.folds({"customers": frame}, cfg.resolve(task), seed=0)
    tested = np.concatenate([s.units_test for s in splits])
    assert sorted(tested) == sorted(frame["customer_id"])  # a partition of the customers
    assert all(s.segments_test["segment S3"].any() for s in splits)  # in every fold
    for s in splits:
        assert not set(s.train["customer_id"]) & set(s.units_test)
        assert not set(s.train["customer_id"]) & set(s.units_validation)


def test_synthetic_customers_come_from_the_small_segments_only() -> None:
    task = SegmentsLiftTask()
    cfg = LiftConfig(task="segments", **FAST).resolve(task)
    split = task.split({"customers": customers()}, cfg)
    arm = next(a for a in task.arms(cfg) if a.family == "generator")
    state = task.fit_arm(arm, split.train, cfg, seed=0)
    syn = task.synthetic_customers(arm, state, split.train, split.extra["small"], 2.0, seed=0)
    n_small = int((split.train[SEGMENT] == "S3").sum())
    assert len(syn) == 2 * n_small and set(syn[SEGMENT]) == {"S3"}
    assert set(syn["churn"].unique()) <= {0, 1}
    # every test customer has one of the learned segments
    assert set(split.test[SEGMENT]) <= set(split.info["segments"])


def test_bad_input_is_refused() -> None:
    task = SegmentsLiftTask()
    with pytest.raises(DataValidationError, match="no churn column"):
        run_lift(task, {"customers": customers().drop(columns=["churn"])},
                 LiftConfig(task="segments", **FAST))
    with pytest.raises(ValueError, match="'n_small' parameter"):
        LiftConfig(task="segments", **{**FAST, "params": {"k": 3, "n_small": 3}}).resolve(task)
    with pytest.raises(DataValidationError, match="needs the customers table"):
        run_lift(task, {}, LiftConfig(task="segments", **FAST))
