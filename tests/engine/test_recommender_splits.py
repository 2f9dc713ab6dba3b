"""Per-user splits: MS Recommenders' stratified split, leave-last-out, random holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.recommenders.splits import (
    msr_split,
    temporal_split,
    user_holdout_split,
    validation_split,
)
from features.errors import DataValidationError


def _frame(n_users: int = 30, seed: int = 0, str_ids: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 15, n_users)
    users = np.repeat(np.arange(n_users), counts)
    frame = pd.DataFrame({
        "user_id": [f"u{u:03d}" for u in users] if str_ids else users,
        "item_id": [f"i{i}" for i in rng.integers(0, 50, len(users))],
        "ts": rng.integers(0, 1000, len(users)),
        "qty": rng.integers(1, 3, len(users)),
    })
    order = rng.permutation(len(frame))
    return frame.iloc[order].set_index(pd.Index(order * 10 + 3))


def _their_algorithm(data: pd.DataFrame, ratio: float, seed: int) -> tuple[pd.DataFrame, ...]:
    """The steps of MS Recommenders' _do_stratification (v1.2.1), written out in pandas."""
    data = data.copy()
    data["_r"] = np.random.RandomState(seed).rand(len(data))
    data = data.sort_values(["user_id", "_r"])
    groups = data.groupby("user_id")
    count = groups["user_id"].transform("count")
    rank = groups.cumcount() + 1
    low, high = np.cumsum([ratio, 1 - ratio])
    train = data[rank <= round(low * count)]
    test = data[(rank <= round(high * count)) & (rank > round(low * count))]
    return train.drop(columns="_r"), test.drop(columns="_r")


@pytest.mark.parametrize("ratio,seed,str_ids", [(0.75, 42, True), (0.8, 7, False),
                                                (0.3, 123, True)])
def test_msr_split_matches_their_algorithm(ratio: float, seed: int, str_ids: bool) -> None:
    frame = _frame(str_ids=str_ids)
    train, test = msr_split(frame, ratio=ratio, seed=seed)
    want_train, want_test = _their_algorithm(frame, ratio, seed)
    pd.testing.assert_frame_equal(train, want_train)
    pd.testing.assert_frame_equal(test, want_test)


def test_msr_split_counts_per_user_by_hand() -> None:
    # round(0.75 * c): c=4 -> 3 train, c=3 -> 2 (2.25), c=2 -> 2 (1.5 rounds to even 2),
    # c=1 -> 1 (0.75 rounds to 1)
    sizes = {"a": 4, "b": 3, "c": 2, "d": 1}
    frame = pd.DataFrame({"user_id": [u for u, n in sizes.items() for _ in range(n)],
                          "item_id": [f"i{j}" for j in range(10)]})
    train, test = msr_split(frame)
    assert train["user_id"].value_counts().to_dict() == {"a": 3, "b": 2, "c": 2, "d": 1}
    assert test["user_id"].value_counts().to_dict() == {"a": 1, "b": 1}
    _, test_share = msr_split(frame, rule="share")  # the other revision: rank / count > 0.75
    assert test_share["user_id"].value_counts().to_dict() == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_msr_split_is_deterministic_and_leaves_input_alone() -> None:
    frame = _frame()
    before = frame.copy()
    a_train, a_test = msr_split(frame, seed=5)
    b_train, b_test = msr_split(frame, seed=5)
    pd.testing.assert_frame_equal(frame, before)
    assert a_test.index.equals(b_test.index)
    assert not a_test.index.equals(msr_split(frame, seed=6)[1].index)
    assert sorted(a_train.index.tolist() + a_test.index.tolist()) == sorted(frame.index)


def test_temporal_split_leaves_last_out_with_deterministic_ties() -> None:
    frame = pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "b", "c"],
        "item_id": ["x", "z", "y", "x", "y", "x"],
        "ts": [1, 5, 5, 2, 1, 9],
    })
    train, test = temporal_split(frame, n_last=1)
    # a: ts 5 tie between z and y -> item order puts z last; c has one row: train only.
    assert sorted(zip(test["user_id"], test["item_id"], strict=True)) == [("a", "z"), ("b", "x")]
    assert len(train) == 4
    shuffled = frame.sample(frac=1.0, random_state=1)
    _, test2 = temporal_split(shuffled, n_last=1)
    assert sorted(test2.index) == sorted(test.index)


def test_temporal_split_fraction_and_min_history() -> None:
    frame = pd.DataFrame({"user_id": ["a"] * 4 + ["b"] * 2, "item_id": list("pqrsst"),
                          "ts": [4, 3, 2, 1, 1, 2]})
    _, test = temporal_split(frame, fraction=0.5)
    assert set(test["item_id"]) == {"p", "q", "t"}
    _, test = temporal_split(frame, n_last=2, min_history=2)
    assert set(test["user_id"]) == {"a"}  # b would keep 0 training rows


def test_user_holdout_split_ignores_row_order() -> None:
    frame = _frame(seed=2)
    train, test = user_holdout_split(frame, fraction=0.25, seed=11)
    _, test2 = user_holdout_split(frame.sample(frac=1.0, random_state=3), fraction=0.25, seed=11)
    assert sorted(test.index) == sorted(test2.index)
    assert set(train.index).isdisjoint(test.index)
    assert len(train) + len(test) == len(frame)
    assert set(train["user_id"]) == set(frame["user_id"])  # every user keeps history


def test_validation_split_only_reads_train() -> None:
    frame = _frame(seed=4)
    train, test = user_holdout_split(frame, fraction=0.2, seed=0)
    for method in ("random", "temporal", "msr"):
        fit, valid = validation_split(train, method=method, fraction=0.2, seed=0)
        assert set(fit.index) | set(valid.index) == set(train.index)
        assert set(valid.index).isdisjoint(test.index)
        assert len(valid) > 0
    fit, valid = validation_split(train, method="temporal", n_last=1)
    assert valid["user_id"].is_unique


def test_bad_input() -> None:
    frame = _frame()
    with pytest.raises(DataValidationError, match="no column 'user_id'"):
        msr_split(frame.drop(columns="user_id"))
    with pytest.raises(DataValidationError, match="no column 'ts'"):
        temporal_split(frame.drop(columns="ts"))
    with pytest.raises(ValueError, match=r"The 'ratio' parameter of msr_split must be a float "
                                         r"in the range \(0, 1\). Got 1.5 instead."):
        msr_split(frame, ratio=1.5)
    with pytest.raises(ValueError, match="'fraction' parameter of user_holdout_split"):
        user_holdout_split(frame, fraction=0.0, seed=0)
    with pytest.raises(ValueError, match="'n_last' parameter of temporal_split"):
        temporal_split(frame, n_last=0)
    with pytest.raises(ValueError, match="'method' parameter of validation_split"):
        validation_split(frame, method="kfold")  # type: ignore[arg-type]
    broken = frame.copy()
    broken.iloc[[1, 4], broken.columns.get_loc("item_id")] = None
    with pytest.raises(DataValidationError, match="item_id has 2 missing values"):
        msr_split(broken)
