"""Customer lifetime value from a purchase log (engine.customers.clv): the calibration
summary on a tiny log with a known answer, the values' identities, the holdout check,
bad input, and marked tests on the real CDNOW sample."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.customers.btyd import BetaGeoModel, GammaGammaModel
from engine.customers.clv import (
    ClvConfig,
    customer_values,
    fit_clv,
    holdout_check,
    rfm_summary,
)
from features.errors import DataValidationError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow_sample_summary.csv"


def log(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "ts", "quantity", "amount"])


#: a: first buys 01-01 (two orders that day), again 01-15 and 01-29 (calibration), 02-12;
#: b: 01-08 only, then 02-05; c: first buys after the calibration end
TINY = log([("a", "2024-01-01 09:00", 1, 10.0), ("a", "2024-01-01 17:30", 2, 5.0),
            ("a", "2024-01-15", 1, 20.0), ("a", "2024-01-29", 3, 40.0),
            ("a", "2024-02-12", 1, 8.0), ("b", "2024-01-08", 1, 12.0),
            ("b", "2024-02-05", 2, 30.0), ("c", "2024-02-01", 1, 9.0)])


def simulated_log(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """The BG/NBD story as a purchase log: a first purchase in the first 4 weeks, then
    purchases at the customer's own Poisson rate until she drops out (chance p after each)
    or the 30 weeks end."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for i in range(n):
        first = rng.integers(0, 28)
        rate, drop = rng.gamma(1.0, 1 / 10), rng.beta(1.0, 6.0)  # per day; per purchase
        gaps = rng.exponential(1 / rate, 60)
        alive = int(np.argmax(rng.random(60) < drop)) + 1  # purchases before dropping out
        days = [first, *(first + np.cumsum(gaps[:alive]).astype(int))]
        for d in (d for d in days if d < 210):
            rows.append((f"u{i:04d}", start + pd.Timedelta(days=int(d)), 1,
                         float(rng.gamma(4.0, 8.0))))
    return log(rows)


def test_summary_known_answer() -> None:
    s = rfm_summary(TINY, calibration_end="2024-01-31", unit_days=7.0).set_index("user_id")
    assert list(s.index) == ["a", "b"]  # c is not a customer yet at the calibration end
    assert s.attrs["customers_after_calibration"] == 1
    a, b = s.loc["a"], s.loc["b"]
    # the two orders of 01-01 are one occasion (the first); repeats on 01-15 and 01-29
    assert (a["frequency"], a["recency"], a["T"]) == (2, 4.0, 30 / 7)
    assert a["monetary"] == 30.0  # (20 + 40) / 2: the first occasion is not a repeat
    assert (b["frequency"], b["recency"], b["T"], b["monetary"]) == (0, 0.0, 23 / 7, 0.0)
    assert (a["frequency_holdout"], a["spend_holdout"]) == (1, 8.0)
    assert (b["frequency_holdout"], b["spend_holdout"]) == (1, 30.0)
    assert s.attrs["holdout_length"] == 12 / 7  # 01-31 to 02-12, the data's last day


def test_values_identities() -> None:
    summary = pd.DataFrame({"user_id": ["a", "b", "c"], "frequency": [0, 3, 10],
                            "recency": [0.0, 10.0, 30.0], "T": [20.0, 30.0, 31.0],
                            "monetary": [0.0, 25.0, 40.0]})
    bg = BetaGeoModel.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5)
    gg = GammaGammaModel.from_params(p=6.0, q=4.0, gamma=15.0)
    flat = customer_values(summary, bg, gg, horizon=26.5, discount_rate=0.0)
    want = bg.conditional_expected_purchases(26.5, [0, 3, 10], [0.0, 10.0, 30.0],
                                             [20.0, 30.0, 31.0])
    np.testing.assert_allclose(flat["expected_purchases"], want)
    # no discount, full margin: value = expected purchases x expected spend
    np.testing.assert_allclose(flat["clv"], want * flat["expected_spend"])
    disc = customer_values(summary, bg, gg, horizon=26.5, discount_rate=0.2, margin=0.5)
    assert np.all(disc["clv"] < 0.5 * flat["clv"]) and np.all(disc["clv"] > 0)
    assert flat["p_alive"].iloc[0] == 1.0


def test_holdout_check_and_fit_clv_on_a_simulated_log() -> None:
    frame = simulated_log()
    result = fit_clv(frame, ClvConfig(calibration_end="2024-04-30", horizon_weeks=13))
    hold = result.holdout
    assert hold is not None and result.calibration_bgnbd is not None
    t = hold.by_frequency
    assert t["calibration_repeat_purchases"].iloc[0] == "0"
    assert t["calibration_repeat_purchases"].iloc[-1] == "7+"
    assert t["customers"].sum() == len(result.summary) == hold.totals["customers"]
    assert hold.totals["actual_total"] == result.summary["frequency_holdout"].sum()
    assert hold.totals["predicted_total"] == pytest.approx(hold.per_customer[
        "predicted_holdout"].sum())
    # the tracking ends with every repeat purchase of the calibration customers
    assert hold.tracking["actual_cumulative"].iloc[-1] == (
        result.summary["frequency"].sum() + result.summary["frequency_holdout"].sum())
    # values come from the fit on every purchase: every customer, as of the last day
    assert len(result.values) == frame["user_id"].nunique()
    assert result.as_of == str(pd.Timestamp(frame["ts"].max()).date())
    assert result.values["clv"].ge(0).all() and result.values["p_alive"].le(1).all()
    again = holdout_check(result.summary, result.calibration_bgnbd)
    assert again.totals == hold.totals and again.tracking.empty


def test_no_holdout_when_calibrating_on_everything() -> None:
    result = fit_clv(simulated_log(200), ClvConfig())
    assert result.holdout is None and result.calibration_bgnbd is None
    with pytest.raises(DataValidationError, match="there is no holdout period"):
        holdout_check(result.summary, result.bgnbd)


@pytest.mark.parametrize(("frame", "cal", "pattern"), [
    (TINY.assign(amount=[10.0, -5.0, 20.0, 40.0, 8.0, 12.0, 30.0, 9.0]), "2024-01-31",
     r"transactions\.amount has 1 negative values \(rows 2: .*-5\.0.*drop refunds"),
    (TINY.assign(quantity=0), "2024-01-31", r"transactions\.quantity has 8 values not >= 1"),
    (TINY.drop(columns="amount"), "2024-01-31",
     r"transactions is missing required column\(s\) amount"),
    (TINY, "2023-12-01", r"calibration end 2023-12-01 is outside the data, whose purchases "
                         r"run from 2024-01-01 to 2024-02-12"),
    (TINY, "2024-01-01", r"calibration end 2024-01-01 is outside the data"),
    (TINY, "2025-01-01", r"calibration end 2025-01-01 is outside the data.*no later than "
                         r"2024-02-12"),
    (TINY, "the end of January", r"calibration end 'the end of January' is not a date"),
])
def test_bad_input_refused(frame: pd.DataFrame, cal: str, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern) as err:
        rfm_summary(frame, calibration_end=cal)
    assert err.value.fix


def test_bad_config_refused() -> None:
    with pytest.raises(ValueError, match=r"'horizon_weeks' parameter of ClvConfig"):
        fit_clv(TINY, ClvConfig(horizon_weeks=0))
    with pytest.raises(ValueError, match=r"'discount_rate' parameter of ClvConfig"):
        fit_clv(TINY, ClvConfig(discount_rate=-0.1))


@pytest.mark.network
def test_real_cdnow_sample_summary(tmp_path: Path) -> None:
    """The sample from the real wheel: its summary is the fixture of test_btyd.py and
    matches the summaries lifetimes ships (weeks to 2 decimals); the fit from the raw
    purchases reproduces the published parameters."""
    from features.datasets import DATASETS, download, fetch

    tx = fetch("cdnow-sample", cache_dir=tmp_path)["transactions"]
    s = rfm_summary(tx, calibration_end="1997-09-30")
    # the sample's own customer order (its second column), as the shipped summaries use
    with zipfile.ZipFile(download(DATASETS["cdnow-sample"], tmp_path)) as zf:
        raw = pd.read_csv(zf.open("lifetimes/datasets/CDNOW_sample.txt"), sep=r"\s+",
                          header=None, dtype=str)
        shipped = pd.read_csv(zf.open("lifetimes/datasets/cdnow_customers_summary.csv"))
        money = pd.read_csv(zf.open(
            "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"))
    order = raw.drop_duplicates(1)[0].tolist()
    s = s.set_index("user_id").loc[order].reset_index()
    assert s["frequency"].tolist() == shipped["frequency"].tolist()
    np.testing.assert_allclose(s["recency"].round(2), shipped["recency"], atol=1e-9)
    np.testing.assert_allclose(s["T"].round(2), shipped["T"], atol=1e-9)
    np.testing.assert_allclose(s["monetary"], money["zbar"], atol=0.005 + 1e-9)
    fixture = pd.read_csv(FIXTURE)
    assert fixture["x"].tolist() == s["frequency"].tolist()
    np.testing.assert_allclose(fixture["t_x_days"] / 7, s["recency"])
    np.testing.assert_allclose(fixture["T_days"] / 7, s["T"])
    np.testing.assert_allclose(fixture["repeat_spend"], s["monetary"] * s["frequency"],
                               atol=1e-6)
    result = fit_clv(tx, ClvConfig(calibration_end="1997-09-30"))
    assert result.calibration_bgnbd is not None and result.holdout is not None
    got = {k: round(v, 3) for k, v in result.calibration_bgnbd.params_.items()}
    assert got == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert result.holdout.totals["actual_total"] == 1_882  # weeks 40-78, by day
