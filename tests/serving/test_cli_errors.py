"""Errors and output a script can rely on: a refused command writes nothing and its
corrected retry works; --json errors are one JSON object; a closed pipe ends quietly; a
busy port and a model folder of the wrong kind are named as such."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import Store
from serving.cli.main import main
from serving.jobs.augment import read_fit
from serving.jobs.model_folders import check_model_folder, held_kind
from serving.jobs.scoring import score_recommend

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory,
          credit_applicants: Callable[..., pd.DataFrame]) -> dict[str, Path]:
    """A store (30 users x 5 of 30 items, 120 applicants) and one folder of each cheap
    kind: a recommender, a fitted generator, a credit model, a `serve` models folder."""
    root = tmp_path_factory.mktemp("errors")
    rng = np.random.default_rng(0)
    rows = [(f"u{u:02d}", f"i{(u % 3) * 10 + i:02d}", 1_600_000_000 + 10 * u + k)
            for u in range(30) for k, i in enumerate(rng.choice(10, 5, replace=False))]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(qty=1.0, value=1.0)
    db = root / "s.duckdb"
    with Store(str(db)) as store:
        store.load({"users": pd.DataFrame({"user_id": [f"u{u:02d}" for u in range(32)]}),
                    "items": pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(30)]}),
                    "interactions": inter, "applicants": credit_applicants(120)},
                   source="test")
    w = {"db": db, "recs": root / "recs", "generator": root / "gen",
         "credit": root / "credit", "models": root / "models"}
    for argv in (["train", "recs", "--model", "popularity", "--out", str(w["recs"])],
                 ["train", "recs", "--model", "popularity", "--out",
                  str(w["models"] / "recs")],
                 ["augment", "fit", "tabular", "--table", "applicants", "--generator",
                  "copula", "--out", str(w["generator"])],
                 ["train", "credit", "--model", "scorecard", "--cv-repeats", "1",
                  "--cv-folds", "2", "--out", str(w["credit"])]):
        assert main(["--db", str(db), "--no-progress", *argv]) == 0, argv
    return w


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that argparse refuses; its stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--no-progress", *argv])
    assert exc.value.code == 2
    return capsys.readouterr().err


# -- a failed command writes nothing, and the corrected retry works ------------------------
@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--block-users", "0", "argument --block-users: must be a whole number >= 1, got '0'"),
    ("--block-users", "-5", "argument --block-users: must be a whole number >= 1, got '-5'"),
    ("--top-k", "100000", "--top-k 100000 is more than the 25 unseen items of user u00 (30 "
                          "items, 5 already seen). Fix: pass --top-k 25 or less"),
])
def test_refused_scoring_writes_nothing_and_the_retry_works(
        world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        flag: str, value: str, message: str) -> None:
    out = tmp_path / "O"
    argv = ["--db", str(world["db"]), "score", "recommend", "--model", str(world["recs"]),
            "--out", str(out)]
    capsys.readouterr()
    try:
        code = main(["--no-progress", *argv, flag, value])
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert "exclude_seen" not in err and "parameter of" not in err  # the command's words
    assert not out.exists()  # no _manifest.json to block the retry
    assert main(["--no-progress", *argv, "--block-users", "7"]) == 0
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 5 and (out / "_SUCCESS").exists()  # 32 users in blocks of 7
    assert pd.concat(map(pd.read_parquet, parts))["user_id"].nunique() == 32


def test_scoring_job_checks_before_the_output_folder(world: dict[str, Path],
                                                     tmp_path: Path) -> None:
    with Store(str(world["db"]), read_only=True) as store:
        for kwargs in ({"block_users": -5}, {"block_users": 0}, {"top_k": 26}):
            with pytest.raises(ValueError):
                score_recommend(store, world["recs"], tmp_path / "o", **kwargs)
            assert not (tmp_path / "o").exists()


def test_a_refused_command_leaves_an_existing_output_as_it_was(
        world: dict[str, Path], tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "O"
    assert cli("--db", str(world["db"]), "score", "recommend", "--model",
               str(world["recs"]), "--out", str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = cli("--db", str(world["db"]), "score", "recommend", "--model",
                       str(world["recs"]), "--out", str(out), "--top-k", "3")
    assert code == 2 and "holds the output of another scoring run" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# -- --json errors ---------------------------------------------------------------------
def test_json_errors_are_one_object_on_stderr(world: dict[str, Path], tmp_path: Path,
                                              cli: Cli,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # a usage error (argparse), in JSON and in text
    err = usage_error(capsys, "--json", "score", "recommend", "--model", "m", "--out", "o",
                      "--block-users", "0")
    assert json.loads(err) == {
        "error": "genlift score recommend: argument --block-users: must be a whole number "
                 ">= 1, got '0'",
        "fix": "see `genlift score recommend --help`", "exit": 2}
    err = usage_error(capsys, "score", "recommend", "--model", "m", "--out", "o",
                      "--block-users", "0")
    assert err.startswith("usage: genlift score recommend") and '"error"' not in err
    # a DataValidationError: message and fix apart
    code, out, err = cli("--db", str(world["db"]), "--json", "score", "recommend",
                         "--model", str(world["recs"]), "--out", str(tmp_path / "o"),
                         "--top-k", "100000")
    assert code == 2 and out == ""
    assert json.loads(err) == {
        "error": "--top-k 100000 is more than the 25 unseen items of user u00 (30 items, "
                 "5 already seen)", "fix": "pass --top-k 25 or less", "exit": 2}
    # without --json: the one text line
    code, _, err = cli("--db", str(world["db"]), "score", "recommend", "--model",
                       str(world["recs"]), "--out", str(tmp_path / "o"), "--top-k", "26")
    assert code == 2 and err.startswith("genlift: error: --top-k 26 is more") \
        and err.count("\n") == 1


def test_json_error_without_a_fix(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("--db", str(tmp_path / "s.duckdb"), "--json", "data", "show")
    assert code == 2
    payload = json.loads(err)  # one object: nothing else on stderr
    assert payload["exit"] == 2 and payload["fix"] is None
    assert payload["error"].startswith(f"store {tmp_path / 's.duckdb'} does not exist")


# -- a closed pipe ---------------------------------------------------------------------
def test_a_closed_pipe_ends_quietly(world: dict[str, Path]) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # `genlift data show interactions | head -0`: the reader is gone before the first write
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "--db", str(world["db"]),
                             "data", "show", "interactions", "--limit", "150"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141), err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception" not in err


# -- a busy port -----------------------------------------------------------------------
@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("as_json", [False, True])
def test_serve_on_a_busy_port(world: dict[str, Path], busy_port: int, cli: Cli,
                              as_json: bool) -> None:
    code, out, err = cli(*(["--json"] if as_json else []), "serve", "--models",
                         str(world["models"]), "--port", str(busy_port))
    assert code == 2 and out == ""  # before the models load and anything is printed
    line = json.loads(err)["error"] + " " + json.loads(err)["fix"] if as_json else err
    assert f"port {busy_port} on 127.0.0.1 is already in use" in line and "--port" in line
    assert as_json or err.count("\n") == 1


def test_serve_port_range_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    for port in ("0", "65536", "http"):
        err = usage_error(capsys, "serve", "--models", str(tmp_path), "--port", port)
        assert f"argument --port: must be a whole number from 1 to 65,535, got '{port}'" in err


# -- a model folder of the wrong kind ------------------------------------------------------
@pytest.mark.parametrize(("held", "argv", "message"), [
    ("generator", ["score", "recommend", "--out", "{o}"],
     "{m} holds a fitted generator; score recommend needs a recommender from `genlift "
     "train recs`"),
    ("credit", ["score", "similar-items", "--out", "{o}"],
     "{m} holds a credit model; score similar-items needs a recommender from `genlift "
     "train recs`"),
    ("recs", ["score", "credit", "--in", "{o}.csv", "--out", "{o}"],
     "{m} holds a recommender; score credit needs a credit model from `genlift train "
     "credit`"),
    ("recs", ["forecast", "--out", "{o}"],
     "{m} holds a recommender; forecast needs a demand model from `genlift train demand`"),
    ("credit", ["plan", "inventory", "--out", "{o}"],
     "{m} holds a credit model; plan inventory needs a demand model from `genlift train "
     "demand`"),
    ("recs", ["price", "portfolio", "--out", "{o}"],
     "{m} holds a recommender; price portfolio needs pricing models from `genlift train "
     "pricing`"),
])
def test_a_model_folder_of_the_wrong_kind(world: dict[str, Path], tmp_path: Path, cli: Cli,
                                          held: str, argv: list[str], message: str) -> None:
    model, out = world[held], tmp_path / "o"
    code, _, err = cli("--db", str(world["db"]), *[a.format(o=out) for a in argv],
                       "--model", str(model))
    assert code == 2 and message.format(m=model) in err, err
    assert "corrupted" not in err and "Fix: pass the --out folder of `genlift" in err
    assert not out.exists()


def test_folders_near_the_right_one(world: dict[str, Path], tmp_path: Path) -> None:
    assert held_kind(world["recs"]) == "recs" and held_kind(world["credit"]) == "credit"
    assert held_kind(world["generator"]) == "generator" and held_kind(tmp_path) is None
    with pytest.raises(ValueError, match=r"is the saved model inside the folder .*recs, "
                                         r"which holds a recommender\. Fix: pass .*recs$"):
        check_model_folder(world["recs"] / "model", "recs", "score recommend")
    with pytest.raises(ValueError, match=r"is a models folder of `genlift serve` \(recs\)\. "
                                         r"Fix: pass one of its sub-folders, e\.g\. .*recs$"):
        check_model_folder(world["models"], "recs", "score recommend")
    with pytest.raises(ValueError, match=r"is not a `genlift train demand` folder \(no "
                                         r"train\.json\)"):
        check_model_folder(tmp_path, "demand", "forecast")
    with pytest.raises(ValueError, match=r"credit holds a credit model; augment report needs "
                                         r"a fitted generator from `genlift augment fit`"):
        read_fit(world["credit"], "augment report")


def test_serve_names_a_wrong_kind_under_its_models_folder(world: dict[str, Path],
                                                         tmp_path: Path, cli: Cli) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "demand").symlink_to(world["credit"], target_is_directory=True)
    with socket.socket() as sock:  # a port free now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = cli("serve", "--models", str(models), "--port", str(port))
    assert code == 2 and "holds a credit model; the models folder's demand/ needs a demand " \
        "model from `genlift train demand`" in err, err
