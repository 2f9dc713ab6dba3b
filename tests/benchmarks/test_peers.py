"""benchmarks/peers (the peers' own venv, run in a subprocess) and bench_demand's table:
no network, no real peer (a stand-in script run with this python)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import benchmarks.peers as peers
from benchmarks.bench_demand import results_table, target_lines, vs_mlforecast


def test_missing_venv_is_a_note_not_a_crash(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.delenv(peers.ENV_VAR, raising=False)
    monkeypatch.setattr(peers, "DEFAULT_VENV", tmp_path / "no-venv")
    run = peers.run_peer("mlforecast_oj.py", {"train": pd.DataFrame({"y": [1.0]}),
                                              "params": {"horizon": 4}})
    assert not run.ok
    assert run.note.startswith("peer not run: make bench-env first")
    assert str(tmp_path / "no-venv") in run.note
    assert run.frames == {} and run.result == {}
    assert peers.peer_missing() == run.note


def test_env_var_overrides_the_venv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(peers.ENV_VAR, str(tmp_path / "python"))
    assert peers.bench_python() == tmp_path / "python"
    run = peers.run_peer("ctgan_fit.py", {})
    assert not run.ok and run.note.startswith(peers.NOT_BUILT)
    assert f"{peers.ENV_VAR}=" in run.note


STAND_IN = '''
import argparse, json, sys
import pandas as pd
ap = argparse.ArgumentParser()
ap.add_argument("--train-rows")
ap.add_argument("--params")
ap.add_argument("--out")
a = ap.parse_args()
p = json.load(open(a.params))
if p.get("fail"):
    sys.exit("ValueError: the peer said no")
df = pd.read_parquet(a.train_rows)
df.assign(y2=df["y"] * p["k"]).to_parquet(a.out + "/pred.parquet")
json.dump({"note": "stand-in 1.0", "frames": {"pred": "pred.parquet"}, "seconds": 0.5},
          open(a.out + "/result.json", "w"))
'''


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    (tmp_path / "stand_in.py").write_text(STAND_IN)
    monkeypatch.setattr(peers, "HERE", tmp_path)
    monkeypatch.setenv(peers.ENV_VAR, sys.executable)
    return "stand_in.py"


def test_files_go_there_and_back(stand_in: str) -> None:
    run = peers.run_peer(stand_in, {"train_rows": pd.DataFrame({"y": [1.0, 2.0]}),
                                    "params": {"k": 3}}, timeout=60)
    assert run.ok, run.note
    assert run.note == "stand-in 1.0" and run.result["seconds"] == 0.5
    assert run.frames["pred"]["y2"].tolist() == [3.0, 6.0]


def test_a_failing_peer_is_a_note(stand_in: str) -> None:
    run = peers.run_peer(stand_in, {"train_rows": pd.DataFrame({"y": [1.0]}),
                                    "params": {"fail": True}}, timeout=60)
    assert not run.ok
    assert run.note.startswith("peer stand_in.py failed (exit 1)")
    assert run.note.endswith("ValueError: the peer said no")


def overall() -> pd.DataFrame:
    rows = {"lightgbm": (0.40, 900.0, 0.78), "naive": (0.80, np.nan, np.nan),
            "mlforecast": (0.50, np.nan, np.nan), "mlforecast_direct": (0.45, np.nan, np.nan)}
    return pd.DataFrame([{"method": m, "wape": w, "mase": 0.5, "rmsse": 0.3, "bias": -0.1,
                          "pinball": pin, "coverage80": cov}
                         for m, (w, pin, cov) in rows.items()]).set_index("method")


def test_table_ratios_against_the_best_mlforecast() -> None:
    timing = {"lightgbm": 12.0, "mlforecast": 1.0, "mlforecast_direct": 4.0}
    prob = {"lightgbm": {"pinball_lo": 500.0, "pinball_hi": 1600.0, "coverage80": 0.78},
            "mlforecast_direct": {"pinball_lo": 700.0, "pinball_hi": 2000.0,
                                  "coverage80": 0.66}}
    lines = results_table(overall(), list(overall().index), timing, prob)
    assert "WAPE / best mlforecast" in lines[0] and "pinball q0.1/q0.9" in lines[0]
    assert "80% cov" in lines[0] and "time / best mlforecast" in lines[0]
    cells = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines[2:]}
    # best mlforecast = the direct mode (lowest WAPE): ratios against its 0.45 and 4.0 s
    assert cells["lightgbm"][2] == "0.89" and cells["lightgbm"][-1] == "3.00x |"
    assert cells["lightgbm"][7] == "500 / 1600" and cells["lightgbm"][8] == "0.780"
    assert cells["mlforecast_direct"][2] == "1.00" and cells["mlforecast_direct"][8] == "0.660"
    assert cells["mlforecast"][-1] == "0.25x |" and cells["mlforecast"][7] == "-"
    assert cells["naive"][9] == "-" and cells["naive"][-1] == "- |"

    targets = {"wape_gain_vs_best_naive": 0.5, "wape_target_met": True, "coverage80": 0.78,
               "coverage_target_met": True, **vs_mlforecast(overall(), timing)}
    assert targets["best_mlforecast"] == "mlforecast_direct"
    assert targets["time_ratio"] == pytest.approx(3.0)
    text = "\n".join(target_lines(targets, "mlforecast 1.1.0"))
    assert "genlift WAPE <= best mlforecast WAPE (mlforecast_direct): ratio 0.889: met" in text
    assert "genlift time <= 2x mlforecast's (mlforecast_direct, fit+predict per cutoff): " \
           "3.00x: NOT met" in text


def test_without_mlforecast_the_targets_say_why() -> None:
    frame = overall().drop(index=["mlforecast", "mlforecast_direct"])
    timing = {"lightgbm": 12.0}
    lines = results_table(frame, list(frame.index), timing, {})
    assert lines[2].split(" | ")[2] == "-"
    targets = {"wape_gain_vs_best_naive": 0.5, "wape_target_met": True, "coverage80": 0.78,
               "coverage_target_met": True, **vs_mlforecast(frame, timing)}
    assert targets["wape_vs_mlforecast_met"] is None
    text = "\n".join(target_lines(targets, "peer not run: make bench-env first"))
    assert "genlift WAPE <= best mlforecast WAPE: n/a (peer not run: make bench-env first)" \
        in text
    assert "genlift time <= 2x mlforecast's: n/a" in text
