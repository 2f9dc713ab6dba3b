"""`genlift train | evaluate recs` and the resumable batch scoring jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.recommenders import Recommender
from features.store import Store
from serving.cli.main import main
from serving.jobs import scoring

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "s.duckdb")
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        block = u % 3
        for i in rng.choice(10, 8, replace=False):
            rows.append((f"u{u:02d}", f"i{block * 10 + i:02d}", 1_600_000_000 + len(rows)))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(qty=1.0, value=1.0)
    users = pd.DataFrame({"user_id": [f"u{u:02d}" for u in range(62)]})  # u60, u61: no history
    items = pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(30)]})
    with Store(path) as store:
        store.load({"users": users, "items": items, "interactions": inter}, source="test")
    return path


def train(cli: Cli, db: str, out: Path, model: str = "als") -> None:
    code, _, err = cli("--db", db, "train", "recs", "--model", model, "--out", str(out))
    assert code == 0, err


def read_parts(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))],
                     ignore_index=True)


def test_train_writes_model_and_run(cli: Cli, db: str,
                                    tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "--json", "train", "recs", "--model", "als",
                          "--out", str(tmp_path / "m"))
    assert code == 0, err
    summary = json.loads(text)
    assert summary["users"] == 60 and summary["items"] == 30
    meta = json.loads((tmp_path / "m" / "train.json").read_text())
    assert meta["run_id"] == summary["run_id"] and "interactions" in meta["fingerprints"]
    model = Recommender.load(tmp_path / "m" / "model")
    assert len(model.user_ids_) == 60


@pytest.mark.parametrize("protocol", ["msr", "temporal"])
def test_evaluate(cli: Cli, db: str, protocol: str) -> None:
    code, text, err = cli("--db", db, "--json", "evaluate", "recs", "--protocol",
                          protocol)
    assert code == 0, err
    result = json.loads(text)
    assert set(result["models"]) == {"als", "bpr", "ease", "itemknn", "popularity"}
    for metrics in result["models"].values():
        for key in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage"):
            assert 0.0 <= metrics[key] <= 1.0
    # The block structure is easy: item-kNN must beat popularity by a wide margin.
    assert result["models"]["itemknn"]["ndcg"] > result["models"]["popularity"]["ndcg"] + 0.2
    code, text, _ = cli("--db", db, "evaluate", "recs", "--protocol", protocol,
                        "--model", "popularity")
    assert code == 0
    assert ("BPR (MS Recommenders)" in text) == (protocol == "msr")


def test_score_every_user_once_with_fallback_and_fold_in(
        cli: Cli, db: str, tmp_path: Path) -> None:
    train(cli, db, tmp_path / "m")
    with Store(db) as store:  # u60 shows up after training: folded in, not a fallback
        store.load({"interactions": pd.DataFrame({
            "user_id": ["u60"] * 3, "item_id": ["i20", "i21", "i22"],
            "ts": [1_700_000_000, 1_700_000_001, 1_700_000_002], "qty": 1.0, "value": 1.0})},
            source="test", mode="append")
    out = tmp_path / "recs"
    code, text, err = cli("--db", db, "--json", "score", "recommend", "--model",
                          str(tmp_path / "m"), "--top-k", "5", "--out", str(out),
                          "--block-users", "16", "--to-store")
    assert code == 0, err
    summary = json.loads(text)
    assert summary["partitions"] == 4 and summary["store_rows"] == 62 * 5
    recs = read_parts(out)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "run_id", "fallback"]
    assert recs.groupby("user_id").size().eq(5).all() and recs["user_id"].nunique() == 62
    flags = recs.groupby("user_id")["fallback"].first()
    assert flags["u61"] and not flags["u60"] and not flags["u00"]
    u60 = set(recs.loc[recs["user_id"] == "u60", "item_id"])
    assert not u60 & {"i20", "i21", "i22"}  # its folded-in history is excluded
    with Store(db, read_only=True) as store:
        assert store.row_count("recommendations") == 62 * 5


def test_scoring_resumes_after_a_crash(cli: Cli, db: str,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train(cli, db, tmp_path / "m")
    out = tmp_path / "recs"
    calls = {"n": 0}
    original = scoring.recommend_block

    def crash_on_second(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scoring, "recommend_block", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        main(["--no-progress", "--db", db, "score", "recommend", "--model", str(tmp_path / "m"),
              "--top-k", "4", "--out", str(out), "--block-users", "20"])
    assert [p.name for p in sorted(out.glob("part-*.parquet"))] == ["part-00000.parquet"]
    assert not (out / scoring.SUCCESS).exists()
    monkeypatch.setattr(scoring, "recommend_block", original)
    code, text, err = cli("--db", db, "--json", "score", "recommend", "--model",
                          str(tmp_path / "m"), "--top-k", "4", "--out", str(out),
                          "--block-users", "20")
    assert code == 0, err
    summary = json.loads(text)
    assert summary["skipped"] == 1 and summary["written"] == 3
    recs = read_parts(out)
    assert recs["user_id"].value_counts().eq(4).all() and recs["user_id"].nunique() == 62
    assert not list(out.glob(".*.tmp"))
    code, _, err = cli("--db", db, "score", "recommend", "--model", str(tmp_path / "m"),
                       "--top-k", "7", "--out", str(out))
    assert code == 2 and "holds the output of another scoring run" in err


@pytest.mark.parametrize("model_name", ["als", "bpr", "ease", "itemknn", "popularity"])
def test_fast_block_path_matches_recommend(cli: Cli, db: str,
                                           tmp_path: Path, model_name: str) -> None:
    train(cli, db, tmp_path / "m", model=model_name)
    model = Recommender.load(tmp_path / "m" / "model")
    users = np.array(["u00", "u07", "u33", "u61", "nobody"], dtype=object)
    items, scores, fallback = scoring.recommend_block(model, users, 5)
    ref_items, ref_scores = model.recommend(users, n=5)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)
    # Equal scores everywhere (above); where a row has no tied scores the order is the same.
    for got, ref, score in zip(items, ref_items, ref_scores, strict=True):
        if len(set(np.round(score, 5))) == len(score):
            assert list(got) == list(ref)
        assert len(set(got)) == 5
    assert fallback.tolist() == [False, False, False, True, True]


def test_similar_items(cli: Cli, db: str, tmp_path: Path) -> None:
    train(cli, db, tmp_path / "m", model="itemknn")
    out = tmp_path / "sim"
    code, _, err = cli("--db", db, "score", "similar-items", "--model",
                       str(tmp_path / "m"), "--top-k", "3", "--out", str(out))
    assert code == 0, err
    sim = read_parts(out)
    assert sim["item_id"].nunique() == 30 and sim.groupby("item_id").size().eq(3).all()
    assert (sim["item_id"] != sim["similar_item_id"]).all()
    block = sim["item_id"].str[1:].astype(int) // 10
    similar_block = sim["similar_item_id"].str[1:].astype(int) // 10
    top = sim["rank"] == 1
    assert (block[top] == similar_block[top]).mean() > 0.9


@pytest.mark.parametrize(("args", "message"), [
    (["score", "recommend", "--model", "nowhere", "--out", "o"],
     "is not a `genlift train recs` folder"),
    (["train", "recs", "--with-synthetic", "--out", "o"],
     "the store has no synthetic_interactions"),
])
def test_bad_input(cli: Cli, db: str, tmp_path: Path,
                   args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a in ("o", "nowhere") else a for a in args]
    code, _, err = cli("--db", db, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_bad_top_k(cli: Cli, db: str, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    train(cli, db, tmp_path / "m")
    with pytest.raises(SystemExit) as exc:  # argparse's usage error, naming the flag
        cli("--db", db, "score", "recommend", "--model", str(tmp_path / "m"),
            "--top-k", "0", "--out", str(tmp_path / "o"))
    assert exc.value.code == 2
    assert "argument --top-k: must be a whole number >= 1, got '0'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
