"""`genlift train credit --model ...`: the champion's report in text, --json and
train.json; `score credit` and POST /score/credit serving a scorecard champion."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.credit import Scorecard, load_credit_model
from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py
FAST = ("--cv-repeats", "1", "--cv-folds", "3")


def _applicants(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    amount = rng.gamma(2.0, 1500.0, n).round()
    housing = rng.choice(["own", "rent", "free"], n)
    logit = -1.5 + amount / 3000 + (housing == "rent") * 0.8
    return pd.DataFrame({"applicant_id": [f"a{i:03d}" for i in range(n)],
                         "credit_amount": amount, "age_in_years": rng.integers(19, 70, n),
                         "housing": housing,
                         "default": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"applicants": _applicants()}, source="test")
    return path


def test_scorecard_model_json_and_scoring(cli: Cli, db: str, tmp_path: Path) -> None:
    out = tmp_path / "m"
    code, text, err = cli("--db", db, "--json", "train", "credit", "--model", "scorecard",
                          *FAST, "--out", str(out))
    assert code == 0, err
    summary = json.loads(text)
    assert summary["champion"] == "scorecard" and summary["model_class"] == "Scorecard"
    assert summary["reason"] == "requested with --model scorecard"
    assert set(summary["candidates"]) == {"scorecard"}
    auc = summary["candidates"]["scorecard"]["cv_auc"]
    assert auc["ci_low"] <= auc["mean"] <= auc["ci_high"] and 0.5 < auc["mean"] < 1
    meta = json.loads((out / "train.json").read_text())
    assert meta["model"] == "scorecard" and len(meta["selection"]["scorecard"]["fold_auc"]) == 3
    table = pd.read_csv(out / "scorecard.csv")
    assert {"feature", "bin", "woe", "points"} <= set(table.columns)
    assert isinstance(load_credit_model(out / "model"), Scorecard)

    new = pd.DataFrame({"applicant_id": ["n1", "n2", "n3"],
                        "credit_amount": [9000.0, 500.0, None], "age_in_years": [30, 40, 50],
                        "housing": ["rent", "own", "own"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    code, text, err = cli("--db", db, "--json", "score", "credit", "--model", str(out),
                          "--in", str(tmp_path / "new.csv"), "--out",
                          str(tmp_path / "s.parquet"))
    assert code == 0, err
    assert json.loads(text)["rows_with_errors"] == 1
    scores = pd.read_parquet(tmp_path / "s.parquet").set_index("applicant_id")
    assert scores.loc["n1", "score"] < scores.loc["n2", "score"]
    assert scores.loc["n1", "reason_1"] in {"credit_amount", "housing"}
    assert "credit_amount is missing" in scores.loc["n3", "error"]


def test_auto_text_names_both_candidates_and_the_reason(cli: Cli, db: str,
                                                        tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "train", "credit", *FAST, "--out", str(tmp_path / "m"))
    assert code == 0, err
    assert "reason: CV AUC lightgbm - scorecard" in text
    assert "lightgbm" in text and "scorecard" in text and "champion" in text
    meta = json.loads((tmp_path / "m" / "train.json").read_text())
    assert meta["model"] == "auto" and meta["champion"] in {"lightgbm", "scorecard"}
    assert set(meta["candidates"]) == {"lightgbm", "scorecard"}
    assert meta["paired_auc"]["ci_low"] <= meta["paired_auc"]["mean"]
    assert len(meta["selection"]["lightgbm"]["tuning"]) >= 2


def test_bad_model_value_is_a_clear_cli_error(cli: Cli, db: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # argparse's own usage error
        cli("--db", db, "train", "credit", "--model", "forest", "--out", str(tmp_path / "m"))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --model: invalid choice: 'forest'" in err
    code, _, err = cli("--db", db, "train", "credit", "--cv-folds", "200", "--out",
                       str(tmp_path / "m"))
    assert code == 2 and "too few rows of a class for 200-fold CV" in err


def test_api_serves_a_scorecard_champion(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from serving import api
    from serving.jobs.credit import train_credit
    with warnings.catch_warnings():  # starlette's notice that its TestClient moves
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    apps = _applicants()
    with Store(str(tmp_path / "s.duckdb")) as store:
        store.load({"applicants": apps}, source="test")
        train_credit(store, tmp_path / "models" / "credit", model="scorecard", cv_repeats=1,
                     cv_folds=3)
    models = api.load_models(tmp_path / "models")
    assert models.credit is not None and models.credit.details["model_class"] == "Scorecard"
    client = TestClient(api.create_app(models, api_key=None))
    rows = apps.drop(columns="default").iloc[:5].to_dict("records")
    rows = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in rows]
    rows.append({**rows[0], "applicant_id": "bad", "housing": "castle"})
    r = client.post("/score/credit", json={"applicants": rows})
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    want = models.credit.model.score(pd.DataFrame(rows))
    np.testing.assert_allclose([g["score"] for g in got[:5]], want["score"][:5], rtol=1e-9)
    np.testing.assert_allclose([g["pd"] for g in got[:5]], want["pd"][:5], rtol=1e-9)
    first = [x["feature"] for x in got[0]["reasons"]]
    assert first == [w for w in want.iloc[0][[f"reason_{k}" for k in range(1, 5)]] if w]
    assert got[5]["pd"] is None and "housing has a category unseen" in got[5]["error"]
