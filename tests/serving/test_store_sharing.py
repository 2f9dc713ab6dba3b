"""Two real `genlift` processes on one store: a long job and an analyst's reads do not
collide, and a command that finds the store held past ``--wait`` exits 2 with one line
naming the store and the holding process (nothing written)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from features.store import Store

ROOT = Path(__file__).parents[2]
GENLIFT = [sys.executable, "-m", "serving.cli"]


def genlift(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GENLIFT, "--no-progress", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_reads_and_imports_run_beside_a_long_lift_job(credit_db: str, tmp_path: Path) -> None:
    # 2 repeats of 2-fold cross-fitting: seconds of lift work, long enough for a few reads
    # and the import to land while the job holds its run open
    job = subprocess.Popen([*GENLIFT, "--no-progress", "--db", credit_db, "lift", "credit",
                            "--seeds", "2", "--folds", "2", "--n-boot", "100",
                            "--generators", "copula",
                            "--baselines", "class_weights", "--ratios", "0.5,1", "--out",
                            str(tmp_path / "lift")], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    reads = 0
    users = tmp_path / "users.csv"
    users.write_text("user_id,age\nu1,30\nu2,41\n")
    try:
        while job.poll() is None and reads < 3:
            shown = genlift("--db", credit_db, "--json", "data", "show", timeout=120)
            assert shown.returncode == 0, shown.stderr
            assert "applicants" in shown.stdout
            reads += 1
        imported = genlift("--db", credit_db, "data", "import", "users", str(users), timeout=120)
        assert imported.returncode == 0, imported.stderr
    finally:
        out, err = job.communicate(timeout=600)
    assert job.returncode == 0, err
    assert reads >= 1
    with Store(credit_db, read_only=True) as store:
        assert store.row_count("users") == 2
        runs = store.runs()
    assert runs[runs.kind == "lift"]["status"].tolist() == ["finished"]


def test_a_command_that_cannot_wait_long_enough_exits_2_naming_the_holder(
        credit_db: str, tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from features.store import Store
        with Store({credit_db!r}).transaction():
            print("holding", flush=True)
            time.sleep(20)
    """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        users = tmp_path / "users.csv"
        users.write_text("user_id,age\nu1,30\n")
        start = time.monotonic()
        late = genlift("--db", credit_db, "--wait", "0.5", "data", "import", "users", str(users))
        assert late.returncode == 2
        assert time.monotonic() - start < 15  # it gave up after --wait, not the holder
        lines = late.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in late.stderr
        assert f"store {credit_db} is in use by process {holder.pid}" in lines[0]
        assert "--wait SECONDS" in lines[0]
        shown = genlift("--db", credit_db, "--wait", "0.5", "--json", "data", "show")
        assert shown.returncode == 2 and "is in use by" in shown.stderr
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with Store(credit_db, read_only=True) as store:
        assert not store.has("users")  # the refused import wrote nothing
    again = genlift("--db", credit_db, "--json", "data", "show")
    assert again.returncode == 0 and "applicants" in json.dumps(json.loads(again.stdout))


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_bad_wait_exits_2(cli: Callable[..., tuple[int, str, str]], credit_db: str,
                          value: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli("--db", credit_db, "--wait", value, "data", "show")
    assert info.value.code == 2
