"""``--generator auto``: candidates judged on rows none of them saw, the winner kept,
refitted, saved and loaded as itself; a time budget skips the candidates it cannot start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augment.base import Generator
from augment.registry import make_generator
from augment.tabular.auto import AutoTabular


def frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    grade = rng.choice(["a", "b", "c"], n)
    return pd.DataFrame({"grade": grade,
                         "rate": np.where(grade == "a", 5.0, 9.0) + rng.integers(0, 3, n),
                         "amount": np.round(rng.lognormal(8, 0.5, n), -2),
                         "default": rng.integers(0, 2, n)})


def test_auto_keeps_the_least_detectable_candidate_and_loads_as_itself(tmp_path: Path) -> None:
    auto = make_generator("tabular", "auto", random_state=0, epochs=3,
                          candidates=("copula", "vae"))
    assert isinstance(auto, AutoTabular)
    auto.fit(frame())
    assert set(auto.scores_) == {"copula", "vae"}
    best = min(auto.scores_, key=lambda k: auto.scores_[k]["detection_auc"])
    assert auto.chosen_ == best and 0.0 <= auto.scores_[best]["detection_auc"] <= 1.0
    out = auto.sample(40, conditions={"grade": "b"}, random_state=1)
    assert len(out) == 40 and (out["grade"] == "b").all()
    auto.save(tmp_path / "auto")
    again = Generator.load(tmp_path / "auto")
    assert isinstance(again, AutoTabular) and again.chosen_ == auto.chosen_
    pd.testing.assert_frame_equal(again.sample(40, random_state=2), auto.sample(40, random_state=2))


def test_a_spent_time_budget_skips_the_later_candidates() -> None:
    auto = AutoTabular(candidates=("copula", "vae"), time_budget=1e-9, epochs=2,
                       random_state=0).fit(frame())
    assert auto.chosen_ == "copula"
    assert auto.scores_["vae"] == {"skipped": "time budget spent"}


@pytest.mark.parametrize(("params", "match"), [
    ({"candidates": ("copula", "forest")}, "candidates"),
    ({"candidates": ()}, "candidates"),
    ({"time_budget": 0}, "time_budget"),
    ({"validation_fraction": 0.9}, "validation_fraction"),
])
def test_bad_auto_params(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AutoTabular(**params).fit(frame())
