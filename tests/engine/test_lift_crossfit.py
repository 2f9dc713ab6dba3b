"""K-fold cross-fitting of the lift protocol on a constructed task: every unit is tested
exactly once per repeat, no test unit ever reaches an augmenter, the joined outputs are in
one unit order for every repeat, the same seeds give the same numbers (also resumed and
with groups run out of order, as a cluster runs them), and on german-credit-like
applicants the real-only arm is the model `genlift train credit` makes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from engine.credit import CreditModel, select_champion
from engine.lift import Arm, ArmState, LiftConfig, LiftSplit, LiftTask, Piece, run_lift
from engine.lift.credit import CreditLiftTask
from engine.lift.crossfit import fold_indices, fold_key, parse_fold_key
from engine.lift.stats import Metric, Units, auc_metric
from features.errors import DataValidationError

BETA = np.array([1.0, -0.7, 0.5])
N = 240


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N, BETA.size))
    y = (rng.random(N) < 1 / (1 + np.exp(-(x @ BETA)))).astype(int)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(BETA.size)])
    frame["y"], frame["id"] = y, [f"u{i:03d}" for i in range(N)]
    return frame


class FoldTask(LiftTask):
    """Logistic regression on a linear-logit table; ``jitter`` adds noisy copies of the
    training rows. Spies record what every augmenter and every evaluation saw."""

    name: ClassVar[str] = "folds"
    dataset: ClassVar[str] = "constructed"
    tables: ClassVar[tuple[str, ...]] = ("rows",)
    unit: ClassVar[str] = "row"
    metrics: ClassVar[tuple[Metric, ...]] = (auc_metric(),)
    primary: ClassVar[str] = "auc"
    known_generators: ClassVar[tuple[str, ...]] = ("jitter",)
    known_baselines: ClassVar[tuple[str, ...]] = ()
    known_models: ClassVar[tuple[str, ...]] = ("logistic",)

    def __init__(self) -> None:
        self.fitted: list[tuple[int, set[str]]] = []  # (seed, ids an augmenter saw)
        self.tested: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = []

    def defaults(self, budget: str) -> dict[str, Any]:
        return {"generators": ("jitter",), "baselines": (), "ratios": (0.5, 1.0),
                "models": ("logistic",), "params": {}, "folds": 4, "seeds": (0, 1)}

    def _part(self, rest: pd.DataFrame, test: pd.DataFrame, state: int) -> LiftSplit:
        val = rest.sample(frac=0.25, random_state=state).sort_values("id")
        train = rest.drop(index=val.index).reset_index(drop=True)
        val, test = val.reset_index(drop=True), test.reset_index(drop=True)
        return LiftSplit(train=train, validation=val, test=test,
                         units_validation=val["id"].to_numpy(),
                         units_test=test["id"].to_numpy(),
                         segments_validation={"all": np.ones(len(val), bool)},
                         segments_test={"all": np.ones(len(test), bool),
                                        "x0>0": (test["x0"] > 0).to_numpy()})

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        frame = tables["rows"]
        test = frame.sample(frac=0.25, random_state=cfg.split_seed)
        return self._part(frame.drop(index=test.index), test, cfg.split_seed)

    def folds(self, tables: Mapping[str, Any], cfg: LiftConfig, seed: int
              ) -> list[LiftSplit]:
        frame = tables["rows"]
        # Test rows in a shuffled order: the protocol must put them back in unit order.
        return [self._part(frame.drop(index=rows), frame.iloc[rows[::-1]], seed * 10 + k)
                for k, rows in enumerate(fold_indices(frame["y"].to_numpy(), cfg.folds or 1,
                                                      (cfg.split_seed, seed)))]

    def arms(self, cfg: LiftConfig) -> list[Arm]:
        return [Arm("jitter", "generator", tuple(cfg.ratios or ()))]

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        self.fitted.append((seed, set(train["id"])))
        return ArmState(train)

    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        cols = [f"x{i}" for i in range(BETA.size)]
        train = split.train
        if arm is not None and state is not None:
            rng = np.random.default_rng(seed)
            extra = state.state.sample(frac=float(ratio or 1), replace=True, random_state=seed)
            extra = extra.assign(**{c: extra[c] + rng.normal(0, 0.3, len(extra)) for c in cols})
            train = pd.concat([train, extra], ignore_index=True)
        self.tested.append((seed, tuple(split.test["id"]), tuple(split.train["id"])))
        fitted = LogisticRegression().fit(train[cols], train["y"])
        return {part: {"y": f["y"].to_numpy(), "p": fitted.predict_proba(f[cols])[:, 1]}
                for part, f in (("validation", split.validation), ("test", split.test))}


CFG = LiftConfig(task="folds", n_boot=200)


@pytest.fixture(scope="module")
def run() -> tuple[FoldTask, dict[str, Any]]:
    task = FoldTask()
    return task, run_lift(task, {"rows": _table()}, CFG)


def test_every_unit_is_tested_exactly_once_per_repeat(run: tuple[FoldTask, dict[str, Any]]
                                                      ) -> None:
    task, result = run
    assert result["config"]["folds"] == 4 and result["config"]["seeds"] == [0, 1]
    assert result["split"]["folds"] == 4 and result["split"]["repeats"] == 2
    assert result["split"]["test"] == N and sum(result["split"]["test_per_fold"]) == N
    assert result["verdicts"]["n_test_units"] == N
    for seed in (0, 1):
        folds = list(dict.fromkeys(t for s, t, _ in task.tested if s == seed))
        assert len(folds) == 4
        ids = [u for fold in folds for u in fold]
        assert sorted(ids) == sorted(_table()["id"])  # a partition: each unit once
    # The two repeats partition the units differently.
    first = {frozenset(t) for s, t, _ in task.tested if s == 0}
    second = {frozenset(t) for s, t, _ in task.tested if s == 1}
    assert first != second
    # Segments follow the units into the canonical order.
    assert result["segments"]["x0>0"] == int((_table()["x0"] > 0).sum())


def test_no_test_unit_reaches_an_augmenter_or_a_model(run: tuple[FoldTask, dict[str, Any]]
                                                      ) -> None:
    task, _ = run
    assert len(task.fitted) == 2 * 4  # one augmenter fit per repeat and fold
    for _, test, train in task.tested:
        assert not set(test) & set(train)
    for seed, seen in task.fitted:
        # an augmenter saw exactly its fold's training rows: none of the fold's test units
        fold = [set(t) for s, t, tr in task.tested if s == seed and set(tr) == seen]
        assert fold and all(not (seen & f) for f in fold)


def test_joined_outputs_match_a_per_fold_computation(run: tuple[FoldTask, dict[str, Any]]
                                                     ) -> None:
    """The pooled out-of-fold AUC the protocol reports equals one computed by hand from
    the per-fold models."""
    task, result = run
    frame = _table()
    cols = [f"x{i}" for i in range(BETA.size)]
    aucs = []
    for seed in (0, 1):
        fold_splits = task.folds({"rows": frame}, CFG.resolve(task), seed)
        scores = pd.Series(index=frame["id"], dtype=float)
        for sp in fold_splits:
            model = LogisticRegression().fit(sp.train[cols], sp.train["y"])
            scores[sp.test["id"].to_numpy()] = model.predict_proba(sp.test[cols])[:, 1]
        order = np.argsort(frame["id"].to_numpy())
        units = {"y": frame["y"].to_numpy()[order], "p": scores[frame["id"]].to_numpy()[order]}
        aucs.append(auc_metric().point(units))
    real = next(r for r in result["rows"] if r["arm"] == "real" and r["segment"] == "all")
    assert real["value"] == pytest.approx(np.mean(aucs), abs=1e-12)


def _shuffled_mapper(fn: Callable[[Any], list[Piece]], groups: Sequence[Any]
                     ) -> Iterable[list[Piece]]:
    """Runs the groups on threads and yields them as they finish (in any order), as a
    Dask cluster does."""
    order = list(groups)
    random.Random(3).shuffle(order)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(fn, g) for g in order]
        for fut in as_completed(futures):
            yield fut.result()


def test_same_numbers_resumed_and_out_of_order(run: tuple[FoldTask, dict[str, Any]]) -> None:
    _, result = run
    again = run_lift(FoldTask(), {"rows": _table()}, CFG, mapper=_shuffled_mapper)
    pieces: dict[tuple[int, str], Piece] = {}
    partial = run_lift(FoldTask(), {"rows": _table()}, CFG,
                       on_piece=lambda p: pieces.__setitem__((p.seed, p.arm), p))
    keep = dict(list(pieces.items())[:5])  # a run killed after 5 pieces
    spy = FoldTask()
    resumed = run_lift(spy, {"rows": _table()}, CFG, done=keep)
    assert len(spy.fitted) == 8 - sum(1 for (_, k) in keep if k.startswith("jitter"))
    for other in (again, partial, resumed):
        assert [(r["arm"], r["segment"], r["value"], r["ci_low"], r["ci_high"])
                for r in other["rows"]] == [(r["arm"], r["segment"], r["value"], r["ci_low"],
                                             r["ci_high"]) for r in result["rows"]]


def test_fold_keys_and_bad_folds() -> None:
    assert fold_key("vae@0.1", 3, 5) == "vae@0.1#f3" and fold_key("vae", 0, 1) == "vae"
    assert parse_fold_key("vae@0.1#f3") == ("vae@0.1", 3) and parse_fold_key("real") == (
        "real", 0)
    parts = fold_indices(np.r_[np.zeros(20), np.ones(7)], 5, 0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(27))
    assert all(1 <= (np.r_[np.zeros(20), np.ones(7)][p] == 1).sum() <= 2 for p in parts)
    with pytest.raises(ValueError, match="'folds' parameter"):
        LiftConfig(task="folds", folds=0)
    from engine.lift import get_task
    with pytest.raises(DataValidationError, match="cross-fitting"):  # time-ordered
        LiftConfig(task="paths", folds=5).resolve(get_task("paths"))


def test_credit_real_only_arm_is_the_train_credit_champion(
        credit_applicants: Callable[..., pd.DataFrame]) -> None:
    """The real-only arm equals the model `genlift train credit` fits on the same rows
    (select_champion), scored on the same test applicants; and its ranking metrics do
    not depend on the calibration."""
    frame = credit_applicants(300)
    task = CreditLiftTask()
    cfg = LiftConfig(task="credit", seeds=(0,), folds=1, n_boot=100, generators=(),
                     baselines=("class_weights",), models=("champion",),
                     params={"champion_repeats": 1})
    result = run_lift(task, {"applicants": frame}, cfg)
    split = task.split({"applicants": frame}, cfg.resolve(task))
    fitted, report = select_champion(split.train, repeats=1, folds=5, seed=0)
    units = {"y": split.test["default"].to_numpy(), "s": fitted.decision_function(split.test)}
    standalone = auc_metric(score="s").point(units)
    real = next(r for r in result["rows"] if r["arm"] == "real" and r["metric"] == "auc"
                and r["segment"] == "all")
    assert real["value"] == pytest.approx(standalone, abs=1e-12)
    assert result["params"]["champion"]["kind"] == report["champion"]


def test_calibration_does_not_change_the_auc(credit_applicants: Callable[..., pd.DataFrame]
                                             ) -> None:
    frame = credit_applicants(300)
    train, test = frame.iloc[:200], frame.iloc[200:]
    iso = CreditModel(calibration="isotonic", random_state=0).fit(train)
    raw = CreditModel(calibration="none", random_state=0).fit(train)
    y = test["default"].to_numpy()
    a = auc_metric(score="s").point({"y": y, "s": iso.decision_function(test)})
    b = auc_metric(score="s").point({"y": y, "s": raw.decision_function(test)})
    assert a == pytest.approx(b, abs=1e-12)
    # The isotonic PDs tie applicants: the task ranks on the raw scores for that reason.
    assert len(np.unique(iso.predict_proba(test))) < len(np.unique(iso.decision_function(test)))
    assert {m.name: m for m in CreditLiftTask.metrics}["auc"].point(
        {"y": y, "s": iso.decision_function(test), "p": iso.predict_proba(test)}) == \
        pytest.approx(a, abs=1e-12)
