"""The backtest report opens with a summary box: PBO and, per strategy, the deflated Sharpe
ratio with their meanings, and drawdowns compared over the same length of time."""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pytest

from features.store import Store
from serving.jobs.backtest import BacktestConfig, run
from serving.reports.backtest import dsr_reading, format_dsr, pbo_reading


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory,
             price_table: Callable[[int], pd.DataFrame]) -> tuple[dict, str]:
    folder = tmp_path_factory.mktemp("bt")
    with Store(str(folder / "s.duckdb")) as store:
        store.load({"prices": price_table(400)}, source="test")
        result = run(store, BacktestConfig(paths=12, horizon=63, strategies=(
            "buy_and_hold", "equal_weight", "inverse_vol:window=42")), folder / "bt.html")
    return result, (folder / "bt.html").read_text()


def test_summary_box_comes_first_with_pbo_dsr_and_meanings(backtest: tuple[dict, str]
                                                          ) -> None:
    result, page = backtest
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[0] == "Summary: what to trust"
    box = page.split("<h2>Summary: what to trust</h2>")[1].split("<h2>")[0]
    pbo = result["overfitting"]["pbo"]["pbo"]
    assert f"PBO = {pbo:.2f}</b>: {pbo_reading(pbo)}" in box
    for d in result["overfitting"]["deflated_sharpe"]["per_strategy"]:
        assert f"<td>{d['strategy']}</td>" in box
        assert format_dsr(d["dsr"], d["dsr_z"]) in box and dsr_reading(d["dsr"]) in box
    assert "A DSR of 1.000 is not a bug" in box and "SR* = " in box


def test_drawdowns_are_compared_over_the_same_length(backtest: tuple[dict, str]) -> None:
    result, page = backtest
    dd = result["drawdowns"]
    days, window = result["real"]["days"], result["synthetic"]["days"]
    assert dd["window"] == window == 63 and dd["real_days"] == days
    # monthly starts over the real history, the last window ending on its last day
    assert dd["n_windows"] == len(range(0, days - window + 1, 21)) + \
        ((days - window) % 21 != 0)
    real_mdd = {m["strategy"]: m["max_drawdown"] for m in result["real"]["metrics"]}
    for row in dd["per_strategy"]:
        assert row["real_full"] == pytest.approx(real_mdd[row["strategy"]])
        # a window's fall is part of the whole history's (up to rounding)
        assert row["real_full"] <= row["real_window_worst"] + 1e-12
        assert row["real_window_worst"] <= row["real_window_p50"] <= 0
    assert f"max DD, real {window:,}-day windows: median / worst 5%" in page
    assert f"max DD, synthetic {window:,}-day paths: median / worst 5%" in page
    assert f"max DD, whole real history ({days:,} days)" in page
    assert "Max drawdown distribution, like for like" in page


@pytest.mark.parametrize(("dsr", "z", "text"), [
    (0.99999994, 5.3, "> 0.999 (z = 5.3)"), (1.0, 9.2, "> 0.999 (z = 9.2)"),
    (0.9531, 1.68, "0.953"), (float("nan"), float("nan"), "n/a")])
def test_format_dsr(dsr: float, z: float, text: str) -> None:
    assert format_dsr(dsr, z) == text


def test_readings() -> None:
    assert dsr_reading(0.97) == "skill beyond the search's luck"
    assert dsr_reading(0.6) == "could be the luck of the search"
    assert "overfit" in pbo_reading(0.6) and "informative" in pbo_reading(0.1)
