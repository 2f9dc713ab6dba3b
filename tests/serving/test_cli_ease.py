"""EASE through the CLI and the jobs: `train recs --model ease`, `evaluate recs`, batch
scoring (fast block path and similar items), the API's loader and `lift recs`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.recommenders import EASERecommender
from engine.recommenders.evaluation import GRIDS
from features.store import Store
from serving.jobs import scoring

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


@pytest.fixture
def db(tmp_path: Path) -> str:
    """60 users in 3 taste blocks of 10 items, plus two users with no history."""
    path = str(tmp_path / "s.duckdb")
    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, int]] = []
    for u in range(60):
        block = u % 3
        for i in rng.choice(10, 8, replace=False):
            rows.append((f"u{u:02d}", f"i{block * 10 + i:02d}", 1_600_000_000 + len(rows)))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(qty=1.0, value=1.0)
    users = pd.DataFrame({"user_id": [f"u{u:02d}" for u in range(62)]})
    items = pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(30)]})
    with Store(path) as store:
        store.load({"users": users, "items": items, "interactions": inter}, source="test")
    return path


def test_train_score_and_similar(cli: Cli, db: str, tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "--json", "train", "recs", "--model", "ease",
                          "--tune", "--out", str(tmp_path / "m"))
    assert code == 0, err
    summary = json.loads(text)
    assert summary["model"] == "ease" and summary["items"] == 30
    assert summary["params"]["regularization"] in GRIDS["ease"]["regularization"]
    model, meta = scoring.load_model(tmp_path / "m")  # what `score` and `serve` load
    assert isinstance(model, EASERecommender) and meta["model"] == "ease"
    assert model.regularization == summary["params"]["regularization"]

    users = np.array(["u00", "u07", "u33", "u61", "nobody"], dtype=object)
    items, scores, fallback = scoring.recommend_block(model, users, 5)
    ref_items, ref_scores = model.recommend(users, n=5)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(items[:3, 0], ref_items[:3, 0])
    assert fallback.tolist() == [False, False, False, True, True]

    out = tmp_path / "recs"
    code, _, err = cli("--db", db, "score", "recommend", "--model", str(tmp_path / "m"),
                       "--top-k", "4", "--out", str(out))
    assert code == 0, err
    recs = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))])
    assert recs["user_id"].nunique() == 62 and recs["user_id"].value_counts().eq(4).all()
    # A block-0 user's first pick is a block-0 item they have not seen.
    first = recs[(recs["user_id"] == "u00") & (recs["rank"] == 1)]["item_id"].item()
    assert first < "i10"

    out = tmp_path / "sim"
    code, _, err = cli("--db", db, "score", "similar-items", "--model", str(tmp_path / "m"),
                       "--top-k", "3", "--out", str(out))
    assert code == 0, err
    sim = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))])
    assert len(sim) == 30 * 3


def test_evaluate_ease_only(cli: Cli, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, err = cli("--db", db, "--json", "evaluate", "recs", "--model", "ease")
    assert code == 0, err
    result = json.loads(text)
    assert set(result["models"]) == {"ease"}
    assert 0.0 <= result["models"]["ease"]["ndcg"] <= 1.0
    with pytest.raises(SystemExit) as info:
        cli("--db", db, "evaluate", "recs", "--model", "nope")
    assert info.value.code == 2
    assert "'ease', 'itemknn'" in capsys.readouterr().err  # choices come from MODELS


def test_lift_recs_with_ease() -> None:
    from engine.lift import run_lift
    from engine.lift.recs import GRIDS, RecsLiftTask
    from tests.engine.test_lift_recs import config, tiny_tables

    cfg = config(models=("ease",), generators=(), baselines=("crop",), seeds=(0,))
    result = run_lift(RecsLiftTask(), tiny_tables(), cfg)
    assert result["params"]["ease"]["regularization"] in GRIDS["small"]["ease"]["regularization"]
    assert {r["model"] for r in result["rows"]} == {"ease"}
