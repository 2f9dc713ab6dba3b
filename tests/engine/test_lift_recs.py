"""The ``recs`` lift task on tiny interactions with two taste blocks.

Users with gender F mostly watch items 0-49, users with gender M items 50-99, so a
recommender (and a profile-conditioned generator) has something to learn.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment.baskets import BasketGenerator
from engine.lift import LiftConfig, run_lift
from engine.lift.recs import RecsHoldout, RecsLiftTask, RecsTrain
from engine.lift.stats import VERDICTS
from engine.recommenders.evaluation import make_model
from engine.recommenders.metrics import per_user_metrics
from features.errors import DataValidationError

N_USERS, N_ITEMS = 60, 100
FAST: dict[str, Any] = {"epochs": 1, "cold_keep": 3, "cold_threshold": 12, "cold_share": 0.2}


def tiny_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    gender = np.where(np.arange(N_USERS) % 2 == 0, "F", "M")
    users = pd.DataFrame({
        "user_id": [f"u{u:03d}" for u in range(N_USERS)],
        "age": rng.integers(18, 70, N_USERS),
        "gender": gender,
        "occupation": rng.choice(["student", "writer", "other"], N_USERS),
        "zip_code": [f"{z:05d}" for z in rng.choice(99_999, N_USERS, replace=False)],
    })
    user_col: list[str] = []
    item_col: list[str] = []
    for u in range(N_USERS):
        size = int(rng.integers(12, 30))
        home = 0 if gender[u] == "F" else 50
        n_home = int(round(0.85 * size))
        items = np.r_[home + rng.choice(50, n_home, replace=False),
                      (50 - home) + rng.choice(50, size - n_home, replace=False)]
        user_col += [str(users.user_id[u])] * size
        item_col += [f"i{i:03d}" for i in items]
    n = len(user_col)
    inter = pd.DataFrame({
        "user_id": user_col, "item_id": item_col,
        "ts": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), "s"),
        "qty": 1.0, "value": rng.integers(1, 6, n).astype(float),
    })
    return {"interactions": inter, "users": users}


def config(**kw: Any) -> LiftConfig:
    base: dict[str, Any] = dict(task="recs", budget="small", seeds=(0, 1), n_boot=100,
                                ratios=(0.5, 1.0), params=FAST)
    base.update(kw)
    return LiftConfig(**base)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return tiny_tables()


@pytest.fixture(scope="module")
def task() -> RecsLiftTask:
    return RecsLiftTask()


@pytest.fixture(scope="module")
def cfg(task: RecsLiftTask) -> LiftConfig:
    return config().resolve(task)


@pytest.fixture(scope="module")
def split(task: RecsLiftTask, tables: dict[str, pd.DataFrame], cfg: LiftConfig) -> Any:
    return task.split(tables, cfg)


@pytest.fixture(scope="module")
def result(task: RecsLiftTask, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return run_lift(task, tables, config())


# ------------------------------------------------------------------------------- split
def test_split_partitions_rows_per_user(split: Any, tables: dict[str, pd.DataFrame]) -> None:
    inter = tables["interactions"]
    train: RecsTrain = split.train
    val: RecsHoldout = split.validation
    test: RecsHoldout = split.test
    parts = [train.interactions.index, val.interactions.index, test.interactions.index]
    joined = np.concatenate([np.asarray(p) for p in parts])
    assert len(np.unique(joined)) == len(joined)  # no row in two parts
    assert set(joined) <= set(inter.index)
    dropped = len(inter) - len(joined)
    assert dropped == split.info["rows"]["dropped_by_truncation"] > 0
    # Test takes ~20% of every user's rows, validation ~10% of the rest.
    per_user = inter.groupby("user_id").size()
    n_test = test.interactions.groupby("user_id").size().reindex(per_user.index, fill_value=0)
    assert np.all(np.abs(n_test / per_user - 0.2) < 0.1)
    # Every user keeps training rows, so every unit is a known user.
    assert set(split.units_test) <= set(train.matrix.user_ids)
    assert set(split.units_validation) <= set(train.matrix.user_ids)


def test_simulated_cold_users_keep_cold_keep_rows(split: Any) -> None:
    train: RecsTrain = split.train
    cold = train.simulated_cold
    assert len(cold) == round(0.2 * N_USERS) == split.info["simulated_cold_users"]
    counts = train.interactions.groupby("user_id").size()
    assert (counts[list(cold)] == FAST["cold_keep"]).all()
    warm = counts.drop(list(cold))
    assert (warm > FAST["cold_keep"]).all()
    # Their validation and test rows stay.
    assert set(cold) <= set(split.units_test)


def test_units_sorted_and_segments(split: Any) -> None:
    train: RecsTrain = split.train
    counts = train.interactions.groupby("user_id").size()
    for units, holdout, segs in (
            (split.units_validation, split.validation, split.segments_validation),
            (split.units_test, split.test, split.segments_test)):
        assert list(units) == sorted(units)
        assert set(units) == set(holdout.interactions["user_id"])
        assert set(segs) == {"all", "cold", "simulated_cold"}
        assert segs["all"].all() and all(len(m) == len(units) for m in segs.values())
        np.testing.assert_array_equal(
            segs["cold"], counts.reindex(units).to_numpy() < FAST["cold_threshold"])
        np.testing.assert_array_equal(segs["simulated_cold"],
                                      np.isin(units, train.simulated_cold))
        assert segs["simulated_cold"].sum() > 0
        assert len(holdout.relevant) == len(units)
    json.dumps(split.info)  # plain python types only


def test_split_is_deterministic_by_split_seed(task: RecsLiftTask,
                                               tables: dict[str, pd.DataFrame]) -> None:
    def rows(seed: int) -> list[Any]:
        s = task.split(tables, config(split_seed=seed).resolve(task))
        return sorted(s.test.interactions.index) + sorted(s.train.interactions.index)

    assert rows(0) == rows(0)
    assert rows(0) != rows(1)


# ------------------------------------------------------------------------- isolation
def test_generators_never_see_validation_or_test(
        task: RecsLiftTask, tables: dict[str, pd.DataFrame],
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[pd.DataFrame, pd.DataFrame | None]] = []
    trains: list[Any] = []
    original_fit = BasketGenerator.fit
    original_fit_arm = RecsLiftTask.fit_arm

    def spy_fit(self: BasketGenerator, frame: pd.DataFrame,
                users: pd.DataFrame | None = None) -> BasketGenerator:
        seen.append((frame.copy(), None if users is None else users.copy()))
        return original_fit(self, frame, users)

    def spy_fit_arm(self: RecsLiftTask, arm: Any, train: Any, cfg: LiftConfig,
                    seed: int) -> Any:
        trains.append(train)
        return original_fit_arm(self, arm, train, cfg, seed)

    monkeypatch.setattr(BasketGenerator, "fit", spy_fit)
    monkeypatch.setattr(RecsLiftTask, "fit_arm", spy_fit_arm)
    cfg = config(seeds=(0,), ratios=(1.0,), generators=("vae", "gan"))
    run_lift(task, tables, cfg)
    split = task.split(tables, cfg.resolve(task))
    assert len(seen) == 2 and len(trains) == 3  # crop, vae, gan
    held = set(split.validation.interactions.index) | set(split.test.interactions.index)
    train_idx = set(split.train.interactions.index)
    for frame, users in seen:
        assert set(frame.index) <= train_idx
        assert not set(frame.index) & held
        assert users is not None and set(users["user_id"]) == set(frame["user_id"])
    for train in trains:
        assert isinstance(train, RecsTrain)
        assert set(train.interactions.index) == train_idx


def test_crop_users_are_subsets_of_real_training_users(
        task: RecsLiftTask, split: Any, cfg: LiftConfig) -> None:
    arm = task.arms(cfg)[0]
    assert arm.name == "crop"
    state = task.fit_arm(arm, split.train, cfg, seed=3)
    syn = state.state.matrix.matrix
    real = split.train.matrix.matrix
    assert syn.shape == (round(1.0 * real.shape[0]), real.shape[1])
    overlap = (syn @ (real > 0).T.astype(np.float32)).toarray()
    sizes = np.diff(syn.indptr)
    assert (sizes >= 1).all()
    assert (overlap.max(axis=1) == sizes).all()  # each basket lies inside a real one
    assert state.quality is not None and "train" in state.quality_name
    assert state.state.take(0.5).shape[0] == round(0.5 * real.shape[0])
    again = task.fit_arm(arm, split.train, cfg, seed=3)
    assert (again.state.matrix.matrix != syn).nnz == 0


# --------------------------------------------------------------------------- evaluate
def test_units_alignment_and_test_excludes_validation_items(
        task: RecsLiftTask, split: Any, cfg: LiftConfig) -> None:
    params = {"factors": 8, "iterations": 3}
    out = task.evaluate(split, "als", params, None, None, None, 0, cfg)
    assert len(out["validation"]["ndcg"]) == len(split.units_validation)
    assert len(out["test"]["recall"]) == len(split.units_test)
    # One user at a time, written out: test recs exclude training and validation items.
    model = make_model("als", 0, **params).fit(split.train.matrix)
    val = split.validation.interactions
    expected = []
    for u, rel in zip(split.units_test, split.test.relevant, strict=True):
        banned = set(val.loc[val["user_id"] == u, "item_id"])
        recs, _ = model.recommend([u], n=40)
        top = [i for i in recs[0] if i not in banned][:10]
        expected.append(per_user_metrics(np.array([top], dtype=object), [set(rel)], k=10))
    exp = pd.concat(expected)
    np.testing.assert_allclose(out["test"]["ndcg"], exp["ndcg"].to_numpy())
    np.testing.assert_allclose(out["test"]["recall"], exp["recall"].to_numpy())
    assert np.isfinite(out["test"]["ndcg"]).all()


def test_tune_picks_from_the_grid(task: RecsLiftTask, split: Any, cfg: LiftConfig) -> None:
    params = task.tune(split, cfg)
    assert set(params) == {"als"}
    assert params["als"]["factors"] in (32, 64) and params["als"]["iterations"] == 15


# ---------------------------------------------------------------------------- run_lift
def test_run_lift_end_to_end(result: dict[str, Any]) -> None:
    rows = result["rows"]
    arms = {r["arm"] for r in rows}
    assert arms == {"real", "crop", "vae"}
    assert {r["segment"] for r in rows} == {"all", "cold", "simulated_cold"}
    assert {r["metric"] for r in rows} == {"ndcg", "recall"}
    assert {r["verdict"] for r in rows} <= {"reference", *VERDICTS,
                                            "too few units"}
    assert all(np.isfinite(r["delta"]) for r in rows)
    assert set(result["chosen_ratio"]["als"].values()) <= {0.5, 1.0}
    assert set(result["quality"]) == {"crop", "vae"}
    assert result["split"]["simulated_cold_users"] == round(0.2 * N_USERS)
    json.dumps(result)


def test_run_lift_is_reproducible(task: RecsLiftTask, tables: dict[str, pd.DataFrame],
                                  result: dict[str, Any]) -> None:
    again = run_lift(task, tables, config())
    assert json.dumps(again["rows"], sort_keys=True) == json.dumps(result["rows"],
                                                                    sort_keys=True)
    assert again["quality"] == result["quality"]


# -------------------------------------------------------------------------- bad input
def test_missing_tables_and_columns(task: RecsLiftTask,
                                    tables: dict[str, pd.DataFrame]) -> None:
    cfg = config().resolve(task)
    with pytest.raises(DataValidationError, match="'users' table"):
        task.split({"interactions": tables["interactions"]}, cfg)
    with pytest.raises(DataValidationError, match="interactions is missing column.*item_id"):
        task.split({**tables, "interactions": tables["interactions"].drop(columns="item_id")},
                   cfg)
    with pytest.raises(DataValidationError, match="users is missing column.*occupation"):
        task.split({**tables, "users": tables["users"].drop(columns="occupation")}, cfg)
    # ts is only needed when a generator runs.
    no_ts = {**tables, "interactions": tables["interactions"].drop(columns="ts")}
    with pytest.raises(DataValidationError, match="ts"):
        task.split(no_ts, cfg)
    task.split(no_ts, config(generators=()).resolve(task))


def test_users_missing_from_users_table(task: RecsLiftTask,
                                        tables: dict[str, pd.DataFrame]) -> None:
    users = tables["users"].iloc[2:]
    with pytest.raises(DataValidationError, match="missing from users.*u000"):
        task.split({**tables, "users": users}, config().resolve(task))


def test_too_little_data(task: RecsLiftTask, tables: dict[str, pd.DataFrame]) -> None:
    one_each = tables["interactions"].groupby("user_id").head(1)
    with pytest.raises(DataValidationError, match="0 validation and 0 test users"):
        task.split({**tables, "interactions": one_each}, config().resolve(task))
    with pytest.raises(DataValidationError, match="fewer than k=95"):
        task.split(tables, config(params={**FAST, "k": 95}).resolve(task))


@pytest.mark.parametrize("name, value, match", [
    ("cold_share", 1.5, "'cold_share' parameter"),
    ("k", 0, "'k' parameter"),
    ("cold_keep", 2.5, "'cold_keep' parameter"),
    ("crop_max", 0.3, "'crop_max' parameter"),
    ("synthetic_weight", -1.0, "'synthetic_weight' parameter"),
    ("profile_columns", "age", "'profile_columns' parameter"),
])
def test_bad_params(task: RecsLiftTask, tables: dict[str, pd.DataFrame], name: str,
                    value: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        task.split(tables, config(params={**FAST, name: value}).resolve(task))


def test_unknown_param_and_names(task: RecsLiftTask, tables: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(DataValidationError, match="unknown parameter"):
        run_lift(task, tables, config(params={"epoch": 3}))
    with pytest.raises(DataValidationError, match="unknown generator 'copula'"):
        run_lift(task, tables, config(generators=("copula",)))
    with pytest.raises(DataValidationError, match="unknown model 'itemknn'"):
        run_lift(task, tables, config(models=("itemknn",)))


# ---------------------------------------------------------------- data-efficiency curves
def test_subsample_thins_every_history_nested_in_the_same_layout(
        task: RecsLiftTask, split: Any, cfg: LiftConfig) -> None:
    full = split.train
    half = task.subsample(full, 0.5, 0, cfg)
    quarter = task.subsample(full, 0.25, 0, cfg)
    assert task.subsample(full, 1.0, 0, cfg) is full
    for part in (half, quarter):  # same rows and columns: exclusions and scoring line up
        assert list(part.matrix.user_ids) == list(full.matrix.user_ids)
        assert list(part.matrix.item_ids) == list(full.matrix.item_ids)
    per_user = full.interactions.groupby("user_id").size()
    kept = half.interactions.groupby("user_id").size().reindex(per_user.index, fill_value=0)
    assert (kept >= 1).all()  # every user keeps a history
    assert (kept == np.maximum(1, np.round(0.5 * per_user))).all()
    key = ["user_id", "item_id", "ts"]
    q = set(map(tuple, quarter.interactions[key].astype(str).to_numpy()))
    h = set(map(tuple, half.interactions[key].astype(str).to_numpy()))
    assert q <= h  # nested: a smaller share is a subset of a larger one
    other = task.subsample(full, 0.5, 1, cfg)  # another seed, another draw
    assert set(map(tuple, other.interactions[key].astype(str).to_numpy())) != h


def test_run_lift_draws_curves_for_recs(task: RecsLiftTask,
                                        tables: dict[str, pd.DataFrame]) -> None:
    result = run_lift(task, tables, config(generators=(), baselines=("crop",),
                                           fractions=(0.5, 1.0)))
    eff = result["efficiency"]
    assert eff["metric"] == "ndcg" and eff["fractions"] == [0.5, 1.0]
    assert {(m["arm"], m["fraction"]) for m in eff["multipliers"]} == {("crop", 0.5),
                                                                       ("crop", 1.0)}
    real = [p for p in eff["points"] if p["arm"] == "real"]
    assert [p["fraction"] for p in real] == [0.5, 1.0]
