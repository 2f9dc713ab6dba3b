"""Faults an operator running genlift nightly meets: a process killed with SIGKILL in the
middle of batch scoring or of a lift run. The re-run completes, and its output equals an
uninterrupted run's: no duplicate or missing rows, no stray temporary files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.store import Store
from serving.cli.main import main
from serving.jobs import lift as lift_jobs
from serving.jobs.lift import CHECKPOINTS

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "serving.cli", "--no-progress", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool],
               timeout: float = 240.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; fail if it ends on its own first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"the process ended (rc {proc.returncode}) before it could be "
                        f"killed mid-run:\n{err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the process never reached the point to kill it at")
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# -------------------------------------------------------------------- batch scoring
@pytest.fixture(scope="module")
def scoring_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A store with 12,000 users and a small ALS model trained on them."""
    root = tmp_path_factory.mktemp("faults-scoring")
    rng = np.random.default_rng(0)
    n = 60_000
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in rng.integers(0, 12_000, n)],
                          "item_id": [f"i{i}" for i in rng.zipf(1.3, n) % 400],
                          "qty": 1.0, "value": 1.0,
                          "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(
                              rng.integers(0, 10**6, n), unit="s")})
    db = str(root / "s.duckdb")
    with Store(db) as store:
        store.load({"interactions": frame}, source="test")
    model = root / "als"
    assert main(["--db", db, "--no-progress", "train", "recs", "--model", "als", "--out",
                 str(model)]) == 0
    return db, model


def _parts(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))],
                     ignore_index=True)


def test_kill_9_during_batch_scoring_then_rerun(scoring_setup: tuple[str, Path],
                                               tmp_path: Path) -> None:
    db, model = scoring_setup
    reference, out = tmp_path / "reference", tmp_path / "out"
    args = ["score", "recommend", "--model", str(model), "--top-k", "5",
            "--block-users", "25"]
    assert main(["--db", db, "--no-progress", *args, "--out", str(reference)]) == 0
    n_parts = len(list(reference.glob("part-*.parquet")))
    assert n_parts >= 400

    proc = subprocess.Popen(_cli("--db", db, *args, "--out", str(out)), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _kill_when(proc, lambda: len(list(out.glob("part-*.parquet"))) >= 20)
    written = len(list(out.glob("part-*.parquet")))
    assert 20 <= written < n_parts and not (out / "_SUCCESS").exists()

    result = subprocess.run(_cli("--db", db, "--json", *args, "--out", str(out)),
                            env=_env(), capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped"] >= written and summary["written"] + summary["skipped"] == n_parts
    assert (out / "_SUCCESS").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")
                and p.name != "._manifest.json"]
    got, want = _parts(out), _parts(reference)
    assert not got.duplicated(["user_id", "rank"]).any()
    assert set(got["user_id"]) == set(want["user_id"])
    pd.testing.assert_frame_equal(got, want)
    # and loading it into the store gives exactly one row per user and rank
    assert main(["--db", db, "--no-progress", *args, "--out", str(out), "--to-store"]) == 0
    with Store(db, read_only=True) as store:
        counts = store.query("SELECT count(*) AS n, count(DISTINCT user_id || '|' || rank) "
                             "AS k FROM recommendations")
    assert int(counts["n"][0]) == int(counts["k"][0]) == len(want)


# ------------------------------------------------------------------------ lift run
# two repeats of 2-fold cross-fitting (more would only repeat the same kind of piece):
# the run is still 16 pieces (2 x 2 x real, class_weights, copula at each ratio), so the
# kill below comes long before its end and the re-run both resumes and computes
FAST = ["--seeds", "2", "--folds", "2", "--n-boot", "100", "--generators", "copula",
        "--baselines", "class_weights", "--ratios", "0.5,1"]


@pytest.fixture(scope="module")
def lift_db(tmp_path_factory: pytest.TempPathFactory,
            credit_applicants: Callable[..., pd.DataFrame]) -> str:
    path = str(tmp_path_factory.mktemp("faults-lift") / "s.duckdb")
    with Store(path) as store:
        store.load({"applicants": credit_applicants()}, source="test")
    return path


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A lift result without what legitimately differs between two runs (ids, timings)."""
    skip = {"run_id", "seconds", "fit_seconds", "resumed_pieces", "json", "html"}
    return {k: v for k, v in doc.items() if k not in skip}


def test_kill_9_during_a_lift_run_then_rerun(lift_db: str, tmp_path: Path) -> None:
    reference, out = tmp_path / "reference", tmp_path / "out"
    assert main(["--db", lift_db, "--no-progress", "lift", "credit", *FAST, "--out",
                 str(reference)]) == 0
    assert not (reference / CHECKPOINTS).exists()  # removed once the run finished

    proc = subprocess.Popen(_cli("--db", lift_db, "lift", "credit", *FAST, "--out",
                                 str(out)), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=ROOT)
    _kill_when(proc, lambda: len(list(out.glob(f"{CHECKPOINTS}/credit-*/seed*.npz"))) >= 4)
    pieces = len(list(out.glob(f"{CHECKPOINTS}/credit-*/seed*.npz")))
    assert not (out / "credit.json").exists()

    assert main(["--db", lift_db, "--no-progress", "lift", "credit", *FAST, "--out",
                 str(out)]) == 0
    got = json.loads((out / "credit.json").read_text())
    want = json.loads((reference / "credit.json").read_text())
    assert _comparable(got) == _comparable(want)
    assert got["resumed_pieces"] >= pieces
    assert not (out / CHECKPOINTS).exists()
    with Store(lift_db, read_only=True) as store:
        runs = store.runs()
    lift = runs[runs.kind == "lift"]
    assert list(lift["status"]) == ["finished", "interrupted", "finished"]
    killed, resumed = lift.iloc[1], lift.iloc[2]
    assert json.loads(killed["metrics"])["resumed_by"] == resumed["run_id"]
    assert json.loads(resumed["config"])["resumed_from"] == killed["run_id"]
    assert json.loads(resumed["metrics"])["resumed_pieces"] == got["resumed_pieces"]


def test_lift_crash_resumes_and_other_settings_start_afresh(
        lift_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception part-way (not a kill): the run is marked failed, its pieces are kept;
    a re-run with other settings does not reuse them."""
    out = tmp_path / "out"
    real_save = lift_jobs.Checkpoints.save
    calls = {"n": 0}

    def flaky(self: Any, piece: Any) -> None:
        real_save(self, piece)
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk went away")

    monkeypatch.setattr(lift_jobs.Checkpoints, "save", flaky)
    with pytest.raises(RuntimeError, match="disk went away"):
        main(["--db", lift_db, "--no-progress", "lift", "credit", *FAST, "--out", str(out)])
    with Store(lift_db, read_only=True) as store:
        assert store.runs()["status"].iloc[-1] == "failed"
    monkeypatch.setattr(lift_jobs.Checkpoints, "save", real_save)
    assert len(list(out.glob(f"{CHECKPOINTS}/credit-*/seed*.npz"))) == 3
    other = [*FAST[:-1], "1"]  # other ratios: another config, nothing reused
    assert main(["--db", lift_db, "--no-progress", "lift", "credit", *other, "--out",
                 str(out)]) == 0
    assert json.loads((out / "credit.json").read_text())["resumed_pieces"] == 0
    assert not (out / CHECKPOINTS).exists()  # the task's stale checkpoints went too
