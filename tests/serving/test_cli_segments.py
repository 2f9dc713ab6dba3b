"""`genlift segment`, `genlift score segment` and their bad input, on a small store of
constructed customers (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


def movielens_like(n_heavy: int = 30, n_light: int = 50, seed: int = 0
                   ) -> dict[str, pd.DataFrame]:
    """Heavy raters (many recent ratings of the drama items) and light raters (a few old
    ratings of the comedy items), with users' attributes and items' genres."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({"item_id": [f"i{j:02d}" for j in range(20)],
                          "title": [f"film {j}" for j in range(20)],
                          "genres": ["Drama"] * 10 + ["Comedy"] * 10})
    rows, users = [], []
    end = pd.Timestamp("2024-06-30")
    for u in range(n_heavy + n_light):
        heavy = u < n_heavy
        uid = f"{u:03d}"
        users.append({"user_id": uid, "age": int(rng.integers(20, 60)),
                      "gender": rng.choice(["F", "M"])})
        pool = np.arange(10) if heavy else np.arange(10, 20)
        chosen = rng.choice(pool, 9 if heavy else 2, replace=False)
        for j in chosen:
            days = int(rng.integers(0, 10)) if heavy else int(rng.integers(100, 150))
            rows.append({"user_id": uid, "item_id": f"i{j:02d}",
                         "ts": end - pd.Timedelta(days=days, minutes=int(j)),
                         "qty": 1.0, "value": float(rng.integers(1, 6))})
    return {"users": pd.DataFrame(users), "items": items,
            "interactions": pd.DataFrame(rows)}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("segments") / "s.duckdb")
    with Store(path) as store:
        store.load(movielens_like(), source="test")
    return path


@pytest.fixture(scope="module")
def run(db: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from serving.cli.main import main
    out = tmp_path_factory.mktemp("seg") / "run"
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["--no-progress", "--db", db, "--json", "segment", "--table",
                     "interactions", "--out", str(out), "--seed", "1"])
    assert code == 0
    return out, json.loads(buf.getvalue())


def test_segment_writes_model_assignments_report_and_store_tables(db: str, run: tuple
                                                                  ) -> None:
    out, result = run
    assert result["k"] == 2 and result["k_chosen"] == "auto"
    assert result["sizes"] == {"S1": 50, "S2": 30}
    for name in ("model/params.json", "segments.parquet", "features.parquet",
                 "profiles.json", "segment.json", "report.html"):
        assert (out / name).is_file(), name
    seg = pd.read_parquet(out / "segments.parquet")
    assert list(seg.columns) == ["user_id", "segment", "method", "run_id"]
    heavy = seg.set_index("user_id").loc[[f"{u:03d}" for u in range(30)], "segment"]
    assert (heavy == "S2").all()
    with Store(db, read_only=True) as store:
        stored = store.read("segments")
        feats = store.read("segment_features")
    assert len(stored) == 80 and set(stored["run_id"]) == {result["run_id"]}
    assert {"user_id", "segment", "frequency", "gender"} <= set(feats.columns)
    s2 = next(p for p in result["profiles"] if p["segment"] == "S2")
    assert s2["top_categories"][0]["category"] == "Drama"
    assert s2["rfm"]["frequency"] == 9
    assert result["clv"].startswith("absent")
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64") == 3  # k curve, map, sizes
    assert "What distinguishes it" in page and "Choosing k" in page


def test_same_seed_same_segments_and_history_appended(cli: Cli, db: str, run: tuple,
                                                      tmp_path: Path) -> None:
    out, first = run
    code, text, err = cli("--db", db, "--json", "segment", "--table", "interactions",
                          "--out", str(tmp_path / "again"), "--seed", "1")
    assert code == 0, err
    a = pd.read_parquet(out / "segments.parquet")
    b = pd.read_parquet(tmp_path / "again" / "segments.parquet")
    pd.testing.assert_series_equal(a["segment"], b["segment"])
    with Store(db, read_only=True) as store:
        assert store.read("segments")["run_id"].nunique() >= 2  # the monthly history


def test_rfm_and_gmm_methods(cli: Cli, db: str, tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "--json", "segment", "--table", "users", "--out",
                          str(tmp_path / "rfm"), "--method", "rfm")
    assert code == 0, err
    result = json.loads(text)
    assert result["score"] is None and set(result["sizes"]) <= {
        "champions", "loyal customers", "potential loyalists", "new customers", "promising",
        "need attention", "about to sleep", "at risk", "can't lose them", "hibernating"}
    code, text, err = cli("--db", db, "segment", "--table", "interactions", "--out",
                          str(tmp_path / "gmm"), "--method", "gmm", "--k", "3")
    assert code == 0, err
    assert "k: 3" in text and "S3" in text


def test_score_segment_assigns_customers(cli: Cli, db: str, run: tuple,
                                         tmp_path: Path) -> None:
    out, result = run
    code, text, err = cli("--db", db, "--json", "score", "segment", "--model", str(out),
                          "--table", "interactions", "--out", str(tmp_path / "s.parquet"))
    assert code == 0, err
    scored = pd.read_parquet(tmp_path / "s.parquet")
    fitted = pd.read_parquet(out / "segments.parquet")
    pd.testing.assert_frame_equal(scored, fitted)
    assert json.loads(text)["sizes"] == result["sizes"]


@pytest.mark.parametrize(("args", "message"), [
    (["--k", "500"], "k=500 segments asked for 80 customers"),
    (["--k", "1"], "segments need k >= 2"),
    (["--k", "many"], "neither 'auto' nor a whole number"),
    (["--method", "dbscan"], "invalid choice: 'dbscan'"),
    (["--method", "rfm", "--k", "4"], "RFM segments are fixed cells"),
    (["--table", "transactions"], "table 'transactions' is not in the store"),
])
def test_bad_input_exits_2_and_writes_nothing(cli: Cli, db: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              args: list[str], message: str) -> None:
    table = args[args.index("--table") + 1] if "--table" in args else "interactions"
    rest = [a for i, a in enumerate(args) if a != "--table" and
            (i == 0 or args[i - 1] != "--table")]
    with Store(db, read_only=True) as store:
        before = len(store.read("segments")) if store.has("segments") else 0
    try:
        code, _, err = cli("--db", db, "segment", "--table", table, "--out",
                           str(tmp_path / "never"), *rest)
    except SystemExit as exc:  # argparse's own refusal (an unknown choice)
        code, err = int(exc.code or 0), capsys.readouterr().err
    assert code == 2
    assert message in err
    assert not (tmp_path / "never").exists()
    with Store(db, read_only=True) as store:
        after = len(store.read("segments")) if store.has("segments") else 0
    assert after == before


def _raw_table(db: str, name: str, frame: pd.DataFrame) -> None:
    """A table put in the store by other means than `genlift data` (no contract check)."""
    with Store(db) as store, store.transaction() as con:
        con.register("_t", frame)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _t")
        con.unregister("_t")


def test_transactions_without_columns_or_with_negative_amounts(cli: Cli, tmp_path: Path
                                                              ) -> None:
    db = str(tmp_path / "t.duckdb")
    log = pd.DataFrame({"user_id": ["a", "a", "b", "c"],
                        "ts": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05",
                                              "2024-01-09"]),
                        "quantity": [1, 2, 1, 1], "amount": [10.0, -4.0, 3.0, 5.0]})
    _raw_table(db, "transactions", log.drop(columns=["amount"]))
    code, _, err = cli("--db", db, "segment", "--table", "transactions", "--out",
                       str(tmp_path / "o"))
    assert code == 2 and "missing column(s) amount" in err
    _raw_table(db, "transactions", log)
    code, _, err = cli("--db", db, "segment", "--table", "transactions", "--out",
                       str(tmp_path / "o"))
    assert code == 2 and "transactions.amount has 1 negative" in err and "rows 2" in err
    assert not (tmp_path / "o").exists()


def test_out_folder_of_something_else_is_refused(cli: Cli, db: str, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, _, err = cli("--db", db, "segment", "--table", "interactions", "--out",
                       str(tmp_path / "mine"))
    assert code == 2 and "refusing to write into it" in err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_segment_conditioned_synthetic_customers_and_fidelity(cli: Cli, db: str, run: tuple,
                                                              tmp_path: Path) -> None:
    """augment fit on segment_features, sample one segment, score every segment."""
    # segment_features holds the latest run: make it this module's k-means run again
    code, _, err = cli("--db", db, "segment", "--table", "interactions", "--out",
                       str(tmp_path / "seg"), "--seed", "1")
    assert code == 0, err
    gen = tmp_path / "gen"
    code, _, err = cli("--db", db, "augment", "fit", "tabular", "--table", "segment_features",
                       "--generator", "copula", "--out", str(gen))
    assert code == 0, err
    fit = json.loads((gen / "fit.json").read_text())
    assert fit["table"] == "segment_features"
    syn = tmp_path / "syn.parquet"
    code, _, err = cli("--db", db, "augment", "sample", str(gen), "-n", "60", "--condition",
                       "segment=S2", "--seed", "0", "--out", str(syn))
    assert code == 0, err
    frame = pd.read_parquet(syn)
    assert len(frame) == 60 and set(frame["segment"]) == {"S2"}
    assert "user_id" not in frame.columns  # the key is not learned
    # S2 are the heavy raters: the synthetic ones rate like them, not like S1
    assert frame["frequency"].median() > 5
    code, text, err = cli("--db", db, "--json", "evaluate", "segments", "--model",
                          str(gen), "--n-samples", "80")
    assert code == 0, err
    result = json.loads(text)
    rows = {r["segment"]: r for r in result["segments"]}
    assert set(rows) == {"S1", "S2"}
    for r in rows.values():
        assert r["off_segment"] == 0 and r["n_synthetic"] == 80
        assert 0.0 <= r["column_shapes"] <= 1.0 and 0.0 <= r["quality"] <= 1.0
        assert r["real_customers"] == {"S1": 50, "S2": 30}[r["segment"]]
    code, _, err = cli("--db", db, "evaluate", "segments", "--generator", str(gen),
                       "--segment", "S9")
    assert code == 2 and "S9" in err and "use some of S1, S2" in err


def test_k_at_the_top_of_the_range_is_flagged(cli: Cli, tmp_path: Path) -> None:
    """12 tight groups of customers: the silhouette still rises at k = 10, the top of the
    range searched, and the run says so instead of presenting 10 as found."""
    rng = np.random.default_rng(0)
    rows = []
    for g in range(12):
        for c in range(6):
            for b in range(g + 1):  # group g buys g + 1 times, spending 10 * 2**g each
                rows.append({"user_id": f"g{g:02d}c{c}", "quantity": 1,
                             "ts": pd.Timestamp("2024-01-01") + pd.Timedelta(days=b),
                             "amount": 10.0 * 2**g * rng.uniform(0.99, 1.01)})
    db = str(tmp_path / "t.duckdb")
    with Store(db) as store:
        store.load({"transactions": pd.DataFrame(rows)}, source="test")
    code, text, err = cli("--db", db, "--json", "segment", "--table", "transactions",
                          "--out", str(tmp_path / "o"))
    assert code == 0, err
    result = json.loads(text)
    assert result["k"] == 10 and "top of the range searched (10)" in result["k_note"]
    assert "top of the range" in (tmp_path / "o" / "report.html").read_text()


def test_lifetime_value_joined_when_customer_value_exists(cli: Cli, tmp_path: Path) -> None:
    db = str(tmp_path / "v.duckdb")
    tables = movielens_like()
    users = tables["users"]["user_id"]
    heavy = users.astype(int) < 30
    value = pd.DataFrame({"user_id": users, "expected_purchases": np.where(heavy, 4.0, 0.5),
                          "p_alive": 0.8, "expected_spend": 20.0,
                          "clv": np.where(heavy, 100.0, 10.0)})
    with Store(db) as store:
        store.load({**tables, "customer_value": value}, source="test")
    code, text, err = cli("--db", db, "--json", "segment", "--table", "interactions",
                          "--out", str(tmp_path / "o"), "--seed", "1", "--k", "2")
    assert code == 0, err
    result = json.loads(text)
    assert result["clv"] == "joined from customer_value (80 of 80 customers)"
    by = {p["segment"]: p["value"] for p in result["profiles"]}
    assert by["S2"]["mean_clv"] == pytest.approx(100.0)  # the heavy raters
    assert by["S2"]["total_clv"] == pytest.approx(3000.0)
    assert by["S1"]["mean_expected_purchases"] == pytest.approx(0.5)
    code, text, err = cli("--db", db, "segment", "--table", "interactions", "--out",
                          str(tmp_path / "o2"), "--seed", "1", "--k", "2")
    assert "share of clv" in text and "85.7%" in text  # 3000 of 3000 + 50 x 10


@pytest.mark.network
@pytest.mark.slow
def test_cdnow_segments_on_the_real_log(cli: Cli, tmp_path: Path) -> None:
    """The real CDNOW log (23,570 customers): every customer in one segment, the same
    segments on a re-run, and RFM cells in the order their names promise."""
    db = str(tmp_path / "cdnow.duckdb")
    code, _, err = cli("--db", db, "data", "fetch", "cdnow")
    assert code == 0, err
    runs = []
    for name in ("a", "b"):
        code, text, err = cli("--db", db, "--json", "segment", "--table", "transactions",
                              "--k", "4", "--out", str(tmp_path / name))
        assert code == 0, err
        runs.append(json.loads(text))
    assert sum(runs[0]["sizes"].values()) == 23_570 == runs[0]["customers"]
    a = pd.read_parquet(tmp_path / "a" / "segments.parquet")
    b = pd.read_parquet(tmp_path / "b" / "segments.parquet")
    pd.testing.assert_series_equal(a["segment"], b["segment"])
    code, text, err = cli("--db", db, "--json", "segment", "--table", "transactions",
                          "--method", "rfm", "--out", str(tmp_path / "rfm"))
    assert code == 0, err
    rfm = {p["segment"]: p["rfm"] for p in json.loads(text)["profiles"]}
    assert rfm["champions"]["recency_days"] < rfm["hibernating"]["recency_days"]
    assert rfm["champions"]["frequency"] > rfm["hibernating"]["frequency"]


def test_as_of_computes_features_from_earlier_events(cli: Cli, db: str, tmp_path: Path
                                                     ) -> None:
    """--as-of: the light raters' ratings lie 100-150 days before the end, the heavy
    raters' in the last 10; as of 20 days before the end the heavy raters have none."""
    code, text, err = cli("--db", db, "--json", "segment", "--table", "interactions",
                          "--method", "rfm", "--as-of", "2024-06-10", "--out",
                          str(tmp_path / "early"))
    assert code == 0, err
    result = json.loads(text)
    assert result["customers"] == 50  # only the light raters had rated by then
    code, text, err = cli("--db", db, "--json", "score", "segment", "--model",
                          str(tmp_path / "early"), "--table", "interactions", "--out",
                          str(tmp_path / "now.parquet"))
    assert code == 0, err
    assert json.loads(text)["customers"] == 80  # scored as of the last event: everyone
    code, _, err = cli("--db", db, "segment", "--table", "interactions", "--as-of",
                       "last tuesday", "--out", str(tmp_path / "x"))
    assert code == 2 and "--as-of 'last tuesday' is not a date" in err
    code, _, err = cli("--db", db, "segment", "--table", "interactions", "--as-of",
                       "1990-01-01", "--out", str(tmp_path / "x"))
    assert code == 2 and "no customer with an event on or before" in err
    assert not (tmp_path / "x").exists()
