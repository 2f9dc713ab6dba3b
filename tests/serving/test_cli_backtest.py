"""`genlift backtest` on a small price history the test builds."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py

FAST = ["--paths", "20", "--horizon", "63", "--strategies", "buy_and_hold",
        "equal_weight", "inverse_vol:window=42", "momentum:window=63:skip=21"]


def prices(days: int = 500, assets: tuple[str, ...] = ("AAA", "BBB", "CCC")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2015-01-01", periods=days)
    rows = []
    for i, a in enumerate(assets):
        close = 50 * np.exp(np.cumsum(rng.standard_t(4, days) * 0.01 + 0.0003 * (i + 1)))
        rows.append(pd.DataFrame({"date": dates, "asset": a, "close": close}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"prices": prices()}, source="test")
    return path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same backtest run twice on one store, as text and as --json (each run is a few
    seconds: the two tests below share them instead of running three)."""
    from serving.cli.main import main

    root = tmp_path_factory.mktemp("bt")
    db = str(root / "s.duckdb")
    with Store(db) as store:
        store.load({"prices": prices()}, source="test")
    runs: dict[str, Any] = {"db": db}
    for name, flags in (("text", []), ("json", ["--json"])):
        out = root / name / "report.html"
        out.parent.mkdir()
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["--no-progress", "--db", db, *flags, "backtest", *FAST,
                         "--out", str(out)])
        runs[name] = (code, stdout.getvalue(), stderr.getvalue(), out)
    return runs


def test_backtest_writes_report_parquet_and_run(two_runs: dict[str, Any]) -> None:
    code, text, err, out = two_runs["text"]
    assert code == 0, err
    assert "buy_and_hold" in text and "PBO" in text
    page = out.read_text()
    assert page.count("data:image/png;base64") >= 5
    assert "Deflated Sharpe" in page
    table = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(table) == (1 + 20) * 4
    assert set(table["source"]) == {"real", "bootstrap"}
    real = table[table.source == "real"].set_index("strategy")
    assert real.loc["buy_and_hold", "turnover"] == 0
    assert (table["max_drawdown"] <= 0).all()
    with Store(two_runs["db"], read_only=True) as store:
        runs = store.runs()
    assert runs["kind"].tolist() == ["backtest", "backtest"]
    assert (runs["status"] == "finished").all()


def test_backtest_json_and_reproducible(two_runs: dict[str, Any]) -> None:
    code, text, err, out = two_runs["json"]
    assert code == 0, err
    doc = json.loads(text)
    assert doc["overfitting"]["pbo"]["n_strategies"] == 4
    assert len(doc["overfitting"]["deflated_sharpe"]["per_strategy"]) == 4
    # the second run (same store, same seed) gives the same numbers, path by path and
    # strategy by strategy: the summary in the JSON is computed from these rows
    first = pd.read_parquet(two_runs["text"][3].with_suffix(".parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(out.with_suffix(".parquet")), first)
    assert doc["synthetic"]["summary"]
    # ... and the same PBO and deflated Sharpe, as the store's run records hold them
    with Store(two_runs["db"], read_only=True) as store:
        metrics = [json.loads(m) if isinstance(m, str) else m
                   for m in store.runs()["metrics"]]
    assert metrics[0]["overfitting"] == metrics[1]["overfitting"] == doc["overfitting"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--strategies", "hodl"], "unknown strategy 'hodl'"),
    (["--strategies", "inverse_vol:window=x"], "bad value for window"),
    (["--strategies", "fixed_mix:weights=0.5/0.5"], "2 weights for 3 assets"),
    (["--assets", "ZZZ"], "unknown asset(s) ZZZ"),
    (["--strategies", "inverse_vol:window=600"], "days of returns for a grid needing"),
])
def test_bad_input_exits_2_and_writes_nothing(cli: Cli, db: str,
                                              tmp_path: Path, extra: list[str],
                                              message: str) -> None:
    out = tmp_path / "r.html"
    code, _, err = cli("--db", db, "backtest", "--paths", "5", "--horizon", "63",
                       *extra, "--out", str(out))
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".parquet").exists()


def test_missing_prices_and_gaps(cli: Cli, tmp_path: Path) -> None:
    empty = str(tmp_path / "e.duckdb")
    code, _, err = cli("--db", empty, "backtest", "--out", str(tmp_path / "x.html"))
    assert code == 2 and "needs the prices table" in err
    gappy = str(tmp_path / "g.duckdb")
    frame = prices()
    frame = frame.drop(frame[(frame.asset == "BBB")].index[100:103])
    with Store(gappy) as store:
        store.load({"prices": frame}, source="test")
    code, _, err = cli("--db", gappy, "backtest", "--out", str(tmp_path / "x.html"))
    assert code == 2 and "days where some asset has no price" in err
