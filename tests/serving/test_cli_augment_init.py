"""`genlift augment fit --init DIR`: fine-tune a generator fitted on another store's table
with the same columns; refusals exit 2 and write nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augment.registry import load_generator
from augment.warmstart import weights_sha256
from features.artifacts import sha256_file
from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


def applicants(n: int, seed: int, prefix: str, **extra: object) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"applicant_id": [f"{prefix}{i}" for i in range(n)],
                         "age": rng.integers(20, 70, n),
                         "amount": rng.gamma(2.0, 1000.0, n).round(2),
                         "housing": rng.choice(["own", "rent"], n),
                         "default": rng.integers(0, 2, n), **extra})


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A source store, a smaller target store with the same columns, and one with an
    extra column."""
    root = tmp_path_factory.mktemp("init")
    tables = {"source": applicants(300, 0, "s"), "target": applicants(80, 1, "t"),
              "other": applicants(80, 2, "o", income=1.0)}
    paths = {}
    for name, frame in tables.items():
        paths[name] = str(root / f"{name}.duckdb")
        with Store(paths[name]) as store:
            store.load({"applicants": frame}, source="test")
    return paths


@pytest.fixture(scope="module")
def source_dir(stores: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving.cli.main import main
    out = tmp_path_factory.mktemp("src") / "vae"
    assert main(["--no-progress", "--db", stores["source"], "augment", "fit", "tabular",
                 "--generator", "vae", "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_fine_tune_from_another_store(cli: Cli, stores: dict[str, str], source_dir: Path,
                                      tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    code, text, err = cli("--db", stores["target"], "--json", "augment", "fit", "tabular",
                          "--generator", "vae", "--epochs", "1", "--init", str(source_dir),
                          "--out", str(out))
    assert code == 0, err
    summary = json.loads(text)
    source = load_generator(source_dir / "generator")
    init = summary["init"]
    assert init["path"] == str((source_dir / "generator").resolve())
    assert init["params_sha256"] == sha256_file(source_dir / "generator" / "params.json")
    assert init["weights_sha256"] == weights_sha256(source)
    assert summary["epochs_run"] == 1
    fit_json = json.loads((out / "fit.json").read_text())
    assert fit_json["init"] == str(source_dir)
    assert load_generator(out / "generator").init_ == init  # recorded in the artifact
    code, _, err = cli("--db", stores["target"], "augment", "sample", str(out), "-n", "20",
                       "--out", str(tmp_path / "s.parquet"))
    assert code == 0, err
    assert set(pd.read_parquet(tmp_path / "s.parquet")["housing"]) <= {"own", "rent"}


@pytest.mark.parametrize(("db", "args", "message"), [
    ("target", ["tabular", "--generator", "copula"],
     "GaussianCopula has no network weights to start from"),
    ("target", ["tabular", "--generator", "gan"], "TabularGAN.fit cannot start from a "
                                                  "TabularVAE"),
    ("target", ["sales", "--generator", "ar"], "SalesWindowGenerator.fit cannot start from"),
    ("target", ["baskets", "--generator", "vae"], "BasketGenerator has no network weights"),
    ("other", ["tabular", "--generator", "vae"],
     "1 column(s) differ: income: not in the source table"),
])
def test_refusals_exit_2_and_write_nothing(cli: Cli, stores: dict[str, str],
                                           source_dir: Path, tmp_path: Path, db: str,
                                           args: list[str], message: str) -> None:
    out = tmp_path / "x"
    code, _, err = cli("--db", stores[db], "augment", "fit", *args, "--epochs", "1",
                       "--init", str(source_dir), "--out", str(out))
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not out.exists()


def test_missing_init_folder(cli: Cli, stores: dict[str, str], tmp_path: Path) -> None:
    code, _, err = cli("--db", stores["target"], "augment", "fit", "tabular", "--generator",
                       "vae", "--init", str(tmp_path / "nowhere"), "--out",
                       str(tmp_path / "x"))
    assert code == 2 and "is not a genlift generator folder" in err
    assert not (tmp_path / "x").exists()
