"""`genlift lift credit` with cross-fitting and the champion as the real-only arm, on a
small store the test builds; the same run on a local Dask cluster gives the same numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py

CROSS = ["--folds", "2", "--repeats", "1", "--n-boot", "100", "--algorithms", "champion",
         "--generators", "copula", "--param", "modes=both", "--param", "epochs=2",
         "--baselines", "class_weights", "--ratios", "1", "--param", "champion_repeats=1"]


def _numbers(result: dict) -> list[tuple]:
    return [(r["arm"], r["segment"], r["metric"], r["value"], r["ci_low"], r["ci_high"])
            for r in result["rows"]]


def test_cross_fitting_tests_every_applicant_once(cli: Cli, credit_db: str,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "lift"
    code, text, err = cli("--db", credit_db, "lift", "credit", *CROSS, "--out", str(out))
    assert code == 0, err
    assert "2-fold cross-fitting x 1 repeats" in text and "PROVISIONAL" in text
    result = json.loads((out / "credit.json").read_text())
    assert result["split"]["test"] == 300 and result["split"]["folds"] == 2
    assert result["verdicts"]["n_test_units"] == 300
    kinds = [p["kind"] for p in result["params"]["champion"]["per_fold"]]
    assert len(kinds) == 2 and set(kinds) <= {"lightgbm", "scorecard"}
    page = (out / "credit.html").read_text()
    assert "cross-fitting" in page and "every applicant tested once per repeat" in page
    note = "The real-only arm is the model `genlift train credit` makes"
    assert note in text and note in page


def test_repeats_and_seeds_must_agree(cli: Cli, credit_db: str, tmp_path: Path) -> None:
    out = tmp_path / "lift"
    code, _, err = cli("--db", credit_db, "lift", "credit", "--seeds", "3", "--repeats", "2",
                       "--out", str(out))
    assert code == 2 and "--seeds 3 and --repeats 2 disagree" in err and not out.exists()
    with pytest.raises(SystemExit) as exc:  # argparse refuses it before anything runs
        cli("--db", credit_db, "lift", "credit", "--folds", "0", "--out", str(out))
    assert exc.value.code == 2 and not out.exists()
    code, _, err = cli("--db", credit_db, "lift", "paths", "--folds", "5", "--out", str(out))
    assert code == 2 and "cross-fitting" in err and not out.exists()


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_same_numbers(cli: Cli, credit_db: str,
                                                     tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    one, two = tmp_path / "one", tmp_path / "two"
    code, _, err = cli("--db", credit_db, "lift", "credit", *CROSS, "--out", str(one))
    assert code == 0, err
    code, _, err = cli("--db", credit_db, "lift", "credit", *CROSS, "--cluster", "local:2",
                       "--out", str(two))
    assert code == 0, err
    a = json.loads((one / "credit.json").read_text())
    b = json.loads((two / "credit.json").read_text())
    assert _numbers(a) == _numbers(b)
    assert a["params"] == b["params"]
