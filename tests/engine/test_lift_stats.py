"""The lift experiment's statistics and protocol: weighted metrics, the paired bootstrap
(known answers on constructed examples), the verdict rule, LiftConfig, and run_lift on a
toy task whose true effects are known."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from engine.credit import recall_at_fpr
from engine.lift import Arm, ArmState, LiftConfig, LiftSplit, LiftTask, run_lift
from engine.lift.stats import (
    Metric,
    Units,
    auc_metric,
    average_precision_metric,
    bootstrap_weights,
    holm,
    mean_metric,
    paired_bootstrap,
    ratio_metric,
    recall_at_fpr_metric,
    seed_weights,
    verdict,
)
from features.errors import DataValidationError


@pytest.fixture
def scored() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.3).astype(int)
    p = np.round(np.clip(0.3 * y + rng.normal(0.35, 0.2, 300), 0, 1), 2)  # many ties
    return {"y": y, "p": p}


def test_weighted_ranking_metrics_equal_sklearn(scored: dict[str, np.ndarray]) -> None:
    y, p = scored["y"], scored["p"]
    assert auc_metric().point(scored) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert average_precision_metric().point(scored) == pytest.approx(
        average_precision_score(y, p), abs=1e-12)
    for fpr in (0.05, 0.1, 0.3):
        assert recall_at_fpr_metric(fpr).point(scored) == pytest.approx(
            recall_at_fpr(y, p, fpr), abs=1e-12)


def test_integer_weights_equal_repeated_rows(scored: dict[str, np.ndarray]) -> None:
    w = bootstrap_weights(300, 5, seed=1)
    for metric in (auc_metric(), average_precision_metric(), recall_at_fpr_metric(0.1)):
        got = metric.fn(scored, w)
        for b in range(5):
            idx = np.repeat(np.arange(300), w[b].astype(int))
            want = metric.point({k: v[idx] for k, v in scored.items()})
            assert got[b] == pytest.approx(want, abs=1e-12)
    ratio = ratio_metric("wape", "err", "y", higher_is_better=False)
    units = {"err": np.arange(1.0, 301.0), "y": np.full(300, 2.0)}
    assert ratio.point(units) == pytest.approx(np.arange(1.0, 301.0).sum() / 600)
    assert ratio.fn(units, w)[0] == pytest.approx((w[0] * units["err"]).sum() / (w[0].sum() * 2))


def test_bootstrap_weights_are_resamples() -> None:
    w = bootstrap_weights(50, 200, seed=0)
    assert w.shape == (200, 50) and (w.sum(axis=1) == 50).all()
    assert np.array_equal(w, bootstrap_weights(50, 200, seed=0))
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_weights(50, 0, seed=0)


def test_block_bootstrap_keeps_neighbours_together() -> None:
    w = bootstrap_weights(30, 400, seed=2, block=3)
    assert w.shape == (400, 30) and (w.sum(axis=1) == 30).all()
    # Neighbours are drawn together: their counts correlate, far-apart units' do not.
    near = np.corrcoef(w[:, 10], w[:, 11])[0, 1]
    far = np.corrcoef(w[:, 10], w[:, 25])[0, 1]
    assert near > 0.3 and abs(far) < 0.15
    assert np.array_equal(w, bootstrap_weights(30, 400, seed=2, block=3))


def test_seed_resampling_widens_the_interval_by_seed_variation() -> None:
    units = np.zeros(200)
    metric = mean_metric("m", "v", higher_is_better=True)
    arm = [{"v": units + d} for d in (0.0, 0.02, 0.04, 0.06, 0.08)]  # the seed matters
    base = [{"v": units}] * 5
    w = bootstrap_weights(200, 1000, seed=0)
    fixed = paired_bootstrap(metric, arm, base, weights=w)
    both = paired_bootstrap(metric, arm, base, weights=w, seeds=seed_weights(5, 1000, 1))
    assert fixed["ci_low"] == pytest.approx(0.04) and fixed["ci_high"] == pytest.approx(0.04)
    assert both["ci_low"] < 0.025 and both["ci_high"] > 0.055  # +- ~1.96 x 0.0126
    assert both["delta"] == fixed["delta"] == pytest.approx(0.04)
    assert np.array_equal(seed_weights(1, 5, 0), np.ones((5, 1)))


def test_too_few_units_get_no_verdict() -> None:
    metric = mean_metric("m", "v", higher_is_better=True)
    v = np.arange(10.0)
    res = paired_bootstrap(metric, [{"v": v + 1}], [{"v": v}],
                           weights=bootstrap_weights(10, 200, seed=0))
    assert res["verdict"] == "too few units" and np.isnan(res["ci_low"])
    assert np.isnan(res["p_value"]) and res["delta"] == pytest.approx(1.0)
    ok = paired_bootstrap(metric, [{"v": v + 1}], [{"v": v}],
                          weights=bootstrap_weights(10, 200, seed=0), min_units=5)
    assert ok["verdict"] == "helps"


def test_constant_shift_gives_a_degenerate_interval() -> None:
    """Every unit improves by exactly 0.05: the paired interval is [0.05, 0.05]."""
    base = np.random.default_rng(0).random(200)
    metric = mean_metric("ndcg", "v", higher_is_better=True)
    res = paired_bootstrap(metric, [{"v": base + 0.05}], [{"v": base}],
                           weights=bootstrap_weights(200, 500, seed=1))
    assert res["delta"] == pytest.approx(0.05)
    assert res["ci_low"] == pytest.approx(0.05) and res["ci_high"] == pytest.approx(0.05)
    assert res["verdict"] == "helps" and res["relative"] == pytest.approx(0.05 / base.mean())
    assert res["p_value"] == 0.0 and res["se"] == pytest.approx(0.0, abs=1e-12)


def test_interval_matches_the_normal_theory_answer() -> None:
    """Per-unit differences 0.15 +- 1 (mean 0.15, sd 1, n 400): the 95% interval is
    0.15 +- 1.96 / 20 = [0.052, 0.248] up to bootstrap noise."""
    n = 400
    diff = 0.15 + np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    base = np.zeros(n)
    metric = mean_metric("m", "v", higher_is_better=True)
    res = paired_bootstrap(metric, [{"v": base + diff}], [{"v": base}],
                           weights=bootstrap_weights(n, 4000, seed=7))
    assert res["delta"] == pytest.approx(0.15)
    assert res["ci_low"] == pytest.approx(0.15 - 1.96 / 20, abs=0.012)
    assert res["ci_high"] == pytest.approx(0.15 + 1.96 / 20, abs=0.012)
    assert res["verdict"] == "helps"
    assert res["se"] == pytest.approx(1 / 20, rel=0.05)
    assert res["p_value"] == pytest.approx(2 * (1 - 0.99865), abs=0.002)  # z = 3


def test_seeds_are_averaged_and_pairing_removes_shared_noise() -> None:
    rng = np.random.default_rng(2)
    shared = rng.normal(0, 1, 300)  # unit difficulty, the same in both arms
    metric = mean_metric("m", "v", higher_is_better=False)
    arm = [{"v": shared + 0.02}, {"v": shared + 0.04}]
    base = [{"v": shared}, {"v": shared}]
    res = paired_bootstrap(metric, arm, base, weights=bootstrap_weights(300, 300, seed=0))
    assert res["delta"] == pytest.approx(0.03) and res["n_seeds"] == 2
    assert res["ci_low"] == pytest.approx(0.03) and res["ci_high"] == pytest.approx(0.03)
    assert res["seed_sd"] == pytest.approx(np.std([0.02, 0.04], ddof=1))
    assert res["verdict"] == "hurts"  # lower is better and the arm is higher


def test_mask_selects_a_segment() -> None:
    v = np.arange(60.0)
    mask = v >= 30
    metric = mean_metric("m", "v", higher_is_better=True)
    res = paired_bootstrap(metric, [{"v": v + mask}], [{"v": v}],
                           weights=bootstrap_weights(30, 200, seed=0), mask=mask)
    assert res["delta"] == pytest.approx(1.0) and res["n_units"] == 30
    with pytest.raises(ValueError, match="weights"):
        paired_bootstrap(metric, [{"v": v}], [{"v": v}],
                         weights=bootstrap_weights(60, 200, seed=0), mask=mask)


@pytest.mark.parametrize(("lo", "hi", "higher", "want"), [
    (0.01, 0.05, True, "helps"), (-0.05, -0.01, True, "hurts"),
    (-0.01, 0.02, True, "inconclusive"), (0.0, 0.02, True, "inconclusive"),
    (-0.05, -0.01, False, "helps"), (0.01, 0.05, False, "hurts"),
    (-0.01, 0.01, False, "inconclusive"), (float("nan"), float("nan"), True, "inconclusive"),
])
def test_verdict_rule(lo: float, hi: float, higher: bool, want: str) -> None:
    assert verdict(lo, hi, higher) == want


def test_holm_step_down() -> None:
    # sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, then 0.03 > 0.05/2 stops.
    assert holm([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]
    assert holm([0.2, float("nan")]) == [False, False]
    assert holm([0.001, 0.002], alpha=0.05) == [True, True]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seeds": ()}, "seeds"), ({"seeds": (1, 1)}, "seeds"), ({"seeds": (-1,)}, "seeds"),
    ({"ratios": (0.0,)}, "ratios"), ({"ratios": (1.0, 1.0)}, "ratios"),
    ({"n_boot": 10}, "n_boot"), ({"budget": "huge"}, "budget"), ({"alpha": 0.7}, "alpha"),
    ({"generators": ("",)}, "generators"),
])
def test_config_rejects_bad_values(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LiftConfig(task="toy", **kwargs)


# ----------------------------------------------------------------------------- toy task
class ToyTask(LiftTask):
    """Units 0..n-1 with a known per-unit score; arms shift validation and test scores by
    known amounts per ratio."""

    name: ClassVar[str] = "toy"
    dataset: ClassVar[str] = "constructed"
    tables: ClassVar[tuple[str, ...]] = ("toy",)
    unit: ClassVar[str] = "unit"
    metrics: ClassVar[tuple[Metric, ...]] = (mean_metric("score", "v", higher_is_better=True),)
    primary: ClassVar[str] = "score"
    known_generators: ClassVar[tuple[str, ...]] = ("plus", "minus", "noise", "tricky")
    known_baselines: ClassVar[tuple[str, ...]] = ()
    known_models: ClassVar[tuple[str, ...]] = ("m",)
    # arm -> ratio -> (validation shift, test shift)
    SHIFTS: ClassVar[dict[str, dict[float, tuple[float, float]]]] = {
        "plus": {1.0: (0.2, 0.2), 2.0: (0.1, 0.1)},
        "minus": {1.0: (-0.2, -0.2), 2.0: (-0.3, -0.3)},
        "noise": {1.0: (0.0, 0.0), 2.0: (0.0, 0.0)},
        "tricky": {1.0: (0.05, 0.0), 2.0: (0.0, 0.5)},  # test best at 2, validation at 1
    }

    def __init__(self) -> None:
        self.fit_inputs: list[Any] = []

    def defaults(self, budget: str) -> dict[str, Any]:
        return {"generators": tuple(self.SHIFTS), "baselines": (), "ratios": (1.0, 2.0),
                "models": ("m",), "params": {"n": 200}}

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        n = int(cfg.params["n"])
        units = np.arange(n)
        segs = {"all": np.ones(n, bool), "first_half": units < n // 2}
        return LiftSplit(train="TRAIN", validation="VALID", test="TEST",
                         units_validation=units, units_test=units, segments_validation=segs,
                         segments_test=segs, info={"n": n})

    def arms(self, cfg: LiftConfig) -> list[Arm]:
        return [Arm(g, "generator", tuple(cfg.ratios or ())) for g in cfg.generators or ()]

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        self.fit_inputs.append(train)
        return ArmState(arm.name, quality=float(len(arm.name)), quality_name="name length")

    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        rng = np.random.default_rng(seed)
        base = np.linspace(0, 1, len(split.units_test))
        noise = rng.normal(0, 0.05, base.size)
        v_shift, t_shift = (0.0, 0.0) if arm is None else self.SHIFTS[arm.name][ratio or 1.0]
        if arm is not None and arm.name == "noise":  # zero-mean unit noise: no real effect
            v_shift = t_shift = np.random.default_rng(seed + 99).normal(0, 0.3, base.size)
        return {"validation": {"v": base + noise + v_shift},
                "test": {"v": base + noise + t_shift}}


def _row(result: dict[str, Any], arm: str, segment: str = "all") -> dict[str, Any]:
    return next(r for r in result["rows"] if r["arm"] == arm and r["segment"] == segment)


def test_run_lift_recovers_known_effects_and_picks_ratio_on_validation() -> None:
    task = ToyTask()
    cfg = LiftConfig(task="toy", seeds=(0, 1, 2, 3, 4), n_boot=300)
    result = run_lift(task, {}, cfg)
    assert _row(result, "plus")["verdict"] == "helps"
    assert _row(result, "plus")["delta"] == pytest.approx(0.2)
    assert _row(result, "minus")["verdict"] == "hurts"
    assert _row(result, "minus")["ratio"] == 1.0  # -0.2 beats -0.3 on validation
    assert _row(result, "noise")["verdict"] == "inconclusive"  # the toy metric has no margin
    # Validation picks ratio 1 although test would have liked 2 (never chosen on test).
    assert result["chosen_ratio"]["m"]["tricky"] == 1.0
    assert _row(result, "tricky")["delta"] == pytest.approx(0.0, abs=1e-12)
    assert _row(result, "real")["verdict"] == "reference"
    assert {r["segment"] for r in result["rows"]} == {"all", "first_half"}
    assert _row(result, "plus", "first_half")["n_units"] == 100
    assert [r["arm"] for r in result["recommended"]].count("plus") == 2
    assert _row(result, "plus")["holm_significant"] and result["family_size"] == 8
    assert not _row(result, "noise")["holm_significant"]
    assert not result["provisional"]
    assert result["quality"]["plus"]["mean"] == 4.0
    # The augmenters saw the training part only.
    assert task.fit_inputs and all(t == "TRAIN" for t in task.fit_inputs)
    curve = [c for c in result["curves"] if c["arm"] == "tricky" and c["part"] == "test"]
    assert {c["ratio"]: round(c["delta"], 9) for c in curve} == {1.0: 0.0, 2.0: 0.5}


def test_run_lift_is_reproducible_and_flags_few_seeds() -> None:
    cfg = LiftConfig(task="toy", seeds=(3, 4), n_boot=200)
    a, b = run_lift(ToyTask(), {}, cfg), run_lift(ToyTask(), {}, cfg)
    assert a["rows"] == b["rows"] and a["provisional"]
    c = run_lift(ToyTask(), {}, LiftConfig(task="toy", seeds=(5, 6), n_boot=200))
    assert c["rows"] != a["rows"]


def test_resolve_rejects_unknown_names_and_params() -> None:
    task = ToyTask()
    with pytest.raises(DataValidationError, match="unknown generator 'vae'.*plus"):
        LiftConfig(task="toy", generators=("vae",)).resolve(task)
    with pytest.raises(DataValidationError, match="unknown parameter.*epochs.*Fix: use n"):
        LiftConfig(task="toy", params={"epochs": 3}).resolve(task)
    with pytest.raises(DataValidationError, match="unknown model"):
        LiftConfig(task="toy", models=("x",)).resolve(task)
    cfg = LiftConfig(task="toy", params={"n": 50}).resolve(task)
    assert cfg.generators == tuple(ToyTask.SHIFTS) and cfg.params["n"] == 50
    assert cfg.to_dict()["seeds"] == [0, 1, 2, 3, 4]
