"""Two real processes on one store: DuckDB lets one process write a file or several read
it, so a Store holds the file only for each call, waits for another holder up to ``wait``
seconds, and then fails with one line naming the store and the holding process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from features.store import Store, StoreLockedError

ROOT = Path(__file__).parents[2]


def _users(*ids: str) -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(ids), "age": [30.0 + i for i in range(len(ids))]})


def _hold(db: Path, seconds: float, *, write: bool = True) -> subprocess.Popen[str]:
    """Another process that holds the store (a write transaction, or a read) for a while
    and prints 'holding' once it does."""
    code = textwrap.dedent(f"""
        import sys, time
        from features.store import Store
        store = Store({str(db)!r}, read_only={not write})
        with store._connection(write={write}) as con:
            print("holding", flush=True)
            time.sleep({seconds})
        print("released", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        store.load({"users": _users("u1", "u2")}, source="test")
    return path


def test_a_store_holds_no_lock_between_calls(db: Path) -> None:
    store = Store(db)
    assert store.row_count("users") == 2
    # another process can write while this Store object is open
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import pandas as pd
        from features.store import Store
        Store({str(db)!r}, wait=5).load({{"items": pd.DataFrame({{"item_id": ["i1"]}})}},
                                        source="other")
    """)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert store.row_count("items") == 1
    store.close()


def test_a_reader_waits_for_a_writer_and_then_reads(db: Path) -> None:
    holder = _hold(db, 1.5)
    start = time.monotonic()
    with Store(db, read_only=True, wait=30) as store:
        assert store.row_count("users") == 2
    assert time.monotonic() - start > 0.5  # it waited for the holder
    assert holder.wait(timeout=30) == 0


def test_a_writer_that_cannot_wait_long_enough_names_the_store_and_holder(db: Path) -> None:
    holder = _hold(db, 5)
    try:
        with pytest.raises(StoreLockedError) as info:
            Store(db, wait=0.3).load({"users": _users("u9")}, source="late", mode="append")
        text = str(info.value)
        assert f"store {db} is in use by process {holder.pid}" in text
        assert "waited 0.3 s" in text and "--wait SECONDS" in text
    finally:
        holder.wait(timeout=30)
    with Store(db, read_only=True) as store:  # nothing was written by the refused call
        assert store.read("users")["user_id"].tolist() == ["u1", "u2"]


def test_two_writers_both_land(db: Path) -> None:
    code = textwrap.dedent("""
        import sys
        import pandas as pd
        from features.store import Store
        db, prefix = sys.argv[1], sys.argv[2]
        store = Store(db, wait=60)
        for i in range(15):
            store.load({"users": pd.DataFrame({"user_id": [f"{prefix}{i}"], "age": [1.0]})},
                       source=prefix, mode="append")
            store.start_run("test", {"i": i})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), p], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for p in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with Store(db, read_only=True) as store:
        ids = set(store.read("users")["user_id"])
        assert ids == {"u1", "u2"} | {f"{p}{i}" for p in "ab" for i in range(15)}
        assert len(store.runs()) == 30


def test_readers_share_the_file(db: Path) -> None:
    holder = _hold(db, 1.0, write=False)
    with Store(db, read_only=True, wait=0) as store:  # no wait needed beside a reader
        assert store.row_count("users") == 2
    holder.wait(timeout=30)


@pytest.mark.parametrize("wait", [-1, float("nan"), float("inf"), "5", True])
def test_bad_wait_is_refused(db: Path, wait: object) -> None:
    with pytest.raises(ValueError, match="'wait' parameter of Store"):
        Store(db, wait=wait)  # type: ignore[arg-type]
