"""Every score a generator scorecard emits has a glossary entry (meaning and good/bad
direction), and the report and the CLI show it beside the number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment.quality import tabular_scorecard
from augment.quality_baskets import basket_scorecard
from augment.quality_glossary import GLOSSARY, describe, glossary_for, missing
from augment.quality_paths import path_scorecard
from serving.jobs.augment import _score_sales
from serving.reports.generator import write_generator_report

DIRECTIONS = ("better", "bad", "context")


def _tabular(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(20, 70, n), "amount": rng.gamma(2, 500, n),
                         "housing": rng.choice(["own", "rent"], n)})


def _cards() -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(0)
    tab = tabular_scorecard(_tabular(120, 0), _tabular(60, 1), _tabular(120, 2))
    real = pd.DataFrame({"user_id": np.repeat(np.arange(20), 5),
                         "item_id": rng.integers(0, 15, 100)}).drop_duplicates()
    syn = pd.DataFrame({"user_id": np.repeat(np.arange(20), 5),
                        "item_id": rng.integers(0, 15, 100)}).drop_duplicates()
    baskets = basket_scorecard(real, syn)
    paths = path_scorecard(rng.normal(0, 0.01, (120, 2)), rng.normal(0, 0.01, (3, 120, 2)),
                           real_train=rng.normal(0, 0.01, (200, 2)))

    class Windows:  # a fitted sales generator's sampling contract, nothing else
        def sample(self, n: int, *, random_state: int) -> pd.DataFrame:
            weeks = pd.date_range("2020-01-02", periods=6, freq="7D")
            return pd.DataFrame({"window_id": np.repeat(np.arange(n), 6),
                                 "date": np.tile(weeks, n), "units": rng.poisson(20, n * 6),
                                 "price": 1.5, "promo": np.tile([0, 1], n * 3)})

    hold = pd.DataFrame({"store_id": "s1", "item_id": np.repeat(["a", "b"], 10),
                         "date": np.tile(pd.date_range("2020-01-02", periods=10, freq="7D"), 2),
                         "units": rng.poisson(20, 20).astype(float), "price": 1.5,
                         "promo": np.tile([0, 1], 10)})
    sales, _ = _score_sales(Windows(), {"holdout": hold}, 8, 0)  # type: ignore[arg-type]
    return {"tabular": tab, "baskets": baskets, "paths": paths, "sales": sales}


def test_every_emitted_score_has_a_glossary_entry() -> None:
    for kind, card in _cards().items():
        assert missing(card) == [], kind
        for name in card:
            meaning, direction = describe(name)  # type: ignore[misc]
            assert len(meaning) > 10 and any(w in direction for w in DIRECTIONS), name


def test_pattern_names_and_unknown_names() -> None:
    assert "20-day return" in describe("wasserstein_20d")[0]  # type: ignore[index]
    assert describe("wasserstein_20d")[1] == "lower is better"  # type: ignore[index]
    assert describe("no_such_score") is None
    assert glossary_for(["no_such_score"])["no_such_score"]["meaning"] == "no glossary entry"
    assert GLOSSARY["detection_auc"][1] == "closer to 0.5 is better"
    assert GLOSSARY["novel_share"][1] == "higher is better"


def test_report_shows_meaning_and_direction(tmp_path: Path) -> None:
    card = {"quality": 0.91, "detection_auc": 0.62, "wasserstein_1d": 0.003,
            "worst_pairs": [{"pair": "age|amount", "score": 0.8}]}
    page = write_generator_report(tmp_path / "r.html", title="t", scorecard=card, plots=[],
                                  history=[], config={}, run_id="r").read_text()
    assert "<h2>Glossary of the scores</h2>" in page
    assert "closer to 0.5 is better" in page and "1-day return distributions" in page
    glossary = page.split("<h2>Glossary of the scores</h2>")[1]
    for name in card:
        assert f"<td>{name}</td>" in glossary


@pytest.mark.parametrize("name", sorted(GLOSSARY))
def test_entries_are_one_line(name: str) -> None:
    meaning, direction = GLOSSARY[name]
    assert "\n" not in meaning and len(meaning) < 200 and direction
