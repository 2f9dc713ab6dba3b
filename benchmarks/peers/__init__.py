"""Peer libraries run in their own virtual environment, in a subprocess.

The peers that genlift is measured against pin older libraries than the product ships
with (mlforecast caps pandas below 3, ctgan's rdt too), so they live in ``.venv-bench``
(``make bench-env``, from ``benchmarks/peers/requirements.txt``) and the product is
always measured with its own pandas. Each peer is a standalone script in this folder; it
is run with the bench venv's python as ``python <script> --<name> <file> ... --out
<folder>`` and exchanges files through a temporary folder: every input frame as parquet,
every input dict as JSON, and the script's answer as ``<folder>/result.json`` plus the
parquet files that it names there (``"frames": {"predictions": "predictions.parquet"}``).
Peer timings are measured inside the script, so the interpreter start and the imports are
not charged to the peer.

``GENLIFT_BENCH_PYTHON`` points at another python to run the peers with; without it,
``<repo>/.venv-bench/bin/python``. When that python is missing :func:`run_peer` answers
with a note ("peer not run: make bench-env first") instead of failing the benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENV_VAR = "GENLIFT_BENCH_PYTHON"
DEFAULT_VENV = REPO / ".venv-bench"
NOT_BUILT = "peer not run: make bench-env first"


@dataclass
class PeerRun:
    """What a peer script answered: ``ok``, a one-line ``note`` (why it did not run, or
    the peer's versions), its ``result`` JSON and the ``frames`` it wrote."""

    ok: bool
    note: str
    result: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    wall_s: float = float("nan")


def bench_python() -> Path:
    """The python that runs the peers: ``$GENLIFT_BENCH_PYTHON`` or the bench venv's."""
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else DEFAULT_VENV / "bin" / "python"


def peer_missing() -> str | None:
    """None when the peers' python is there, else the note saying so."""
    python = bench_python()
    if python.exists():
        return None
    how = f"{ENV_VAR}={python}" if os.environ.get(ENV_VAR) else str(python)
    return f"{NOT_BUILT} (no {how})"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_peer(script: str, inputs: dict[str, pd.DataFrame | dict[str, Any]], *,
             timeout: float = 1800.0) -> PeerRun:
    """Run ``benchmarks/peers/<script>`` with the bench venv's python.

    ``inputs`` maps an argument name to a frame (written as ``<name>.parquet``) or a dict
    (``<name>.json``); the script gets ``--<name> <path>`` for each and ``--out <folder>``.
    Never raises for a missing venv, a failing script or a timeout: ``ok`` is False and
    ``note`` says why.
    """
    missing = peer_missing()
    if missing is not None:
        return PeerRun(False, missing)
    python = bench_python()
    path = HERE / script
    if not path.exists():
        return PeerRun(False, f"peer not run: no script {path}")
    with tempfile.TemporaryDirectory(prefix="genlift-peer-") as tmp:
        folder = Path(tmp)
        cmd = [str(python), str(path)]
        for name, value in inputs.items():
            if isinstance(value, pd.DataFrame):
                file = folder / f"{name}.parquet"
                value.to_parquet(file, index=False)
            else:
                file = folder / f"{name}.json"
                file.write_text(json.dumps(value, default=str))
            cmd += [f"--{name.replace('_', '-')}", str(file)]
        out = folder / "out"
        out.mkdir()
        cmd += ["--out", str(out)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  cwd=REPO, check=False)
        except subprocess.TimeoutExpired:
            return PeerRun(False, f"peer {script} timed out after {timeout:.0f}s")
        wall = time.perf_counter() - start
        answer = out / "result.json"
        if proc.returncode != 0 or not answer.exists():
            tail = _tail(proc.stderr) or _tail(proc.stdout)
            last = tail.splitlines()[-1] if tail else "no output"
            return PeerRun(False, f"peer {script} failed (exit {proc.returncode}): {last}",
                           {"log": tail}, wall_s=wall)
        result = json.loads(answer.read_text())
        frames = {name: pd.read_parquet(out / file)
                  for name, file in result.get("frames", {}).items()}
    return PeerRun(True, str(result.get("note", script)), result, frames, wall)
