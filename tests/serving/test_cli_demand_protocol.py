"""`genlift evaluate demand --protocol msf-oj` on a tiny store shaped like Dominick's OJ."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from features.store import Store
from tests.engine.test_demand_protocols import oj_like

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


def test_protocol_table_json_and_run(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(str(db)) as store:
        store.load({"sales": oj_like()}, source="test")
    code, text, err = cli("--db", str(db), "--json", "evaluate", "demand", "--protocol",
                          "msf-oj", "--rounds", "1")
    assert code == 0, err
    doc = json.loads(text)
    assert doc["protocol"] == "msf-oj" and doc["n"] == 7 and len(doc["rounds"]) == 1
    assert doc["published"]["LightGBM (single-round)"] == 35.58 and doc["mape"] > 0
    code, text, err = cli("--db", str(db), "evaluate", "demand", "--protocol", "msf-oj",
                          "--rounds", "1")
    assert code == 0, err
    assert "first 1 of 10 rounds: partial" in text and "naive (published)" in text


def test_bad_rounds_and_wrong_data(cli: Cli, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("--db", str(tmp_path / "x.duckdb"), "evaluate", "demand", "--protocol", "msf-oj",
            "--rounds", "0")
    assert exc.value.code == 2 and "argument --rounds: invalid choice: 0" in (
        capsys.readouterr().err)
    db = tmp_path / "short.duckdb"
    sales = oj_like()
    with Store(str(db)) as store:
        store.load({"sales": sales.iloc[: len(sales) // 8]}, source="test")
    code, _, err = cli("--db", str(db), "evaluate", "demand", "--protocol", "msf-oj")
    assert code != 0 and "weeks 40..156" in err and "data fetch dominicks-oj" in err
