"""Shared test set-up: GPU tests are skipped on machines without CUDA; fixtures that
several test folders use (the command-line runner, tiny tables with a known answer).

Tests run with ``--import-mode=importlib``: a test module cannot import a sibling, so
what several modules share lives here, as fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import Store

#: ``cli(*args) -> (exit code, stdout, stderr)``: see the ``cli`` fixture.
CliRunner = Callable[..., tuple[int, str, str]]


def pytest_configure(config: pytest.Config) -> None:
    # The test networks are tiny: one torch thread is faster than two fighting over a
    # 2-core CI machine, and keeps timings steady when other work shares the machine.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA; none on this machine")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run ``genlift --no-progress ARGS...`` in this process; returns the exit code and
    what it printed on stdout and stderr."""
    from serving.cli.main import main  # here, not above: engine-only runs stay light

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--no-progress", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _credit_applicants(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 1500.0, n).round()
    housing = rng.choice(["own", "rent", "free"], n)
    age = rng.integers(19, 70, n)
    logit = -1.2 + amount / 3000 + (housing == "rent") * 0.8 - (age - 40) / 40
    return pd.DataFrame({"applicant_id": [f"a{i:04d}" for i in range(n)],
                         "credit_amount": amount, "age_in_years": age, "housing": housing,
                         "default": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})


@pytest.fixture(scope="session")
def credit_applicants() -> Callable[..., pd.DataFrame]:
    """``make(n=300, seed=0)``: an applicants table whose default risk rises with the
    amount, with renting and with youth (the lift and credit tests' data)."""
    return _credit_applicants


@pytest.fixture
def credit_db(tmp_path: Path, credit_applicants: Callable[..., pd.DataFrame]) -> str:
    """A store file holding :func:`credit_applicants`' table as ``applicants``."""
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"applicants": credit_applicants()}, source="test")
    return path
