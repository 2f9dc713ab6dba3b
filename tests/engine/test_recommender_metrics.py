"""Ranking metrics: hand-computed answers, edge cases, vectorised == one user at a time."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.recommenders.metrics import (
    cold_user_segment,
    per_user_metrics,
    ranking_metrics,
    relevant_from_frame,
    segment_metrics,
)
from features.errors import DataValidationError

L3 = 1 / math.log2(3)  # discount at rank 2


def _obj(rows: list[list[object]]) -> np.ndarray:
    arr = np.empty((len(rows), len(rows[0])), dtype=object)
    arr[:] = rows
    return arr


def test_single_user_by_hand() -> None:
    # hits at rank 2 of 3; |R| = 2
    m = per_user_metrics(_obj([["a", "b", "c"]]), [{"b", "d"}], k=3).iloc[0]
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["ap"] == pytest.approx((1 / 2) / 2)
    assert m["ap_at_k"] == pytest.approx((1 / 2) / 2)
    assert m["ndcg"] == pytest.approx(L3 / (1 + L3))
    assert m["hit"] == 1.0
    assert (m["n_relevant"], m["n_hits"]) == (2, 1)


def test_map_and_map_at_k_differ_when_more_relevant_than_k() -> None:
    # hits at ranks 1 and 3 of 3; |R| = 5 > k
    m = per_user_metrics(_obj([["a", "x", "b"]]), [{"a", "b", "c", "d", "e"}], k=3).iloc[0]
    ap_sum = 1 / 1 + 2 / 3
    assert m["ap"] == pytest.approx(ap_sum / 5)  # MS Recommenders `map` (published "MAP")
    assert m["ap_at_k"] == pytest.approx(ap_sum / 3)  # MS Recommenders `map_at_k`
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 5)
    assert m["ndcg"] == pytest.approx((1 + 0.5) / (1 + L3 + 0.5))


def test_user_without_relevant_items_is_excluded_from_means() -> None:
    rec = _obj([["a", "b", "c"], ["a", "x", "b"], ["a", "b", "c"]])
    rel = [{"b", "d"}, {"a", "b", "c", "d", "e"}, set()]
    per_user = per_user_metrics(rec, rel, k=3)
    assert per_user.loc[2, ["precision", "recall", "ndcg", "ap", "hit"]].isna().all()
    m = ranking_metrics(rec, rel, k=3, n_items=10)
    assert m["precision"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert m["map"] == pytest.approx((0.25 + (5 / 3) / 5) / 2)
    assert m["map_at_k"] == pytest.approx((0.25 + (5 / 3) / 3) / 2)
    assert m["hit_rate"] == 1.0
    assert (m["n_users"], m["n_users_skipped"]) == (2, 1)
    assert m["coverage"] == pytest.approx(4 / 10)  # a, b, c, x


@pytest.mark.parametrize("rec", [
    _obj([["a", None, None]]),
    _obj([["a", float("nan"), None]]),
    _obj([["a"]]),  # fewer columns than k
])
def test_padding_counts_as_a_miss_and_precision_still_divides_by_k(rec: np.ndarray) -> None:
    m = per_user_metrics(rec, [{"a"}], k=3).iloc[0]
    assert m["precision"] == pytest.approx(1 / 3)
    assert (m["recall"], m["ap"], m["ndcg"]) == (1.0, 1.0, 1.0)


def test_integer_ids_with_minus_one_padding() -> None:
    rec = np.array([[3, -1, -1], [5, 3, -1]])
    m = ranking_metrics(rec, [{3}, [3, 7]], k=3, n_items=8)
    assert m["precision"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert m["recall"] == pytest.approx((1 + 0.5) / 2)
    assert m["coverage"] == pytest.approx(2 / 8)


def test_repeated_item_counts_once() -> None:
    m = per_user_metrics(_obj([["a", "a", "b"]]), [{"a"}], k=3).iloc[0]
    assert m["n_hits"] == 1
    assert m["ap"] == 1.0


def test_only_first_k_columns_are_used() -> None:
    m = per_user_metrics(_obj([["x", "y", "a"]]), [{"a"}], k=2).iloc[0]
    assert m["n_hits"] == 0 and m["precision"] == 0.0


def _reference(rec: np.ndarray, rel: list[set[object]], k: int) -> pd.DataFrame:
    """One user at a time, straight from the definitions."""
    rows = []
    for items, truth in zip(rec, rel, strict=True):
        items = [i for i in items[:k]]
        hits = [i in truth for i in items]
        if not truth:
            rows.append([np.nan] * 5)
            continue
        n_hits, cum, ap_sum = sum(hits), 0, 0.0
        for pos, h in enumerate(hits, start=1):
            if h:
                cum += 1
                ap_sum += cum / pos
        dcg = sum(1 / math.log2(p + 1) for p, h in enumerate(hits, start=1) if h)
        idcg = sum(1 / math.log2(p + 1) for p in range(1, min(len(truth), k) + 1))
        rows.append([n_hits / k, n_hits / len(truth), dcg / idcg, ap_sum / len(truth),
                     ap_sum / min(len(truth), k)])
    return pd.DataFrame(rows, columns=["precision", "recall", "ndcg", "ap", "ap_at_k"])


def test_vectorised_equals_one_user_at_a_time() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items, k = 200, 40, 7
    ids = np.array([f"i{j}" for j in range(n_items)], dtype=object)
    rec = np.stack([ids[rng.permutation(n_items)[:k]] for _ in range(n_users)])
    rel = [set(ids[rng.choice(n_items, rng.integers(0, 12), replace=False)])
           for _ in range(n_users)]
    got = per_user_metrics(rec, rel, k=k)
    want = _reference(rec, rel, k)
    pd.testing.assert_frame_equal(got[want.columns], want, check_exact=False, rtol=1e-12)


def test_segments_and_cold_users() -> None:
    train = pd.DataFrame({"user_id": ["u1"] * 5 + ["u2"] * 2, "item_id": list("abcdeab")})
    users = np.array(["u1", "u2", "u3"], dtype=object)
    seg = cold_user_segment(train, users, threshold=3)
    assert seg.tolist() == ["warm", "cold", "cold"]  # u3 has no training rows
    rec = _obj([["a", "b"], ["a", "b"], ["a", "b"]])
    per_user = per_user_metrics(rec, [{"a"}, {"z"}, {"b"}], k=2, users=users)
    out = segment_metrics(per_user, seg)
    assert out.loc["warm", "precision"] == pytest.approx(0.5)
    assert out.loc["cold", "precision"] == pytest.approx(0.25)
    assert out.loc["cold", "hit"] == pytest.approx(0.5)
    assert out["n_users"].to_dict() == {"cold": 2, "warm": 1}


def test_segment_missing_label_is_a_data_error() -> None:
    per_user = per_user_metrics(_obj([["a"], ["b"]]), [{"a"}, {"b"}], k=1, users=["u1", "u2"])
    with pytest.raises(DataValidationError, match="no label for 1 users"):
        segment_metrics(per_user, pd.Series(["cold"], index=["u1"]))


def test_relevant_from_frame_aligns_to_users() -> None:
    test = pd.DataFrame({"user_id": ["b", "a", "b", "b"], "item_id": ["x", "y", "z", "x"]})
    rel = relevant_from_frame(test, ["a", "b", "c"])
    assert [sorted(r) for r in rel] == [["y"], ["x", "z"], []]


def test_bad_input() -> None:
    rec = _obj([["a", "b"]])
    with pytest.raises(ValueError, match="The 'k' parameter of ranking_metrics must be an int"):
        ranking_metrics(rec, [{"a"}], k=0)
    with pytest.raises(ValueError, match="aligned"):
        ranking_metrics(rec, [{"a"}, {"b"}], k=2)
    with pytest.raises(ValueError, match="2-D"):
        ranking_metrics(np.array(["a", "b"], dtype=object), [{"a"}], k=2)
    with pytest.raises(TypeError, match="same type"):
        ranking_metrics(rec, [{1}], k=2)
    with pytest.raises(ValueError, match="'n_items' parameter"):
        ranking_metrics(rec, [{"a"}], k=2, n_items=0)
