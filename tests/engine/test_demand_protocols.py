"""The msf-oj protocol (Microsoft forecasting's Orange Juice benchmark) on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.demand.protocols import msf_oj, week_dates
from features.errors import DataValidationError

SMALL = dict(n_estimators=5, num_leaves=4, min_child_samples=5, n_jobs=1)


def oj_like(seed: int = 0) -> pd.DataFrame:
    """2 stores x 2 brands, weeks 38..160 on Dominick's Thursdays, one missing week."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in ("1", "2"):
        for b in ("1", "2"):
            for w in range(38, 161):
                if s == "1" and b == "2" and w == 138:
                    continue  # a week without sales: scored nowhere, filled in the future
                promo = float(rng.random() < 0.2)
                rows.append((s, b, w, float(rng.poisson(50 * (1 + promo)) + 1),
                             2.0 + rng.random(), promo, float(rng.random() < 0.1)))
    frame = pd.DataFrame(rows, columns=["store_id", "item_id", "week", "units", "price",
                                        "promo", "feat"])
    frame["date"] = week_dates(frame["week"])
    return frame.drop(columns="week")


def test_rounds_weeks_and_mape_hand_checked() -> None:
    sales = oj_like()
    res = msf_oj(sales, params=SMALL, rounds=2)
    assert [r["train_end_week"] for r in res["rounds"]] == [135, 137]
    assert [r["test_weeks"] for r in res["rounds"]] == [[137, 138], [139, 140]]
    pred = res["predictions"]
    # round 1 scores weeks 137-138 of every series with a row: 4 + 3 (one week missing)
    assert res["rounds"][0]["n"] == 7 and res["rounds"][1]["n"] == 8
    assert set(pred["date"]) == set(week_dates([137, 138, 139, 140]))
    ape = np.abs(pred["point"] - pred["units"]) / pred["units"]
    assert res["mape"] == pytest.approx(100 * ape.mean())
    assert res["n"] == 15 and set(res["published"]) >= {"LightGBM (single-round)"}


def test_no_test_week_reaches_training() -> None:
    """Round 1 trains on weeks <= 135: changing units from week 136 on changes nothing."""
    sales = oj_like()
    later = sales["date"] >= week_dates([136])[0]
    spiked = sales.copy()
    spiked.loc[later, "units"] *= 50
    a = msf_oj(sales, params=SMALL, rounds=1)["predictions"]
    b = msf_oj(spiked, params=SMALL, rounds=1)["predictions"]
    np.testing.assert_allclose(a["point"], b["point"])


def test_data_that_is_not_dominicks_oj_is_refused() -> None:
    sales = oj_like()
    with pytest.raises(DataValidationError, match="weeks 40..156"):
        msf_oj(sales.loc[sales["date"] < week_dates([150])[0]], params=SMALL, rounds=1)
    with pytest.raises(ValueError, match="'rounds' parameter"):
        msf_oj(sales, params=SMALL, rounds=11)
