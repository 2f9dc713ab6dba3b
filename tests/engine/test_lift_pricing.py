"""Lift task ``pricing`` on constructed policies: the protocol runs end to end, the Gini
metric over bootstrap weights equals the plain Gini, and bad settings are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.insurance import gini
from engine.lift import LiftConfig, get_task, run_lift
from engine.lift.pricing import gini_metric


def policies(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 65, n)
    smoker = rng.choice(["no", "yes"], n, p=[0.75, 0.25])
    mu = 3000 * np.exp(0.03 * (age - 40)) * np.where(smoker == "yes", 3.0, 1.0)
    return pd.DataFrame({"policy_id": [f"{i:04d}" for i in range(n)], "age": age,
                         "smoker": smoker, "charges": rng.gamma(10.0, mu / 10.0)})


def test_gini_metric_plain_and_weighted() -> None:
    rng = np.random.default_rng(0)
    units = {"y": rng.gamma(2.0, 1.0, 40), "p": rng.random(40)}
    metric = gini_metric()
    assert metric.point(units) == pytest.approx(gini(units["y"], units["p"]))
    assert metric.higher_is_better


def test_lift_pricing_runs_the_protocol() -> None:
    cfg = LiftConfig(task="pricing", seeds=(0, 1), folds=1, generators=("copula",),
                     baselines=("bootstrap", "smote"), ratios=(1.0,), n_boot=100)
    result = run_lift(get_task("pricing"), {"policies": policies()}, cfg)
    assert result["provisional"] and result["primary_metric"] == "gini"
    arms = {r["arm"] for r in result["rows"]}
    assert arms == {"real", "bootstrap", "smote", "copula"}
    assert set(result["segments"]) == {"all", "smokers", "age>=50"}
    row = next(r for r in result["rows"] if r["arm"] == "copula" and r["segment"] == "all"
               and r["metric"] == "gini")
    assert row["ci_low"] <= row["delta"] <= row["ci_high"]
    real = next(r for r in result["rows"] if r["arm"] == "real" and r["segment"] == "all"
                and r["metric"] == "gini")
    assert 0.1 < real["value"] < 0.6


def test_bad_lift_settings() -> None:
    task = get_task("pricing")
    with pytest.raises(ValueError, match="'objective' parameter of PricingLiftTask"):
        LiftConfig(task="pricing", params={"objective": "normal"}).resolve(task)
    with pytest.raises(ValueError, match="unknown generator 'nope'"):
        LiftConfig(task="pricing", generators=("nope",)).resolve(task)


def test_pricing_fractions_refit_on_a_stratified_subsample_only() -> None:
    task = get_task("pricing")
    seen: list[tuple[int, pd.DataFrame]] = []
    fit_arm = task.fit_arm

    def spy(arm, train, cfg, seed):  # type: ignore[no-untyped-def]
        seen.append((seed, train))
        return fit_arm(arm, train, cfg, seed)

    task.fit_arm = spy  # type: ignore[method-assign]
    frame = policies(400)
    cfg = LiftConfig(task="pricing", seeds=(0, 1), folds=1, generators=("copula",), baselines=(),
                     ratios=(1.0,), n_boot=100, fractions=(0.25, 1.0))
    result = run_lift(task, {"policies": frame}, cfg)
    split = task.split({"policies": frame}, cfg.resolve(task))
    held_out = set(split.validation["policy_id"]) | set(split.test["policy_id"]) \
        | set(split.extra["stop"]["policy_id"])
    full = set(split.train["policy_id"])
    assert len(seen) == 4
    for _, train in seen:
        ids = set(train["policy_id"])
        assert ids <= full and not ids & held_out  # the spy: training policies only
    small = [t for _, t in seen if len(t) < len(split.train)]
    assert [len(t) for t in small] == [round(0.25 * len(split.train))] * 2
    # stratified by charge quintile: each band keeps about its fifth
    edges = np.quantile(split.train["charges"], [0.2, 0.4, 0.6, 0.8])
    bands = np.bincount(np.searchsorted(edges, small[0]["charges"], side="right"), minlength=5)
    assert bands.max() - bands.min() <= 2
    eff = result["efficiency"]
    assert {p["arm"] for p in eff["points"]} == {"real", "copula"}
    assert all(np.isfinite(m["multiplier"]) for m in eff["multipliers"])
