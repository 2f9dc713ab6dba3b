"""Data-efficiency curves and the effective real-data multiplier on a constructed task
with a known answer: rows drawn from the true distribution of a linear-logit table help a
logistic model trained on 5% of the data, and barely matter at full size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from engine.lift import Arm, ArmState, LiftConfig, LiftSplit, LiftTask, run_lift
from engine.lift.efficiency import nested_subsample, real_fraction
from engine.lift.stats import Metric, Units, auc_metric
from features.errors import DataValidationError

BETA = np.array([1.2, -0.8, 0.6, 0.5, -0.4, 0.3])


def _draw(n: int, rng: np.random.Generator, start: int = 0) -> pd.DataFrame:
    x = rng.normal(size=(n, BETA.size))
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ BETA - 0.5)))).astype(int)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(BETA.size)])
    frame["y"] = y
    frame["id"] = np.arange(start, start + n)
    return frame


class LogitTask(LiftTask):
    """A linear-logit table; the ``oracle`` arm adds rows from the true distribution."""

    name: ClassVar[str] = "logit"
    dataset: ClassVar[str] = "constructed"
    tables: ClassVar[tuple[str, ...]] = ()
    unit: ClassVar[str] = "row"
    metrics: ClassVar[tuple[Metric, ...]] = (auc_metric(),)
    primary: ClassVar[str] = "auc"
    known_generators: ClassVar[tuple[str, ...]] = ("oracle",)
    known_baselines: ClassVar[tuple[str, ...]] = ()
    known_models: ClassVar[tuple[str, ...]] = ("logistic",)

    def __init__(self) -> None:
        self.seen: list[tuple[int, np.ndarray]] = []  # (seed, ids) every generator fit saw

    def defaults(self, budget: str) -> dict[str, Any]:
        return {"generators": ("oracle",), "baselines": (), "ratios": (1.0,),
                "models": ("logistic",), "params": {}}

    def strata(self, train: Any) -> np.ndarray:
        return np.asarray(train["y"])

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        rng = np.random.default_rng(123)
        train, val, test = _draw(2000, rng), _draw(2000, rng, 10_000), _draw(4000, rng, 20_000)
        all_ = {"all": np.ones(len(test), bool)}
        return LiftSplit(train=train, validation=val, test=test,
                         units_validation=val["id"].to_numpy(), units_test=test["id"].to_numpy(),
                         segments_validation={"all": np.ones(len(val), bool)},
                         segments_test=all_)

    def arms(self, cfg: LiftConfig) -> list[Arm]:
        return [Arm("oracle", "generator", tuple(cfg.ratios or ()))]

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        self.seen.append((seed, train["id"].to_numpy()))
        return ArmState(None)

    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        train = split.train
        if arm is not None:
            extra = _draw(round(float(ratio or 1) * len(train)), np.random.default_rng(seed + 7))
            train = pd.concat([train, extra], ignore_index=True)
        cols = [f"x{i}" for i in range(BETA.size)]
        fitted = LogisticRegression(C=0.5).fit(train[cols], train["y"])
        return {part: {"y": frame["y"].to_numpy(), "p": fitted.predict_proba(frame[cols])[:, 1]}
                for part, frame in (("validation", split.validation), ("test", split.test))}


FRACTIONS = (0.02, 0.05, 0.1, 0.25, 1.0)


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return run_lift(LogitTask(), {}, LiftConfig(task="logit", seeds=tuple(range(6)),
                                                n_boot=300, fractions=FRACTIONS))


def _mult(result: dict[str, Any], fraction: float) -> dict[str, Any]:
    return next(m for m in result["efficiency"]["multipliers"] if m["fraction"] == fraction)


def test_augmentation_is_worth_real_rows_only_when_real_rows_are_scarce(
        result: dict[str, Any]) -> None:
    eff = result["efficiency"]
    assert eff["fractions"] == list(FRACTIONS) and eff["metric"] == "auc"
    small = _mult(result, 0.02)
    # 40 real + 40 true rows ~ 80 real rows: worth about twice the real rows.
    assert small["multiplier"] > 1.4 and small["ci_low"] > 1.0, small
    assert small["flag"] == ""
    full = _mult(result, 1.0)
    assert full["multiplier"] == pytest.approx(1.0, abs=0.1)  # the cap: no larger real set
    row = next(r for r in result["rows"] if r["arm"] == "oracle")
    assert row["verdict"] in ("equivalent", "helps") and abs(row["delta"]) < row["margin"]
    point = next(p for p in eff["points"] if p["arm"] == "oracle" and p["fraction"] == 0.02)
    assert point["verdict"] == "helps" and point["delta_low"] > 0
    real = [p for p in eff["points"] if p["arm"] == "real"]
    assert [p["fraction"] for p in real] == list(FRACTIONS)
    assert real[0]["value"] < real[-1]["value"]  # more data, better model
    assert all(p["ci_low"] <= p["value"] <= p["ci_high"] for p in eff["points"])
    assert eff["train_rows"][1.0] == 2000 and eff["train_rows"][0.02] == 40


def test_same_seeds_same_numbers(result: dict[str, Any]) -> None:
    again = run_lift(LogitTask(), {}, LiftConfig(task="logit", seeds=tuple(range(6)),
                                                 n_boot=300, fractions=FRACTIONS))
    assert again["efficiency"] == result["efficiency"]


def test_subsample_is_nested_stratified_and_no_held_out_row_reaches_a_generator() -> None:
    task = LogitTask()
    cfg = LiftConfig(task="logit", seeds=(0, 1), n_boot=100, fractions=(0.05, 0.25, 1.0))
    run_lift(task, {}, cfg)
    split = task.split({}, cfg)
    held_out = set(split.validation["id"]) | set(split.test["id"])
    assert len(task.seen) == 2 * 3
    for seed in (0, 1):
        fits = [set(ids) for s, ids in task.seen if s == seed]
        assert [len(f) for f in fits] == [100, 500, 2000]
        assert fits[0] < fits[1] < fits[2]  # nested
        assert all(not (f & held_out) for f in fits)  # the spy: train rows only
    small = [set(ids) for s, ids in task.seen if s in (0, 1) and len(ids) == 100]
    assert small[0] != small[1]  # another seed, another subsample
    rate = split.train["y"].mean()
    sub = split.train[split.train["id"].isin(small[0])]
    assert sub["y"].mean() == pytest.approx(rate, abs=0.01)  # stratified


def test_nested_subsample_keeps_every_stratum_and_its_share() -> None:
    strata = np.array([0] * 90 + [1] * 10)
    keep = nested_subsample(strata, 0.1, 5)
    assert sorted(np.bincount(strata[keep]).tolist()) == [1, 9]
    assert set(nested_subsample(strata, 0.1, 5)) < set(nested_subsample(strata, 0.5, 5))
    assert len(nested_subsample(strata, 1.0, 5)) == 100


def test_real_fraction_interpolates_in_log_fraction_and_flags_the_ends() -> None:
    fractions = [0.1, 0.4, 1.0]
    curve = np.array([[0.6, 0.7, 0.8]] * 4)
    f, flag = real_fraction(np.array([0.65, 0.7, 0.9, 0.5]), curve, fractions)
    assert f[0] == pytest.approx(0.2)  # half-way between 0.1 and 0.4 in log: sqrt(0.04)
    assert f[1:].tolist() == pytest.approx([0.4, 1.0, 0.1])
    assert flag.tolist() == [0, 0, 1, -1]
    # A dip in the curve does not make the inverse ambiguous (running best).
    f2, _ = real_fraction(np.array([0.65]), np.array([[0.7, 0.6, 0.8]]), fractions)
    assert f2[0] == pytest.approx(0.1)


@pytest.mark.parametrize("fractions", [(0.0,), (1.5,), (0.5, 0.5), (float("nan"),)])
def test_config_rejects_bad_fractions(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        LiftConfig(task="logit", fractions=fractions)


def test_fractions_need_a_task_that_can_subsample() -> None:
    from tests.engine.test_lift_stats import ToyTask
    with pytest.raises(DataValidationError, match="not available for this task"):
        LiftConfig(task="toy", fractions=(0.5,)).resolve(ToyTask())
    assert LiftConfig(task="logit", fractions=(0.5,)).fractions == (0.5, 1.0)


def test_nested_subsample_is_nested_for_every_pair_of_fractions() -> None:
    strata = np.random.default_rng(0).integers(0, 5, 397)
    fracs = np.linspace(0.01, 1.0, 60)
    sets = [set(nested_subsample(strata, f, (0, 3))) for f in fracs]
    assert all(a <= b for a, b in zip(sets, sets[1:], strict=False))
    for f, kept in zip(fracs, sets, strict=True):
        assert len(kept) == max(round(f * 397), 5)
        share = np.bincount(strata[sorted(kept)], minlength=5)
        assert np.all(np.abs(share - f * np.bincount(strata)) <= 1.5)


def test_subsample_covers_every_category_and_stays_nested() -> None:
    rng = np.random.default_rng(1)
    strata = rng.integers(0, 2, 300)
    rare = np.where(np.arange(300) % 97 == 5, 1, 0)  # a category on 4 rows of 300
    colour = rng.integers(0, 6, 300)
    small = nested_subsample(strata, 0.02, 4, cover=[rare, colour])
    large = nested_subsample(strata, 0.2, 4, cover=[rare, colour])
    assert set(rare[small]) == {0, 1} and set(colour[small]) == set(range(6))
    assert set(small) <= set(large)
    assert len(small) <= 6 + 1 + 6  # the share, plus at most one row per missing value


def test_a_resumed_run_with_fractions_equals_an_uninterrupted_one() -> None:
    from engine.lift import Piece
    cfg = LiftConfig(task="logit", seeds=(0, 1), n_boot=100, fractions=(0.05, 1.0))
    pieces: list[Piece] = []
    whole = run_lift(LogitTask(), {}, cfg, on_piece=pieces.append)
    assert {p.arm for p in pieces} == {"real", "oracle", "real@0.05", "oracle@0.05"}
    done = {(p.seed, p.arm): p for p in pieces[:3]}
    resumed = run_lift(LogitTask(), {}, cfg, done=done)
    assert resumed["efficiency"] == whole["efficiency"] and resumed["rows"] == whole["rows"]
