"""`genlift score recommend | similar-items --index`, and the API searching the saved index."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.recommenders import index_store
from features.store import Store
from serving.cli import recs as cli_recs
from serving.jobs.scoring import load_model, recommend_block

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


@pytest.fixture
def trained(cli: Cli, tmp_path: Path) -> tuple[str, Path]:
    db = str(tmp_path / "s.duckdb")
    rng = np.random.default_rng(0)
    rows = [(f"u{u:02d}", f"i{(u % 3) * 10 + i:02d}", 1_600_000_000 + u * 10 + j)
            for u in range(60) for j, i in enumerate(rng.choice(10, 6, replace=False))]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(qty=1.0, value=1.0)
    with Store(db) as store:
        store.load({"interactions": inter}, source="test")
    for model in ("als", "itemknn"):
        code, _, err = cli("--db", db, "train", "recs", "--model", model, "--out",
                           str(tmp_path / model))
        assert code == 0, err
    return db, tmp_path


def test_cli_index_choices_match_the_engine() -> None:
    assert cli_recs.INDEX_CHOICES == index_store.INDEX_CHOICES
    assert cli_recs.BREAK_EVEN_ITEMS == index_store.BREAK_EVEN_ITEMS


def test_score_recommend_with_hnsw_reports_recall(cli: Cli, trained: tuple[str, Path]) -> None:
    db, tmp = trained
    code, text, err = cli("--db", db, "--json", "score", "recommend", "--model",
                          str(tmp / "als"), "--top-k", "5", "--index", "hnsw", "--out",
                          str(tmp / "o"))
    assert code == 0, err
    index = json.loads(text)["index"]
    assert index["kind"] == "hnsw" and index["status"] == "built"
    assert index["recall"]["k"] == 5 and index["recall"]["sample"] == 60
    assert 0.9 <= index["recall"]["recall_at_k"] <= 1.0
    manifest = json.loads((tmp / "o" / "_manifest.json").read_text())
    assert manifest["index"] == "hnsw" and manifest["recall"] == index["recall"]
    assert (tmp / "als" / "index-hnsw" / "params.json").is_file()
    # text output, index reused, same output folder resumed (recall kept out of the check)
    code, text, err = cli("--db", db, "score", "recommend", "--model", str(tmp / "als"),
                          "--top-k", "5", "--index", "hnsw", "--out", str(tmp / "o"))
    assert code == 0, err
    assert "index: hnsw (requested hnsw; reused" in text
    assert "recall@5 vs exact search: " in text and "on a sample of 60 users" in text
    parts = pd.concat(pd.read_parquet(p) for p in sorted((tmp / "o").glob("part-*")))
    assert parts.groupby("user_id").size().eq(5).all()


def test_similar_items_with_flat_index_matches_the_model(cli: Cli,
                                                         trained: tuple[str, Path]) -> None:
    db, tmp = trained
    code, text, err = cli("--db", db, "--json", "score", "similar-items", "--model",
                          str(tmp / "als"), "--top-k", "3", "--index", "flat", "--out",
                          str(tmp / "s"))
    assert code == 0, err
    assert json.loads(text)["index"]["kind"] == "flat"
    sim = pd.concat(pd.read_parquet(p) for p in sorted((tmp / "s").glob("part-*")))
    model, _ = load_model(tmp / "als")
    ids, scores = model.similar_items(np.array(["i00", "i15"], dtype=object), n=3)
    for item, ref, ref_scores in zip(["i00", "i15"], ids, scores, strict=True):
        got = sim[sim["item_id"] == item].sort_values("rank")
        np.testing.assert_allclose(got["score"], ref_scores, rtol=1e-4, atol=1e-5)
        assert (sim["item_id"] != sim["similar_item_id"]).all()
        if len(set(np.round(ref_scores, 4))) == 3:
            assert list(got["similar_item_id"]) == list(ref)


def test_approximate_index_refused_for_a_model_without_factors(
        cli: Cli, trained: tuple[str, Path]) -> None:
    db, tmp = trained
    code, _, err = cli("--db", db, "score", "recommend", "--model", str(tmp / "itemknn"),
                       "--index", "hnsw", "--out", str(tmp / "bad"))
    assert code == 2 and "Traceback" not in err
    assert "--index hnsw needs a factor model (als, bpr)" in err
    assert not (tmp / "itemknn" / "index-hnsw").exists()


def test_bad_index_value(cli: Cli, trained: tuple[str, Path],
                         capsys: pytest.CaptureFixture[str]) -> None:
    db, tmp = trained
    with pytest.raises(SystemExit) as exc:
        cli("--db", db, "score", "recommend", "--model", str(tmp / "als"), "--index",
            "annoy", "--out", str(tmp / "bad"))
    assert exc.value.code == 2
    assert "argument --index: invalid choice: 'annoy'" in capsys.readouterr().err


def test_itemknn_auto_is_exact(cli: Cli, trained: tuple[str, Path]) -> None:
    db, tmp = trained
    code, text, err = cli("--db", db, "--json", "score", "recommend", "--model",
                          str(tmp / "itemknn"), "--out", str(tmp / "k"))
    assert code == 0, err
    assert json.loads(text)["index"] == {"kind": "exact", "requested": "auto"}


def test_api_searches_the_saved_index(cli: Cli, trained: tuple[str, Path]) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from serving import api

    db, tmp = trained
    models = tmp / "models"
    models.mkdir()
    (tmp / "als").rename(models / "recs")
    code, _, err = cli("--db", db, "score", "recommend", "--model", str(models / "recs"),
                       "--index", "hnsw", "--out", str(tmp / "o"))
    assert code == 0, err
    client = TestClient(api.create_app(str(models), api_key=None))
    details = client.get("/healthz").json()["models"]["recs"]["details"]
    assert details["index"] == {"kind": "hnsw"}
    got = client.get("/recommend/u05", params={"n": 4}).json()["items"]
    model: Any
    model, _ = load_model(models / "recs")
    index = index_store.load_index(models / "recs", "hnsw")
    items, _, _ = recommend_block(model, np.array(["u05"], dtype=object), 4, index=index)
    assert [g["item_id"] for g in got] == list(items[0])
    # a model trained again: its old index is refused, the API searches exactly
    model.item_factors_ = model.item_factors_ * 2
    model.save(models / "recs" / "model")
    details = TestClient(api.create_app(str(models), api_key=None)).get(
        "/healthz").json()["models"]["recs"]["details"]
    assert details["index"]["kind"] == "exact"
    assert "built for another model" in details["index"]["refused"][0]
