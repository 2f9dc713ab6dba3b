"""The inventory plan report: HTML with inline plots and the plan as parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.inventory import plan
from features.errors import DataValidationError
from serving.reports.inventory import write_plan_report


@pytest.fixture(scope="module")
def inputs() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n, horizon = 8, 6
    series = pd.DataFrame({"store_id": ["s1"] * 4 + ["s2"] * 4,
                           "item_id": [f"i{k}" for k in range(4)] * 2})
    level = rng.uniform(2, 50, n)
    paths = rng.poisson(level[:, None, None], size=(n, 500, horizon)).astype(float)
    dates = pd.date_range("2024-01-07", periods=20, freq="W")
    history = pd.DataFrame([
        {"store_id": s, "item_id": i, "date": d, "units": float(rng.poisson(lv))}
        for (s, i), lv in zip(series.itertuples(index=False), level, strict=True)
        for d in dates])
    on_hand = np.array([0, 5, 400, 60, 30, 0, 1000, 80], dtype=float)
    p = plan(series, paths, lead_time=3, service_level={"A": 0.98, "B": 0.95, "C": 0.9},
             on_hand=on_hand)
    return p, paths, history


def test_report_writes_html_with_plots_and_parquet(
        inputs: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], tmp_path: Path) -> None:
    p, paths, history = inputs
    out = tmp_path / "reports" / "plan.html"
    info = write_plan_report(p, paths, history, None, out, title="Plan test")
    assert info["html"] == out and info["parquet"] == out.with_suffix(".parquet")
    text = out.read_text(encoding="utf-8")
    assert text.count('<img src="data:image/png;base64,') >= 3
    for heading in ("By status bucket and ABC class", "Forecast fan charts",
                    "Safety stock vs demand variability", "Status buckets", "Plan"):
        assert heading in text
    assert "reorder now" in text and "lead time 3" in text
    assert "Stock positions are unknown" not in text
    back = pd.read_parquet(info["parquet"])
    assert back.shape == p.shape
    assert list(back.columns) == list(p.columns)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), p.reset_index(drop=True),
                                  check_dtype=False)
    assert info["status_counts"] == p["status"].value_counts().to_dict()
    assert not list(out.parent.glob(".*.tmp"))


def test_report_without_history_or_stock(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    paths = rng.gamma(2.0, 5.0, size=(3, 200, 4))
    series = pd.DataFrame({"store_id": ["s"] * 3, "item_id": ["a", "b", "c"]})
    p = plan(series, paths, lead_time=2, service_level=0.9)
    dates = pd.date_range("2025-01-05", periods=4, freq="W")
    info = write_plan_report(p, paths, None, dates, tmp_path / "p.html", max_fan_charts=2)
    text = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert text.count("<img ") == 2  # the fan charts and the scatter: no status bars
    assert info["status_counts"] == {"unknown": 3}
    # no stock positions: the header says so and how to give them, instead of a column
    # of "unknown" and empty suggested orders
    assert not info["stock_known"] and info["suggested_units"] is None
    assert "Stock positions are unknown" in text and "--on-hand FILE" in text
    assert "store_id, item_id, on_hand" in text
    assert "<td>unknown</td>" not in text and "<th>suggested_order</th>" not in text
    assert "status: unknown" not in text
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == 3


def test_report_rejects_mismatched_paths(
        inputs: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], tmp_path: Path) -> None:
    p, paths, _ = inputs
    with pytest.raises(DataValidationError, match="but the plan has 8 rows"):
        write_plan_report(p, paths[:3], None, None, tmp_path / "x.html")
    with pytest.raises(DataValidationError, match="future_dates has 2 dates"):
        write_plan_report(p, paths, None, ["2024-01-01", "2024-01-08"], tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "x.parquet").exists()
