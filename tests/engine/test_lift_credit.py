"""Lift task `credit` on applicants the test builds: the stratified split, isolation of
the generators from validation/test, SMOTE-NC, the end-to-end run and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from augment.base import Generator
from engine.lift import LiftConfig, run_lift
from engine.lift.credit import CreditLiftTask, smote_nc
from features.errors import DataValidationError

#: the ``credit_applicants`` fixture of tests/conftest.py: ``make(n=300, seed=0)``
Applicants = Callable[..., pd.DataFrame]


def tiny_cfg(**kw: Any) -> LiftConfig:
    base: dict[str, Any] = {"task": "credit", "seeds": (0, 1), "n_boot": 100,
                            "generators": ("copula",), "baselines": ("class_weights",
                                                                     "smote_nc"),
                            "ratios": (0.5, 1.0), "folds": 1, "models": ("lightgbm",)}
    base.update(kw)
    return LiftConfig(**base)


def test_split_is_stratified_disjoint_and_segmented(credit_applicants: Applicants) -> None:
    frame = credit_applicants()
    task = CreditLiftTask()
    split = task.split({"applicants": frame}, tiny_cfg().resolve(task))
    parts = (split.train, split.extra["stop"], split.validation, split.test)
    ids = [set(p["applicant_id"]) for p in parts]
    assert all(not (ids[i] & ids[j]) for i in range(4) for j in range(i + 1, 4))
    assert sum(map(len, ids)) == len(frame)
    assert tuple(map(len, parts)) == (144, 36, 60, 60)
    rate = frame["default"].mean()
    for part in parts:
        assert abs(part["default"].mean() - rate) < 0.03
    assert list(split.units_test) == list(split.test["applicant_id"])
    young = split.segments_test["age<30"]
    assert young.sum() == (split.test["age_in_years"] < 30).sum() > 0
    # The same split seed gives the same split whatever the row order.
    again = task.split({"applicants": frame.sample(frac=1, random_state=3)},
                       tiny_cfg().resolve(task))
    assert list(again.units_test) == list(split.units_test)


def test_generators_see_training_rows_only(monkeypatch: pytest.MonkeyPatch,
                                           credit_applicants: Applicants) -> None:
    seen: list[pd.DataFrame] = []
    original = Generator.fit

    def spy(self: Generator, frame: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        seen.append(frame.copy())
        return original(self, frame, *args, **kwargs)

    monkeypatch.setattr(Generator, "fit", spy)
    frame = credit_applicants()
    task = CreditLiftTask()
    result = run_lift(task, {"applicants": frame}, tiny_cfg(seeds=(0,)))
    split = task.split({"applicants": frame}, tiny_cfg().resolve(task))
    train = split.train.drop(columns="applicant_id")
    assert seen and split.extra["stop"]["applicant_id"].isin(split.train["applicant_id"]).sum() == 0
    for got in seen:
        pd.testing.assert_frame_equal(got.reset_index(drop=True), train)
    # Exactly the training rows: no validation or test applicant reached a generator.
    assert len(seen) == 1  # one copula fit, shared by its two sampling modes
    assert result["rows"]


def test_smote_nc_interpolates_between_minority_neighbours(credit_applicants: Applicants
                                                           ) -> None:
    frame = credit_applicants(200)
    minority = frame[frame["default"] == 1].drop(columns="applicant_id")
    out = smote_nc(minority, 150, seed=4)
    assert len(out) == 150 and list(out.columns) == list(minority.columns)
    assert (out["default"] == 1).all()
    assert out["credit_amount"].between(minority["credit_amount"].min(),
                                        minority["credit_amount"].max()).all()
    assert set(out["housing"]) <= set(minority["housing"])
    assert out["age_in_years"].dtype == minority["age_in_years"].dtype
    pd.testing.assert_frame_equal(out, smote_nc(minority, 150, seed=4))
    with pytest.raises(DataValidationError, match="at least 2 minority rows"):
        smote_nc(minority.head(1), 5)


def test_run_is_complete_and_reproducible(credit_applicants: Applicants) -> None:
    frame = credit_applicants()
    cfg = tiny_cfg()
    a = run_lift(CreditLiftTask(), {"applicants": frame}, cfg)
    b = run_lift(CreditLiftTask(), {"applicants": frame}, cfg)
    assert json.dumps(a["rows"]) == json.dumps(b["rows"])  # NaN-safe equality
    arms = {r["arm"] for r in a["rows"]}
    assert arms == {"real", "class_weights", "smote_nc", "copula-minority", "copula-both"}
    assert {r["metric"] for r in a["rows"]} == {"auc", "pr_auc", "recall_at_fpr", "brier"}
    assert {r["verdict"] for r in a["rows"] if r["arm"] != "real"} <= {
        "helps", "equivalent", "inconclusive", "hurts", "too few units"}
    assert a["chosen_ratio"]["lightgbm"]["class_weights"] is None
    assert a["chosen_ratio"]["lightgbm"]["smote_nc"] in (0.5, 1.0)
    assert 0 < a["quality"]["copula-both"]["mean"] <= 1
    assert a["params"]["lightgbm"]["num_leaves"] in (4, 8)
    ref = next(r for r in a["rows"] if r["arm"] == "real" and r["metric"] == "auc"
               and r["segment"] == "all")
    assert 0.5 < ref["value"] <= 1


@pytest.mark.parametrize(("change", "match"), [
    (lambda f: f.drop(columns="default"), "no default column"),
    (lambda f: f.assign(default=0), "at least 10 of each"),
])
def test_bad_applicants_are_named(change: Any, match: str,
                                  credit_applicants: Applicants) -> None:
    task = CreditLiftTask()
    with pytest.raises(DataValidationError, match=match):
        task.split({"applicants": change(credit_applicants())}, tiny_cfg().resolve(task))
    with pytest.raises(DataValidationError, match="needs the applicants table"):
        task.split({}, tiny_cfg().resolve(task))


@pytest.mark.parametrize(("params", "match"), [
    ({"modes": ["rare"]}, "modes"), ({"modes": 3}, "modes"), ({"test_fraction": 0.7},
                                                             "test_fraction"),
    ({"young_age": "x"}, "young_age"), ({"epochs": 0}, "epochs"),
    ({"stop_fraction": 0}, "stop_fraction"), ({"synthetic_weight": -1}, "synthetic_weight"),
])
def test_bad_settings_are_named_before_any_work(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_cfg(params=params).resolve(CreditLiftTask())


def test_modes_take_one_name_and_unknown_baselines_are_named() -> None:
    task = CreditLiftTask()
    arms = task.arms(tiny_cfg(params={"modes": "minority"}).resolve(task))
    assert [a.name for a in arms if a.family == "generator"] == ["copula-minority"]
    with pytest.raises(DataValidationError, match="unknown baseline 'smote'"):
        tiny_cfg(baselines=("smote",)).resolve(task)


def test_a_new_split_never_reuses_a_generator(monkeypatch: pytest.MonkeyPatch,
                                              credit_applicants: Applicants) -> None:
    fits: list[int] = []
    original = Generator.fit

    def spy(self: Generator, frame: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        fits.append(len(frame))
        return original(self, frame, *args, **kwargs)

    monkeypatch.setattr(Generator, "fit", spy)
    task = CreditLiftTask()
    run_lift(task, {"applicants": credit_applicants()}, tiny_cfg(seeds=(0,), baselines=()))
    run_lift(task, {"applicants": credit_applicants(400, seed=1)},
             tiny_cfg(seeds=(0,), baselines=()))
    assert fits == [144, 192]  # refitted on the second split's own training rows
