"""The inventory policy replay on tiny demand with hand-computed answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import special

from engine.inventory_backtest import (
    Forecast,
    backtest_inventory,
    equal_service_inventory,
    moving_average_levels,
    simulate,
)
from features.errors import DataValidationError


def constant_forecaster(value: float, n_series: int = 1, horizon: int = 6, n_paths: int = 5):
    def forecaster(t: int, observed: np.ndarray) -> Forecast:
        return Forecast(point=np.full((n_series, horizon), value),
                        paths=np.full((n_series, n_paths, horizon), value))
    return forecaster


def model_row(result: dict, policy: str = "model", target: float = 0.95) -> pd.Series:
    t = result["totals"]
    sel = (t["policy"] == policy) & ((t["target"] == target) if policy != "point"
                                     else t["target"].isna())
    return t[sel].iloc[0]


def test_constant_demand_is_served_in_full_with_known_on_hand() -> None:
    demand = np.full((1, 8), 10.0)
    result = backtest_inventory(demand, np.full((1, 4), 10.0), constant_forecaster(10.0),
                                lead_time=2, service_level=0.95)
    # S = 30 for every policy; on hand after demand 20, 10, then 0 for good
    for policy in ("model", "moving_average", "point"):
        row = model_row(result, policy)
        assert row["fill_rate"] == 1.0 and row["cycle_service_level"] == 1.0
        assert row["stockout_weeks"] == 0 and row["units_short"] == 0
        assert row["avg_on_hand"] == pytest.approx(30 / 8)
        assert result["orders"][policy].tolist() == [[0, 10, 10, 10, 10, 10, 10, 10]]
    assert row["cycles"] == 6  # reviews 0..5 have their cycle (t + 2) inside 8 weeks


def test_single_spike_lost_sales() -> None:
    demand = np.full((1, 10), 10.0)
    demand[0, 5] = 25.0
    sim = simulate(demand, np.full((1, 10), 30.0), lead_time=2, unmet="lost")
    assert sim.short[0].tolist() == [0, 0, 0, 0, 0, 15, 0, 0, 0, 0]
    assert sim.on_hand[0].tolist() == [20, 10, 0, 0, 0, 0, 0, 0, 0, 0]
    assert sim.orders[0].tolist() == [0, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    # cycles are the periods 2..9; only period 5's fails
    assert sim.cycle_stockout[0].tolist() == [False] * 3 + [True] + [False] * 4


def test_single_spike_backorders() -> None:
    demand = np.full((1, 10), 10.0)
    demand[0, 5] = 25.0
    sim = simulate(demand, np.full((1, 10), 30.0), lead_time=2, unmet="backorder")
    # backlog 15 after week 5; the next two arrivals of 10 go to the backlog first, so
    # weeks 6 and 7 serve nothing from stock; the catch-up order of 25 clears it in week 8
    assert sim.short[0].tolist() == [0, 0, 0, 0, 0, 15, 10, 10, 0, 0]
    assert sim.orders[0].tolist() == [0, 10, 10, 10, 10, 10, 25, 10, 10, 10]
    assert sim.short.sum() == 35
    result = backtest_inventory(demand, np.full((1, 3), 10.0), constant_forecaster(10.0),
                                lead_time=2, service_level=0.9, unmet="backorder")
    row = model_row(result, "model", 0.9)
    assert row["units_short"] == 35 and row["stockout_weeks"] == 3
    assert row["fill_rate"] == pytest.approx(1 - 35 / 115)
    assert row["cycle_service_level"] == pytest.approx(5 / 8)


def test_lead_time_zero_trajectory() -> None:
    demand = np.array([[10.0, 5.0, 20.0, 10.0]])
    sim = simulate(demand, np.full((1, 4), 15.0), lead_time=0)
    assert sim.orders[0].tolist() == [0, 10, 5, 15]
    assert sim.on_hand[0].tolist() == [5, 10, 0, 5]
    assert sim.short[0].tolist() == [0, 0, 5, 0]
    assert sim.cycle_stockout[0].tolist() == [False, False, True, False]


def test_lead_time_four_trajectory() -> None:
    demand = np.array([[10.0, 10.0, 20.0, 10.0, 10.0, 10.0, 10.0, 10.0]])
    sim = simulate(demand, np.full((1, 8), 50.0), lead_time=4)
    # week 4's demand is lost, so the position of week 5 is back at S: no order then
    assert sim.orders[0].tolist() == [0, 10, 10, 20, 10, 0, 10, 10]
    assert sim.on_hand[0].tolist() == [40, 30, 10, 0, 0, 0, 0, 10]
    assert sim.short[0].tolist() == [0, 0, 0, 0, 10, 0, 0, 0]
    # cycles of reviews 0..3 = periods 4..7
    assert sim.cycle_stockout[0].tolist() == [True, False, False, False]


def test_review_period_two_orders_every_other_week() -> None:
    demand = np.full((1, 6), 10.0)
    sim = simulate(demand, np.full((1, 6), 30.0), lead_time=1, review_period=2)
    assert sim.orders[0].tolist() == [0, 0, 20, 0, 20, 0]
    assert sim.on_hand[0].tolist() == [20, 10, 0, 10, 0, 10]
    assert sim.cycle_stockout.shape == (1, 2)  # reviews 0 and 2 (4's cycle ends at 6)


def test_moving_average_hand_case() -> None:
    level = moving_average_levels([[8.0, 12.0, 8.0, 12.0]], window=4, lead_time=1,
                                  review_period=1, service_levels=[0.95])
    z = special.ndtri(0.95)
    assert level[0, 0] == pytest.approx(20 + z * np.sqrt(16 / 3) * np.sqrt(2))
    # missing weeks are skipped; one observation: no spread
    gappy = moving_average_levels([[99.0, np.nan, 8.0, 12.0], [np.nan, np.nan, np.nan, 5.0]],
                                  window=3, lead_time=0, review_period=1,
                                  service_levels=[0.5, 0.9])
    assert gappy[0].tolist() == pytest.approx([10.0, 10 + special.ndtri(0.9) * np.sqrt(8)])
    assert gappy[1].tolist() == [5.0, 5.0]
    # in the replay, the order of week 1 restores S_1 from the window [12, 8, 12, 10]
    demand = np.array([[10.0, 10.0, 10.0]])
    result = backtest_inventory(demand, [[8.0, 12.0, 8.0, 12.0]], constant_forecaster(10.0),
                                lead_time=1, service_level=0.95, ma_window=4)
    s1 = 2 * 10.5 + z * np.std([12, 8, 12, 10], ddof=1) * np.sqrt(2)
    assert result["orders"]["moving_average"][0, 1] == pytest.approx(s1 - (level[0, 0] - 10))


def test_orders_never_see_later_demand() -> None:
    rng = np.random.default_rng(0)
    seen: list[int] = []

    def forecaster(t: int, observed: np.ndarray) -> Forecast:
        seen.append(observed.shape[1])
        recent = observed[:, -3:].mean(axis=1)
        noise = np.random.default_rng(int(observed.sum())).gamma(4.0, 0.25, (3, 50, 4))
        return Forecast(point=np.repeat(recent[:, None], 4, axis=1),
                        paths=recent[:, None, None] * noise)

    demand = rng.poisson(20, (3, 12)).astype(float)
    history = rng.poisson(20, (3, 6)).astype(float)
    kw: dict[str, Any] = {"lead_time": 2, "service_level": 0.9, "unmet": "backorder"}
    base = backtest_inventory(demand, history, forecaster, **kw)
    assert seen[:3] == [6, 7, 8]
    t = 5
    changed = demand.copy()
    changed[:, t:] *= 3  # demand of week t onwards: unknown when week t's order is placed
    other = backtest_inventory(changed, history, forecaster, **kw)
    for policy in ("model", "moving_average", "point"):
        np.testing.assert_array_equal(base["orders"][policy][:, : t + 1],
                                      other["orders"][policy][:, : t + 1])
        assert not np.array_equal(base["orders"][policy], other["orders"][policy])


def test_totals_pool_series_and_calibration_rows() -> None:
    demand = np.array([[10.0] * 5, [0.0, 0.0, 4.0, 0.0, 0.0]])
    result = backtest_inventory(demand, np.zeros((2, 2)), constant_forecaster(0.0, 2),
                                lead_time=0, service_level=0.9, targets=[0.5])
    per = result["per_series"]
    assert set(per["policy"]) == {"model", "moving_average", "point"}
    assert sorted(per["target"].dropna().unique()) == [0.5, 0.9]
    row = model_row(result, "model", 0.9)
    assert row["demand"] == 54 and row["units_short"] == 54 and row["fill_rate"] == 0
    assert row["stockout_weeks"] == 6 and row["cycle_service_level"] == pytest.approx(4 / 10)
    assert row["series"] == 2


def test_equal_service_inventory_interpolates() -> None:
    totals = pd.DataFrame({
        "policy": ["model", "model", "moving_average", "moving_average"],
        "target": [0.9, 0.95, 0.9, 0.95],
        "cycle_service_level": [0.90, 0.99, 0.85, 0.95],
        "fill_rate": [0.97, 0.99, 0.95, 0.985],
        "avg_on_hand": [80.0, 120.0, 100.0, 200.0]})
    comp = equal_service_inventory(totals).set_index(["anchor", "target"])
    # the moving average at the model's achieved CSL 0.90: halfway from 0.85 to 0.95
    assert comp.loc[("model", 0.9), "other_on_hand_same_csl"] == pytest.approx(150.0)
    assert comp.loc[("model", 0.9), "model_saving_same_csl"] == pytest.approx(1 - 80 / 150)
    assert np.isnan(comp.loc[("model", 0.95), "other_on_hand_same_csl"])  # beyond MA's curve
    # the model at the moving average's achieved CSL 0.95: 5/9 of the way from 0.90 to 0.99
    model_at = 80 + 40 * 5 / 9
    assert comp.loc[("moving_average", 0.95), "other_on_hand_same_csl"] == \
        pytest.approx(model_at)
    assert comp.loc[("moving_average", 0.95), "model_saving_same_csl"] == \
        pytest.approx(1 - model_at / 200)
    assert np.isnan(comp.loc[("moving_average", 0.9), "model_saving_same_csl"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lead_time": -1}, "'lead_time' parameter of backtest_inventory must be an int in the "
                        r"range \[0, inf\)"),
    ({"lead_time": 1.5}, "'lead_time' parameter"),
    ({"service_level": 1.0}, r"'service_level' parameter .* range \(0, 1\)"),
    ({"service_level": 0}, "'service_level' parameter"),
    ({"review_period": 0}, "'review_period' parameter"),
    ({"unmet": "backlog"}, "'unmet' parameter .* 'lost', 'backorder'"),
    ({"targets": [0.9, 1.2]}, "'targets' parameter"),
    ({"lead_time": 3}, r"at least lead_time \+ review_period \+ 1 = 5 periods"),
])
def test_bad_parameters(kwargs: dict, message: str) -> None:
    params: dict[str, Any] = {"lead_time": 1, "service_level": 0.9, **kwargs}
    with pytest.raises(ValueError, match=message):
        backtest_inventory(np.ones((1, 4)), np.ones((1, 2)), constant_forecaster(1.0),
                           **params)


def test_bad_data() -> None:
    with pytest.raises(DataValidationError, match="demand has 1 negative, NaN"):
        backtest_inventory([[1.0, -1.0, 1.0, 1.0]], np.ones((1, 2)),
                           constant_forecaster(1.0), lead_time=1, service_level=0.9)
    with pytest.raises(DataValidationError, match="history has 1 series but demand has 2"):
        backtest_inventory(np.ones((2, 4)), np.ones((1, 2)), constant_forecaster(1.0, 2),
                           lead_time=1, service_level=0.9)
    with pytest.raises(DataValidationError, match=r"point forecasts for period 0 have shape"):
        backtest_inventory(np.ones((2, 4)), np.ones((2, 2)), constant_forecaster(1.0, 1),
                           lead_time=1, service_level=0.9)
    with pytest.raises(DataValidationError, match="paths has 6 NaN"):
        backtest_inventory(np.ones((1, 4)), np.ones((1, 2)),
                           lambda t, o: Forecast(np.ones((1, 3)), np.full((1, 2, 3), np.nan)),
                           lead_time=1, service_level=0.9)
