"""`genlift lift` on a small store the test builds: reports, JSON, the runs table, and
clear errors (with nothing written) for bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from features.store import Store
from serving.reports.lift import summary_markdown

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


# One split and the plain LightGBM: cross-fitting and the champion have their own tests
# (tests/serving/test_cli_lift_crossfit.py).
FAST = ["--seeds", "2", "--n-boot", "100", "--generators", "copula", "--baselines",
        "class_weights", "--ratios", "0.5,1", "--folds", "1", "--algorithms", "lightgbm"]


def test_lift_credit_writes_reports_and_records_the_run(
        cli: Cli, credit_db: str, tmp_path: Path) -> None:
    out = tmp_path / "lift"
    code, text, err = cli("--db", credit_db, "lift", "credit", *FAST, "--out", str(out))
    assert code == 0, err
    assert "lift credit (german-credit, 2 seeds" in text and "PROVISIONAL" in text
    assert "copula-minority" in text and "class_weights" in text
    result = json.loads((out / "credit.json").read_text())
    page = (out / "credit.html").read_text()
    index = (out / "index.html").read_text()
    assert page.count("data:image/png;base64") >= 4  # forest plots, ratio curves, quality
    assert 'href="credit.html"' in index and "copula-both" in index
    # Numbers in the report come from the run.
    row = next(r for r in result["rows"] if r["arm"] == "copula-both" and r["metric"] == "auc"
               and r["segment"] == "all")
    assert f"{row['delta']:.4g}" in page
    assert result["config"]["seeds"] == [0, 1] and result["fingerprints"]["applicants"]
    with Store(credit_db, read_only=True) as store:
        runs = store.runs()
    lift = runs[runs.kind == "lift"].iloc[-1]
    assert lift["status"] == "finished" and lift["run_id"] == result["run_id"]
    assert json.loads(lift["config"])["lift"]["generators"] == ["copula"]
    assert json.loads(lift["data_fingerprint"])["applicants"] == \
        result["fingerprints"]["applicants"]
    assert "| credit | lightgbm | copula-both |" in summary_markdown([result])
    assert (out / "summary.md").read_text() == summary_markdown([result]) + "\n"


def test_lift_json_is_strict(cli: Cli, credit_db: str,
                             tmp_path: Path) -> None:
    code, text, err = cli("--db", credit_db, "--json", "lift", "credit", *FAST, "--out",
                          str(tmp_path / "l"))
    assert code == 0, err
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["task"] == "credit" and doc["html"].endswith("credit.html")


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "0"], "argument --seeds: must be a whole number >= 1"),
    (["--ratios", "-1"], "argument --ratios: must be a number in (0, 1000]"),
])
def test_bad_numbers_are_refused_when_the_line_is_read(
        cli: Cli, credit_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        extra: list[str], message: str) -> None:
    out = tmp_path / "l"
    with pytest.raises(SystemExit) as exc:
        cli("--db", credit_db, "lift", "credit", *extra, "--out", str(out))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--param", "epochz=3"], "unknown parameter(s) epochz"),
    (["--generators", "flow"], "unknown generator 'flow'"),
])
def test_bad_settings_exit_2_and_write_nothing(cli: Cli, credit_db: str,
                                               tmp_path: Path, extra: list[str],
                                               message: str) -> None:
    out = tmp_path / "l"
    code, _, err = cli("--db", credit_db, "lift", "credit", "--seeds", "2", *extra,
                       "--out", str(out))
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_missing_table_names_the_fetch(cli: Cli, capsys: pytest.CaptureFixture[str], credit_db: str,
                                       tmp_path: Path) -> None:
    out = tmp_path / "l"
    code, _, err = cli("--db", credit_db, "lift", "recs", "--out", str(out))
    assert code == 2 and "needs table(s) interactions, users" in err
    assert "data fetch movielens-100k" in err and not out.exists()
    with Store(credit_db, read_only=True) as store:
        assert "lift" not in set(store.runs()["kind"])
    code, _, err = cli("--db", credit_db, "lift", "all", "--param", "nope=1")
    assert code == 2 and "no task takes parameter(s) nope" in err
    with pytest.raises(SystemExit) as exc:  # argparse's own usage error
        cli("--db", credit_db, "lift", "credit", "--param", "broken")
    assert exc.value.code == 2 and "NAME=VALUE" in capsys.readouterr().err


def test_unwritable_out_fails_before_any_run(cli: Cli, credit_db: str,
                                            tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("--db", credit_db, "lift", "credit", *FAST, "--out", str(blocker))
    assert code == 2 and "is a file, not a folder" in err
    with Store(credit_db, read_only=True) as store:
        assert "lift" not in set(store.runs()["kind"])


def test_index_skips_stale_or_foreign_json(cli: Cli, credit_db: str,
                                          tmp_path: Path) -> None:
    out = tmp_path / "l"
    out.mkdir()
    (out / "paths.json").write_text("{not json")
    (out / "recs.json").write_text('{"task": "credit"}')
    code, _, err = cli("--db", credit_db, "lift", "credit", *FAST, "--out", str(out))
    assert code == 0, err
    index = (out / "index.html").read_text()
    assert 'href="credit.html"' in index and 'href="paths.html"' not in index
    summary = (out / "summary.md").read_text()
    assert "| credit | lift-" in summary and "provisional" in summary


def test_lift_all_checks_every_task_before_running(cli: Cli,
                                                   credit_db: str, tmp_path: Path) -> None:
    out = tmp_path / "l"
    code, _, err = cli("--db", credit_db, "lift", "all", "--generators", "copula",
                       "--out", str(out))
    assert code == 2 and "lift recs: unknown generator 'copula'" in err
    with Store(credit_db, read_only=True) as store:
        assert "lift" not in set(store.runs()["kind"])
    assert not out.exists()


@pytest.mark.parametrize(("value", "message"), [
    ("0", "0 is not in (0, 1]"), ("0.1,1.5", "1.5 is not in (0, 1]"),
    ("-0.2", "-0.2 is not in (0, 1]"), ("0.1,abc", "'abc' is not a number"),
    ("nan", "nan is not in (0, 1]"), ("0.5,0.5", "0.5 is given twice"),
])
def test_bad_fractions_exit_2_and_write_nothing(cli: Cli, credit_db: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                value: str, message: str) -> None:
    out = tmp_path / "l"
    with pytest.raises(SystemExit) as exc:
        cli("--db", credit_db, "lift", "credit", "--fractions", value, "--out", str(out))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "--fractions" in err
    assert "Traceback" not in err and not out.exists()
    with Store(credit_db, read_only=True) as store:
        assert "lift" not in set(store.runs()["kind"])


def test_bad_margins_exit_2(cli: Cli, credit_db: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "l"
    with pytest.raises(SystemExit) as exc:
        cli("--db", credit_db, "lift", "credit", "--margin", "auc=-1", "--out", str(out))
    assert exc.value.code == 2 and "METRIC=VALUE" in capsys.readouterr().err
    code, _, err = cli("--db", credit_db, "lift", "credit", "--margin", "ndcg=0.01",
                       "--out", str(out))
    assert code == 2 and "margin for unknown metric(s) ndcg" in err and not out.exists()
    code, _, err = cli("--db", credit_db, "lift", "paths", "--fractions", "0.5",
                       "--out", str(out))
    assert code == 2 and "not available for this task" in err and not out.exists()
    code, _, err = cli("--db", credit_db, "lift", "all", "--margin", "nope=0.1",
                       "--out", str(out))
    assert code == 2 and "no task has metric(s) nope" in err and not out.exists()


def test_lift_credit_fractions_draw_curves_and_multipliers(cli: Cli, credit_db: str,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "lift"
    code, text, err = cli("--db", credit_db, "lift", "credit", "--seeds", "2", "--n-boot",
                          "100", "--folds", "1", "--algorithms", "lightgbm",
                          "--generators", "copula", "--baselines", "oversample",
                          "--ratios", "1", "--param", "modes=both", "--param", "epochs=2",
                          "--fractions", "0.5,1", "--margin", "auc=0.01", "--out", str(out))
    assert code == 0, err
    result = json.loads((out / "credit.json").read_text())
    assert result["config"]["fractions"] == [0.5, 1.0]
    assert result["config"]["margins"]["auc"] == 0.01
    eff = result["efficiency"]
    assert {(m["arm"], m["fraction"]) for m in eff["multipliers"]} == {
        ("oversample", 0.5), ("oversample", 1.0), ("copula-both", 0.5), ("copula-both", 1.0)}
    assert eff["train_rows"]["0.5"] * 2 == pytest.approx(eff["train_rows"]["1.0"], abs=2)
    assert "is worth" in text and "comparisons (arm x segment)" in text
    page = (out / "credit.html").read_text()
    assert "Data efficiency: auc vs real training data" in page
    assert "Effective real-data multiplier" in page and "MDE (80%)" in page
    assert page.count("data:image/png;base64") >= 6  # + the curve and the multiplier forest
    row = next(r for r in result["rows"] if r["arm"] == "oversample" and r["metric"] == "auc"
               and r["segment"] == "all")
    assert row["margin"] == 0.01 and row["mde"] > 0
    assert row["verdict"] in ("helps", "equivalent", "inconclusive", "hurts")
    assert "no effect" not in page and "no effect" not in text


def test_demo_lift_summary_counts_inconclusive(capsys: pytest.CaptureFixture[str]) -> None:
    from serving.cli.data import print_lift_summary
    rows = [{"task": "credit", "arm": a, "ratio": 1.0, "segment": "all", "metric": "auc",
             "real": 0.75, "delta": 0.001, "ci_low": -0.03, "ci_high": 0.03, "verdict": v,
             "holm": False} for a, v in (("vae", "inconclusive"), ("copula", "equivalent"),
                                         ("smote", "inconclusive"))]
    print_lift_summary({"tasks": {"credit": {"summary": rows, "design": "5-fold "
                                             "cross-fitting x 2 repeats"}},
                        "index": "x/index.html"})
    out = capsys.readouterr().out
    assert "2 of 3 inconclusive" in out and "1 equivalent" in out and "no effect" not in out
    assert "credit: 5-fold cross-fitting x 2 repeats" in out and "5 seeds" not in out
