"""The four verdicts (helps / equivalent / inconclusive / hurts) on constructed
intervals, the minimum detectable effect on a hand case, and margins in LiftConfig."""

from __future__ import annotations

import numpy as np
import pytest

from engine.lift import DEFAULT_MARGINS, LiftConfig
from engine.lift.stats import (
    bootstrap_weights,
    mde,
    mean_metric,
    n_factor,
    paired_bootstrap,
    resolve_margin,
    verdict,
)
from features.errors import DataValidationError


@pytest.mark.parametrize(("ci", "tost", "higher", "want"), [
    # 95% CI wholly on the better / worse side of 0
    ((0.01, 0.03), None, True, "helps"),
    ((-0.03, -0.01), None, True, "hurts"),
    ((-0.03, -0.01), None, False, "helps"),  # lower is better (Brier, WAPE)
    # significant but tiny: still "helps" (a real, small effect), never "equivalent"
    ((0.001, 0.002), None, True, "helps"),
    # straddles 0, 90% interval inside +-0.005: equivalent
    ((-0.004, 0.0045), (-0.003, 0.004), True, "equivalent"),
    # the 95% interval pokes out but the TOST (90%) one is inside: equivalent
    ((-0.006, 0.004), (-0.0049, 0.003), True, "equivalent"),
    # the 90% interval reaches the margin: the run cannot tell
    ((-0.006, 0.004), (-0.005, 0.003), True, "inconclusive"),
    # wide interval (german-credit's +-0.03 AUC): inconclusive, not "no effect"
    ((-0.03, 0.03), (-0.025, 0.025), True, "inconclusive"),
    ((float("nan"), float("nan")), None, True, "inconclusive"),
])
def test_four_verdicts_on_constructed_intervals(ci: tuple[float, float],
                                                tost: tuple[float, float] | None,
                                                higher: bool, want: str) -> None:
    lo, hi = tost if tost else (None, None)
    assert verdict(*ci, higher, margin=0.005, tost_low=lo, tost_high=hi) == want


def test_without_a_margin_nothing_is_equivalent() -> None:
    assert verdict(-0.001, 0.001, True) == "inconclusive"
    assert verdict(-0.001, 0.001, True, margin=0.01) == "equivalent"


def test_mde_hand_case() -> None:
    # (z_0.975 + z_0.8) = 1.959964 + 0.841621 = 2.801585
    assert mde(0.01) == pytest.approx(0.02801585, abs=1e-7)
    assert mde(0.01, alpha=0.1) == pytest.approx((1.644854 + 0.841621) * 0.01, abs=1e-7)
    assert np.isnan(mde(float("nan")))
    # MDE 0.028 vs margin 0.005: n must grow (0.028 / 0.005)^2 = 31.4 times
    assert n_factor(mde(0.01), 0.005) == pytest.approx((0.02801585 / 0.005) ** 2, rel=1e-6)
    assert n_factor(0.001, 0.005) == 1.0 and n_factor(0.01, None) is None


def test_relative_margins() -> None:
    assert resolve_margin("0.5%", 0.40) == pytest.approx(0.002)
    assert resolve_margin("0.5%", -0.40) == pytest.approx(0.002)
    assert resolve_margin(0.005, 123.0) == 0.005 and resolve_margin(None, 1.0) is None


def test_paired_bootstrap_reports_mde_margin_and_equivalence() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(0.5, 0.1, 2000)
    metric = mean_metric("m", "v", higher_is_better=True)
    w = bootstrap_weights(2000, 400, seed=1)
    same = paired_bootstrap(metric, [{"v": v + rng.normal(0, 0.01, v.size)}], [{"v": v}],
                            weights=w, margin=0.005)
    assert same["verdict"] == "equivalent" and same["margin"] == 0.005
    assert same["tost_low"] > same["ci_low"] and same["tost_high"] < same["ci_high"]
    assert same["mde"] == pytest.approx(2.801585 * same["se"], rel=1e-5)
    noisy = paired_bootstrap(metric, [{"v": v + rng.normal(0, 0.5, v.size)}], [{"v": v}],
                             weights=w, margin=0.005)
    assert noisy["verdict"] == "inconclusive" and noisy["n_factor"] > 1
    # SE ~ 1/sqrt(n): with n_factor times the units the MDE would reach the margin
    assert noisy["mde"] / np.sqrt(noisy["n_factor"]) == pytest.approx(0.005)
    rel = paired_bootstrap(metric, [{"v": v}], [{"v": v}], weights=w, margin="1%")
    assert rel["margin"] == pytest.approx(0.01 * abs(rel["base"]))


def test_margins_in_the_config() -> None:
    from engine.lift.credit import CreditLiftTask
    cfg = LiftConfig(task="credit", margins={"auc": 0.01}).resolve(CreditLiftTask())
    assert cfg.margins["auc"] == 0.01 and cfg.margins["brier"] == DEFAULT_MARGINS["brier"]
    assert cfg.to_dict()["margins"]["pr_auc"] == DEFAULT_MARGINS["pr_auc"]
    with pytest.raises(DataValidationError, match="margin for unknown metric.*ndcg"):
        LiftConfig(task="credit", margins={"ndcg": 0.01}).resolve(CreditLiftTask())
    for bad in (0, -1, "x%", "5", float("inf")):
        with pytest.raises(ValueError, match="margins"):
            LiftConfig(task="credit", margins={"auc": bad})
