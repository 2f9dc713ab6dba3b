"""`genlift reserve` and `genlift reserve --backtest` on a small line the test builds."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py
FAST = ["--n-sims", "200", "--n-boot", "20"]


def claims(n_companies: int = 6, start: int = 1998) -> pd.DataFrame:
    """Full 10 x 10 paid squares of one line ``x``, a known development pattern."""
    rng = np.random.default_rng(0)
    factors = np.array([1.8, 1.3, 1.15, 1.08, 1.04, 1.02, 1.01, 1.005, 1.002])
    i, j = np.indices((10, 10))
    rows = []
    for c in range(n_companies):
        first = rng.uniform(1000, 3000, 10) * (c + 1)
        logs = np.log(factors)[None, :] + rng.normal(0, 0.01, (10, 9))
        sq = first[:, None] * np.exp(np.concatenate([np.zeros((10, 1)),
                                                     np.cumsum(logs, axis=1)], axis=1))
        rows.append(pd.DataFrame({
            "company": f"{c + 1}", "line": "x", "accident_year": start + i.ravel(),
            "development_lag": j.ravel() + 1, "paid": sq.ravel(), "incurred": sq.ravel(),
            "premium": 5000.0 * (c + 1), "company_name": f"Company {c + 1}"}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"claims_triangles": claims()}, source="test")
    return path


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", RuntimeWarning)


def test_reserve_json_report_and_chainladder(cli: Cli, db: str, tmp_path: Path) -> None:
    import chainladder as cl

    from engine.insurance.reserving import paid_triangle, to_cl_triangle

    out = tmp_path / "r" / "res.html"
    code, stdout, err = cli("--db", db, "--json", "reserve", "--company", "2", "--line", "x",
                            *FAST, "--out", str(out))
    assert code == 0, err
    result = json.loads(stdout)
    assert result["valuation_year"] == 2007 and result["accident_years"] == [1998, 2007]
    by = {m["method"]: m for m in result["methods"]}
    assert set(by) == {"chainladder", "mack", "bootstrap", "synthetic"}
    tri = paid_triangle(claims(), "2", "x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = float(cl.Chainladder().fit(to_cl_triangle(tri)).ibnr_.sum())
    assert by["chainladder"]["mean_reserve"] == pytest.approx(want, rel=1e-12)
    assert 0 <= by["synthetic"]["actual_percentile"] <= 100
    assert result["actual_ultimate"] == pytest.approx(tri.actual_ultimate)
    html = out.read_text()
    assert "Development fan chart" in html and html.count("<img") == 3
    assert json.loads(out.with_suffix(".json").read_text())["company"] == "2"
    assert not list(out.parent.glob(".*.tmp"))


def test_reserve_one_method_text(cli: Cli, db: str, tmp_path: Path) -> None:
    code, stdout, err = cli("--db", db, "reserve", "--company", "1", "--line", "x",
                            "--method", "mack", "--out", str(tmp_path / "m.html"))
    assert code == 0, err
    assert "mack" in stdout and "bootstrap" not in stdout


def test_reserve_backtest_json(cli: Cli, db: str, tmp_path: Path) -> None:
    out = tmp_path / "bt.html"
    code, stdout, err = cli("--db", db, "--json", "reserve", "--backtest", "--line", "x",
                            "--method", "mack", "--top", "4", *FAST, "--out", str(out))
    assert code == 0, err
    result = json.loads(stdout)
    assert result["valuation_year"] == 2007
    assert result["companies"]["x"] == ["6", "5", "4", "3"]  # largest premium first
    test = result["tests"]["x"]["mack"]
    assert test["n"] == 4 and sum(test["histogram"]) == 4 and 0 <= test["ks_p"] <= 1
    table = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(table) == 4 and table["mack_percentile"].between(0, 100).all()


@pytest.mark.parametrize(("args", "message"), [
    (["--company", "99", "--line", "x"], "has no company '99' in line 'x'"),
    (["--company", "1", "--line", "nope"], "has no line 'nope'"),
    (["--line", "x"], "needs --company"),
    (["--backtest", "--line", "nope"], "has no line 'nope'"),
    (["--backtest", "--line", "x", "--method", "chainladder"], "a point estimate"),
])
def test_reserve_bad_input(cli: Cli, db: str, tmp_path: Path, args: list[str],
                           message: str) -> None:
    out = tmp_path / "bad.html"
    code, stdout, err = cli("--db", db, "reserve", *args, "--out", str(out))
    assert code == 2 and message in err and "Fix:" in err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_reserve_missing_diagonal_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    frame = claims()
    frame = frame[~((frame.company == "1") & (frame.accident_year + frame.development_lag
                                               == 1998 + 9))]  # the 2006 diagonal
    path = str(tmp_path / "h.duckdb")
    with Store(path) as store:
        store.load({"claims_triangles": frame}, source="test")
    out = tmp_path / "h.html"
    code, _, err = cli("--db", path, "reserve", "--company", "1", "--line", "x",
                       "--out", str(out))
    assert code == 2 and "missing paid cells" in err and "calendar years 2006" in err
    assert not out.exists()


def test_cli_method_names_match_the_engine() -> None:
    from engine.insurance.reserving import METHODS as ENGINE
    from serving.cli.reserve import METHODS
    assert METHODS == ENGINE
