"""One vocabulary across the command line (README, "Command-line conventions"): --top-k,
--model (a folder), --algorithm (what to fit), --n-samples and comma-separated lists, the
old spellings kept as deprecated aliases; every option's help states its default; text
output without Python reprs; progress bars only on a terminal."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.store import Store
from serving.cli.common import fmt, shows_default, table
from serving.cli.main import build_parser, main

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py
DEPRECATED = "is deprecated and will be removed in the next release"


def _options(parser: argparse.ArgumentParser, path: str
             ) -> Iterator[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        else:
            yield path, parser, action


def test_every_option_has_help_that_states_its_default() -> None:
    checked = 0
    for path, parser, action in _options(build_parser(), "genlift"):
        if action.help is argparse.SUPPRESS:
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{path} {name} has no help text"
        if not shows_default(action):
            continue
        text = parser._get_formatter()._expand_help(action)
        assert "default" in text.lower(), f"{path} {name}: {text!r} hides its default"
        checked += 1
    assert checked > 50  # the walk reached every command


def test_the_default_is_added_where_the_help_lacks_it() -> None:
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    evaluate = next(a for a in sub.choices["evaluate"]._actions
                    if isinstance(a, argparse._SubParsersAction))
    text = evaluate.choices["recs"].format_help()
    assert "(default: msr)" in text and "(default 10)" in text and "--top-k K" in text
    assert not re.search(r"\n\s+-k\b", text)  # the old spelling is hidden from --help


@pytest.mark.parametrize(("old", "new", "dest", "value"), [
    (["evaluate", "recs", "-k", "5"], ["evaluate", "recs", "--top-k", "5"], "top_k", 5),
    (["augment", "sample", "--model", "g", "-n", "7", "--to-store"],
     ["augment", "sample", "--model", "g", "--n-samples", "7", "--to-store"], "n_samples", 7),
    (["augment", "report", "--model", "g", "--n", "9", "--out", "r.html"],
     ["augment", "report", "--model", "g", "--n-samples", "9", "--out", "r.html"],
     "n_samples", 9),
    (["train", "recs", "--model", "bpr", "--out", "m"],
     ["train", "recs", "--algorithm", "bpr", "--out", "m"], "model", "bpr"),
    (["evaluate", "recs", "--model", "ease"], ["evaluate", "recs", "--algorithm", "ease"],
     "model", "ease"),
    (["train", "credit", "--model", "scorecard", "--out", "m"],
     ["train", "credit", "--algorithm", "scorecard", "--out", "m"], "model", "scorecard"),
    (["lift", "credit", "--models", "lightgbm,logistic"],
     ["lift", "credit", "--algorithms", "lightgbm,logistic"], "models",
     ("lightgbm", "logistic")),
    (["price", "portfolio", "--model", "m", "--n", "150", "--out", "r"],
     ["price", "portfolio", "--model", "m", "--n-samples", "150", "--out", "r"], "n_samples",
     150),
    (["reserve", "--line", "comauto", "--sims", "300"],
     ["reserve", "--line", "comauto", "--n-sims", "300"], "sims", 300),
    (["reserve", "--line", "comauto", "--boot", "40"],
     ["reserve", "--line", "comauto", "--n-boot", "40"], "boot", 40),
    (["backtest", "--strategies", "buy_and_hold", "equal_weight"],
     ["backtest", "--strategies", "buy_and_hold,equal_weight"], "strategies",
     ("buy_and_hold", "equal_weight")),
    (["backtest", "--assets", "SPY", "TLT"], ["backtest", "--assets", "SPY,TLT"], "assets",
     ("SPY", "TLT")),
    (["backtest", "inventory", "--targets", "0.8", "0.9"],
     ["backtest", "inventory", "--targets", "0.8,0.9"], "targets", (0.8, 0.9)),
    (["data", "fetch", "sp500-20", "clrd"], ["data", "fetch", "sp500-20,clrd"], "names",
     ("sp500-20", "clrd")),
])
def test_old_spellings_still_work_with_a_warning(
        capsys: pytest.CaptureFixture[str], old: list[str], new: list[str], dest: str,
        value: Any) -> None:
    parser = build_parser()
    got_new = vars(parser.parse_args(new))
    assert capsys.readouterr().err == ""  # the new spelling: no warning
    got_old = vars(parser.parse_args(old))
    err = capsys.readouterr().err
    assert got_new[dest] == got_old[dest] == value
    assert err.count("\n") == 1 and err.startswith("genlift: warning: ") and DEPRECATED in err


def test_lists_accept_blanks_and_refuse_unknown_names(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["data", "fetch", "sp500-20, clrd"])
    assert args.names == ("sp500-20", "clrd")
    assert build_parser().parse_args(["data", "fetch"]).names == ("all",)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["data", "fetch", "sp500-20,nope"])
    assert exc.value.code == 2 and "'nope' not among" in capsys.readouterr().err


def test_the_positional_generator_folder_is_deprecated(cli: Cli, tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    code, _, err = cli("--db", db, "augment", "sample", str(tmp_path / "nowhere"),
                       "--n-samples", "3", "--to-store")
    assert code == 2 and DEPRECATED in err and "use --model" in err
    assert "is not a `genlift augment fit` folder" in err
    code, _, err = cli("--db", db, "augment", "sample", "--n-samples", "3", "--to-store")
    assert code == 2 and "pass --model DIR" in err
    code, _, err = cli("--db", db, "augment", "sample", "--model", str(tmp_path), "--to-store")
    assert code == 2 and "--n-samples" in err


# -- output as people read it ----------------------------------------------------------
def test_fmt_never_prints_python_reprs() -> None:
    assert fmt(np.float64(0.123456)) == "0.1235" and fmt(np.int64(1234567)) == "1,234,567"
    assert fmt(1234.5) == "1,234" and fmt(12345.6) == "12,346" and fmt(1.2e3) == "1,200"
    assert fmt(None) == "-" and fmt(float("nan")) == "-" and fmt(True) == "yes"
    assert fmt([np.float64(1.5), 2]) == "1.5, 2" and fmt([]) == "-" and fmt({}) == "-"
    assert fmt({"unknown": np.int64(3), "ok": 2}) == "unknown 3, ok 2"
    text = table([("a", np.float64(12345.678), np.int64(7))], ["name", "x", "n"])
    assert "12,346" in text and "np." not in text
    assert text.splitlines()[2].endswith("12,346  7")  # numpy numbers right-aligned


def test_report_cells_and_id_order_as_people_read_them() -> None:
    from serving.jobs.ids import sort_ids
    from serving.reports.html import fmt as cell

    assert cell(12345.6) == "12,346" and cell(np.float64(1234.5)) == "1234"
    assert cell(np.int64(20000)) == "20,000" and cell(0.000123) == "0.000123"
    frame = pd.DataFrame({"store_id": ["10", "2", "2", "1"], "item_id": ["b", "c", "a", "a"]})
    assert sort_ids(frame, ["store_id", "item_id"]).values.tolist() == [
        ["1", "a"], ["2", "a"], ["2", "c"], ["10", "b"]]
    text_ids = pd.DataFrame({"store_id": ["s10", "s2"]})  # not all numbers: text order
    assert sort_ids(text_ids, ["store_id"])["store_id"].tolist() == ["s10", "s2"]


REPR = re.compile(r"\[|\]|np\.|\bNone\b|\d\.?\d*e[+-]\d")


def no_reprs(text: str) -> None:
    """No list brackets, numpy reprs, None or 1.2e+03 in a command's text output."""
    bad = [line for line in text.splitlines() if REPR.search(line)]
    assert not bad, bad


@pytest.fixture
def numeric_ids_db(tmp_path: Path) -> str:
    """Interactions whose user and item ids are whole numbers written as text."""
    rng = np.random.default_rng(0)
    rows = [(str(u), str((u % 3) * 10 + i), 1_600_000_000 + 8 * u + j)
            for u in range(40) for j, i in enumerate(rng.choice(10, 8, replace=False))]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(qty=1.0,
                                                                            value=1.0)
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"users": pd.DataFrame({"user_id": [str(u) for u in range(40)]}),
                    "items": pd.DataFrame({"item_id": [str(i) for i in range(30)]}),
                    "interactions": inter}, source="test")
    return path


def test_main_commands_print_tables_and_sentences(cli: Cli, numeric_ids_db: str,
                                                  tmp_path: Path) -> None:
    db, model = numeric_ids_db, str(tmp_path / "m")
    runs = [("data", "show"), ("data", "show", "interactions", "--limit", "3"),
            ("features", "matrix"),
            ("train", "recs", "--model", "popularity", "--out", model),
            ("score", "recommend", "--model", model, "--top-k", "3", "--out",
             str(tmp_path / "o")),
            ("evaluate", "recs", "--model", "popularity", "--protocol", "temporal",
             "--top-k", "5")]
    for args in runs:
        code, text, err = cli("--db", db, *args)
        assert code == 0, (args, err)
        assert text.strip(), args
        no_reprs(text)
    assert "params: -" in cli("--db", db, "train", "recs", "--model", "popularity",
                              "--out", model)[1]  # no "{}"


# -- progress on a terminal only ---------------------------------------------------------
@pytest.mark.parametrize(("tty", "flags", "shown"), [
    (True, [], True), (False, [], False), (True, ["--no-progress"], False)])
def test_augment_fit_shows_progress_on_a_terminal(
        credit_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tty: bool, flags: list[str], shown: bool) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    code = main([*flags, "--db", credit_db, "augment", "fit", "tabular", "--table",
                 "applicants", "--generator", "copula", "--out", str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("augment fit tabular/copula" in err) == shown
    if shown:
        assert "2/2" in err  # the bar reached its end
