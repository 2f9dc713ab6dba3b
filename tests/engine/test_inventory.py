"""Inventory math against hand-computed cases and the normal-demand textbook formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.inventory import (
    PLAN_COLUMNS,
    abc_classes,
    lead_time_demand,
    newsvendor,
    normal_plan_reference,
    plan,
    sample_quantile,
)
from features.errors import DataValidationError


def keys(n: int) -> pd.DataFrame:
    return pd.DataFrame({"store_id": ["s1"] * n, "item_id": [f"i{k}" for k in range(n)]})


@pytest.fixture(scope="module")
def normal_paths() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(100.0, 20.0, size=(1, 200_000, 6))


def test_lead_time_demand_sums_first_periods() -> None:
    paths = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    ltd = lead_time_demand(paths, 2, review_period=1)
    assert ltd.shape == (2, 3)
    np.testing.assert_allclose(ltd, paths[:, :, :3].sum(axis=2))
    np.testing.assert_allclose(lead_time_demand(paths, 5), paths.sum(axis=2))


def test_lead_time_demand_rejects_short_horizon_and_bad_params() -> None:
    paths = np.ones((1, 4, 3))
    with pytest.raises(ValueError, match="cover 3 periods but lead_time \\+ review_period = 4"):
        lead_time_demand(paths, 3, review_period=1)
    with pytest.raises(ValueError, match="'lead_time' parameter of lead_time_demand must be an "
                                         "int in the range \\[1, inf\\). Got 0 instead"):
        lead_time_demand(paths, 0)
    with pytest.raises(ValueError, match="'lead_time' parameter"):
        lead_time_demand(paths, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'review_period' parameter"):
        lead_time_demand(paths, 1, review_period=-1)
    with pytest.raises(DataValidationError, match="3-d array"):
        lead_time_demand(np.ones((4, 3)), 1)


def test_nan_in_paths_is_named() -> None:
    paths = np.ones((3, 4, 2))
    paths[1, 0, 0] = np.nan
    paths[2, 3, 1] = np.inf
    with pytest.raises(DataValidationError, match="2 NaN or infinite values in 2 series "
                                                  "\\(series 1, 2\\)"):
        lead_time_demand(paths, 1)


def test_normal_demand_matches_textbook(normal_paths: np.ndarray) -> None:
    ref = normal_plan_reference(100.0, 20.0, 4, 0.95)
    # Hand computation: z = 1.645, sigma_L = 20 * sqrt(4) = 40, SS = 65.8, ROP = 465.8.
    assert ref["safety_stock"] == pytest.approx(1.645 * 40, abs=0.05)
    assert ref["reorder_point"] == pytest.approx(465.8, abs=0.05)
    p = plan(keys(1), normal_paths, lead_time=4, service_level=0.95, on_hand=[500])
    row = p.iloc[0]
    # Sampling sd of the 95% quantile with 200k paths is about 0.19 units.
    assert row["safety_stock"] == pytest.approx(65.8, abs=1.0)
    assert row["reorder_point"] == pytest.approx(465.8, abs=1.0)
    assert row["mean_lead_time_demand"] == pytest.approx(400.0, abs=0.5)
    assert row["sd_lead_time_demand"] == pytest.approx(40.0, abs=0.3)
    assert row["expected_cycle_service_level"] == pytest.approx(0.95, abs=1e-4)
    assert row["expected_cycle_service_level"] >= 0.95
    # s,S with R = 0: one period of cycle stock; fill rate = 1 - sigma_L G(z) / mu.
    assert row["order_up_to"] == pytest.approx(row["reorder_point"] + 100.0, abs=0.5)
    assert row["expected_fill_rate"] == pytest.approx(
        1 - ref["expected_shortage"] / 100.0, abs=2e-3)
    assert row["ltd_p05"] < row["ltd_p50"] < row["ltd_p95"] == pytest.approx(
        row["reorder_point"])


def test_review_period_widens_protection_interval(normal_paths: np.ndarray) -> None:
    ref = normal_plan_reference(100.0, 20.0, 4, 0.9, review_period=2)
    p = plan(keys(1), normal_paths, lead_time=4, review_period=2, service_level=0.9,
             policy="R,S", on_hand=[0])
    row = p.iloc[0]
    assert row["safety_stock"] == pytest.approx(float(ref["safety_stock"]), abs=1.0)
    assert row["reorder_point"] == pytest.approx(float(ref["reorder_point"]), abs=1.0)
    assert row["order_up_to"] == row["reorder_point"]  # R,S orders up to the quantile
    assert row["suggested_order"] == pytest.approx(row["order_up_to"])
    assert row["expected_fill_rate"] > row["expected_cycle_service_level"]


def test_deterministic_demand_has_no_safety_stock() -> None:
    paths = np.full((2, 50, 6), 10.0)
    paths[1] = 3.0
    p = plan(keys(2), paths, lead_time=3, service_level=0.99, on_hand=[0, 100])
    np.testing.assert_allclose(p["safety_stock"], 0.0)
    np.testing.assert_allclose(p["reorder_point"], [30.0, 9.0])
    np.testing.assert_allclose(p["order_up_to"], [40.0, 12.0])
    np.testing.assert_allclose(p["sd_lead_time_demand"], 0.0)
    np.testing.assert_allclose(p["expected_fill_rate"], 1.0)
    np.testing.assert_allclose(p["expected_cycle_service_level"], 1.0)
    np.testing.assert_allclose(p["stockout_probability"], [1.0, 0.0])
    assert p["status"].tolist() == ["reorder now", "overstock"]


def test_suggested_order_and_status_on_hand_made_positions() -> None:
    # Demand over the lead time (L = 2) is 10 + 10 = 20 on half the paths, 30 on the other
    # half: ROP at 50% = 20, mean per period 12.5, S = 20 + 12.5 = 32.5,
    # overstock above S + 2 * 12.5 = 57.5.
    paths = np.empty((6, 4, 3))
    paths[:, :2] = [10.0, 10.0, 10.0]
    paths[:, 2:] = [15.0, 15.0, 15.0]
    on_hand = np.array([0.0, 15.0, 20.0, 21.0, 57.5, 60.0])
    on_order = np.array([0.0, 5.0, 0.0, 0.0, 0.0, 0.0])
    p = plan(keys(6), paths, lead_time=2, service_level=0.5, on_hand=on_hand,
             on_order=on_order)
    np.testing.assert_allclose(p["reorder_point"], 20.0)
    np.testing.assert_allclose(p["order_up_to"], 32.5)
    np.testing.assert_allclose(p["inventory_position"], [0, 20, 20, 21, 57.5, 60])
    np.testing.assert_allclose(p["suggested_order"], [32.5, 12.5, 12.5, 0, 0, 0])
    assert p["status"].tolist() == ["reorder now", "reorder now", "reorder now", "ok", "ok",
                                    "overstock"]
    np.testing.assert_allclose(p["stockout_probability"], [1.0, 0.5, 0.5, 0.5, 0.0, 0.0])
    # E[(LTD - 20)^+] = 5, cycle demand 12.5 -> fill rate 0.6.
    np.testing.assert_allclose(p["expected_fill_rate"], 0.6)
    assert list(p.columns) == list(PLAN_COLUMNS)
    assert p.attrs["lead_time"] == 2


def test_without_stock_data_the_position_is_unknown() -> None:
    p = plan(keys(2), np.ones((2, 5, 2)), lead_time=1, service_level=0.9)
    assert p["status"].tolist() == ["unknown", "unknown"]
    assert p["suggested_order"].isna().all()
    assert p["stockout_probability"].isna().all()
    np.testing.assert_allclose(p["reorder_point"], 1.0)


def test_abc_classes_by_cumulative_share() -> None:
    assert abc_classes([50, 30, 10, 5, 3, 2]).tolist() == ["A", "A", "B", "B", "C", "C"]
    # Input order does not matter; the largest is always A.
    assert abc_classes([2, 90, 8]).tolist() == ["C", "A", "B"]
    assert abc_classes([0, 0]).tolist() == ["C", "C"]
    assert abc_classes([1, 1, 1, 1], shares=(0.5, 0.75)).tolist() == ["A", "A", "B", "C"]
    with pytest.raises(DataValidationError, match="volume has 1 negative or NaN"):
        abc_classes([1, -1])
    with pytest.raises(ValueError, match="'shares' parameter of abc_classes"):
        abc_classes([1, 2], shares=(0.9, 0.8))


def test_per_class_service_levels_are_applied() -> None:
    rng = np.random.default_rng(3)
    scale = np.array([100.0, 10.0, 1.0, 1.0])  # volume shares ~0.89, 0.09, 0.01, 0.01
    paths = rng.gamma(4.0, 1.0, size=(4, 20_000, 2)) * scale[:, None, None]
    targets = {"A": 0.98, "B": 0.9, "C": 0.7}
    p = plan(keys(4), paths, lead_time=2, service_level=targets, on_hand=np.zeros(4))
    assert p["abc"].tolist() == ["A", "B", "C", "C"]
    np.testing.assert_allclose(p["service_level"], [0.98, 0.9, 0.7, 0.7])
    np.testing.assert_allclose(p["expected_cycle_service_level"], [0.98, 0.9, 0.7, 0.7],
                               atol=1e-3)
    ltd = lead_time_demand(paths, 2)
    np.testing.assert_allclose(p["reorder_point"],
                               [np.quantile(ltd[i], q, method="inverted_cdf")
                                for i, q in enumerate([0.98, 0.9, 0.7, 0.7])])
    # Higher target -> more safety stock per unit of demand variability.
    ratio = p["safety_stock"] / p["sd_lead_time_demand"]
    assert ratio[0] > ratio[1] > ratio[2]
    # Explicit classes override the volume ranking.
    p2 = plan(keys(4), paths, lead_time=2, service_level=targets, abc=["C", "C", "A", "B"])
    assert p2["service_level"].tolist() == [0.7, 0.7, 0.98, 0.9]
    with pytest.raises(ValueError, match="no target for ABC class\\(es\\) \\['C'\\]"):
        plan(keys(4), paths, lead_time=2, service_level={"A": 0.9, "B": 0.9})


def test_fill_rate_exceeds_cycle_service_level_for_typical_items() -> None:
    rng = np.random.default_rng(11)
    paths = rng.poisson([[[20.0]], [[5.0]], [[60.0]]], size=(3, 20_000, 4)).astype(float)
    p = plan(keys(3), paths, lead_time=3, service_level=0.9, on_hand=[30, 30, 30])
    assert (p["expected_fill_rate"] > p["expected_cycle_service_level"]).all()
    assert (p["expected_cycle_service_level"] >= 0.9).all()


def test_newsvendor_uniform_demand_critical_ratio() -> None:
    # Critical ratio (10 - 6) / (10 - 2) = 0.5: half of the demands 1..100 are <= 50.
    assert newsvendor(np.arange(1, 101), price=10, cost=6, salvage=2) == 50.0
    # (10 - 3) / 10 = 0.7 on continuous U(0, 200) -> 140.
    rng = np.random.default_rng(0)
    q = newsvendor(rng.uniform(0, 200, 200_000), price=10, cost=3)
    assert q == pytest.approx(140.0, abs=1.0)
    # Vectorised over series with per-series prices.
    samples = np.tile(np.arange(1, 101, dtype=float), (3, 1))
    out = newsvendor(samples, price=np.array([10.0, 10.0, 10.0]),
                     cost=np.array([6.0, 2.0, 9.0]), salvage=2.0)
    np.testing.assert_allclose(out, [50.0, 100.0, 13.0])
    with pytest.raises(ValueError, match="'price' parameter of newsvendor must be greater "
                                         "than cost"):
        newsvendor(np.arange(10), price=5, cost=5)
    with pytest.raises(ValueError, match="'salvage' parameter"):
        newsvendor(np.arange(10), price=5, cost=2, salvage=3)


def test_sample_quantile_is_inverted_cdf() -> None:
    x = np.array([[3.0, 1.0, 2.0, 4.0], [10.0, 40.0, 20.0, 30.0]])
    np.testing.assert_allclose(sample_quantile(x, [0.5, 0.75]), [2.0, 30.0])
    np.testing.assert_allclose(sample_quantile(x, 0.51),
                               np.quantile(x, 0.51, axis=1, method="inverted_cdf"))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"service_level": 1.0}, ValueError,
     "'service_level' parameter of plan must be a float in the range \\(0, 1\\)"),
    ({"service_level": 0.0}, ValueError, "'service_level' parameter"),
    ({"service_level": {"A": 1.2}}, ValueError, "'service_level\\['A'\\]' parameter"),
    ({"lead_time": 0}, ValueError, "'lead_time' parameter"),
    ({"policy": "Q"}, ValueError, "'policy' parameter of plan must be one of"),
    ({"on_hand": [1.0, -2.0, 3.0]}, DataValidationError, "on_hand has 1 negative or NaN "
                                                         "values \\(rows 2\\)"),
    ({"on_hand": [1.0, 2.0]}, DataValidationError, "on_hand has shape \\(2,\\) but the "
                                                   "paths hold 3 series"),
    ({"on_hand": [1.0, 2.0, 3.0], "on_order": [0, np.nan, 0]}, DataValidationError,
     "on_order has 1 negative or NaN"),
    ({"lead_time": 7}, ValueError, "cover 6 periods"),
])
def test_plan_rejects_bad_inputs(kwargs: dict, error: type[Exception], match: str) -> None:
    args = {"lead_time": 2, "service_level": 0.9} | kwargs
    with pytest.raises(error, match=match):
        plan(keys(3), np.ones((3, 10, 6)), **args)


def test_plan_rejects_mismatched_series() -> None:
    with pytest.raises(DataValidationError, match="series has 2 rows but paths hold 3"):
        plan(keys(2), np.ones((3, 10, 6)), lead_time=2, service_level=0.9)
    with pytest.raises(DataValidationError, match="columns store_id, item_id"):
        plan(pd.DataFrame({"item_id": [1, 2, 3]}), np.ones((3, 10, 6)), lead_time=2,
             service_level=0.9)
